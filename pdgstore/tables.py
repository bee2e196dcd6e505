"""The queryable state: projection tables beside the log, changed in the transaction of the events
that change them (schema 2; 3 keeps long lists apart: ``pdgstore.itemlists``; 4 indexes files: ``fileindex``).

Why: a read command asks about one node or one item; answering from a replayed ``State`` costs
what the store holds (every item decoded). These tables hold the same state, indexed, so a read
costs what it returns. The log stays the truth: the tables are the fold of its events, ``rebuild``
makes them again from zero, and ``pdg check`` compares the two (``pdgstore.tablecheck``).

How they stay right: ``fold_rows`` does not re-implement the fold in SQL. It loads the rows a
batch of events touches into a small ``State`` (those items, the whole node for a ``NodeDirtied``,
those cooks), applies the events with ``pdgstore.projection.APPLY`` (the one fold replay and live
cooks use), and writes the touched rows back. The cost is that of the batch, not of the store.

Tables::

    items(ord INTEGER PRIMARY KEY,        -- generation order: seq of the event that generated it
          item_id TEXT UNIQUE, graph, node, name, state, cook_id,
          body BLOB,                      -- msgpack [index, outputs, started_ns, duration_ns, error, signature,
                                          --   number of parents, number of inputs]
          detail BLOB)                    -- msgpack [parents, attrs, inputs, traceback, reason]: last, so a
                                          -- list of items never reads it
        a list of 64 entries or more (a partition's parents and outputs, a gather's inputs: a million
        at W(1,000,000)) is not in the row: the row holds its length, ``lists`` its entries
        indexes: items_node(graph, node, state), items_name(name), items_place (schema 5: ``itemorder``)
    nodes(ord INTEGER PRIMARY KEY, graph, node)   -- (graph, node) pairs in order of their first item
    node_states(graph, node, state, count)        -- items per node and state (pdg status)
    links(parent, child)                          -- item parents, by parent (pdg accept's downstream)
    cooks(cook_id INTEGER PRIMARY KEY, body)      -- msgpack of a CookRecord's fields
    graphs(name TEXT PRIMARY KEY, body)           -- msgpack of a GraphInfo's fields
    jobs(item_id TEXT PRIMARY KEY, body)          -- an item's last job
    registry(key TEXT PRIMARY KEY, body)          -- transfers, watches, schedules (small dicts)
    lists(item_id, field, chunk, body)            -- an item's long lists, in chunks (schema 3)
    files(item_id, path)                          -- the paths of an item's outputs, by path (schema 4)
"""

from __future__ import annotations

import sqlite3
from collections import Counter
from collections.abc import Iterable, Sequence

import msgpack

from pdgstore import codec, fileindex, itemlists, itemorder
from pdgstore import events as ev
from pdgstore.damage import DECODE_ERRORS, damaged
from pdgstore.errors import DamagedRow
from pdgstore.inserts import chunks, insert_rows
from pdgstore.projection import APPLY
from pdgstore.state import EMPTY_MAP, CookRecord, GraphInfo, Item, State, paused_gc

#: the batch of a node's new items (``pdgstore.itembatch``): it changes items, though its subject is a node
BATCH_KIND = ev.WorkItemsGenerated.kind
#: event kinds whose subject is a work item (they change only that item, and its job)
ITEM_KINDS = frozenset(kind for kind, cls in ev.REGISTRY.items() if cls.subject_field == "item_id")
#: item event kinds whose fold changes no table (a log line is history: ``pdg show``, ``pdg events``):
#: a batch of them loads and rewrites no item row
UNCHANGING = frozenset({"WorkItemLogged"})
#: item event kinds whose fold changes only that item's attributes or outputs (its body and detail),
#: never its state, parents or job: a writer that holds the item as it is after them may hand its
#: row over instead of having it loaded and folded (``pdgstore.prepared.write_updated``)
ROW_KINDS = frozenset({"WorkItemAttribSet", "WorkItemOutputAdded", "WorkItemRestatted"})
#: event kinds that change a cook record
COOK_KINDS = frozenset({"CookStarted", "CookStaticPlanned", "CookFinished", "CookWarning", "CookTriggered"})
#: event kinds that change the registry's small dicts
REGISTRY_KINDS = frozenset(
    {"FileTransferred", "CookTriggered", "WatchStarted", "WatchModeChanged", "WatchStopped"}
    | {kind for kind in ev.REGISTRY if kind.startswith("Schedule")}
)
#: event kinds that change no work item: their fold up to a point gives graphs, cooks and the
#: registry at that point (time travel reads them through the partial index ``events_global``)
GLOBAL_KINDS = tuple(
    sorted(kind for kind in ev.REGISTRY if kind not in ITEM_KINDS and kind not in ("NodeDirtied", BATCH_KIND))
)
REGISTRY_KEYS = ("transfers", "watches", "schedules")
#: the item fields kept in ``items.body`` and ``items.detail``, in order
BODY: tuple[str, ...] = ("index", "outputs", "started_ns", "duration_ns", "error", "signature", "n_parents", "n_inputs")
DETAIL: tuple[str, ...] = ("parents", "attrs", "inputs", "traceback", "reason")

