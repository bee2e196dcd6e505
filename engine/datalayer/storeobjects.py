"""The store's objects: their paths, their properties, and the deltas each event makes to them.

Paths (PDG's, with names where PDG has integer ids: a node's id is its name, a work item's id its
stable item id)::

    pdg                              graph_list
    pdg/{graph}                      name, node_list, work_items, cook_id, cook_status
    pdg/{graph}/node_{node}          name, id, graph, work_items, num_work_items, state_counts, cook_state
    pdg/{graph}/work_item_{item_id}  name, id, node, graph, index, state, cook_id, cook_start,
                                     cook_time, parents, input_files, output_files, error,
                                     attribute/NAME (one property per attribute)

``event_deltas`` is the one place that says what an event changes, for live subscribers and for a
client resuming from a seq alike: it reads the event and, where the event does not say it, the
view as it stood before the event (which node a removed item belonged to). A node's counts are
summaries: they are sent as one ``SetValues`` per poll when they changed (``node_summary``), not per
event. A graph's ``cook_status`` is its last cook's as every reader tells it (``pdgstore.liveness``):
``died`` for one the log shows running whose process is gone, which no event says (``died_cook``).
"""

from __future__ import annotations

from collections.abc import Iterator

from pdgstore.engine.datalayer.messages import APPEND, REMOVE, SET, Message
from pdgstore.engine.datalayer.messages import PropertyNames as P
from pdgstore.engine.datalayer.storeview import StoreView

from pdgstore.events import DONE_STATES, STATES
from pdgstore.liveness import DIED
from pdgstore.state import CookRecord, Item

ROOT = "pdg"
NODE_PREFIX = "node_"
ITEM_PREFIX = "work_item_"


def graph_path(graph: str) -> str:
    return f"{ROOT}/{graph}"


def node_path(graph: str, node: str) -> str:
    return f"{ROOT}/{graph}/{NODE_PREFIX}{node}"


def item_path(graph: str, item_id: str) -> str:
    return f"{ROOT}/{graph}/{ITEM_PREFIX}{item_id}"


def parse(path: str) -> tuple | None:
    """("pdg",), ("graph", g), ("node", g, n), ("item", g, id), or None for a path not of the store."""
    parts = path.split("/")
    if parts[0] != ROOT or len(parts) > 3:
        return None
    if len(parts) == 1:
        return ("pdg",)
    if not parts[1]:
        return None
    if len(parts) == 2:
        return ("graph", parts[1])
    leaf = parts[2]
    if leaf.startswith(ITEM_PREFIX) and len(leaf) > len(ITEM_PREFIX):
        return ("item", parts[1], leaf[len(ITEM_PREFIX) :])
    if leaf.startswith(NODE_PREFIX) and len(leaf) > len(NODE_PREFIX):
        return ("node", parts[1], leaf[len(NODE_PREFIX) :])
    return None


def parse_known(path: str) -> tuple:
    """``parse`` of a path the caller already knows names a store object."""
    parsed = parse(path)
    if parsed is None:
        raise ValueError(f"{path} does not name a store object")
    return parsed


# -- snapshots ------------------------------------------------------------------------------------
def properties(view: StoreView, parsed: tuple) -> dict[str, list]:
    """Every property of the object at a parsed path, read from the store ({} for none)."""
    kind = parsed[0]
    if kind == "pdg":
        return {P.GraphList: view.graph_names()}
    if kind == "graph":
        graph = parsed[1]
        if graph not in view.graph_names():
            return {}
        cook = view.last_cook(graph)
        return {
            P.Name: [graph],
            P.NodeList: view.node_names(graph),
            P.WorkItems: view.item_ids(graph),
            P.CookId: [cook.cook_id] if cook else [],
            P.CookStatus: [view.cook_status(cook)] if cook else [],
        }
    if kind == "node":
        graph, node = parsed[1], parsed[2]
        if node not in view.node_names(graph):
            return {}
        props = {P.Name: [node], P.Id: [node], P.Graph: [graph], P.WorkItems: view.item_ids(graph, node)}
        props.update(node_summary(view, graph, node))
        return props
    item = view.item(parsed[2])
    if item is None or item.graph != parsed[1]:
        return {}
    return item_properties(item)


