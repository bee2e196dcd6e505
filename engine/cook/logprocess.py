"""The cook's side of the log appender (``pdgstore.appender``): batches go to another process.

A big cook hands its event batches to an appender process, which commits them on another core
while the loop goes on: the SQLite work of a big cook leaves the loop's core (the figures are in
``benchmarks/README.md``). The recorder starts one at the first batch of ``START_ROWS`` rows or
more, so a small cook never pays for a process. The snapshot (asked for at the cook's tail:
``engine.cook.snapshotting``) and the no-op manifest made at its end go through it too, and are
written while the cook finishes; the cook closes it last.

What the process changes for everyone else is only *when* a batch is known to be written:

- ``append`` returns once the batch is queued; the batch is confirmed when the appender replies.
  Whatever must not be told before the events are in the log (an event handler, a job waiting for
  a flush) waits for ``wait()``; the progress bar shows the counts of the last confirmed batch.
- Batches are sent, committed and confirmed in order, each in one transaction, and the appender
  stops at the first one that fails: the log holds whole batches, in order, whatever happens.
- A failure to write (disk full, I/O error) comes back as the same ``pdgstore.errors`` error the
  cook would have raised itself, at the next ``append`` or ``wait``.
- If the appender cannot start or dies without a word, the cook appends the unconfirmed batches
  itself (those rows the log does not have yet) and goes on without it; ``problem`` says why.
- If the cook dies, the appender commits the whole batches it got and ends; it holds the writer
  lock until then, and the next writer waits for it (``pdgstore.log``).
"""

from __future__ import annotations

import fcntl
import os
import queue
import select
import subprocess
import sys
import threading
import time
from collections import deque
from typing import IO

import msgpack
from pdgstore.engine.schedulers import exits

import pdgstore
from pdgstore import errors
from pdgstore.appender import DONE, FAILED, LENGTH, READY, header_of, perform, request
from pdgstore.errors import StoreIOError
from pdgstore.log import EventLog

#: a batch at least this big starts an appender (smaller cooks append in-process: starting a process
#: and feeding it costs more than a small cook's appends)
START_ROWS = 2_000
#: bytes of requests sent and not yet confirmed beyond which ``append`` waits for the appender: the
#: queue is bounded (a cook that makes events faster than the appender commits them would otherwise
#: hold every batch in memory: hundreds of MB on a cold W(100,000) cook), and the wait is the cook's
#: own work slowed to the appender's pace, never a deadlock (the appender needs nothing from it)
MAX_UNCONFIRMED_BYTES = 32 << 20
#: the pipe's size where Linux allows it (F_SETPIPE_SZ): a batch rarely waits for the appender to read
PIPE_BYTES = 1 << 20
#: seconds an appender may take to end once its input is closed (it commits at most
#: ``MAX_UNCONFIRMED_BYTES`` of batches and a snapshot by then) before it is killed
STOP_WAIT_S = 120.0
_F_SETPIPE_SZ = 1031


