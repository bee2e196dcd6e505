"""The cook loop's inbox: reports from workers, schedulers and the result server, in arrival order.

Why not a ``queue.SimpleQueue``: every ``put`` to it wakes a sleeping loop, so a pool finishing
10,000 short items woke the loop 20,000 times, each wake a context switch and a GIL hand-off
(more, per item, than the engine's own work on it). Here a sender chooses:
``put`` wakes the loop, ``put_quietly`` only queues (the loop reads it at its next wake, at the
latest its next tick, when it flushes anyway). The pool reports short items quietly while it has
work queued, and wakes the loop when its queue runs low or an item took long.

The wake itself is a bare lock, held while no wake is pending, that a sender releases: a
``threading.Event`` takes its condition's lock to set, and the woken loop takes that lock again,
about 20 us more CPU a wake, measured (a cold W(100,000) cook wakes its loop about 7,000 times).
"""

from __future__ import annotations

import queue
import threading
from collections import deque


class Inbox:
    """Many senders, one reader (the loop). ``get``/``get_nowait`` raise ``queue.Empty`` as a
    ``SimpleQueue``'s do."""

    def __init__(self) -> None:
        self._messages: deque = deque()
        self._wake = threading.Lock()
        self._wake.acquire()  # held: no wake pending; a sender releases it to wake the loop
        self._sleeping = False

    def put(self, message) -> None:
        """Queue ``message`` and wake the loop if it sleeps."""
        self._messages.append(message)
        if self._sleeping:
            try:
                self._wake.release()
            except RuntimeError:  # another sender woke the loop already
                pass

    def put_quietly(self, message) -> None:
        """Queue ``message`` for the loop's next wake."""
        self._messages.append(message)

    def get_nowait(self):
        try:
            return self._messages.popleft()
        except IndexError:
            raise queue.Empty from None

    def get(self, timeout: float | None = None):
        """The oldest message, waiting up to ``timeout`` seconds (None: for ever) for a wake."""
        messages = self._messages
        if messages:
            return messages.popleft()
        # announce the sleep, then look again: a sender that appended before seeing the flag has
        # its message found here; one that appends after it sees the flag and sets the event
        self._sleeping = True
        try:
            if not messages:
                self._wake.acquire(timeout=-1 if timeout is None else max(timeout, 0.0))
            else:
                self._wake.acquire(blocking=False)  # a wake sent while we looked: taken
        finally:
            self._sleeping = False
        try:
            return messages.popleft()
        except IndexError:
            raise queue.Empty from None
