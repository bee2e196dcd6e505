"""The event log: one SQLite file per project, opened by many readers and at most one writer.

``EventLog.open(path)`` opens a store for reading; ``EventLog.open(path, writer=True, create=True)``
also takes the store's writer lock (an ``flock`` on ``<store>.lock`` holding the writer's pid, which
the kernel releases when the process dies, however it dies) and creates the store if it is missing.

Durability: WAL with ``synchronous=NORMAL`` by default, which keeps every committed batch through a
process crash (SIGKILL); a power loss may lose the last batches but never corrupts the file.
``synchronous="FULL"`` makes each batch survive a power loss too, at the cost of an fsync per batch.
Every append is one ``BEGIN IMMEDIATE`` transaction, so the log holds whole batches only. A write
that fails with an I/O error is raised as ``StoreIOError`` and never retried.
"""

from __future__ import annotations

import os
import sqlite3
import time
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager

from pdgstore import codec, faults, schema, snapshots, sqlitefile, tablefill, tables, writerlock
from pdgstore import prepared as prepared_rows
from pdgstore.errors import StoreBusy, StoreError, StoreIOError, StoreRefused
from pdgstore.events import Event
from pdgstore.inserts import insert_rows
from pdgstore.logreader import COLUMNS, LogReader
from pdgstore.paths import NETWORK_FILESYSTEMS, display_path, filesystem_type
from pdgstore.snapshots import SNAPSHOT_VERSION, pack_snapshot, write_blob
from pdgstore.state import State

#: the page cache of a cook's log appender (``adopt``), in KiB (SQLite's default is 2 MB). An
#: ``items`` row's id and a link's parent are hashes, so each batch of new items lands all over
#: those indexes; with the default cache the appender reads the same pages back from the OS for every
#: batch once a store holds a few hundred thousand items. The cache grows only as pages are read.
APPENDER_CACHE_KIB = 65536
#: a batch of at least this many rows is written with the appender's page cache (then the default
#: again): a cook after 100,000 files were touched appends its restats in one transaction, and with
#: the default cache its inserts into the events' subject index took half as long again
BIG_BATCH_ROWS = 10_000


