"""The data layer's window on a store: what it holds now, and what was appended since a seq.

The server is a reader of the store: it never takes the writer lock, so a cook in another process
never waits for it, however slow its subscribers. ``rows`` returns the rows appended since the
last step (their indexed columns, filtered in SQL to what subscribers look into), after the
store's change counter (SQLite's ``data_version``) says something was committed; between commits
a step costs one pragma. ``decode`` reads the payloads of the few events that need them.

The questions the handlers ask (``graph_names``, ``item_ids``, ``item``, ``node_counts`` ...) are
answered by the store's queryable state (``pdgstore.readmodel.TableState``: the projection tables,
through their indexes), so a question about one item costs one row, whatever the store holds, and
the server holds no copy of the state. The data layer reads inside ``reading()``, one read
transaction: the rows it has read and the tables it reads are then the same cut of the log, so a
snapshot and the deltas after it neither overlap nor leave a gap. What it works out after that
transaction uses only facts that never change (events, an item's node and first generation) or
log reads bounded by a seq (``item_state_at``). On a store without tables
(a pdgstore without the read model) the state is loaded once and kept current by folding each
polled event with the fold the cook uses.
"""

from __future__ import annotations

import os
from collections import Counter
from contextlib import contextmanager

from pdgstore import codec, patches, projection, queries, tables
from pdgstore.errors import StoreError
from pdgstore.events import Event
from pdgstore.liveness import RUNNING, status_now
from pdgstore.log import EventLog
from pdgstore.state import Item, State

try:  # the store's queryable state (issue 16)
    from pdgstore.readmodel import TableState
except ImportError:  # pragma: no cover - a pdgstore without the read model
    TableState = None  # type: ignore[assignment,misc]

#: the events that can change a work item's state (what a node's counts are made of)
STATE_KINDS = frozenset(
    (
        "WorkItemGenerated",
        "WorkItemStateChanged",
        "WorkItemCooked",
        "WorkItemRemoved",
        "WorkItemDirtied",
        "WorkItemAccepted",
        "JobStarted",
        "JobEnded",
    )
)


class Compacted(Exception):
    """What a replay needs was folded away by ``pdg compact``: send a snapshot instead."""


