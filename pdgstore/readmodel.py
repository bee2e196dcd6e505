"""The current state as read commands see it: questions answered from the projection tables
(``pdgstore.tables``) through their indexes, so an answer costs what it returns.

``TableState`` offers the read side of ``State`` (the same method names, which ``State`` also
implements in memory for a replayed state): graphs, cooks, one item by id, items by name or id
prefix, a node's items (by state), per-node counts, an item's job and children. It decodes only
the rows a question returns; nothing here reads every item. An item's long lists (a partition's
parents, a gather's inputs: ``pdgstore.itemlists``) come as ``Stored`` sequences, read from the
table only when iterated or sliced, inside the caller's read.
"""

from __future__ import annotations

import heapq
import sqlite3
from collections.abc import Iterable, Iterator, Sequence
from typing import Any

from pdgstore import itemlists, itemorder, tables
from pdgstore.cookstate import FILE_ATTR
from pdgstore.damage import DECODE_ERRORS, damaged
from pdgstore.inserts import chunks
from pdgstore.state import CookRecord, GraphInfo, Item, State, holds_files

#: the largest code point: ``prefix + HIGH`` bounds every string that starts with ``prefix``
HIGH = "\U0010ffff"


class TableState:
    """The store's current state, read lazily from its tables (an open ``EventLog``'s connection).
    Answers that must agree with each other are read inside one read transaction, which the caller
    holds (``EventLog.one_reading``, the data layer's ``reading``)."""

    def __init__(self, log) -> None:
        self.log = log
        self.conn = log.conn
        self.seq = log.last_seq()
        self._graphs: dict[str, GraphInfo] | None = None
        self._cooks: dict[int, CookRecord] | None = None
        self._registry: dict | None = None

    # -- small things, read whole ----------------------------------------------------------------
    @property
    def graphs(self) -> dict[str, GraphInfo]:
        if self._graphs is None:
            rows = self.conn.execute("SELECT name, body FROM graphs ORDER BY rowid").fetchall()
            self._graphs = {name: tables.graph_from_body(body) for name, body in rows}
        return self._graphs

    @property
    def cooks(self) -> dict[int, CookRecord]:
        """Every cook record, by id in order (one row per cook, never per item)."""
        if self._cooks is None:
            rows = self.conn.execute("SELECT cook_id, body FROM cooks ORDER BY cook_id").fetchall()
            self._cooks = {cook_id: tables.cook_from_body(body) for cook_id, body in rows}
        return self._cooks

    def _registry_part(self, key: str) -> dict:
        if self._registry is None:
            rows = self.conn.execute("SELECT key, body FROM registry").fetchall()
            self._registry = {k: tables.unpack(body) for k, body in rows}
        return self._registry.get(key, {})

    @property
    def transfers(self) -> dict:
        return self._registry_part("transfers")

    @property
    def watches(self) -> dict:
        return self._registry_part("watches")

    @property
    def schedules(self) -> dict:
        return self._registry_part("schedules")

    def running_cook(self) -> CookRecord | None:
        """The cook that started and has not ended, if any (only the last cook can be)."""
        row = self.conn.execute("SELECT body FROM cooks ORDER BY cook_id DESC LIMIT 1").fetchone()
        if row is None:
            return None
        cook = tables.cook_from_body(row[0])
        return cook if cook.status == "running" else None

    def last_cook_id(self) -> int:
        return self.conn.execute("SELECT max(cook_id) FROM cooks").fetchone()[0] or 0

    # -- items, by index ---------------------------------------------------------------------------
    def _items(self, where: str, args: Iterable = (), *, summary: bool = False) -> list[Item]:
        columns = tables.SUMMARY_COLUMNS if summary else tables.ITEM_COLUMNS
        sql = f"SELECT {columns} FROM items WHERE {where}"
        return [tables.item_from_row(r, self.conn, lazy=True) for r in self.conn.execute(sql, tuple(args))]

    def item(self, item_id: str, *, summary: bool = False) -> Item | None:
        found = self._items("item_id = ?", (item_id,), summary=summary)
        return found[0] if found else None

    def item_sizes(self, item_id: str) -> tuple[int, int]:
        """(number of parents, number of inputs) of an item, without reading either list."""
        row = self.conn.execute("SELECT body FROM items WHERE item_id = ?", (item_id,)).fetchone()
        return tuple(tables.unpack(row[0])[-2:]) if row else (0, 0)

    def items_many(self, ids: Iterable[str]) -> dict[str, Item]:
        """The items of ``ids`` that exist, by id."""
        return {r[1]: tables.item_from_row(r, self.conn, lazy=True) for r in tables.load_items(self.conn, ids)}

    def labels(self, ids: Iterable[str]) -> Iterator[tuple[str, str, str]]:
        """(item id, node, name) of those of ``ids`` that exist, in no set order: what a summary
        of many items names them by, without decoding any of them. Ids a quarter of the items or
        more are found in one pass over the table's rows, fewer by id, a chunk at a time (a cook's
        200,002 items of W(100,000): 0.3 s against 1.2 s)."""
        wanted = ids if isinstance(ids, set | frozenset | dict) else set(ids)
        if len(wanted) * 4 >= self._last_ord():
            for row in self.conn.execute("SELECT item_id, node, name FROM items"):
                if row[0] in wanted:
                    yield row
            return
        for chunk in chunks(list(wanted)):
            marks = ",".join("?" * len(chunk))
            yield from self.conn.execute(f"SELECT item_id, node, name FROM items WHERE item_id IN ({marks})", chunk)

    def _last_ord(self) -> int:
        """The highest row number of the items table: at least how many items there are."""
        return self.conn.execute("SELECT coalesce(max(ord), 0) FROM items").fetchone()[0]

    def iter_items(self, cook_id: int | None = None) -> Iterator[Item]:
        """Every item (or those ``cook_id`` last changed) in generation order, streamed from the
        table: memory holds one item at a time (``pdg export --what items``), its long lists left in
        the store until read (a partition's parents and inputs, which an export never writes)."""
        sql = f"SELECT {tables.ITEM_COLUMNS} FROM items"
        args: tuple = ()
        if cook_id is not None:
            sql, args = sql + " WHERE cook_id = ?", (cook_id,)
        for row in self.conn.execute(sql + " ORDER BY ord", args):
            yield tables.item_from_row(row, self.conn, lazy=True)

    def items_named(self, name: str, limit: int = 2, *, summary: bool = False) -> list[Item]:
        return self._items("name = ? LIMIT ?", (name, limit), summary=summary)

    def items_with_prefix(self, prefix: str, limit: int = 2, *, summary: bool = False) -> list[Item]:
        return self._items("item_id >= ? AND item_id < ? LIMIT ?", (prefix, prefix + HIGH, limit), summary=summary)

    def node_keys(self) -> list[tuple[str, str]]:
        """(graph, node) of every node that ever had an item, in the order of its first one."""
        return [tuple(r) for r in self.conn.execute("SELECT graph, node FROM nodes ORDER BY ord")]

    def node_counts(self, graph: str, node: str) -> dict[str, int]:
        rows = self.conn.execute(
            "SELECT state, count FROM node_states WHERE graph = ? AND node = ?", (graph, node)
        ).fetchall()
        return dict(rows)

    def items_of(self, graph: str, node: str, state: str | None = None, *, summary: bool = False) -> list[Item]:
        """The node's items (in ``state``) in generation order; ``summary``: without their parents,
        attributes, inputs, traceback and reason (a listing needs none, and a partition's parents
        or a gather's inputs can be a million entries)."""
        return list(self.iter_items_of(graph, node, state, summary=summary))

    def iter_items_of(
        self, graph: str, node: str, state: str | None = None, *, summary: bool = False
    ) -> Iterator[Item]:
        """``items_of``, decoded one row at a time as the caller goes (``pdg items --json`` of a
        node of a million items writes each as it comes)."""
        for r in self._node_rows(graph, node, state, summary):
            yield tables.item_from_row(r, self.conn, lazy=True)

    def _node_rows(self, graph: str, node: str, state: str | None, summary: bool) -> Iterator[Any]:
        """The rows of the node's items (in ``state``), in generation order, as SQLite reads them."""
        columns = tables.SUMMARY_COLUMNS if summary else tables.ITEM_COLUMNS
        sql = f"SELECT {columns} FROM items WHERE graph = ? AND node = ?"
        args: tuple = (graph, node)
        if state is not None:
            sql, args = sql + " AND state = ?", (*args, state)
        return self.conn.execute(sql + " ORDER BY ord", args)

    def iter_items_in_order(
        self, graph: str, node: str, state: str | None = None, *, summary: bool = False
    ) -> Iterator[Item]:
        """``iter_items_of`` in work item order (``pdgstore.itemorder``), as ``pdg items`` lists a
        node, a row at a time: the node's rows as the index ``items_place`` orders them, filtered
        to ``state`` when it holds half the node or more; a rarer state's rows through
        ``items_node``, then sorted (those rows alone: what the answer returns)."""
        for r in self._place_rows(graph, node, state, summary):
            yield tables.item_from_row(r, self.conn, lazy=True)

    def _place_rows(self, graph: str, node: str, state: str | None, summary: bool) -> Iterator[Any]:
        """The rows of the node's items (in ``state``) in work item order, as SQLite reads them: what
        ``iter_items_in_order`` decodes, and an overlay merges with its own items (``merged_in_order``)."""
        columns = tables.SUMMARY_COLUMNS if summary else tables.ITEM_COLUMNS
        # the node by its key alone: with graph = ? beside it, SQLite would put the value in the key's
        # expression, which then no longer matches the index's
        args: tuple = (f"{graph}/{node}",)
        index, where = "items_place", f"{itemorder.NODE_KEY} = ?"
        if state is not None:
            counts = self.node_counts(graph, node)
            if counts.get(state, 0) * 2 < sum(counts.values()):
                args, index, where = (graph, node), "items_node", "graph = ? AND node = ?"
            args, where = (*args, state), where + " AND state = ?"
        sql = f"SELECT {columns} FROM items INDEXED BY {index} WHERE {where} ORDER BY {itemorder.ORDER_BY}"
        return self.conn.execute(sql, args)

    def iter_files_of(self, graph: str, node: str) -> Iterator[tuple[str, Sequence, Sequence, bool]]:
        """(item id, outputs, inputs, whether it has parents) of the node's items, in generation
        order, one row at a time: what a watcher keeps of them (``files_from_row``)."""
        for row in self.iter_watched_of(graph, node):
            yield row[:4]

    def iter_watched_of(self, graph: str, node: str) -> Iterator[tuple[str, Sequence, Sequence, bool, dict | None]]:
        """``iter_files_of``'s rows, each with the item's attributes when they hold a file attribute
        (None else): what a watcher keeps, file attributes' files included. Only a detail holding the
        bytes such an attribute's packed type begins with (``cookstate.FILE_ATTR``) is decoded for
        them: a graph without file attributes decodes none."""
        sql = "SELECT item_id, body, detail FROM items WHERE graph = ? AND node = ? ORDER BY ord"
        mark = FILE_ATTR[0][1:]  # what both begin with after the array's length: one search a row
        for row in self.conn.execute(sql, (graph, node)):
            item_id, outputs, inputs, has_parents = files_from_row(row, self.conn)
            detail, attrs = row[2], None
            if mark in detail:
                try:
                    attrs = tables.unpack(detail)[1]
                except DECODE_ERRORS as exc:
                    raise damaged(item_id, exc) from None
                attrs = attrs if holds_files(attrs) else None
            yield item_id, outputs, inputs, has_parents, attrs

    def item_ids_of(self, graph: str, node: str) -> list[str]:
        sql = "SELECT item_id FROM items WHERE graph = ? AND node = ? ORDER BY ord"
        return [r[0] for r in self.conn.execute(sql, (graph, node))]

    def job(self, item_id: str) -> list | None:
        row = self.conn.execute("SELECT body FROM jobs WHERE item_id = ?", (item_id,)).fetchone()
        return tables.unpack(row[0]) if row else None

    def children(self, item_id: str) -> list[str]:
        """The items that name ``item_id`` among their parents."""
        return [r[0] for r in self.conn.execute("SELECT child FROM links WHERE parent = ?", (item_id,))]


