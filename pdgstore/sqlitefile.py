"""The SQLite file under a store: connecting read-only or as the writer, creating it atomically,
SQLite's own verdict on it, and SQLite's errors turned into one sentence naming the store.

These are the file-level steps ``EventLog.open`` composes; kept apart so the log's class reads as
the store's contract (open, append, read) rather than as the mechanics of a SQLite file. Nothing
here knows the events' meaning.
"""

from __future__ import annotations

import os
import re
import sqlite3
import time
import urllib.parse
from collections.abc import Iterator
from contextlib import contextmanager

from pdgstore import damage, schema
from pdgstore.errors import DamagedRow, StoreIOError, StoreRefused

#: the page size of new stores. 8 KiB rather than SQLite's 4 KiB: a snapshot is one large blob, which
#: larger pages write in fewer, fuller pages (a smaller file, a faster snapshot), and appending small
#: events is no slower (benchmarks/test_bench_cold.py measures both)
PAGE_SIZE = 8192


#: what a stored payload, snapshot or row that is not what we wrote raises while it is decoded or folded
DECODE_ERRORS = damage.DECODE_ERRORS


#: the problem when SQLite's own message about a damaged schema is not text (its ``sqlite3`` module
#: then raises ``UnicodeDecodeError`` decoding the message instead of a ``DatabaseError``)
UNREADABLE_SCHEMA = "its schema is damaged (SQLite's message about it is not even text)"


#: SQLite's error for stored text that is not UTF-8 (damaged bytes: ``sqlite3`` raises it as an
#: ``OperationalError``, like a failing disk, and quotes the text with U+FFFD in place of each byte)
_NOT_TEXT = re.compile(r"^Could not decode to UTF-8 column '([^']*)'")


def damaged_text(exc: sqlite3.OperationalError) -> str | None:
    """The problem to name when ``exc`` says a stored text is not text (corruption, not a failed
    read that may succeed again), or None: which column, never SQLite's mangled quote of it."""
    match = _NOT_TEXT.match(str(exc))
    return f"a row's {match.group(1)} column holds bytes that are not text" if match else None


@contextmanager
def read_errors(display: str) -> Iterator[None]:
    try:
        yield
    except sqlite3.OperationalError as exc:
        problem = damaged_text(exc)
        if problem is None and ("no such table" in str(exc) or "no such column" in str(exc)):
            problem = str(exc)
        if problem is not None:
            raise StoreRefused.corrupt(display, problem) from None
        raise StoreIOError(f"reading {display} failed: {exc}") from None
    except (sqlite3.DatabaseError, DamagedRow) as exc:  # a DamagedRow is a ValueError: before DECODE_ERRORS
        raise StoreRefused.corrupt(display, str(exc)) from None
    except DECODE_ERRORS as exc:
        what = str(exc).splitlines()[0][:200] if str(exc) else ""
        raise StoreRefused.corrupt(
            display, f"a stored event or snapshot cannot be read ({type(exc).__name__}{': ' + what if what else ''})"
        ) from None


def side_files(path: str) -> set[str]:
    return {suffix for suffix in ("-wal", "-shm") if os.path.exists(path + suffix)}


def remove_side_files(path: str, existed: set[str]) -> None:
    """After a refused open: remove the -wal/-shm SQLite made for our read-only look (an empty
    -wal and its index), never one that was there before or holds anything."""
    try:
        if "-wal" not in existed and os.path.exists(path + "-wal") and os.path.getsize(path + "-wal"):
            return
        for suffix in ("-wal", "-shm"):
            if suffix not in existed and os.path.exists(path + suffix):
                os.unlink(path + suffix)
    except OSError:
        pass


def connect_reader(path: str, display: str) -> sqlite3.Connection:
    """A read-only connection (``mode=ro``). In a folder we cannot write, where SQLite cannot make
    the -shm a WAL reader needs, and with no -wal holding anything, the file is read as immutable:
    nobody can be writing it then (a writer would need that folder too)."""
    uri = "file:" + urllib.parse.quote(path) + "?mode=ro"
    conn = _open_uri(uri, display)
    try:
        conn.execute("SELECT count(*) FROM sqlite_master").fetchone()
        return conn
    except sqlite3.OperationalError as exc:
        conn.close()
        wal = path + "-wal"
        if (os.path.exists(wal) and os.path.getsize(wal)) or os.access(os.path.dirname(path), os.W_OK):
            raise StoreIOError(f"cannot read {display}: {exc}{full_hint(path)}") from None
    except sqlite3.DatabaseError as exc:
        conn.close()
        raise StoreRefused.corrupt(display, str(exc)) from None
    except UnicodeDecodeError:
        conn.close()
        raise StoreRefused.corrupt(display, UNREADABLE_SCHEMA) from None
    conn = _open_uri(uri + "&immutable=1", display)
    with read_errors(display):
        conn.execute("SELECT count(*) FROM sqlite_master").fetchone()
    return conn


