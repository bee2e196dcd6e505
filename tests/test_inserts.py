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
