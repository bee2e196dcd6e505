"""Which items list a file among their outputs: the ``files`` table (schema 4).

Why: a recook after files changed must find the items that recorded them, and so must the no-op
manifest a delta cook patches (``engine.incremental.manifest``) and a cook after touches
(``engine.incremental.restat``). Without an index the store was searched row by row: the bytes of
each path looked for in every item's row (60 ms a path at W(100,000), ten times that at
W(1,000,000)), and more than 32 paths took one pass that decoded every row's outputs (a second at
W(100,000)). With it, finding the holders of k files costs k lookups, whatever the store holds.

Table::

    files(item_id TEXT, path TEXT,     -- an item, and one path among its outputs (as recorded)
          PRIMARY KEY (item_id, path)) WITHOUT ROWID
    index files_path(path)

An item has one row per distinct path among the outputs its row holds inline (fewer than
``itemlists.LISTED_FROM``). An item whose outputs live in ``lists`` (a partition's: every member's
files, a million at W(1,000,000)) has none: indexing a partition would double the table for files
its members are found by, and rewrite rows at every change of a member. ``holding`` finds those
items in ``lists`` instead.

The rows are a function of each item's outputs alone, so the fold of the log from zero writes the
rows the live writers wrote (``pdg check`` compares them as any other table).
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Callable, Iterable

import msgpack

from pdgstore import itemlists
from pdgstore.inserts import chunks, insert_rows

FILES_SQL = """
CREATE TABLE files (item_id TEXT NOT NULL, path TEXT NOT NULL, PRIMARY KEY (item_id, path)) WITHOUT ROWID;
CREATE INDEX files_path ON files (path);
"""
#: paths above which the long lists of outputs are not searched for each path's bytes: every item
#: that keeps one is a candidate (they are few: one per partition)
MAX_SEARCHED = 32


def paths_of(outputs) -> list[str]:
    """The distinct paths, in order, of outputs an item's row holds inline; none for a long list
    (``itemlists``) or for no outputs at all."""
    if not outputs or len(outputs) >= itemlists.LISTED_FROM:
        return []
    return list(dict.fromkeys(record[0] for record in itemlists.as_list(outputs)))


def rows_of(item_id: str, outputs) -> list[tuple[str, str]]:
    return [(item_id, path) for path in paths_of(outputs)]


def insert(conn: sqlite3.Connection, rows: Iterable[tuple[str, str]]) -> None:
    """Add rows (item id, path) of new items, or of paths an item gained."""
    insert_rows(conn, "INSERT OR IGNORE INTO files", 2, rows)


def forget(conn: sqlite3.Connection, item_ids: Iterable[str]) -> None:
    """Delete every row of ``item_ids`` (items gone, or whose paths are written again)."""
    conn.executemany("DELETE FROM files WHERE item_id = ?", ((item_id,) for item_id in item_ids))


def replace(conn: sqlite3.Connection, changes: Iterable[tuple[str, object, object]]) -> None:
    """Bring the rows of each (item id, outputs before, outputs now) to its outputs now; an item
    whose paths did not change (a restat, a cook that wrote the same files) is not written."""
    gone: list[str] = []
    rows: list[tuple[str, str]] = []
    for item_id, before, now in changes:
        paths = paths_of(now)
        if paths == paths_of(before):
            continue
        gone.append(item_id)
        rows += [(item_id, path) for path in paths]
    if gone:
        forget(conn, gone)
    if rows:
        insert(conn, rows)


def refile(conn: sqlite3.Connection, items: list[tuple[str, list]]) -> None:
    """Bring the rows of each (item id, outputs now) to those outputs, reading the rows they have
    a chunk of items a query: for a writer that hands an item's row over without the outputs it
    had (``prepared.write_updated``; a restat of every input hands 100,000 of them over, their
    paths unchanged: compared as two sets, nothing written)."""
    have: set[tuple[str, str]] = set()
    for chunk in chunks([item_id for item_id, _ in items]):
        have.update(
            conn.execute(f"SELECT item_id, path FROM files WHERE item_id IN ({','.join('?' * len(chunk))})", chunk)
        )
    limit = itemlists.LISTED_FROM
    want = {(item_id, record[0]) for item_id, outputs in items if len(outputs) < limit for record in outputs}
    if want != have:
        conn.executemany("DELETE FROM files WHERE item_id = ? AND path = ?", have - want)
        insert(conn, want - have)


def holding(execute: Callable[..., sqlite3.Cursor], paths: list[str]) -> list[str]:
    """The ids of the items (of any graph) that may list one of ``paths`` among their outputs: every
    item whose row lists one, and the items keeping a long list of outputs that may (those whose
    list holds the bytes of one, for a few paths; every one of them, for more). A superset, to be
    checked item by item; in no particular order."""
    unique = sorted(set(paths))
    if not unique:
        return []
    found: dict[str, None] = {}
    for chunk in chunks(unique):
        marks = ",".join("?" * len(chunk))
        for (item_id,) in execute(f"SELECT item_id FROM files WHERE path IN ({marks})", chunk):
            found[item_id] = None
    if len(unique) <= MAX_SEARCHED:
        needles = tuple(msgpack.packb(path, use_bin_type=True) for path in unique)
        any_of = " OR ".join(["instr(body, ?) > 0"] * len(needles))
        sql = f"SELECT DISTINCT item_id FROM lists WHERE field = 'outputs' AND ({any_of})"
        args: tuple = needles
    else:
        sql, args = "SELECT item_id FROM lists WHERE field = 'outputs' AND chunk = 0", ()
    for (item_id,) in execute(sql, args):
        found[item_id] = None
    return list(found)


#: per path of a JSON list: up to two of the items whose rows list it, joined by a space. Any but
#: the asking item's means another may write it: the rare pairs ``_OTHERS_SQL`` is asked about
_HOLDERS_SQL = """
SELECT p.key, (SELECT group_concat(h.item_id, ' ') FROM (SELECT item_id FROM files WHERE path = p.value LIMIT 2) h)
FROM json_each(?) p
"""
#: at most this many other items named per path asked about: a path that 100,000 items record
#: (one ``expected_outputs`` for every item) must not make the answer 100,000 squared rows
OTHERS_NAMED = 8
#: per ``[path, item id]`` of a JSON list: up to ``OTHERS_NAMED`` other items of a graph's ``nodes``
#: (a JSON list) whose rows list the path, by the path index, then each item's row by its id
_OTHERS_SQL = f"""
SELECT p.path, p.item, (
  SELECT group_concat(o.item_id, ' ') FROM (
    SELECT f.item_id FROM files f CROSS JOIN items i ON i.item_id = f.item_id
    WHERE f.path = p.path AND f.item_id != p.item AND i.graph = ? AND i.node IN (SELECT value FROM json_each(?))
    LIMIT {OTHERS_NAMED}) o)
