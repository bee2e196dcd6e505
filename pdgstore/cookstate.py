"""A cook's state, read from the projection tables as its walk reaches it, not the whole store.

Why: a recook after one change decides a handful of items, yet reading every item of the tables
into a ``State`` up front cost it about a third of its time, and grows with the store (a million
items is seconds and gigabytes before the first decision). ``CookState`` is a ``State`` whose
``items`` and ``node_items`` fill themselves from the tables on first use:

- ``items[id]``, ``items.get(id)``, ``id in items``: that item's row, read by its id (a missing id is
  read once); once ``MAX_MISSES`` ids of one node, and a sixteenth of it, were read one by one the
  rest of that node is read at once, so a walk that goes over a node pays one scan of it, not a
  query per item (and not a read of the other nodes' items);
- ``node_items[(graph, node)]``: that node's ids in generation order (the ``items_node`` index);
- ``items_of(graph, node)``: that node's items, the missing ones read in one query;
- anything that goes over every item (``values()``, ``len``, a snapshot) reads the rest first and
  puts the items in the order a fold gives them (the tables' ``ord``, then those new in memory).

It holds because the cook is the store's only writer: an item it has not read yet is one it has
not changed, so its row is still what it was when the cook began, whatever the log appender has
written since (it writes only the cook's own events). The fold (``pdgstore.projection``) changes
it like any ``State``; replay and ``pdg check`` compare the same items.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterable, Iterator, Mapping
from types import MappingProxyType
from typing import NamedTuple

import msgpack

from pdgstore import fileindex, itemlists, tables
from pdgstore.events import DONE_STATES, PATH, STATES, TAG
from pdgstore.lazyitems import MAX_MISSES, LazyItems, StoreReader
from pdgstore.lazyjobs import LazyJobs
from pdgstore.state import UNFINISHED_STATES, Item, State, holds_files

#: the states an item in which is not done: what ``unsettled_ids`` looks for
NOT_DONE = tuple(s for s in STATES if s not in DONE_STATES)

_UNREAD = object()
#: how an attribute of type file begins packed in a row's detail: its array (of two, or three with
#: flags), then "file" (other bytes may match too, an input's path that ends in them: a decode more)
FILE_ATTR = (b"\x92\xa4file", b"\x93\xa4file")


class LazyNodeItems(dict):
    """(graph, node) -> {item id: None} in generation order, each node's ids read on first use."""

    def __init__(self, reader: StoreReader, keys: Iterable[tuple[str, str]]) -> None:
        super().__init__()
        self._reader = reader
        #: (graph, node) -> ids the fold generated in a node whose ids are not read yet, in order
        self._added: dict[tuple[str, str], dict[str, None]] = {}
        for key in keys:
            dict.__setitem__(self, key, _UNREAD)

    def add(self, key: tuple[str, str], ids: Iterable[str]) -> None:
        """``ids`` generated in node ``key`` (the fold's): last in its order unless there already. An
        unread node keeps them aside (a recook that regenerates one item of a million reads no ids);
        its read puts them after the table's rows, where the fold would have (a committed new item's
        ``ord`` is last already, one generated again keeps its own)."""
        found = dict.get(self, key)
        if found is _UNREAD:
            self._added.setdefault(key, {}).update(dict.fromkeys(ids))
        elif found is None:
            dict.__setitem__(self, key, dict.fromkeys(ids))
        else:
            found.update(dict.fromkeys(ids))

    def _ids(self, key) -> dict:
        ids = dict.fromkeys(
            r[0]
            for r in self._reader.execute(
                "SELECT item_id FROM items WHERE graph = ? AND node = ? ORDER BY ord", (key[0], key[1])
            )
        )
        ids.update(self._added.pop(key, {}))
        dict.__setitem__(self, key, ids)
        return ids

    def __getitem__(self, key):
        found = dict.__getitem__(self, key)
        return self._ids(key) if found is _UNREAD else found

    def read_with_items(self, key, items: LazyItems) -> bool:
        """Read the node's ids and (into ``items``) its items in one pass of its rows, when its ids
        are not read yet (else False): a walk that lists a node to read its items reads each row
        once, not its id and then its row (``items_of``)."""
        if dict.get(self, key) is not _UNREAD:
            return False
        order: list[tuple[int, str]] = []

        def rows() -> Iterator[tuple]:
            for row in self._reader.execute(
                f"SELECT {tables.ITEM_COLUMNS} FROM items WHERE graph = ? AND node = ?", key
            ):
                order.append((row[0], row[1]))
                yield row

        items.hold_rows(rows())
        order.sort()  # the ids in generation order (the tables' ``ord``), as ``_ids`` reads them
        ids = dict.fromkeys(item_id for _ord, item_id in order)
        ids.update(self._added.pop(key, {}))
        dict.__setitem__(self, key, ids)
        return True

    def holding(self, key: tuple[str, str], ids: list[str]) -> list[str]:
        """Those of ``ids`` that are items of node ``key``, in the node's order (a delta walk
        removes those it did not make again in the order the full walk does). An unread node is
        asked about these (a delta walk's few) only: its rows, and the ids added aside since (a
        removal reads the node first)."""
        found = dict.get(self, key)
        wanted = set(ids)
        if found is _UNREAD and len(ids) <= MAX_MISSES:
            rows = self._reader.execute(  # by their ids (the unique index), not a pass of the node's rows
                "SELECT item_id, graph, node FROM items WHERE item_id IN (SELECT value FROM json_each(?)) ORDER BY ord",
                (json.dumps(ids),),
            )
            held = dict.fromkeys(r[0] for r in rows if (r[1], r[2]) == key)
            held.update(dict.fromkeys(i for i in self._added.get(key, ()) if i in wanted))
            return list(held)
        return [i for i in self.get(key, {}) if i in wanted]

    def count(self, key) -> int:
        """How many items the node holds, its ids left unread if they are (``node_states`` counts
        them: a delta cook sizes a node of a million items without reading its ids)."""
        found = dict.get(self, key)
        if found is _UNREAD:
            # the ids added aside that are not rows yet are new items: one statement, one snapshot
            row = self._reader.execute(
                "SELECT (SELECT coalesce(sum(count), 0) FROM node_states WHERE graph = ?1 AND node = ?2)"
                " + (SELECT count(*) FROM json_each(?3) WHERE NOT EXISTS"
                " (SELECT 1 FROM items WHERE item_id = value AND graph = ?1 AND node = ?2))",
                (key[0], key[1], json.dumps(list(self._added.get(key, ())))),
            ).fetchone()
            return int(row[0])
        return len(found) if found is not None else 0

    def get(self, key, default=None):
        found = dict.get(self, key, default)
        return self._ids(key) if found is _UNREAD else found

    def setdefault(self, key, default=None):
        if dict.__contains__(self, key):
            return self[key]
        dict.__setitem__(self, key, default)
        return default

    def values(self):
        return [self[key] for key in dict.keys(self)]

    def items(self):
        return [(key, self[key]) for key in dict.keys(self)]

    def __eq__(self, other) -> bool:
        return dict(self.items()) == other

    __hash__ = None


