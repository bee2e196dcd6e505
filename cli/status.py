"""``pdg status``: work items per node and state, from the store alone."""

from __future__ import annotations

import click

from cli import render
from cli.options import db_option, json_option
from engine.project import open_store
from pdgstore import queries
from pdgstore.events import STATES


@click.command("status", short_help="Count work items per node and state.")
@db_option
@json_option
def command(db, as_json) -> None:
    """Show how many work items each node has in each state (no graph file needed)."""
    with open_store(db) as log:
        state = log.load_state()
        rows = queries.status(state)
        running = state.running_cook()
        writer = log.writer_pid()
        store = render.here(log.path)
    cook = None
    if running is not None:
        cook = {"cook_id": running.cook_id, "graph": running.graph, "pid": running.pid,
                "status": "running" if writer else "died"}
    if as_json:
        render.emit_json({"schema": 1, "store": store, "running_cook": cook, "nodes": rows})
        return
    if cook:
        if cook["status"] == "running":
            render.err.print(f"cook {cook['cook_id']} of {cook['graph']} is running (pid {cook['pid']})", style="magenta")
        else:
            render.err.print(
                f"cook {cook['cook_id']} of {cook['graph']} died (pid {cook['pid']}); "
                "the next cook records its unfinished items as cancelled", style="red")
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
