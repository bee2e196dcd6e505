"""Resuming a subscription: the frames a live subscriber got after a seq, made again from the log.

A live subscriber's frames are cut where the follower's steps ended (``DataLayer.boundaries``: the
seq each step read to). A frame holds the deltas of that step's events, merged (``merge``), and
for a node its summaries (``num_work_items``, ``state_counts``, ``cook_state``) as they stood at the
step's end, those that changed. A client that resumes after seq S is sent the same frames: the
events after S cut at the same seqs, merged the same way, and the summaries at each cut computed
from the log: the node's counts now, less what the events since S did to the items they touched
(each item's state at S is folded from its own events with the fold the cook uses).

Where the server does not know the cuts (it started after S, or they scrolled out of its memory),
those events come as one frame: the object ends the same, but that stretch is not cut as it was.
When the log no longer holds what is needed (``pdg compact`` folded it away) the answer is None,
and the caller sends a fresh snapshot instead.
"""

from __future__ import annotations

import bisect
import itertools
from collections import Counter
from collections.abc import Sequence
from typing import cast

from pdgstore.engine.datalayer import storeobjects
from pdgstore.engine.datalayer.messages import APPEND, REMOVE, SET, Message
from pdgstore.engine.datalayer.storeview import STATE_KINDS, Compacted, StoreView

from pdgstore import projection, queries
from pdgstore.liveness import DIED
from pdgstore.state import Item, State


def merge(messages: list[Message], message: Message) -> None:
    """Append ``message`` to a frame's ``messages``, merged into the last one when both append (or
    both remove) values of the same property, or both set it (the later set wins). The live
    follower and a resumed subscription merge with this one rule, so their frames are the same."""
    if not merge_delta(messages, message.type, message.seq, message.prop, message.values, message.snapshot):
        messages.append(message)


def merge_delta(messages: list[Message], kind, seq: int, prop: str, values: list, snapshot=None) -> bool:
    """``merge`` of a delta given by its parts: True when it was merged into the last message,
    False when it must be appended as a message of its own (``add_delta`` does). A cook's 10,000
    appends to a node's ``work_items`` make one message, without a message made for each."""
    if messages and snapshot is None:
        last = messages[-1]
        if last.prop == prop and last.type == kind and last.snapshot is None:
            if kind == APPEND or kind == REMOVE:
                last.values.extend(values)
                last.seq = seq
                return True
            if kind == SET:
                last.seq, last.values = seq, values
                return True
    return False


def add_delta(messages: list[Message], kind, seq: int, prop: str, values: list) -> None:
    """Add a delta (``event_deltas``' parts) to a frame's ``messages`` by the ``merge`` rule."""
    if not merge_delta(messages, kind, seq, prop, values):
        messages.append(Message(kind, seq, prop, values))


def summary_messages(before: dict[str, list] | None, after: dict[str, list], seq: int) -> list[Message]:
    """The ``SetValues`` of a node's summaries that changed from ``before`` to ``after``."""
    before = before or {}
    return [Message(SET, seq, name, values) for name, values in after.items() if before.get(name) != values]


def cuts_between(boundaries: Sequence[int], since: int, until: int) -> list[int]:
    """The follower's cuts after ``since`` up to ``until``, ``until`` always last."""
    start = bisect.bisect_right(boundaries, since)
    stop = bisect.bisect_right(boundaries, until)
    cuts = list(itertools.islice(boundaries, start, stop))
    if not cuts or cuts[-1] != until:
        cuts.append(until)
    return cuts


def resume_frames(view: StoreView, path: str, since: int, boundaries: Sequence[int]) -> list[tuple[int, list]] | None:
    """The frames (seq, messages) of store object ``path`` after seq ``since`` up to the view's
    seq, as a live subscriber got them; None when a snapshot is due instead."""
    parsed = storeobjects.parse(path)
    if parsed is None or not view.has_history_after(since):
        return None
    events = view.events_between(since, view.seq)
    view.prepare(events, live=False)
    cuts = cuts_between(boundaries, since, view.seq)
    replayer = _Replaying(view, since) if parsed[0] == "pdg" else None
    # the proxy answers as the view does, but for the graphs the root object knew then
    replaying = cast(StoreView, replayer) if replayer is not None else view
    try:
        summaries = _NodeCounts(view, parsed[1], parsed[2], since, events) if parsed[0] == "node" else None
    except Compacted:
        return None
    paths = {path}
    frames: list[tuple[int, list]] = []
    last = summaries.summary() if summaries is not None else None
    at = 0
    for cut in cuts:
        messages: list[Message] = []
        while at < len(events) and events[at].seq <= cut:
            event = events[at]
            for _, kind, prop, values in storeobjects.event_deltas(event, replaying, paths):
                add_delta(messages, kind, event.seq, prop, values)
            if replayer is not None:
                replayer.saw(event)
            if summaries is not None:
                summaries.apply(event)
            at += 1
        if summaries is not None:
            now = summaries.summary()
            for message in summary_messages(last, now, cut):
                merge(messages, message)
            last = now
        if messages:
            frames.append((cut, messages))
    if parsed[0] == "graph":
        _add_death(view, parsed[1], frames)
    return frames


