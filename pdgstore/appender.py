"""The log appender: a program that appends a cook's event batches to its store, beside the cook.

Why a second process: appending is SQLite's work (50,017 events into the indexed log of a cold
W(10,000) cook: ~0.2 s), and in the cook's own process it either holds up the loop or, from a
thread, takes turns with the loop on the GIL (measured slower still). In its own process it runs on
another core while the cook goes on. ``engine.logprocess`` starts it and talks to it; this module is
only the program, and it touches nothing but the store.

Run as ``python -m pdgstore.appender STORE LOCK_FD SYNCHRONOUS``. ``LOCK_FD`` is the cook's writer
lock (``EventLog.open``), handed down open: the lock stays held until both processes let go of it,
so no other writer can start while batches are still arriving, even when the cook was killed.

The protocol, over the program's stdin (requests) and stdout (replies), both binary:

- a request is a 4-byte little-endian length, then a msgpack array of event rows (the 7 columns
  ``codec`` makes, ``seq`` first), appended in one transaction (``EventLog.append_rows``);
- the first reply, once the store is open, is ``R``; then one ``+`` per request committed, in order;
- a request that fails is answered ``!``, a 4-byte length and a msgpack array ``[error class name,
  message]`` (a ``pdgstore.errors`` class); the program then exits without reading further, so no
  batch after a failed one is ever committed and the log keeps whole batches, in order;
- at the end of its input the program exits 0 after committing every whole request it read; an
  incomplete one (the cook died writing it) is dropped, never half-appended.

Ctrl-C is the cook's to handle: the program ignores SIGINT and ends when its input does.
"""

from __future__ import annotations

import os
import queue
import signal
import struct
import sys
import threading

import msgpack

from pdgstore.errors import PdgError, StoreIOError
from pdgstore.log import EventLog

LENGTH = struct.Struct("<I")
READY, DONE, FAILED = b"R", b"+", b"!"


def read_requests(stream, requests: queue.SimpleQueue) -> None:
    """Move whole requests from ``stream`` to ``requests`` as they arrive (None at the end), so the
    pipe is drained while SQLite works and the cook never waits to write."""
    while True:
        head = stream.read(LENGTH.size)
        if len(head) < LENGTH.size:
            break
        (size,) = LENGTH.unpack(head)
        body = stream.read(size)
        if len(body) < size:
            break
        requests.put(body)
    requests.put(None)


def failure(exc: BaseException) -> bytes:
    """The ``!`` reply for ``exc``: its pdgstore error class and sentence."""
    if not isinstance(exc, PdgError):
        exc = StoreIOError(f"the log appender failed: {type(exc).__name__}: {exc}")
    body = msgpack.packb([type(exc).__name__, str(exc)])
    return FAILED + LENGTH.pack(len(body)) + body


def serve(path: str, lock_fd: int, synchronous: str, stdin, stdout) -> int:
    """Append every request from ``stdin`` to the store at ``path``; reply on ``stdout``."""
    try:
        log = EventLog.adopt(path, lock_fd, synchronous=synchronous)
    except Exception as exc:  # noqa: BLE001 - every failure is reported to the cook, which goes on alone
        stdout.write(failure(exc))
        return 1
    requests: queue.SimpleQueue = queue.SimpleQueue()
    threading.Thread(target=read_requests, args=(stdin, requests), daemon=True).start()
    with log:
        stdout.write(READY)
        while (body := requests.get()) is not None:
            try:
                log.append_rows(msgpack.unpackb(body, use_list=False))
            except Exception as exc:  # noqa: BLE001
                stdout.write(failure(exc))
                return 1
            stdout.write(DONE)
    return 0


def main(argv: list[str]) -> int:
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    path, lock_fd, synchronous = argv
    return serve(path, int(lock_fd), synchronous, os.fdopen(0, "rb", buffering=1 << 20),
                 os.fdopen(1, "wb", buffering=0))


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
