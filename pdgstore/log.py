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

import fcntl
import os
import sqlite3
import time
import urllib.parse
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager

import msgpack

from pdgstore import codec, faults, schema, tables
from pdgstore.errors import HistoryCompacted, StoreBusy, StoreError, StoreIOError, StoreRefused
from pdgstore.events import Event
from pdgstore.pdgevents import PdgEvent, replay_events
from pdgstore.projection import replay_rows
from pdgstore.state import State, paused_gc

SNAPSHOT_VERSION = 2  # 2: items carry signature and reason; transfers
#: older snapshots are thinned to at most one per this many events, so the state at any point of a
#: long log is one snapshot plus at most this many events of replay away (``state_at``)
SNAPSHOT_SPACING = 100_000
NETWORK_FILESYSTEMS = {"nfs", "nfs4", "cifs", "smb3", "smbfs", "fuse.sshfs", "afs", "9p", "lustre", "glusterfs"}
_COLUMNS = "seq, time_ns, cook_id, graph, kind, subject, payload"
#: the page size of new stores. 8 KiB rather than SQLite's 4 KiB: a snapshot is one large blob, which
#: larger pages write in fewer, fuller pages (a smaller file, a faster snapshot), and appending small
#: events is no slower (benchmarks/test_bench_cold.py measures both)
PAGE_SIZE = 8192
#: how long a writer waits for the lock of a cook whose process is gone: its log appender
#: (``pdgstore.appender``) holds the lock until it has committed the batches it was sent
LOCK_WAIT_S = 30.0


def display_path(path: str) -> str:
    """``path`` as a person standing in the current directory would write it."""
    try:
        rel = os.path.relpath(path)
    except ValueError:
        return path
    return rel if not rel.startswith("../../..") else os.path.abspath(path)


def filesystem_type(path: str) -> str:
    """The type of the file system holding ``path`` (Linux; '' where it cannot be told)."""
    try:
        with open("/proc/mounts") as f:
            mounts = [line.split()[1:3] for line in f]
    except OSError:
        return ""
    real = os.path.realpath(path)
    best, kind = "", ""
    for mount_point, fstype in mounts:
        mount_point = mount_point.replace("\\040", " ")
        if (real == mount_point or real.startswith(mount_point.rstrip("/") + "/")) and len(mount_point) > len(best):
            best, kind = mount_point, fstype
    return kind


