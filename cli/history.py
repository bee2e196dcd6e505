"""``pdg history``: one row per cook, filtered; ``pdg history COOK``: what one cook did."""

from __future__ import annotations

import time

import click
from pdgstore.cli import render
from pdgstore.cli.options import UsageMistake, db_option, json_option

from pdgstore import history, queries, refs
from pdgstore.liveness import DIED, RUNNING, status_now
from pdgstore.locate import open_store
from pdgstore.queries import COOK_COUNTS, JSON_SCHEMA
from pdgstore.readmodel import TableState
from pdgstore.removed import item_id_in_log

STATUSES = ("success", "failed", "cancelled", RUNNING, DIED)
#: warnings printed in a cook's detail (``--json`` has them all)
WARNINGS_SHOWN = 20


@click.command("history", short_help="List cooks (filtered), or show what one cook did.")
@click.argument("cook_id", type=int, required=False, metavar="[COOK]")
@click.option("--node", help="Only cooks that generated, ran or changed items of this node (or GRAPH/NODE).")
@click.option(
    "--item",
    "item_ref",
    help="Only cooks that touched this work item (id, id prefix of 6+ characters, or name; or GRAPH/ITEM).",
)
@click.option("--status", type=click.Choice(STATUSES), help="Only cooks that ended so.")
@click.option("--since", metavar="REF", help="Only cooks active at or after REF (a seq, cook:ID, cook~N, a time, 2h).")
@db_option
@json_option
def command(cook_id, node, item_ref, status, since, db, as_json) -> None:
    """List every cook: id, graph, start, duration, status and item counts (under --json, a cook
    still running has ended_ns, seconds and items null). With COOK, show what that cook did: per
    node what ran, came from the cache, was updated, reused, failed, was cancelled or removed, each
    column adding up to the cook's own count (an item the cook left undecided, as one that stopped
    does, is in none); its failures, its slowest items and its warnings."""
    given = [
        (f"--{name}", value)
        for name, value in (("node", node), ("item", item_ref), ("status", status), ("since", since))
        if value
    ]
    if cook_id is not None and given:
        raise UsageMistake(
            f"{' and '.join(option for option, _ in given)} {'filters' if len(given) == 1 else 'filter'} the list of cooks; "
            f"with COOK ({cook_id}) leave {'it' if len(given) == 1 else 'them'} out"
        )
    with open_store(db) as log:
        state = TableState(log)
        if cook_id is not None:
            detail = history.cook_detail(log, cook_id, state, ran_names=as_json)
            if detail["status"] == RUNNING:
                detail["status"] = status_now(RUNNING, log.writer_pid())
            return _show_cook(detail, as_json)
        rows = queries.cooks(state)
        history.told_now(log, rows)  # died: recorded running with no process, or ended by the next cook
        if status:
            rows = [r for r in rows if r["status"] == status]
        if since is not None:
            rows = _since(log, rows, since)
        if item_ref is not None:
            touched = history.cooks_touching(log, [item_id_in_log(log, state, item_ref)])  # removed ones too
            rows = [r for r in rows if r["cook_id"] in touched]
        if node is not None:
            graph, name = queries.split_qualified(node)
            found = queries.find_nodes(state, node)  # a name two graphs hold, alone, is refused
            if not found and not history.removed_items_of(log, name, graph):
                queries.find_node(state, node)  # refused: the store has no such node
            touched = history.cooks_touching_node(log, name, found[0][0] if found else graph)
            rows = [r for r in rows if r["cook_id"] in touched]
    for r in rows:
        r["started"] = queries.iso(r["started_ns"])
        r["ended"] = queries.iso(r["ended_ns"])
    if as_json:
        render.emit_json({"schema": JSON_SCHEMA, "cooks": rows})
        return
    if not rows and given:
        render.say(f"no cook matched {' '.join(f'{option} {value}' for option, value in given)}")
    render.listing(
        COLUMNS,
        (_cells(r) for r in rows),
        what="cooks",
        every="pdg history | less",
        states=5,
        newest=True,
    )


