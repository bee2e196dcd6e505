"""A stop that a signal handler may give: ``pdg serve``, ``pdg watch``, ``pdg schedule run`` and a
cook are stopped by Ctrl-C or SIGTERM.

Why not ``threading.Event``: Python runs a signal handler on the main thread, between two of its
bytecodes, and that may be inside the same Event's ``wait`` (or its ``set``), while the thread holds
the Event's lock. The handler's ``set`` then waits for that lock for ever (SIGTERM once left
``pdg serve`` running so). A ``Stop`` is a flag, which ``set`` writes without a lock, and a
``queue.SimpleQueue`` to wake its waiters, whose ``put`` is reentrant: it may run inside the same
thread's ``get``.
"""

from __future__ import annotations

import queue


class Stop:
    """``set`` once, from any thread or a signal handler; ``is_set``; ``wait`` for it."""

    def __init__(self) -> None:
        self._set = False
        self._wake: queue.SimpleQueue[None] = queue.SimpleQueue()

    def set(self) -> None:
        self._set = True
        self._wake.put(None)

    def is_set(self) -> bool:
        return self._set

    def wait(self, timeout: float | None = None) -> bool:
        """Whether the stop was given, waiting up to ``timeout`` seconds (for ever when None)."""
        if self._set:
            return True
        try:
            self._wake.get(timeout=timeout)
        except queue.Empty:
            return self._set
        self._wake.put(None)  # passed on: another thread may be waiting too
        return True
