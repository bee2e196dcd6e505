"""The on-disk format of a pdgstore database, checked before SQLite is ever asked to open it.

A store is one SQLite file (WAL mode) whose header carries our identity:

- ``PRAGMA application_id`` = 0x50444753 ("PDGS"), header bytes 68..71;
- ``PRAGMA user_version`` = the schema version, header bytes 60..63.

Tables (schema version 1)::

    meta(key TEXT PRIMARY KEY, value TEXT)
        format = "pdgstore", schema = "1", created_ns = "<int>"
        base_seq = "<int>"                 -- after pdg compact: the events up to it are folded away
        manifest:<graph> = <zlib of msgpack> -- derived, like a snapshot: the no-op manifest
        manifest_seq:<graph> = "<int>"     -- (engine.incremental.manifest), valid while the log ends there
    events(seq INTEGER PRIMARY KEY,         -- log order, assigned by the single writer
           time_ns INTEGER NOT NULL,        -- wall clock when the event was made
           cook_id INTEGER NOT NULL,        -- the cook it belongs to (0: none)
           graph TEXT NOT NULL,             -- the graph's name
           kind TEXT NOT NULL,              -- the event's declared kind (pdgstore.events)
           subject TEXT NOT NULL,           -- item id, node name or graph name
           payload BLOB NOT NULL)           -- msgpack map of the kind's fields plus "v"
        indexes: events_cook(cook_id), events_subject(subject)
    snapshots(seq INTEGER PRIMARY KEY,      -- the state is that of the log up to this seq
              time_ns INTEGER NOT NULL,
              v INTEGER NOT NULL,           -- snapshot format version (others are ignored)
              state BLOB NOT NULL)          -- msgpack of State.to_plain()

Schema 2 adds the projection tables of ``pdgstore.tables`` (the current state, queryable, kept in
the transaction of the events that change them) and the partial index ``events_global``; the
migration from 1 creates them and fills them by folding the log (``MIGRATIONS``, ``tablefill.rebuild``).

Schema 3 adds ``lists`` (``pdgstore.itemlists``): an item's list of 64 entries or more (a
partition's parents and outputs, a gather's inputs) in chunks of its own, the item's row holding
its length. The migration from 2 creates the table and moves such lists out of the rows
(``CONVERTS``: ``itemlists.move_long_lists``); from 1, the fold fills every table at once.

Schema 4 adds ``files`` (``pdgstore.fileindex``): the paths of each item's outputs, indexed by path,
so the items holding a changed file are looked up, not searched for. The migration from 3 creates
the table and fills it from the items' rows (``fileindex.fill``).

Schema 5 adds the index ``items_place`` (``pdgstore.itemorder``): a node's items in work item order,
so ``pdg items`` lists them so after recooks, streamed. The migration from 4 creates the index.

Payloads per kind are documented on the classes in ``pdgstore.events``. A file that is not SQLite,
is SQLite of another application or carries a newer schema is refused by ``check_header`` without
being opened for writing. Whether a file of ours is corrupt only SQLite can tell (``pdgstore.log``
asks it); the header's page count is not evidence on its own (``header_mismatch``).
"""

from __future__ import annotations

import os
import sqlite3
import struct
import threading

from pdgstore import fileindex, itemlists, itemorder, tables
from pdgstore.errors import StoreMissing, StoreRefused

APPLICATION_ID = 0x50444753
SCHEMA_VERSION = 5
SQLITE_MAGIC = b"SQLite format 3\x00"

#: The tables and indexes (above), as SQL: what ``create_tables`` runs and
#: ``schema_problem`` compares a store with.
TABLES_SQL = (
    """
CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE events (seq INTEGER PRIMARY KEY, time_ns INTEGER NOT NULL, cook_id INTEGER NOT NULL,
                     graph TEXT NOT NULL, kind TEXT NOT NULL, subject TEXT NOT NULL, payload BLOB NOT NULL);
CREATE INDEX events_cook ON events (cook_id);
CREATE INDEX events_subject ON events (subject);
CREATE TABLE snapshots (seq INTEGER PRIMARY KEY, time_ns INTEGER NOT NULL, v INTEGER NOT NULL,
                        state BLOB NOT NULL);
"""
    + tables.TABLES_SQL
)