class CookState(State):
    """A ``State`` whose items are read from the tables as a cook reaches them (see the module)."""

    __slots__ = ("_reader",)

    items: LazyItems
    _reader: StoreReader

    def item_count(self, graph: str, node: str) -> int:
        lazy = self.node_items
        if isinstance(lazy, LazyNodeItems):
            return lazy.count((graph, node))
        return State.item_count(self, graph, node)

    def ids_in_node(self, graph: str, node: str, ids: Iterable[str]) -> list[str]:
        lazy = self.node_items
        if isinstance(lazy, LazyNodeItems):
            return lazy.holding((graph, node), list(ids))
        return State.ids_in_node(self, graph, node, ids)

    def items_of(self, graph: str, node: str, state: str | None = None, *, summary: bool = False) -> list[Item]:
        lazy, items = self.node_items, self.items
        if items.complete or not isinstance(lazy, LazyNodeItems) or not lazy.read_with_items((graph, node), items):
            items.read_node(graph, node, lazy.get((graph, node), ()))
        return State.items_of(self, graph, node, state, summary=summary)

    def outputs_of(self, graph: str, node: str) -> Iterator[list]:
        """The outputs of each item of the node, in generation order; those not read yet from their
        rows' bodies, decoded one at a time as the caller goes: a no-op manifest lists every
        recorded file, and must neither make an item of every row nor hold every list at once."""
        items = self.items
        ids = self.node_items.get((graph, node), {})
        rows = self._reader.execute("SELECT item_id, body FROM items WHERE graph = ? AND node = ?", (graph, node))
        ahead: dict[str, bytes] = {}  # rows met before their item's turn (the index orders by state first)
        conn = self._reader.conn
        for item_id in ids:
            if items.is_read(item_id):
                yield items[item_id].outputs
                continue
            body = ahead.pop(item_id, None)
            while body is None:
                row = next(rows, None)
                if row is None:
                    break
                if row[0] == item_id:
                    body = row[1]
                elif not items.is_read(row[0]):
                    ahead[row[0]] = row[1]
            yield items[item_id].outputs if body is None else row_outputs(conn, item_id, body)

    def attrs_with_files(self, graph: str, node: str) -> Iterator[dict]:
        """``State.attrs_with_files``: the items held from their attributes, the rest from the rows
        whose detail holds the bytes a file attribute's packed type begins with (``FILE_ATTR``), so
        a node whose items hold none is gone over in SQLite, no row decoded (no-op manifests are
        written after every cook that changed something, and most graphs hold no file attribute)."""
        items = self.items
        ids = self.node_items.get((graph, node), {})
        for item_id in ids:
            if items.is_read(item_id) and holds_files(items[item_id].attrs):
                yield items[item_id].attrs
        found = "instr(detail, ?) OR instr(detail, ?)"
        sql = f"SELECT item_id, detail FROM items WHERE graph = ? AND node = ? AND ({found})"
        for item_id, detail in self._reader.execute(sql, (graph, node, *FILE_ATTR)):
            if item_id in ids and not items.is_read(item_id):
                attrs = _unpack(detail)[1]
                if holds_files(attrs):
                    yield attrs

    def finished_outputs(self, graph: str, node: str) -> dict[str, list]:
        ids = self.node_items.get((graph, node), ())
        found = self._unread_outputs(graph, node, ids, done_only=True)
        for item_id in ids:
            item = dict.get(self.items, item_id)
            if item is not None and item.state in DONE_STATES:
                found[item_id] = item.outputs
        return found

    def _unread_outputs(self, graph: str, node: str, ids: Iterable[str], *, done_only: bool) -> dict[str, list]:
        """item id -> outputs of the node's items not read yet (of those in a done state only, with
        ``done_only``), from their rows' bodies in one pass of the node's rows, without building items."""
        items = self.items
        if all(items.is_read(i) for i in ids):
            return {}
        found: dict[str, list] = {}
        for item_id, state, body in self._reader.execute(
            "SELECT item_id, state, body FROM items WHERE graph = ? AND node = ?", (graph, node)
        ):
            if not items.is_read(item_id) and (not done_only or state in DONE_STATES):
                found[item_id] = row_outputs(self._reader.conn, item_id, body)
        return found

    def members(self, graph: str, nodes: list[str], ids: list[str]) -> list:
        """``State.members``: the items read already as they are; the others from their rows in one
        pass of each node's rows, as ``Member`` (id, attributes, outputs) only: a partition's
        merge after one member changed reads every member, and must not make (or keep) a whole
        ``Item`` of each."""
        items = self.items
        held = dict.keys(items)  # (what ``LazyItems`` holds, without reading the rest)
        if len(ids) - len(held & set(ids)) <= MAX_MISSES:
            return [items[i] for i in ids]
        found: dict[str, Member] = {}
        conn = self._reader.conn
        unpack = _unpack
        # what many members share is held once: no attributes, and each file tag's string
        tags: dict[str, str] = {}
        for node in nodes:
            for item_id, body, detail in self._reader.execute(
                "SELECT item_id, body, detail FROM items WHERE graph = ? AND node = ?", (graph, node)
            ):
                if item_id in held:
                    continue  # taken as held below: its row is not decoded for nothing
                outputs = unpack(body)[1]
                if type(outputs) is int:  # a long list (``pdgstore.itemlists``)
                    outputs = itemlists.read_list(conn, item_id, "outputs")
                for record in outputs:
                    record[TAG] = tags.setdefault(record[TAG], record[TAG])
                found[item_id] = Member(item_id, unpack(detail)[1] or NO_ATTRS, outputs)
        found.update((i, items[i]) for i in held)  # an item read may have changed since its row was written
        return [found[i] for i in ids]

    def items_holding(self, graph: str, paths: list[str]) -> list[str]:
        """The ids of the items (of ``graph``, and maybe others) that may list one of ``paths`` (as
        the events record them) among their outputs, looked up in ``files`` (``pdgstore.fileindex``):
        a superset, to be checked item by item."""
        return fileindex.holding(self._reader.execute, paths)

    def ids_named(self, graph: str, node: str, name: str) -> list[str]:
        """The ids of the items of ``node`` the tables hold by ``name`` (the ``items_name`` index):
        whether a delta walk's new item may take a name, without reading the node's items."""
        query = "SELECT item_id FROM items WHERE name = ? AND graph = ? AND node = ?"
        return [r[0] for r in self._reader.execute(query, (name, graph, node))]

    def others_holding(self, graph: str, nodes: list[str], pairs: list[tuple[str, str]]) -> list[tuple[str, str, str]]:
        """``fileindex.others_holding`` in the tables as written so far: the caller checks each
        item it names against the state (the log appender may be behind the cook)."""
        return fileindex.others_holding(self._reader.execute, graph, nodes, pairs)

    def unsettled_ids(self, graph: str, nodes: Iterable[str]) -> list[str]:
        """The ids of the items of ``nodes`` in a state other than done (dirty, say: a cook of one
        node dirties the children outside its scope of what it remade), by the (graph, node, state)
        index: the done items, the rest of the store, are never visited."""
        marks = ",".join("?" * len(NOT_DONE))
        query = f"SELECT item_id FROM items WHERE graph = ? AND node = ? AND state IN ({marks})"
        return [r[0] for node in nodes for r in self._reader.execute(query, (graph, node, *NOT_DONE))]

    def unfinished_ids(self, cook_id: int) -> list[str]:
        """``State.unfinished_ids``, the rows not read yet found by the (graph, node, state) index
        in the nodes whose counts hold an unfinished item: a dead cook's recovery reads what it
        left unfinished, not every item of the store."""
        items = self.items
        if not items.complete:
            states = sorted(UNFINISHED_STATES)
            marks = ",".join("?" * len(states))
            nodes = self._reader.execute(
                f"SELECT DISTINCT graph, node FROM node_states WHERE count > 0 AND state IN ({marks})", tuple(states)
            ).fetchall()
            query = f"SELECT item_id FROM items WHERE graph = ? AND node = ? AND state IN ({marks}) AND cook_id = ?"
            items.read_ids(
                [r[0] for graph, node in nodes for r in self._reader.execute(query, (graph, node, *states, cook_id))]
            )
        return State.unfinished_ids(self, cook_id)

    def children_of(self, item_id: str) -> list[str]:
        """The recorded children of ``item_id`` (the items listing it as a parent), in generation order."""
        return [
            r[0]
            for r in self._reader.execute(
                "SELECT links.child FROM links JOIN items ON items.item_id = links.child WHERE links.parent = ? "
                "ORDER BY items.ord",
                (item_id,),
            )
        ]


