"""The log appender: a program that writes a cook's event batches to its store, beside the cook.

Why a second process: appending is SQLite's work, a large share of a big cook's time, and in the
cook's own process it either holds up the loop or, from a thread, takes turns with the loop on the
GIL (slower still; benchmarks/README.md has the figures). In its own process it runs on
another core while the cook goes on. The cook's snapshot (asked for at its tail) and no-op
manifest (at its end) are written here too, while the cook finishes. ``engine.cook.logprocess`` starts the program and talks to it;
this module is only the program, and it touches nothing but the store.

Run as ``python -m pdgstore.appender STORE LOCK_FD SYNCHRONOUS``. ``LOCK_FD`` is the cook's writer
lock (``EventLog.open``), handed down open: the lock stays held until both processes let go of it,
so no other writer can start while requests are still arriving, even when the cook was killed.

The protocol, over the program's stdin (requests) and stdout (replies), both binary:

- a request is a 4-byte little-endian length and a msgpack array, the header, then a 4-byte length
  and that many raw bytes, the tail (empty but for blobs, which travel without being copied):

  - ``["append", rows]``: event rows (the 7 columns ``codec`` makes, ``seq`` first), appended in one
    transaction (``EventLog.append_rows``); ``["append", rows, prepared]`` with the ``items`` rows of
    the new items they generate (``pdgstore.prepared``), ``["append", rows, prepared, batches]``
    with those of batches of new items too, as columns (``prepared.batch_rows``);
  - ``["snapshot", seq]``, tail the snapshot: ``EventLog.write_snapshot``;
  - ``["snapshot_tables", seq]``: the snapshot at ``seq`` (where the log ends), packed here from the
    projection tables (``snapshots.pack_from_tables``) and written: the cook sends no state;
  - ``["manifest", graph, seq]``, tail the manifest: ``EventLog.save_manifest``;

- the first reply, once the store is open, is ``R``; then one ``+`` per request done, in order;
- appends that wait in the queue while it works (it fell behind the cook) are committed together,
  in one transaction of about ``MERGE_ROWS`` rows at most (``perform_merged``): fewer commits, and
  each item's row of the tables written once for them all; their ``+`` replies come together;
- a request that fails is answered ``!``, a 4-byte length and a msgpack array ``[error class name,
  message]`` (a ``pdgstore.errors`` class); the program then exits without reading further, so
  nothing after a failed request is ever written and the log keeps whole batches, in order;
- whenever it has nothing to do, it checkpoints the WAL (``EventLog.checkpoint``): SQLite would
  otherwise do it in the commit that crosses its threshold, often the snapshot's at the end of the
  cook, with the cook waiting for it; a checkpoint that fails (a full disk, a file-size limit) is
  answered ``!`` like a failed request, and the program ends: the cook stops on a write error, it
  does not take over as it does from an appender that died without a word;
- at the end of its input the program exits 0 after doing every whole request it read; an
  incomplete one (the cook died writing it) is dropped, never half-done.

Ctrl-C, a hang-up and SIGTERM are the cook's to handle: the program ignores them (they reach the
whole process group) and ends when its input does.
"""

from __future__ import annotations

import os
import queue
import signal
import struct
import sys
import threading
from collections.abc import Sequence
from typing import Any

import msgpack

from pdgstore import faults
from pdgstore.errors import PdgError, StoreIOError
from pdgstore.log import EventLog
from pdgstore.snapshots import pack_from_tables

LENGTH = struct.Struct("<I")
READY, DONE, FAILED = b"R", b"+", b"!"


#: an appended row whose payload is at least this long is sent as it is, a piece of its own
PIECE_FROM = 1 << 16


