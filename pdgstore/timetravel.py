"""The state at an earlier point of the log (``--at REF``, ``pdg history COOK``), without loading
the world: the current tables, with the items that changed since that point folded again up to it.

Why this works: an item's row changes only through events about it (their subject is the item)
or a ``NodeDirtied`` of its node. So every item that no event after seq S touched holds in the
tables exactly what it held at S; the others are few when S is recent (``cook~1``, the end of an
earlier cook), and each is rebuilt by folding its own events up to S (the subject index) with
``projection.APPLY``, the one fold. Graphs, cooks and the registry at S are the fold of the
events that change no item, read through the partial index ``events_global``.

When S is far back (more events after it than ``OVERLAY_EVENTS``) or the log was compacted (an
item's early events are gone), the nearest snapshot plus the events up to S is cheaper or the
only way: ``state_at_seq`` falls back to it (``EventLog.state_at``).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from heapq import merge

from pdgstore import codec, itembatch, tables
from pdgstore.inserts import chunks
from pdgstore.itemlists import as_list
from pdgstore.projection import APPLY
from pdgstore.readmodel import HIGH, TableState
from pdgstore.state import Item, State, paused_gc

#: at most this many events after the point: overlay; more, the snapshot and a replay
OVERLAY_EVENTS = 200_000
_COLUMNS = "seq, time_ns, cook_id, graph, kind, subject, payload"


def state_at_seq(log, seq: int):
    """The state right after event ``seq``, with the read methods of ``State``."""
    last = log.last_seq()
    if seq >= last:
        return TableState(log)
    if log.base_seq() or last - seq > OVERLAY_EVENTS:
        return log.state_at(seq)
    return StateAt(log, seq)


class StateAt(TableState):
    """The tables as they were after event ``seq``: an overlay of the items touched since."""

    def __init__(self, log, seq: int) -> None:
        super().__init__(log)
        self.seq = seq
        conn = self.conn
        with log.read_errors(), paused_gc():
            item_ids: set[str] = set()
            dirtied: set[tuple[str, str]] = set()
            sql = "SELECT kind, subject, graph, CASE WHEN kind = ? THEN payload END FROM events WHERE seq > ?"
            for kind, subject, graph, batch in conn.execute(sql, (itembatch.KIND, seq)):
                if kind in tables.ITEM_KINDS:
                    item_ids.add(subject)
                elif batch is not None:  # a batch of new items (``pdgstore.itembatch``)
                    item_ids.update(itembatch.ids_of(batch))
                elif kind == "NodeDirtied":
                    dirtied.add((graph, subject))
            for graph, node in dirtied:
                item_ids.update(
                    r[0] for r in conn.execute("SELECT item_id FROM items WHERE graph = ? AND node = ?", (graph, node))
                )
            #: item id -> (graph, node, state) in the tables now, for the touched items that exist now
            self.now: dict[str, tuple] = {}
            for chunk in chunks(sorted(item_ids)):
                marks = ",".join("?" * len(chunk))
                sql = f"SELECT item_id, graph, node, state FROM items WHERE item_id IN ({marks})"
                self.now.update((r[0], r[1:]) for r in conn.execute(sql, chunk))
            self.touched = item_ids
            self.then, self.ords = self._fold_items(sorted(item_ids))
            self.glob = self._fold_global()

    def _fold_items(self, ids: list[str]) -> tuple[State, dict[str, int]]:
        """The touched items as they were at ``seq``: each one's events up to it, with the
        ``NodeDirtied`` of its node, folded in log order."""
        conn, seq = self.conn, self.seq
        rows = []
        for chunk in chunks(ids):
            marks = ",".join("?" * len(chunk))
            rows += conn.execute(
                f"SELECT {_COLUMNS} FROM events WHERE subject IN ({marks}) AND seq <= ?", (*chunk, seq)
            ).fetchall()
        # lazy: the lists of a partition's or gather's events (an entry per member) stay packed
        # until an answer reads them; a status or a listing never does
        events = [e for e in codec.from_rows(rows, lazy=True) if e.kind in tables.ITEM_KINDS]
        events += self._batched(ids)
        nodes = {(e.graph, e.node) for e in events if e.kind == "WorkItemGenerated"}
        for graph, node in nodes:
            rows = conn.execute(
                f"SELECT {_COLUMNS} FROM events WHERE subject = ? AND kind = 'NodeDirtied' AND seq <= ?", (node, seq)
            ).fetchall()
            events += [e for e in codec.from_rows(rows) if e.graph == graph]
        events.sort(key=lambda e: e.seq)
        state, ords = State(), {}
        for e in events:
            if e.kind == "WorkItemGenerated" and e.item_id not in state.items:
                ords[e.item_id] = e.seq
            elif e.kind == "WorkItemOutputAdded" and e.item_id in state.items:  # the fold that reads a list
                item = state.items[e.item_id]
                item.outputs = as_list(item.outputs)
            APPLY[e.kind](state, e)
        return state, ords

    def _batched(self, ids: list[str]) -> list:
        """The ``WorkItemGenerated`` events of ``ids`` up to ``seq`` that batches stand for
        (``pdgstore.itembatch``): only the batches that made them (``itembatch.batches_of``), and
        of each only those items' events."""
        wanted = set(ids)
        rows = itembatch.batches_of(self.conn, ids, until=self.seq)
        return [one for event in codec.from_rows(rows) for one in itembatch.expand(event, wanted)]

    def _fold_global(self) -> State:
        kinds = ", ".join(repr(k) for k in tables.GLOBAL_KINDS)
        rows = self.conn.execute(
            f"SELECT {_COLUMNS} FROM events WHERE kind IN ({kinds}) AND seq <= ? ORDER BY seq", (self.seq,)
        )
        state = State()
        for e in codec.from_rows(rows):
            APPLY[e.kind](state, e)
        return state

    # -- what the overlay changes ----------------------------------------------------------------
    @property
    def graphs(self):
        return self.glob.graphs

    @property
    def cooks(self):
        return self.glob.cooks

    @property
    def transfers(self) -> dict:
        return self.glob.transfers

    @property
    def watches(self) -> dict:
        return self.glob.watches

    @property
    def schedules(self) -> dict:
        return self.glob.schedules

    def running_cook(self):
        return self.glob.running_cook()

    def last_cook_id(self) -> int:
        return self.glob.last_cook_id()

    def item(self, item_id: str, *, summary: bool = False) -> Item | None:
        if item_id in self.touched:
            return self.then.items.get(item_id)
        return super().item(item_id, summary=summary)

    def item_sizes(self, item_id: str) -> tuple[int, int]:
        if item_id in self.touched:
            return self.then.item_sizes(item_id)
        return super().item_sizes(item_id)

    def items_many(self, ids) -> dict[str, Item]:
        ids = list(ids)
        found = super().items_many([i for i in ids if i not in self.touched])
        found.update((i, self.then.items[i]) for i in ids if i in self.then.items)
        return found

    def labels(self, ids) -> Iterator[tuple[str, str, str]]:
        ids = list(ids)
        yield from super().labels([i for i in ids if i not in self.touched])
        yield from self.then.labels(i for i in ids if i in self.touched)

    def _untouched(self, items: list[Item]) -> list[Item]:
        return [i for i in items if i.item_id not in self.touched]

    def items_named(self, name: str, limit: int = 2, *, summary: bool = False) -> list[Item]:
        then = [i for i in self.then.items.values() if i.name == name]
        return (then + self._untouched(super().items_named(name, limit + len(self.touched), summary=summary)))[:limit]

    def items_with_prefix(self, prefix: str, limit: int = 2, *, summary: bool = False) -> list[Item]:
        then = [i for i in self.then.items.values() if prefix <= i.item_id < prefix + HIGH]
        return (then + self._untouched(super().items_with_prefix(prefix, limit + len(self.touched), summary=summary)))[
            :limit
        ]

    def node_keys(self) -> list[tuple[str, str]]:
        rows = self.conn.execute("SELECT graph, node FROM nodes WHERE ord <= ? ORDER BY ord", (self.seq,))
        return [tuple(r) for r in rows]

    def node_counts(self, graph: str, node: str) -> dict[str, int]:
        counts = Counter(super().node_counts(graph, node))
        counts.subtract(s for g, n, s in self.now.values() if (g, n) == (graph, node))
        counts.update(i.state for i in self.then.items_of(graph, node))
        return {s: c for s, c in counts.items() if c > 0}

    def iter_items_of(
        self, graph: str, node: str, state: str | None = None, *, summary: bool = False
    ) -> Iterator[Item]:
        now = ((r[0], r) for r in self._node_rows(graph, node, state, summary) if r[1] not in self.touched)
        then = sorted((self.ords[i.item_id], i) for i in self.then.items_of(graph, node, state))
        for _, x in merge(now, then, key=lambda pair: pair[0]):
            yield tables.item_from_row(x, self.conn, lazy=True) if isinstance(x, tuple) else x

    def item_ids_of(self, graph: str, node: str) -> list[str]:
        return [i.item_id for i in self.items_of(graph, node)]

    def job(self, item_id: str) -> list | None:
        if item_id in self.touched:
            return self.then.jobs.get(item_id)
        return super().job(item_id)

    def children(self, item_id: str) -> list[str]:
        now = [c for c in super().children(item_id) if c not in self.touched]
        return now + [i.item_id for i in self.then.items.values() if item_id in i.parents]

    def materialise(self) -> State:
        """The whole state at ``seq`` as a ``State`` (tests compare it with a replay)."""
        state = tables.read_state(self.conn, self.seq)
        for item_id in self.touched:
            item = state.items.pop(item_id, None)
            if item is not None:
                del state.node_items[(item.graph, item.node)][item_id]
            state.jobs.pop(item_id, None)
        for item in self.then.items.values():
            item.parents, item.inputs, item.outputs = (as_list(v) for v in (item.parents, item.inputs, item.outputs))
        state.items.update(self.then.items)
        state.jobs.update(self.then.jobs)
        state.graphs, state.cooks = self.glob.graphs, self.glob.cooks
        state.transfers, state.watches, state.schedules = self.glob.transfers, self.glob.watches, self.glob.schedules
        state.node_items = {key: {} for key in self.node_keys()}
        for item in sorted(state.items.values(), key=lambda i: self.ords.get(i.item_id, 0)):
            state.node_items.setdefault((item.graph, item.node), {})[item.item_id] = None
        return state
