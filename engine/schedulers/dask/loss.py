"""What the dask scheduler makes of a worker that died under its tasks: which of their jobs ran
there (a failed attempt, retried within ``max_retries`` or failed with the reason, as the local
scheduler counts them) and which only waited there (run again, charged nothing). A mixin of
``DaskScheduler``, apart as the part that judges a loss, as ``hearing`` judges silence.

A worker's death reaches the cook by the Dask scheduler's ``remove-worker`` event (topic ``all``),
which names every task that was *processing* there: running, or only queued on the worker for a
thread or its ``slots``; and, where Dask lets no task run again (``allowed-failures`` 0, as in the
LocalCluster a cook starts), by each such task's ``KilledWorker``. Either may come first: the first
judges each job once per lost worker (``_claim``), the other waits for that judgment. A command job
ran there when it announced its run, or when its process is found left running without its worker
(``reach.reap``, which kills it; a run of the same key that Dask started again elsewhere meanwhile
is no orphan, and is spared). A Python item runs inside the worker's process and says nothing until
it ends: one lost with its worker counts as run (it may be what killed it). A job that only waited
there gets no ``JobStarted`` it never had and no retry: Dask runs it again, or after
``KilledWorker`` the cook submits it again under a new key. A job seen running and lost within
``ANNOUNCE_AFTER_S`` of its start, its process gone too, cannot be told from one that waited: after
``SPARED_MAX`` such losses each further one is charged as an attempt (a job that kills its worker at
once would otherwise be sent again for ever).
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Callable

from pdgstore.engine.schedulers.dask import reach
from pdgstore.engine.schedulers.dask.work import Holder, Job

_WORKER_S = 8.0  # how long the search for a lost worker's orphans waits for a worker to ask
#: the losses a job may wait through uncharged: a worker lost under it again after these is taken as
#: its doing (within ``max_retries``, as any failed attempt)
SPARED_MAX = 3
_JUDGE_S = 30.0  # the longest a job's end waits for the judgment of its worker's loss (``reach.reap`` gives up sooner)


class Losses(Holder):
    """The dask scheduler's side of a worker lost under its tasks (mixed into ``DaskScheduler``)."""

    _judged: threading.Condition  # notified when a job's loss is judged
    _call: Callable[[Callable[[], object]], None]

    def _run_started(self, job: Job, msg: dict) -> None:
        raise NotImplementedError

    def _charge(self, job: Job, code: int, message: str) -> bool:
        raise NotImplementedError

    def _requeue(self, job: Job) -> None:
        raise NotImplementedError

    def _kill(self, started: list[Job]) -> None:
        raise NotImplementedError

    def _cluster_event(self, event) -> None:
        """The Dask scheduler's own events (topic ``all``), on the client's thread: the jobs whose
        tasks were processing on a worker it removed are judged on a thread of their own (the
        client's thread must not wait on the workers)."""
        msg = event[1]
        if not isinstance(msg, dict) or msg.get("action") != "remove-worker":
            return
        worker = str(msg.get("worker") or "")
        with self._lock:
            claimed = self._claim([self.by_key.get(key) for key in msg.get("processing-tasks") or ()], worker)
        if claimed:
            self._judge_apart(claimed, worker)

    def _judge_apart(self, jobs: list[Job], worker: str) -> None:
        """``_judge`` on a thread of its own, for a caller on the client's thread (which must not
        wait on the workers)."""
        name = f"pdg-dask-lost-{self.name}"
        threading.Thread(target=self._judge, args=(jobs, worker), name=name, daemon=True).start()

    def _killed_worker(self, job: Job, exc: BaseException) -> None:
        """Its task ended with ``KilledWorker`` (on the collector's thread): its loss judged (here,
        or by the event's thread, waited for), it is submitted again unless that failed it."""
        last = exc.args[1] if len(exc.args) > 1 else None
        worker = str(getattr(last, "address", "") or "")
        with self._lock:
            claimed = self._claim([job], worker)
        if claimed:
            self._judge(claimed, worker)
        with self._lock:  # (re-entrant: the judgment waited for and the requeue under one hold)
            self._wait_judged(job)
            if self.jobs.get(job.item_id) is job and not job.cancelled:
                self._requeue(job)

    def _wait_judged(self, job: Job) -> None:
        """Before a job's end is recorded: the loss of a worker under it judged first."""
        with self._lock:
            self._judged.wait_for(lambda: not job.losing, _JUDGE_S)

    def _claim(self, jobs: list[Job | None], worker: str) -> list[Job]:
        """(Under the lock.) Those of ``jobs`` still held whose loss of ``worker`` is not judged
        yet, now marked as being judged: their announcements wait for the judgment."""
        claimed: list[Job] = []
        for job in jobs:
            if job is None or self.jobs.get(job.item_id) is not job or job.cancelled or worker in job.lost:
                continue
            job.lost.add(worker)
            job.losing = True
            claimed.append(job)
        return claimed

    def _judge(self, jobs: list[Job], worker: str) -> None:
        """Whether each of ``jobs`` ran on the lost ``worker``: a failed attempt if it did (its
        orphan killed first), nothing if it only waited there. Then the runs they announced
        meanwhile (Dask's own rerun) are recorded, in that order."""
        keys = [job.key for job in jobs if job.spec is not None]
        words, pids = self._orphans(keys)
        reached = words != reach.NOT_REACHED
        for job in jobs:
            try:
                with self._lock:
                    held = self.jobs.get(job.item_id) is job and not job.cancelled
                if held:
                    self._judge_one(job, worker, pids.get(job.key), reached)
            finally:  # (under the lock: a job's end waiting for the judgment comes after its start)
                with self._lock:
                    job.losing = False
                    for msg in job.held:
                        if self.by_key.get(msg["key"]) is job and not job.cancelled and msg["run"] not in job.runs:
                            self._run_started(job, msg)
                    job.held = []
                    self._judged.notify_all()

    def _orphans(self, keys: list[str]) -> tuple[str, dict]:
        """``reach.reap`` of the orphans of ``keys``; when no worker answered (the lost one was
        the last: its nanny or the cluster's manager starting another), again once one has joined."""
        client = self.conn.client if self.conn is not None else None
        if not keys or client is None:
            return "", {}
        found = reach.reap(client, keys, self._call, only_orphans=True)
        if found[0] == reach.NOT_REACHED:

            def joined() -> None:
                with contextlib.suppress(TimeoutError):  # none came: the reason says no worker was reachable
                    client.wait_for_workers(1, timeout=_WORKER_S)

            self._call(joined)
            found = reach.reap(client, keys, self._call, only_orphans=True)
        return found

    def _judge_one(self, job: Job, worker: str, pid: int | None, reached: bool) -> None:
        waited = job.spec is not None and not job.runs and pid is None
        if waited:  # it waited there (or died at once with it): not an attempt, up to SPARED_MAX times
            with self._lock:
                job.spared += 1
                if job.spared <= SPARED_MAX:
                    return
        if job.spec is not None and not job.runs:  # it ran; its announcement died with its worker
            self.reporter.started(job.item_id, pid=pid or 0, log_uri=job.spec["log_uri"], attempt=job.attempt)
        where = f" ({worker})" if worker else ""
        if waited:
            message = f"its worker was lost as it started, the {job.spared}th time{where}: taken as the job's doing"
        else:
            message = f"its worker was lost while running it{where}{reach.said({job.key: pid} if pid else {}, reached)}"
        if self._charge(job, -9, message):
            with self._lock:
                job.runs, job.worker = set(), ""  # Dask's rerun, if it makes one, is the next attempt
        else:
            self._kill([job])  # failed: Dask's own rerun, if it makes one, must not run
