"""``pdg items``: one row per work item."""

from __future__ import annotations

import click
from pdgstore.cli import render
from pdgstore.cli.options import at_option, db_option, json_option, require_node

from pdgstore import queries, refs
from pdgstore.events import STATES
from pdgstore.locate import open_store
from pdgstore.queries import JSON_SCHEMA


@click.command("items", short_help="List work items with their state and output files.")
@click.argument("node", required=False)
@click.option("--state", "state_filter", type=click.Choice(STATES), help="Only items in this state.")
@at_option
@db_option
@json_option
def command(node, state_filter, at, db, as_json) -> None:
    """List work items (of NODE, or all): id, name, node, index, state, output files, cook time;
    with --at, as they were at that point of the log."""
    with open_store(db) as log:
        state, point = refs.state_at(log, at)
        if node is not None:
            require_node(state, node)
        listing = queries.items(log, state, node, state_filter)
        if as_json:
            head = {"schema": JSON_SCHEMA, "at": point.to_json() if point else None}
            render.emit_json_listing(head, "items", listing)
            return
        rows = list(listing)
    if point is not None:
        render.err.print(render.at_line(point))
    t = render.table("item_id", "name", "node", "index", "state", "outputs", "seconds")
    for r in rows:
        outputs = ", ".join(f"{render.here(o['abspath'])} [{o['tag']}]" for o in r["outputs"][:3])
        if len(r["outputs"]) > 3:
            outputs += f", ... ({len(r['outputs'])} files)"
        t.add_row(
            r["item_id"],
            r["name"],
            r["node"],
            str(r["index"]),
            render.styled(r["state"]),
            render.escape(outputs),
            f"{r['cook_seconds']:.3f}",
        )
    render.out.print(t)
