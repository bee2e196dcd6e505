"""A cook's new work items, followed as one range of the item table and appended in bulk.

Most of a cook's events that concern graphs and nodes are ``WorkItemGenerated`` events of items
generated for the first time (a cold W(10,000): 20,000 of them), each an append of one item id to
its graph's and its node's ``work_items``. The item table keeps, for every item, the seq of the
event that first generated it, its graph and its node; so the follower reads those items as one
range of that table (``StoreView.new_items``) and leaves their events out of the rows it reads
(``StoreView.rows(new_items_apart=True)``): no event row, no envelope, no per-event step in
Python for them. ``NewItems`` puts them back between the other rows by seq, a run of them at a
time, with the very deltas the per-event walk (``storeobjects.event_deltas``) makes for them:
the root's ``graph_list`` append for a graph it did not know, then the appends of the run's
items to each subscribed graph and node, merged as ``add_delta`` merges, each message carrying
the seq of its last item.
"""

from __future__ import annotations

import bisect

from pdgstore.engine.datalayer import storeobjects
from pdgstore.engine.datalayer.messages import APPEND, Message
from pdgstore.engine.datalayer.messages import PropertyNames as P
from pdgstore.engine.datalayer.replay import add_delta
from pdgstore.engine.datalayer.storeview import StoreView


class NewItems:
    """The new items of a step, ``(seq, item_id, graph, node)`` in seq order, added to the
    step's frames a run at a time, in seq order with the step's other events."""

    def __init__(self, items: list[tuple], view: StoreView, paths: frozenset, frames: dict[str, list[Message]]) -> None:
        self.items, self.view, self.paths, self.frames = items, view, paths, frames
        self.seqs = [item[0] for item in items]
        self.at = 0

    def add_before(self, seq: int) -> bool:
        """Add the deltas of the new items before ``seq`` not added yet; whether there were any
        (the frames' last messages may then have changed)."""
        stop = bisect.bisect_left(self.seqs, seq, self.at)
        if stop == self.at:
            return False
        self._add(self.items[self.at : stop])
        self.at = stop
        return True

    def add_rest(self) -> None:
        self.add_before(self.seqs[-1] + 1 if self.seqs else 0)

    def _add(self, run: list[tuple]) -> None:
        """The deltas of ``run`` (new items with no other event between them): per graph and per
        node, their frames taken in the order the per-event walk first touches them."""
        lists: dict[str, list] = {}  # path -> [the ids it gets, the seq of the last]
        feeds: dict[tuple[str, str], list[list]] = {}  # (graph, node) -> the lists its items go to
        for seq, item_id, graph, node in run:
            into = feeds.get((graph, node))
            if into is None:
                into = feeds[(graph, node)] = self._lists_of(graph, node, seq, lists)
            for found in into:
                found[0].append(item_id)
                found[1] = seq
        for path, (ids, last) in lists.items():
            add_delta(self.frames[path], APPEND, last, P.WorkItems, ids)

    def _lists_of(self, graph: str, node: str, seq: int, lists: dict[str, list]) -> list[list]:
        """The lists the items of ``graph``'s ``node`` go to, met first at ``seq`` (a graph the
        root object did not list yet is appended to its ``graph_list`` there)."""
        view, frames = self.view, self.frames
        if graph not in view.known_graphs:
            if storeobjects.ROOT in self.paths:
                add_delta(frames.setdefault(storeobjects.ROOT, []), APPEND, seq, P.GraphList, [graph])
            view.known_graphs.add(graph)
        into = []
        for path in (storeobjects.graph_path(graph), storeobjects.node_path(graph, node)):
            if path in self.paths:
                if path not in lists:
                    lists[path] = [[], seq]
                    frames.setdefault(path, [])
                into.append(lists[path])
        return into