class EventLog:
    """An open store. Use ``EventLog.open``; close it (or use it as a context manager) when done."""

    def __init__(self, path: str, conn: sqlite3.Connection, lock_fd: int | None, synchronous: str = "NORMAL") -> None:
        self.path = path
        self.display = display_path(path)
        self.conn = conn
        self._lock_fd = lock_fd
        self.synchronous = synchronous
        self.next_seq = 0
        self._adopted = False

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
        if exists or not create:
            schema.check_header(path, display)  # refuse a file that is not ours before touching anything
        lock_fd = conn = None
        side_files = _side_files(path)
        try:
            if writer:
                if create:
                    try:
                        os.makedirs(os.path.dirname(path), exist_ok=True)
                    except OSError as exc:
                        raise StoreIOError(f"cannot create {display}: {exc.strerror}") from None
                lock_fd = _take_writer_lock(path, display)
            if create and not os.path.exists(path):
                _create(path, display)
                side_files = _side_files(path)
            version = schema.check_header(path, display)
            # read before SQLite opens the file: closing any descriptor of a file drops every POSIX
            # lock this process holds on it, SQLite's own included (a WAL reader's would let a
            # closing writer checkpoint and reset the WAL under its snapshot: "malformed")
            mismatch = schema.header_mismatch(path)
            conn = _connect_reader(path, display)
            with _read_errors(display):
                fmt = conn.execute("SELECT value FROM meta WHERE key = 'format'").fetchone()
                if not fmt or fmt[0] != "pdgstore":
                    raise StoreRefused(f"{display} is corrupt: its meta table does not name it a pdgstore")
                if mismatch or (writer and not _left_clean(path, lock_fd)):
                    # ask SQLite, never the header's arithmetic; a writer asks whenever the file may
                    # have changed since a writer last closed it sound (a crash, a hand, a disk)
                    problem = _quick_check(conn)
                    if problem:
                        raise StoreRefused(f"{display} is corrupt: {problem}; it was left untouched")
            if not writer and version < schema.SCHEMA_VERSION:
                conn.close()
                conn = None
                _upgrade(path, display, version, synchronous)  # as its writer, for the migration only
                conn = _connect_reader(path, display)
            if writer:
                fstype = filesystem_type(path)
                if fstype in NETWORK_FILESYSTEMS:
                    raise StoreRefused(
                        f"{display} is on a network file system ({fstype}); SQLite's locking and WAL are "
                        "not safe there: put the store on a local disk with --db"
                    )
                conn.close()
                conn = None
                conn = _connect(path, display, synchronous)
            log = cls(path, conn, lock_fd, synchronous)
            if writer:
                with log._errors():
                    if version < schema.SCHEMA_VERSION:
                        log._migrate(version)
                    log.next_seq = max(log.last_seq(), log.base_seq()) + 1
        except BaseException:
            if conn is not None:
                conn.close()
            _remove_side_files(path, side_files)
            if lock_fd is not None:
                os.close(lock_fd)
            raise
        return log

    @classmethod
    def adopt(cls, path: str, lock_fd: int, *, synchronous: str = "NORMAL") -> EventLog:
        """Open ``path`` as its writer under the writer lock another process took and handed over
        open (``lock_fd``): the log appender of a cook (``pdgstore.appender``). Closing the log
        closes ``lock_fd``; the lock is free once every process holding it has closed it."""
        display = display_path(path)
        schema.check_header(path, display)
        log = cls(path, _connect(path, display, synchronous), lock_fd, synchronous)
        log._adopted = True  # the cook that handed the lock over closes the store last
        return log

    @property
    def lock_fd(self) -> int | None:
        """The open writer lock, for handing over to ``adopt``; None on a store opened for reading."""
        return self._lock_fd

    def close(self) -> None:
        self.conn.close()
        if self._lock_fd is not None:
            if not self._adopted:
                _stamp_clean(self.path, self._lock_fd)
            os.close(self._lock_fd)
            self._lock_fd = None

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
        return _lock_holder(self.path)

    # -- writing ---------------------------------------------------------------------------------
    def append(self, events: Iterable[Event]) -> None:
        """Append a batch of events in one transaction; they carry their seq already."""
        self.append_rows([codec.to_row(e) for e in events])

    def append_rows(
        self, rows: list[tuple], manifest_seq: tuple[str, int] | None = None, prepared: Sequence[tuple] = ()
    ) -> None:
        """Append rows already encoded by ``codec.to_row``, in one transaction; ``manifest_seq``
        (graph, seq) also moves that graph's no-op manifest to ``seq`` in the same transaction.
        ``prepared``: the ``items`` rows (``tables.new_item_row``) of new items some of these
        events generate, written as they are instead of folding those events again."""
        if not self.is_writer:
            raise RuntimeError("append on a store opened for reading")
        if not rows:
            return

        def write(c: sqlite3.Connection) -> None:
            c.executemany(f"INSERT INTO events ({_COLUMNS}) VALUES (?,?,?,?,?,?,?)", rows)
            # the queryable state moves with the events, in their transaction
            if prepared:
                done = tables.write_prepared(c, prepared)
                tables.fold_rows(c, [r for r in rows if r[0] not in done])
            else:
                tables.fold_rows(c, rows)
            if manifest_seq is not None:
                c.execute(
                    "INSERT OR REPLACE INTO meta VALUES (?, ?)",
                    (f"manifest_seq:{manifest_seq[0]}", str(manifest_seq[1])),
                )

        self._write(write)

    def save_manifest(self, graph: str, seq: int, blob) -> None:
        """Store ``graph``'s no-op manifest (``engine.incremental.manifest``), valid while the log ends at ``seq``."""
        self._write(
            lambda c: c.executemany(
                "INSERT OR REPLACE INTO meta VALUES (?, ?)",
                [(f"manifest:{graph}", bytes(blob)), (f"manifest_seq:{graph}", str(seq))],
            ),
            "manifest",
        )

    def manifest(self, graph: str) -> tuple[int, bytes] | None:
        """(seq, blob) of ``graph``'s no-op manifest, or None."""
        with self._errors():
            rows = dict(
                self.conn.execute(
                    "SELECT key, value FROM meta WHERE key IN (?, ?)", (f"manifest:{graph}", f"manifest_seq:{graph}")
                ).fetchall()
            )
        blob, seq = rows.get(f"manifest:{graph}"), rows.get(f"manifest_seq:{graph}")
        if not isinstance(blob, bytes) or seq is None:
            return None
        return int(seq), blob

    def save_snapshot(self, state: State, keep: int = 2) -> None:
        """Store ``state`` as the snapshot at ``state.seq`` (``pack_snapshot``, ``write_snapshot``)."""
        self.write_snapshot(state.seq, pack_snapshot(state), keep)

    def write_snapshot(self, seq: int, blob, keep: int = 2) -> None:
        """Store ``blob`` (``pack_snapshot`` of the state at ``seq``) as the snapshot at ``seq``.

        The ``keep`` newest snapshots stay; older ones are thinned to one per ``SNAPSHOT_SPACING``
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
            kept = set(seqs[-keep:]) | {base}
            last = None
            for seq_ in seqs:
                if last is None or seq_ - last >= SNAPSHOT_SPACING:
                    kept.add(seq_)
                    last = seq_
            c.executemany("DELETE FROM snapshots WHERE seq = ?", [(seq_,) for seq_ in seqs if seq_ not in kept])

        self._write(write, "snapshot")

    def checkpoint(self) -> None:
        """Copy what the WAL holds into the database file, as far as readers allow (a PASSIVE
        checkpoint: it waits for nobody)."""
        faults.point("checkpoint")
        with self._errors():
            self.conn.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchall()

    def write(self, body) -> None:
        """Run ``body(connection)`` in one write transaction (BEGIN IMMEDIATE ... COMMIT): for the
        store's own maintenance (``pdgstore.compact``), never for appending events."""
        if not self.is_writer:
            raise RuntimeError("write on a store opened for reading")
        self._write(body, "compaction")

    def _write(self, body, what: str = "batch") -> None:
        conn = self.conn
        try:
            conn.execute("BEGIN IMMEDIATE")
            try:
                body(conn)
                faults.point(what)  # the crash campaign's kill point (tests/crash): nothing when unset
            except BaseException:
                if conn.in_transaction:  # SQLite may have rolled back already (a full disk, an I/O error)
                    try:
                        conn.execute("ROLLBACK")
                    except sqlite3.Error:
                        pass  # the error that matters is the one being raised
                raise
            conn.execute("COMMIT")
        except sqlite3.OperationalError as exc:
            raise StoreIOError(f"writing to {self.display} failed: {exc}; the cook stops here (not retried)") from None
        except sqlite3.IntegrityError as exc:
            raise StoreError(
                f"appending to {self.display} was refused ({exc}): did another process write to it? "
                "Nothing of this batch was written"
            ) from None
        except sqlite3.DatabaseError as exc:
            raise StoreRefused(f"{self.display} is corrupt: {exc}") from None

    def _migrate(self, version: int) -> None:
        """Bring a store of schema ``version`` to the current one, in place and in one transaction
        (a crash leaves the old store whole): each version's statements, then, for a version that
        adds projection tables, their filling by a fold of the log (``tables.rebuild``, streamed)."""
        base = self.base_seq()
        start = self.snapshot(base) if base else None
        if base and (start is None or start.seq != base):
            raise StoreRefused(f"{self.display} is corrupt: its compaction base snapshot at seq {base} is missing")

        def write(c: sqlite3.Connection) -> None:
            for v in range(version + 1, schema.SCHEMA_VERSION + 1):
                for statement in schema.MIGRATIONS[v]:
                    c.execute(statement)
                if v in schema.FILLS:
                    tables.clear(c)
                    tables.rebuild(c, c, start)
                c.execute("INSERT OR REPLACE INTO meta VALUES ('schema', ?)", (str(v),))
                c.execute("INSERT OR REPLACE INTO meta VALUES (?, ?)", (f"migrated:{v}", str(time.time_ns())))
            c.execute(f"PRAGMA user_version = {schema.SCHEMA_VERSION}")

        self._write(write, "migration")

    # -- reading ---------------------------------------------------------------------------------
    def _errors(self):
        """Turn SQLite's errors while reading, and stored bytes that cannot be decoded, into
        sentences naming the store."""
        return _read_errors(self.display)

    @contextmanager
    def one_reading(self) -> Iterator[None]:
        """Every read inside sees the log as it was at the first one (one read transaction), however
        much a cook appends meanwhile: ``pdg check`` compares two readings of the same log."""
        self.conn.execute("BEGIN")
        try:
            yield
        finally:
            self.conn.execute("COMMIT")

    def events(
        self,
        after: int = 0,
        *,
        cook_id: int | None = None,
        subject: str | None = None,
        kind: str | None = None,
        until: int | None = None,
        skip_kind: str | None = None,
    ) -> Iterator[Event]:
        """Decoded events in seq order, filtered by cook, subject or kind (``skip_kind``: all but
        that kind, left undecoded)."""
        filters = (
            ("seq > ?", after),
            ("seq <= ?", until),
            ("cook_id = ?", cook_id),
            ("subject = ?", subject),
            ("kind = ?", kind),
            ("kind != ?", skip_kind),
        )
        where = [clause for clause, value in filters if value is not None]
        args = [value for _, value in filters if value is not None]
        sql = f"SELECT {_COLUMNS} FROM events WHERE {' AND '.join(where)} ORDER BY seq"
        with self._errors():
            yield from codec.from_rows(self.conn.execute(sql, args))

    def first_seq_of(self, subject: str, *, cook_id: int | None = None, kind: str | None = None) -> int | None:
        """The seq of the first event about ``subject`` (of that cook, of that kind), its payload
        left unread; None when there is none."""
        # through the subject index: "+" keeps SQLite from scanning the cook's index instead
        sql = "SELECT min(seq) FROM events WHERE subject = ?"
        args: list[object] = [subject]
        if cook_id is not None:
            sql, args = sql + " AND +cook_id = ?", [*args, cook_id]
        if kind is not None:
            sql, args = sql + " AND +kind = ?", [*args, kind]
        with self._errors():
            return self.conn.execute(sql, args).fetchone()[0]

    def subjects_since(self, seq: int) -> list[tuple[str, str]]:
        """(kind, subject) of every event after ``seq``, payloads left undecoded: which items a
        cook touched, in O(its events) whatever the size of what it carried."""
        with self._errors():
            return self.conn.execute("SELECT kind, subject FROM events WHERE seq > ? ORDER BY seq", (seq,)).fetchall()

    def subjects_after(self, seq: int, limit: int) -> list[tuple[int, str, str]]:
        """(seq, kind, subject) of the first ``limit`` events after ``seq``, payloads left undecoded:
        which items changed since a reader last looked (the web view's recolouring)."""
        with self._errors():
            sql = "SELECT seq, kind, subject FROM events WHERE seq > ? ORDER BY seq LIMIT ?"
            return self.conn.execute(sql, (seq, limit)).fetchall()

    def cook_spans(self) -> dict[int, tuple[int, int]]:
        """cook id -> (first seq, last seq) of its events still in the log (one pass over an index)."""
        with self._errors():
            rows = self.conn.execute(
                "SELECT cook_id, min(seq), max(seq) FROM events WHERE cook_id > 0 GROUP BY cook_id"
            )
            return {cook_id: (first, last) for cook_id, first, last in rows}

    def cook_span(self, cook_id: int) -> tuple[int, int] | None:
        """(first seq, last seq) of one cook's events still in the log, or None."""
        with self._errors():
            first, last = self.conn.execute(
                "SELECT min(seq), max(seq) FROM events WHERE cook_id = ?", (cook_id,)
            ).fetchone()
        return None if first is None else (first, last)

    def last_seq(self) -> int:
        with self._errors():
            return self.conn.execute("SELECT max(seq) FROM events").fetchone()[0] or 0

    def snapshot(self, at: int | None = None) -> State | None:
        """The newest readable snapshot (at or before seq ``at`` when given), or None."""
        with self._errors():
            row = self.conn.execute(
                "SELECT state FROM snapshots WHERE v = ? AND seq <= ? ORDER BY seq DESC LIMIT 1",
                (SNAPSHOT_VERSION, at if at is not None else 1 << 62),
            ).fetchone()
        if row is None:
            return None
        with paused_gc(), self._errors():
            return State.from_plain(msgpack.unpackb(row[0], raw=False, strict_map_key=False))

    def snapshot_due(self, every: int, last_seq: int | None = None) -> bool:
        """Whether a new snapshot should be written: there is none, or ``every`` events followed the
        newest, or the events after it weigh more than it does (then loading state from a fresh
        snapshot reads at most half as much). ``last_seq``: where the log ends, when the caller
        knows better than the file (a cook whose appender is still writing its last batch; the
        weight of that batch is then left out, which can only put a snapshot off by a cook)."""
        with self._errors():
            row = self.conn.execute(
                "SELECT seq, length(state) FROM snapshots WHERE v = ? ORDER BY seq DESC LIMIT 1", (SNAPSHOT_VERSION,)
            ).fetchone()
            if row is None:
                return True
            seq, size = row
            if (self.last_seq() if last_seq is None else last_seq) - seq >= every:
                return True
            tail = self.conn.execute(
                "SELECT coalesce(sum(length(payload)), 0) FROM events WHERE seq > ?", (seq,)
            ).fetchone()[0]
        return tail > size

    def base_seq(self) -> int:
        """Where the log's events begin: 0, or the seq up to which ``pdg compact`` folded the
        history into the base snapshot (the events up to it are gone)."""
        with self._errors():
            row = self.conn.execute("SELECT value FROM meta WHERE key = 'base_seq'").fetchone()
        return int(row[0]) if row else 0

    def first_seq(self) -> int:
        """The first event's seq (0 when there are none)."""
        with self._errors():
            return self.conn.execute("SELECT min(seq) FROM events").fetchone()[0] or 0

    def snapshot_seq(self) -> int:
        with self._errors():
            row = self.conn.execute("SELECT max(seq) FROM snapshots WHERE v = ?", (SNAPSHOT_VERSION,)).fetchone()
        return row[0] or 0

    def load_state(self) -> State:
        """The current state: the newest snapshot plus the events after it."""
        state = self.snapshot()
        return self._replay(state.seq if state else 0, state)

    def catch_up(self, state: State) -> State:
        """Fold into ``state`` (kept in memory by a long-lived writer) what others appended since."""
        return self._replay(state.seq, state) if self.last_seq() > state.seq else state

    def replay_all(self) -> State:
        """The current state from the whole log, ignoring every snapshot but the compaction base
        (slow, and the reference ``pdg check`` compares with)."""
        return self.state_at(None, from_base=True)

    def state_at(self, seq: int | None, *, from_base: bool = False) -> State:
        """The state as it was right after event ``seq`` (None: now): the nearest snapshot at or
        before it plus the events between (``from_base``: start from the compaction base instead)."""
        base = self.base_seq()
        if seq is not None and seq < base:
            raise HistoryCompacted(
                f"{self.display} no longer holds the history before seq {base + 1} (pdg compact folded it "
                f"into a snapshot); seq {seq} is before that"
            )
        start = self.snapshot(base if from_base else seq) if (base or not from_base) else None
        if base and (start is None or start.seq != base) and from_base:
            raise StoreRefused(f"{self.display} is corrupt: its compaction base snapshot at seq {base} is missing")
        return self._replay(start.seq if start else 0, start, seq)

    def _replay(self, after: int, state: State | None, until: int | None = None) -> State:
        sql = "SELECT seq, time_ns, cook_id, graph, kind, payload FROM events WHERE seq > ?"
        args: tuple = (after,)
        if until is not None:
            sql += " AND seq <= ?"
            args = (after, until)
        with self._errors():
            cursor = self.conn.execute(sql + " ORDER BY seq", args)
            state = replay_rows(cursor, state)
        if until is not None and state.seq < until:
            state.seq = until  # nothing happened between the last event and ``until``
        return state

    def replay(self, after: int = 0, until: int | None = None, *, types=None) -> Iterator[PdgEvent]:
        """The PDG events (``pdgstore.pdgevents``) that handlers saw, or would have seen, for the log's
        events after seq ``after`` up to ``until``: streamed, in order, one state in memory."""
        state = self.state_at(after)
        return replay_events(self.events(after, until=until), state, frozenset(types) if types else None)

    def integrity_problem(self) -> str | None:
        """SQLite's own quick check of the file, then its tables against the schema
        (``schema.schema_problem``): None when both are sound."""
        with self._errors():
            problem = _quick_check(self.conn)
            return problem or schema.schema_problem(self.conn)


