"""The local scheduler: work items' jobs as subprocesses of this machine, as PDG's Local Scheduler.

``slots`` (default: the CPU count; negative: CPUs minus that many) are shared by the running jobs,
each taking ``slots_per_item``. A job that fails is retried up to ``max_retries`` times (its item's
``failurecount`` attribute counts the failures). ``timeout`` seconds kill it (``on_timeout``: fail or
retry); so does ``heartbeat_timeout`` seconds of silence (no ``pdgcmd.keepalive``, no Job API call:
the job is judged hung, as PDG's schedulers judge jobs that stop sending heartbeats); ``max_memory_mb`` kills it when its process group's resident memory exceeds that (Linux,
read from /proc). ``exit_codes`` maps a non-zero exit code to success, warning, retry, ignore or
failure (the default). No job starts while the machine has less than ``min_free_memory_mb``
available. Jobs run in ``working_dir`` (default: the graph's folder).

``on_schedule`` reserves the slots and hands the job to one starter thread (creating a log file can
take longer than starting the job, and the loop should not wait for either). When the slots are
full it still accepts up to ``queue_ahead`` jobs (default: ``QUEUE_AHEAD_PER_SLOT`` per slot; 0 is
PDG's FULL_DEFERRED at once) into a backlog: a job is prepared ahead and started by whichever thread
frees a slot, with no round trip through the cook's loop. A reaper thread per job that can run at
once notices each job's end at once (not at the next tick), starts the next job in the backlog,
then retries or reports the one that ended; so one slot's start never waits for another's end. A
job that ends while the backlog is nearly full is reported quietly: the loop, which refills the
backlog, wakes once it is down by ``QUIET_ENDS_PER_SLOT`` per slot and reads those ends at once.
``on_tick`` enforces timeouts and memory limits. An exception on the starter's or a reaper's thread
(a bug) fails the job it was about and cancels the cook at the next tick, naming it: the thread
would have died of it, and the cook waited forever for the jobs it was to start or see end.
"""

from __future__ import annotations

import os
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path

from pdgstore.engine.errors import GraphError, error_line
from pdgstore.engine.schedulers import jobdata, jobs, outcome
from pdgstore.engine.schedulers.contract import (
    AcceptResult,
    ScheduledItem,
    Scheduler,
    ScheduleResult,
    TickResult,
    register_type,
)
from pdgstore.engine.schedulers.jobdata import install_job_modules
from pdgstore.engine.schedulers.pool import ThreadPool
from pdgstore.engine.schedulers.reaper import Output, Reaper

from pdgstore.errors import PdgError

_PAGE = os.sysconf("SC_PAGE_SIZE") if hasattr(os, "sysconf") else 4096
#: jobs accepted per slot while the slots are full (``queue_ahead``'s default): enough that the loop,
#: woken only when the backlog runs low, handles the ends of many short jobs at each wake
QUEUE_AHEAD_PER_SLOT = 16
#: ends per slot the loop may hear of at one wake: it wakes once the backlog is down by that many.
#: Few: while the loop works through them it holds the GIL, and the reapers starting the next jobs
#: wait for it (at every GIL-free call they make); enough to spare most of the loop's wakes
QUIET_ENDS_PER_SLOT = 2


@dataclass(eq=False)  # a job is itself: the backlog finds it by identity
class _Job:
    item_id: str
    name: str
    argv: list
    env: dict
    log: str
    slots: int
    proc: jobs.JobProcess | None = None
    attempt: int = 1
    started: float = 0.0
    failures: int = 0
    kill_reason: str = ""  # why on_tick killed it: "timeout", "hung N" or "memory ..."
    heard: float = 0.0  # when its job last called the Job API (a report or a keepalive)
    cancelled: bool = False
    status: tuple | None = None  # (ok, message) the job reported for itself through the Job API
    output: jobs.LazyLog | None = None  # its output on the way to its log, while it runs
    #: the item's JSON, (path, bytes), until it is written (``jobs.prepare``'s ``pending``)
    item_json: tuple | None = None
    json_error: str = ""  # why its item's JSON could not be written ('' once written)
    prepared: bool = False  # its files are ready: its item's JSON written, an older cook's log removed
    lock: threading.Lock = field(default_factory=threading.Lock)  # held while its files are prepared