FROM (SELECT json_extract(value, '$[0]') AS path, json_extract(value, '$[1]') AS item FROM json_each(?)) p
"""


def others_holding(
    execute: Callable[..., sqlite3.Cursor], graph: str, nodes: list[str], pairs: list[tuple[str, str]]
) -> list[tuple[str, str, str]]:
    """``(path, item id, other id)`` for each ``(path, item id)`` of ``pairs`` and each other item
    of ``graph``'s ``nodes`` that lists ``path`` among its outputs inline (a long list has no rows
    here): up to ``OTHERS_NAMED`` others per pair, in no particular order. Nothing, when no other
    item lists any. Two queries, each a lookup of the path index per pair: which paths another item
    lists at all, then, for those pairs only (a partition's, an attribute node's items list files
    too), which items of ``nodes``. A cook that records 100,000 outputs asks about each, reading
    no item (``engine.cook.sameoutputs``): the first query costs about a microsecond a pair."""
    if not pairs or not nodes:
        return []
    listed = execute(_HOLDERS_SQL, (json.dumps([path for path, _item in pairs]),))
    asked = [pairs[key] for key, holders in listed if holders is not None and holders != pairs[key][1]]
    if not asked:
        return []
    rows = execute(_OTHERS_SQL, (graph, json.dumps(nodes), json.dumps(asked)))
    return [(path, item_id, other) for path, item_id, others in rows if others for other in others.split(" ")]


def all_listed(execute: Callable[..., sqlite3.Cursor], paths: list[str]) -> bool:
    """Whether each of ``paths`` is listed among the outputs an item's row holds inline (a path in
    a long list only is not: the caller takes the longer way)."""
    unique = sorted(set(paths))
    found = 0
    for chunk in chunks(unique):
        marks = ",".join("?" * len(chunk))
        found += execute(f"SELECT count(DISTINCT path) FROM files WHERE path IN ({marks})", chunk).fetchone()[0]
    return found == len(unique)


def fill(conn: sqlite3.Connection) -> int:
    """Schema 3 -> 4, in place: the rows of every item from its row's outputs (read a page of rows
    at a time, in order; only each body's outputs are used). Returns the items that have rows."""
    sql = "SELECT ord, item_id, body FROM items WHERE ord > ? ORDER BY ord LIMIT 1000"
    last, filled = -1, 0
    while rows := conn.execute(sql, (last,)).fetchall():
        last = rows[-1][0]
        found: list[tuple[str, str]] = []
        for _ord, item_id, body in rows:
            outputs = msgpack.unpackb(body, raw=False, strict_map_key=False)[1]
            if type(outputs) is list and outputs:
                found += rows_of(item_id, outputs)
                filled += 1
        insert(conn, found)
    return filled
