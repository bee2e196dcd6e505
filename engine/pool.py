"""The in-process scheduler's thread pool: workers run work items and report through the reporter.

Workers never touch the engine's state. Each task is a closure that runs one item's work and
returns a ``JobResult``; the worker reports the item started, then finished with that result, and
only the cook's loop reads those reports.
"""

from __future__ import annotations

import queue
import threading
from typing import Callable


class ThreadPool:
    def __init__(self, jobs: int, reporter) -> None:
        self.jobs = max(1, jobs)
        self.reporter = reporter
        self._tasks: queue.SimpleQueue = queue.SimpleQueue()
        self._threads = [
            threading.Thread(target=self._work, name=f"pdg-worker-{i}", daemon=True) for i in range(self.jobs)
        ]
        for thread in self._threads:
            thread.start()

    @property
    def waiting(self) -> int:
        """Tasks submitted and not yet taken by a worker."""
        return self._tasks.qsize()

    def submit(self, item_id: str, task: Callable[[], object]) -> None:
        self._tasks.put((item_id, task))

    def shutdown(self) -> None:
        """Ask the workers to stop after their current task (daemon threads: a stuck one is left)."""
        for _ in self._threads:
            self._tasks.put(None)

    def _work(self) -> None:
        started = self.reporter.started
        finished = self.reporter.finished
        while True:
            task = self._tasks.get()
            if task is None:
                return
            item_id, run = task
            if item_id is None:  # a task that reports for itself (a job run by the in-process scheduler)
                run()
                continue
            started(item_id)
            finished(item_id, run())
