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
    # A batch is cut by the seqs it spans, not its rows: a ``WorkItemsGenerated`` row stands for
    # up to 10,000 items, one seq each (``pdgstore.itembatch``), so 20,000 rows of a cold cook's
    # log held 2,000,000 items at W(1,000,000) and the fold's memory grew with the store.
    rows: list[tuple] = []
    span_start = after  # the seq before the batch's first row
    for row in cursor:
        if rows and row[0] - span_start > batch:
            fold_rows(target, rows)
            total += len(rows)
            span_start, rows = rows[-1][0], []
        rows.append(row)
    if rows:
        fold_rows(target, rows)
        total += len(rows)
    return total