def _open_uri(uri: str, display: str) -> sqlite3.Connection:
    try:
        conn = sqlite3.connect(uri, uri=True, isolation_level=None, check_same_thread=False, timeout=5.0)
        conn.execute("PRAGMA busy_timeout = 5000")
    except sqlite3.Error as exc:
        path = urllib.parse.unquote(uri[len("file:") :].split("?", 1)[0])
        raise StoreIOError(f"cannot read {display}: {exc}{full_hint(path)}") from None
    return conn


def full_hint(path: str) -> str:
    """Why SQLite could not open ``path``, when its file system is full: SQLite says only "unable to
    open database file" when it cannot make the -shm and -wal a store in WAL mode needs beside it."""
    try:
        st = os.statvfs(os.path.dirname(path) or ".")
    except OSError:
        return ""
    if st.f_bavail == 0:
        return " (the file system that holds it is full)"
    if st.f_files and st.f_favail == 0:  # a file system that counts its inodes, with none left
        return " (the file system that holds it has no free inodes: no file can be made there)"
    return ""


def quick_check(conn: sqlite3.Connection) -> str:
    """SQLite's own verdict on the file ('' when sound): ``PRAGMA quick_check``, which reads
    every page but, unlike ``integrity_check``, does not check that indexes match their tables."""
    return problem_sentence([r[0] for r in conn.execute("PRAGMA quick_check(20)")])


def text_problem(conn: sqlite3.Connection) -> str:
    """Whether the log's few-valued text columns (each event's kind and graph) are text ('' when
    they are): damaged bytes there pass SQLite's quick check, which reads the pages, not the text
    in them, and only fail the read that decodes them, long after a cook appended to the store.
    One pass over the events table, in SQLite (their distinct values alone reach Python): what
    the writer's open runs beside ``quick_check`` when the file changed since a writer left it sound."""
    try:
        conn.execute("SELECT DISTINCT kind, graph FROM events").fetchall()
    except sqlite3.OperationalError as exc:
        problem = damaged_text(exc)
        if problem is None:
            raise
        return problem
    return ""


def problem_sentence(rows: list) -> str:
    """SQLite's check rows as part of one sentence ('' for ``ok``): the first two problems it found
    and how many more, never SQLite's multi-line report."""
    lines = [line.strip() for row in rows for line in str(row).splitlines()]
    lines = [line for line in lines if line and not line.startswith("*** in database")]
    if lines == ["ok"] or not lines:
        return ""
    more = f" (and {len(lines) - 2} more problems)" if len(lines) > 2 else ""
    return "; ".join(lines[:2])[:300] + more


def connect_writer(path: str, display: str, synchronous: str) -> sqlite3.Connection:
    conn = None
    try:
        conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False, timeout=5.0)
        conn.execute("PRAGMA busy_timeout = 5000")
        conn.execute(f"PRAGMA synchronous = {synchronous}")
        return conn
    except sqlite3.DatabaseError as exc:
        if conn is not None:
            conn.close()
        raise StoreRefused.corrupt(display, str(exc)) from None


def create_store(path: str, display: str) -> None:
    """Create an empty store atomically: build it under a temporary name, then link it in place."""
    tmp = f"{path}.creating-{os.getpid()}"
    try:
        conn = sqlite3.connect(tmp, isolation_level=None)
        try:
            # Nobody sees the file before it is complete, fsynced and linked in place: one
            # transaction, and no syncs of SQLite's own until then (each would cost a disk flush).
            conn.execute("PRAGMA synchronous = OFF")
            conn.execute(f"PRAGMA page_size = {PAGE_SIZE}")
            conn.execute("BEGIN")
            conn.execute(f"PRAGMA application_id = {schema.APPLICATION_ID}")
            schema.create_tables(conn)
            conn.executemany(
                "INSERT INTO meta VALUES (?, ?)",
                [("format", "pdgstore"), ("schema", str(schema.SCHEMA_VERSION)), ("created_ns", str(time.time_ns()))],
            )
            conn.execute(f"PRAGMA user_version = {schema.SCHEMA_VERSION}")
            conn.execute("COMMIT")
            conn.execute("PRAGMA journal_mode = WAL")
        finally:
            conn.close()
        fd = os.open(tmp, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
        try:
            os.link(tmp, path)
        except FileExistsError:
            pass  # someone else created it first: theirs is checked like any other
        dir_fd = os.open(os.path.dirname(path), os.O_RDONLY)
        try:
            os.fsync(dir_fd)
        finally:
            os.close(dir_fd)
    except OSError as exc:
        raise StoreIOError(f"cannot create {display}: {exc.strerror}") from None
    except sqlite3.Error as exc:  # a full disk or an I/O error while SQLite builds it
        raise StoreIOError(f"cannot create {display}: {exc}") from None
    finally:
        for leftover in (tmp, tmp + "-wal", tmp + "-shm", tmp + "-journal"):
            try:
                os.unlink(leftover)
            except FileNotFoundError:
                pass