#: the tables of schema 2 (what its migration made: ``schema.MIGRATIONS``); schema 3 adds ``lists``
SCHEMA_2_SQL = f"""
CREATE TABLE items (ord INTEGER PRIMARY KEY, item_id TEXT NOT NULL UNIQUE, graph TEXT NOT NULL, node TEXT NOT NULL,
                    name TEXT NOT NULL, state TEXT NOT NULL, cook_id INTEGER NOT NULL, body BLOB NOT NULL,
                    detail BLOB NOT NULL);
CREATE INDEX items_node ON items (graph, node, state);
CREATE INDEX items_name ON items (name);
CREATE TABLE nodes (ord INTEGER PRIMARY KEY, graph TEXT NOT NULL, node TEXT NOT NULL);
CREATE UNIQUE INDEX nodes_key ON nodes (graph, node);
CREATE TABLE node_states (graph TEXT NOT NULL, node TEXT NOT NULL, state TEXT NOT NULL, count INTEGER NOT NULL,
                          PRIMARY KEY (graph, node, state)) WITHOUT ROWID;
CREATE TABLE links (parent TEXT NOT NULL, child TEXT NOT NULL, PRIMARY KEY (parent, child)) WITHOUT ROWID;
CREATE TABLE cooks (cook_id INTEGER PRIMARY KEY, body BLOB NOT NULL);
CREATE TABLE graphs (name TEXT PRIMARY KEY, body BLOB NOT NULL);
CREATE TABLE jobs (item_id TEXT PRIMARY KEY, body BLOB NOT NULL) WITHOUT ROWID;
CREATE TABLE registry (key TEXT PRIMARY KEY, body BLOB NOT NULL);
CREATE INDEX events_global ON events (seq) WHERE kind IN ({", ".join(repr(k) for k in GLOBAL_KINDS)});
"""
TABLES_SQL = SCHEMA_2_SQL + itemlists.LISTS_SQL + fileindex.FILES_SQL + itemorder.PLACE_SQL

#: every projection table, with the columns that identify a row (``rebuild`` clears them,
#: ``pdgstore.tablecheck`` compares them in that order)
TABLES = {
    "items": "item_id",
    "nodes": "graph, node",
    "node_states": "graph, node, state",
    "links": "parent, child",
    "cooks": "cook_id",
    "graphs": "name",
    "jobs": "item_id",
    "registry": "key",
    "lists": "item_id, field, chunk",
    "files": "item_id, path",
}
ITEM_COLUMNS = "ord, item_id, graph, node, name, state, cook_id, body, detail"
#: the columns of a summary row (``item_from_row`` leaves the detail fields empty)
SUMMARY_COLUMNS = "ord, item_id, graph, node, name, state, cook_id, body"

_pack = msgpack.Packer(use_bin_type=True).pack


def unpack(blob: bytes):
    """A column's msgpack bytes decoded; ``DamagedRow`` if they are not msgpack."""
    try:
        return msgpack.unpackb(blob, raw=False, strict_map_key=False)
    except (ValueError, msgpack.UnpackException) as exc:  # UnicodeDecodeError is a ValueError
        raise DamagedRow(f"a row of its tables cannot be decoded ({type(exc).__name__})") from None


def statements(sql: str = TABLES_SQL) -> list[str]:
    return [s for s in sql.split(";") if s.strip()]


