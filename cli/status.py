"""``pdg status``: work items per node and state, from the store alone."""

from __future__ import annotations

import click
from pdgstore.cli import render
from pdgstore.cli.options import at_option, db_option, json_option

from pdgstore import queries, refs
from pdgstore.events import STATES
from pdgstore.liveness import status_now
from pdgstore.locate import open_store
from pdgstore.queries import JSON_SCHEMA


@click.command("status", short_help="Count work items per node and state.")
@at_option
@db_option
@json_option
def command(at, db, as_json) -> None:
    """Show how many work items each node has in each state (no graph file needed); with --at,
    as they were at that point of the log."""
    with open_store(db) as log:
        state, point = refs.state_at(log, at)
        rows = queries.status(state)
        running = state.running_cook()
        writer = log.writer_pid()
        store = render.here(log.path)
        # a cook that stopped on a write error noted why in the writer lock (the log could not take it)
        why = log.stopped_note(running.pid) if running is not None and not writer and point is None else ""
    cook = None
    if running is not None:
        alive = running.status if point is not None else status_now(running.status, writer)  # --at: then, not now
        cook = {
            "cook_id": running.cook_id,
            "graph": running.graph,
            "pid": running.pid,
            "status": alive,
            "error": why or None,
        }
    if as_json:
        render.emit_json(
            {
                "schema": JSON_SCHEMA,
                "store": store,
                "at": point.to_json() if point else None,
                "running_cook": cook,
                "nodes": rows,
            }
        )
        return
    if point is not None:
        render.err.print(render.at_line(point))
    if cook:
        if cook["status"] == "running":
            tense = "was running then" if point is not None else "is running"  # --at: a point in the past
            render.err.print(f"cook {cook['cook_id']} of {cook['graph']} {tense} (pid {cook['pid']})", style="magenta")
        elif why:
            render.err.print(
                f"cook {cook['cook_id']} of {cook['graph']} stopped on a write error it could not record (pid "
                f"{cook['pid']}: {why}); the next cook records its unfinished items as cancelled",
                style="red",
            )
        else:
            render.err.print(
                f"cook {cook['cook_id']} of {cook['graph']} ended before it recorded its end (pid {cook['pid']}: "
                "its process died, or a write to the store failed); the next cook records its unfinished "
                "items as cancelled",
                style="red",
            )
    if not rows:
        render.err.print(f"{store}: no work items yet")
        return
    used = [s for s in STATES if any(s in r["states"] for r in rows)]
    multi = len({r["graph"] for r in rows}) > 1
    t = render.table(*(["graph"] if multi else []), "node", "total", *used)
    for r in rows:
        cells = [str(r["total"])] + [str(r["states"].get(s, "")) for s in used]
        t.add_row(*([r["graph"]] if multi else []), r["node"], *cells)
    render.out.print(t)