#: what the read-side queries accept: the in-memory fold, or the store's tables behind the same methods
ReadState = State | TableState


def iter_in_work_item_order(
    state: ReadState, graph: str, node: str, state_filter: str | None = None, *, summary: bool = False
) -> Iterator[Item]:
    """The node's items (in ``state_filter``) in work item order (``pdgstore.itemorder``): the
    store's tables through their index, streamed (``timetravel.StateAt``, the tables under the
    items changed since a point, merges its own in: ``merged_in_order``); a state held in memory
    sorted from its generation order (stable: ties keep it)."""
    if isinstance(state, TableState):
        yield from state.iter_items_in_order(graph, node, state_filter, summary=summary)
        return
    items = state.iter_items_of(graph, node, state_filter, summary=summary)
    yield from sorted(items, key=lambda item: itemorder.place(node, item.name))


def merged_in_order(
    conn: sqlite3.Connection, node: str, rows: Iterable[tuple], items: Iterable[Item], ords: dict[str, int]
) -> Iterator[Item]:
    """An overlay's node in work item order, streamed: ``rows``, the tables' rows in that order
    (``TableState._place_rows``, less those the overlay replaces), merged with the overlay's own
    ``items`` (``ords``: their rows' order, the tie-break the index's rowid gives), sorted alone."""
    now: Iterator[tuple[tuple[int, int], tuple | Item]] = (((itemorder.place(node, r[4]), r[0]), r) for r in rows)
    then = sorted(((itemorder.place(node, i.name), ords[i.item_id]), i) for i in items)
    for _, x in heapq.merge(now, then, key=lambda pair: pair[0]):
        yield tables.item_from_row(x, conn, lazy=True) if isinstance(x, tuple) else x


def files_from_row(row: tuple, conn: sqlite3.Connection) -> tuple[str, Sequence, Sequence, bool]:
    """(item id, outputs, inputs, whether it has parents) from a row (item_id, body, detail): the
    file records of an item without the rest of it. An item's inputs are decoded only when it has
    no parents (a child's inputs are its parents' outputs: a watcher keeps them once); long lists
    stay in ``lists`` until iterated (``itemlists.Stored``)."""
    item_id, body, detail = row
    try:
        outputs, n_parents, n_inputs = (values := tables.unpack(body))[1], values[6], values[7]
        outputs = itemlists.restored(conn, item_id, "outputs", outputs, lazy=True)
        inputs: Sequence = ()
        if not n_parents and n_inputs:
            inputs = itemlists.restored(conn, item_id, "inputs", tables.unpack(detail)[2], lazy=True)
    except DECODE_ERRORS as exc:
        raise damaged(item_id, exc) from None
    return item_id, outputs, inputs, bool(n_parents)