def _add_death(view: StoreView, graph: str, frames: list[tuple[int, list]]) -> None:
    """A cook that died is told live when the follower finds it gone, at no event of its own: a
    resumed subscriber hears it at the end of its frames, whether or not it heard it before."""
    cook = view.last_cook(graph)
    if cook is None or view.cook_status(cook) != DIED:
        return
    if not frames or frames[-1][0] != view.seq:
        frames.append((view.seq, []))
    merge(frames[-1][1], storeobjects.died_message(view.seq))


class _Replaying:
    """The view as the root object saw it during the replayed events: which graphs it knew."""

    def __init__(self, view: StoreView, since: int) -> None:
        self._view = view
        log = view.log
        assert log is not None, "a replay reads an open store"
        self.known = {g for g in view.graph_names() if queries.graph_seen_by(log, g, since)}

    def __getattr__(self, name: str):
        return getattr(self._view, name)

    def is_new_graph(self, graph: str) -> bool:
        return graph not in self.known

    def saw(self, event) -> None:
        if event.graph:
            self.known.add(event.graph)


class _NodeCounts:
    """A node's item counts, walked forward from seq ``since`` through ``events``.

    The counts at ``since`` are the counts now less what ``events`` did: every item they touch (all
    the node's items when it was dirtied as a whole) is taken out at its state now and put back at
    its state at ``since``, folded from its own events."""

    def __init__(self, view: StoreView, graph: str, node: str, since: int, events: list) -> None:
        self.graph, self.node = graph, node
        touched: set[str] = set()
        generated_here: dict[str, str] = {}
        dirtied_whole = False
        for event in events:
            if event.graph != graph:
                continue
            if event.kind == "NodeDirtied":
                dirtied_whole = dirtied_whole or event.node == node
            elif event.kind in STATE_KINDS:
                touched.add(event.item_id)
                if event.kind == "WorkItemGenerated":
                    generated_here[event.item_id] = event.node
        mine = {i for i in touched if generated_here.get(i, None) == node or _node_of(view, i) == (graph, node)}
        if dirtied_whole:
            mine.update(view.item_ids(graph, node))
        self.mine = mine
        counts = Counter(view.node_counts(graph, node))
        self.state = State()
        self.state.node_items[(graph, node)] = {}
        for item_id in mine:
            item = view.item(item_id)
            if item is not None and item.graph == graph and item.node == node:
                counts[item.state] -= 1
            before = view.item_state_at(item_id, graph, node, since)
            if before is not None:
                counts[before] += 1
                self.state.items[item_id] = _placeholder(item_id, graph, node, before)
                self.state.node_items[(graph, node)][item_id] = None
        self.counts = counts

    def apply(self, event) -> None:
        if event.graph != self.graph:
            return
        if event.kind == "NodeDirtied":
            if event.node != self.node:
                return
        elif event.kind not in STATE_KINDS or event.item_id not in self.mine:
            return
        elif event.kind != "WorkItemGenerated" and event.item_id not in self.state.items:
            return  # an event of an item that was not there: the fold would refuse it too
        before = {i: item.state for i, item in self.state.items.items()} if event.kind == "NodeDirtied" else None
        old = self.state.items.get(event.item_id) if before is None else None
        old_state = old.state if old is not None else None
        projection.apply(self.state, event)
        if before is not None:
            for item_id, was in before.items():
                self._move(was, self.state.items[item_id].state)
            return
        new = self.state.items.get(event.item_id)
        self._move(old_state, new.state if new is not None else None)

    def _move(self, was: str | None, now: str | None) -> None:
        if was == now:
            return
        if was is not None:
            self.counts[was] -= 1
        if now is not None:
            self.counts[now] += 1

    def summary(self) -> dict[str, list]:
        return storeobjects.summary_of({s: n for s, n in self.counts.items() if n > 0})


def _placeholder(item_id: str, graph: str, node: str, state: str) -> Item:
    return Item(item_id, graph, node, "", 0, [], {}, [], [], state)


def _node_of(view: StoreView, item_id: str) -> tuple[str, str] | None:
    return view.node_of(item_id)
