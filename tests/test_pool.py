"""The in-process pool and the loop's inbox: long items run side by side, short ones take no turns
across workers, quiet reports do not wake the loop, and a cancel takes unstarted tasks back."""

from __future__ import annotations

import os
import queue
import threading
import time


from pdgstore.engine.cook.inbox import Inbox
from pdgstore.engine.schedulers import reports
from pdgstore.engine.schedulers.pool import ThreadPool
from pdgstore.engine.schedulers.contract import JobResult, Reporter


def _task(seconds: float, log: list | None = None):
    def run() -> JobResult:
        t0 = time.perf_counter_ns()
        if log is not None:
            log.append(("in", threading.current_thread().name, t0))
        if seconds:
            time.sleep(seconds)
        else:  # a few microseconds of Python and a system call (which lets go of the GIL)
            sum(range(200))
            os.stat(".")
        end = time.perf_counter_ns()
        if log is not None:
            log.append(("out", threading.current_thread().name, end))
        return JobResult("cooked_success", {}, [], t0, end - t0)

    return run


def _collect(inbox: Inbox, count: int, timeout_s: float = 10) -> list[tuple]:
    """Read until ``count`` "done" messages arrived."""
    messages, done = [], 0
    deadline = time.monotonic() + timeout_s
    while done < count:
        assert time.monotonic() < deadline, f"only {done} of {count} results arrived"
        try:
            message = inbox.get(timeout=0.05)
        except queue.Empty:
            continue
        messages.append(message)
        done += isinstance(message, reports.Finished)
    return messages


def _meeting(barrier: threading.Barrier):
    """A task that finishes only once another task is running beside it (a broken barrier fails)."""

    def run() -> JobResult:
        barrier.wait(timeout=60)
        return JobResult("cooked_success", {}, [], 0, 0)

    return run


def test_long_items_run_on_every_worker_at_once():
    """Each task waits for a second one to be running: on one worker at a time, none would finish."""
    inbox = Inbox()
    pool = ThreadPool(2, Reporter(inbox, "inprocess"))
    barrier = threading.Barrier(2)
    try:
        for i in range(4):
            pool.submit(f"item{i}", _meeting(barrier))
        messages = _collect(inbox, 4, timeout_s=90)
    finally:
        pool.shutdown()
    for i in range(4):  # each reported started, then finished, and none met a broken barrier
        kinds = [type(m) for m in messages if m.item_id == f"item{i}"]
        assert kinds == [reports.JobStarted, reports.Finished]
        (result,) = [m.result for m in messages if m.item_id == f"item{i}" and isinstance(m, reports.Finished)]
        assert result.state == "cooked_success", result


def test_short_items_do_not_take_turns_across_workers(monkeypatch):
    """While a worker is in a short task, the other does not start one: overlapping short tasks
    would only trade the GIL (a context switch each time).

    "Short" is by the pool's clock, which the test holds still: every task is then younger than
    ``LONG_NS`` for as long as it runs, whatever the machine's load. (Stamps taken inside the tasks
    would judge the pool by another clock, read after it decided: a worker descheduled between its
    decision and its task's first line made a legal start look like an overlap.)"""
    from types import SimpleNamespace

    from pdgstore.engine.schedulers import pool as pool_module

    monkeypatch.setattr(pool_module, "time", SimpleNamespace(monotonic_ns=lambda: 10**12))
    inbox = Inbox()
    guard = threading.Lock()
    inside, most, threads = [0], [0], set()

    def short() -> JobResult:
        with guard:
            inside[0] += 1
            most[0] = max(most[0], inside[0])
            threads.add(threading.current_thread().name)
        sum(range(200))
        os.stat(".")  # a system call, which lets go of the GIL: a chance for the other worker
        with guard:
            inside[0] -= 1
        return JobResult("cooked_success", {}, [], 0, 0)

    pool = ThreadPool(2, Reporter(inbox, "inprocess"))
    try:
        for i in range(300):
            pool.submit(f"item{i}", short)
        messages = _collect(inbox, 300, timeout_s=90)
    finally:
        pool.shutdown()
    assert sum(isinstance(m, reports.Finished) for m in messages) == 300
    assert most[0] == 1, f"{most[0]} short tasks ran at once"


