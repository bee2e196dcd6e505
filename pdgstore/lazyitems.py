"""A cook's items, read from the ``items`` table on first use (``LazyItems``): the part of a
cook's state (``pdgstore.cookstate``, whose module says why and why it holds) that reads them.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable
from typing import TYPE_CHECKING

from pdgstore import sqlitefile, tables
from pdgstore.inserts import IN_LIST
from pdgstore.state import Item, paused_gc

if TYPE_CHECKING:
    from pdgstore.log import EventLog

#: ids of one node read one by one before the rest of that node may be read at once
MAX_MISSES = 256
#: ... which it is once they are a sixteenth of the node: a thousand items reached in a node of a
#: hundred thousand (the chains of a thousand changed files) are read by id, not by reading all
#: of it (a read by id costs a few times a row of the pass; at worst, a walk that reaches every
#: item reads a sixteenth of them one by one before the pass)
SCAN_SHARE = 16


class StoreReader:
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


class ReadFirst(dict):
    """A dict the store fills as it is asked (``LazyItems``, ``lazyjobs.LazyJobs``): whatever goes
    over all of it reads the rest first (``read_all``)."""

    def read_all(self) -> None:
        raise NotImplementedError

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


class LazyItems(ReadFirst):
    """item id -> ``Item``, read from the ``items`` table on first use (see the module)."""

    def __init__(self, reader: StoreReader, complete: bool, known: dict | None = None) -> None:
        super().__init__()
        self._reader = reader
        self._complete = complete  # every item of the tables is in the dict (or none exists)
        self._gone: set[str] = set()  # ids the tables hold that the fold removed since
        #: a cold cook's (a store with no item): the state's ids per node, filled by the fold. The
        #: cook is the only writer: an id in none of them is not in the tables, nor looked for there
        self._known = known
        self._misses: dict[tuple[str, str], int] = {}  # (graph, node) -> ids of it read one by one
        self._limits: dict[tuple[str, str], int] = {}  # (graph, node) -> misses before it is weighed again
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
        if misses > self._limits.get(node, MAX_MISSES):
            if misses * SCAN_SHARE < self._count(*node):
                self._limits[node] = 2 * misses  # (looked at again when they doubled)
            else:
                self._misses[node] = 0
                self._scan_node(*node, None)
                return dict.get(self, item_id)
        item = tables.item_from_row(row, self._reader.conn)
        dict.__setitem__(self, item_id, item)
        self.rows_read += 1
        return item

    def _count(self, graph: str, node: str) -> int:
        """The node's items in the tables (its counts per state)."""
        sql = "SELECT sum(count) FROM node_states WHERE graph = ? AND node = ?"
        return self._reader.execute(sql, (graph, node)).fetchone()[0] or 0

    def read_node(self, graph: str, node: str, ids: Iterable[str]) -> None:
        """Read the items of ``ids`` (the node's) not read yet: by their ids when they are few, else
        the node's rows in one pass of its index."""
        missing = self._unread(ids)
        if len(missing) > IN_LIST:
            self._scan_node(graph, node, set(missing))
        elif missing:
            self._load(missing)

    def read_ids(self, ids: Iterable[str]) -> None:
        """Read the items of ``ids`` not read yet, by their ids whatever their number: a chunk of a
        node compared with its records (``engine.cook.ahead``), which ``read_node`` would read by
        a pass over the whole node, and one by one ``_read`` would end up reading all of it."""
        missing = self._unread(ids)
        if missing:
            self._load(missing)

    def _unread(self, ids: Iterable[str]) -> list[str]:
        """Those of ``ids`` neither held nor gone (none once every item is held)."""
        if self._complete:
            return []
        return [i for i in ids if not dict.__contains__(self, i) and i not in self._gone]

    def _load(self, ids: list[str]) -> None:
        conn = self._reader.conn
        self._hold(tables.load_items(conn, ids), conn, None)

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
