"""The data layer's contents as a change log (``pdg datalayer dump``): one snapshot message per
object under a path, in the order a visualizer walking down from it would meet them, streamed
(a node's work items are read one at a time, never all held as objects)."""

from __future__ import annotations

from collections.abc import Iterator

from pdgstore.engine.datalayer import storeobjects
from pdgstore.engine.datalayer.messages import SNAPSHOT
from pdgstore.engine.datalayer.storeview import StoreView
from pdgstore.engine.errors import UnknownObject


def walk(view: StoreView, path: str = "pdg") -> Iterator[dict]:
    """``{"path", "type", "seq", "properties"}`` for ``path`` and every object below it."""
    parsed = storeobjects.parse(path.strip().strip("/"))
    if parsed is None:
        raise UnknownObject(
            f"{path} is not a path of the store's data layer (pdg, pdg/GRAPH, pdg/GRAPH/node_NODE, "
            "pdg/GRAPH/work_item_ID)"
        )
    props = storeobjects.properties(view, parsed)
    if parsed[0] != "pdg" and not props:
        raise UnknownObject(f"the store has no object at {path}")
    yield _entry(view, path, props)
    if parsed[0] == "pdg":
        for graph in props[storeobjects.P.GraphList]:
            yield from walk(view, storeobjects.graph_path(graph))
    elif parsed[0] == "graph":
        for node in props[storeobjects.P.NodeList]:
            yield from walk(view, storeobjects.node_path(parsed[1], node))
    elif parsed[0] == "node":
        for item_id in props[storeobjects.P.WorkItems]:
            yield from walk(view, storeobjects.item_path(parsed[1], item_id))


def _entry(view: StoreView, path: str, props: dict) -> dict:
    return {"path": path, "type": SNAPSHOT.name, "seq": view.seq, "properties": props}