class StoreView:
    """An open store followed by one reader. Not thread-safe by itself (the data layer calls it
    under its lock)."""

    def __init__(self, path: str) -> None:
        self.path = os.path.abspath(path)
        self.log: EventLog | None = None
        self.seq = 0
        self.known_graphs: set[str] = set()
        self._reader = None
        self._depth = 0
        self._memory: _StateReader | None = None
        self._data_version: int | None = None
        self._inode: int | None = None
        self._ords: dict[str, int] = {}
        self._nodes: dict[str, str] = {}
        self._unlisted: set[str] = set()
        self._live = True

    # -- following -------------------------------------------------------------------------------
    def is_open(self) -> bool:
        return self.log is not None

    def open(self) -> bool:
        """Open the store; False while it does not exist yet."""
        if not os.path.exists(self.path):
            return False
        self.close()
        self.log = EventLog.open(self.path)
        self._inode = os.stat(self.path).st_ino
        self._data_version = None
        with self.reading():
            if TableState is None:
                self._memory = _StateReader(self.log.load_state())
                self.seq = self._memory.state.seq
            else:
                self.seq = max(self.log.last_seq(), self.log.base_seq())
            self.known_graphs = set(self.graph_names())
        return True

    def close(self) -> None:
        if self.log is not None:
            self.log.close()
            self.log = None
        self._depth = 0
        self._reader = None

    @contextmanager
    def reading(self):
        """One read transaction (nested calls share it): every read inside sees the same commit."""
        if self.log is None:
            yield
            return
        if self._depth == 0:
            self._reader = None  # one made outside a transaction may have cached an older state
            # No read is open here to end: the connection is in autocommit mode, so a read outside
            # this one (a ``TableState`` made by the follower's deltas) ends as its query does
            # (tests/test_datalayer_wal.py), and nothing holds the writer's WAL between steps.
            self.log.conn.execute("BEGIN")
        self._depth += 1
        try:
            yield
        finally:
            self._depth = max(0, self._depth - 1)
            if self._depth == 0:
                self._reader = None
                if self.log is not None and self.log.conn.in_transaction:
                    self.log.conn.execute("COMMIT")

    @property
    def reader(self):
        """The state's read side: the tables (one ``TableState`` per read transaction), or the
        state kept in memory."""
        if self._memory is not None:
            return self._memory
        if self.log is None:
            return _StateReader(State())  # no store yet: nothing in it
        if self._reader is None:
            self._reader = TableState(self.log)
        return self._reader

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
        log = self.log
        assert log is not None, "asked of an open store"
        return log.last_seq() < self.seq or log.base_seq() > self.seq

    def end_seq(self) -> int:
        """The seq of the log's last event, as this view's read transaction sees it."""
        return self.log.last_seq() if self.log is not None else self.seq

    def rows(self, after: int, until: int, kinds=None, subjects=None, new_items_apart=False) -> list[tuple]:
        """The log's rows after ``after`` up to ``until``, their indexed columns only; with
        ``kinds`` and ``subjects``, only those of the kinds or about the subjects (all of them,
        with their payloads, when the state is kept in memory: that folds every event); with
        ``new_items_apart``, without the events that first generated an item (``new_items``
        reads those). All a follower reads inside its read transaction, which it keeps short."""
        if self.log is None:
            return []
        if self._memory is not None:
            return queries.event_rows(self.log, after, until)
        return queries.event_rows(
            self.log, after, until, payloads=False, kinds=kinds, subjects=subjects, new_items_apart=new_items_apart
        )

    def new_items(self, after: int, until: int) -> list[tuple[int, str, str, str]]:
        """(seq, item_id, graph, node) of the items first generated after ``after`` up to
        ``until`` that the store holds, in seq order (the tables keep that seq; none in memory)."""
        if self.log is None or self._memory is not None:
            return []
        return queries.new_items(self.log, after, until)

    def decode(self, rows: list[tuple], wanted=None) -> dict[int, Event]:
        """seq -> event of those of ``rows`` that ``wanted(kind, graph, subject)`` wants (all of
        them in memory), their payloads read now: most of a cook's events interest no subscriber,
        and reading and decoding them was most of what following a cook cost."""
        if self._memory is not None:
            return self._whole(codec.from_rows(rows))
        picked = [row for row in rows if wanted(row[4], row[3], row[5])]
        if not picked:
            return {}
        assert self.log is not None, "rows are read from an open store"
        payloads = queries.event_payloads(self.log, [row[0] for row in picked])
        return self._whole(codec.from_rows([(*row[:6], payloads[row[0]]) for row in picked]))

    def _whole(self, events) -> dict[int, Event]:
        """seq -> event, each with its long lists whole: a partition's event written as changes to
        its item's lists (``pdgstore.patches``) is completed from the item's earlier events."""
        out = {}
        for event in events:
            if getattr(event, "patched", None):
                patches.resolve_from_log(self.log, event)
            out[event.seq] = event
        return out

    def advance(self, seq: int, graph: str) -> None:
        """Move the view past the event at ``seq`` of ``graph`` (read by its columns only)."""
        if graph and graph not in self.known_graphs:
            self.known_graphs.add(graph)
        self.seq = seq

    def apply(self, event: Event) -> None:
        """Move the view past ``event`` (after its deltas were taken)."""
        if self._memory is not None:
            self._memory.apply(event)
        if event.graph:
            self.known_graphs.add(event.graph)
        self.seq = event.seq

    @property
    def in_memory(self) -> bool:
        """Whether the state is kept in memory (a store without tables): it is current only
        once the polled events are applied, not at the end of a read transaction."""
        return self._memory is not None

    def is_new_graph(self, graph: str) -> bool:
        return graph not in self.known_graphs

    def prepare(self, events: list[Event], live: bool = True) -> None:
        """Before ``is_regenerated`` is asked about ``events`` (``live``: the ones being followed
        now; else old ones, replayed for a resuming client): read the generation order of the
        items they generate, in one indexed query (the tables keep an item's first one)."""
        self._live = live
        self.prepare_items([e.item_id for e in events if e.kind == "WorkItemGenerated"])

    def prepare_items(self, ids: list[str], after: int | None = None, until: int | None = None) -> None:
        """``prepare`` for the generated items ``ids``: their first generation and node. With
        the seqs ``after``..``until`` the events were read from, the items first generated there
        (a cook's new items: most of them) are read as one range of the item table, by their
        first generation's seq, and only the others (generated again) by their ids, one lookup
        each: 20,000 lookups were most of what following a cold W(10,000) cost the follower."""
        if self._memory is not None or self.log is None:
            return
        rows: list[tuple[int, str, str]] = []
        if ids and after is not None and until is not None:
            rows = queries.items_first_generated(self.log, after, until)
        ords = {item_id: ord_ for ord_, item_id, _node in rows}
        nodes = {item_id: node for _ord, item_id, node in rows}
        # an item of the range's own is listed; only the others are looked up (and may be gone)
        ids_left = [i for i in ids if i not in ords] if rows else ids
        unlisted: set[str] = set()
        if ids_left:
            more = queries.item_origins(self.log, ids_left)
            for ord_, item_id, node in more:
                ords[item_id], nodes[item_id] = ord_, node
            unlisted = set(ids_left).difference(nodes)  # generated and removed since
        self._ords, self._nodes, self._unlisted = ords, nodes, unlisted

    def prepared_items(self) -> tuple[dict[str, int], dict[str, str]]:
        """What ``prepare_items`` read: item id -> seq of its first generation, and -> its node."""
        return self._ords, self._nodes

    def generated_node(self, event) -> str | None:
        """The node of a WorkItemGenerated, decoded or not: an item's node is part of its identity,
        and the rows ``prepare`` read say it, so the follower need not decode the event for it.
        None when the event was neither decoded nor prepared (nobody lists its node's items)."""
        if event.node is not None:
            return event.node
        node = self._nodes.get(event.item_id)
        if node is None and event.item_id in self._unlisted:
            where = self.node_of(event.item_id)
            node = where[1] if where else None
        return node

    def is_regenerated(self, event: Event) -> bool:
        """Whether ``event`` (a WorkItemGenerated) generates an item that already existed (a node
        that generates its items again): then the item is not new to its node and graph."""
        if self._memory is not None:
            if self._live:
                return event.item_id in self._memory.state.items  # the state before the event
        else:
            ord_ = self._ords.get(event.item_id)
            if ord_ is not None:
                return ord_ < event.seq  # the tables keep the seq of an item's first generation
        last = ""  # removed since, or an old event: what did the log say of the item before it?
        log = self.log
        assert log is not None, "asked of an open store"
        for earlier in log.events(0, subject=event.item_id, until=event.seq - 1):
            if earlier.kind in ("WorkItemGenerated", "WorkItemRemoved"):
                last = earlier.kind
        return last == "WorkItemGenerated"

    # -- questions ---------------------------------------------------------------------------------
    def graph_names(self) -> list[str]:
        reader = self.reader
        names = list(reader.graphs)
        names += sorted({g for g, _ in reader.node_keys() if g not in reader.graphs})
        return names

    def node_names(self, graph: str) -> list[str]:
        reader = self.reader
        info = reader.graphs.get(graph)
        names = [n["name"] for n in info.nodes] if info else []
        names += [n for g, n in reader.node_keys() if g == graph and n not in names]
        return names

    def item_ids(self, graph: str, node: str | None = None) -> list[str]:
        if node is not None:
            return self.reader.item_ids_of(graph, node)
        return [i for n in self.node_names(graph) for i in self.reader.item_ids_of(graph, n)]

    def item(self, item_id: str) -> Item | None:
        return self.reader.item(item_id)

    def node_of(self, item_id: str) -> tuple[str, str] | None:
        """(graph, node) of an item, from the state or, for one since removed, from the log."""
        item = self.reader.item(item_id)
        if item is not None:
            return item.graph, item.node
        if self.log is None:
            return None
        for event in self.log.events(0, subject=item_id, kind="WorkItemGenerated"):
            return event.graph, event.node
        return None

    def item_state_at(self, item_id: str, graph: str, node: str, seq: int) -> str | None:
        """The state of work item ``item_id`` (of ``graph``'s ``node``) after the log's events up
        to ``seq``, folded from its own events and its node's whole-node dirtying with the fold the
        cook uses; None when it did not exist then. Raises ``Compacted`` when its generation was
        folded away by ``pdg compact``."""
        log = self.log
        assert log is not None, "asked only of an open store"
        own = list(log.events(0, subject=item_id, until=seq))
        dirtied = [e for e in log.events(0, subject=node, kind="NodeDirtied", until=seq) if e.graph == graph]
        if log.base_seq() > 0 and (not own or own[0].kind != "WorkItemGenerated"):
            if own or self.first_generation(item_id) <= seq:
                raise Compacted(item_id)  # it was there at seq, generated in what was folded away
            return None
        state = State()
        for event in sorted([*own, *dirtied], key=lambda e: e.seq):
            if event.kind == "NodeDirtied" or (event.kind in STATE_KINDS and (
                    event.kind == "WorkItemGenerated" or event.item_id in state.items)):  # fmt: skip
                projection.apply(state, event)
        item = state.items.get(item_id)
        return item.state if item is not None else None

    def accepted_state(self, event) -> str:
        """The state a WorkItemAccepted left its item in: as it was when already cooked, else
        cooked_success (the fold's rule, read from the log so a live follower and a replay agree)."""
        where = self.node_of(event.item_id)
        try:
            after = self.item_state_at(event.item_id, where[0], where[1], event.seq) if where else None
        except Compacted:
            after = None
        return after or "cooked_success"

    def first_generation(self, item_id: str) -> int:
        """The seq of the item's first generation (the tables keep it, compacted or not; else
        the log's first); a seq past the log's end when it was never generated."""
        if self._memory is None and self.log is not None:
            rows = tables.load_items(self.log.conn, [item_id])
            if rows:
                return rows[0][0]
        if self.log is not None:
            first = self.log.first_seq_of(item_id, kind="WorkItemGenerated")
            if first is not None:
                return first
        return self.seq + 1

    def node_counts(self, graph: str, node: str) -> dict[str, int]:
        return self.reader.node_counts(graph, node)

    def last_cook(self, graph: str):
        for cook in reversed(self.reader.cooks.values()):
            if cook.graph == graph:
                return cook
        return None

    def running_cook(self):
        return self.reader.running_cook()

    def cook_status(self, cook) -> str:
        """``cook``'s status as every reader tells it (``pdgstore.liveness``): one recorded running
        that no process runs any more died. Looks at the writer lock only for such a cook."""
        if cook.status != RUNNING or self.log is None:
            return cook.status
        return status_now(cook.status, self.log.writer_pid())

    def has_history_after(self, seq: int) -> bool:
        """Whether the log still holds every event after ``seq`` (not compacted away)."""
        return self.log is not None and self.log.base_seq() <= seq <= self.seq

    def events_between(self, after: int, until: int) -> list[Event]:
        if self.log is None:
            return []
        try:
            return list(self._whole(self.log.events(after, until=until)).values())
        except StoreError:
            return []


