"""What the dask scheduler hears of its jobs while they run on the workers: the status a job
reports itself, and its heartbeats. Apart from ``scheduler`` (the contract's callbacks) and
``traffic`` (its threads), as the part that judges a job by what it says.

A job's Job API calls (``pdgcmd.keepalive`` and every report) reach the cook's result server, which
tells the job's scheduler (``job_heard``). With ``heartbeat_timeout``, a job that has run that many
seconds without a word since it started or since its last call is judged hung, as PDG's schedulers
judge jobs whose heartbeats stop: the cook kills its process group on its worker
(``remote.kill_jobs``) and its end is judged "hung" (``outcome.judge``: failed, or retried with
``on_timeout="retry"``), exactly as on the local scheduler. The clock starts when the job announces
that it runs on a worker, not when it is submitted: waiting for a free slot is not silence.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from pdgstore.engine.errors import GraphError
from pdgstore.engine.schedulers.dask import remote
from pdgstore.engine.schedulers.dask.work import Job


def checked_heartbeat(name: str, heartbeat_timeout: float | None) -> float | None:
    if heartbeat_timeout is not None and (
        isinstance(heartbeat_timeout, bool) or not isinstance(heartbeat_timeout, (int, float)) or heartbeat_timeout <= 0
    ):
        raise GraphError(
            f"scheduler {name}: heartbeat_timeout must be a positive number of seconds, not {heartbeat_timeout!r}"
        )
    return heartbeat_timeout


class Hearing:
    """The dask scheduler's side of a running job's calls (mixed into ``DaskScheduler``)."""

    jobs: dict[str, Job]
    heartbeat_timeout: float | None
    conn: Any  # cluster.Connection | None
    _lock: Any  # the scheduler's RLock
    _call: Callable[[Callable[[], object]], None]  # a call to the Dask scheduler that gives up in time

    def job_reported(self, item_id: str, ok: bool, message: str) -> None:
        """The job said itself whether it succeeded (``pdgcmd.workItemSuccess``/``Failed``)."""
        job = self.jobs.get(item_id)
        if job is not None:
            job.status = (ok, message)

    def job_heard(self, item_id: str) -> None:
        """Its job called the Job API (a keepalive, a report): not hung."""
        job = self.jobs.get(item_id)
        if job is not None and job.heard:
            job.heard = time.monotonic()

    def _kill_silent(self) -> None:
        """On a tick: kill the jobs silent for longer than ``heartbeat_timeout`` on their workers."""
        limit = self.heartbeat_timeout
        client = getattr(self.conn, "client", None)
        if limit is None or client is None:
            return
        now = time.monotonic()
        with self._lock:
            silent = [
                job
                for job in self.jobs.values()
                if job.heard and now - job.heard > limit and not job.kill_reason and not job.cancelled
            ]
            for job in silent:
                job.kill_reason = f"hung {limit:g}"
        keys = [job.key for job in silent if job.spec is not None]
        if keys:
            self._call(lambda: client.run(remote.kill_jobs, keys, on_error="return"))
