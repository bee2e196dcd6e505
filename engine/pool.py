"""The in-process scheduler's thread pool: workers run work items and hand results to the loop.

Workers never touch the engine's state. Each task is a closure that runs one item's work and
returns its result; the worker puts ``("started", item_id, time_ns)`` and then
``("done", item_id, result)`` on the results queue, which only the loop reads.
"""

from __future__ import annotations

import queue
import threading
import time
from typing import Callable


class ThreadPool:
    def __init__(self, jobs: int, results: queue.SimpleQueue) -> None:
        self.jobs = max(1, jobs)
        self.results = results
        self._tasks: queue.SimpleQueue = queue.SimpleQueue()
        self._threads = [
            threading.Thread(target=self._work, name=f"pdg-worker-{i}", daemon=True) for i in range(self.jobs)
        ]
        for thread in self._threads:
            thread.start()

    def submit(self, item_id: str, task: Callable[[], object]) -> None:
        self._tasks.put((item_id, task))

    def shutdown(self) -> None:
        """Ask the workers to stop after their current task (daemon threads: a stuck one is left)."""
        for _ in self._threads:
            self._tasks.put(None)

    def _work(self) -> None:
        put = self.results.put
        while True:
            task = self._tasks.get()
            if task is None:
                return
            item_id, run = task
            put(("started", item_id, time.time_ns()))
            put(("done", item_id, run()))