class Member(NamedTuple):
    """What a partition's merge reads of a member (``CookState.members``): read only."""

    item_id: str
    attrs: Mapping[str, list]
    outputs: list


#: the attributes of every member that has none (one mapping for all, which refuses changes)
NO_ATTRS: Mapping[str, list] = MappingProxyType({})


def outputs_holding(conn: sqlite3.Connection, graph: str, paths: set[str]) -> Iterator[tuple[str, bytes, bytes, list]]:
    """(item id, body, detail, outputs) of each item of ``graph`` listing one of ``paths`` (as the
    events record them) among its outputs, in the tables' order, read from the rows one at a time
    (``files`` finds them: ``pdgstore.fileindex``): no item is made or kept."""
    ids = fileindex.holding(conn.execute, sorted(paths))
    if not ids:
        return
    rows = conn.execute(
        "SELECT item_id, body, detail FROM items WHERE graph = ? AND item_id IN (SELECT value FROM json_each(?)) "
        "ORDER BY ord",
        (graph, json.dumps(ids)),
    )
    for item_id, body, detail in rows:
        outputs = row_outputs(conn, item_id, body)
        for o in outputs:
            if o[PATH] in paths:
                yield item_id, body, detail, outputs
                break


def nodes_of(conn: sqlite3.Connection, ids: list[str]) -> list[str]:
    """The nodes of the items ``ids``, sorted, each once (a no-op's restatted items: the nodes its
    ``CookFinished`` names)."""
    sql = "SELECT DISTINCT node FROM items WHERE item_id IN (SELECT value FROM json_each(?)) ORDER BY node"
    return [node for (node,) in conn.execute(sql, (json.dumps(ids),))]


