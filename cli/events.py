"""``pdg events``: the raw log, decoded, in seq order."""

from __future__ import annotations

import json

import click
from pdgstore.cli import render
from pdgstore.cli.options import db_option, json_option_saying

from pdgstore import queries
from pdgstore.events import REGISTRY
from pdgstore.locate import open_store
from pdgstore.readmodel import TableState
from pdgstore.removed import item_id_in_log


def event_kind(value: str | None) -> str | None:
    """The event kind ``value`` names, in any case: a person types ``cookfinished`` as readily as the
    log's ``CookFinished``, and a wrong one is told the kinds there are, spelled as the log does."""
    if value is None:
        return None
    kinds = {kind.lower(): kind for kind in REGISTRY}
    kind = kinds.get(value.lower())
    if kind is None:
        raise click.BadParameter(f"{value!r} is not an event kind; the kinds are {', '.join(sorted(REGISTRY))}")
    return kind


@click.command("events", short_help="Print the raw event log, decoded, in seq order.")
@click.option("--cook", "cook_id", type=int, help="Only events of this cook.")
@click.option(
    "--item",
    "item_ref",
    help="Only events about this work item (id, id prefix of 6+ characters, or name; or GRAPH/ITEM).",
)
@click.option(
    "--kind",
    metavar="KIND",
    callback=lambda ctx, param, value: event_kind(value),
    help="Only events of this kind, in any case (cookfinished is CookFinished); a wrong one lists them all.",
)
@json_option_saying("Print JSON lines: one object per event (seq, time_ns, cook_id, graph, kind, subject, payload).")
@db_option
def command(cook_id, item_ref, kind, db, as_json) -> None:
    """Print the event log in seq order, decoded; filter by cook, item or kind. A payload is cut at
    160 characters on a terminal, at 65,536 into a pipe or a file. With --json, one JSON object per
    line, whole, streamed (constant memory on any size of log)."""
    with open_store(db) as log:
        subject = None
        state = TableState(log)
        if item_ref is not None:
            subject = item_id_in_log(log, state, item_ref)  # a removed item's too: its history is in the log
        queries.require_cook(log, cook_id)
        rows = queries.event_dicts(log, cook_id=cook_id, subject=subject, kind=kind)
        if as_json:
            render.emit_json_lines(rows)
            return
        several = len(queries.graph_names(state)) > 1  # each row then says its graph, as pdg items does
        cut = 160 if render.to_terminal() else PIPED_PAYLOAD  # into a pipe: what grep should find
        render.listing(
            ("seq", "time", "cook_id", *(("graph",) if several else ()), "kind", "subject", "payload"),
            (_cells(r, cut, several) for r in rows),
            what="events",
            every="pdg events | less",
        )


#: a payload's characters written into a pipe or a file: every payload a graph's own events carry,
#: not a 100 MB attribute an item was given (its whole is ``--json``'s, or ``pdg show --json``'s)
PIPED_PAYLOAD = 1 << 16


def _cells(r: dict, cut: int, several: bool = False) -> list[str]:
    payload = json.dumps(r["payload"], default=str, separators=(",", ":"))
    if len(payload) > cut:
        payload = payload[: cut - 3] + "..."
    cook = "" if r["cook_id"] is None else str(r["cook_id"])  # outside a cook: no cook's id
    where = [r["graph"]] if several else []
    return [str(r["seq"]), render.when(r["time_ns"]), cook, *where, r["kind"], r["subject"], payload]
