"""The data layer's window on a store: what it holds now, and what was appended since a seq.

The server is a reader of the store: it never takes the writer lock, so a cook in another process
never waits for it, however slow its subscribers. ``poll`` returns the events appended since the
last poll (one read of the log: a consistent cut), after the store's change counter (SQLite's
``data_version``) says something was committed; between commits a poll costs one pragma.

The questions the handlers ask (``graph_names``, ``item_ids``, ``item``, ``node_counts`` ...) are
answered from the store's read API: the projected state (``pdgstore.log.EventLog.load_state``),
kept current by folding in each polled event with the same ``apply`` the cook uses, plus per-node
state counters kept as events arrive, so a node's counts cost nothing to read. The store's
queryable projection tables (issue 16) will answer them by index instead; the handlers ask only
through these methods.
"""

from __future__ import annotations

import os
from collections import Counter

from pdgstore import projection
from pdgstore.errors import StoreError
from pdgstore.events import Event
from pdgstore.log import EventLog
from pdgstore.state import Item, State

#: events read per poll at most: a subscriber hears of a long cook in steps, never one huge frame
POLL_LIMIT = 5000


class StoreView:
    """An open store followed by one reader. ``refresh()`` before use; not thread-safe by itself
    (the data layer calls it under its lock)."""

    def __init__(self, path: str) -> None:
        self.path = os.path.abspath(path)
        self.log: EventLog | None = None
        self.state = State()
        self.counts: dict[tuple[str, str], Counter] = {}
        self._data_version = None
        self._inode = None

    # -- following -------------------------------------------------------------------------------
    @property
    def seq(self) -> int:
        return self.state.seq

    def is_open(self) -> bool:
        return self.log is not None

    def open(self) -> bool:
        """Open the store and load its state; False while it does not exist yet."""
        if not os.path.exists(self.path):
            return False
        self.close()
        self.log = EventLog.open(self.path)
        self._inode = os.stat(self.path).st_ino
        self.state = self.log.load_state()
        self.counts = {}
        for key, ids in self.state.node_items.items():
            self.counts[key] = Counter(self.state.items[i].state for i in ids)
        self._data_version = None
        return True

    def close(self) -> None:
        if self.log is not None:
            self.log.close()
            self.log = None

    def changed(self) -> bool:
        """Whether anything was committed since the last call (cheap: one pragma)."""
        if self.log is None:
            return os.path.exists(self.path)
        version = self.log.conn.execute("PRAGMA data_version").fetchone()[0]
        if version != self._data_version:
            self._data_version = version
            return True
        return False

    def must_reload(self) -> bool:
        """The store was replaced or compacted past where this view stands: start over."""
        try:
            inode = os.stat(self.path).st_ino
        except FileNotFoundError:
            return False
        if inode != self._inode:
            return True
        last = self.log.last_seq()
        return last < self.state.seq or self.log.base_seq() > self.state.seq

    def poll(self, limit: int = POLL_LIMIT) -> list[Event]:
        """The events appended since this view's seq (at most ``limit``), not yet applied."""
        if self.log is None:
            return []
        return list(self.log.events(self.state.seq, until=self.state.seq + limit))

    def apply(self, event: Event) -> None:
        """Fold ``event`` into the view (after its deltas were taken from the state before it)."""
        state = self.state
        item_id = getattr(event, "item_id", None)
        before = state.items.get(item_id) if item_id else None
        old = (before.graph, before.node, before.state) if before is not None else None
        projection.apply(state, event)
        after = state.items.get(item_id) if item_id else None
        if old is not None:
            self._count(old[0], old[1], old[2], -1)
        if after is not None:
            self._count(after.graph, after.node, after.state, +1)
        if event.kind == "NodeDirtied":
            ids = state.node_items.get((event.graph, event.node), {})
            self.counts[(event.graph, event.node)] = Counter(state.items[i].state for i in ids)

    def _count(self, graph: str, node: str, item_state: str, delta: int) -> None:
        counter = self.counts.get((graph, node))
        if counter is None:
            counter = self.counts[(graph, node)] = Counter()
        counter[item_state] += delta
        if counter[item_state] <= 0:
            del counter[item_state]

    # -- questions ---------------------------------------------------------------------------------
    def graph_names(self) -> list[str]:
        names = list(self.state.graphs)
        names += sorted({g for g, _ in self.state.node_items if g not in self.state.graphs})
        return names

    def node_names(self, graph: str) -> list[str]:
        info = self.state.graphs.get(graph)
        names = [n["name"] for n in info.nodes] if info else []
        names += [n for g, n in self.state.node_items if g == graph and n not in names]
        return names

    def item_ids(self, graph: str, node: str | None = None) -> list[str]:
        if node is not None:
            return list(self.state.node_items.get((graph, node), ()))
        return [i for (g, _), ids in self.state.node_items.items() if g == graph for i in ids]

    def item(self, item_id: str) -> Item | None:
        return self.state.items.get(item_id)

    def node_of(self, item_id: str) -> tuple[str, str] | None:
        """(graph, node) of an item, from the state or, for one since removed, from the log."""
        item = self.state.items.get(item_id)
        if item is not None:
            return item.graph, item.node
        if self.log is None:
            return None
        for event in self.log.events(0, subject=item_id, kind="WorkItemGenerated"):
            return event.graph, event.node
        return None

    def node_counts(self, graph: str, node: str) -> dict[str, int]:
        return dict(self.counts.get((graph, node), {}))

    def last_cook(self, graph: str):
        for cook in reversed(self.state.cooks.values()):
            if cook.graph == graph:
                return cook
        return None

    def has_history_after(self, seq: int) -> bool:
        """Whether the log still holds every event after ``seq`` (not compacted away)."""
        return self.log is not None and seq >= self.log.base_seq() and seq <= self.state.seq

    def events_between(self, after: int, until: int) -> list[Event]:
        if self.log is None:
            return []
        try:
            return list(self.log.events(after, until=until))
        except StoreError:
            return []