def create_tables(conn: sqlite3.Connection) -> None:
    """Create the tables and indexes of the current schema in an empty database.

    Plain SQL, not sqlite-utils: every cold ``pdg cook`` creates a store, and importing sqlite-utils
    would be a visible part of its start-up for nothing. sqlite-utils reads the schema back
    in ``schema_problem``, which only ``pdg check`` runs."""
    for statement in TABLES_SQL.split(";"):
        if statement.strip():
            conn.execute(statement)


def schema_problem(conn: sqlite3.Connection) -> str | None:
    """How the store's tables and indexes differ from ``TABLES_SQL`` (a table, column, primary key
    or index missing, changed or added), or None. ``pdg check`` asks, after SQLite's own check: a
    store whose file is sound can still have lost an index or gained a column."""
    import sqlite_utils
    from sqlite_utils.db import Table

    expected = sqlite_utils.Database(memory=True)
    create_tables(expected.conn)
    actual = sqlite_utils.Database(conn)
    have = set(actual.table_names())
    for name in expected.table_names():
        if name not in have:
            return f"table {name} is missing"
        want, got = expected[name], actual[name]
        wanted, found = _columns(want), _columns(got)
        for column, declared in wanted.items():
            if column not in found:
                return f"column {name}.{column} is missing"
            if found[column] != declared:
                return f"column {name}.{column} is {found[column]}, not {declared}"
        for column in found.keys() - wanted.keys():
            return f"column {name}.{column} is not in schema {SCHEMA_VERSION}"
        assert isinstance(got, Table) and isinstance(want, Table)  # names come from table_names()
        if got.pks != want.pks:
            return f"table {name} has primary key ({', '.join(got.pks)}), not ({', '.join(want.pks)})"
        have_indexes = {i.name: i.columns for i in got.indexes}
        for index in want.indexes:
            if not index.name.startswith("sqlite_autoindex") and have_indexes.get(index.name) != index.columns:
                columns = ", ".join(c or "(expression)" for c in index.columns)  # an index on an expression
                return f"index {index.name} on {name}({columns}) is missing or changed"
    return None


def _columns(table) -> dict[str, str]:
    return {c.name: f"{c.type or 'untyped'}{' NOT NULL' if c.notnull else ''}" for c in table.columns}


#: schema version -> statements that bring a store from the previous version to it (``EventLog``
#: runs those of every version it passes, in one transaction, then fills or converts: ``FILLS``,
#: ``CONVERTS``).
MIGRATIONS: dict[int, tuple[str, ...]] = {
    2: tuple(tables.statements(tables.SCHEMA_2_SQL)),
    3: tuple(tables.statements(itemlists.LISTS_SQL)),
    4: tuple(tables.statements(fileindex.FILES_SQL)),
    5: tuple(tables.statements(itemorder.PLACE_SQL)),
}
#: schema versions whose new tables are filled by folding the log (``tablefill.rebuild``) as they
#: are made; the fold writes every table of the current schema, so no conversion runs after it
FILLS = frozenset({2})
#: schema version -> how the rows of the version before it are brought to it in place
CONVERTS = {3: itemlists.move_long_lists, 4: fileindex.fill}