def transfer_summary(moved: list, working_dir: str) -> str:
    """One log line about a job's input transfers: how many copied, found cached, skipped."""
    counts: dict[str, int] = {}
    for transfer in moved:
        counts[transfer.status] = counts.get(transfer.status, 0) + 1
    said = ", ".join(f"{n} {status}" for status, n in sorted(counts.items()))
    return f"transferred {len(moved)} input file(s) to {working_dir}: {said}"


def _slots(value: int | None) -> int:
    cpus = os.cpu_count() or 1
    if value is None or value == 0:
        return cpus
    return max(1, cpus + value) if value < 0 else value


def available_memory_mb() -> float | None:
    """MemAvailable from /proc/meminfo (None where there is none)."""
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        return None
    return None


def group_rss_mb(groups: set[int]) -> dict[int, float]:
    """Resident memory of every process in each of ``groups`` (process group ids), summed."""
    totals = dict.fromkeys(groups, 0.0)
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            with open(f"/proc/{entry.name}/stat", "rb") as f:
                data = f.read()
        except OSError:
            continue
        fields = data[data.rfind(b")") + 2 :].split()
        pgrp = int(fields[2])
        if pgrp in totals:
            totals[pgrp] += int(fields[21]) * _PAGE / (1024 * 1024)
    return totals


