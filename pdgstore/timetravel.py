"""The state at an earlier point of the log (``--at REF``, ``pdg history COOK``), without loading
the world: the current tables, with what changed since that point folded again up to it, lazily.

Why this works: an item's row changes only through events about it (their subject is the item),
the batch that generated it, or a ``NodeDirtied`` of its node. So an item that no event after seq
S is about holds in the tables exactly what it held at S. Of the others, only those a *shape* event
after S is about (``pastitems.SHAPE_KINDS``: generated, removed, another state, a job) can differ
at S in graph, node, state, existence or order; they are found by one scan of the events after S
(in SQLite, by kind) and folded at once, a chunk at a time, keeping only (graph, node, state,
order, name) of each: what per-node counts and listings need. An item that only *detail* events
after S are about (restatted, renumbered, an attribute or output added: a ``touch`` of every
input, a deleted input renumbering every later item) is in its row's node and state at S too, and
is folded, from its own events up to S, only when an answer reads it (found through the subject
index). So ``status --at`` costs the shape changes since S; ``show --at`` one item; a listing its
items. Graphs, cooks and the registry at S are the fold of the events that change no item, read
through the partial index ``events_global``.

A name can change after S (renumbering): ``items_named`` finds the item named so at S among the
items renamed since by the name their events up to S gave them (``_renamed_to``).

A compacted log (``pdg compact``) no longer holds the first events of the items it folded into its
base snapshot: an item whose life began by the base starts from its state there, read from the
snapshot in forward passes that keep only the items asked for (``pdgstore.baseitems``). Only when
an item gone from the tables since cannot be placed in its node's order from its neighbours in the
snapshot is the state the snapshot plus the events up to S (``EventLog.state_at``), whole.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Iterator
from heapq import merge
from itertools import islice

import msgpack

from pdgstore import codec, itembatch, itemorder, tables
from pdgstore.inserts import chunks
from pdgstore.itemlists import as_list
from pdgstore.pastitems import (
    EVENT_COLUMNS,
    FOLD_CHUNK,
    RENAME_KINDS,
    SHAPE_KINDS,
    Folder,
    Unplaced,
    changed_since,
    kinds_in,
    kinds_since,
    marks,
)
from pdgstore.projection import APPLY
from pdgstore.readmodel import HIGH, TableState
from pdgstore.state import Item, State, paused_gc

#: items folded on demand kept for the next question about them
_KEPT = 10_000


def state_at_seq(log, seq: int):
    """The state right after event ``seq``, with the read methods of ``State``."""
    if seq >= log.last_seq():
        return TableState(log)
    if seq < log.base_seq():
        return log.state_at(seq)  # refused: that history was folded away
    try:
        return StateAt(log, seq)
    except Unplaced:
        return log.state_at(seq)


class StateAt(TableState):
    """The tables as they were after event ``seq``: an overlay of the items changed since."""

    def __init__(self, log, seq: int) -> None:
        super().__init__(log)
        self.seq = seq
        self.folder = Folder(self.conn, seq, log.base_seq())
        self._kept: dict[str, Item | None] = {}
        self._moves: dict[tuple[str, str], Counter] | None = None
        with log.read_errors(), paused_gc():
            #: the items a shape event after ``seq`` is about
            self.moved = moved = self._moved()
            #: item id -> (graph, node, state) in the tables now, of the moved items that exist now
            self.now: dict[str, tuple] = {}
            #: item id -> ord, of the moved items whose life now began by ``seq`` (it spans ``seq``)
            self.life: dict[str, int] = {}
            for chunk in chunks(sorted(moved)):
                sql = f"SELECT item_id, graph, node, state, ord FROM items WHERE item_id IN ({marks(chunk)})"
                for item_id, graph, node, state, ord_ in self.conn.execute(sql, chunk):
                    self.now[item_id] = (graph, node, state)
                    if ord_ <= seq:
                        self.life[item_id] = ord_
            #: item id -> (graph, node, state, ord, name) at ``seq``, of the moved items that existed then
            self.shape: dict[str, tuple] = {}
            # in generation order: a chunk's items share the batches that made them
            ordered = sorted(moved, key=lambda i: (self.life.get(i, seq + 1), i))
            for chunk in chunks(ordered, FOLD_CHUNK):
                then, ords = self.folder.fold(chunk, self.life)
                for i in then.items.values():
                    self.shape[i.item_id] = (i.graph, i.node, i.state, ords[i.item_id], i.name)
            self.glob = self._fold_global()

    def _moved(self) -> set[str]:
        conn, seq = self.conn, self.seq
        ids: set[str] = set()
        dirtied: set[tuple[str, str]] = set()
        sql = (
            "SELECT kind, subject, graph, CASE WHEN kind = ? THEN payload END FROM events "
            f"WHERE seq > ? AND kind IN ({kinds_in(SHAPE_KINDS)})"
        )
        for kind, subject, graph, batch in conn.execute(sql, (itembatch.KIND, seq)):
            if batch is not None:  # a batch of new items (``pdgstore.itembatch``)
                ids.update(itembatch.ids_of(batch))
            elif kind == "NodeDirtied":
                dirtied.add((graph, subject))
            else:
                ids.add(subject)
        for graph, node in dirtied:
            ids.update(
                r[0] for r in conn.execute("SELECT item_id FROM items WHERE graph = ? AND node = ?", (graph, node))
            )
        return ids

    def _fold_global(self) -> State:
        kinds = ", ".join(repr(k) for k in tables.GLOBAL_KINDS)
        rows = self.conn.execute(
            f"SELECT {EVENT_COLUMNS} FROM events WHERE kind IN ({kinds}) AND seq <= ? ORDER BY seq", (self.seq,)
        )
        base = self.folder.base_items
        state = State() if base is None else base.without_items()  # a compacted log's start
        for e in codec.from_rows(rows):
            APPLY[e.kind](state, e)
        return state

    # -- items folded on demand ------------------------------------------------------------------
    def _folded(self, ids: Iterable[str]) -> dict[str, Item]:
        """The moved items of ``ids`` that existed at ``seq``, each folded from its own events
        (kept for the next question, up to ``_KEPT`` of them)."""
        ids = list(dict.fromkeys(ids))
        found: dict[str, Item | None] = {i: self._kept[i] for i in ids if i in self._kept}
        for chunk in chunks([i for i in ids if i not in self._kept], FOLD_CHUNK):
            then = self.folder.fold(chunk, self.life)[0].items
            if len(self._kept) + len(chunk) > _KEPT:
                self._kept.clear()
            for item_id in chunk:
                found[item_id] = self._kept[item_id] = then.get(item_id)
        return {i: item for i in ids if (item := found[i]) is not None}

    def _at(self, rows: list[tuple]) -> list[Item]:
        """The items of table rows (not moved) as they were at ``seq``: a row no event since is
        about as it is; another with the detail fields its events up to ``seq`` gave it."""
        changed = kinds_since(self.conn, [r[1] for r in rows], self.seq)
        folded = {}
        if changed:
            renamed = [r for r in rows if r[1] in changed and changed[r[1]] <= RENAME_KINDS]
            folded = self.folder.details([r for r in rows if r[1] in changed and not changed[r[1]] <= RENAME_KINDS])
            folded.update(self.folder.renamed(renamed) if renamed else {})
        return [folded[r[1]] if r[1] in changed else tables.item_from_row(r, self.conn, lazy=True) for r in rows]

    def _detailed(self, ids) -> dict[str, Item]:
        """The items of ``ids`` (not moved, so the same ones now), as they were at ``seq``."""
        return {i.item_id: i for i in self._at(tables.load_items(self.conn, ids))}

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
        if item_id in self.moved:
            return self._folded([item_id]).get(item_id) if item_id in self.shape else None
        if changed_since(self.conn, [item_id], self.seq):
            return self._detailed([item_id]).get(item_id)
        return super().item(item_id, summary=summary)

    def item_sizes(self, item_id: str) -> tuple[int, int]:
        if item_id in self.moved:  # parents and inputs change only by a (shape) generation
            item = self.item(item_id)
            return (len(item.parents), len(item.inputs)) if item else (0, 0)
        return super().item_sizes(item_id)

    def items_many(self, ids) -> dict[str, Item]:
        ids = list(ids)
        rows = tables.load_items(self.conn, [i for i in ids if i not in self.moved])
        found = {i.item_id: i for i in self._at(rows)}
        found.update(self._folded(i for i in ids if i in self.shape))
        return found

    def labels(self, ids) -> Iterator[tuple[str, str, str]]:
        ids = list(ids)
        wanted = [i for i in ids if i not in self.moved]
        renamed = changed_since(self.conn, wanted, self.seq, RENAME_KINDS) if wanted else set()
        yield from super().labels([i for i in wanted if i not in renamed])
        for item in self._detailed(renamed).values():
            yield item.item_id, item.node, item.name
        for item_id in ids:
            shape = self.shape.get(item_id)
            if shape is not None:
                yield item_id, shape[1], shape[4]

    def items_named(self, name: str, limit: int = 2, *, summary: bool = False) -> list[Item]:
        then = [i for i, shape in self.shape.items() if shape[4] == name]
        rows = self._rows("name = ?", (name,), summary)
        now = [i for i in self._at(rows) if i.name == name]  # renamed since: named otherwise then
        renamed = [i for i in self._detailed(self._renamed_to(name)).values() if i.name == name]
        found = [*self._folded(then).values(), *now, *renamed]
        found.sort(key=lambda i: self._ord(i.item_id))
        return list({i.item_id: i for i in found}.values())[:limit]

    def _rows(self, where: str, args: tuple, summary: bool) -> list[tuple]:
        columns = tables.SUMMARY_COLUMNS if summary else tables.ITEM_COLUMNS
        rows = self.conn.execute(f"SELECT {columns} FROM items WHERE {where}", args).fetchall()
        return [r for r in rows if r[1] not in self.moved]

    def _ord(self, item_id: str) -> int:
        shape = self.shape.get(item_id)
        if shape is not None:
            return shape[3]
        row = self.conn.execute("SELECT ord FROM items WHERE item_id = ?", (item_id,)).fetchone()
        return row[0] if row else 0

    def _renamed_to(self, name: str) -> set[str]:
        """The items (not moved) that a rename after ``seq`` is about and that an event up to it
        may have named ``name``: their own events (generated, renumbered) or the batch that made
        them hold the name's bytes. One statement: SQLite finds the renamed items, reads their
        events up to ``seq`` through the subject index and matches the bytes (``instr``), no
        payload decoded; the few batches holding the bytes are decoded. The caller folds what
        this finds and keeps those named so then."""
        pack = msgpack.Packer(use_bin_type=True).pack
        renames = kinds_in(RENAME_KINDS)
        sql = (
            f"SELECT DISTINCT subject FROM events WHERE subject IN "
            f"(SELECT subject FROM events WHERE seq > ? AND kind IN ({renames})) "
            f"AND seq <= ? AND kind IN ({kinds_in({'WorkItemGenerated', *RENAME_KINDS})}) AND instr(payload, ?) > 0"
        )
        found = {r[0] for r in self.conn.execute(sql, (self.seq, self.seq, pack("name") + pack(name)))}
        sql = (
            f"SELECT {EVENT_COLUMNS} FROM events WHERE subject IN (SELECT node FROM nodes) AND kind = ? AND seq <= ? "
            "AND instr(payload, ?) > 0"
        )
        named: list[str] = []
        for event in codec.from_rows(self.conn.execute(sql, (itembatch.KIND, self.seq, pack(name)))):
            named += [i for i, n in zip(event.ids, event.names, strict=True) if n == name]
        found.update(changed_since(self.conn, named, self.seq, RENAME_KINDS))
        base = self.folder.base_items
        if base is not None:  # a name given before a compacted log's base is in its snapshot
            found |= base.named(self._renamed_since(), name)
        return found - self.moved

    def _renamed_since(self) -> set[str]:
        """The items (not moved) that a rename after ``seq`` is about."""
        sql = f"SELECT DISTINCT subject FROM events WHERE seq > ? AND kind IN ({kinds_in(RENAME_KINDS)})"
        return {r[0] for r in self.conn.execute(sql, (self.seq,))} - self.moved

    def items_with_prefix(self, prefix: str, limit: int = 2, *, summary: bool = False) -> list[Item]:
        then = [i for i in self.shape if prefix <= i < prefix + HIGH]
        rows = self._rows("item_id >= ? AND item_id < ? LIMIT ?", (prefix, prefix + HIGH, limit), summary)
        found = [*self._folded(sorted(then)[:limit]).values(), *self._at(rows)]
        return sorted(found, key=lambda i: i.item_id)[:limit]

    def node_keys(self) -> list[tuple[str, str]]:
        rows = self.conn.execute("SELECT graph, node FROM nodes WHERE ord <= ? ORDER BY ord", (self.seq,))
        return [tuple(r) for r in rows]

    def node_counts(self, graph: str, node: str) -> dict[str, int]:
        if self._moves is None:  # (graph, node) -> per state, the moved items' count then less now
            self._moves = {}
            for g, n, s in self.now.values():
                self._moves.setdefault((g, n), Counter())[s] -= 1
            for g, n, s, _o, _n in self.shape.values():
                self._moves.setdefault((g, n), Counter())[s] += 1
        counts = Counter(super().node_counts(graph, node))
        counts.update(self._moves.get((graph, node), {}))
        return {s: c for s, c in counts.items() if c > 0}

    def _moved_of(self, graph: str, node: str, state: str | None) -> list[tuple[int, str]]:
        """(order, id) of the moved items of the node (in ``state``) at ``seq``, in order."""
        return sorted(
            (o, i) for i, (g, n, s, o, _) in self.shape.items() if (g, n) == (graph, node) and state in (None, s)
        )

    def iter_items_of(
        self, graph: str, node: str, state: str | None = None, *, summary: bool = False
    ) -> Iterator[Item]:
        def now() -> Iterator[tuple[int, Item]]:
            rows = iter(self._node_rows(graph, node, state, summary))
            while got := list(islice(rows, FOLD_CHUNK)):
                kept = [r for r in got if r[1] not in self.moved]
                for row, item in zip(kept, self._at(kept), strict=True):
                    yield row[0], item

        def then() -> Iterator[tuple[int, Item]]:
            moved = self._moved_of(graph, node, state)
            for chunk in chunks(moved, FOLD_CHUNK):
                folded = self._folded(i for _, i in chunk)
                yield from ((o, folded[i]) for o, i in chunk)

        for _, item in merge(now(), then(), key=lambda pair: pair[0]):
            yield item

    def iter_items_in_order(
        self, graph: str, node: str, state: str | None = None, *, summary: bool = False
    ) -> Iterator[Item]:
        """``iter_items_of`` in work item order (``pdgstore.itemorder``), streamed: the tables' rows
        in that order (``_place_rows``), each as it was at ``seq`` a chunk at a time, merged with
        the items whose place may differ then, sorted alone: the moved ones and those renamed
        since (a renumbering gives every later item another place). When those are half the node
        or more (a renumbering of it), the node is sorted whole, as a replayed state is."""
        conn = self.conn
        renamed = self._renamed_since()
        sql = "SELECT ord, item_id FROM items WHERE graph = ? AND node = ?" + (" AND state = ?" if state else "")
        held = [r for r in conn.execute(sql, (graph, node, *([state] if state else []))) if r[1] in renamed]
        moved = self._moved_of(graph, node, state)
        if (len(held) + len(moved)) * 2 >= sum(self.node_counts(graph, node).values()):
            items = self.iter_items_of(graph, node, state, summary=summary)
            yield from sorted(items, key=lambda item: itemorder.place(node, item.name))
            return
        aside = self.moved | renamed

        def now() -> Iterator[tuple[tuple, Item]]:
            rows = iter(self._place_rows(graph, node, state, summary))
            while got := list(islice(rows, FOLD_CHUNK)):
                kept = [r for r in got if r[1] not in aside]
                for row, item in zip(kept, self._at(kept), strict=True):
                    yield (itemorder.place(node, item.name), row[0]), item

        def then() -> list[tuple[tuple, Item]]:
            folded = self._folded(i for _, i in moved).values()
            out = [((itemorder.place(node, i.name), self.shape[i.item_id][3]), i) for i in folded]
            columns = tables.SUMMARY_COLUMNS if summary else tables.ITEM_COLUMNS
            for chunk in chunks([i for _, i in held]):
                rows = conn.execute(f"SELECT {columns} FROM items WHERE item_id IN ({marks(chunk)})", chunk).fetchall()
                out += [((itemorder.place(node, i.name), r[0]), i) for r, i in zip(rows, self._at(rows), strict=True)]
            return sorted(out, key=lambda pair: pair[0])

        for _, item in merge(now(), then(), key=lambda pair: pair[0]):
            yield item

    def item_ids_of(self, graph: str, node: str) -> list[str]:
        sql = "SELECT ord, item_id FROM items WHERE graph = ? AND node = ? ORDER BY ord"
        now = ((o, i) for o, i in self.conn.execute(sql, (graph, node)) if i not in self.moved)
        return [i for _, i in merge(now, self._moved_of(graph, node, None))]

    def job(self, item_id: str) -> list | None:
        if item_id in self.moved:  # only shape events (a job started or ended, removed) change a job
            return self.folder.fold([item_id], self.life, jobs=True)[0].jobs.get(item_id)
        return super().job(item_id)

    def children(self, item_id: str) -> list[str]:
        """Parents change only by a (shape) generation: the links now of the items not moved, and
        the moved items whose parents at ``seq`` name ``item_id``."""
        now = [c for c in super().children(item_id) if c not in self.moved]
        return now + [c for c, i in self._folded(list(self.shape)).items() if item_id in as_list(i.parents)]

    def materialise(self) -> State:
        """The whole state at ``seq`` as a ``State`` (tests compare it with a replay)."""
        state = tables.read_state(self.conn, self.seq)
        subjects = {r[0] for r in self.conn.execute("SELECT DISTINCT subject FROM events WHERE seq > ?", (self.seq,))}
        changed = (subjects & state.items.keys()) | self.moved
        for item_id in changed:
            item = state.items.pop(item_id, None)
            if item is not None:
                del state.node_items[(item.graph, item.node)][item_id]
            state.jobs.pop(item_id, None)
        order = dict(self.conn.execute("SELECT item_id, ord FROM items"))
        then, ords = self.folder.fold(sorted(changed), {i: o for i, o in order.items() if o <= self.seq}, jobs=True)
        for item in then.items.values():
            item.parents, item.inputs, item.outputs = (as_list(v) for v in (item.parents, item.inputs, item.outputs))
        state.items.update(then.items)
        state.jobs.update(then.jobs)
        state.graphs, state.cooks = self.glob.graphs, self.glob.cooks
        state.transfers, state.watches, state.schedules = self.glob.transfers, self.glob.watches, self.glob.schedules
        order.update(ords)
        state.node_items = {key: {} for key in self.node_keys()}
        for item in sorted(state.items.values(), key=lambda i: order.get(i.item_id, 0)):
            state.node_items.setdefault((item.graph, item.node), {})[item.item_id] = None
        return state
