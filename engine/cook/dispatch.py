"""Between the cook's loop and its schedulers: ready queues, ticks, and reports turned into events.

Each scheduler has its own ready queue. A scheduling round offers each queue's items to its
scheduler's ``on_schedule`` until the queue is empty, the scheduler is full (FULL_DEFERRED), or it
had ``max_items`` calls since its last tick. DEFERRED items wait for that scheduler's next tick.
Every ``tick_period`` a scheduler's ``on_tick`` runs; CANCEL_COOK cancels the cook, its reason
recorded. Reports (``engine.schedulers.contract.Reporter``) arrive on the loop's inbox; ``handle`` makes
them events. A report that carries a ``done`` callback (a result server call) is answered only
after the flush that wrote its effect.
"""

from __future__ import annotations

import atexit
import os
import time
import traceback
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from pdgstore.engine.cook.batches import Batch, Batches
from pdgstore.engine.cook.intake import Intake
from pdgstore.engine.cook.recorder import Recorder
from pdgstore.engine.cook.settle import Settle
from pdgstore.engine.errors import ExpansionError, GraphError, error_line
from pdgstore.engine.files.confine import Confine, working_dirs
from pdgstore.engine.files.transfer import Transfers
from pdgstore.engine.graph.workitem import WorkItem
from pdgstore.engine.pdgapi.bridge import gives_uris, record_uris, record_writes, static_maps
from pdgstore.engine.schedulers import jobs
from pdgstore.engine.schedulers.contract import (
    AcceptResult,
    Reporter,
    ScheduledItem,
    Scheduler,
    ScheduleResult,
    TickResult,
)
from pdgstore.engine.schedulers.pathmap import path_map_env

from pdgstore import events as ev
from pdgstore import reasons
from pdgstore.state import State

if TYPE_CHECKING:
    from pdgstore.engine.cook.inbox import Inbox
    from pdgstore.engine.graph.api import Graph
    from pdgstore.engine.schedulers.resultserver import ResultServer

_INF = float("inf")
#: what on_schedule returns when it took the item (its PDG-API writes are the item's)
_TAKEN = (
    ScheduleResult.SUCCEEDED,
    ScheduleResult.COOK_SUCCEEDED,
    ScheduleResult.COOK_FAILED,
    ScheduleResult.COOK_CANCELED,
)


@dataclass
class Host:
    """What ``Dispatch`` may use of the cook it serves, and nothing more."""

    state: State
    graph: Graph
    recorder: Recorder
    settle: Settle  # every outcome of an item goes through it
    inbox: Inbox  # where reports arrive
    jobs: int
    target: str  # the node cooked ('' for the whole graph)
    store_dir: str
    task: Callable  # item -> the in-process run of it (``engine.cook.task.task``)
    warn: Callable[[str], None]  # a cook warning
    cancel: Callable[[str], None]  # cancel the cook, for a reason
    flush: Callable[[], None]  # write what is pending (and answer the reports it wrote)
    plan_static: Callable  # () -> the static plan (``engine.cook.static.plan``)
    #: node -> whether it has generated every item it will have (a partial batch may then go)
    generated: Callable[[str], bool] = lambda node: True
    #: (node, like item id) -> the id of a new item of ``node`` beside ``like`` (``appendSubItem``)
    append_item: Callable[[str, str], str] | None = None


class Running(dict):
    """Item id -> the scheduler running it, counting the items that left (``gone``): a scheduler
    that said it is full is asked again only after one has."""

    gone = 0

    def __delitem__(self, key: str) -> None:
        super().__delitem__(key)
        self.gone += 1

    def pop(self, key, *default):
        had = key in self
        value = super().pop(key, *default)
        self.gone += had
        return value

    def clear(self) -> None:
        self.gone += len(self)
        super().clear()


