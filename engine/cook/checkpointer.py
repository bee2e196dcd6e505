"""WAL checkpoints on a thread of their own while a cook appends its events itself.

Why: SQLite checkpoints inside the commit that takes the WAL past ``wal_autocheckpoint`` pages. That
commit copies the WAL into the database and fsyncs both: tens to hundreds of milliseconds on a busy
disk, spent on the cook's loop thread while a job waits for its report to be answered (a job making
100 Job API calls commits 100 times and met such a stall in most runs: benchmarks/test_bench_jobapi.py).
So while a cook appends in-process, the writer's automatic checkpoints are off and this thread
checkpoints instead, on its own connection: PASSIVE, so it waits for no reader and no writer (in
WAL mode a checkpoint runs beside the writer's commits). Python's sqlite3 releases the GIL while
SQLite works, so the loop goes on meanwhile.

It checkpoints only once the commits since the last checkpoint wrote about as much as SQLite's own
threshold would have waited for (``CHECKPOINT_FROM_BYTES``, estimated by the writer from what it
commits), not after every commit: each checkpoint fsyncs the WAL and the database, and a small cook
(one input changed, a few commits) that checkpointed every ``INTERVAL_S`` made three times the
fsyncs it made before this thread existed, and its end waited for the last one. Once a cook made
its last commits but the manifest's, it asks for one checkpoint at once (``checkpoint_now``): the
thread copies the WAL while the cook builds its no-op manifest, and the store's close, on the cook's
own thread, finds little left to checkpoint.

A checkpoint that fails (a full disk, an I/O error) is not retried: ``problem`` says why, and the
recorder stops the cook with it at its next flush, as it does for a failed commit. An appender
process (``engine.cook.logprocess``) checkpoints by itself: the recorder stops this thread when it
hands its batches to one. ``stop`` turns the writer's automatic checkpoints back on.
"""

from __future__ import annotations

import os
import sqlite3
import threading
from collections.abc import Callable

#: SQLite's default ``wal_autocheckpoint`` (pages), given back to the writer when the cook ends
AUTOCHECKPOINT_PAGES = 1000
#: how often the thread looks for commits to checkpoint (s): a WAL grows by ~1,000 pages in no less
INTERVAL_S = 0.2
#: the writes (bytes, as ``committed`` estimates them) after which a checkpoint is due: about half
#: of what SQLite's automatic checkpoint waits for (``AUTOCHECKPOINT_PAGES`` pages of 8 KiB)
CHECKPOINT_FROM_BYTES = 4 << 20
#: what one commit is counted as writing beyond its rows: the pages every commit rewrites (the
#: tables' and indexes' last leaves, the meta row), as a share of a WAL of ``AUTOCHECKPOINT_PAGES``
COMMIT_BYTES = 3 * 8192


class Checkpointer:
    """Start with the writer's connection; count each commit (``committed``); ``stop`` at the end."""

    def __init__(
        self,
        path: str,
        *,
        interval_s: float = INTERVAL_S,
        from_bytes: int = CHECKPOINT_FROM_BYTES,
        connect: Callable[[str], sqlite3.Connection] | None = None,
    ) -> None:
        self.path = path
        self.interval_s = interval_s
        self.from_bytes = from_bytes
        self._connect = connect or _connect
        self.commits = 0  # bumped by the writer's thread after each commit; read here (an int: no lock)
        self.written = 0  # the bytes the commits wrote, as ``committed`` estimates them (likewise)
        self.checkpoints = 0  # checkpoints run (tests read it)
        self.through = 0  # the commits the last checkpoint covered (``commits`` as it began)
        self.problem = ""  # why checkpointing stopped, once it failed
        self._writer: sqlite3.Connection | None = None
        self._wake = threading.Event()  # set to make the thread look at once (a stop, an ask)
        self._stopping = False
        self._asked = False  # ``checkpoint_now`` was called since the thread last looked
        self._thread: threading.Thread | None = None

    @property
    def running(self) -> bool:
        return self._thread is not None

    def start(self, writer: sqlite3.Connection) -> None:
        """Turn ``writer``'s automatic checkpoints off and checkpoint from the thread instead."""
        if self._thread is not None:
            return
        writer.execute("PRAGMA wal_autocheckpoint = 0")
        self._writer = writer
        self._stopping = False
        self._wake.clear()
        # what the writer had committed when it handed over, taken here and not when the thread
        # first runs: commits made before a slow thread starts must count as not checkpointed yet
        start = (self.commits, self.written, _size(self.path + "-wal"))
        self._thread = threading.Thread(target=self._run, args=start, name="pdg-checkpointer", daemon=True)
        self._thread.start()

    def committed(self, size_bytes: int = 0) -> None:
        """The writer committed a transaction of rows of ``size_bytes`` (their payloads and keys)."""
        self.commits += 1
        self.written += size_bytes + COMMIT_BYTES

    def due(self, seen: int, written: int, wal_grown_bytes: int = 0) -> bool:
        """Whether a checkpoint is due, the last one having covered ``seen`` commits that wrote
        ``written`` bytes: something was committed since, and enough of it, by the writer's
        estimate or by how much the WAL file grew since (``wal_grown_bytes``: the estimate leaves
        out the tables a few events can rewrite, a 10,000-member partition's row, say)."""
        if self.commits <= seen:
            return False
        return self.written - written >= self.from_bytes or wal_grown_bytes >= self.from_bytes

    def checkpoint_now(self) -> None:
        """Checkpoint whatever was committed since the last checkpoint, however little, as soon
        as the thread can (the cook made its last big commits: what is left for the close is then
        only what comes after)."""
        self._asked = True
        self._wake.set()

    def stop(self) -> None:
        """Stop the thread (after a checkpoint under way) and give the writer its automatic
        checkpoints back, so whatever it commits later does not grow the WAL for ever."""
        thread, self._thread = self._thread, None
        if thread is None:
            return
        self._stopping = True
        self._wake.set()
        thread.join()
        writer, self._writer = self._writer, None
        if writer is not None:
            try:
                writer.execute(f"PRAGMA wal_autocheckpoint = {AUTOCHECKPOINT_PAGES}")
            except sqlite3.ProgrammingError:
                pass  # the store was closed already: nothing left to checkpoint through it

    def _run(self, seen: int, written: int, wal: int) -> None:
        try:
            conn = self._connect(self.path)
        except sqlite3.Error as exc:
            self.problem = f"checkpointing could not open the store ({exc})"
            return
        try:
            while True:
                self._wake.wait(self.interval_s)
                self._wake.clear()
                if self._stopping:
                    break
                asked, self._asked = self._asked, False
                if not (asked and self.commits > seen) and not self.due(seen, written, _size(self.path + "-wal") - wal):
                    continue
                seen, written, wal = self.commits, self.written, _size(self.path + "-wal")
                conn.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchall()
                self.checkpoints += 1
                self.through = seen
        except sqlite3.Error as exc:
            self.problem = f"a WAL checkpoint failed ({exc})"
        finally:
            conn.close()


def _size(path: str) -> int:
    """A file's size (0 when it is missing). A WAL file grows while its frames are not
    checkpointed, and stays as long once they are (new frames are written over them)."""
    try:
        return os.stat(path).st_size
    except OSError:
        return 0


def _connect(path: str) -> sqlite3.Connection:
    conn = sqlite3.connect(path, timeout=5.0, isolation_level=None)
    conn.execute("PRAGMA busy_timeout = 5000")
    return conn
