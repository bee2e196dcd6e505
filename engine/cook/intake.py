"""Reports from workers, schedulers and jobs turned into events: the cook loop's intake.

Every report (``engine.schedulers.reports``) that arrives on the loop's inbox is handled here by
its type: a job's start and end, attributes, output files, log lines and status it reports, a
warning, an in-process run's result. An item's outcome goes through the one settle path
(``engine.cook.settle``). A report that carries ``done`` (a result server call waiting for its
answer) is answered only after the flush that wrote its effect (``answer_flushed``); a report about
an item no longer running is refused.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from pdgstore.engine import joblogs
from pdgstore.engine.cook.task import expected_records
from pdgstore.engine.errors import error_line
from pdgstore.engine.files import attrfiles
from pdgstore.engine.files import records as files
from pdgstore.engine.files.confine import outside_allowed
from pdgstore.engine.graph.workitem import WorkItem
from pdgstore.engine.joblogs import one_line
from pdgstore.engine.pdgapi.bridge import item_json
from pdgstore.engine.pdgapi.setters import different_type
from pdgstore.engine.schedulers import reports as rp
from pdgstore.engine.schedulers.contract import Scheduler
from pdgstore.engine.schedulers.outcome import exited

from pdgstore import events as ev
from pdgstore import paths

if TYPE_CHECKING:
    from pdgstore.engine.files.confine import Confine
    from pdgstore.engine.schedulers.resultserver import ResultServer


class Intake:
    def __init__(
        self,
        host,
        running: dict[str, str],
        schedulers: dict[str, Scheduler],
        scheduled_item: Callable,
        batches=None,
    ) -> None:
        self.host = host  # engine.cook.dispatch.Host: what of the cook the intake may use
        self.settle = host.settle
        self.running = running  # item id -> the scheduler running it (shared with Dispatch)
        self.schedulers = schedulers
        self.scheduled_item = scheduled_item  # item id -> the ScheduledItem a scheduler sees
        self.server: ResultServer | None = None  # the result server, while one runs: a settled item's calls are refused
        self.confine: Confine | None = None  # the project's bounds (engine.files.confine), set by the dispatch's start
        #: the cook's batch work items (``engine.cook.batches``): their reports go to their sub-items
        self.batches = batches
        self.append_sub_item: Callable | None = None  # Dispatch.append_sub_item
        self.waiting_done: list = []  # callbacks answered after the next flush
        #: item id -> why: jobs that reported themselves cancelled (``pdgcmd.workItemCancelled``);
        #: their end is recorded as a cancel, whatever their exit code
        self.cancelled_by_job: dict[str, str] = {}
        #: item id -> the last reason heard while its job ran (a call the result server refused, an
        #: error the job logged): added to its failure when the job then just exits non-zero
        self.heard_why: dict[str, str] = {}
        self._on: dict[type, Callable[[Any], None]] = {
            rp.Finished: self._finished,
            rp.JobStarted: self._job_started,
            rp.JobEnded: self._job_ended,
            rp.JobCancelled: self._job_cancelled,
            rp.AttribSet: self._attrib_set,
            rp.OutputAdded: self._output_added,
            rp.LogLine: self._log_line,
            rp.StatusReported: self._status,
            rp.Warned: self._warned,
            rp.ItemJsonAsked: self._item_json,
            rp.SubItemAsked: self._sub_item_asked,
        }

    def handle(self, report: rp.Report) -> None:
        """Turn one report (``engine.schedulers.reports``) into events, by its type. A job's call
        (``rp.ANSWERED``: a report, a keepalive) also tells its scheduler the job is alive."""
        item_id = report.item_id
        batches = self.batches
        if isinstance(report, rp.ANSWERED) and item_id is not None:
            name = self.running.get(item_id)
            if name is not None:
                self.schedulers[name].job_heard(batches.of_sub.get(item_id, item_id) if batches else item_id)
        batch = batches.by_id.get(item_id) if batches and item_id else None
        if batch is not None:
            return self._batch_report(batch, report)
        self._on[type(report)](report)

    # -- batches ---------------------------------------------------------------------------------------
    def _batch_report(self, batch, report: rp.Report) -> None:
        """A report about a batch (``engine.cook.batches``): its job's start, end or cancel, and what
        the job reported about the batch itself, go to each sub-item still cooking."""
        if isinstance(report, rp.ItemJsonAsked):
            return item_json(self, batch.batch_id, report.done)
        name = self.running.get(batch.batch_id)
        if name is None:  # the batch's job is over
            if isinstance(report, rp.SubItemAsked):
                report.done(ValueError(f"batch {batch.name} is not cooking"))
            elif isinstance(report, rp.ANSWERED):
                self._answer(report.done, f"batch {batch.name} is not cooking")
            return
        if isinstance(report, rp.SubItemAsked):
            return self._sub_item_asked(report, batch)
        live = [sub for sub in batch.subs if sub in self.running]
        if isinstance(report, rp.JobStarted):
            batch.pid, batch.log_uri, batch.attempt = report.pid, report.log_uri, report.attempt
        if isinstance(report, rp.StatusReported):  # the job's own verdict on the batch: judged at its end
            self.schedulers[name].job_reported(batch.batch_id, report.ok, report.message)
            said = "it was cancelled" if report.cancelled else "success" if report.ok else "failure"
            for sub in live:
                if report.cancelled:
                    self.cancelled_by_job[sub] = report.message or "the job cancelled itself"
                text = f"the job reported {said} for its batch {batch.name}"
                self.host.recorder.emit(ev.WorkItemLogged, item_id=sub, level="info", text=text)
            return self._answer(report.done, None)
        handler = self._on[type(report)]
        if isinstance(report, rp.ANSWERED):  # each sub-item's copy is answered by no one: the batch's is
            for sub in live:
                handler(dataclasses.replace(report, item_id=sub, done=None))
            self._answer(report.done, None)
        else:
            for sub in live:
                handler(dataclasses.replace(report, item_id=sub))
        ended = isinstance(report, rp.JobCancelled) or (isinstance(report, rp.JobEnded) and report.outcome != "retry")
        if ended:
            if isinstance(report, rp.JobEnded):  # sub-items settled as it went: their job's end is known now
                for sub in batch.subs:
                    if sub not in live:
                        self.host.recorder.emit(
                            ev.JobEnded, item_id=sub, exit_code=report.exit_code, outcome=report.outcome, message=""
                        )
            for sub in batch.subs:  # sub-items the scheduler never reported (a refused start): settled too
                if sub in self.running:
                    self._failed(sub, f"its batch {batch.name} ended without it")
            del self.running[batch.batch_id]
            if self.server is not None:
                self.server.disallow(batch.batch_id)
            self.batches.ended(batch.batch_id)

    def _sub_item_asked(self, report: rp.SubItemAsked, batch=None) -> None:
        """``pdgcmd.appendSubItem``: a new sub-item of the running batch (its index), or why not."""
        if batch is None:
            return report.done(ValueError(f"work item {report.item_id} is not a batch"))
        append = self.append_sub_item
        assert append is not None, "the dispatch sets append_sub_item before any report arrives"
        try:
            index = append(batch)
        except Exception as exc:  # noqa: BLE001 - the job hears why
            return report.done(exc if isinstance(exc, ValueError) else ValueError(error_line(exc)))
        self._answer(report.done, index)  # once the new item is in the log

    def _finished(self, report: rp.Finished) -> None:
        """An in-process item's run ended: record what it made."""
        item_id = report.item_id
        if self.running.pop(item_id, None) is None:
            return  # a late result of an item already recorded as cancelled
        result = report.result
        state, error, traceback = result.state, result.error, result.traceback
        outside = self._outside(result.outputs) if state == "cooked_success" else ""
        outputs = result.outputs
        if outside:  # a scheduler's own run (a dask worker's, a custom one's) reported it: refused here
            item = self.host.state.items[item_id]
            name, outputs = item.name, list(item.outputs)  # as an in-process run that fails leaves them
            state, traceback = "cooked_fail", ""
            error = (
                f"OutsideProject: work item {name} reported output file {outside}; outputs must stay inside the project"
            )
        self.settle.result(
            {
                "item_id": item_id,
                "state": state,
                "attrs": result.attrs,
                "outputs": outputs,
                "started_ns": result.started_ns,
                "duration_ns": result.duration_ns,
                "error": error,
                "traceback": traceback,
            }
        )

    def _outside(self, outputs: list) -> str:
        """Why the first output that leaves the project (and its working folders) does, or ''. Only
        absolute and ``..`` paths are resolved here: the engine's in-process runs resolve every output
        as they record it (``engine.cook.task``), so the common relative path costs a string test."""
        if self.confine is None:
            return ""
        for out in outputs:
            path = out[0]
            if path[:1] == "/" or path.startswith("../") or path == "..":
                problem = self.confine.problem(path)
                if problem and not outside_allowed():  # the environment is read only then: not per item
                    return problem
        return ""

    def _late(self, report: rp.Report) -> bool:
        """A report about an item already settled: refused (a waiting job hears why)."""
        if report.item_id in self.running:
            return False
        if isinstance(report, rp.ANSWERED):
            self._answer(report.done, f"work item {report.item_id} is not cooking")
        return True

    def _job_started(self, report: rp.JobStarted) -> None:
        if self._late(report):
            return
        self.heard_why.pop(report.item_id, None)  # a new attempt: what the last one heard is not its
        if report.pid == 0 and not report.log_uri:
            self.host.recorder.emit(ev.WorkItemStateChanged, item_id=report.item_id, state="cooking")
        else:
            self.host.recorder.emit(
                ev.JobStarted,
                item_id=report.item_id,
                scheduler=report.scheduler,
                attempt=report.attempt,
                pid=report.pid,
                log_uri=report.log_uri,
            )

    def _job_ended(self, report: rp.JobEnded) -> None:
        if self._late(report):
            return
        item_id, exit_code, outcome, text = report.item_id, report.exit_code, report.outcome, report.message
        heard = self.heard_why.pop(item_id, "")
        if outcome == "failure" and exit_code > 0:
            text = text or exited(exit_code)
            if text.startswith(exited(exit_code)):  # the exit code alone says nothing
                heard = heard or self._last_words(item_id)
                if heard:
                    text = f"{text}: {heard}"
        why = self.cancelled_by_job.pop(item_id, None) if outcome != "retry" else None
        if why is not None:  # the job said it was cancelled: its exit code does not matter
            outcome, text = "cancelled", why
        self.host.recorder.emit(ev.JobEnded, item_id=item_id, exit_code=exit_code, outcome=outcome, message=text)
        if outcome == "retry":
            return
        if why is not None:
            self._release(item_id)
            return self.settle.cancelled(item_id, why)
        if outcome == "failure":
            self._failed(item_id, text or exited(exit_code))
        else:
            self.succeeded(item_id)

    def _last_words(self, item_id: str) -> str:
        """The last line of the failed job's log, when it is a local file (a Python job's uncaught
        exception, a tool's last complaint): read at its failure only."""
        job = self.host.state.jobs.get(item_id)
        path = paths.uri_path(job[3]) if job is not None and job[3] else ""
        return joblogs.last_words(path) if path else ""

    def _job_cancelled(self, report: rp.JobCancelled) -> None:
        if self._late(report):
            return
        self.cancelled_by_job.pop(report.item_id, None)
        self._release(report.item_id)
        self.settle.cancelled(report.item_id, report.message)

    def _attrib_set(self, report: rp.AttribSet) -> None:
        """Record an attribute a job (``pdgcmd.set*Attrib``) or a scheduler set. One the item has
        with another type is refused, as PDG refuses it and as the item's own ``pdgjson`` and an
        in-process item do (``pdgapi.setters``): the job hears why and fails, the type stays."""
        if self._late(report):
            return
        item = self.host.state.items[report.item_id]
        old = item.attrs.get(report.name)
        if old is not None and old[0] != report.attr[0]:
            why = different_type(None, report.name, old[0], report.attr[0])
            self.host.recorder.emit(ev.WorkItemLogged, item_id=report.item_id, level="warning", text=why)
            self.heard_why[report.item_id] = f"result server: {why}"
            return self._answer(report.done, different_type(item.name, report.name, old[0], report.attr[0]))
        self.host.recorder.emit(ev.WorkItemAttribSet, item_id=report.item_id, name=report.name, attr=report.attr)
        self._answer(report.done, None)

    def _output_added(self, report: rp.OutputAdded) -> None:
        if self._late(report):
            return
        host, item_id = self.host, report.item_id
        try:
            record = files.record(
                report.path, host.graph.root, report.tag or None, types=host.graph.types, item=host.state.items[item_id]
            )
        except FileNotFoundError:
            name = host.state.items[item_id].name
            message = f"work item {name} reported output file {report.path}, which does not exist"
            host.recorder.emit(ev.WorkItemLogged, item_id=item_id, level="warning", text=message)
            return self._answer(report.done, message)
        host.recorder.emit(ev.WorkItemOutputAdded, item_id=item_id, outputs=[record])
        self._answer(report.done, None)

    def _log_line(self, report: rp.LogLine) -> None:
        if self._late(report):
            return
        self.host.recorder.emit(ev.WorkItemLogged, item_id=report.item_id, level=report.level, text=report.text)
        if report.level == "error":
            self.heard_why[report.item_id] = one_line(report.text)
        self._answer(report.done, None)

    def _warned(self, report: rp.Warned) -> None:
        item_id = report.item_id
        if item_id is None or item_id not in self.running:
            item = self.host.state.items.get(item_id) if item_id is not None else None
            about = f"{item.name} ({item_id})" if item is not None else item_id
            self.host.warn(report.message if item_id is None else f"work item {about}: {report.message}")
            return self._answer(report.done, None)
        self.host.recorder.emit(ev.WorkItemLogged, item_id=item_id, level="warning", text=report.message)
        if report.refusal:
            self.heard_why[item_id] = one_line(report.message)
        self._answer(report.done, None)

    def _status(self, report: rp.StatusReported) -> None:
        if self._late(report):
            return
        item_id, ok, text = report.item_id, report.ok, report.message
        if self.batches is not None and item_id in self.batches.of_sub:
            return self._sub_status(report)
        if report.cancelled:  # the scheduler sees a failure (never retried); its end is recorded as a cancel
            self.cancelled_by_job[item_id] = text or "the job cancelled itself"
            self.schedulers[self.running[item_id]].job_reported(item_id, False, text)
            self.host.recorder.emit(
                ev.WorkItemLogged, item_id=item_id, level="warning", text="the job reported it was cancelled"
            )
            return self._answer(report.done, None)
        self.schedulers[self.running[item_id]].job_reported(item_id, ok, text)
        said = "success" if ok else "failure"
        self.host.recorder.emit(
            ev.WorkItemLogged,
            item_id=item_id,
            level="info" if ok else "warning",
            text=f"the job reported {said}" + (f": {text}" if text else ""),
        )
        self._answer(report.done, None)

    def _sub_status(self, report: rp.StatusReported) -> None:
        """A batch's job settles one of its sub-items (``workItemSuccess(batch, subindex=i)``): at
        once, so its dependents cook while the batch goes on."""
        item_id, emit = report.item_id, self.host.recorder.emit
        if report.cancelled:
            emit(ev.WorkItemLogged, item_id=item_id, level="warning", text="the job reported it was cancelled")
            self._release(item_id)
            self.settle.cancelled(item_id, report.message or "the job cancelled it")
        elif report.ok:
            emit(ev.WorkItemLogged, item_id=item_id, level="info", text="the job reported success")
            self.succeeded(item_id)
        else:
            self._failed(item_id, "the job reported failure" + (f": {report.message}" if report.message else ""))
        self._answer(report.done, None)

    def _item_json(self, report: rp.ItemJsonAsked) -> None:
        """A job asks for its item (``pdgcmd.getWorkItemJSON``): read, nothing recorded."""
        item_json(self, report.item_id, report.done)

    def _answer(self, done, error: str | None) -> None:
        if done is not None:
            self.waiting_done.append((done, error))

    def answer_flushed(self) -> None:
        """The reports written by the last flush may now be confirmed to whoever sent them."""
        waiting, self.waiting_done = self.waiting_done, []
        for done, error in waiting:
            done(error)

    def _release(self, item_id: str) -> None:
        del self.running[item_id]
        self.heard_why.pop(item_id, None)
        if self.server is not None:
            self.server.disallow(item_id)

    def succeeded(self, item_id: str) -> None:
        """An out-of-process job ended well: its expected outputs must exist, then it is cooked,
        the files of its file attributes recorded (``attrfiles``: as an in-process item's are)."""
        host = self.host
        self._release(item_id)
        item = host.state.items[item_id]
        node = host.graph.nodes[item.node]
        view = WorkItem.view_of(item, host.graph.root)
        attrs: dict = {}
        try:
            outputs = expected_records(view, node, list(item.outputs), host.graph.root, host.graph.types)
            if attrfiles.holds_files(item.attrs):
                attrs = attrfiles.recorded(item.attrs, host.graph.root, host.graph.types, item)
        except Exception as exc:  # noqa: BLE001 - a missing file or a bad expression fails the item
            return self._cooked(
                item_id,
                "cooked_fail",
                list(item.outputs),
                str(exc) if isinstance(exc, FileNotFoundError) else error_line(exc),
            )
        self._cooked(item_id, "cooked_success", outputs, "", attrs)

    def _failed(self, item_id: str, message: str) -> None:
        self._release(item_id)
        item = self.host.state.items[item_id]
        self._cooked(item_id, "cooked_fail", list(item.outputs), f"work item {item.name}: {message}")

    def _cooked(self, item_id: str, state: str, outputs: list, error: str, attrs: dict | None = None) -> None:
        item = self.host.state.items[item_id]
        now = time.time_ns()
        started = item.started_ns or now
        self.settle.result(
            {
                "item_id": item_id,
                "state": state,
                "attrs": attrs or {},
                "outputs": outputs,
                "started_ns": started,
                "duration_ns": max(0, now - started),
                "error": error,
            }
        )