def _since(log, rows: list[dict], since: str) -> list[dict]:
    """The cooks of ``rows`` active at or after ``since``: for a point of the log (a seq, a cook's
    end), those with an event at or after it; for a time, those with an event at or after it, or
    running now when it is not in the future (a time after the last event selects none)."""
    point = refs.resolve(log, since)
    spans = log.cook_spans()
    if point.time_ns is None:
        return [r for r in rows if spans.get(r["cook_id"], (0, 0))[1] >= point.seq]
    before = refs.seq_at_time(log, point.time_ns - 1)  # the last event before that time
    now = point.time_ns <= time.time_ns()
    return [r for r in rows if spans.get(r["cook_id"], (0, 0))[1] > before or (now and r["status"] == "running")]


COLUMNS = (
    "cook_id",
    "graph",
    "node",
    "started",
    "seconds",
    "status",
    *COOK_COUNTS,
    "trigger",
    "message",
)


def _cells(r: dict) -> list[str]:
    c = r["items"] or {}  # none yet: running
    return [
        str(r["cook_id"]),
        r["graph"],
        r["node"] or "",
        render.when(r["started_ns"]),
        "" if r["seconds"] is None else f"{r['seconds']:.2f}",
        r["status"],
        *(str(c.get(k, "")) for k in COOK_COUNTS),
        queries.trigger_text(r["trigger"]),
        r["message"] or "",
    ]


def _show_cook(d: dict, as_json: bool) -> None:
    d["started"] = queries.iso(d["started_ns"])
    d["ended"] = queries.iso(d["ended_ns"])
    for w in d["warnings"]:
        w["time"] = queries.iso(w["time_ns"])
    if as_json:
        render.emit_json({"schema": JSON_SCHEMA, "cook": d})
        return
    p = render.out.print
    seconds = "" if d["seconds"] is None else f", {d['seconds']:.2f} s"
    p(
        f"[bold]cook {d['cook_id']}[/bold] of {d['graph']}{' (node ' + d['node'] + ')' if d['node'] else ''}: "
        f"{render.styled(d['status'])}{seconds}, started {render.when(d['started_ns'])}, seq {d['first_seq']}-{d['last_seq']}"
    )
    if d["message"]:
        p("  " + render.escape(d["message"]))
    c = d["items"]
    if c is None:
        p("  items: counted when it ends (the table: what it recorded so far)")
    else:
        p("  items: " + ", ".join(f"{c[k]} {k}" for k in COOK_COUNTS if k in c))
    if d.get("static"):
        plan = d["static"]
        dynamic = ", ".join(plan["dynamic_nodes"]) or "none"
        p(
            f"  static cook: {plan['items']} items planned ({plan['dependencies']} dependencies, {plan['ready']} ready "
            f"at once); dynamic nodes: {dynamic}"
        )
    t = render.table("node", "total", *COOK_COUNTS)  # each column adds up to the items line's count
    for r in d["nodes"]:
        t.add_row(r["node"], str(r["total"]), *(str(r[k] or "") for k in COOK_COUNTS))
    p(t)
    if d["failures"]:
        p("[bold red]failures:[/bold red]")
        for f in d["failures"]:
            p(f"  {f['name']} ({f['node']}): " + render.escape(f["error"] or ""))
    if d["slowest"]:
        p("slowest items:")
        for s in d["slowest"]:
            p(f"  {s['seconds']:9.3f} s  {s['name']}  ({s['node']})")
    warnings = d["warnings"]
    if warnings:
        p(f"[bold yellow]warnings ({len(warnings)}):[/bold yellow]")
        for w in warnings[:WARNINGS_SHOWN]:
            about = f"{w['about']}: " if w["about"] else ""
            p("  " + render.escape(about + w["message"]))
        if len(warnings) > WARNINGS_SHOWN:
            more = len(warnings) - WARNINGS_SHOWN
            p(f"  and {more} more (--json, or pdg events --cook {d['cook_id']} --kind CookWarning)")
