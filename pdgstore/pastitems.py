"""Work items as they were at an earlier seq, folded from their own events, a chunk at a time:
what time travel (``pdgstore.timetravel``) reads when an answer asks for an item the events after
that seq changed.

Why a classification: most events after a point change no item's graph, node, state, existence or
order (a ``touch`` of every input restats each input's item, deleting one input renumbers every
later item: 100,000 and 200,000 events at W(100,000)). A status at the point needs only the items
whose *shape* changed (``SHAPE_KINDS``); every other item is what its row holds now but for the
fields ``DETAIL_KINDS`` write (``DETAIL_FIELDS``: attributes, outputs, name, index), and is folded
only when an answer reads it. ``DETAIL_KINDS`` is an allow-list: an item kind added later is a
shape kind until a test (``tests/test_timetravel_scale.py``) shows that its fold changes nothing else.

The fold is ``projection.APPLY``, the one fold, over an item's own events up to the seq, the batch
that generated it (``pdgstore.itembatch``) and its node's ``NodeDirtied`` events: exactly what a
replay applies to that item (no other event touches an item's row). An item whose life (from the
generation at its row's ``ord``) spans the seq needs only the events of that life, and its batch is
the log's first row at or after its ``ord`` (``Folder.fold``'s ``ords``: no search of its node's
batches). An item no shape event followed needs only the kinds that write its detail fields
(``DETAIL_WRITERS``, ``Folder.details``): its other fields are its row's.
"""

from __future__ import annotations

from collections import OrderedDict
from typing import Any

from pdgstore import codec, itembatch, tables
from pdgstore.baseitems import BEHIND, BaseItems
from pdgstore.inserts import chunks
from pdgstore.itemlists import as_list
from pdgstore.projection import APPLY
from pdgstore.state import Item, State, paused_gc

#: item event kinds whose fold changes only an item's ``DETAIL_FIELDS``: never its graph, node,
#: state, cook id, times, error, signature, reason, parents, inputs, job, existence or place in
#: its node's order
DETAIL_KINDS = frozenset(
    {"WorkItemRestatted", "WorkItemRenumbered", "WorkItemAttribSet", "WorkItemOutputAdded", "WorkItemLogged"}
)
DETAIL_FIELDS = ("name", "index", "attrs", "outputs")
#: the detail kinds that change an item's name (a name at a point is found through them)
RENAME_KINDS = frozenset({"WorkItemRenumbered"})
#: every item kind whose fold writes a name or an index (with the batch)
NAME_WRITERS = RENAME_KINDS | {"WorkItemGenerated"}
#: every other kind that changes items: what a status at a point must fold the items of
SHAPE_KINDS = tuple(sorted((tables.ITEM_KINDS - DETAIL_KINDS) | {itembatch.KIND, "NodeDirtied"}))
#: the item kinds whose fold may write a ``DETAIL_FIELDS`` field (with the batch): the others
#: (a state changed, a job started or ended, dirtied) are left out of ``Folder.details``
DETAIL_WRITERS = DETAIL_KINDS | {"WorkItemGenerated", "WorkItemCooked", "WorkItemAccepted"}
#: ids folded at a time (one ``IN`` list of events per ``inserts.IN_LIST`` of them)
FOLD_CHUNK = 2_000
#: decoded batches kept (a chunk of a node's items falls in one or two batches of 10,000)
_BATCHES_KEPT = 4
EVENT_COLUMNS = "seq, time_ns, cook_id, graph, kind, subject, payload"


def marks(values) -> str:
    return ",".join("?" * len(values))


def kinds_in(kinds) -> str:
    return ", ".join(repr(k) for k in sorted(kinds))


class Unplaced(Exception):
    """An item gone from the tables whose place in its node's order at a point after a compacted
    log's base cannot be told from the base snapshot's neighbours: fold the whole state instead."""