class _WatchedWake:
    """Stands in for the inbox's wake lock: runs ``during`` while the reader sleeps (as a sender on
    another thread would), and records whether each sleep ended by a wake (True) or its timeout."""

    def __init__(self, inbox: Inbox, during=None) -> None:
        self.lock, self.during, self.woken = inbox._wake, during, []
        inbox._wake = self

    def acquire(self, blocking=True, timeout=-1):
        if not blocking:  # the reader taking a wake that came while it looked: not a sleep
            return self.lock.acquire(blocking=False)
        if self.during is not None:
            self.during()
        self.woken.append(self.lock.acquire(timeout=timeout))
        return self.woken[-1]

    def release(self):
        self.lock.release()


def test_quiet_reports_wait_for_the_loop_to_wake():
    inbox = Inbox()
    reporter = Reporter(inbox, "inprocess")
    wake = _WatchedWake(inbox, lambda: reporter.started("a", quiet=True))
    assert inbox.get(timeout=0.2) == reports.JobStarted("a", "inprocess")  # read when the sleep timed out
    assert wake.woken == [False], "a quiet report woke the loop"

    wake.during = lambda: reporter.finished("a", JobResult("cooked_success", {}, [], 0, 0))
    message = inbox.get(timeout=60)
    assert isinstance(message, reports.Finished) and message.item_id == "a"
    assert wake.woken == [False, True], "a report that is not quiet did not wake the loop"


def test_the_last_results_wake_the_loop():
    """Short items are reported quietly while the queue is full; once it runs low the loop is woken,
    so every sleep of the reader ends by a wake, never by waiting out its tick (60 s here)."""
    inbox = Inbox()
    wake = _WatchedWake(inbox)
    pool = ThreadPool(1, Reporter(inbox, "inprocess"))
    done = 0
    try:
        for i in range(pool.capacity):
            pool.submit(f"item{i}", _task(0))
        while done < pool.capacity:
            done += isinstance(inbox.get(timeout=60), reports.Finished)
    finally:
        pool.shutdown()
    assert False not in wake.woken, f"{wake.woken.count(False)} sleeps waited for the tick"


def test_cancel_takes_unstarted_tasks_back():
    inbox = Inbox()
    pool = ThreadPool(1, Reporter(inbox, "inprocess"))
    try:
        pool.submit("busy", _task(0.3))
        time.sleep(0.05)
        for i in range(5):
            pool.submit(f"later{i}", _task(0))
        assert pool.withdraw({"later1", "later3", "busy"}) == ["later1", "later3"]  # busy has started
        assert pool.waiting == 3
        messages = _collect(inbox, 4)
    finally:
        pool.shutdown()
    done = [m.item_id for m in messages if isinstance(m, reports.Finished)]
    assert done == ["busy", "later0", "later2", "later4"]


def test_a_task_that_raises_is_reported_failed_and_its_worker_goes_on():
    """A task's own failures are its result; one that raises all the same (the engine failing
    around a task, or a self-reporting job's runner) is reported failed with its error and
    traceback, and the worker takes the next task: a worker that died left its item running for
    ever, and the cook waiting for it."""
    inbox = Inbox()
    pool = ThreadPool(1, Reporter(inbox, "inprocess"))

    class Unnamed(Exception):
        def __str__(self) -> str:
            raise RuntimeError("no words")

    def broken() -> JobResult:
        raise Unnamed()

    def runner() -> None:  # a task that reports for itself, labelled with its item
        raise OSError("the job could not be prepared")

    try:
        pool.submit("broken", broken)
        pool.submit(None, runner, label="job")
        pool.submit("after", _task(0))
        messages = _collect(inbox, 3)
    finally:
        pool.shutdown()
    finished = {m.item_id: m.result for m in messages if isinstance(m, reports.Finished)}
    assert set(finished) == {"broken", "job", "after"}
    assert finished["broken"].state == "cooked_fail"
    assert finished["broken"].error == "Unnamed: <exception str() failed>"
    assert "raise Unnamed()" in finished["broken"].traceback
    assert finished["job"].error == "OSError: the job could not be prepared"
    assert finished["after"].state == "cooked_success"
