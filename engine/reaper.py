"""One thread that notices when jobs end, for a scheduler with many short jobs.

A job's pidfd (Linux) becomes readable when the job exits; the reaper's thread waits on all of them
at once (``selectors``, the GIL released) and calls ``ended(key)`` for each that did. One thread for
every job keeps the cook's loop from fighting a crowd of waiter threads for the GIL. Where there are
no pidfds, a thread per job waits instead (``waitid`` without reaping) and calls the same ``ended``.
"""

from __future__ import annotations

import os
import selectors
import threading
from typing import Callable


class Reaper:
    def __init__(self, ended: Callable[[object], None], name: str = "pdg-reaper") -> None:
        self.ended = ended
        self.pidfds = hasattr(os, "pidfd_open")
        self._selector = selectors.DefaultSelector()
        self._wake_r, self._wake_w = os.pipe()
        self._selector.register(self._wake_r, selectors.EVENT_READ, None)
        self._lock = threading.Lock()
        self._added: list = []
        self._stopping = False
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)
        self._thread.start()

    def watch(self, pid: int, key) -> None:
        """Call ``ended(key)`` once process ``pid`` (a child of this process) has exited."""
        if not self.pidfds:
            threading.Thread(target=self._wait_one, args=(pid, key), daemon=True).start()
            return
        try:
            fd = os.pidfd_open(pid)
        except ProcessLookupError:  # it is gone already (reaped elsewhere): it ended
            return self.ended(key)
        if threading.current_thread() is self._thread:  # a job started by an ``ended`` callback
            self._selector.register(fd, selectors.EVENT_READ, key)
            return
        with self._lock:
            self._added.append((fd, key))
        os.write(self._wake_w, b"x")

    def stop(self) -> None:
        self._stopping = True
        os.write(self._wake_w, b"x")
        self._thread.join(5)
        self._selector.close()
        os.close(self._wake_r)
        os.close(self._wake_w)

    def _wait_one(self, pid: int, key) -> None:
        try:
            os.waitid(os.P_PID, pid, os.WEXITED | os.WNOWAIT)
        except ChildProcessError:
            pass
        self.ended(key)

    def _run(self) -> None:
        selector = self._selector
        while not self._stopping:
            for sel_key, _ in selector.select():
                if sel_key.data is None:
                    os.read(self._wake_r, 4096)
                    with self._lock:
                        added, self._added = self._added, []
                    for fd, key in added:
                        selector.register(fd, selectors.EVENT_READ, key)
                    continue
                selector.unregister(sel_key.fd)
                os.close(sel_key.fd)
                self.ended(sel_key.data)
