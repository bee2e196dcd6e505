"""The dask scheduler's two threads: one sends pending jobs to the Dask scheduler in batches, one
collects finished futures and hands each to the scheduler's ``_ended``.

A mixin of ``DaskScheduler`` (it uses its lock, queues and connection): kept apart so the
scheduler's module stays about the PDG contract, and because this is where Dask's throughput is
decided (one graph update per batch; a job's answer comes as its worker's event, and only the
results that came without one are gathered, one gather per batch of finished futures).

While the cook has lost the Dask scheduler nothing is submitted (``_lost_since``); once it reached
it again with a new client (``rejoin``) a new collector runs on that client's ``as_completed`` and
the lost client's collector ends.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from functools import partial
from typing import Any

from pdgstore.engine.errors import error_line
from pdgstore.engine.schedulers.dask import remote
from pdgstore.engine.schedulers.dask.work import Holder, Job

_SUBMIT_BATCH = 2000  # at most this many tasks per graph update sent to the Dask scheduler
#: at most this many tasks in a cook's first graph update: the Dask scheduler takes about 50 ms to
#: place 1,000 tasks, and its workers would wait for all of them; these run meanwhile (1,000 ``true``
#: on 2 workers: the first job's end 80-95 ms after the first update began -> 9-50 ms). Batches
#: growing from it by doubling were slower (the medians of 10 turns: 1.26x ``client.map``, against
#: 1.23x for this and 1.25x for one update of all)
FIRST_BATCH = 64
_GATHER_S = 0.02  # at most this long to let a batch of pending items grow before it is sent
_CALL_S = 10.0  # how long one result may take to come back
_IDLE_S = 0.05  # how long the collector waits with no future before it looks again


class Traffic(Holder):
    # what else the threads use of the DaskScheduler they run for
    _wake: threading.Condition
    _more: threading.Condition
    _pending: list[Job]
    _stopping: bool
    _token: str
    _resources: dict | None
    _ac: Any
    _lost_since: float | None
    _next_batch: int

    def _ended(self, future: Any, result: Any) -> None:
        raise NotImplementedError

    def _settle(self, job: Job, report: Callable[[], None]) -> None:
        raise NotImplementedError

    def _kill(self, started: list[Job]) -> None:
        raise NotImplementedError

    def _submitter(self) -> None:
        """Send pending jobs to the cluster in batches (one graph update per batch)."""
        while True:
            with self._lock:
                while (not self._pending or self._lost_since is not None) and not self._stopping:
                    self._wake.wait(0.2 if self._lost_since is not None else None)  # held while the scheduler is lost
                # gather what the loop's scheduling round is still handing over: one graph update
                # of many tasks costs the Dask scheduler far less than many updates of one
                deadline = time.monotonic() + _GATHER_S
                limit = self._next_batch
                while not self._stopping and len(self._pending) < limit:
                    seen = len(self._pending)
                    self._wake.wait(_GATHER_S / 10)
                    if len(self._pending) == seen or time.monotonic() >= deadline:
                        break
                if self._stopping:
                    return
                batch, self._pending = self._pending[:limit], self._pending[limit:]
                self._next_batch = _SUBMIT_BATCH
            try:
                self._submit(batch)
            except Exception as exc:  # noqa: BLE001 - the cluster refused: these items fail
                text = f"Dask refused the task: {_first_cause(exc)}"
                for job in batch:
                    self._settle(job, partial(self.reporter.failed, job.item_id, -1, text))

    def _submit(self, batch: list[Job]) -> None:
        client = self.conn.client
        commands = [job for job in batch if job.spec is not None]
        calls = [job for job in batch if job.call is not None]
        for group, func, args in (
            (commands, remote.run_job_packed, lambda j: j.spec),
            (calls, remote.run_python, lambda j: j.call),
        ):
            if not group:
                continue
            with self._lock:
                for job in group:
                    job.key = f"{remote.KEY_PREFIX}{self._token}-{job.item_id}-{job.attempt}"
                    if job.spared:  # sent again after a lost worker it only waited on: a key of its own
                        job.key += f".{job.spared}"
                    job.answer = None
                    if job.spec is not None:
                        job.spec.update(key=job.key, attempt=job.attempt)
                    self.by_key[job.key] = job
            futures = client.map(
                func,
                [args(job) for job in group],
                key=[job.key for job in group],
                resources=self._resources,
                pure=False,
                retries=0,
            )
            with self._lock:
                for job, future in zip(group, futures, strict=True):
                    job.future = future
                    job.runs = set()
                # cancelled while ``client.map`` ran: ``on_cancel_work_items`` saw no future to kill
                late = [job for job in group if job.cancelled]
            self._ac.update(futures)
            with self._lock:
                self._more.notify_all()
            if late:
                self._kill(late)

    def _collector(self) -> None:
        """Hand each finished future to ``_ended`` as it completes. The results of a batch of
        finished futures are gathered in one call (one request per worker, not one per future)."""
        with self._lock:
            ac, client = self._ac, self.conn.client
        while True:
            with self._lock:
                if self._stopping or self._ac is not ac:  # the cook reached its scheduler again: a new one collects
                    return
            if ac.is_empty():  # until the submitter adds futures, or the cook stops
                with self._lock:
                    if not self._stopping:
                        self._more.wait(_IDLE_S)
                continue
            try:
                batch = ac.next_batch(block=True)
            except StopIteration:
                continue
            except BaseException:  # noqa: BLE001 - a lost client cancelling futures: not the cook's cancel
                continue
            results = self._answers(batch)  # sent ahead by their workers: nothing to gather
            finished = [f for f in batch if f.status == "finished" and f not in results]
            if finished:
                try:
                    results.update(zip(finished, client.gather(finished, errors="raise"), strict=True))
                except BaseException:  # noqa: BLE001 - one result lost (or cancelled) on the way: one by one
                    results.update((f, self._result_of(f)) for f in finished)
            for future in batch:
                if future in results:
                    result = results[future]
                else:
                    result = self._result_of(future)
                try:
                    self._ended(future, remote.answer_of(result))
                except Exception as exc:  # noqa: BLE001 - a bug here fails the item, not the cook
                    job = self.by_key.get(future.key)
                    if job is not None:
                        text = f"scheduler {self.name} lost the job: {error_line(exc)}"
                        self._settle(job, partial(self.reporter.failed, job.item_id, -1, text))

    def _answered(self, event) -> None:
        """A job's answer, sent by its worker ahead of its task's end (``remote.run_job``,
        ``answers``), on the client's thread: kept for the collector, which then gathers nothing for it."""
        msg = event[1]
        answer = remote.answer_of(msg.get("answer"))  # (unpacked before the lock is taken)
        with self._lock:
            job = self.by_key.get(msg.get("key"))
            if job is not None and isinstance(answer, dict):
                job.answer = answer

    def _answers(self, batch: list) -> dict:
        """The answers of the finished futures of ``batch`` their workers sent ahead as events."""
        found = {}
        with self._lock:
            for future in batch:
                job = self.by_key.get(future.key)
                if job is not None and job.future is future and job.answer is not None and future.status == "finished":
                    found[future] = job.answer
        return found

    @staticmethod
    def _result_of(future):
        """A future's result, or the exception it ended with (a cancelled one: CancelledError)."""
        try:
            return future.result(timeout=_CALL_S)
        except BaseException as exc:  # noqa: BLE001 - KilledWorker, CancelledError, a lost result
            return exc


def _first_cause(exc: BaseException, limit: int = 400) -> str:
    """What a refusal says, from the exception that started it: Dask wraps a pickling error in
    one whose text is the whole task graph's repr (thousands of characters, naming nothing the user
    wrote); cut to ``limit`` characters."""
    seen = {id(exc)}
    while (inner := exc.__cause__ or exc.__context__) is not None and id(inner) not in seen:
        seen.add(id(inner))
        exc = inner
    text = error_line(exc)
    return text if len(text) <= limit else text[: limit - 3] + "..."
