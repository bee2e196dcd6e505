"""``inserts.insert_rows`` puts the rows ``executemany`` would, in the same order, for any count."""

from __future__ import annotations

import sqlite3

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pdgstore import inserts

pytestmark = pytest.mark.timeout(120)


@settings(max_examples=60, deadline=None)
@given(count=st.integers(0, 3 * inserts.ROWS_PER_INSERT + 5), ignore=st.booleans())
def test_the_rows_executemany_would_put_in_the_same_order(count, ignore):
    rows = [(i % 7, f"v{i}", bytes([i % 256])) for i in range(count)]
    tables = {}
    for how in ("many", "rows"):
        conn = sqlite3.connect(":memory:")
        conn.execute("CREATE TABLE t (a INTEGER, b TEXT, c BLOB, UNIQUE (a, b))")
        head = "INSERT OR IGNORE INTO t" if ignore else "INSERT INTO t"
        if how == "many":
            conn.executemany(f"{head} VALUES (?, ?, ?)", rows)
        else:
            inserts.insert_rows(conn, head, 3, iter(rows))
        tables[how] = conn.execute("SELECT rowid, a, b, c FROM t ORDER BY rowid").fetchall()
    assert tables["rows"] == tables["many"]


def test_a_row_that_breaks_a_constraint_fails_the_statement():
    conn = sqlite3.connect(":memory:")
    conn.execute("CREATE TABLE t (a INTEGER PRIMARY KEY)")
    with pytest.raises(sqlite3.IntegrityError):
        inserts.insert_rows(conn, "INSERT INTO t", 1, [(1,), (2,), (1,)])


def test_a_broken_row_leaves_the_undoing_to_the_callers_transaction(tmp_path):
    """Many rows go as ``INSERT OR FAIL`` (no statement journal): the rows before the broken one
    stay until the caller's transaction is rolled back, which leaves nothing."""
    conn = sqlite3.connect(tmp_path / "t.db", isolation_level=None)
    conn.execute("PRAGMA journal_mode = WAL")
    conn.execute("CREATE TABLE t (a INTEGER PRIMARY KEY, b TEXT NOT NULL)")
    conn.execute("INSERT INTO t VALUES (0, 'kept')")
    sent: list[str] = []
    conn.set_trace_callback(sent.append)
    conn.execute("BEGIN IMMEDIATE")
    rows = [(i, f"v{i}") for i in range(1, 100)] + [(5, "again")]
    with pytest.raises(sqlite3.IntegrityError, match="UNIQUE constraint failed"):
        inserts.insert_rows(conn, "INSERT INTO t", 2, rows)
    assert conn.execute("SELECT count(*) FROM t").fetchone()[0] > 1  # OR FAIL undid nothing
    conn.execute("ROLLBACK")
    assert conn.execute("SELECT a, b FROM t").fetchall() == [(0, "kept")]
    assert any(s.startswith("INSERT OR FAIL INTO t VALUES") for s in sent)