def item_properties(item: Item) -> dict[str, list]:
    props: dict[str, list] = {
        P.Name: [item.name],
        P.Id: [item.item_id],
        P.Node: [item.node],
        P.Graph: [item.graph],
        P.Index: [item.index],
        P.State: [item.state],
        P.CookId: [item.cook_id],
        P.CookStart: [item.started_ns / 1e9] if item.started_ns else [],
        P.CookTime: [item.duration_ns / 1e9] if item.duration_ns else [],
        P.Parents: list(item.parents),
        P.InputFiles: files(item.inputs),
        P.OutputFiles: files(item.outputs),
        P.Error: [item.error] if item.error else [],
    }
    for name, (_type, values, *_flags) in sorted(item.attrs.items()):
        props[P.AttributePrefix + name] = list(values)
    return props


def files(records: list) -> list[list]:
    """Recorded files as ``[path, tag, size]``."""
    return [[r[0], r[1], r[2]] for r in records]


def node_summary(view: StoreView, graph: str, node: str) -> dict[str, list]:
    return summary_of(view.node_counts(graph, node))


def summary_of(counts: dict[str, int]) -> dict[str, list]:
    """A node's summaries from its item counts per state."""
    return {
        P.NumWorkItems: [sum(counts.values())],
        P.StateCounts: [[s, counts[s]] for s in STATES if counts.get(s)],
        P.CookState: [cook_state(counts)],
    }


def cook_state(counts: dict[str, int]) -> str:
    if not counts:
        return "uncooked"
    if counts.get("cooking") or counts.get("scheduled"):
        return "cooking"
    if counts.get("cooked_fail"):
        return "failed"
    if counts.get("dirty"):
        return "dirty"
    if all(state in DONE_STATES for state in counts):
        return "cooked"
    return "uncooked"


def died_cook(view: StoreView) -> CookRecord | None:
    """The cook the log shows running whose process has died (``pdgstore.liveness``), or None.
    A cook killed without a word records no end: this is how a follower learns it ended."""
    with view.reading():
        cook = view.running_cook()
    return cook if cook is not None and view.cook_status(cook) == DIED else None


def died_message(seq: int) -> Message:
    """What a graph's subscribers hear when its running cook died: its ``cook_status`` is set as
    a snapshot would now give it."""
    return Message(SET, seq, P.CookStatus, [DIED])


# -- deltas ---------------------------------------------------------------------------------------
Delta = tuple[str, int, str, list]  # (path, message type, property, values)


def event_deltas(event, view: StoreView, paths) -> Iterator[Delta]:
    """What ``event`` changes in the objects at ``paths`` (the subscribed ones), read before the
    view applies it. ``event`` may be an ``Envelope`` (no payload) when nothing in ``paths`` looks
    into it: every payload field is read only once its object is known to be in ``paths``."""
    kind, graph = event.kind, event.graph
    gpath = graph_path(graph)
    if kind == "WorkItemGenerated":
        if ROOT in paths and view.is_new_graph(graph):
            yield ROOT, APPEND, P.GraphList, [graph]
        node = view.generated_node(event)
        npath = node_path(graph, node) if node is not None else None
        if (gpath in paths or npath in paths) and not view.is_regenerated(event):  # else already listed
            if gpath in paths:
                yield gpath, APPEND, P.WorkItems, [event.item_id]
            if npath is not None and npath in paths:
                yield npath, APPEND, P.WorkItems, [event.item_id]
        ipath = item_path(graph, event.item_id)
        if ipath in paths:
            item = Item(
                event.item_id, graph, event.node, event.name, event.index, event.parents, event.attrs,
                event.inputs, event.outputs, event.state, event.cook_id, signature=event.signature,
            )  # fmt: skip
            for name, values in item_properties(item).items():
                yield ipath, SET, name, values
        return
    if kind in ITEM_EVENTS:
        ipath = item_path(graph, event.item_id)
        if ipath in paths:
            yield from _item_deltas(event, view, ipath)
        if kind == "WorkItemRemoved":
            if gpath in paths:
                yield gpath, REMOVE, P.WorkItems, [event.item_id]
            where = view.node_of(event.item_id)
            if where is not None and node_path(*where) in paths:
                yield node_path(*where), REMOVE, P.WorkItems, [event.item_id]
        return
    if kind == "GraphLoaded":
        if ROOT in paths and view.is_new_graph(graph):
            yield ROOT, APPEND, P.GraphList, [graph]
        if gpath in paths:
            yield gpath, SET, P.NodeList, [n["name"] for n in event.nodes]
    elif kind == "CookStarted":
        if gpath in paths:
            yield gpath, SET, P.CookId, [event.cook_id]
            yield gpath, SET, P.CookStatus, ["running"]
    elif kind == "CookFinished":
        if gpath in paths:
            yield gpath, SET, P.CookStatus, [event.status]
    elif kind == "NodeDirtied":
        prefix = item_path(graph, "")
        for path in paths:  # the subscribed items of the node that were there when it was dirtied
            if path.startswith(prefix):
                item_id = path[len(prefix) :]
                if view.node_of(item_id) == (graph, event.node) and view.first_generation(item_id) < event.seq:
                    yield path, SET, P.State, ["dirty"]