# -- rows <-> objects -----------------------------------------------------------------------------
def item_from_row(row: tuple, conn: sqlite3.Connection, *, lazy: bool = False) -> Item:
    """An ``Item`` from a row of ``ITEM_COLUMNS`` (or of ``SUMMARY_COLUMNS``: then its parents,
    attributes, inputs, traceback and reason are left empty: a summary, never to be written back).

    A long list the row keeps in ``lists`` (``pdgstore.itemlists``) is read from ``conn``, or,
    ``lazy``, left there as a ``Stored`` sequence that reads it when asked: the fold (which rarely
    reads one, and writes back only what changed) and the read model (a read decodes what it
    shows). One function for every reader (``item_values``), so a row cannot be read two ways."""
    return Item(*item_values(row, conn, lazy=lazy))


def item_values(row: tuple, conn: sqlite3.Connection, *, lazy: bool = False) -> tuple:
    """The values of ``item_from_row``'s ``Item``, in ``Item.PLAIN`` order, without making it: a
    snapshot packs them as they are (``snapshots.pack_from_tables``, the log appender's last work
    in a cook, on the way to the cook's end), with no ``Item`` made and read back per row."""
    _ord, item_id, graph, node, name, state, cook_id, body = row[:8]
    try:
        index, outputs, started_ns, duration_ns, error, signature, _n_parents, _n_inputs = unpack(body)
        restored = itemlists.restored
        if len(row) == 8:
            parents, attrs, inputs, traceback, reason = [], {}, [], "", EMPTY_MAP
        else:
            parents, attrs, inputs, traceback, reason = unpack(row[8])
            reason = reason or EMPTY_MAP  # most items have none: they share one (``state.EMPTY_MAP``)
            parents = restored(conn, item_id, "parents", parents, lazy=lazy)
            inputs = restored(conn, item_id, "inputs", inputs, lazy=lazy)
        outputs = restored(conn, item_id, "outputs", outputs, lazy=lazy)
    except DECODE_ERRORS as exc:
        raise damaged(item_id, exc) from None
    return (
        item_id, graph, node, name, index, parents, attrs, inputs, outputs, state, cook_id,
        started_ns, duration_ns, error, traceback, signature, reason,
    )  # fmt: skip


def item_body(item: Item) -> bytes:
    """The row's ``body``: a long list of outputs is ``lists``' (``itemlists.write``), its length here."""
    inline = itemlists.inline
    return _pack(
        (
            item.index,
            inline(item.outputs),
            item.started_ns,
            item.duration_ns,
            item.error,
            item.signature,
            len(item.parents),
            len(item.inputs),
        )
    )


def body_with_outputs(body: bytes, outputs: list) -> bytes | None:
    """The row's ``body`` with ``outputs`` instead of its own, as ``item_body`` packs it; None when
    the item keeps a list in ``lists`` (its length in the row: only the fold rewrites those)."""
    values = list(unpack(body))
    limit = itemlists.LISTED_FROM
    if type(values[1]) is int or len(outputs) >= limit or values[6] >= limit or values[7] >= limit:
        return None
    values[1] = outputs
    return _pack(tuple(values))


def item_detail(item: Item) -> bytes:
    inline = itemlists.inline
    return _pack((inline(item.parents), item.attrs, inline(item.inputs), item.traceback, item.reason))


def has_long_lists(item: Item) -> bool:
    """Whether an item keeps a list in ``lists`` (its row alone does not hold it)."""
    limit = itemlists.LISTED_FROM
    return len(item.parents) >= limit or len(item.inputs) >= limit or len(item.outputs) >= limit


def cook_from_body(body: bytes) -> CookRecord:
    try:
        return CookRecord(*unpack(body))
    except TypeError:
        raise DamagedRow("a cook's row is not what pdgstore writes") from None


def cook_body(cook: CookRecord) -> bytes:
    values = [getattr(cook, name) for name in CookRecord.PLAIN]
    # the bytes stores written before ``consistent`` and ``nodes`` hold, while they are unset:
    # `pdg check` agrees with an old store's rows
    if cook.nodes is None:
        values.pop()
        if not cook.consistent:
            values.pop()
    return _pack(values)


def graph_from_body(body: bytes) -> GraphInfo:
    try:
        return GraphInfo(*unpack(body))
    except TypeError:
        raise DamagedRow("a graph's row is not what pdgstore writes") from None


