"""The dask scheduler: work items' jobs (and Python processors) on a Dask distributed cluster.

``graph.scheduler("farm", "dask", address="tcp://host:8786")`` sends work to a running cluster;
without ``address`` a LocalCluster of ``n_workers`` worker processes is started with the cook and
closed after it. The event log stays the one truth: the cook is its only writer, every result and
report flows back to it (``engine.schedulers.dask.remote`` is what runs on the workers).

- Commands run on workers as subprocesses in their own process group (``remote.run_job``) with the
  item's JSON, the Job API modules and the ``PDG_*`` environment; each takes ``slots_per_item``
  ``slots`` (a Dask resource the workers declare: ``dask worker ADDRESS --resources slots=4``).
  Timeouts are enforced on the worker, ``heartbeat_timeout`` by the cook (``hearing``); exit codes, retries and ``failurecount`` follow the local
  scheduler's rules (``outcome.judge``). Their reports (pdgcmd) go to the cook's result server,
  bound to ``result_host`` (an address or an interface name the workers can reach; 127.0.0.1 by
  default), authenticated with the per-cook secret, in the log before the job hears "ok".
- Python processors run on workers when ``accept_python`` (the default): the function travels
  pickled by value with the graph file's own modules (``cluster.ship_graph_code``); its outputs are
  stat'ed and hashed on the worker; the cook records the result.
- A worker that dies mid-job: the Dask scheduler's ``remove-worker`` event, or ``KilledWorker``
  (a LocalCluster we start lets no task be rerun behind our back); the cook kills the job left
  running without its worker (``reach.reap``) and records the failed attempt with its reason,
  retried within ``max_retries`` and counted in ``failurecount`` once; a job that only waited on
  that worker is charged nothing (``loss``). A scheduler that goes away
  for ``lost_after_s`` cancels the cook (``on_tick``); one back sooner gets what it dropped again.
- A cancel (Ctrl-C, SIGTERM) cancels the futures and kills the jobs' process groups on the workers
  (``remote.kill_jobs`` through ``Client.run``) before ``on_stop_cook`` returns.
- ``path_map`` (``{cook_prefix: worker_prefix}``) when the workers mount the project's storage
  elsewhere; ``shared_storage=False`` when their disks are their own: inputs and scripts travel
  with the job, outputs and logs come back (``reach``).
"""

from __future__ import annotations

import os
import threading
import time
import uuid
from pathlib import Path

from pdgstore.engine.errors import GraphError, error_line
from pdgstore.engine.schedulers import jobdata, jobs, outcome
from pdgstore.engine.schedulers.contract import (
    JobResult,
    ScheduledItem,
    Scheduler,
    ScheduleResult,
    TickResult,
    register_type,
)
from pdgstore.engine.schedulers.dask import cluster, reach, rejoin, remote, traffic, work
from pdgstore.engine.schedulers.dask.accept import Acceptance
from pdgstore.engine.schedulers.dask.hearing import Hearing, checked_heartbeat
from pdgstore.engine.schedulers.dask.loss import Losses
from pdgstore.engine.schedulers.dask.traffic import Traffic
from pdgstore.engine.schedulers.dask.work import Job

from pdgstore.errors import PdgError

_CALL_S = 10.0  # how long a cancel waits for the Dask scheduler before giving up on it