class Dispatch:
    def __init__(
        self, host: Host, schedulers: dict[str, Scheduler], route: dict[str, tuple], static: bool = False
    ) -> None:
        self.host = host
        self.settle = host.settle
        #: a static cook hands the planned graph to every scheduler before the first round
        self.static = static
        self.plan = None
        self.schedulers = schedulers
        #: node name -> (scheduler name, the candidate asked per item or None)
        self.route = route
        self.ready: dict[str, deque] = {name: deque() for name in schedulers}
        self.deferred: dict[str, list] = {name: [] for name in schedulers}
        self.budget: dict[str, float] = {name: s.max_items or _INF for name, s in schedulers.items()}
        self.busy: set[str] = set()
        #: scheduler name -> ``running.gone`` when it last said FULL_DEFERRED: it is asked again once
        #: an item has left ``running`` (a slot may have freed) or at its next tick, not at every
        #: report (preparing an item's job only to hear "full" again cost as much as the job's start)
        self.full: dict[str, int] = {}
        #: scheduler name -> the ScheduledItem it last said FULL_DEFERRED to (the head of its queue)
        self.held: dict[str, ScheduledItem] = {}
        #: the schedulers whose items may have a status or log URI to record (``gives_uris``)
        self.uris = {name for name, s in schedulers.items() if gives_uris(s)}
        now = time.monotonic()
        self.next_tick = {name: now + s.tick_period for name, s in schedulers.items()}
        self.running = Running()  # item id -> scheduler name (a batch and its sub-items too)
        self.server: ResultServer | None = None  # the result server, when a scheduler needs one
        self.confine: Confine | None = None  # where outputs may be (``start``)
        #: batch work items of nodes with a ``batch_size`` (``engine.cook.batches``)
        self.batches = Batches(host.graph.name)
        #: where reports become events (``engine.cook.intake``)
        self.intake = Intake(host, self.running, schedulers, self.scheduled_item, self.batches)
        self.intake.append_sub_item = self.append_sub_item
        self.handle = self.intake.handle
        self.answer_flushed = self.intake.answer_flushed
        self.cook_started = False  # on_start_cook called (at the first scheduling round)
        self.started_cook: set[str] = set()  # the schedulers whose on_start_cook ran
        self.cook_set: list = []

    # -- queues ----------------------------------------------------------------------------------
    def enqueue(self, item_id: str, node) -> None:
        name, candidate = self.route[node.name]
        if candidate is None and self.schedulers[name].asks_accept():  # seed 002: onAcceptWorkItem for every item
            try:
                answer = self.schedulers[name].on_accept_work_item(self.scheduled_item(item_id))
            except Exception as exc:  # noqa: BLE001 - a scheduler's bug fails the item, not the cook
                return self.settle.fail(item_id, self._raised(name, "on_accept_work_item", exc))
            if answer is AcceptResult.REJECT:
                item_name = self.host.state.items[item_id].name
                return self.settle.fail(
                    item_id,
                    f"scheduler {name} rejected work item {item_name} ({self._callback(name, 'on_accept_work_item')})",
                )
        elif candidate is not None:  # a scheduler that may take in-process items if it accepts them
            try:
                answer = self.schedulers[candidate].on_accept_work_item(self.scheduled_item(item_id))
            except Exception as exc:  # noqa: BLE001 - a scheduler's bug fails the item, not the cook
                return self.settle.fail(item_id, self._raised(candidate, "on_accept_work_item", exc))
            if answer is AcceptResult.ACCEPT:
                name = candidate
        batches = self.batches
        if batches.appending is not None and batches.appending.node == node.name:
            return self._join(batches.appending, item_id)  # appendSubItem: it joins the running batch
        if batches.batch_size(node) > 0:
            batch = batches.add(item_id, node, name)
            if batch is not None:
                self.ready[name].append(batch.batch_id)
            return
        self.ready[name].append(item_id)

    @property
    def waiting_done(self) -> list:
        """Reports waiting for the next flush before they are answered."""
        return self.intake.waiting_done

    def has_work(self) -> bool:
        return bool(self.running) or any(self.ready.values()) or any(self.deferred.values()) or self.batches.waiting()

    def scheduled_item(self, item_id: str) -> ScheduledItem:
        host = self.host
        batch = self.batches.by_id.get(item_id)
        if batch is not None:
            return self._batch_item(batch)
        item = host.state.items[item_id]
        node = host.graph.nodes[item.node]
        if getattr(node, "out_of_process", False):
            view = WorkItem.view_of(item, host.graph.root, getattr(node, "node_parms", None))
            return ScheduledItem(view, node, command=None, env={})
        return ScheduledItem(item, node, run=host.task(item))

    def _batch_item(self, batch: Batch) -> ScheduledItem:
        """What a scheduler and the job see of a batch: the node's job for its first sub-item, under
        the batch's id and name, its sub-items in ``batch_subs`` (its JSON's ``subItems``)."""
        subs = [self.scheduled_item(sub).item for sub in batch.subs]
        first = subs[0]
        node = self.host.graph.nodes[batch.node]
        view = WorkItem(
            item_id=batch.batch_id,
            name=batch.name,
            index=batch.index,
            node=batch.node,
            attrs={k: v for k, v in first.attrs.items() if k != "__pdg_batch"},  # the batch is in no batch
            inputs=first.inputs,
            outputs=[],
            root=self.host.graph.root,
            node_parms=getattr(node, "node_parms", None),
            read_only=True,
        )
        view.batch_subs = subs
        return ScheduledItem(view, node, command=None, env={})

    # -- scheduling ------------------------------------------------------------------------------
    def schedule(self) -> None:
        if self.static and self.plan is None:
            self._hand_static()
        elif not self.cook_started:
            self.start_cook()
        if self.batches.pending:
            idle = not self.running and not any(self.ready.values()) and not any(self.deferred.values())
            for due in self.batches.due(self.host.generated, idle):
                self.ready[due.scheduler].append(due.batch_id)
        emit = self.host.recorder.emit
        running = self.running
        full = self.full
        held = self.held
        uris = self.uris
        for name, queue in self.ready.items():
            if not queue or name in self.busy or full.get(name) == running.gone:
                continue
            scheduler = self.schedulers[name]
            budget = self.budget[name]
            on_schedule = scheduler.on_schedule
            while queue and budget > 0:
                item_id = queue.popleft()
                budget -= 1
                server = self.server
                try:
                    scheduled = held.pop(name, None)
                    if scheduled is None or scheduled.id != item_id:
                        scheduled = self.scheduled_item(item_id)
                        if scheduled.run is None:
                            scheduled.node.prepare_job(scheduled, scheduler)
                    if scheduled.run is not None:
                        server = None  # in-process work reports through the loop, not the server
                    if server is not None:  # before the job starts: its first call may come at once
                        self._allow(server, scheduled)
                    result = on_schedule(scheduled)
                except Exception as exc:  # noqa: BLE001
                    self._fail(item_id, self._raised(name, "on_schedule", exc, item_id))
                    if server is not None:
                        server.disallow(item_id)
                    continue
                if server is not None and result is not ScheduleResult.SUCCEEDED:
                    server.disallow(item_id)
                batch = self.batches.by_id.get(item_id)
                ids = batch.subs if batch is not None else None  # a batch's writes are its sub-items'
                if result in _TAKEN:
                    record_writes(self.host.recorder.emit, self.host.graph, scheduled, ids, self.confine)
                if result is ScheduleResult.SUCCEEDED:
                    running[item_id] = name
                    if batch is not None:
                        for i, sub in enumerate(batch.subs):
                            running[sub] = name
                            emit(ev.WorkItemStateChanged, item_id=sub, state="scheduled")
                            self._in_batch(sub, batch, i, f"sub item {i} of {len(batch.subs)}")
                    else:
                        emit(ev.WorkItemStateChanged, item_id=item_id, state="scheduled")
                    if name in uris:
                        self._call(
                            name, "get_status_uri", lambda s=scheduled, c=scheduler, i=ids: record_uris(emit, c, s, i)
                        )
                elif result is ScheduleResult.FULL_DEFERRED:
                    queue.appendleft(item_id)
                    budget += 1
                    full[name] = running.gone
                    held[name] = scheduled  # offered again as it is, as PDG offers the same work item
                    break
                elif result is ScheduleResult.DEFERRED:
                    self.deferred[name].append(item_id)
                else:
                    self._settled_at_once(name, item_id, result, scheduled.message)
            self.budget[name] = budget

    def _allow(self, server, scheduled: ScheduledItem) -> None:
        """Let the item's job report (a batch's: about itself and each sub-item)."""
        batch = self.batches.by_id.get(scheduled.id)
        if batch is None:
            return server.allow(scheduled.id, scheduled.name)
        subs = [(sub.item_id, sub.name) for sub in scheduled.item.batch_subs]
        server.allow_batch(batch.batch_id, batch.name, subs)

    def _fail(self, item_id: str, message: str) -> None:
        """Fail an item that did not run, or every sub-item of a batch that did not."""
        batch = self.batches.by_id.get(item_id)
        if batch is None:
            return self.settle.fail(item_id, message)
        for sub in batch.subs:
            self.settle.fail(sub, message)
        self.batches.ended(item_id)

    def _join(self, batch: Batch, item_id: str) -> None:
        """``appendSubItem``: the new item ``item_id`` is a sub-item of the running ``batch``."""
        index = self.batches.join(batch, item_id)
        emit = self.host.recorder.emit
        self.running[item_id] = batch.scheduler
        # it runs for what its batch ran for (``pdg explain`` goes on to the first sub-item's reason)
        emit(ev.WorkItemDirtied, item_id=item_id, reason=reasons.appended(batch.name, batch.subs[0]))
        emit(ev.WorkItemStateChanged, item_id=item_id, state="scheduled")
        self._in_batch(item_id, batch, index, f"sub item {index}, appended by its job")
        if batch.pid:
            emit(
                ev.JobStarted,
                item_id=item_id,
                scheduler=batch.scheduler,
                attempt=batch.attempt,
                pid=batch.pid,
                log_uri=batch.log_uri,
            )
        if self.server is not None:
            self.server.join_batch(batch.batch_id, item_id, self.host.state.items[item_id].name)

    def _in_batch(self, item_id: str, batch: Batch, index: int, words: str) -> None:
        """Record that ``batch`` cooks ``item_id``: a line of its history, and the attribute
        ``__pdg_batch`` [batch id, name, sub index] (NoCopy), ``pdg.WorkItem.batchParent``'s source."""
        emit = self.host.recorder.emit
        emit(
            ev.WorkItemLogged, item_id=item_id, level="info", text=f"in batch {batch.name} ({batch.batch_id}): {words}"
        )
        attr = ["string", [batch.batch_id, batch.name, str(index)], ["NoCopy"]]
        emit(ev.WorkItemAttribSet, item_id=item_id, name="__pdg_batch", attr=attr)

    def append_sub_item(self, batch: Batch) -> int:
        """``pdgcmd.appendSubItem``: a new work item of the batch's node, beside its last sub-item
        (its inputs and attributes), made by the walk, decided, and joined to the batch: its index."""
        if self.host.append_item is None:
            raise ValueError(f"batch {batch.name}: this cook cannot add work items")
        self.batches.appending = batch
        try:
            item_id = self.host.append_item(batch.node, batch.subs[-1])
        finally:
            self.batches.appending = None
        if self.batches.of_sub.get(item_id) != batch.batch_id:
            item = self.host.state.items.get(item_id)
            raise ValueError(
                f"batch {batch.name}: the new sub item {item.name if item else item_id} did not need to cook"
                f" ({item.state if item else 'unknown'})"
            )
        return batch.subs.index(item_id)

    def _hand_static(self) -> None:
        """Plan the graph (``engine.cook.static``), record the plan, and hand it to each scheduler with
        its ready items; those it does not give back are its own (scheduled), the rest stay queued."""
        self.plan = plan = self.host.plan_static()
        for warning in plan.warnings:
            self.host.warn(warning)
        self.start_cook()  # seed 002: onStartCook comes after the static generation
        emit = self.host.recorder.emit
        emit(
            ev.CookStaticPlanned,
            items=len(plan.dependencies),
            dependencies=plan.edges,
            ready=sum(len(q) for q in self.ready.values()),
            dynamic_nodes=list(plan.dynamic_nodes),
        )
        for name, queue in self.ready.items():
            scheduler = self.schedulers[name]
            server = self.server
            ready = []
            batches = [b for b in queue if b in self.batches.by_id]  # batches go through on_schedule
            for item_id in batches:
                queue.remove(item_id)
            while queue:
                item_id = queue.popleft()
                try:
                    scheduled = self.scheduled_item(item_id)
                    if scheduled.run is None:
                        scheduled.node.prepare_job(scheduled, scheduler)
                except Exception as exc:  # noqa: BLE001
                    self.settle.fail(item_id, self._raised(name, "prepare_job", exc, item_id))
                    continue
                if server is not None and scheduled.run is None:
                    server.allow(item_id, scheduled.name)
                ready.append(scheduled)
            dependencies, dependents = static_maps(plan, ready, self.host.state, self.host.graph.nodes)
            try:
                back = scheduler.on_schedule_static(dependencies, dependents, list(ready))
            except Exception as exc:  # noqa: BLE001 - its ready items fail, not the cook
                for scheduled in ready:
                    self.settle.fail(scheduled.id, self._raised(name, "on_schedule_static", exc))
                    if server is not None:
                        server.disallow(scheduled.id)
                continue
            offered = {s.id for s in back or ()}
            for scheduled in ready:
                if scheduled.id in offered:
                    queue.append(scheduled.id)
                    if server is not None:
                        server.disallow(scheduled.id)
                else:
                    emit(ev.WorkItemStateChanged, item_id=scheduled.id, state="scheduled")
                    self.running[scheduled.id] = name
            queue.extend(batches)

    def _settled_at_once(self, name: str, item_id: str, result, message: str = "") -> None:
        batch = self.batches.by_id.get(item_id)
        if batch is not None:  # handled at once: every sub-item so
            for sub in batch.subs:
                self._settled_at_once(name, sub, result, message)
            return self.batches.ended(item_id)
        item = self.host.state.items[item_id]
        if result is ScheduleResult.COOK_SUCCEEDED:
            self.running[item_id] = name
            self.intake.succeeded(item_id)
        elif result is ScheduleResult.COOK_CANCELED:
            self.settle.cancelled(item_id, f"scheduler {name} cancelled it")
        elif result in (ScheduleResult.FAILED, ScheduleResult.COOK_FAILED):
            what = "could not schedule" if result is ScheduleResult.FAILED else "failed"
            self.settle.fail(item_id, message or f"scheduler {name} {what} work item {item.name}")
        else:
            self.settle.fail(item_id, f"scheduler {name}'s on_schedule returned {result!r}, not a ScheduleResult")

    def tick(self, now: float) -> None:
        """Tick the schedulers whose period has passed: deferred items come back, budgets refill."""
        cancel = self.host.cancel
        for name, due in self.next_tick.items():
            if now < due:
                continue
            scheduler = self.schedulers[name]
            self.next_tick[name] = now + scheduler.tick_period
            self.budget[name] = scheduler.max_items or _INF
            self.full.pop(name, None)
            if self.deferred[name]:
                self.ready[name].extendleft(reversed(self.deferred[name]))
                self.deferred[name] = []
            try:
                answer = scheduler.on_tick()
            except Exception as exc:  # noqa: BLE001
                cancel(self._raised(name, "on_tick", exc))
                continue
            if answer is TickResult.CANCEL_COOK:
                reason = scheduler.cancel_reason or "no reason given"
                cancel(f"scheduler {name} cancelled the cook: {reason}")
            elif answer is TickResult.BUSY:
                self.busy.add(name)
            else:
                self.busy.discard(name)

    def next_due(self) -> float:
        return min(self.next_tick.values(), default=_INF)

    # -- cancel and end --------------------------------------------------------------------------
    def cancel_running(self) -> None:
        """Drop what is queued and ask every scheduler to cancel the jobs it runs."""
        for queue in self.ready.values():
            queue.clear()
        for deferred in self.deferred.values():
            deferred.clear()
        self.held.clear()
        by_node: dict[tuple, list] = {}  # seed 002: a call per node, with the node, when all its work stops
        items = self.host.state.items
        batches = self.batches
        for item_id, name in self.running.items():
            if item_id in batches.of_sub:
                continue  # its batch's job is cancelled
            batch = batches.by_id.get(item_id)
            by_node.setdefault((name, batch.node if batch else items[item_id].node), []).append(item_id)
        for (name, node), ids in by_node.items():
            try:
                self.schedulers[name].on_cancel_work_items(ids, self.host.graph.nodes.get(node))
            except Exception as exc:  # noqa: BLE001
                self.host.warn(self._raised(name, "on_cancel_work_items", exc))

    def start(self, static: bool, cook_set: list) -> None:
        """The result server (when any item may run as a job), ``on_start`` (once per scheduler life),
        ``on_configure_cook`` (its changes take effect); ``on_start_cook`` waits for the first round."""
        host = self.host
        self.cook_set = list(cook_set)
        oop = any(getattr(host.graph.nodes[n], "out_of_process", False) for n in self.route)
        folders = working_dirs(
            [*getattr(host.graph, "schedulers", {}).values(), *self.schedulers.values()], host.graph.root
        )
        self.confine = self.intake.confine = Confine(host.graph.root, folders)
        if oop or any(s.needs_result_server for s in self.schedulers.values()):
            from pdgstore.engine.schedulers.resultserver import (
                ResultServer,  # only cooks whose schedulers need one pay its imports
            )
            from pdgstore.engine.schedulers.sink import CookSink

            # a scheduler whose jobs run on other machines names the address to bind and its path map
            remote: Any = next((s for s in self.schedulers.values() if getattr(s, "result_host", None)), None)
            self.server = ResultServer(
                CookSink(Reporter(host.inbox, "")),
                host.graph.root,
                host=remote.result_host if remote else "127.0.0.1",
                path_map=getattr(remote, "report_path", None),
                fetch=getattr(remote, "fetch_output", None),
                job_json=getattr(remote, "job_json", None),
                working_dirs=folders,
            )
            self.server.start()
            self.intake.server = self.server
        transfers = Transfers(host.graph.types, host.state, host.recorder, host.graph.root)
        job_env = path_map_env(getattr(host.graph, "path_map", None) or os.environ.get("PDG_PATHMAP"))
        if job_env and os.environ.get("PDG_PATHMAP_ZONE"):
            job_env["PDG_PATHMAP_ZONE"] = os.environ["PDG_PATHMAP_ZONE"]
        declared = set(map(id, getattr(host.graph, "schedulers", {}).values()))
        for name, scheduler in self.schedulers.items():
            scheduler.reporter = Reporter(host.inbox, name)
            if self.server is not None:
                scheduler.result_server_addr = self.server.address
                scheduler.result_server_env = self.server.environment()
            scheduler.graph_dir = host.graph.root
            scheduler.path_bounds = (host.graph.root, *folders)
            scheduler.transfers = transfers
            scheduler.job_temp = str(jobs.temp_dir(host.store_dir, host.graph.name))
            scheduler.job_env = dict(job_env)
            if not getattr(scheduler, "_pdg_alive", False):
                scheduler._pdg_alive = True
                self._call(name, "on_start", scheduler.on_start)
                if id(scheduler) in declared:  # the graph's own: it lives as long as this process
                    atexit.register(self._call, name, "on_stop", scheduler.on_stop, False)
        options: dict[str, Any] = {"jobs": host.jobs, "node": host.target, "static": static or self.static}
        for scheduler in self.schedulers.values():  # cook_options: a writeable dict of the cook's options
            scheduler.on_configure_cook(options)
        self.static = bool(options.get("static"))
        inproc: Any = self.schedulers.get("inprocess")  # (the in-process scheduler has ``jobs``)
        if options.get("jobs") != host.jobs and inproc is not None and id(inproc) not in declared:
            host.jobs = inproc.jobs = max(1, int(options["jobs"]))

    def start_cook(self) -> None:
        """``on_start_cook`` of every scheduler (a False or an exception aborts the cook)."""
        self.cook_started = True
        for name, scheduler in self.schedulers.items():
            try:
                ok = scheduler.on_start_cook(self.static, list(self.cook_set))
            except Exception as exc:  # noqa: BLE001
                raise GraphError(self._raised(name, "on_start_cook", exc)) from None
            self.started_cook.add(name)
            if ok is False:
                raise GraphError(f"scheduler {name} refused to start the cook (on_start_cook returned False)")

    def _call(self, name: str, callback: str, fn, warn: bool = True) -> None:
        try:
            fn()
        except Exception as exc:  # noqa: BLE001 - a scheduler's bug is a warning, not a crash
            if warn:
                self.host.warn(self._raised(name, callback, exc))

    def stop(self, cancel: bool) -> None:
        """End the cook for every scheduler (killing what runs on cancel), then stop the server
        and refuse the reports nobody will record any more."""
        try:
            self._stop_schedulers(cancel)
        finally:
            self.host.flush()  # what the jobs reported is in the log before they hear "ok"
            if self.server is not None:
                self.server.stop()
                self.server = self.intake.server = None
            while True:
                try:
                    report = self.host.inbox.get_nowait()
                except Exception:  # noqa: BLE001 - queue.Empty
                    break
                done = getattr(report, "done", None)
                if done is not None:
                    done("the cook has ended")

    def _stop_schedulers(self, cancel: bool) -> None:
        """``on_stop_cook`` where the cook started; ``on_stop`` for schedulers made for this cook."""
        declared = set(map(id, getattr(self.host.graph, "schedulers", {}).values()))
        for name, scheduler in self.schedulers.items():
            if name in self.started_cook:
                self._call(name, "on_stop_cook", lambda s=scheduler: s.on_stop_cook(cancel))
            if id(scheduler) not in declared and getattr(scheduler, "_pdg_alive", False):
                scheduler._pdg_alive = False
                self._call(name, "on_stop", scheduler.on_stop)

    def _callback(self, name: str, callback: str) -> str:
        """The scheduler ``name``'s ``callback`` as its class spells it (``onSchedule``)."""
        scheduler = self.schedulers.get(name)
        return scheduler.callback_name(callback) if scheduler is not None else callback

    def _raised(self, name: str, callback: str, exc: BaseException, item_id: str = "") -> str:
        if isinstance(exc, ExpansionError):  # the user's mistake (an @attr the item lacks): its sentence names
            return str(exc)  # the node, item and parameter; the engine's file and line would only mislead
        where = traceback.extract_tb(exc.__traceback__)[-1] if exc.__traceback__ else None
        at = f" at {where.filename}:{where.lineno}" if where else ""
        item = self.host.state.items.get(item_id) if item_id else None
        about = f" for work item {item.name}" if item is not None else f" for {item_id}" if item_id else ""
        return f"scheduler {name}'s {self._callback(name, callback)}{about} raised {error_line(exc)}{at}"