def graph_body(info: GraphInfo) -> bytes:
    values = [getattr(info, name) for name in GraphInfo.PLAIN]
    if not info.working_dirs:  # the bytes stores written before working_dirs hold: `pdg check` agrees
        values.pop()
    return _pack(values)


def load_items(conn: sqlite3.Connection, ids: Iterable[str]) -> list[tuple]:
    """The rows (``ITEM_COLUMNS``) of those of ``ids`` that exist."""
    rows = []
    for chunk in chunks(list(ids)):
        marks = ",".join("?" * len(chunk))
        rows += conn.execute(f"SELECT {ITEM_COLUMNS} FROM items WHERE item_id IN ({marks})", chunk).fetchall()
    return rows


# -- the fold ------------------------------------------------------------------------------------
LIST_FIELDS = codec.LIST_FIELDS
as_list, write_list = itemlists.as_list, itemlists.write


def lists_of(item: Item) -> tuple:
    return item.parents, item.inputs, item.outputs


class _Batch:
    """The rows one batch of events touches, loaded into a small ``State``, and what was there."""

    def __init__(self, conn: sqlite3.Connection) -> None:
        self.conn = conn
        self.state = State()
        # item id -> (ord, graph, node, state, parents, inputs, outputs, name) as loaded
        self.before: dict[str, tuple] = {}
        self.ords: dict[str, int] = {}  # item id -> ord now
        self.jobs_loaded: set[str] = set()
        self.registry = False

    def add_rows(self, rows: list[tuple]) -> None:
        state = self.state
        for row in rows:
            if row[1] in self.before:
                continue
            item = item_from_row(row, self.conn, lazy=True)
            state.items[item.item_id] = item
            state.node_items.setdefault((item.graph, item.node), {})[item.item_id] = None
            self.before[item.item_id] = (
                row[0],
                item.graph,
                item.node,
                item.state,
                item.parents,
                item.inputs,
                item.outputs,
                item.name,
            )
            self.ords[item.item_id] = row[0]

    def load(self, rows: Sequence[tuple]) -> None:
        """Load what the events of ``rows`` touch (told from the rows' kind and subject columns,
        before any payload is decoded)."""
        conn = self.conn
        item_kinds = ITEM_KINDS
        ids = {r[5] for r in rows if r[4] in item_kinds and r[4] not in UNCHANGING}
        for r in rows:
            if r[4] == BATCH_KIND:  # its items may have been generated before (then replaced)
                ids.update(unpack(r[6])["ids"])
        self.add_rows(load_items(conn, ids))
        for graph, node in {(r[3], r[5]) for r in rows if r[4] == "NodeDirtied"}:
            self.add_rows(
                conn.execute(f"SELECT {ITEM_COLUMNS} FROM items WHERE graph = ? AND node = ?", (graph, node)).fetchall()
            )
        cook_ids = sorted({r[2] for r in rows if r[4] in COOK_KINDS})
        for chunk in chunks(cook_ids):
            marks = ",".join("?" * len(chunk))
            for cook_id, body in conn.execute(f"SELECT cook_id, body FROM cooks WHERE cook_id IN ({marks})", chunk):
                self.state.cooks[cook_id] = cook_from_body(body)
        job_ids = sorted({r[5] for r in rows if r[4] in ("JobStarted", "JobEnded", "WorkItemRemoved")})
        for chunk in chunks(job_ids):
            marks = ",".join("?" * len(chunk))
            for item_id, body in conn.execute(f"SELECT item_id, body FROM jobs WHERE item_id IN ({marks})", chunk):
                self.state.jobs[item_id] = unpack(body)
        self.jobs_loaded = set(job_ids)
        if any(r[4] in REGISTRY_KINDS for r in rows):
            self.registry = True
            found = dict(conn.execute("SELECT key, body FROM registry").fetchall())
            for key in REGISTRY_KEYS:
                setattr(self.state, key, unpack(found[key]) if key in found else {})

    def fold(self, events: Iterable[ev.Event]) -> tuple[set, list]:
        """Apply ``events``; return the graphs they loaded and the nodes that got their first item."""
        state, ords, table = self.state, self.ords, APPLY
        graphs, new_nodes = set(), []
        for e in events:
            kind = e.kind
            if kind == "WorkItemGenerated":
                if e.item_id not in state.items:
                    ords[e.item_id] = e.seq  # new, or generated again after its removal: last in order
                if (e.graph, e.node) not in state.node_items:
                    new_nodes.append((e.seq, e.graph, e.node))
            elif kind == BATCH_KIND:
                first = e.seq - len(e.ids) + 1
                for i, item_id in enumerate(e.ids):
                    if item_id not in state.items:
                        ords[item_id] = first + i
                if (e.graph, e.node) not in state.node_items and e.ids:
                    new_nodes.append((first, e.graph, e.node))
            elif kind == "WorkItemRemoved":
                ords.pop(e.item_id, None)
            elif kind == "WorkItemOutputAdded":  # the one fold that reads an item's list
                item = state.items.get(e.item_id)
                if item is not None:
                    item.outputs = as_list(item.outputs)
            elif kind == "GraphLoaded":
                graphs.add(e.graph)
            table[kind](state, e)
        return graphs, new_nodes

    def write(self, graphs: set, new_nodes: list) -> None:
        conn, state, before = self.conn, self.state, self.before
        counts: Counter = Counter()
        deletes, inserts, unlink, link = [], [], [], []
        # rows updated in place, setting only the columns that can have changed (SQLite rewrites the
        # index entries of every indexed column an UPDATE sets, changed or not): every column; the
        # state and those after it; or those after the state (cook id, body, detail)
        updates: list[tuple] = []
        restated: list[tuple] = []
        rewritten: list[tuple] = []
        outputs_changed: list[tuple] = []  # (item id, outputs before, outputs now), for ``fileindex``
        for item_id in before.keys() | state.items.keys():
            old = before.get(item_id)
            item = state.items.get(item_id)
            if old is not None:
                counts[(old[1], old[2], old[3])] -= 1
            if item is None:
                assert old is not None  # an id from one of the two: here, only from before
                deletes.append((old[0],))
                unlink += [(p, item_id) for p in as_list(old[4])]
                if any(type(values) is itemlists.Stored for values in old[4:7]):
                    itemlists.forget(conn, item_id)
                outputs_changed.append((item_id, old[6], None))
                continue
            counts[(item.graph, item.node, item.state)] += 1
            ord_ = self.ords[item_id]
            row = (
                item.item_id,
                item.graph,
                item.node,
                item.name,
                item.state,
                item.cook_id,
                item_body(item),
                item_detail(item),
            )
            if old is not None and old[0] == ord_:
                if old[1] != item.graph or old[2] != item.node or old[7] != item.name:
                    updates.append((*row[1:], ord_))
                elif old[3] != item.state:
                    restated.append((*row[4:], ord_))
                else:
                    rewritten.append((*row[5:], ord_))
            else:
                if old is not None:
                    deletes.append((old[0],))
                inserts.append((ord_, *row))
            if old is None:
                link += [(p, item_id) for p in as_list(item.parents)]
            elif item.parents is not old[4] and (had := as_list(old[4])) != (has := as_list(item.parents)):
                # the links that changed alone: a partition of 100,000 members that gained or lost
                # one deleted and wrote every link again (the full walk's recook and the delta's)
                had_set, has_set = set(had), set(has)
                unlink += [(p, item_id) for p in had if p not in has_set]
                link += [(p, item_id) for p in has if p not in had_set]
            for field, was, now in zip(LIST_FIELDS, old[4:7] if old else (None,) * 3, lists_of(item)):
                if now is not was:
                    write_list(conn, item_id, field, was, now)
            if old is None or item.outputs is not old[6]:
                outputs_changed.append((item_id, old[6] if old else None, item.outputs))
        if deletes:
            conn.executemany("DELETE FROM items WHERE ord = ?", deletes)
        if updates:
            conn.executemany(
                "UPDATE items SET graph = ?, node = ?, name = ?, state = ?, cook_id = ?, body = ?, detail = ? WHERE ord = ?",
                updates,
            )
        if restated:
            conn.executemany("UPDATE items SET state = ?, cook_id = ?, body = ?, detail = ? WHERE ord = ?", restated)
        if rewritten:
            conn.executemany("UPDATE items SET cook_id = ?, body = ?, detail = ? WHERE ord = ?", rewritten)
        if inserts:  # in ``ord`` order: appended to the table's B-tree, not scattered through it
            inserts.sort()
            insert_rows(conn, f"INSERT INTO items ({ITEM_COLUMNS})", 9, inserts)
        if unlink:
            conn.executemany("DELETE FROM links WHERE parent = ? AND child = ?", unlink)
        if link:
            insert_rows(conn, "INSERT OR IGNORE INTO links", 2, link)
        fileindex.replace(conn, outputs_changed)
        if new_nodes:
            conn.executemany("INSERT OR IGNORE INTO nodes (ord, graph, node) VALUES (?, ?, ?)", new_nodes)
        _count_states(conn, counts)
        if state.cooks:
            conn.executemany(
                "INSERT OR REPLACE INTO cooks VALUES (?, ?)", [(c.cook_id, cook_body(c)) for c in state.cooks.values()]
            )
        if graphs:
            conn.executemany(
                "INSERT INTO graphs VALUES (?, ?) ON CONFLICT (name) DO UPDATE SET body = excluded.body",
                [(g, graph_body(state.graphs[g])) for g in graphs],
            )
        if self.jobs_loaded:
            gone = [(i,) for i in self.jobs_loaded if i not in state.jobs]
            conn.executemany("DELETE FROM jobs WHERE item_id = ?", gone)
            conn.executemany(
                "INSERT OR REPLACE INTO jobs VALUES (?, ?)",
                [(i, _pack(job)) for i, job in state.jobs.items() if i in self.jobs_loaded],
            )
        if self.registry:  # an empty dict has no row (as before its first event)
            conn.executemany(
                "INSERT OR REPLACE INTO registry VALUES (?, ?)",
                [(key, _pack(getattr(state, key))) for key in REGISTRY_KEYS if getattr(state, key)],
            )
            conn.executemany(
                "DELETE FROM registry WHERE key = ?", [(key,) for key in REGISTRY_KEYS if not getattr(state, key)]
            )