@register_type
class DaskScheduler(Acceptance, Hearing, Losses, Traffic, Scheduler):
    type_name = "dask"
    needs_result_server = True

    def __init__(
        self,
        name: str | None = None,
        *,
        address: str | None = None,
        n_workers: int | None = None,
        slots_per_worker: int = 1,
        slots_per_item: int = 1,
        max_retries: int = 3,
        timeout: float | None = None,
        on_timeout: str = "fail",
        heartbeat_timeout: float | None = None,
        exit_codes: dict | None = None,
        accept_python: bool = True,
        result_host: str = "127.0.0.1",
        path_map: dict | None = None,
        max_in_flight: int = 10000,
        lost_after_s: float = 5.0,
        security=None,
        shared_storage: bool = True,
        work_item_data_source: str = "rpc",
        report_relay: bool = True,
        working_dir: str | None = None,
        tick_period: float = 0.5,
        max_items: int | None = None,
    ) -> None:
        super().__init__(name, tick_period=tick_period, max_items=max_items, working_dir=working_dir)
        if n_workers is None:
            n_workers = max(1, (os.cpu_count() or 1) // max(1, slots_per_worker))
        for what, value in (("n_workers", n_workers), ("slots_per_worker", slots_per_worker)):
            if value < 1:
                raise GraphError(f"scheduler {self.name}: {what} must be at least 1, not {value}")
        if slots_per_item < 1:
            raise GraphError(f"scheduler {self.name}: slots_per_item must be at least 1, not {slots_per_item}")
        self.exit_codes = outcome.check_rules(self.name, max_retries, timeout, on_timeout, exit_codes)
        if max_in_flight < 1:
            raise GraphError(f"scheduler {self.name}: max_in_flight must be at least 1, not {max_in_flight}")
        self.address = address
        self.n_workers = n_workers
        self.slots_per_worker = slots_per_worker
        self.slots_per_item = slots_per_item
        self.max_retries = max_retries
        self.timeout = timeout
        self.on_timeout = on_timeout
        self.heartbeat_timeout = checked_heartbeat(self.name, heartbeat_timeout)
        self.accept_python = accept_python
        self.result_host = work.resolve_host(result_host, self.name)
        self.path_map = cluster.PathMap(path_map)
        self.max_in_flight = max_in_flight
        self.lost_after_s = lost_after_s
        self.security = security
        self.shared_storage = bool(shared_storage)
        if work_item_data_source not in ("rpc", "file"):
            raise GraphError(
                f"scheduler {self.name}: work_item_data_source is 'rpc' or 'file', not {work_item_data_source!r}"
            )
        self.work_item_data_source = work_item_data_source
        self.report_relay = bool(report_relay)
        self.conn: cluster.Connection | None = None
        self.jobs: dict[str, Job] = {}  # item id -> its job, while it runs
        self.by_key: dict[str, Job] = {}
        self.temp: Path | None = None
        self._lock = threading.RLock()
        self._pending: list[Job] = []
        self._wake = threading.Condition(self._lock)  # the submitter's: jobs pending, or the cook stops
        self._more = threading.Condition(self._lock)  # the collector's: futures added, or the cook stops
        self._judged = threading.Condition(self._lock)  # a lost worker's jobs judged (``loss``)
        self._threads: list[threading.Thread] = []
        self._stopping = False
        self._next_batch = traffic.FIRST_BATCH  # the most tasks the next graph update holds (``traffic``)
        self._token = ""
        self._shipped: list[str] = []
        self._resources: dict | None = None
        #: node name -> whether its Python items can run on the workers; "" -> whether the graph's
        #: file types can (``_travels``: asked again each cook)
        self._travel: dict[str, bool] = {}
        self._lost_since: float | None = None
        self._rejoin: rejoin.Rejoin | None = None
        self._broken = ""  # why the cluster cannot be used, once that is known
        self._ac = None
        self.spec_common: dict | None = None  # what every job spec of a cook shares (``work._common``)

    def report_path(self, path: str) -> str:
        """A path a job reported, as the cook sees it (the result server calls this)."""
        return self.path_map.to_cook(path)

    def job_json(self, text: str) -> str:
        """An item's JSON as a job asks for it (``getWorkItemJSON``): with the workers' paths."""
        return work.json_for_workers(text, self.path_map) if self.path_map else text

    # -- the contract ----------------------------------------------------------------------------
    def on_start_cook(self, static: bool, cook_set: list) -> bool:
        """Prepare the jobs' folder; the cluster is reached at the first item (a cook with nothing
        to run, a no-op recook, starts no LocalCluster)."""
        self.temp = Path(self.job_temp)
        jobdata.install_job_modules(self.temp)
        if self.working_dir:
            os.makedirs(self.working_dir, exist_ok=True)
        self._token = uuid.uuid4().hex[:12]
        self.spec_common = None  # (``work.job_spec``: made again for this cook)
        self._stopping = False
        self._next_batch = traffic.FIRST_BATCH
        self._lost_since = None
        self._rejoin = None
        self._broken = ""
        self._travel = {}
        return True

    def _connect(self) -> None:
        """Reach the cluster (or start the LocalCluster), check its workers, ship the graph's code,
        start the submitting and collecting threads. A failure is kept as ``_broken``: every item
        fails with it and the next tick cancels the cook with it."""
        try:
            self.conn = cluster.connect(
                self.name,
                address=self.address,
                n_workers=self.n_workers,
                slots_per_worker=self.slots_per_worker,
                security=self.security,
                timeout_s=max(10.0, self.lost_after_s + 5),  # the client keeps trying while we wait
            )
        except GraphError as exc:
            self._broken = str(exc)
            return
        client = self.conn.client
        try:
            client.wait_for_workers(1, timeout=30)
        except Exception:  # noqa: BLE001 - TimeoutError in one of its forms
            self._broken = f"scheduler {self.name}: the Dask cluster at {self.conn.address} has no workers"
            return
        workers = client.scheduler_info()["workers"].values()
        has_slots = any("slots" in (w.get("resources") or {}) for w in workers)
        if self.slots_per_item > 1 and not has_slots:
            self._broken = (
                f"scheduler {self.name}: slots_per_item is {self.slots_per_item} but no worker of "
                f"{self.conn.address} declares slots (start them with --resources slots=N)"
            )
            return
        self._resources = {"slots": self.slots_per_item} if has_slots else None
        from pdgstore.engine.schedulers.dask import answers  # (it imports distributed)

        answers.install(client, self._call)
        if not self._shipped:
            self._shipped = cluster.ship_graph_code(self.graph_dir)
        from distributed import as_completed

        self._ac = as_completed(loop=client.loop)
        self._subscribe(client)
        self._start_thread(self._submitter, "submit")
        self._start_thread(self._collector, "collect")

    def _start_thread(self, target, label: str) -> None:
        thread = threading.Thread(target=target, name=f"pdg-dask-{label}-{self.name}", daemon=True)
        thread.start()
        self._threads.append(thread)

    def on_schedule(self, item: ScheduledItem) -> ScheduleResult:
        if self.conn is None and not self._broken:
            self._connect()
        if self._broken:
            item.message = self._broken
            return ScheduleResult.FAILED
        with self._lock:
            if len(self.jobs) >= self.max_in_flight:
                return ScheduleResult.FULL_DEFERRED
        job = Job(item.id, item.name)
        if item.in_process:  # accepted (``accept``): its function and the graph's file types travel
            types = getattr(self.transfers, "types", None)
            job.call = work.python_call(item, self.path_map.to_worker(self.graph_dir), types, work.worker_bounds(self))
        else:
            if item.command is None:
                item.message = f"scheduler {self.name} runs jobs only; work item {item.name} has no command"
                return ScheduleResult.FAILED
            try:
                moved = self.transfer_inputs(item)
                job.spec = work.job_spec(item, self)
            except PdgError as exc:
                item.message = str(exc)
                return ScheduleResult.FAILED
            except OSError as exc:
                item.message = f"work item {item.name}: could not prepare its job: {exc}"
                return ScheduleResult.FAILED
            if moved:
                self.reporter.log_line(item.id, f"transferred {len(moved)} input file(s) to {self.working_dir}")
        with self._lock:
            self.jobs[item.id] = job
            self._pending.append(job)
            self._wake.notify()
        return ScheduleResult.SUCCEEDED

    def on_tick(self) -> TickResult:
        """A Dask scheduler out of reach for ``lost_after_s`` cancels the cook with that reason; one
        back sooner (``rejoin``: the cook reaches it again itself) gets what it dropped again."""
        if self._broken:
            self.cancel_reason = self._broken
            return TickResult.CANCEL_COOK
        if self.conn is None or not self._scheduler_lost():
            self._kill_silent()  # jobs silent for heartbeat_timeout (``hearing``)
            return TickResult.READY
        where = self.conn.address or self.address
        if self.address and self._rejoin is None:  # (a LocalCluster's scheduler cannot come back)
            self._rejoin = rejoin.Rejoin(self.name, self.address, self.security)
            self._rejoin.start(self.conn.client)
            self.reporter.warning(
                None, f"the Dask scheduler at {where} is out of reach: waiting up to {self.lost_after_s:g} s for it"
            )
        if self._rejoin is not None and (client := self._rejoin.joined()) is not None:
            self._swap(client)
        lost_since = self._lost_since
        assert lost_since is not None, "_scheduler_lost noted since when"
        client = self.conn.client
        waited = time.monotonic() - lost_since
        if client.status == "running":
            if client.scheduler_info().get("workers"):  # it came back, with workers: what it dropped runs again
                self._rejoin = None
                dropped = self._resubmit_dropped()
                self.reporter.warning(
                    None,
                    f"the Dask scheduler at {where} answered again after {waited:.1f} s: {dropped} dropped job(s) run again",
                )
                with self._lock:
                    self._lost_since = None
                    self._wake.notify()
                return TickResult.READY
            if waited >= self.lost_after_s:
                self.cancel_reason = f"the Dask scheduler at {where} came back without workers"
                return TickResult.CANCEL_COOK
            return TickResult.BUSY
        if waited >= self.lost_after_s or (self._rejoin is None and client.status in ("closed", "closing")):
            self.cancel_reason = f"the Dask scheduler at {where} went away (out of reach for {waited:.1f} s)"
            return TickResult.CANCEL_COOK
        return TickResult.BUSY

    def _swap(self, client) -> None:
        """Use ``client``, connected to the Dask scheduler again, from now on: a new ``as_completed``
        on its loop and a collector of its own (the lost client's one ends)."""
        from distributed import as_completed
        from pdgstore.engine.schedulers.dask import answers

        conn = self.conn
        assert conn is not None, "only on_tick swaps, and only while connected"
        with self._lock:
            conn.client = client
            self._ac = as_completed(loop=client.loop)
            self._more.notify_all()  # the lost client's collector, waiting for futures: it ends
        answers.install(client, self._call)  # (a new Dask scheduler knows of none)
        self._start_thread(self._collector, "collect")

    def _resubmit_dropped(self) -> int:
        """The cook reached the Dask scheduler again, which forgot our tasks: kill what may still
        run of them on the workers and submit them again, each a retry with its reason."""
        assert self.conn is not None, "only on_tick resubmits, and only while connected"
        client = self.conn.client
        with self._lock:
            dropped = [
                job
                for job in self.jobs.values()
                if job.future is not None
                and not job.cancelled
                and (job.future.client is not client or job.future.status in ("cancelled", "lost", "error"))
            ]
        keys = [job.key for job in dropped if job.spec is not None]
        reaped = ""
        self._call(lambda: self._subscribe(client))  # a new scheduler
        if keys:
            self._call(lambda: client.run(remote.kill_jobs, keys, on_error="return"))
            reaped = self._reap(dropped)[0]
        for job in dropped:
            self._retry_or_fail(job, -1, f"its task was dropped while the Dask scheduler was out of reach{reaped}")
        return len(dropped)

    def _scheduler_lost(self) -> bool:
        """Whether the cook has lost the Dask scheduler (noting since when): until ``on_tick``
        sees it back with workers, even when a new client already reached it."""
        if self.conn is None or (self._lost_since is None and self.conn.client.status == "running"):
            return False
        if self._lost_since is None:
            self._lost_since = time.monotonic()
        return True

    def on_cancel_work_items(self, work_items: list, node=None) -> None:
        """Cancel their futures, kill their process groups on every worker, and report each
        cancelled once that is done."""
        with self._lock:
            chosen = [job for job in map(self.jobs.get, work_items) if job is not None and not job.cancelled]
            for job in chosen:
                job.cancelled = True
            waiting = [job for job in chosen if job in self._pending]
            for job in waiting:
                self._pending.remove(job)
        # a job its batch took from ``_pending`` whose future is not back yet is killed by the
        # submitter once it is (``Traffic._submit``): it sees ``cancelled`` under the same lock
        self._kill([job for job in chosen if job.future is not None])
        for job in chosen:
            with self._lock:
                self.jobs.pop(job.item_id, None)
                self.by_key.pop(job.key, None)
            if job.future is None and not job.key:
                self.reporter.cancelled(job.item_id, "cancelled before its job started")
            elif job.future is None:  # its batch is on its way: the submitter kills it (``Traffic._submit``)
                self.reporter.cancelled(
                    job.item_id, f"cancelled while its job was sent (attempt {job.attempt}); killed"
                )
            elif self._lost_since is not None:
                where = self.address or "its address"
                text = (
                    f"cancelled (attempt {job.attempt}); the Dask scheduler at {where} was out of reach to kill its job"
                )
                self.reporter.cancelled(job.item_id, text)
            else:
                self.reporter.cancelled(job.item_id, f"its job was killed (cancelled, attempt {job.attempt})")

    def _kill(self, started: list) -> None:
        """Cancel the futures of ``started`` jobs and kill their process groups on every worker
        (a key is also marked there, so a job that had not begun never does)."""
        client = self.conn.client if self.conn else None
        if client is None or not started or self._lost_since is not None:
            return
        keys = [job.key for job in started if job.spec is not None]
        self._call(lambda: client.cancel([job.future for job in started], force=True))
        if keys:
            self._call(lambda: client.run(remote.kill_jobs, keys, on_error="return"))

    def on_stop_cook(self, cancel: bool) -> bool:
        """Cancel and kill what still runs, stop the threads, close the client (and the
        LocalCluster this cook started): no job outlives its cook."""
        self.on_cancel_work_items(list(self.jobs))
        with self._lock:
            self._stopping = True
            self._wake.notify_all()
            self._more.notify_all()
        if self._rejoin is not None:
            self._rejoin.stop(_CALL_S)
            self._rejoin = None
        for thread in self._threads:
            thread.join(timeout=_CALL_S)
        self._threads = []
        if self.conn is not None:
            try:
                self.conn.client.unsubscribe_topic(remote.STARTED_TOPIC)
                self.conn.client.unsubscribe_topic(remote.ENDED_TOPIC)
                self.conn.client.unsubscribe_topic("all")
            except Exception:  # noqa: BLE001 - a lost scheduler
                pass
            self.conn.close()
            self.conn = None
        cluster.unship_graph_code(self._shipped)
        self._shipped = []
        return True

    def get_log_uri(self, item: ScheduledItem) -> str:
        return jobs.file_uri(jobs.log_path(self.temp, item.name)) if self.temp and not item.in_process else ""

    # -- the threads (``traffic``: submitting and collecting) -------------------------------------
    def _subscribe(self, client) -> None:
        client.subscribe_topic(remote.STARTED_TOPIC, self._announced)
        client.subscribe_topic(remote.ENDED_TOPIC, self._answered)
        client.subscribe_topic("all", self._cluster_event)

    def _announced(self, event) -> None:
        """A job announced it runs (``remote.run_job``), on the client's thread: its start,
        recorded. While the loss of a worker under it is judged (``loss``) it waits for that
        judgment, and a second run of the same key (Dask ran it again after its worker died, and
        no word of the loss came) has that loss judged first."""
        msg = event[1]
        with self._lock:
            job = self.by_key.get(msg.get("key"))
            if job is None or job.cancelled or msg["run"] in job.runs:
                return
            if job.runs and not job.losing and (lost := self._claim([job], job.worker)):
                self._judge_apart(lost, job.worker)
            if job.losing:
                job.held.append(msg)
                return
            self._run_started(job, msg)

    def _run_started(self, job: Job, msg: dict) -> None:
        """(Under the lock.) The run ``msg`` announced, recorded as the start of its current attempt."""
        spec = job.spec
        assert spec is not None, "only a command job (remote.run_job) announces its runs"
        job.runs.add(msg["run"])
        job.worker, job.heard = msg["worker"], time.monotonic()
        self.reporter.started(job.item_id, pid=msg["pid"], log_uri=spec["log_uri"], attempt=job.attempt)

    def _ended(self, future, result) -> None:
        with self._lock:
            job = self.by_key.get(future.key)
            if job is None or job.cancelled or job.future is not future:
                return
            if job.losing:  # a worker lost under it: that judged first (``loss``)
                self._wait_judged(job)
        conn = self.conn
        if future.status != "finished" and self._scheduler_lost() or conn is None or future.client is not conn.client:
            return  # dropped with the connection: on_tick submits it again or cancels the cook, with the reason
        if isinstance(result, BaseException):
            exc = result
            if type(exc).__name__ == "KilledWorker":
                return self._killed_worker(job, exc)
            text = f"its Dask task failed: {error_line(exc)}"
            if type(exc).__name__ == "CancelledError":
                text = "its Dask task was cancelled outside this cook"
            return self._settle(job, lambda: self.reporter.failed(job.item_id, -1, text))
        if not isinstance(result, (dict, JobResult)):
            text = f"its Dask task returned {type(result).__name__}, not a job's answer"
            return self._settle(job, lambda: self.reporter.failed(job.item_id, -1, text))
        if isinstance(result, JobResult):
            self.reporter.started(job.item_id, quiet=True)
            return self._settle(job, lambda: self.reporter.finished(job.item_id, result))
        self._job_ended(job, result)

    def _job_ended(self, job: Job, answer: dict) -> None:
        report = self.reporter
        spec = job.spec
        assert spec is not None, "only a command job (remote.run_job) answers with a dict"
        if answer["run"] not in job.runs:  # it ended before it announced itself (or that is on the way)
            if answer["error"]:
                job.runs.add(answer["run"])
            else:  # as its announcement would have been: started (after a lost worker's judgment)
                self._announced((0, {k: answer[k] for k in ("run", "pid", "worker")} | {"key": job.key}))
                if job.losing:
                    self._wait_judged(job)
        if answer["error"]:
            return self._settle(job, lambda: report.failed(job.item_id, answer["code"], answer["error"]))
        if spec.get("copy_back") and (problem := reach.copy_back(spec, answer, self.path_map)):
            return self._settle(job, lambda: report.failed(job.item_id, answer["code"], problem))
        if answer.get("log_error"):
            report.log_line(job.item_id, answer["log_error"], level="warning")
        code = answer["code"]
        action, message = outcome.judge(
            code, job.kill_reason or answer["kill_reason"], job.status, self.exit_codes, self.timeout, self.on_timeout
        )
        if action == "retry":
            return self._retry_or_fail(job, code, message)
        if action == "failure":
            if job.attempt > 1:
                report.attrib_set(job.item_id, "failurecount", ["int", [job.failures + 1]])
                message += f" (attempt {job.attempt}, after {job.failures} retries)"
            return self._settle(job, lambda: report.failed(job.item_id, code, message))
        if action == "warning":
            report.log_line(job.item_id, message, level="warning")
        result = {"warning": "warning", "ignore": "ignore"}.get(action, "success")
        self._settle(job, lambda: report.succeeded(job.item_id, code, message, outcome=result))

    def _reap(self, lost: list[Job]) -> tuple[str, dict]:
        keys = [job.key for job in lost if job.spec is not None]
        return reach.reap(self.conn.client, keys, self._call) if self.conn is not None else ("", {})

    def fetch_output(self, item_id: str, path: str) -> None:
        """An output file a job reports (``path``: the cook's) copied from its worker's own disk
        (``shared_storage`` off) before the report is recorded; ValueError says why it could not be."""
        if self.shared_storage or self.conn is None:
            return
        job = self.jobs.get(item_id)
        if job is None:
            raise ValueError(f"work item {item_id} has no job running on scheduler {self.name}")
        reach.fetch(self.conn.client, self.path_map, job.worker, job.key, path, job.name, work.worker_bounds(self))

    def _retry_or_fail(self, job: Job, code: int, message: str) -> None:
        if self._charge(job, code, message):
            with self._lock:
                self._requeue(job)

    def _charge(self, job: Job, code: int, message: str) -> bool:
        """A failed attempt: recorded as a retry (True; its next attempt is the caller's to start)
        while ``max_retries`` allows, else the item failed with ``message`` (False)."""
        report = self.reporter
        if job.failures < self.max_retries:
            job.failures += 1
            report.attrib_set(job.item_id, "failurecount", ["int", [job.failures]])
            report.retrying(job.item_id, code, f"{message}; retry {job.failures} of {self.max_retries}")
            with self._lock:
                job.attempt += 1
                job.status, job.heard, job.kill_reason = None, 0.0, ""
            return True
        if job.attempt > 1:
            report.attrib_set(job.item_id, "failurecount", ["int", [job.failures + 1]])
            message += f" (attempt {job.attempt}, after {job.failures} retries)"
        self._settle(job, lambda: report.failed(job.item_id, code, message))
        return False

    def _requeue(self, job: Job) -> None:
        """(Under the lock.) Send its job again, under a new key, unless it was cancelled: no loss
        of a worker judged under that key yet."""
        self.by_key.pop(job.key, None)
        if job.cancelled:
            return
        job.status, job.heard, job.kill_reason = None, 0.0, ""
        job.lost = set()
        job.future = None
        self._pending.append(job)
        self._wake.notify()

    def _settle(self, job: Job, report) -> None:
        with self._lock:
            if self.jobs.get(job.item_id) is not job:
                return
            del self.jobs[job.item_id]
            self.by_key.pop(job.key, None)
        report()

    def _call(self, fn) -> None:
        reach.call_within(fn, _CALL_S, f"pdg-dask-call-{self.name}")