class EventLog(LogReader):
    """An open store; its reading methods are ``LogReader``'s. Use ``EventLog.open``; close it (or use it as a context manager) when done."""

    def __init__(self, path: str, conn: sqlite3.Connection, lock_fd: int | None, synchronous: str = "NORMAL") -> None:
        self.path = path
        self.display = display_path(path)
        self.conn = conn
        self._lock_fd = lock_fd
        self.synchronous = synchronous
        self.next_seq = 0
        self._adopted = False
        self._in_transaction = False  # inside ``one_transaction``
        self._held: schema.HeldFile | None = None

    # -- opening ---------------------------------------------------------------------------------
    @classmethod
    def open(cls, path: str, *, writer: bool = False, create: bool = False, synchronous: str = "NORMAL") -> EventLog:
        """Open the store at ``path``; a file SQLite calls corrupt (or that is not ours) is refused
        and left exactly as it was: every check runs on a read-only connection, which never writes
        the file, never checkpoints or deletes its -wal, and leaves no -wal/-shm of its own behind."""
        path = os.path.abspath(path)
        display = display_path(path)
        synchronous = synchronous.upper()
        if synchronous not in ("NORMAL", "FULL"):
            raise ValueError(f"synchronous must be NORMAL or FULL, not {synchronous!r}")
        exists = os.path.exists(path)
        # every read of the header goes through the process's shared descriptor of the file (see
        # schema.HeldFile: a descriptor closed here would drop the locks of this process's other
        # connections to it); the log holds it until it closes
        held = schema.HeldFile.hold(path, display) if exists or not create else None
        lock_fd = conn = None
        side_files = sqlitefile.side_files(path)
        try:
            if held is not None:
                schema.check_header(path, display, held)  # refuse a file that is not ours before touching anything
            if writer:
                if create:
                    try:
                        os.makedirs(os.path.dirname(path), exist_ok=True)
                    except OSError as exc:
                        raise StoreIOError(f"cannot create {display}: {exc.strerror}") from None
                lock_fd = writerlock.take_writer_lock(path, display)
            if create and not os.path.exists(path):
                sqlitefile.create_store(path, display)
                side_files = sqlitefile.side_files(path)
            if held is None:
                held = schema.HeldFile.hold(path, display)
            version = schema.check_header(path, display, held)
            mismatch = schema.header_mismatch(path, held)
            conn = sqlitefile.connect_reader(path, display)
            with sqlitefile.read_errors(display):
                fmt = conn.execute("SELECT value FROM meta WHERE key = 'format'").fetchone()
                if not fmt or fmt[0] != "pdgstore":
                    raise StoreRefused(f"{display} is corrupt: its meta table does not name it a pdgstore")
                if mismatch or (writer and not writerlock.left_clean(path, lock_fd)):
                    # ask SQLite, never the header's arithmetic; a writer asks whenever the file may
                    # have changed since a writer last closed it sound (a crash, a hand, a disk)
                    problem = sqlitefile.quick_check(conn) or sqlitefile.text_problem(conn)
                    if problem:
                        raise StoreRefused.corrupt(display, problem)
            if not writer and version < schema.SCHEMA_VERSION:
                conn.close()
                conn = None
                _upgrade(path, display, version, synchronous)  # as its writer, for the migration only
                conn = sqlitefile.connect_reader(path, display)
            if writer:
                fstype = filesystem_type(path)
                if fstype in NETWORK_FILESYSTEMS:
                    raise StoreRefused(
                        f"{display} is on a network file system ({fstype}); SQLite's locking and WAL are "
                        "not safe there: put the store on a local disk with --db"
                    )
                conn.close()
                conn = None
                conn = sqlitefile.connect_writer(path, display, synchronous)
            log = cls(path, conn, lock_fd, synchronous)
            log._held = held
            if writer:
                with log.read_errors():
                    if version < schema.SCHEMA_VERSION:
                        log._migrate(version)
                    log.next_seq = max(log.last_seq(), log.base_seq()) + 1
            held = None  # the log's now: released when it closes
        except BaseException as exc:
            if conn is not None:
                conn.close()
            # a refused file is left as it was: the -wal/-shm this look made go. Never a store in
            # use: a writer that holds the lock (a refused writer's open, a busy store) has its
            # own -wal/-shm open, and unlinking them under it lost what it wrote to other readers
            if isinstance(exc, StoreRefused) and (lock_fd is not None or writerlock.lock_holder(path) is None):
                sqlitefile.remove_side_files(path, side_files)
            if lock_fd is not None:
                os.close(lock_fd)
            if held is not None:
                held.release()
            raise
        return log

    @classmethod
    def adopt(cls, path: str, lock_fd: int, *, synchronous: str = "NORMAL") -> EventLog:
        """Open ``path`` as its writer under the writer lock another process took and handed over
        open (``lock_fd``): the log appender of a cook (``pdgstore.appender``). Closing the log
        closes ``lock_fd``; the lock is free once every process holding it has closed it."""
        display = display_path(path)
        held = schema.HeldFile.hold(path, display)
        try:
            schema.check_header(path, display, held)
            log = cls(path, sqlitefile.connect_writer(path, display, synchronous), lock_fd, synchronous)
        except BaseException:
            held.release()
            raise
        log._held = held
        log.conn.execute(f"PRAGMA cache_size = -{APPENDER_CACHE_KIB}")
        log._adopted = True  # the cook that handed the lock over closes the store last
        return log

    @property
    def lock_fd(self) -> int | None:
        """The open writer lock, for handing over to ``adopt``; None on a store opened for reading."""
        return self._lock_fd

    def close(self) -> None:
        self.conn.close()
        held, self._held = self._held, None
        if held is not None:
            held.release()  # after the connection: the last one out closes the shared descriptor
        if self._lock_fd is not None:
            if not self._adopted:
                writerlock.stamp_clean(self.path, self._lock_fd)
            os.close(self._lock_fd)
            self._lock_fd = None

    def note_stopped(self, why: str) -> None:
        """This writer stops on a write error: note ``why`` where the next writer finds it (the
        writer lock; ``writerlock.note_stopped``)."""
        if self._lock_fd is not None:
            writerlock.note_stopped(self._lock_fd, why)

    def stopped_note(self, pid: int) -> str:
        """Why the cook ``pid`` stopped on a write error it could not record, or ''."""
        return writerlock.stopped_note(self.path, pid, self._lock_fd)

    def forget_stopped(self, pid: int) -> None:
        if self._lock_fd is not None:
            writerlock.forget_stopped(self._lock_fd, pid)

    def __enter__(self) -> EventLog:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    @property
    def is_writer(self) -> bool:
        return self._lock_fd is not None

    def writer_pid(self) -> int | None:
        """The pid of the process holding this store's writer lock, or None when nobody cooks."""
        if self.is_writer:
            return os.getpid()
        return writerlock.lock_holder(self.path)

    # -- writing ---------------------------------------------------------------------------------
    def append(self, events: Iterable[Event]) -> None:
        """Append a batch of events in one transaction; they carry their seq already."""
        self.append_rows([codec.to_row(e) for e in events])

    def append_rows(
        self,
        rows: list[tuple],
        manifest_seq: tuple[str, int] | None = None,
        prepared: Sequence[tuple] = (),
        updated: Sequence[tuple] = (),
        batches: Sequence[tuple] = (),
        manifest: bytes | None = None,
    ) -> None:
        """Append rows already encoded by ``codec.to_row``, in one transaction; ``manifest_seq``
        (graph, seq) also moves that graph's no-op manifest to ``seq`` in the same transaction, and
        ``manifest`` replaces the manifest itself there (a cook after touches refreshed its stats).
        ``prepared``: the ``items`` rows (``prepared.new_item_row``) of new items some of these
        events generate, written as they are instead of folding those events again. ``updated``:
        the rows (``prepared.updated_row``) of items these events change attributes or outputs of,
        as the writer's fold left them (``prepared.write_updated``). ``batches``: the items rows
        of batches of new items (``WorkItemsGenerated``), as columns (``prepared.batch_rows``)."""
        if not self.is_writer:
            raise RuntimeError("append on a store opened for reading")
        if not rows:
            return

        def write(c: sqlite3.Connection) -> None:
            insert_rows(c, f"INSERT INTO events ({COLUMNS})", 7, rows)
            # the queryable state moves with the events, in their transaction
            folding = prepared_rows.write_updated(c, rows, updated) if updated else rows
            if prepared or batches:
                done = prepared_rows.write_prepared(c, prepared) if prepared else set()
                if batches:
                    done |= prepared_rows.write_batches(c, batches)
                tables.fold_rows(c, [r for r in folding if r[0] not in done])
            else:
                tables.fold_rows(c, folding)
            if manifest_seq is not None:
                c.execute(
                    "INSERT OR REPLACE INTO meta VALUES (?, ?)",
                    (f"manifest_seq:{manifest_seq[0]}", str(manifest_seq[1])),
                )
                if manifest is not None:
                    c.execute("INSERT OR REPLACE INTO meta VALUES (?, ?)", (f"manifest:{manifest_seq[0]}", manifest))

        if len(rows) < BIG_BATCH_ROWS or self._adopted or self._in_transaction:
            self._write(write)
            return
        with self._big_cache():
            self._write(write)

    @contextmanager
    def _big_cache(self) -> Iterator[None]:
        """The appender's page cache for a big write, then the default again."""
        default = self.conn.execute("PRAGMA cache_size").fetchone()[0]
        self.conn.execute(f"PRAGMA cache_size = -{APPENDER_CACHE_KIB}")
        try:
            yield
        finally:
            self.conn.execute(f"PRAGMA cache_size = {default}")

    def save_manifest(self, graph: str, seq: int, blob) -> None:
        """Store ``graph``'s no-op manifest (``engine.incremental.manifest``), valid while the log ends at ``seq``."""
        self._write(
            lambda c: c.executemany(
                "INSERT OR REPLACE INTO meta VALUES (?, ?)",
                [(f"manifest:{graph}", bytes(blob)), (f"manifest_seq:{graph}", str(seq))],
            ),
            "manifest",
        )

    def save_snapshot(self, state: State, keep: int = 2) -> None:
        """Store ``state`` as the snapshot at ``state.seq`` (``pack_snapshot``, ``write_snapshot``)."""
        self.write_snapshot(state.seq, pack_snapshot(state), keep)

    def write_snapshot(self, seq: int, blob, keep: int = 2) -> None:
        """Store ``blob`` (``pack_snapshot`` of the state at ``seq``) as the snapshot at ``seq``.

        The ``keep`` newest snapshots stay; older ones are thinned to one per ``snapshots.SNAPSHOT_SPACING``
        events (time travel starts from them), and the compaction base is never dropped."""
        base = self.base_seq()

        def write(c: sqlite3.Connection) -> None:
            write_blob(
                c,
                "snapshots",
                "state",
                seq,
                blob,
                "INSERT OR REPLACE INTO snapshots (seq, time_ns, v, state) VALUES (?, ?, ?, zeroblob(?))",
                (seq, time.time_ns(), SNAPSHOT_VERSION, len(blob)),
            )
            seqs = [r[0] for r in c.execute("SELECT seq FROM snapshots ORDER BY seq")]
            kept = snapshots.kept_snapshots(seqs, keep, base)
            c.executemany("DELETE FROM snapshots WHERE seq = ?", [(seq_,) for seq_ in seqs if seq_ not in kept])

        self._write(write, "snapshot")

    def checkpoint(self) -> None:
        """Copy what the WAL holds into the database file, as far as readers allow (a PASSIVE
        checkpoint: it waits for nobody)."""
        faults.point("checkpoint")
        with self.read_errors():
            self.conn.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchall()

    def write(self, body) -> None:
        """Run ``body(connection)`` in one write transaction (BEGIN IMMEDIATE ... COMMIT): for the
        store's own maintenance (``pdgstore.compact``), never for appending events."""
        if not self.is_writer:
            raise RuntimeError("write on a store opened for reading")
        self._write(body, "compaction")

    @contextmanager
    def one_transaction(self) -> Iterator[None]:
        """Every append inside the block in one write transaction: all of them are in the log, or
        none. For a command that writes many batches as one change (``pdg dirty``/``pdg accept``
        of a node of a million items, its items read and recorded a chunk at a time)."""
        if not self.is_writer:
            raise RuntimeError("write on a store opened for reading")
        with self._big_cache(), self._transaction("batch"):  # a big change: the appender's cache
            self._in_transaction = True
            try:
                yield
            finally:
                self._in_transaction = False

    def _write(self, body, what: str = "batch") -> None:
        if self._in_transaction:  # inside ``one_transaction``: it commits, or rolls all of it back
            body(self.conn)
            return
        with self._transaction(what):
            body(self.conn)

    @contextmanager
    def _transaction(self, what: str) -> Iterator[None]:
        conn = self.conn
        try:
            conn.execute("BEGIN IMMEDIATE")
            try:
                yield
                faults.point(what)  # the crash campaign's kill point (tests/crash): nothing when unset
                conn.execute("COMMIT")
            except BaseException:
                # SQLite may have rolled back already (a full disk, an I/O error), or not: a COMMIT
                # that failed leaves the transaction open, and the next BEGIN on this connection (the
                # cook recording why it stopped) would fail with "cannot start a transaction within
                # a transaction" instead of this error's sentence
                if conn.in_transaction:
                    try:
                        conn.execute("ROLLBACK")
                    except sqlite3.Error:
                        pass  # the error that matters is the one being raised
                raise
        except sqlite3.OperationalError as exc:
            damaged = sqlitefile.damaged_text(exc)  # a row the batch's fold read: corrupt, not a failed write
            if damaged:
                raise StoreRefused.corrupt(self.display, damaged) from None
            if "readonly" in str(exc):  # a read-only file or mount: stays so until the user changes it
                raise StoreRefused(f"{self.display} is read-only ({exc}): nothing was written") from None
            raise StoreIOError(
                f"writing to {self.display} failed: {exc}; nothing of it was written (not retried)"
            ) from None
        except sqlite3.IntegrityError as exc:
            raise StoreError(
                f"appending to {self.display} was refused ({exc}): did another process write to it? "
                "Nothing of this batch was written"
            ) from None
        except sqlite3.DatabaseError as exc:
            raise StoreRefused(f"{self.display} is corrupt: {exc}") from None

    def _migrate(self, version: int) -> None:
        """Bring a store of schema ``version`` to the current one, in place and in one transaction
        (a crash leaves the old store whole): each version's statements, then, when a version that
        adds projection tables is passed, their filling by a fold of the log (``tablefill.rebuild``,
        streamed), else each version's conversion of the rows in place (``schema.CONVERTS``)."""
        base = self.base_seq()
        if base and not self.has_snapshot(base):
            raise StoreRefused(f"{self.display} is corrupt: its compaction base snapshot at seq {base} is missing")

        def write(c: sqlite3.Connection) -> None:
            passed = range(version + 1, schema.SCHEMA_VERSION + 1)
            for v in passed:
                for statement in schema.MIGRATIONS[v]:
                    c.execute(statement)
            if schema.FILLS.intersection(passed):  # the fold writes the tables as this schema has them
                tablefill.clear(c)
                tablefill.rebuild(c, c, base)
            else:
                for v in passed:
                    if v in schema.CONVERTS:
                        schema.CONVERTS[v](c)
            for v in passed:
                c.execute("INSERT OR REPLACE INTO meta VALUES ('schema', ?)", (str(v),))
                c.execute("INSERT OR REPLACE INTO meta VALUES (?, ?)", (f"migrated:{v}", str(time.time_ns())))
            c.execute(f"PRAGMA user_version = {schema.SCHEMA_VERSION}")

        self._write(write, "migration")


def _upgrade(path: str, display: str, version: int, synchronous: str) -> None:
    """Upgrade an older store that a reader opened: as its writer, for as long as the migration
    takes. Refused, with how to go on, while a cook holds the store or when it cannot be written."""
    try:
        EventLog.open(path, writer=True, synchronous=synchronous).close()  # migrates as it opens
    except (StoreBusy, StoreIOError) as exc:
        raise StoreRefused(
            f"{display} was written by an older pdgstore (schema {version}) and must be upgraded in place "
            f"(schema {schema.SCHEMA_VERSION}) before it can be read, which needs write access and no "
            f"cook running: {exc}"
        ) from None