def fold_rows(conn: sqlite3.Connection, rows: Sequence[tuple]) -> None:
    """Fold the log rows ``rows`` (``(seq, time_ns, cook_id, graph, kind, subject, payload)``, in
    seq order) into the tables of ``conn``: call it inside the transaction that appends them."""
    if not rows:
        return
    with paused_gc():
        rows, moves = _moves(conn, rows)
        if moves:
            _move(conn, moves)
        if rows:
            batch = _Batch(conn)
            batch.load(rows)
            batch.write(*batch.fold(codec.from_rows(rows)))


#: the item event that may only move an item to another state (``_moves``)
MOVE_KIND = ev.WorkItemStateChanged.kind
#: the states a move to changes more than the item's ``state`` and ``cook_id`` columns (its start time)
MOVES_WITH_BODY = frozenset({"cooking"})


def _moves(conn: sqlite3.Connection, rows: Sequence[tuple]) -> tuple[Sequence[tuple], dict[str, tuple]]:
    """Split off the items that the events of ``rows`` only move to another state: every event
    about the item in the batch is a ``WorkItemStateChanged`` (but to cooking, which sets its start
    time in the row's body). Their fold is two columns of their row and the counts per state: no
    need to decode and pack the row again, as ``_Batch`` does (a cook's items are scheduled, and a
    cancel moves every item not cooked yet: 100,000 of them at W(100,000)). Returns the other rows,
    and item id -> (ord, graph, node, state before, state after, cook id) of those moved."""
    if not any(r[4] == MOVE_KIND for r in rows) or any(r[4] == "NodeDirtied" or r[4] == BATCH_KIND for r in rows):
        return rows, {}
    to: dict[str, tuple[str, int]] = {}
    other: set[str] = set()
    for r in rows:
        kind, subject = r[4], r[5]
        if kind == MOVE_KIND:
            if subject not in other:
                state = unpack(r[6])["state"]
                if state in MOVES_WITH_BODY:
                    other.add(subject)
                    to.pop(subject, None)
                else:
                    to[subject] = (state, r[2])
        elif kind in ITEM_KINDS and kind not in UNCHANGING:
            other.add(subject)
            to.pop(subject, None)
    if not to:
        return rows, {}
    moves = {}
    for chunk in chunks(list(to)):
        marks = ",".join("?" * len(chunk))
        sql = f"SELECT ord, item_id, graph, node, state FROM items WHERE item_id IN ({marks})"
        for ord_, item_id, graph, node, state in conn.execute(sql, chunk):
            moves[item_id] = (ord_, graph, node, state, *to[item_id])
    # an item with no row is the usual fold's to refuse
    return [r for r in rows if r[4] != MOVE_KIND or r[5] not in moves], moves


