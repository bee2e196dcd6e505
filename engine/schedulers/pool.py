"""The in-process scheduler's thread pool: workers run work items and report through the reporter.

Workers never touch the engine's state. Each task is a closure that runs one item's work and
returns a ``JobResult``; the worker reports the item started, then finished with that result, and
only the cook's loop reads those reports.

Two rules keep the pool from costing more than the work on short items (the cold W(N) benchmark,
whose items are that short, measures them):

- **Quiet reports.** The pool holds up to ``capacity`` tasks so that workers rarely wait for the
  loop, and it reports a short item quietly (``engine.cook.inbox``) while more than ``low_water`` tasks
  are left: the loop then reads results in batches instead of waking per item. It is woken when the
  queue runs low (to refill it), when an item took longer than ``LONG_NS``, and at its tick.
- **A second worker starts only beside a long task.** Python code holds the GIL, so two workers on
  short items only take turns, and every turn is a context switch (18 per item on W(N)). A worker
  takes a task only while no other worker is in a task that began less than ``LONG_NS`` ago; an
  idle worker looks again every ``LONG_NS``. Items that wait on the disk, the network, a
  subprocess or a GIL-free library run long, and then all ``jobs`` workers run at once.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable

from pdgstore.engine.errors import error_line
from pdgstore.engine.schedulers.contract import JobResult
from pdgstore.engine.schedulers.tracebacks import formatted

#: a task running longer than this lets another worker start, and is reported at once when it ends
LONG_NS = 2_000_000
#: tasks the pool holds per worker, and the level below which the loop is woken to refill it
CAPACITY_PER_WORKER = 32
LOW_WATER_PER_WORKER = 8


class ThreadPool:
    def __init__(self, jobs: int, reporter) -> None:
        self.jobs = max(1, jobs)
        self.capacity = self.jobs * CAPACITY_PER_WORKER
        self.low_water = self.jobs * LOW_WATER_PER_WORKER
        self.reporter = reporter
        self._tasks: deque = deque()
        self._cond = threading.Condition(threading.Lock())
        #: per worker: when its current task started (monotonic ns), 0 while it has none
        self._started_ns = [0] * self.jobs
        #: per worker: the item id of its current task, None while it has none
        self._current: list[str | None] = [None] * self.jobs
        self._stopping = False
        self._idle = 0  # workers asleep on an empty queue and not yet woken: a submit wakes one
        self._threads = [
            threading.Thread(target=self._work, args=(i,), name=f"pdg-worker-{i}", daemon=True)
            for i in range(self.jobs)
        ]
        for thread in self._threads:
            thread.start()

    @property
    def waiting(self) -> int:
        """Tasks submitted and not yet taken by a worker."""
        return len(self._tasks)

    def submit(self, item_id: str | None, task: Callable[[], object], label: str | None = None) -> None:
        """Queue a task: ``item_id`` and a closure returning its ``JobResult``, or None and a
        closure that reports for itself (``label``: the item it runs, for ``running``)."""
        with self._cond:
            self._tasks.append((item_id, task, label))
            if self._idle:  # else every worker is busy, or looks at the queue every LONG_NS
                # the worker woken is no longer counted idle: the next submits (a refill of the
                # queue, before it can run) do not notify again, once per task, for no one
                self._idle -= 1
                self._cond.notify()

    def withdraw(self, item_ids: set) -> list[str]:
        """Take the tasks of ``item_ids`` that no worker has started out of the queue (a cancel);
        returns their ids. The other tasks keep their order."""
        with self._cond:
            withdrawn = [task[0] for task in self._tasks if task[0] in item_ids]
            if withdrawn:
                self._tasks = deque(task for task in self._tasks if task[0] not in item_ids)
        return withdrawn

    def shutdown(self) -> None:
        """Ask the workers to stop after their current task; the tasks not started never run.
        ``join`` waits for them: a thread cannot be stopped from outside."""
        with self._cond:
            self._stopping = True
            self._idle = 0
            self._cond.notify_all()

    def running(self) -> list[str]:
        """The items whose task a worker is in now."""
        return [item_id for item_id in list(self._current) if item_id is not None]

    def join(self, timeout: float) -> bool:
        """After ``shutdown``: wait up to ``timeout`` seconds for every worker to end; whether they did."""
        deadline = time.monotonic() + timeout
        for thread in self._threads:
            thread.join(max(0.0, deadline - time.monotonic()))
        return not any(thread.is_alive() for thread in self._threads)

    def _next(self, me: int):
        """The next task for worker ``me``, once the rules allow it; None when the pool stops."""
        started = self._started_ns
        with self._cond:
            while not self._stopping:
                if not self._tasks:
                    self._idle += 1  # taken off by the submit that wakes it (or by shutdown)
                    self._cond.wait()
                    continue
                now = time.monotonic_ns()
                if any(t and now - t < LONG_NS for i, t in enumerate(started) if i != me):
                    self._cond.wait(LONG_NS / 1e9)
                    continue
                started[me] = now
                task = self._tasks.popleft()
                self._current[me] = task[0] if task[0] is not None else task[2]
                return task
        return None

    def _work(self, me: int) -> None:
        started = self.reporter.started
        finished = self.reporter.finished
        while True:
            task = self._next(me)
            if task is None:
                return
            item_id, run, label = task
            try:
                if item_id is None:  # a task that reports for itself (a job run by the in-process scheduler)
                    run()
                    continue
                started(item_id, quiet=True)
                result = run()
                finished(item_id, result, quiet=result.duration_ns < LONG_NS and len(self._tasks) > self.low_water)
            except Exception as exc:  # noqa: BLE001 - a worker that died would leave its item running for ever
                # (a task's own failures are its result: this is the engine failing around one)
                failed = JobResult("cooked_fail", {}, [], time.time_ns(), 0, error_line(exc), formatted(exc))
                finished(item_id if item_id is not None else label, failed)
            finally:
                self._started_ns[me] = 0
                self._current[me] = None
