"""The in-process scheduler: runs in-process work items on a thread pool inside the cook.

It is the foundation's pool behind the scheduler contract. It keeps at most the pool's ``capacity``
items waiting for a worker (the ready queue holds the rest; a cancel takes the waiting ones back out
of the pool and records them cancelled at once) and reports each item started and finished with
what its work made (``engine.schedulers.pool`` says when those reports wake the loop). Given an out-of-process
item (a command), a worker runs its job as a subprocess and waits for it: no retries, limits or
slots (that is the local scheduler's job).
"""

from __future__ import annotations

import os
from pathlib import Path

from pdgstore.engine.schedulers import jobs
from pdgstore.engine.schedulers.contract import AcceptResult, ScheduledItem, Scheduler, ScheduleResult, register_type
from pdgstore.engine.schedulers.jobdata import install_job_modules
from pdgstore.engine.schedulers.pool import ThreadPool


@register_type
class InProcessScheduler(Scheduler):
    type_name = "inprocess"
    in_process = True

    def __init__(
        self,
        name: str | None = None,
        *,
        jobs: int | None = None,
        tick_period: float = 0.5,
        max_items: int | None = None,
        working_dir: str | None = None,
    ) -> None:
        super().__init__(name, tick_period=tick_period, max_items=max_items, working_dir=working_dir)
        self.jobs = jobs or os.cpu_count() or 1
        self.pool: ThreadPool | None = None
        #: the pool of the cook that stopped last, until its workers have ended (``wait_here``)
        self.stopped_pool: ThreadPool | None = None
        self.procs: dict = {}  # item id -> the Popen of its running job
        self.cancelled: set[str] = set()
        self.temp: Path | None = None

    builtin_accept = True

    def on_accept_work_item(self, item: ScheduledItem) -> AcceptResult:
        return AcceptResult.ACCEPT

    def on_start_cook(self, static: bool, cook_set: list) -> bool:
        self.pool = ThreadPool(self.jobs, self.reporter)
        return True

    def on_schedule(self, item: ScheduledItem) -> ScheduleResult:
        pool = self.pool
        assert pool is not None, "on_start_cook makes the pool before anything is scheduled"
        if pool.waiting >= pool.capacity:
            return ScheduleResult.FULL_DEFERRED
        if item.run is not None:
            pool.submit(item.id, item.run)
        elif item.command is not None:
            command = item.command
            if self.temp is None:
                self.temp = Path(self.job_temp)
                install_job_modules(self.temp)
            env, log = jobs.prepare(item, self, self.temp)
            pool.submit(None, lambda: self._run_job(item.id, command, env, log), label=item.id)
        else:
            return ScheduleResult.FAILED
        return ScheduleResult.SUCCEEDED

    def _run_job(self, item_id: str, argv: list, env: dict, log: str) -> None:
        report = self.cook_reporter
        if item_id in self.cancelled:
            report.cancelled(item_id, "cancelled before its job started")
            return
        try:
            proc = jobs.spawn(argv, env, self.working_dir or self.graph_dir, log)
        except OSError as exc:
            report.failed(item_id, 127, jobs.start_failure(argv, exc))
            return
        self.procs[item_id] = proc
        if item_id in self.cancelled:
            jobs.kill_group(proc.pid)
        report.started(item_id, pid=proc.pid, log_uri=jobs.file_uri(log))
        code = jobs.reap(proc)
        self.procs.pop(item_id, None)
        if item_id in self.cancelled:
            report.cancelled(item_id, "its job was killed (cancelled)")
        elif code == 0:
            report.succeeded(item_id)
        else:
            report.failed(
                item_id,
                code,
                f"its job exited with code {code}" if code > 0 else f"its job was killed by signal {-code}",
            )

    def on_cancel_work_items(self, work_items: list, node=None) -> None:
        if self.pool is not None:
            for item_id in self.pool.withdraw(set(work_items)):
                self.cook_reporter.cancelled(item_id, "cancelled before it started")
        for item_id in work_items:
            self.cancelled.add(item_id)
            proc = self.procs.get(item_id)
            if proc is not None:
                jobs.kill_group(proc.pid)

    def get_log_uri(self, item: ScheduledItem) -> str:
        return jobs.file_uri(jobs.log_path(self.temp, item.name)) if self.temp and item.command is not None else ""

    def on_stop_cook(self, cancel: bool) -> bool:
        self.on_cancel_work_items(list(self.procs))
        if self.pool is not None:
            self.pool.shutdown()  # a task not started never runs; the cook awaits the running ones
            self.stopped_pool, self.pool = self.pool, None
        return True

    def running_here(self) -> list[str]:
        pool = self.stopped_pool
        return pool.running() if pool is not None else []

    def wait_here(self, timeout: float) -> bool:
        pool = self.stopped_pool
        if pool is None or pool.join(timeout):
            self.stopped_pool = None
            return True
        return False