def pack_snapshot(state: State) -> memoryview:
    """The snapshot of ``state``: msgpack of ``State.to_plain()``, packed item by item (a view of
    the packer's buffer, not a copy: a snapshot of 20,000 items is 5 MB)."""
    packer = msgpack.Packer(use_bin_type=True, autoreset=False)
    state.pack(packer)
    return packer.getbuffer()


def write_blob(conn: sqlite3.Connection, table: str, column: str, rowid: int, data, insert: str, args: tuple) -> None:
    """Insert a row whose ``column`` is ``zeroblob(len(data))`` and fill it in 1 MiB pieces through
    SQLite's incremental blob I/O: binding a large blob makes SQLite copy it whole (a snapshot of
    20,000 items cost 15 MB of peak memory that way), writing it in pieces does not."""
    conn.execute(insert, args)
    view = memoryview(data)
    with conn.blobopen(table, column, rowid) as blob:
        for start in range(0, len(view), 1 << 20):
            blob.write(view[start : start + (1 << 20)])


# -- helpers for open -----------------------------------------------------------------------------
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


#: what a stored payload or snapshot that is not what we wrote raises while it is decoded or folded
DECODE_ERRORS = (ValueError, TypeError, KeyError, IndexError, AttributeError, msgpack.UnpackException)