def request(header: list, tail=b"") -> list:
    """A request's pieces, to write in order: the header's length, the header (one piece, or
    several), the tail's length, the tail. The tail (a snapshot) is not copied into the request,
    and neither is a long payload of an appended row (a gather's event: megabytes), which is a
    piece of its own after the bytes that pack the rest: joined, the pieces are the header packed
    whole. The pieces are kept until the appender confirms the request, so a copy would be held
    as long as the row itself."""
    if header[0] == "append" and any(len(row[-1]) >= PIECE_FROM for row in header[1]):
        head = _append_pieces(header)
    else:
        head = [msgpack.packb(header, use_bin_type=True)]
    return [LENGTH.pack(sum(len(piece) for piece in head)), *head, LENGTH.pack(len(tail)), tail]


def _append_pieces(header: list) -> list:
    """``msgpack.packb(header)`` of an append, in pieces: each long payload (a row's last field,
    bytes) is its bin header's bytes, then the payload object itself."""
    packer = msgpack.Packer(use_bin_type=True, autoreset=False)
    pieces: list = []
    packer.pack_array_header(len(header))
    packer.pack(header[0])
    packer.pack_array_header(len(header[1]))
    for row in header[1]:
        payload = row[-1]
        if len(payload) < PIECE_FROM:
            packer.pack(row)
            continue
        packer.pack_array_header(len(row))
        for value in row[:-1]:
            packer.pack(value)
        pieces += [packer.bytes(), _bin_header(len(payload)), payload]
        packer.reset()
    for rest in header[2:]:
        packer.pack(rest)
    pieces.append(packer.bytes())
    return pieces


def _bin_header(size: int) -> bytes:
    """The bytes msgpack writes before ``size`` bytes of binary data (bin 8, 16 or 32)."""
    if size < 1 << 8:
        return b"\xc4" + size.to_bytes(1, "big")
    if size < 1 << 16:
        return b"\xc5" + size.to_bytes(2, "big")
    return b"\xc6" + size.to_bytes(4, "big")


def header_of(pieces: list) -> tuple[Any, bytes]:
    """The header (unpacked) and the tail of a request's pieces (``request``)."""
    return msgpack.unpackb(b"".join(pieces[1:-2]), use_list=False), pieces[-1]


def read_request(stream) -> tuple[list, bytes] | None:
    """The next whole request (header, tail) from ``stream``; None at its end or a cut one."""
    parts = []
    for _ in range(2):
        size = stream.read(LENGTH.size)
        if len(size) < LENGTH.size:
            return None
        (n,) = LENGTH.unpack(size)
        part = stream.read(n)
        if len(part) < n:
            return None
        parts.append(part)
    return msgpack.unpackb(parts[0], use_list=False), parts[1]


#: the end of the requests, in the queue
END = None
#: appends waiting in the queue are merged into one transaction up to about this many rows
MERGE_ROWS = 20_000


def read_requests(stream, requests: queue.SimpleQueue) -> None:
    """Move whole requests from ``stream`` to ``requests`` as they arrive (``END`` at the end), so
    the pipe is drained while SQLite works and the cook never waits to write. ``END`` comes last
    whatever happens here, so that the appender ends rather than waits for requests that cannot come."""
    try:
        while (found := read_request(stream)) is not None:
            requests.put(found)
    finally:
        requests.put(END)


def perform(log: EventLog, header: Sequence[Any], tail: bytes) -> None:
    """Do one request on ``log`` (the cook does the same itself when it has no appender)."""
    op = header[0]
    if op == "append":
        log.append_rows(
            header[1],
            prepared=header[2] if len(header) > 2 else (),
            batches=header[3] if len(header) > 3 else (),
        )
    elif op == "snapshot":
        log.write_snapshot(header[1], tail)
    elif op == "snapshot_tables":
        if log.last_seq() != header[1]:
            raise StoreIOError(f"the snapshot at seq {header[1]} was asked of a log that ends at seq {log.last_seq()}")
        log.write_snapshot(header[1], pack_from_tables(log.conn, header[1]))
    elif op == "manifest":
        log.save_manifest(header[1], header[2], tail)
    else:
        raise StoreIOError(f"the log appender was sent an unknown request {op!r}")


