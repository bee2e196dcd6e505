"""``pdg diff REF1 REF2``: what changed between two points of the log."""

from __future__ import annotations

import json

import click
from pdgstore.cli import render
from pdgstore.cli.options import db_option, json_option

from pdgstore import history, queries, refs
from pdgstore.locate import open_store
from pdgstore.queries import JSON_SCHEMA
from pdgstore.readmodel import TableState


@click.command("diff", short_help="Show what changed between two points of the log.")
@click.argument("ref1")
@click.argument("ref2", default="now")
@db_option
@json_option
def command(ref1, ref2, db, as_json) -> None:
    """Show what changed from REF1 to REF2 (default: now): work items added, removed, rerun or updated (with
    the recorded reason) or changed, their state and attribute changes, and output files whose hash
    changed. A REF is a seq, cook:ID, cook~N, a time or a span ago (see pdg status --help)."""
    with open_store(db) as log:
        a_point, b_point = refs.resolve_range(log, ("REF1", ref1), ("REF2", ref2))
        result = history.diff_at(log, a_point.seq, b_point.seq, here=render.here)
        several = len(queries.graph_names(TableState(log))) > 1  # rows then say their graph, as pdg items
    if as_json:
        render.emit_json({"schema": JSON_SCHEMA, "from": a_point.to_json(), "to": b_point.to_json(), **result})
        return
    c = result["counts"]
    render.err.print(
        f"from seq {a_point.seq} to seq {b_point.seq}: {c['added']} added, {c['removed']} removed, "
        f"{c['rerun']} rerun, {c['updated']} updated, {c['changed']} changed otherwise"
    )
    if not result["items"]:
        return
    items = result["items"]
    render.listing(
        ("change", "name", "graph", "node", "state", "what changed") if several else COLUMNS,
        (_cells(r, several) for r in items),
        what="changed items",
        every=f"pdg diff {ref1} {ref2} | less",
        total=lambda: len(items),
    )


COLUMNS = ("change", "name", "node", "state", "what changed")


def _cells(r: dict, several: bool) -> list[str]:
    what = []
    if r["why"]:
        what.append(r["why"])
    if r["renumbered"]:
        was = r["renumbered"]
        what.append(f"renumbered: was {was['name']} (index {was['index']})")
    for name, ch in r["attrs"].items():
        what.append(f"@{name}: {_short(ch['before'])} -> {_short(ch['after'])}")
    for o in r["outputs"]:
        what.append(f"{render.here(o['abspath'])}: {(o['before'] or 'none')[:8]} -> {(o['after'] or 'none')[:8]}")
    before, after = r["state_before"], r["state_after"] or "-"  # none after: removed
    states = after if before in (None, after) else f"{before} -> {after}"
    where = [r["graph"], r["node"]] if several else [r["node"]]
    return [r["change"], r["name"], *where, states, "; ".join(what)]


def _short(values) -> str:
    if values is None:
        return "none"
    text = json.dumps(values[0] if len(values) == 1 else values, default=str)
    return text if len(text) <= 40 else text[:37] + "..."