@contextmanager
def _read_errors(display: str) -> Iterator[None]:
    try:
        yield
    except sqlite3.OperationalError as exc:
        if "no such table" in str(exc) or "no such column" in str(exc):
            raise StoreRefused(f"{display} is corrupt: {exc}; it was left untouched") from None
        raise StoreIOError(f"reading {display} failed: {exc}") from None
    except sqlite3.DatabaseError as exc:
        raise StoreRefused(f"{display} is corrupt: {exc}; it was left untouched") from None
    except DECODE_ERRORS as exc:
        what = str(exc).splitlines()[0][:200] if str(exc) else ""
        raise StoreRefused(
            f"{display} is corrupt: a stored event or snapshot cannot be read ({type(exc).__name__}"
            f"{': ' + what if what else ''}); it was left untouched"
        ) from None


def _side_files(path: str) -> set[str]:
    return {suffix for suffix in ("-wal", "-shm") if os.path.exists(path + suffix)}


def _remove_side_files(path: str, existed: set[str]) -> None:
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


def _connect_reader(path: str, display: str) -> sqlite3.Connection:
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
            raise StoreIOError(f"cannot read {display}: {exc}") from None
    except sqlite3.DatabaseError as exc:
        conn.close()
        raise StoreRefused(f"{display} is corrupt: {exc}; it was left untouched") from None
    conn = _open_uri(uri + "&immutable=1", display)
    with _read_errors(display):
        conn.execute("SELECT count(*) FROM sqlite_master").fetchone()
    return conn


