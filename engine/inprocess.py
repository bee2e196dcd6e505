"""The in-process scheduler: runs in-process work items on a thread pool inside the cook.

It is the foundation's pool behind the scheduler contract. It keeps at most ``jobs`` items waiting
for a worker (so the ready queue, not the pool, holds the rest and a cancel drops them at once) and
reports each item started and finished with what its work made.
"""

from __future__ import annotations

import os

from engine.pool import ThreadPool
from engine.scheduler import AcceptResult, ScheduledItem, ScheduleResult, Scheduler, register_type


@register_type
class InProcessScheduler(Scheduler):
    type_name = "inprocess"
    in_process = True

    def __init__(self, name: str | None = None, *, jobs: int | None = None, tick_period: float = 0.5,
                 max_items: int | None = None, working_dir: str | None = None) -> None:
        super().__init__(name, tick_period=tick_period, max_items=max_items, working_dir=working_dir)
        self.jobs = jobs or os.cpu_count() or 1
        self.pool: ThreadPool | None = None

    def parms(self) -> dict:
        return {**super().parms(), "jobs": self.jobs}

    def on_accept_work_item(self, item: ScheduledItem) -> AcceptResult:
        return AcceptResult.ACCEPT if item.in_process else AcceptResult.REJECT

    def on_start_cook(self, static: bool, cook_set: list) -> bool:
        self.pool = ThreadPool(self.jobs, self.reporter)
        return True

    def on_schedule(self, item: ScheduledItem) -> ScheduleResult:
        if item.run is None:
            return ScheduleResult.FAILED
        pool = self.pool
        if pool.waiting >= pool.jobs:
            return ScheduleResult.FULL_DEFERRED
        pool.submit(item.id, item.run)
        return ScheduleResult.SUCCEEDED

    def on_stop_cook(self, cancel: bool) -> bool:
        if self.pool is not None:
            self.pool.shutdown()
            self.pool = None
        return True