def _move(conn: sqlite3.Connection, moves: dict[str, tuple]) -> None:
    """Write the moves of ``_moves``: each item's state and cook id, and the counts per state."""
    counts: Counter = Counter()
    for _ord, graph, node, before, after, _cook_id in moves.values():
        counts[(graph, node, before)] -= 1
        counts[(graph, node, after)] += 1
    conn.executemany(  # in ``ord`` order, as the table's B-tree holds the rows
        "UPDATE items SET state = ?, cook_id = ? WHERE ord = ?",
        [(after, cook_id, ord_) for ord_, _g, _n, _b, after, cook_id in sorted(moves.values())],
    )
    _count_states(conn, counts)


def _count_states(conn: sqlite3.Connection, counts: Counter) -> None:
    """Add ``counts`` ((graph, node, state) -> change) to ``node_states``, a count of 0 deleted."""
    deltas = [(g, n, s, c) for (g, n, s), c in counts.items() if c]
    if deltas:
        conn.executemany(
            "INSERT INTO node_states VALUES (?, ?, ?, ?) ON CONFLICT DO UPDATE SET count = count + excluded.count",
            deltas,
        )
        conn.executemany(
            "DELETE FROM node_states WHERE graph = ? AND node = ? AND state = ? AND count = 0",
            [d[:3] for d in deltas if d[3] < 0],
        )