class Folder:
    """Folds items' own events up to ``seq`` (``fold``, ``details``), caching what chunks share:
    the ``NodeDirtied`` events of a node, the last decoded batches. In a compacted log (``base``,
    at or before ``seq``) an item whose life began at or before the base starts from its state in
    the base snapshot (``pdgstore.baseitems``)."""

    def __init__(self, conn, seq: int, base: int = 0) -> None:
        self.conn, self.seq, self.base = conn, seq, base
        self.base_items = BaseItems(conn, base) if base else None
        self._dirtied: dict[tuple[str, str], list] = {}
        self._batches: OrderedDict[int, Any] = OrderedDict()
        self._places: dict[int, dict[str, int]] = {}  # batch seq -> id -> its place in the batch

    def fold(self, ids, ords: dict[str, int] | None = None, *, jobs: bool = False) -> tuple[State, dict[str, int]]:
        """The items of ``ids`` that existed at ``seq``, as a ``State`` (only them), and each one's
        place in its node's order (the seq of the generation that began its life then). ``ords``:
        the ``ord`` of those whose row's life spans ``seq`` (read from then on). ``jobs``: their
        jobs too (a compacted log's base holds those of its items: a pass of their own)."""
        return self._fold(list(ids), ords or {}, None, jobs)

    def details(self, rows: list[tuple]) -> dict[str, Item]:
        """The items of table rows (``tables.ITEM_COLUMNS`` or ``SUMMARY_COLUMNS``) that no shape
        event followed since ``seq``, as they were then: the row, with the ``DETAIL_FIELDS`` its
        life's events up to ``seq`` gave it."""
        ords = {r[1]: r[0] for r in rows}
        then, _ = self._fold(list(ords), ords, DETAIL_WRITERS, False)
        found = {}
        for row in rows:
            item = tables.item_from_row(row, self.conn, lazy=True)
            folded = then.items[item.item_id]
            for name in DETAIL_FIELDS:
                setattr(item, name, getattr(folded, name))
            found[item.item_id] = item
        return found

    def renamed(self, rows: list[tuple]) -> dict[str, Item]:
        """``details`` of rows whose items only renames followed since ``seq``: the row with the
        name and index of the last event up to ``seq`` that gave them (its generation or a rename:
        ``NAME_WRITERS``), no other event read (deleting one input renumbers every later item)."""
        ords = {r[1]: r[0] for r in rows}
        last: dict[str, tuple] = {}
        kinds = kinds_in(NAME_WRITERS)
        for chunk in chunks(list(ords)):
            sql = f"SELECT {EVENT_COLUMNS} FROM events WHERE subject IN ({marks(chunk)}) AND seq <= ? AND kind IN ({kinds})"
            for row in self.conn.execute(sql, (*chunk, self.seq)):
                if row[0] >= ords[row[5]] and row[0] > last.get(row[5], (-1,))[0]:
                    last[row[5]] = row
        gave: dict[str, Any] = {e.item_id: e for e in codec.from_rows(last.values(), lazy=True)}  # event or item
        if self.base:  # a life from before a compacted log's base: named there, unless renamed since
            gave.update(
                (i, e) for i, e in self._seeded([i for i in ords if i not in gave], ords, False)[0].items.items()
            )
        names = {i: (e.name, e.index) for i, e in gave.items()}
        names.update(self.names_in_batches({i: o for i, o in ords.items() if i not in names}))
        found = {}
        for row in rows:
            item = tables.item_from_row(row, self.conn, lazy=True)
            item.name, item.index = names[item.item_id]
            found[item.item_id] = item
        return found

    def _fold(self, ids: list[str], ords: dict[str, int], kinds, jobs: bool) -> tuple[State, dict[str, int]]:
        conn, seq = self.conn, self.seq
        ords = {i: ords[i] for i in ids if i in ords}
        rows: list = []
        where = "" if kinds is None else f" AND kind IN ({kinds_in(kinds)})"
        with paused_gc():
            for chunk in chunks(sorted(ids)):
                rows += conn.execute(
                    f"SELECT {EVENT_COLUMNS} FROM events WHERE subject IN ({marks(chunk)}) AND seq <= ?{where}",
                    (*chunk, seq),
                ).fetchall()
            rows = [r for r in rows if r[0] >= ords.get(r[5], 0)]  # the events of the life at ``seq``
            own = {r[5] for r in rows if r[4] == "WorkItemGenerated" and r[0] == ords.get(r[5])}
            # lazy: the lists of a partition's or gather's events (an entry per member) stay packed
            # until an answer reads them; a status or a listing never does
            events = [e for e in codec.from_rows(rows, lazy=True) if e.kind in tables.ITEM_KINDS]
            events += self._batched([i for i in ids if i not in ords])
            events += self._batched_at({i: o for i, o in ords.items() if i not in own and o > self.base})
            state, ords_then = self._seeded(ids, ords, jobs)
            if kinds is None:
                nodes = {(e.graph, e.node) for e in events if e.kind == "WorkItemGenerated"}
                for key in nodes | state.node_items.keys():
                    events += self._node_dirtied(key)
            events.sort(key=lambda e: e.seq)
            for e in events:
                if e.kind == "WorkItemGenerated" and e.item_id not in state.items:
                    ords_then[e.item_id] = e.seq
                elif e.kind == "WorkItemOutputAdded" and e.item_id in state.items:  # the fold that reads a list
                    item = state.items[e.item_id]
                    item.outputs = as_list(item.outputs)
                APPLY[e.kind](state, e)
        return state, ords_then

    def _seeded(self, ids: list[str], ords: dict[str, int], jobs: bool) -> tuple[State, dict]:
        """A state holding, of ``ids``, those whose life began at or before a compacted log's base
        as they were there (none in a log never compacted), and their places."""
        state: State = State()
        places: dict = {}
        wanted = [i for i in ids if ords.get(i, 0) <= self.base] if self.base_items is not None else []
        if not wanted:
            return state, places
        assert self.base_items is not None
        found, before = self.base_items.items(sorted(wanted, key=lambda i: ords.get(i, 0)))
        for item_id, item in found.items():
            state.items[item_id] = item
            state.node_items.setdefault((item.graph, item.node), {})[item_id] = None
            places[item_id] = ords[item_id] if item_id in ords else self._place(before[item_id])
        if jobs:
            state.jobs.update(self.base_items.jobs(found))
        return state, places

    def _place(self, before: list[str]) -> float:
        """A place in the tables' order for an item gone from them, after the nearest item before
        it in the base snapshot that they still hold (the snapshot keeps generation order), and
        before the next one (places are whole numbers)."""
        rows = dict(self.conn.execute(f"SELECT item_id, ord FROM items WHERE item_id IN ({marks(before)})", before))
        for back, item_id in enumerate(reversed(before), 1):
            if item_id in rows:
                return rows[item_id] + back / (len(before) + 1)
        if len(before) < BEHIND:  # among the snapshot's first items: before every item it holds
            return (len(before) + 1) / (BEHIND + 1)
        raise Unplaced(before[-1])

    def _node_dirtied(self, key: tuple[str, str]) -> list:
        found = self._dirtied.get(key)
        if found is None:
            sql = f"SELECT {EVENT_COLUMNS} FROM events WHERE subject = ? AND kind = 'NodeDirtied' AND seq <= ?"
            rows = self.conn.execute(sql, (key[1], self.seq)).fetchall()
            found = self._dirtied[key] = [e for e in codec.from_rows(rows) if e.graph == key[0]]
        return found

    def _batch(self, row: tuple):
        event = self._batches.get(row[0])
        if event is None:
            event = self._batches[row[0]] = next(iter(codec.from_rows([row])))
            if len(self._batches) > _BATCHES_KEPT:
                self._batches.popitem(last=False)
        return event

    def _batched(self, ids: list[str]) -> list:
        """The ``WorkItemGenerated`` events of ``ids`` up to ``seq`` that batches stand for: only
        the batches that made them (``itembatch.batches_of``), and of each only those items' events."""
        if not ids:
            return []
        wanted = set(ids)
        return [
            e
            for row in itembatch.batches_of(self.conn, ids, until=self.seq)
            for e in itembatch.expand(self._batch(row), wanted)
        ]

    def _batched_at(self, ords: dict[str, int]) -> list:
        """The ``WorkItemGenerated`` events of items whose life began at ``ords`` in a batch."""
        return [e for event, wanted in self._batches_at(ords) for e in itembatch.expand(event, wanted)]

    def _batches_at(self, ords: dict[str, int]) -> list[tuple]:
        """(batch event, the ids of ``ords`` it generated) for items whose life began at ``ords`` in
        a batch: the log's first row at or after an ``ord`` (one probe of the primary key), and the
        other ``ords`` its range holds (``itembatch``: a batch at seq S of N items stands for seqs
        S - N + 1 .. S), found without another probe."""
        found: dict[int, tuple] = {}
        span: tuple = (1, 0, None)  # (first seq, last seq) of the batch last found, and it
        for item_id, ord_ in sorted(ords.items(), key=lambda pair: pair[1]):
            if not span[0] <= ord_ <= span[1]:
                row = self.conn.execute(
                    f"SELECT {EVENT_COLUMNS} FROM events WHERE seq >= ? ORDER BY seq LIMIT 1", (ord_,)
                )
                row = row.fetchone()
                if row is None or row[0] > self.seq or row[4] != itembatch.KIND:
                    continue
                event = self._batch(row)
                span = (itembatch.first_seq(event), row[0], event)
                if ord_ < span[0]:
                    continue
            found.setdefault(span[1], (span[2], set()))[1].add(item_id)
        return list(found.values())

    def names_in_batches(self, ords: dict[str, int]) -> dict[str, tuple[str, int]]:
        """id -> (name, index) its batch gave, of the items whose life began at ``ords`` in one."""
        out: dict[str, tuple[str, int]] = {}
        for event, wanted in self._batches_at(ords):
            place = self._places.get(event.seq)
            if place is None:
                place = self._places[event.seq] = {i: n for n, i in enumerate(event.ids)}
                while len(self._places) > _BATCHES_KEPT:
                    del self._places[next(iter(self._places))]
            out.update((i, (event.names[place[i]], event.indexes[place[i]])) for i in wanted)
        return out


def kinds_since(conn, ids: list[str], seq: int) -> dict[str, set[str]]:
    """id -> the kinds of the events after ``seq`` about it, of those of ``ids`` any is about."""
    found: dict[str, set[str]] = {}
    for chunk in chunks(ids):
        sql = f"SELECT DISTINCT subject, kind FROM events WHERE subject IN ({marks(chunk)}) AND seq > ?"
        for subject, kind in conn.execute(sql, (*chunk, seq)):
            found.setdefault(subject, set()).add(kind)
    return found


def changed_since(conn, ids: list[str], seq: int, kinds: frozenset[str] | None = None) -> set[str]:
    """Those of ``ids`` that an event after ``seq`` (of ``kinds``, when given) is about: through
    the subject index, a probe per id."""
    found: set[str] = set()
    where = "" if kinds is None else f" AND kind IN ({kinds_in(kinds)})"
    for chunk in chunks(ids):
        sql = f"SELECT DISTINCT subject FROM events WHERE subject IN ({marks(chunk)}) AND seq > ?{where}"
        found.update(r[0] for r in conn.execute(sql, (*chunk, seq)))
    return found