class Envelope:
    """An event read without its payload: the columns the log indexes. What the follower keeps of
    an event no subscriber looks into (it still moves the view and tells whose state changed)."""

    __slots__ = ("seq", "time_ns", "cook_id", "graph", "kind", "subject", "item_id")

    def __init__(self, row: tuple) -> None:
        self.seq, self.time_ns, self.cook_id, self.graph, self.kind, self.subject = row[:6]
        self.item_id = self.subject  # an attribute, not a property: read several times per event

    #: not read (``StoreView.generated_node`` finds a generated item's node without it)
    node = None


class _StateReader:
    """The read side of a ``State`` kept in memory, with per-node counts kept as events arrive
    (for a store without the read model's tables)."""

    def __init__(self, state: State) -> None:
        self.state = state
        self.graphs = state.graphs
        self.cooks = state.cooks
        self.counts = {key: Counter(state.items[i].state for i in ids) for key, ids in state.node_items.items()}

    def apply(self, event: Event) -> None:
        state = self.state
        item_id = getattr(event, "item_id", None)
        before = state.items.get(item_id) if item_id else None
        old = (before.graph, before.node, before.state) if before is not None else None
        projection.apply(state, event)
        after = state.items.get(item_id) if item_id else None
        if old is not None:
            self._count(*old, -1)
        if after is not None:
            self._count(after.graph, after.node, after.state, +1)
        if event.kind == "NodeDirtied":
            ids = state.node_items.get((event.graph, event.node), {})
            self.counts[(event.graph, event.node)] = Counter(state.items[i].state for i in ids)

    def _count(self, graph: str, node: str, item_state: str, delta: int) -> None:
        counter = self.counts.setdefault((graph, node), Counter())
        counter[item_state] += delta
        if counter[item_state] <= 0:
            del counter[item_state]

    def item(self, item_id: str) -> Item | None:
        return self.state.items.get(item_id)

    def node_keys(self) -> list[tuple[str, str]]:
        return list(self.state.node_items)

    def node_counts(self, graph: str, node: str) -> dict[str, int]:
        return dict(self.counts.get((graph, node), {}))

    def item_ids_of(self, graph: str, node: str) -> list[str]:
        return list(self.state.node_items.get((graph, node), ()))

    def running_cook(self):
        return self.state.running_cook()