class HeldFile:
    """A read-only descriptor of a store file, shared by every ``EventLog`` of this process open on
    it and closed when the last of them closes.

    The header is read through it, never through a descriptor opened and closed for the purpose:
    closing any descriptor of a file drops every POSIX lock this process holds on it, SQLite's
    included. A process with two connections to a store (``pdg serve``: its follower and the web
    view's readers) would lose its shared lock each time it opened another; a writer elsewhere
    closing then thinks it is the last connection, checkpoints and deletes the WAL and its index
    under the live readers, which see no commit again."""

    _held: dict[tuple[int, int], HeldFile] = {}
    _lock = threading.Lock()

    def __init__(self, fd: int, key: tuple[int, int]) -> None:
        self.fd = fd
        self.key = key
        self.users = 0

    @classmethod
    def hold(cls, path: str, display: str) -> HeldFile:
        """The shared descriptor of ``path`` (opened the first time), with one more user."""
        try:
            st = os.stat(path)
            with cls._lock:
                held = cls._held.get((st.st_dev, st.st_ino))
                if held is not None:
                    held.users += 1
                    return held
                fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
                fst = os.fstat(fd)
                key = (fst.st_dev, fst.st_ino)
                held = cls._held.get(key)
                if held is None:
                    held = cls._held[key] = cls(fd, key)
                # else: replaced and reopened by another thread in between; this descriptor must
                # stay open all the same (closing it would drop the locks), so it is let go of
                held.users += 1
                return held
        except FileNotFoundError:
            raise StoreMissing(f"no pdgstore database at {display}") from None
        except OSError as exc:
            raise StoreRefused(f"cannot read {display}: {exc.strerror}") from None

    def release(self) -> None:
        """One user fewer; the last one closes the descriptor (after its connection closed)."""
        with self._lock:
            self.users -= 1
            if self.users <= 0 and self._held.get(self.key) is self:
                del self._held[self.key]
                os.close(self.fd)

    def header(self) -> tuple[bytes, int]:
        """The file's first 100 bytes and its length."""
        return os.pread(self.fd, 100, 0), os.fstat(self.fd).st_size


def _read_header(path: str, display: str, held: HeldFile | None) -> tuple[bytes, int]:
    if held is not None:
        return held.header()
    try:
        with open(path, "rb") as f:
            return f.read(100), os.fstat(f.fileno()).st_size
    except FileNotFoundError:
        raise StoreMissing(f"no pdgstore database at {display}") from None
    except OSError as exc:
        raise StoreRefused(f"cannot read {display}: {exc.strerror}") from None


def check_header(path: str, display: str, held: HeldFile | None = None) -> int:
    """Read the SQLite header of ``path`` (through ``held`` when a connection may be open on it)
    and return its schema version, or refuse the file."""
    header, size = _read_header(path, display, held)
    if size == 0:
        raise StoreRefused(f"{display} is empty (0 bytes), not a pdgstore database; it was left untouched")
    if len(header) < 100 or not header.startswith(SQLITE_MAGIC):
        raise StoreRefused(f"{display} is not a pdgstore database (it is not an SQLite file); it was left untouched")
    (app_id,) = struct.unpack(">I", header[68:72])
    if app_id != APPLICATION_ID:
        raise StoreRefused(
            f"{display} is not a pdgstore database (an SQLite file of another application); it was left untouched"
        )
    (version,) = struct.unpack(">I", header[60:64])
    if version > SCHEMA_VERSION:
        raise StoreRefused(
            f"{display} was written by a newer pdgstore (schema {version}; this one reads up to {SCHEMA_VERSION});"
            " upgrade pdgstore to use it"
        )
    if version == 0:
        raise StoreRefused.corrupt(display, "its header carries no schema version")
    (page_size,) = struct.unpack(">H", header[16:18])
    page_size = 65536 if page_size == 1 else page_size
    if page_size < 512 or page_size & (page_size - 1):
        raise StoreRefused.corrupt(display, f"its header names a page size of {page_size}")
    return version


def header_mismatch(path: str, held: HeldFile | None = None) -> str:
    """Where the file's length disagrees with its header's page count ('' when it does not).

    Never a verdict by itself: in WAL mode the header's page count runs ahead of the file while a
    checkpoint is copying pages in (a kill, a full disk or a file-size limit can stop it there), and
    the WAL still holds every page. A mismatch only means SQLite is asked (``PRAGMA quick_check``)."""
    try:
        header, size = _read_header(path, path, held)
    except (OSError, StoreMissing, StoreRefused):
        return ""
    (page_size,) = struct.unpack(">H", header[16:18])
    page_size = 65536 if page_size == 1 else page_size
    (pages,) = struct.unpack(">I", header[28:32])
    if size % page_size or size < pages * page_size:
        return f"it is {size} bytes long, its header says {pages} pages of {page_size}"
    return ""