def _unpack(blob: bytes):
    return msgpack.unpackb(blob, raw=False, strict_map_key=False)


def row_outputs(conn: sqlite3.Connection, item_id: str, body: bytes) -> list:
    """An item's outputs from its row's body (a long list from ``lists``)."""
    return itemlists.restored(conn, item_id, "outputs", _unpack(body)[1], lazy=False)


def read_cook_state(log, seq: int) -> State:
    """The state of the tables of ``log`` (the cook's ``EventLog``) at ``seq``, the log's end, its
    items and jobs left to be read as they are used. The graphs, cooks and registry are read now."""
    conn = log.conn
    whole = tables.read_state(conn, seq, items=False, jobs=False)
    # none yet (a cold cook): nothing to read, but the cook may let items go and read them back
    cold = conn.execute("SELECT 1 FROM items LIMIT 1").fetchone() is None
    state = CookState()
    state.seq = seq
    state.graphs, state.cooks = whole.graphs, whole.cooks
    state.transfers, state.watches, state.schedules = whole.transfers, whole.watches, whole.schedules
    reader = state._reader = StoreReader(log)
    no_jobs = conn.execute("SELECT 1 FROM jobs LIMIT 1").fetchone() is None
    state.jobs = LazyJobs(reader, complete=no_jobs)  # (``pdgstore.lazyjobs``)
    state.node_items = whole.node_items if cold else LazyNodeItems(reader, whole.node_items)
    state.items = LazyItems(reader, complete=cold, known=state.node_items if cold else None)
    return state
