"""A thread pool whose threads never hold the process up at exit.

The web view's answers read the store on worker threads, and one of them (a diff over a large
store, a node of a million items) can take seconds. ``concurrent.futures.ThreadPoolExecutor``
joins its threads when the interpreter exits, so a ``pdg serve`` told to stop (SIGTERM, Ctrl-C)
would wait for that read to finish before it ends. These threads are daemons: a read still running
when the server stops is abandoned (it only reads), and the process ends at once.
"""

from __future__ import annotations

import queue
import threading
from concurrent.futures import Executor, Future


class DaemonPool(Executor):
    """Up to ``max_workers`` daemon threads, started as work arrives and kept for the next."""

    def __init__(self, max_workers: int, name: str = "pdg-worker") -> None:
        self.max_workers = max_workers
        self.name = name
        self._work: queue.SimpleQueue = queue.SimpleQueue()
        self._threads: list[threading.Thread] = []
        self._idle = 0
        self._lock = threading.Lock()
        self._shutdown = False

    def submit(self, fn, /, *args, **kwargs) -> Future:
        future: Future = Future()
        with self._lock:
            if self._shutdown:
                raise RuntimeError("the pool is shut down")
            self._work.put((future, fn, args, kwargs))
            if self._idle == 0 and len(self._threads) < self.max_workers:
                thread = threading.Thread(target=self._run, name=f"{self.name}-{len(self._threads)}", daemon=True)
                self._threads.append(thread)
                thread.start()
            else:
                self._idle -= 1  # that idle thread takes this work
        return future

    def _run(self) -> None:
        while True:
            job = self._work.get()
            if job is None:
                return
            future, fn, args, kwargs = job
            if future.set_running_or_notify_cancel():
                try:
                    future.set_result(fn(*args, **kwargs))
                except BaseException as exc:  # noqa: BLE001 - handed to whoever awaits the future
                    future.set_exception(exc)
            with self._lock:
                self._idle += 1

    def shutdown(self, wait: bool = True, *, cancel_futures: bool = False) -> None:
        """Stop taking work; ``wait`` waits for the running work (never at the process's exit)."""
        with self._lock:
            self._shutdown = True
            threads = list(self._threads)
        if cancel_futures:
            while True:
                try:
                    job = self._work.get_nowait()
                except queue.Empty:
                    break
                if job is not None:
                    job[0].cancel()
        for _ in threads:
            self._work.put(None)
        if wait:
            for thread in threads:
                thread.join()