def _item_deltas(event, view: StoreView, path: str) -> Iterator[Delta]:
    kind = event.kind
    if kind == "WorkItemRemoved":
        yield path, SET, P.State, ["removed"]
    elif kind == "WorkItemStateChanged":
        yield path, SET, P.State, [event.state]
        yield path, SET, P.CookId, [event.cook_id]
        if event.state == "cooking":
            yield path, SET, P.CookStart, [event.time_ns / 1e9]
    elif kind == "WorkItemCooked":
        yield path, SET, P.State, [event.state]
        yield path, SET, P.CookId, [event.cook_id]
        yield path, SET, P.CookStart, [event.started_ns / 1e9] if event.started_ns else []
        yield path, SET, P.CookTime, [event.duration_ns / 1e9] if event.duration_ns else []
        yield path, SET, P.OutputFiles, files(event.outputs)
        yield path, SET, P.Error, [event.error] if event.error else []
        for name, (_type, values, *_flags) in sorted(event.attrs.items()):
            yield path, SET, P.AttributePrefix + name, list(values)
    elif kind == "WorkItemDirtied":
        yield path, SET, P.State, ["dirty"]
    elif kind == "WorkItemRestatted":
        if event.outputs or not event.attrs:  # (v2: [] with attrs keeps the outputs)
            yield path, SET, P.OutputFiles, files(event.outputs)
        for name, (_type, values, *_flags) in sorted(event.attrs.items()):
            yield path, SET, P.AttributePrefix + name, list(values)
    elif kind == "WorkItemAccepted":
        yield path, SET, P.OutputFiles, files(event.outputs)
        yield path, SET, P.State, [view.accepted_state(event)]
    elif kind == "WorkItemOutputAdded":
        yield path, APPEND, P.OutputFiles, files(event.outputs)
    elif kind == "WorkItemRenumbered":
        yield path, SET, P.Name, [event.name]
        yield path, SET, P.Index, [event.index]
    elif kind == "JobStarted":
        yield path, SET, P.State, ["cooking"]
        yield path, SET, P.CookStart, [event.time_ns / 1e9]
    elif kind == "JobEnded" and event.outcome == "retry":
        yield path, SET, P.State, ["scheduled"]
    elif kind == "WorkItemAttribSet":
        yield path, SET, P.AttributePrefix + event.name, list(event.attr[1])


#: the events about one work item (their subject) that change what its object shows
ITEM_EVENTS = frozenset(
    (
        "WorkItemRemoved",
        "WorkItemStateChanged",
        "WorkItemCooked",
        "WorkItemDirtied",
        "WorkItemRestatted",
        "WorkItemAccepted",
        "WorkItemOutputAdded",
        "WorkItemRenumbered",
        "JobStarted",
        "JobEnded",
        "WorkItemAttribSet",
    )
)
#: the events that change only their own work item's object
ITEM_ONLY = ITEM_EVENTS - {"WorkItemRemoved"}
#: every kind ``event_deltas`` says something of
HANDLED = ITEM_EVENTS | {"WorkItemGenerated", "GraphLoaded", "CookStarted", "CookFinished", "NodeDirtied"}
#: rare events whose payload the follower always reads (a graph's nodes, a cook's status ...)
ALWAYS_DECODED = frozenset(("GraphLoaded", "CookStarted", "CookFinished", "NodeDirtied"))
