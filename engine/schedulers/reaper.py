"""One thread that notices when jobs end, for a scheduler with many short jobs.

A job's pidfd (Linux) becomes readable when the job exits; the reaper's thread waits on all of them
at once (``selectors``, the GIL released) and calls ``ended(key)`` for each that did. It also pumps
each job's output pipe into its log (``Output``), draining it before it says the job ended. One
thread for many jobs keeps the cook's loop from fighting a crowd of waiter threads for the GIL (the
local scheduler has one per job it can run at once: ``ended`` starts the next job, and one reaper's
start must not hold up another's end). Where there are no pidfds (not Linux, a kernel before 5.3:
probed once, since ``os.pidfd_open`` exists there and fails), a thread per job waits instead
(``waitid`` without reaping) and calls the same ``ended``; so does a job whose pidfd could not be
opened (no descriptor left), pumping its output meanwhile.
"""

from __future__ import annotations

import os
import select
import selectors
import threading
from collections.abc import Callable
from typing import Any

from pdgstore.engine.schedulers import exits

_POLL_S = 0.05  # how often a job watched without a pidfd is looked at while it prints nothing


class Reaper:
    def __init__(self, ended: Callable[[Any], None], name: str = "pdg-reaper") -> None:
        self.ended = ended
        self.pidfds = _have_pidfds()
        self._selector = selectors.DefaultSelector()
        self._wake_r, self._wake_w = os.pipe()
        self._selector.register(self._wake_r, selectors.EVENT_READ, None)
        self._lock = threading.Lock()
        self._added: list = []
        self._stopping = False
        #: jobs watched and not yet ended (which reaper has the least to do)
        self.watching = 0
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)
        self._thread.start()

    def watch(self, pid: int, key, output: Output | None = None) -> None:
        """Call ``ended(key)`` once process ``pid`` (a child of this process) has exited; with
        ``output`` (pidfds only), pump the job's output pipe meanwhile, drained before ``ended``."""
        self._count(1)
        if not self.pidfds:
            threading.Thread(target=self._wait_one, args=(pid, key), daemon=True).start()
            return
        try:
            fd = os.pidfd_open(pid)
        except ProcessLookupError:  # it is gone already (reaped elsewhere): it ended
            if output is not None:
                output.drain()
            self._count(-1)
            return self.ended(key)
        except OSError:  # no descriptor left for it (EMFILE): this job is waited for on its own thread
            threading.Thread(target=self._wait_one, args=(pid, key, output), daemon=True).start()
            return
        if threading.current_thread() is self._thread:  # a job started by an ``ended`` callback
            return self._register(fd, key, output)
        with self._lock:
            self._added.append((fd, key, output))
        os.write(self._wake_w, b"x")

    def _count(self, change: int) -> None:
        with self._lock:  # several threads start jobs
            self.watching += change

    def is_current(self) -> bool:
        """Whether the calling thread is this reaper's."""
        return threading.current_thread() is self._thread

    def _register(self, fd: int, key, output: Output | None) -> None:
        self._selector.register(fd, selectors.EVENT_READ, (key, output))
        if output is not None:
            self._selector.register(output.fd, selectors.EVENT_READ, output)

    def stop(self) -> None:
        self._stopping = True
        os.write(self._wake_w, b"x")
        self._thread.join(5)
        for sel_key in list(self._selector.get_map().values()):  # what jobs outliving the cook held
            if isinstance(sel_key.data, Output):
                sel_key.data.close()
            elif sel_key.data is not None:
                os.close(sel_key.fd)
        self._selector.close()
        os.close(self._wake_r)
        os.close(self._wake_w)

    def _wait_one(self, pid: int, key, output: Output | None = None) -> None:
        """Without a pidfd: wait for the job on this thread of its own. Its output, if it has a
        pipe, is pumped meanwhile (a job that fills a pipe nobody reads would wait forever), its
        end looked at between reads."""
        if output is None:
            try:
                os.waitid(os.P_PID, pid, os.WEXITED | os.WNOWAIT)
            except ChildProcessError:
                pass
        else:
            while not _exited(pid):
                if output.fd < 0:  # its output closed while it runs on
                    select.select([], [], [], _POLL_S)
                elif select.select([output.fd], [], [], _POLL_S)[0] and not output.pump():
                    output.close()
            output.drain()
        self._count(-1)
        self.ended(key)

    def _run(self) -> None:
        selector = self._selector
        while not self._stopping:
            for sel_key, _ in selector.select():
                data = sel_key.data
                if data is None:
                    os.read(self._wake_r, 4096)
                    with self._lock:
                        added, self._added = self._added, []
                    for fd, key, output in added:
                        self._register(fd, key, output)
                elif isinstance(data, Output):
                    if data.fd >= 0 and not data.pump():  # fd -1: drained already in this round
                        selector.unregister(data.fd)
                        data.close()
                else:  # the job exited
                    selector.unregister(sel_key.fd)
                    os.close(sel_key.fd)
                    key, output = data
                    if output is not None:
                        if output.fd >= 0:
                            selector.unregister(output.fd)
                        output.drain()
                    self._count(-1)
                    self.ended(key)


def _have_pidfds() -> bool:
    """Whether this system gives pidfds: asked of this process's own pid."""
    fd = exits.pidfd(os.getpid())
    if fd < 0:
        return False
    os.close(fd)
    return True


def _exited(pid: int) -> bool:
    """Whether child ``pid`` has exited (left to be reaped by whoever waits for it)."""
    try:
        return os.waitid(os.P_PID, pid, os.WEXITED | os.WNOWAIT | os.WNOHANG) is not None
    except ChildProcessError:
        return True


class Output:
    """The read end of a job's output pipe and what receives what arrives (``write(bytes)``)."""

    __slots__ = ("fd", "write")

    def __init__(self, fd: int, write: Callable[[bytes], None]) -> None:
        os.set_blocking(fd, False)
        self.fd = fd
        self.write = write

    def pump(self) -> bool:
        """Pass on what is there; False at the end of the output (every writer closed it)."""
        try:
            data = os.read(self.fd, 1 << 16)
        except BlockingIOError:
            return True
        if data:
            self.write(data)
        return bool(data)

    def drain(self) -> None:
        """Pass on everything still in the pipe (the job has exited), then close it."""
        while self.fd >= 0:
            try:
                data = os.read(self.fd, 1 << 16)
            except BlockingIOError:  # a grandchild still holds it open: it dies with the job's group
                break
            if not data:
                break
            self.write(data)
        self.close()

    def close(self) -> None:
        if self.fd >= 0:
            os.close(self.fd)
            self.fd = -1