def _open_uri(uri: str, display: str) -> sqlite3.Connection:
    try:
        conn = sqlite3.connect(uri, uri=True, isolation_level=None, check_same_thread=False, timeout=5.0)
        conn.execute("PRAGMA busy_timeout = 5000")
    except sqlite3.Error as exc:
        raise StoreIOError(f"cannot read {display}: {exc}") from None
    return conn


def _quick_check(conn: sqlite3.Connection) -> str:
    """SQLite's own verdict on the file ('' when sound): ``PRAGMA quick_check``, ~1 GB/s."""
    return problem_sentence([r[0] for r in conn.execute("PRAGMA quick_check(20)")])


def problem_sentence(rows: list) -> str:
    """SQLite's check rows as part of one sentence ('' for ``ok``): the first two problems it found
    and how many more, never SQLite's multi-line report."""
    lines = [line.strip() for row in rows for line in str(row).splitlines()]
    lines = [line for line in lines if line and not line.startswith("*** in database")]
    if lines == ["ok"] or not lines:
        return ""
    more = f" (and {len(lines) - 2} more problems)" if len(lines) > 2 else ""
    return "; ".join(lines[:2])[:300] + more


def _file_stamp(path: str) -> str:
    st = os.stat(path)
    return f"{st.st_size} {st.st_mtime_ns} {st.st_ino} {st.st_ctime_ns}"