def perform_merged(log: EventLog, found: list) -> None:
    """Do the requests ``found`` (appends, when more than one): in one transaction, so that an
    appender that fell behind commits, and folds each item's row, once for all of them. If that
    fails, each is done on its own, in order, up to the one that fails, which raises: the log then
    holds exactly the batches it would have held had they never been merged."""
    if len(found) == 1:
        return perform(log, *found[0])
    rows = [row for header, _tail in found for row in header[1]]
    prepared = [row for header, _tail in found if len(header) > 2 for row in header[2]]
    batches = [batch for header, _tail in found if len(header) > 3 for batch in header[3]]
    try:
        log.append_rows(rows, prepared=prepared, batches=batches)
    except StoreIOError:
        raise  # a write error is never retried (the disk may drop the data and report success)
    except PdgError:  # a batch refused (rolled back whole): now one by one, to find the one refused
        for header, tail in found:
            perform(log, header, tail)


def failure(exc: BaseException) -> bytes:
    """The ``!`` reply for ``exc``: its pdgstore error class and sentence."""
    if not isinstance(exc, PdgError):
        exc = StoreIOError(f"the log appender failed: {type(exc).__name__}: {exc}")
    body = msgpack.packb([type(exc).__name__, str(exc)])
    return FAILED + LENGTH.pack(len(body)) + body


def serve(path: str, lock_fd: int, synchronous: str, stdin, stdout) -> int:
    """Do every request from ``stdin`` on the store at ``path``; reply on ``stdout``."""
    try:
        log = EventLog.adopt(path, lock_fd, synchronous=synchronous)
    except Exception as exc:  # noqa: BLE001 - every failure is reported to the cook, which goes on alone
        stdout.write(failure(exc))
        return 1
    requests: queue.SimpleQueue = queue.SimpleQueue()
    threading.Thread(target=read_requests, args=(stdin, requests), daemon=True).start()
    with log:
        stdout.write(READY)
        return drain(log, requests, stdout)


#: no request taken ahead (``drain``; distinct from ``END``, which is a request's place in the queue)
_NOTHING: Any = object()


def drain(log: EventLog, requests: queue.SimpleQueue, stdout) -> int:
    """Do the requests of ``requests`` in order up to ``END``, replying to each on ``stdout``;
    appends waiting together are done in one transaction (``perform_merged``). Returns the exit
    status: 0 at ``END``, 1 after the first request that failed (its failure replied)."""
    later = _NOTHING  # a request taken from the queue while merging (``END`` too), done next
    while True:
        found = requests.get() if later is _NOTHING else later
        later = _NOTHING
        if found is END:
            return 0
        merged = [found]
        if found[0][0] == "append":  # the appender is behind: the appends waiting join this one
            count = len(found[0][1])
            while count < MERGE_ROWS and later is _NOTHING:
                try:
                    waiting = requests.get_nowait()
                except queue.Empty:
                    break
                if waiting is END or waiting[0][0] != "append":
                    later = waiting
                else:
                    merged.append(waiting)
                    count += len(waiting[0][1])
        try:
            perform_merged(log, merged)
        except Exception as exc:  # noqa: BLE001
            stdout.write(failure(exc))
            return 1
        stdout.write(DONE * len(merged))
        if later is _NOTHING and requests.empty():
            try:
                log.checkpoint()  # while idle, so that a later commit (the snapshot's) need not
            except Exception as exc:  # noqa: BLE001 - a write error like any other: told, never a silent death
                stdout.write(failure(exc))
                return 1


def main(argv: list[str]) -> int:
    # the stops a terminal or a service manager sends the whole process group: the cook's to handle
    # (it cancels, and its last batches are still to be written here); this ends when its input does
    for stop in (signal.SIGINT, signal.SIGHUP, signal.SIGTERM):
        signal.signal(stop, signal.SIG_IGN)
    faults.role = "appender"  # the crash campaign's "parent" is the cook only from here
    path, lock_fd, synchronous = argv
    return serve(
        path, int(lock_fd), synchronous, os.fdopen(0, "rb", buffering=1 << 20), os.fdopen(1, "wb", buffering=0)
    )


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
