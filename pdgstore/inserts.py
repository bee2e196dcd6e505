"""Many values in few statements: rows into one table, ``ROWS_PER_INSERT`` to a statement
(``insert_rows``), and ids into ``IN (...)`` lists, ``IN_LIST`` to a list (``chunks``).

Why: ``executemany`` runs one statement per row, and each costs more than the row itself: the
sqlite3 module lets go of the GIL and takes it back around each step, and SQLite takes its
connection's mutex on every call (the appender's profile: 5% of a cold cook's CPU in
``pthread_mutex_lock`` and ``unlock``). One ``INSERT ... VALUES (...), (...), ...`` of 64 rows
cut the CPU of 300,000 event inserts by a third (0.85 s -> 0.54 s, the events table and its
indexes, in WAL). The rows go in the order given, as ``executemany`` puts them. What is left over
goes in statements of 32, 16 ... 1 rows, so a connection caches at most seven statements a table.

A plain ``INSERT`` of many rows is sent as ``INSERT OR FAIL``: a statement that writes many rows
and may stop at a broken constraint makes SQLite copy every page it changes into a statement
journal first, to undo that statement alone (a temporary file in ``/var/tmp`` once past 64 KiB: a
cold cook of W(100,000) wrote 3.8 GB there, 900,000 ``pwrite`` calls). ``OR FAIL`` stops at the same
row with the same error and undoes nothing; every caller writes inside a transaction that is rolled
back whole on any error (``EventLog._transaction``), so nothing of a failed batch stays either way.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable, Iterator, Sequence
from itertools import islice

#: rows one statement carries (64 rows of 9 columns: 576 variables, far under SQLite's limit)
ROWS_PER_INSERT = 64
#: ids one ``IN (...)`` list carries (SQLite allows 32,766 parameters; small lists plan faster)
IN_LIST = 500

_statements: dict[tuple[str, int, int], str] = {}


def _statement(head: str, width: int, count: int) -> str:
    key = (head, width, count)
    sql = _statements.get(key)
    if sql is None:
        one = "(" + ",".join("?" * width) + ")"
        if head.startswith("INSERT INTO "):  # no statement journal: see above
            head = "INSERT OR FAIL INTO " + head[len("INSERT INTO ") :]
        sql = _statements[key] = f"{head} VALUES {','.join([one] * count)}"
    return sql


def insert_rows(conn: sqlite3.Connection, head: str, width: int, rows: Iterable[Sequence]) -> None:
    """``conn.executemany(f"{head} VALUES (?, ...)", rows)``, each row ``width`` values (``head``:
    ``INSERT [OR IGNORE] INTO table [(columns)]``)."""
    it = iter(rows)
    while True:
        chunk = list(islice(it, ROWS_PER_INSERT))
        count = len(chunk)
        at = 0
        size = ROWS_PER_INSERT
        while at < count:
            while size > count - at:
                size //= 2
            conn.execute(_statement(head, width, size), [value for row in chunk[at : at + size] for value in row])
            at += size
        if count < ROWS_PER_INSERT:
            return


def chunks(values: Sequence, size: int = IN_LIST) -> Iterator[list]:
    """``values`` ``size`` at a time, in order: the ids of one ``... IN (?, ?, ...)`` each."""
    for at in range(0, len(values), size):
        yield list(values[at : at + size])