class LogProcess:
    """An appender process for ``log`` (opened as the writer), and the batches not yet confirmed."""

    def __init__(self, log: EventLog) -> None:
        self.log = log
        self.problem = ""  # why the appender was given up, once it was (the cook goes on alone)
        self._error: Exception | None = None  # the store's error, once a request failed (the cook stops)
        #: (request, mark, bytes, last seq) per batch sent and not confirmed, in order
        self._unconfirmed: deque = deque()
        self.unconfirmed_bytes = 0  # their size (``MAX_UNCONFIRMED_BYTES``)
        self.confirmed = None  # the last mark of the requests confirmed (requests without one keep it)
        #: every event up to this seq is in the log (the cook may read its items' rows back)
        self.written_seq = log.next_seq - 1
        self._ready = False
        self._replies = b""
        self._outbox: queue.SimpleQueue = queue.SimpleQueue()
        root = os.path.dirname(os.path.dirname(os.path.abspath(pdgstore.__file__)))
        env = dict(os.environ)
        lock_fd = log.lock_fd
        assert lock_fd is not None, "the appender takes over the writer's lock"
        self.proc: subprocess.Popen[bytes] | None
        env["PYTHONPATH"] = os.pathsep.join(p for p in (root, env.get("PYTHONPATH", "")) if p)
        try:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "pdgstore.appender", log.path, str(log.lock_fd), log.synchronous],
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=subprocess.DEVNULL,
                pass_fds=(lock_fd,),
                env=env,
                bufsize=0,
            )
        except OSError as exc:
            self.proc = None
            self.problem = f"the log appender could not start ({exc.strerror or exc}); the cook appends itself"
            return
        try:
            fcntl.fcntl(self._stdin.fileno(), _F_SETPIPE_SZ, PIPE_BYTES)
        except OSError:
            pass
        self._reply_fd = self._stdout.fileno()
        os.set_blocking(self._reply_fd, False)
        self._sender = threading.Thread(target=self._send, name="pdg-log-sender", daemon=True)
        self._sender.start()

    @property
    def _stdin(self) -> IO[bytes]:
        """The appender's input (it exists: the process was started with pipes)."""
        assert self.proc is not None and self.proc.stdin is not None
        return self.proc.stdin

    @property
    def _stdout(self) -> IO[bytes]:
        assert self.proc is not None and self.proc.stdout is not None
        return self.proc.stdout

    @property
    def alive(self) -> bool:
        return self.proc is not None and not self.problem and self._error is None

    @property
    def unconfirmed(self) -> int:
        """Batches sent and not yet confirmed."""
        return len(self._unconfirmed)

    # -- the cook's calls ------------------------------------------------------------------------
    def append(self, rows: list[tuple], mark=None, prepared: list | None = None, batches: list | None = None) -> None:
        """Queue ``rows`` (encoded by ``codec``) as one batch; ``mark`` becomes ``confirmed`` once
        the batch is in the log. Raises the appender's error if an earlier request failed.
        ``prepared``: the items rows of new items; ``batches``: those of batches of new items, as
        columns (``EventLog.append_rows``)."""
        if batches:
            header = ["append", rows, prepared or [], batches]
        else:
            header = ["append", rows, prepared] if prepared else ["append", rows]
        self._request(header, b"", mark, rows[-1][0] if rows else None)

    def write_snapshot(self, seq: int, blob) -> None:
        """Queue the snapshot at ``seq`` (``pdgstore.snapshots.pack_snapshot``): written after every batch
        sent before it, while the cook finishes."""
        self._request(["snapshot", seq], blob, None)

    def write_snapshot_from_tables(self, seq: int) -> None:
        """Queue the snapshot at ``seq``, the end of the last batch sent, to be packed by the
        appender from the tables once that batch is in (``pdgstore.snapshots.pack_from_tables``):
        the cook never packs its state a second time."""
        self._request(["snapshot_tables", seq], b"", None)

    def save_manifest(self, graph: str, seq: int, blob) -> None:
        """Queue ``graph``'s no-op manifest (``engine.incremental.manifest``), valid while the log ends at ``seq``."""
        self._request(["manifest", graph, seq], blob, None)

    def _request(self, header: list, tail, mark, seq: int | None = None) -> None:
        if self._error is not None:
            raise self._error  # nothing is written after a failed request, by anyone
        if not self.alive:
            perform(self.log, header, tail)
            self._confirm(mark, seq)
            return
        pieces = request(header, tail)
        size = sum(len(piece) for piece in pieces)
        self._unconfirmed.append((pieces, mark, size, seq))  # the bytes sent, not the rows: kept once, until done
        self.unconfirmed_bytes += size
        self._outbox.put(pieces)
        self._read_replies(block=False)
        while self.unconfirmed_bytes > MAX_UNCONFIRMED_BYTES and len(self._unconfirmed) > 1 and self.alive:
            self._read_replies(block=True)  # the queue is full: wait for the appender to catch up

    def _confirm(self, mark, seq: int | None) -> None:
        if mark is not None:
            self.confirmed = mark
        if seq is not None:
            self.written_seq = seq

    def wait(self) -> None:
        """Return once every batch sent is in the log."""
        if self._error is not None:
            raise self._error
        while self._unconfirmed and self.alive:
            self._read_replies(block=True)

    def close(self) -> None:
        """Wait for every batch, then end the appender (the writer lock is the cook's alone again)."""
        try:
            self.wait()
        finally:
            self._stop()

    def abandon(self) -> None:
        """End the appender without waiting for confirmations (the cook is failing anyway): it
        commits the whole batches it was sent, then ends; this waits for that, so the store is
        the cook's alone afterwards."""
        self._stop()

    # -- the pipe --------------------------------------------------------------------------------
    def _send(self) -> None:
        """The sender thread: writes queued requests to the appender (the loop never waits on a
        full pipe); None closes the appender's input."""
        stdin = self._stdin
        try:
            while (pieces := self._outbox.get()) is not None:
                for piece in pieces:
                    view = memoryview(piece)
                    while view:
                        view = view[stdin.write(view) :]
        except OSError:
            pass  # the appender ended (BrokenPipeError): its replies, or their absence, say why
        try:
            stdin.close()
        except OSError:
            pass

    def _stop(self) -> None:
        """Close the appender's input and wait for it to end: it commits what it was sent, then
        exits. One that has not ended ``STOP_WAIT_S`` after its input closed is killed (a batch
        it was committing is rolled back whole by SQLite), so a stuck appender never holds the
        cook, and the writer lock, forever; ``problem`` says so."""
        if self.proc is None:
            return
        self._outbox.put(None)
        try:
            deadline = time.monotonic() + STOP_WAIT_S
            self._sender.join(STOP_WAIT_S)  # (blocked on a pipe nobody reads: ends once the appender does)
            try:
                exits.wait(self.proc, max(0.0, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
                self.problem = self.problem or (
                    f"the log appender had not ended {STOP_WAIT_S:.0f} s after its last request and was stopped"
                )
            self._sender.join()
        finally:
            self._stdout.close()

    def _read_replies(self, block: bool) -> None:
        if block:
            select.select([self._reply_fd], [], [])
        try:
            data = os.read(self._reply_fd, 65536)
        except BlockingIOError:
            return
        if not data:
            return self._lost()
        replies = self._replies + data
        while replies:
            head = replies[:1]
            if head == READY:
                self._ready = True
                replies = replies[1:]
            elif head == DONE:
                _pieces, mark, size, seq = self._unconfirmed.popleft()
                self.unconfirmed_bytes -= size
                self._confirm(mark, seq)
                replies = replies[1:]
            elif head == FAILED:
                if len(replies) < 1 + LENGTH.size:
                    break
                (size,) = LENGTH.unpack(replies[1 : 1 + LENGTH.size])
                if len(replies) < 1 + LENGTH.size + size:
                    break
                name, message = msgpack.unpackb(replies[1 + LENGTH.size : 1 + LENGTH.size + size])
                self._replies = b""
                if not self._ready:  # it could not open the store: the cook can still write it
                    return self._lost(message)
                return self._failed(name, message)
            else:
                return self._lost()
        self._replies = replies

    def _failed(self, name: str, message: str) -> None:
        """The appender could not write a batch: the cook stops with that error, as it would have
        had it written the batch itself; later batches were not written either."""
        self._unconfirmed.clear()
        self.unconfirmed_bytes = 0
        self._stop()
        error = getattr(errors, name, None)
        if not (isinstance(error, type) and issubclass(error, errors.PdgError)):
            error = StoreIOError
        self._error = error(message)
        raise self._error

    def _lost(self, why: str = "") -> None:
        """The appender could not start, or ended without a word (it was killed): append the
        batches it did not confirm, less what it committed before it ended, and go on without it."""
        self._stop()
        why = why or f"exit code {self.proc.returncode if self.proc is not None else None}"
        self.problem = (
            f"the log appender ended unexpectedly ({why}); the cook appends its events itself"
            if self._ready
            else f"the log appender could not start ({why}); the cook appends its events itself"
        )
        last = self.log.last_seq()
        pending, self._unconfirmed = list(self._unconfirmed), deque()
        self.unconfirmed_bytes = 0
        for pieces, mark, _size, seq in pending:
            header, tail = header_of(pieces)
            if header[0] == "append":  # less what it had appended; a snapshot or manifest is written again
                prepared = [row for row in header[2] if row[0] > last] if len(header) > 2 else []
                batches = [batch for batch in header[3] if batch[0] > last] if len(header) > 3 else []
                header = ("append", [row for row in header[1] if row[0] > last], prepared, batches)
            if header[0] != "append" or header[1]:
                perform(self.log, header, tail)
            self._confirm(mark, seq)
