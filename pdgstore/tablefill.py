"""Filling the projection tables from the log: on migration to a schema that adds them, and for
``pdg check``'s scratch copy.

The tables (``pdgstore.tables``) change batch by batch with the events; this is the other way in,
for when they start empty: a compaction base written whole, then the events after it folded in
bounded batches, so memory follows the batch size, not the log's length.
"""

from __future__ import annotations

import os
import sqlite3
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager

import msgpack

from pdgstore import schema
from pdgstore.snapshots import SNAPSHOT_VERSION
from pdgstore.state import Item, State
from pdgstore.tables import TABLES, fold_rows, write_items, write_state

#: the items of a compaction base written at a time
BASE_CHUNK = 10_000

#: what a long pass is handed to tell its caller how far it got, once per chunk, never per event:
#: (what it is doing, how far, of how many; 0 when that is not known). pdgstore prints nothing:
#: ``pdg check`` and ``pdg compact`` draw these on a terminal (``cli.progress``)
Report = Callable[[str, int, int], None]


@contextmanager
def scratch(name: str) -> Iterator[sqlite3.Connection]:
    """Empty projection tables in a temporary folder (``name``: what they are for), a transaction
    open on them and no journal: where ``pdg check`` replays the log and ``pdg compact`` builds the
    state at its cut, a batch at a time, instead of holding either in memory. Gone on exit."""
    with tempfile.TemporaryDirectory(prefix=f"pdg-{name}-") as folder:
        conn = sqlite3.connect(os.path.join(folder, f"{name}.db"), isolation_level=None)
        try:
            conn.execute("PRAGMA journal_mode = OFF")
            conn.execute("PRAGMA synchronous = OFF")
            schema.create_tables(conn)
            conn.execute("BEGIN")
            yield conn
        finally:
            conn.close()


def clear(conn: sqlite3.Connection) -> None:
    """Empty every projection table (before a migration fills them again)."""
    for table in TABLES:
        conn.execute(f"DELETE FROM {table}")


def rebuild(
    target: sqlite3.Connection,
    source: sqlite3.Connection,
    base_seq: int = 0,
    *,
    until: int | None = None,
    batch: int = 20_000,
    report: Report | None = None,
) -> int:
    """Fill the (empty) tables of ``target`` by folding the events of ``source`` (after the
    snapshot at ``base_seq``, when it is not 0, written first: the compaction base, or the snapshot
    a compaction's cut starts from) up to seq ``until`` (None: all): streamed, ``batch`` rows at a
    time, so memory is bounded by the batch, not the log. Returns the number of events folded.
    ``report``: hears how far each part got, a chunk at a time."""
    if base_seq:
        write_snapshot(target, source, base_seq, report)
    return fold_log(target, source, base_seq, until, batch=batch, report=report)


def write_snapshot(
    target: sqlite3.Connection, source: sqlite3.Connection, seq: int, report: Report | None = None
) -> None:
    """Write the snapshot at ``seq`` of ``source`` (it must be there) into the empty tables of
    ``target``, as ``write_state`` writes that state: read a piece at a time (SQLite's blob I/O into
    a msgpack unpacker) and written ``BASE_CHUNK`` items at a time, so a base of a million items is
    never decoded whole (one item's lists are, a partition's million files at most)."""
    (rowid,) = source.execute("SELECT rowid FROM snapshots WHERE seq = ? AND v = ?", (seq, SNAPSHOT_VERSION)).fetchone()
    parts: dict = {"items": {}}
    nodes: dict[tuple[str, str], int] = {}
    written = 0
    with source.blobopen("snapshots", "state", rowid, readonly=True) as blob:
        unpacker = msgpack.Unpacker(blob, raw=False, strict_map_key=False, max_buffer_size=1 << 30)
        for _ in range(unpacker.read_map_header()):
            part = unpacker.unpack()
            if part != "items":
                parts[part] = unpacker.unpack()
                continue
            chunk: list[Item] = []
            count = unpacker.read_map_header()
            for _ in range(count):
                unpacker.skip()  # the item's id: its values hold it too
                chunk.append(Item(*unpacker.unpack()))
                if len(chunk) == BASE_CHUNK:
                    write_items(target, chunk, written + 1, nodes)
                    written += len(chunk)
                    chunk = []
                    if report is not None:
                        report(f"reading the snapshot at seq {seq}", written, count)
            write_items(target, chunk, written + 1, nodes)
    write_state(target, State.from_plain(parts))  # the graphs, cooks, jobs and registry


def fold_log(
    target: sqlite3.Connection,
    source: sqlite3.Connection,
    after: int,
    until: int | None,
    *,
    batch: int = 20_000,
    report: Report | None = None,
) -> int:
    """Fold the events of ``source`` after seq ``after`` up to ``until`` into the tables of ``target``
    (``report``: hears the seq reached of the last to fold, after each batch)."""
    sql = "SELECT seq, time_ns, cook_id, graph, kind, subject, payload FROM events WHERE seq > ?"
    args: tuple = (after,)
    if until is not None:
        sql, args = sql + " AND seq <= ?", (after, until)
    cursor = source.execute(sql + " ORDER BY seq", args)
    total = 0
    # A batch is cut by the seqs it spans, not its rows: a ``WorkItemsGenerated`` row stands for
    # up to 10,000 items, one seq each (``pdgstore.itembatch``), so 20,000 rows of a cold cook's
    # log held 2,000,000 items at W(1,000,000) and the fold's memory grew with the store.
    rows: list[tuple] = []
    span_start = after  # the seq before the batch's first row
    last = 0  # the seq to fold up to: until, or the log's last (told as seq reached of last)
    if report is not None:
        last = until if until is not None else source.execute("SELECT max(seq) FROM events").fetchone()[0] or 0
    for row in cursor:
        if rows and row[0] - span_start > batch:
            fold_rows(target, rows)
            total += len(rows)
            span_start, rows = rows[-1][0], []
            if report is not None:
                report("replaying the log (seq)", span_start, last)
        rows.append(row)
    if rows:
        fold_rows(target, rows)
        total += len(rows)
    return total