def write_state(conn: sqlite3.Connection, state: State) -> None:
    """Write a whole ``State`` into empty tables (a compaction base snapshot, when rebuilding): the
    items get the order they have in it."""
    batch = _Batch(conn)
    batch.state = state
    for ord_, item_id in enumerate(state.items, 1):
        batch.ords[item_id] = ord_
    batch.jobs_loaded = set(state.jobs)
    batch.registry = True
    new_nodes: list[tuple[int, str, str]] = []
    for graph, node in state.node_items:
        new_nodes.append((len(new_nodes) + 1, graph, node))
    batch.write(set(state.graphs), new_nodes)


def write_items(conn: sqlite3.Connection, items: list[Item], first_ord: int, nodes: dict[tuple[str, str], int]) -> None:
    """Write ``items`` (a chunk of a compaction base, read a piece at a time) into empty tables, as
    ``write_state`` writes them, their ords from ``first_ord``; ``nodes`` (the caller's, kept from
    chunk to chunk) numbers each node in the order its first item comes."""
    batch = _Batch(conn)
    state = batch.state
    new_nodes: list[tuple[int, str, str]] = []
    for ord_, item in enumerate(items, first_ord):
        state.items[item.item_id] = item
        key = (item.graph, item.node)
        state.node_items.setdefault(key, {})[item.item_id] = None
        batch.ords[item.item_id] = ord_
        if key not in nodes:
            nodes[key] = len(nodes) + 1
            new_nodes.append((nodes[key], *key))
    batch.write(set(), new_nodes)


def read_state(conn: sqlite3.Connection, seq: int, *, items: bool = True, jobs: bool = True) -> State:
    """The whole state the tables hold, as a ``State`` at ``seq`` (the log's end): for tests that
    hold the tables to the fold, and for tools that want everything; a read command never does.
    Without ``items`` or ``jobs``, those are left empty (a cook reads them as it goes)."""
    state = State()
    state.seq = seq
    with paused_gc():
        for graph, node in conn.execute("SELECT graph, node FROM nodes ORDER BY ord"):
            state.node_items[(graph, node)] = {}
        for row in conn.execute(f"SELECT {ITEM_COLUMNS} FROM items ORDER BY ord") if items else ():
            item = item_from_row(row, conn)
            state.items[item.item_id] = item
            state.node_items.setdefault((item.graph, item.node), {})[item.item_id] = None
        for cook_id, body in conn.execute("SELECT cook_id, body FROM cooks ORDER BY cook_id"):
            state.cooks[cook_id] = cook_from_body(body)
        for name, body in conn.execute("SELECT name, body FROM graphs ORDER BY rowid"):
            state.graphs[name] = graph_from_body(body)
        for item_id, body in conn.execute("SELECT item_id, body FROM jobs") if jobs else ():
            state.jobs[item_id] = unpack(body)
        for key, body in conn.execute("SELECT key, body FROM registry"):
            setattr(state, key, unpack(body))
    return state
