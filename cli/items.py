"""``pdg items``: one row per work item.

On a terminal, a table of the first items and how many more there are; into a pipe or a file,
every row as tab-separated text (``render.listing``); ``--json`` for scripts.
"""

from __future__ import annotations

import click
from pdgstore.cli import render
from pdgstore.cli.options import at_option, db_option, json_option

from pdgstore import queries, refs
from pdgstore.events import STATES
from pdgstore.locate import open_store
from pdgstore.queries import JSON_SCHEMA

COLUMNS = ("item_id", "name", "node", "index", "state", "outputs", "seconds")
#: the columns of a store of several graphs: each row says its graph, as ``pdg status`` does
GRAPH_COLUMNS = ("item_id", "name", "graph", "node", "index", "state", "outputs", "seconds")
#: the output files a row of the text listing names (then how many there are)
SHOWN = 3


@click.command("items", short_help="List work items with their state and output files.")
@click.argument("node", required=False)
@click.option("--state", "state_filter", type=click.Choice(STATES), help="Only items in this state.")
@at_option
@db_option
@json_option
def command(node, state_filter, at, db, as_json) -> None:
    """List work items (of NODE, or all): id, name, node, index, state, output files, cook time;
    node by node, each node's in work item order (NODE_1, NODE_2, ...: as a first cook made them,
    an item a recook added in its place); with --at, as they were at that point of the log. A terminal shows the first 1,000; a pipe
    gets every item, one tab-separated line each. A store of several graphs adds a graph column,
    and a NODE two graphs hold is given as GRAPH/NODE."""
    with open_store(db) as log:
        state, point = refs.state_at(log, at)
        graph = node_name = None
        if node is not None:
            graph, node_name = queries.find_node(state, node)
        several = len(queries.graph_names(state)) > 1
        if as_json:
            head = {"schema": JSON_SCHEMA, "at": point.to_json() if point else None}
            render.emit_json_listing(head, "items", queries.items(log, state, node_name, state_filter, graph=graph))
            return
        # the text shows SHOWN files of a row: a partition's other 99,997 stay in the store
        listing = queries.items(log, state, node_name, state_filter, graph=graph, limit=SHOWN)
        if point is not None:
            render.err.print(render.at_line(point))
        folders: dict[str, str] = {}  # ``render.here_all``'s answers, across rows
        render.listing(
            GRAPH_COLUMNS if several else COLUMNS,
            (_cells(r, folders, several) for r in listing),
            what="work items",
            every=f"pdg items {node} | less" if node else "pdg items | less",
            total=lambda: queries.count_items(state, node_name, state_filter, graph=graph),
            states=5 if several else 4,
        )


def _cells(r: dict, folders: dict[str, str], several: bool) -> list[str]:
    """A row's cells as text: at most ``SHOWN`` output files, and how many there are; its graph, in
    a store of ``several`` graphs."""
    shown = r["outputs"][:SHOWN]
    here = render.here_all([o["abspath"] for o in shown], folders)
    outputs = ", ".join(f"{path} [{o['tag']}]" for path, o in zip(here, shown, strict=True))
    total = r["counts"]["outputs"]
    if total > SHOWN:
        outputs += f", ... ({total} files)"
    where = [r["graph"], r["node"]] if several else [r["node"]]
    return [r["item_id"], r["name"], *where, str(r["index"]), r["state"], outputs, f"{r['cook_seconds']:.3f}"]
