"""A cook's state, read from the projection tables as its walk reaches it, not the whole store.

Why: a recook after one change decides a handful of items, yet reading every item of the tables
into a ``State`` up front cost it about a third of its time, and grows with the store (a million
items is seconds and gigabytes before the first decision). ``CookState`` is a ``State`` whose
``items`` and ``node_items`` fill themselves from the tables on first use:

- ``items[id]``, ``items.get(id)``, ``id in items``: that item's row, read by its id (a missing id is
  read once); after ``MAX_MISSES`` ids of one node read one by one the rest of that node is read
  at once, so a walk that goes over a node pays one scan of it, not a query per item (and not a
  read of the other nodes' items);
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
from collections.abc import Callable, Iterable, Iterator, Mapping
from types import MappingProxyType
from typing import TYPE_CHECKING, NamedTuple

import msgpack

from pdgstore import itemlists, sqlitefile, tables
from pdgstore.events import DONE_STATES, PATH, TAG
from pdgstore.state import Item, State, paused_gc

if TYPE_CHECKING:
    from pdgstore.log import EventLog

#: ids of one node read one by one before the rest of that node is read at once
MAX_MISSES = 256
#: changed files above which ``items_holding`` gives up (one scan of the item bodies per file)
MAX_PATHS = 32

_UNREAD = object()


class _Reader:
    """Where the state reads: the cook's own connection while its log is open, then (whoever cooked
    may look at the state after the store is closed) a reader of the store of its own. What it
    reads later is still what it would have read at the start (see the module)."""

    def __init__(self, log) -> None:
        self._log = log  # the cook's ``EventLog``
        self._own: EventLog | None = None  # a reading log once the cook's is closed

    @property
    def conn(self) -> sqlite3.Connection:
        if self._own is None:
            try:
                self._log.conn.total_changes  # noqa: B018 - raises once the log is closed
                return self._log.conn
            except sqlite3.ProgrammingError:
                from pdgstore.log import EventLog as Log  # (the log's reader makes this module's states)

                self._own = Log.open(self._log.path)
        return self._own.conn

    def execute(self, sql: str, args: tuple = ()) -> sqlite3.Cursor:
        with sqlitefile.read_errors(self._log.display):
            return self.conn.execute(sql, args)


class LazyItems(dict):
    """item id -> ``Item``, read from the ``items`` table on first use (see the module)."""

    def __init__(self, reader: _Reader, complete: bool, known: dict | None = None) -> None:
        super().__init__()
        self._reader = reader
        self._complete = complete  # every item of the tables is in the dict (or none exists)
        self._gone: set[str] = set()  # ids the tables hold that the fold removed since
        #: a cold cook's (a store with no item): the state's ids per node, filled by the fold. The
        #: cook is the only writer: an id in none of them is not in the tables, nor looked for there
        self._known = known
        self._misses: dict[tuple[str, str], int] = {}  # (graph, node) -> ids of it read one by one
        self.rows_read = 0  # items made from their rows so far (what a cook's reach cost it)

    # -- reading on demand -------------------------------------------------------------------------
    def _read(self, item_id) -> Item | None:
        if self._complete or item_id in self._gone or not isinstance(item_id, str):
            return None
        if self._known is not None and not self._known_holds(item_id):
            return None
        row = self._reader.execute(f"SELECT {tables.ITEM_COLUMNS} FROM items WHERE item_id = ?", (item_id,)).fetchone()
        if row is None:  # a new item's id (a recook asks for the record of each it generates): one index probe
            return None
        # only rows found count: a recook that adds thousands of items reads no other
        node = (row[2], row[3])
        misses = self._misses[node] = self._misses.get(node, 0) + 1
        if misses > MAX_MISSES:
            self._misses[node] = 0
            self._scan_node(*node, None)
            return dict.get(self, item_id)
        item = tables.item_from_row(row, self._reader.conn)
        dict.__setitem__(self, item_id, item)
        self.rows_read += 1
        return item

    def read_node(self, graph: str, node: str, ids: Iterable[str]) -> None:
        """Read the items of ``ids`` (the node's) not read yet: by their ids when they are few, else
        the node's rows in one pass of its index."""
        if self._complete:
            return
        missing = [i for i in ids if not dict.__contains__(self, i) and i not in self._gone]
        if not missing:
            return
        if len(missing) <= tables.CHUNK:
            conn = self._reader.conn
            self._hold(tables.load_items(conn, missing), conn, None)
            return
        self._scan_node(graph, node, set(missing))

    def _scan_node(self, graph: str, node: str, wanted: set[str] | None) -> None:
        """Read the node's rows in one pass of its index: those of ``wanted``, or (None) every one
        not held and not gone."""
        rows = self._reader.execute(
            f"SELECT {tables.ITEM_COLUMNS} FROM items WHERE graph = ? AND node = ?", (graph, node)
        )
        self._hold(rows, self._reader.conn, wanted)

    def hold_rows(self, rows: Iterable[tuple]) -> None:
        """Hold an item of each of ``rows`` (``tables.ITEM_COLUMNS``) neither held nor gone."""
        self._hold(rows, self._reader.conn, None)

    def _hold(self, rows: Iterable[tuple], conn: sqlite3.Connection, wanted: set[str] | None) -> None:
        """Make an ``Item`` of each row whose id is in ``wanted`` (None: each one neither held nor
        gone) and hold it, the cyclic GC paused: a node of 100,000 recorded items is read here."""
        setitem, held, item_from_row, gone = dict.__setitem__, dict.__contains__, tables.item_from_row, self._gone
        made = 0
        with paused_gc():
            for row in rows:
                item_id = row[1]
                if item_id in wanted if wanted is not None else not held(self, item_id) and item_id not in gone:
                    setitem(self, item_id, item_from_row(row, conn))
                    made += 1
        self.rows_read += made

    def read_all(self) -> None:
        """Read every item not read yet, and order them all as a fold of the log orders them."""
        if self._complete:
            return
        held = dict(dict.items(self))  # (dict.copy of a subclass would go through ``keys``)
        dict.clear(self)
        with paused_gc():
            for row in self._reader.execute(f"SELECT {tables.ITEM_COLUMNS} FROM items ORDER BY ord"):
                item_id = row[1]
                if item_id in self._gone:
                    continue
                item = held.pop(item_id, None)
                if item is None:
                    item = tables.item_from_row(row, self._reader.conn)
                    self.rows_read += 1
                dict.__setitem__(self, item_id, item)
        for item_id, item in held.items():  # generated in memory since: after those of the tables
            dict.__setitem__(self, item_id, item)
        self._complete = True

    def let_go(self, ids: Iterable[str]) -> None:
        """Drop the items of ``ids`` from memory: their rows hold them as they are (every event
        about them is written: ``engine.cook.holding``); asked for again, they are read back."""
        for item_id in ids:
            if dict.pop(self, item_id, None) is not None:
                self._complete = False

    @property
    def complete(self) -> bool:
        """Every item of the tables is held (or none exists): nothing is left to read."""
        return self._complete

    def is_read(self, item_id: str) -> bool:
        return dict.__contains__(self, item_id)

    def holds_none(self, ids: Iterable[str], node: tuple[str, str] | None = None) -> bool:
        """Whether no item of ``ids`` exists, in memory or the tables: a cold cook asks its ids per node
        (``known``; ``node``'s alone when given: an id hashes its node), not every row (``keys``)."""
        ids = list(ids)
        if not dict.keys(self).isdisjoint(ids):
            return False
        if self._complete:
            return True
        if self._known is not None:
            indexes = self._known.values() if node is None else (self._known.get(node, {}),)
            return all(index.keys().isdisjoint(ids) for index in indexes)
        self.read_all()
        return dict.keys(self).isdisjoint(ids)

    def _known_holds(self, item_id: str) -> bool:
        return any(item_id in index for index in self._known.values())  # type: ignore[union-attr]

    # -- the dict, with what it does not hold yet read first ---------------------------------------
    def __missing__(self, item_id):
        item = self._read(item_id)
        if item is None:
            raise KeyError(item_id)
        return item

    def get(self, item_id, default=None):
        item = dict.get(self, item_id)
        if item is None and not self._complete:  # (a cold cook's new items: no call)
            item = self._read(item_id)
        return default if item is None else item

    def __contains__(self, item_id) -> bool:
        return dict.__contains__(self, item_id) or (not self._complete and self._read(item_id) is not None)

    def pop(self, item_id, *default):
        if not dict.__contains__(self, item_id):
            self._read(item_id)
        if dict.__contains__(self, item_id):
            self._gone.add(item_id)  # generated again later, it comes last (``read_all``)
        return dict.pop(self, item_id, *default)

    def __delitem__(self, item_id) -> None:
        self.pop(item_id)

    def setdefault(self, item_id, default=None):
        item = self.get(item_id)
        if item is None:
            dict.__setitem__(self, item_id, default)
            return default
        return item

    def __iter__(self):
        self.read_all()
        return dict.__iter__(self)

    def __len__(self) -> int:
        self.read_all()
        return dict.__len__(self)

    def keys(self):
        self.read_all()
        return dict.keys(self)

    def values(self):
        self.read_all()
        return dict.values(self)

    def items(self):
        self.read_all()
        return dict.items(self)

    def __eq__(self, other) -> bool:
        self.read_all()
        return dict.__eq__(self, other)

    def __ne__(self, other) -> bool:
        return not self == other

    __hash__ = None

    def __repr__(self) -> str:
        self.read_all()
        return dict.__repr__(self)


class LazyNodeItems(dict):
    """(graph, node) -> {item id: None} in generation order, each node's ids read on first use."""

    def __init__(self, reader: _Reader, keys: Iterable[tuple[str, str]]) -> None:
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
        """Those of ``ids`` that are items of node ``key``, in the order given. An unread node is
        asked about these (a delta walk's few) only: its rows, and the ids added aside since (a
        removal reads the node first)."""
        found = dict.get(self, key)
        if found is _UNREAD and len(ids) <= MAX_MISSES:
            rows = self._reader.execute(  # by their ids (the unique index), not a pass of the node's rows
                "SELECT item_id, graph, node FROM items WHERE item_id IN (SELECT value FROM json_each(?))",
                (json.dumps(ids),),
            )
            held = {r[0] for r in rows if (r[1], r[2]) == key}
            held.update(self._added.get(key, ()))
            return [i for i in ids if i in held]
        index = self.get(key, {})
        return [i for i in ids if i in index]

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
    _reader: _Reader

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
            yield items[item_id].outputs if body is None else _outputs(conn, item_id, body)

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
                found[item_id] = _outputs(self._reader.conn, item_id, body)
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

    def items_holding(self, graph: str, paths: list[str]) -> list[str] | None:
        """The ids of the items (of ``graph``, and maybe others) that may list one of ``paths`` (as
        the events record them) among their outputs: a superset (the rows are searched for the
        path's bytes), to be checked item by item; None for more than ``MAX_PATHS`` paths."""
        if len(paths) > MAX_PATHS:
            return None
        return _searched(self._reader.execute, graph, paths)

    def items_listing(self, graph: str, nodes: Iterable[str], paths: set[str], limit: int) -> list[str] | None:
        """The ids of the items of ``nodes`` that list one of ``paths`` (as recorded) among their
        outputs, from one pass of the nodes' rows that decodes their outputs only (no ``Item`` is
        made or kept); None as soon as more than ``limit`` do. For more paths than ``items_holding``
        searches: a stat scan that found every file touched must learn that most of the store is
        reached without reading the store into memory (at W(1,000,000), gigabytes)."""
        items = self.items
        conn = self._reader.conn
        found: list[str] = []
        for node in nodes:
            for item_id, body in self._reader.execute(
                "SELECT item_id, body FROM items WHERE graph = ? AND node = ?", (graph, node)
            ):
                outputs = items[item_id].outputs if items.is_read(item_id) else _outputs(conn, item_id, body)
                if any(o[PATH] in paths for o in outputs):
                    found.append(item_id)
                    if len(found) > limit:
                        return None
        return found

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


def _searched(execute: Callable[[str, tuple], sqlite3.Cursor], graph: str, paths: list[str]) -> list[str]:
    """The ids of the items of ``graph`` (and, through long lists, maybe of others) whose rows hold
    the bytes of one of ``paths``: a superset of those listing one among their outputs, found by one
    pass of ``items`` and one of ``lists`` for all of them (``execute``: a connection's, or the
    cook state's reader's)."""
    if not paths:
        return []
    needles = tuple(msgpack.packb(path, use_bin_type=True) for path in paths)
    any_of = " OR ".join(["instr(body, ?) > 0"] * len(needles))
    found: dict[str, None] = {}
    for (item_id,) in execute(f"SELECT item_id FROM items WHERE graph = ? AND ({any_of})", (graph, *needles)):
        found[item_id] = None
    for (item_id,) in execute(  # long lists of outputs (``pdgstore.itemlists``), any graph's
        f"SELECT DISTINCT item_id FROM lists WHERE field = 'outputs' AND ({any_of})", needles
    ):
        found[item_id] = None
    return list(found)


def outputs_holding(conn: sqlite3.Connection, graph: str, paths: set[str]) -> Iterator[tuple[str, bytes, bytes, list]]:
    """(item id, body, detail, outputs) of each item of ``graph`` listing one of ``paths`` (as the
    events record them) among its outputs, in the tables' order, read from the rows one at a time:
    no item is made or kept. Few paths are searched for in the rows' bytes (``MAX_PATHS``); more
    take one pass of the graph's rows that decodes their outputs only."""
    columns = "item_id, body, detail FROM items WHERE graph = ?"
    if len(paths) <= MAX_PATHS:
        ids = _searched(conn.execute, graph, sorted(paths))
        if not ids:
            return
        rows = conn.execute(
            f"SELECT {columns} AND item_id IN (SELECT value FROM json_each(?)) ORDER BY ord", (graph, json.dumps(ids))
        )
    else:
        rows = conn.execute(f"SELECT {columns} ORDER BY ord", (graph,))
    for item_id, body, detail in rows:
        outputs = _outputs(conn, item_id, body)
        for o in outputs:
            if o[PATH] in paths:
                yield item_id, body, detail, outputs
                break


def _unpack(blob: bytes):
    return msgpack.unpackb(blob, raw=False, strict_map_key=False)


def _outputs(conn: sqlite3.Connection, item_id: str, body: bytes) -> list:
    """An item's outputs from its row's body (a long list from ``lists``)."""
    return itemlists.restored(conn, item_id, "outputs", _unpack(body)[1], lazy=False)


def read_cook_state(log, seq: int) -> State:
    """The state of the tables of ``log`` (the cook's ``EventLog``) at ``seq``, the log's end, its
    items left to be read as they are used. The graphs, cooks, jobs and registry are read now."""
    conn = log.conn
    whole = tables.read_state(conn, seq, items=False)
    # none yet (a cold cook): nothing to read, but the cook may let items go and read them back
    cold = conn.execute("SELECT 1 FROM items LIMIT 1").fetchone() is None
    state = CookState()
    state.seq = seq
    state.graphs, state.cooks, state.jobs = whole.graphs, whole.cooks, whole.jobs
    state.transfers, state.watches, state.schedules = whole.transfers, whole.watches, whole.schedules
    reader = state._reader = _Reader(log)
    state.node_items = whole.node_items if cold else LazyNodeItems(reader, whole.node_items)
    state.items = LazyItems(reader, complete=cold, known=state.node_items if cold else None)
    return state