def _stamp_clean(path: str, lock_fd: int) -> None:
    """At a writer's close: when its close left the store whole in its file (no -wal holds anything),
    note the file's stat beside the pid in the writer lock, so the next writer that finds it
    unchanged need not ask SQLite to check it again (``_left_clean``)."""
    try:
        wal = path + "-wal"
        if os.path.exists(wal) and os.path.getsize(wal):
            return
        os.pwrite(lock_fd, f"\nclean {_file_stamp(path)}\n".encode(), len(str(os.getpid())))
    except OSError:
        pass


def _left_clean(path: str, lock_fd: int | None) -> bool:
    """Whether the store is as a writer left it when it closed it sound (``_stamp_clean``)."""
    if lock_fd is None:
        return True
    try:
        wal = path + "-wal"
        if os.path.exists(wal) and os.path.getsize(wal):
            return False
        lines = os.pread(lock_fd, 256, 0).decode(errors="replace").splitlines()
        return len(lines) > 1 and lines[1] == f"clean {_file_stamp(path)}"
    except OSError:
        return False


def _connect(path: str, display: str, synchronous: str) -> sqlite3.Connection:
    conn = None
    try:
        conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False, timeout=5.0)
        conn.execute("PRAGMA busy_timeout = 5000")
        conn.execute(f"PRAGMA synchronous = {synchronous}")
        return conn
    except sqlite3.DatabaseError as exc:
        if conn is not None:
            conn.close()
        raise StoreRefused(f"{display} is corrupt: {exc}; it was left untouched") from None