@register_type
class LocalScheduler(Scheduler):
    type_name = "local"
    needs_result_server = True

    def __init__(
        self,
        name: str | None = None,
        *,
        slots: int | None = None,
        slots_per_item: int = 1,
        max_retries: int = 3,
        timeout: float | None = None,
        on_timeout: str = "fail",
        heartbeat_timeout: float | None = None,
        max_memory_mb: float | None = None,
        exit_codes: dict | None = None,
        min_free_memory_mb: float | None = None,
        working_dir: str | None = None,
        tick_period: float = 0.5,
        max_items: int | None = 30,
        queue_ahead: int | None = None,
    ) -> None:
        super().__init__(name, tick_period=tick_period, max_items=max_items, working_dir=working_dir)
        self.slots = _slots(slots)
        if slots_per_item < 1:
            raise GraphError(f"scheduler {self.name}: slots_per_item must be at least 1, not {slots_per_item}")
        self.exit_codes = outcome.check_rules(self.name, max_retries, timeout, on_timeout, exit_codes)
        self.slots_per_item = slots_per_item
        self.max_retries = max_retries
        self.timeout = timeout
        self.on_timeout = on_timeout
        if heartbeat_timeout is not None and heartbeat_timeout <= 0:
            raise GraphError(f"scheduler {self.name}: heartbeat_timeout must be positive, not {heartbeat_timeout}")
        self.heartbeat_timeout = heartbeat_timeout
        self.max_memory_mb = max_memory_mb
        self.min_free_memory_mb = min_free_memory_mb
        self.free = self.slots
        self.running: dict[str, _Job] = {}
        self.temp: Path | None = None
        self.reapers: list[Reaper] = []
        #: jobs accepted while the slots are full, started the moment a slot frees
        self.backlog: deque[_Job] = deque()
        self.queue_ahead = QUEUE_AHEAD_PER_SLOT * self.slots if queue_ahead is None else queue_ahead
        if self.queue_ahead < 0:
            raise GraphError(f"scheduler {self.name}: queue_ahead cannot be negative ({queue_ahead})")
        if min_free_memory_mb is not None:
            self.queue_ahead = 0  # free memory is checked when a job starts: only the loop starts jobs
        #: a job that ends while more than this many wait in the backlog is reported quietly
        self.low_water = max(0, self.queue_ahead - QUIET_ENDS_PER_SLOT * self.slots)
        self.base_env: dict = {}
        self.starter: ThreadPool | None = None  # starts the jobs: the loop never waits for a start
        #: why a thread of this scheduler's own failed ('' while none did): the next tick cancels the cook
        self.broken = ""
        self._lock = threading.Lock()

    # -- the contract ----------------------------------------------------------------------------
    builtin_accept = True

    def on_accept_work_item(self, item: ScheduledItem) -> AcceptResult:
        return AcceptResult.REJECT if item.in_process else AcceptResult.ACCEPT

    def on_start_cook(self, static: bool, cook_set: list) -> bool:
        self.temp = Path(self.job_temp)
        if self.working_dir:
            os.makedirs(self.working_dir, exist_ok=True)
        install_job_modules(self.temp)
        self.free = self.slots
        self.broken = ""
        self.reapers = [  # one per job that can run at once
            Reaper(partial(self._guarded, self._ended), name=f"pdg-reaper-{self.name}-{i}")
            for i in range(self.slots // self.slots_per_item)
        ]
        self.starter = ThreadPool(1, self.reporter)
        self.base_env = jobs.passed_env()
        return True

    def on_schedule(self, item: ScheduledItem) -> ScheduleResult:
        if item.command is None:
            item.message = f"scheduler {self.name} runs jobs only; work item {item.name} has no command"
            return ScheduleResult.FAILED
        need = self.slots_per_item
        if need > self.slots:
            item.message = f"work item {item.name} needs {need} slots but scheduler {self.name} has {self.slots}"
            return ScheduleResult.FAILED
        with self._lock:
            queued = not (self.free >= need and not self.backlog)
            if queued and len(self.backlog) >= self.queue_ahead:
                return ScheduleResult.FULL_DEFERRED if self.free <= 0 else ScheduleResult.DEFERRED
            if not queued and self.min_free_memory_mb is not None:
                free_mb = available_memory_mb()
                if free_mb is not None and free_mb < self.min_free_memory_mb:
                    return ScheduleResult.FULL_DEFERRED
            self.free -= 0 if queued else need
        temp, starter = self.temp, self.starter
        assert temp is not None and starter is not None, "on_start_cook made them"
        try:
            moved = self.transfer_inputs(item)
            pending: list = []
            env, log = jobs.prepare(item, self, temp, self.base_env, pending=pending)
        except PdgError as exc:
            with self._lock:
                self.free += 0 if queued else need
            item.message = str(exc)
            return ScheduleResult.FAILED
        job = _Job(item.id, item.name, item.command, env, log, need, item_json=pending[0] if pending else None)
        self.running[item.id] = job
        if moved:  # (only a scheduler with a working_dir of its own transfers)
            self.cook_reporter.log_line(item.id, transfer_summary(moved, self.working_dir or ""))
        if not queued:
            starter.submit(None, partial(self._guarded, self._launch, job))
            return ScheduleResult.SUCCEEDED
        with self._lock:
            self.backlog.append(job)
        # so the thread that frees a slot only starts it
        starter.submit(None, partial(self._guarded, self._prepare_files, job))
        for ready in self._take_backlog():  # a slot may have freed meanwhile
            starter.submit(None, partial(self._guarded, self._launch, ready))
        return ScheduleResult.SUCCEEDED

    def on_tick(self) -> TickResult:
        if self.broken:
            self.cancel_reason = self.broken
            return TickResult.CANCEL_COOK
        now = time.monotonic()
        jobs_now = list(self.running.values())
        if self.timeout is not None:
            for job in jobs_now:
                if job.proc is not None and job.started and now - job.started > self.timeout and not job.kill_reason:
                    job.kill_reason = "timeout"
                    jobs.kill_group(job.proc.pid)
        if self.heartbeat_timeout is not None:
            for job in jobs_now:
                last = max(job.started, job.heard)
                if job.proc is not None and job.started and now - last > self.heartbeat_timeout and not job.kill_reason:
                    job.kill_reason = f"hung {self.heartbeat_timeout:g}"
                    jobs.kill_group(job.proc.pid)
        if self.max_memory_mb is not None and jobs_now:
            usage = group_rss_mb({job.proc.pid for job in jobs_now if job.proc is not None})
            for job in jobs_now:
                if job.proc is not None and usage.get(job.proc.pid, 0) > self.max_memory_mb and not job.kill_reason:
                    job.kill_reason = f"memory {usage[job.proc.pid]:.0f} MB"
                    jobs.kill_group(job.proc.pid)
        return TickResult.READY

    def on_cancel_work_items(self, work_items: list, node=None) -> None:
        """Mark them all cancelled first (a slot freed meanwhile must not start one), take the
        waiting ones out of the backlog, then kill the running ones."""
        chosen = [job for job in map(self.running.get, work_items) if job is not None]
        with self._lock:
            for job in chosen:
                job.cancelled = True
            waiting = [job for job in chosen if job in self.backlog]
            for job in waiting:
                self.backlog.remove(job)
        for job in waiting:  # never started, holding no slot
            self.running.pop(job.item_id, None)
            self.cook_reporter.cancelled(job.item_id, "cancelled before its job started")
        for job in chosen:
            if job.proc is not None:
                jobs.kill_group(job.proc.pid)

    def on_stop_cook(self, cancel: bool) -> bool:
        """Kill what still runs and wait until it is gone: no job outlives its cook."""
        self.on_cancel_work_items(list(self.running))
        deadline = time.monotonic() + 10
        while self.running and time.monotonic() < deadline:
            time.sleep(0.005)
        for reaper in self.reapers:
            reaper.stop()
        self.reapers = []
        if self.starter is not None:
            self.starter.shutdown()
            self.starter = None
        return True

    def get_log_uri(self, item: ScheduledItem) -> str:
        return jobs.file_uri(jobs.log_path(self.temp, item.name)) if self.temp else ""

    def job_heard(self, item_id: str) -> None:
        """Its job called the Job API (a keepalive, a report): not hung."""
        job = self.running.get(item_id)
        if job is not None:
            job.heard = time.monotonic()

    def job_reported(self, item_id: str, ok: bool, message: str) -> None:
        """The job said itself whether it succeeded (``pdgcmd.workItemSuccess``/``Failed``)."""
        job = self.running.get(item_id)
        if job is not None:
            job.status = (ok, message)

    # -- one job ---------------------------------------------------------------------------------
    def _guarded(self, task: Callable[[_Job], object], job: _Job) -> None:
        """Run ``task(job)`` on a thread of this scheduler's own (the starter, a reaper). What it
        raises is a bug, and the thread would die of it: the jobs it was to start, or to see end,
        would never be settled and the cook would wait for them forever. Instead the job fails
        and the scheduler is broken: its next tick cancels the cook, saying why (``on_tick``)."""
        try:
            task(job)
        except Exception as exc:  # noqa: BLE001 - any bug: the cook must end, and say why
            reason = f"its thread {threading.current_thread().name} failed on work item {job.name}: {error_line(exc)}"
            self.broken = self.broken or reason
            if self.running.pop(job.item_id, None) is not None:
                self.cook_reporter.failed(job.item_id, -1, reason)

    def _launch(self, job: _Job) -> None:
        """Start the job (on the starter's thread, or on the thread that freed its slot), or
        settle it when it cannot start."""
        report = self.cook_reporter
        if job.cancelled:
            return self._settle(job, lambda: report.cancelled(job.item_id, "cancelled before its job started"))
        try:
            error = self._start(job)
        except Exception as exc:  # noqa: BLE001 - a bug here must fail the item, not hang the cook
            error = f"scheduler {self.name} could not start the job: {error_line(exc)}"
        if error:
            self._settle(job, lambda: report.failed(job.item_id, 127, error))

    def _start(self, job: _Job) -> str:
        """Start (or restart) the job; '' or why it could not start. Its output goes through a
        pipe that the reaper pumps into its log file, made only once there is output: creating a
        file can cost more than starting the job, and most short jobs print nothing."""
        error = self._prepare_files(job)
        if error:
            return error
        reaper = self._reaper()
        output = pipe = None
        if reaper.pidfds:
            job.output = jobs.LazyLog(job.log, job.attempt)
            pipe, write_end = os.pipe()
            output = Output(pipe, job.output.write)
        job.env["PDG_ITEM_ATTEMPT"] = str(job.attempt)  # pdgcmd's report keys (and a batch's retry) name it
        try:
            proc = job.proc = jobs.spawn(
                job.argv,
                job.env,
                self.working_dir or self.graph_dir,
                job.log,
                job.attempt,
                write_end if pipe is not None else None,
            )
        except OSError as exc:
            if pipe is not None:
                os.close(pipe)
            return jobs.start_failure(job.argv, exc)
        job.started = time.monotonic()
        if job.cancelled:  # cancelled while it was starting
            jobs.kill_group(proc.pid)
        # quietly: the loop records it at its next wake (its flush, at the latest, is when anyone
        # outside could hear of it anyway), so a job costs the loop one wake (its end), not two
        self.cook_reporter.started(
            job.item_id, pid=proc.pid, log_uri=jobs.file_uri(job.log), attempt=job.attempt, quiet=True
        )
        reaper.watch(proc.pid, job, output)
        return ""

    def _reaper(self) -> Reaper:
        """The reaper to watch a job started now: one watching the fewest jobs, the calling
        thread's own among them (a reaper starting the job that takes the slot its last job
        freed registers it without a wake-up)."""
        reapers = self.reapers
        assert reapers, "on_start_cook made them"
        return min(reapers, key=lambda reaper: (reaper.watching, not reaper.is_current()))

    @staticmethod
    def _prepare_files(job: _Job) -> str:
        """Write the job's item JSON and remove an older cook's log of its item, unless that is
        done: '' or why the JSON could not be written. A job waiting in the backlog has them done
        ahead by the starter thread: creating a file can cost more than starting the job, and the
        thread that frees a slot (a reaper, once per job) is then left only the start."""
        with job.lock:
            if not job.prepared:
                job.prepared = True
                jobs.remove_log(job.log)
                if job.item_json is not None:
                    path, data = job.item_json
                    job.item_json = None
                    try:
                        jobdata.write_item_file(path, data)
                    except OSError as exc:
                        job.json_error = f"could not write its work item's JSON {path}: {exc.strerror or exc}"
            return job.json_error

    def _settle(self, job: _Job, report) -> None:
        """The job is over: free its slots, start the jobs waiting in the backlog that now fit,
        here and now (no round trip through the loop), then send the report that settles it.
        Starting first: the report wakes the cook's loop, which then holds the GIL for its work on
        the item, and the start (a GIL-free spawn, then Python again) would wait for it."""
        self.running.pop(job.item_id, None)
        with self._lock:
            self.free += job.slots
        for ready in self._take_backlog():
            self._launch(ready)
        report()

    def _quiet(self) -> bool:
        """Whether a job's end may wait for the loop's next wake: the backlog (the next jobs
        taken from it) still holds more than ``low_water``; else the loop is woken to refill it."""
        return len(self.backlog) > self.low_water

    def _take_backlog(self) -> list[_Job]:
        """The waiting jobs that fit in the free slots, in order, their slots taken."""
        taken = []
        with self._lock:
            while self.backlog and self.free >= self.backlog[0].slots:
                job = self.backlog.popleft()
                self.free -= job.slots
                taken.append(job)
        return taken

    def _ended(self, job: _Job) -> None:
        """On the reaper's thread: the job's process exited. Judge it, retry it or settle it."""
        report = self.cook_reporter
        try:
            assert job.proc is not None, "the reaper watches started jobs only"
            code = jobs.reap(job.proc, exited=True)  # the reaper calls here once it has
            if job.output is not None:  # the reaper drained its pipe before calling here
                job.output.close()
                if job.output.error:
                    report.log_line(job.item_id, job.output.error, level="warning")
            if job.cancelled:
                message = f"its job was killed (cancelled, attempt {job.attempt})"
                return self._settle(job, lambda: report.cancelled(job.item_id, message))
            action, message = self._judge(job, code)
            if action == "retry" and job.failures < self.max_retries:
                job.failures += 1
                report.attrib_set(job.item_id, "failurecount", ["int", [job.failures]])
                report.retrying(job.item_id, code, f"{message}; retry {job.failures} of {self.max_retries}")
                job.attempt += 1
                job.kill_reason = ""
                job.status = None
                error = self._start(job)
                if error:
                    self._settle(job, lambda: report.failed(job.item_id, 127, error))
                return
            if action in ("retry", "failure"):
                if job.attempt > 1:
                    report.attrib_set(job.item_id, "failurecount", ["int", [job.failures + 1]])
                    message += f" (attempt {job.attempt}, after {job.failures} retries)"
                return self._settle(job, lambda: report.failed(job.item_id, code, message))
            if action == "warning":
                report.log_line(job.item_id, message, level="warning")
            outcome = {"warning": "warning", "ignore": "ignore"}.get(action, "success")
            self._settle(
                job, lambda: report.succeeded(job.item_id, code, message, outcome=outcome, quiet=self._quiet())
            )
        except Exception as exc:  # noqa: BLE001 - a bug here must fail the item, not hang the cook
            text = f"scheduler {self.name} lost the job: {error_line(exc)}"
            self._settle(job, lambda: report.failed(job.item_id, -1, text))

    def _judge(self, job: _Job, code: int) -> tuple[str, str]:
        """What a job's end means: (success|warning|ignore|retry|failure, in words)."""
        if job.kill_reason.startswith("memory"):  # the one rule only this scheduler has
            return "failure", f"killed: its {job.kill_reason} exceeded the limit of {self.max_memory_mb:g} MB"
        return outcome.judge(code, job.kill_reason, job.status, self.exit_codes, self.timeout, self.on_timeout)
