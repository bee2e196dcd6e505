"""Filling the projection tables from the log: on migration to a schema that adds them, and for
``pdg check``'s scratch copy.

The tables (``pdgstore.tables``) change batch by batch with the events; this is the other way in,
for when they start empty: a compaction base written whole, then the events after it folded in
bounded batches, so memory follows the batch size, not the log's length.
"""

from __future__ import annotations

import sqlite3

from pdgstore.state import State
from pdgstore.tables import TABLES, fold_rows, write_state


def clear(conn: sqlite3.Connection) -> None:
    """Empty every projection table (before a migration fills them again)."""
    for table in TABLES:
        conn.execute(f"DELETE FROM {table}")


def rebuild(
    target: sqlite3.Connection,
    source: sqlite3.Connection,
    base: State | None = None,
    *,
    until: int | None = None,
    batch: int = 20_000,
) -> int:
    """Fill the (empty) tables of ``target`` by folding the events of ``source`` (after ``base``,
    the compaction base snapshot, when there is one) up to seq ``until`` (None: all): streamed,
    ``batch`` rows at a time, so memory is bounded by the batch, not the log. Returns the number
    of events folded."""
    after = 0
    if base is not None:
        write_state(target, base)
        after = base.seq
    return fold_log(target, source, after, until, batch=batch)


def fold_log(
    target: sqlite3.Connection, source: sqlite3.Connection, after: int, until: int | None, *, batch: int = 20_000
) -> int:
    """Fold the events of ``source`` after seq ``after`` up to ``until`` into the tables of ``target``."""
    sql = "SELECT seq, time_ns, cook_id, graph, kind, subject, payload FROM events WHERE seq > ?"
    args: tuple = (after,)
    if until is not None:
        sql, args = sql + " AND seq <= ?", (after, until)
    cursor = source.execute(sql + " ORDER BY seq", args)
    total = 0
    while rows := cursor.fetchmany(batch):
        fold_rows(target, rows)
        total += len(rows)
    return total