def _create(path: str, display: str) -> None:
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


def _take_writer_lock(path: str, display: str) -> int:
    lock_path = path + ".lock"
    try:
        fd = os.open(lock_path, os.O_RDWR | os.O_CREAT, 0o644)
    except OSError as exc:
        raise StoreIOError(f"cannot open the writer lock {display_path(lock_path)}: {exc.strerror}") from None
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        pid = _read_pid(fd)
        if not (isinstance(pid, int) and not _alive(pid) and _wait_for_lock(fd, LOCK_WAIT_S)):
            os.close(fd)
            raise StoreBusy(f"a cook is already running on {display} (pid {pid})") from None
    stamp = os.pread(fd, 256, 0).decode(errors="replace").splitlines()[1:2]
    os.ftruncate(fd, 0)
    os.pwrite(fd, "\n".join([str(os.getpid()), *stamp]).encode(), 0)
    return fd


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's process
        return True
    return True


def _wait_for_lock(fd: int, seconds: float) -> bool:
    """Take the lock on ``fd`` once it is free, trying for up to ``seconds``."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        time.sleep(0.01)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return True
        except BlockingIOError:
            continue
    return False


def _read_pid(fd: int) -> int | str:
    text = os.pread(fd, 32, 0).decode(errors="replace").split("\n", 1)[0].strip()
    return int(text) if text.isdigit() else "unknown"


def _lock_holder(path: str) -> int | None:
    """Without taking it for long, tell whether another process holds the writer lock."""
    try:
        fd = os.open(path + ".lock", os.O_RDONLY)
    except FileNotFoundError:
        return None
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
        except BlockingIOError:
            pid = _read_pid(fd)
            return pid if isinstance(pid, int) else -1
        fcntl.flock(fd, fcntl.LOCK_UN)
        return None
    finally:
        os.close(fd)
