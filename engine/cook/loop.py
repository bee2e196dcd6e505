"""One cook of a graph: set it up, run its loop, end it, and record it all as events.

The loop is single-threaded and owns the state. ``Cook`` puts the parts together: the walk that
generates items and hands them on (``engine.cook.walk``), the decisions about each item
(``engine.cook.items`` asking ``engine.incremental.decide``), the one path that settles outcomes and
keeps the tallies (``engine.cook.settle``), and the queues between the loop and the schedulers
(``engine.cook.dispatch``). Every change is an event made through the ``Recorder``; the batch is
flushed at least every ``tick_s`` and always before the terminal or an event handler hears of it.

A failed item stops its own branch only: independent branches finish, and the cook ends failed.
``cancel()`` (Ctrl-C) stops scheduling, waits ``grace_s`` for running items, records the rest as
cooked_cancel and what they feed dirty (``engine.cook.cancelmarks``), and flushes.

A dry run (``pdg cook --dry-run``, ``Cook.plan``) is the same cook with nothing carried out but the
decisions: no log (the events change a copy of the state only), no handlers, no runs, and an
``observe`` callback that hears each decision.
"""

from __future__ import annotations

import os
import queue
import time
from collections.abc import Callable

from pdgstore.engine.cook import cancelmarks, results
from pdgstore.engine.cook import static as static_graph
from pdgstore.engine.cook.dispatch import Dispatch, Host
from pdgstore.engine.cook.handlers import Handlers, translate
from pdgstore.engine.cook.holding import Holding
from pdgstore.engine.cook.inbox import Inbox
from pdgstore.engine.cook.items import Items
from pdgstore.engine.cook.recorder import Recorder
from pdgstore.engine.cook.sameoutputs import SameOutputs
from pdgstore.engine.cook.settle import Settle
from pdgstore.engine.cook.snapshotting import CookSnapshot
from pdgstore.engine.cook.summary import CookSummary, recover_dead_cook
from pdgstore.engine.cook.task import routes, task
from pdgstore.engine.cook.walk import Walk
from pdgstore.engine.files.confine import Confine, working_dirs
from pdgstore.engine.graph.api import Graph
from pdgstore.engine.graph.workitem import item_identity
from pdgstore.engine.incremental import delta, noop, vouch
from pdgstore.engine.incremental import signatures as incremental
from pdgstore.engine.stop import Stop

from pdgstore import events as ev
from pdgstore.cookstate import LazyItems
from pdgstore.errors import StoreIOError
from pdgstore.log import EventLog
from pdgstore.state import State

__all__ = ["Cook", "CookSummary", "item_identity", "recover_dead_cook"]

#: a wait for in-process items at a cook's stop this long is told to the user (it may be long)
NOTICE_AFTER_S = 1.0
SNAPSHOT_EVERY = 20_000  # events since the last snapshot that make the end of a cook write a new one
MAX_PENDING = 20_000  # events held before a flush even within a tick


class Cook:
    """A cook of ``graph`` (or of ``node`` and what it needs) into an open writer ``log`` (None:
    nothing is appended; with ``observe``, a dry run)."""

    def __init__(
        self,
        log: EventLog | None,
        graph: Graph,
        *,
        state: State | None = None,
        node: str | None = None,
        jobs: int | None = None,
        tick_s: float = 0.1,
        grace_s: float = 2.0,
        progress: Callable[[int, int], None] | None = None,
        store_dir: str | None = None,
        trigger: dict | None = None,
        static: bool = False,
        scan: delta.Scan | None = None,
        observe: Callable[[str, str, dict], None] | None = None,
        generate_only: bool = False,
    ) -> None:
        self.log = log
        self.static = static  # generate everything first, then hand the graph to the schedulers
        #: PDG's "Generate Static Work Items": generate and record what can be known, run nothing
        self.generate_only = generate_only
        self.trigger = trigger  # CookTriggered fields when a watcher or a schedule started this cook
        #: the no-op manifest's stat scan of every file recorded for the graph, made just before
        #: (``engine.incremental.manifest``), or a watcher's word for it (``delta.told``): which files
        #: changed, and their stats
        self.scan = scan
        self.graph = graph
        # the store's items are read as the walk reaches them (``pdgstore.cookstate``), not all up front
        self.state = state if state is not None else (log.cook_state() if log is not None else State())
        self.target = node
        self.jobs = jobs or os.cpu_count() or 1
        self.tick_s = tick_s
        self.grace_s = grace_s
        self.progress = progress
        self.store_dir = store_dir or (os.path.dirname(log.path) if log is not None else graph.root)
        #: hears every decision (item id, action, reason); given, the cook runs nothing (a dry run)
        self.observe = observe
        #: a dry run's decisions (item id -> (action, reason)) and summary (``Cook.plan``)
        self.decisions: dict[str, tuple[str, dict]] = {}
        self.summary: CookSummary | None = None
        self.handlers = Handlers([] if observe is not None or log is None else graph.handlers)
        self.recorder = Recorder(log, self.state, graph=graph.name, keep_events=bool(self.handlers), offload=True)
        if log is not None and isinstance(self.state.items, LazyItems) and not (static or generate_only):
            self.recorder.holding = Holding(self.state.items)  # items done and written are let go of
        self.settle = Settle(self.recorder, cold=isinstance(self.state.items, LazyItems) and self.state.items.complete)
        #: not after --generate-only: the cook that runs those items writes one (packing every item
        #: twice would cost generating them a second time)
        self.snapshot = CookSnapshot(log, self.recorder, enabled=not generate_only)
        self._cancel = Stop()  # ``cancel`` may be called from a signal handler (``engine.stop``)
        self._cancel_reason = ""
        self.inbox = Inbox()
        self.dispatch: Dispatch | None = None
        self.walk: Walk | None = None
        self._outside_same = self.reused_all = self.left_consistent = False  # (``engine.incremental.vouch``)
        self._generation_failed = ""  # why a node could not generate its items, if one could not
        self.warnings: list[str] = []
        #: tells of two items that record one output file (``engine.cook.sameoutputs``)
        self.same = SameOutputs(graph, self.state, self.recorder, self._warn, cold=self.settle.cold)
        #: hears what the cook tells its user while it runs, beside the log (the terminal: ``pdg cook``)
        self.notice: Callable[[str], None] | None = None

    @classmethod
    def plan(cls, log: EventLog | None, graph: Graph, **kwargs) -> tuple[Cook, dict]:
        """``pdg cook --dry-run``: the cook's decisions (item id -> (action, reason)) and the cook, on the
        state of ``log`` as a cook reads it (in the caller's one reading) or an empty one (None)."""
        decisions: dict[str, tuple[str, dict]] = {}
        state = log.cook_state() if log is not None else State()
        store_dir = kwargs.pop("store_dir", None) or (os.path.dirname(log.path) if log is not None else None)
        observe = lambda item_id, action, reason: decisions.__setitem__(item_id, (action, reason))  # noqa: E731
        cook = cls(None, graph, state=state, store_dir=store_dir, observe=observe, **kwargs)
        cook.decisions = decisions
        cook.summary = cook.run()
        return cook, decisions

    # -- public --------------------------------------------------------------------------------
    def cancel(self, reason: str = "cancelled by the user") -> None:
        """Stop the cook (thread-safe; from a signal handler, an event handler or another thread)."""
        if not self._cancel.is_set():
            self._cancel_reason = reason
            self._cancel.set()

    @property
    def is_cancelled(self) -> bool:
        return self._cancel.is_set()

    @property
    def counts(self) -> dict:
        return self.settle.counts

    @property
    def runs(self) -> dict:
        return self.walk.runs if self.walk is not None else {}

    @property
    def affected(self) -> set[str] | None:
        """The items a delta walk decided (``engine.incremental.delta``); None after a full walk."""
        return self.walk.affected if self.walk is not None else None

    @property
    def _started_walk(self) -> Walk:
        """The walk ``_start`` made, for what runs once the cook has started."""
        assert self.walk is not None, "_start made the walk"
        return self.walk

    def run(self, after: Callable[[CookSummary], None] | None = None) -> CookSummary:
        """Cook; the summary. ``after(summary)`` runs once the cook is over but before its log
        appender has written everything: what it stores through ``self.recorder`` (the no-op
        manifest) is written there while this process goes on."""
        started = time.perf_counter()
        old_cwd = os.getcwd()
        os.chdir(self.graph.root)
        started_schedulers = False
        dispatch: Dispatch | None = None
        try:
            self._start()
            dispatch = self.dispatch
            started_schedulers = dispatch is not None
            try:
                self._loop()
            except KeyboardInterrupt:  # no SIGINT handler installed (library use): same as cancel()
                self.cancel("interrupted (KeyboardInterrupt)")
                self._stop_running()
            if dispatch is not None and started_schedulers:
                started_schedulers = False
                dispatch.stop(self._cancel.is_set())
                self._await_in_process()
            status, message = self._finish()
            state = self.state
            failed_ids = self.settle.failed_ids  # in the walk's order; no other item is read back
            failed = [
                {"item_id": i.item_id, "name": i.name, "node": i.node, "error": i.error}
                for i in (
                    state.items.get(j) for run in self._started_walk.runs.values() for j in run.items if j in failed_ids
                )
                if i is not None and i.cook_id == self.cook_id and i.state == "cooked_fail"
            ]
            summary = CookSummary(
                self.cook_id,
                status,
                dict(self.settle.counts),
                0.0,
                message,
                failed,
                self.warnings,
                []
                if self.generate_only or (self.scan is not None and self.scan.told)
                else results.listed(self.graph, state, self._started_walk),
            )
            if self.generate_only:
                summary.generated = self._generated_counts()
            if after is not None:
                after(summary)
            self.recorder.close()  # everything written: the store is this process's alone again
            if self.recorder.holding is not None:  # and what it is done with is let go of
                self.recorder.holding.release(self.recorder.written_seq)
            if self.progress is not None and self.recorder.confirmed is not None:
                self.progress(*self.recorder.confirmed)
        except StoreIOError as exc:  # the log cannot record this end (writing is what failed): the lock can
            if self.log is not None:
                self.log.note_stopped(str(exc))
            raise
        finally:
            try:
                if dispatch is not None and started_schedulers:
                    dispatch.stop(True)
            finally:  # a scheduler's stop that fails (its own write failing too) must not leave these
                try:
                    self._await_in_process()  # a cook stopped by an error too: before the cwd goes back
                finally:
                    self.recorder.abandon()  # after a failure only: it was closed above
                    os.chdir(old_cwd)
        summary.seconds = time.perf_counter() - started
        return summary

    def _generated_counts(self) -> dict:
        """Per node in scope: how many items it holds now and when it generates (``--generate-only``)."""
        out = {}
        for name in self.scope:
            count = len(self.state.node_items.get((self.graph.name, name), ()))
            out[name] = {"items": count, "mode": self._started_walk.modes.get(name, "")}
        return out

    def touched(self) -> list[str] | None:
        """After a delta walk that renumbered no item, and used the no-op manifest's scan: the items
        it generated and decided (those it added among them: ``Walk.added``; it may have removed
        some too: ``grown.of_walk``), of the nodes that are no partitioners (every other item is as
        that manifest recorded it: ``manifest.Since``); else None."""
        walk = self.walk
        if self.reused_all and self.scan is not None:
            return []  # nothing changed: the scan found every file as the manifest recorded it
        if walk is None or walk.affected is None or walk.renumbered or self.scan is None:
            return None
        touched = [i for run in walk.runs.values() if not run.node.is_partitioner for i in run.items]
        return touched + delta.named_since(self.graph, self.state, self.scan, set(touched))

    def graph_results(self) -> list[str]:
        """The whole graph's results, as recorded, after a cook of one node that left it consistent
        (``manifest.save``)."""
        return results.listed(self.graph, self.state, self._started_walk, whole=True)

    # -- start ---------------------------------------------------------------------------------
    def _start(self) -> None:
        rec = self.recorder
        if self.log is not None:
            recover_dead_cook(rec)
        self.cook_id = rec.cook_id = self.state.last_cook_id() + 1
        graph = self.graph
        scope = graph.upstream_closure(self.target) if self.target else graph.topological_order()
        self.scope = scope
        described = graph.describe()
        previous = self.state.graphs.get(graph.name)
        node_fp = {d["name"]: incremental.node_fingerprint(d) for d in described}
        node_reasons = incremental.node_changes(previous.nodes if previous else [], described)
        self._outside_same = vouch.outside_unchanged(self.state, graph, scope, previous, node_reasons, self.cook_id)
        rel = lambda p: os.path.relpath(p, self.store_dir).replace(os.sep, "/")  # noqa: E731
        rec.emit(
            ev.GraphLoaded,
            path=rel(graph.path) if graph.path else "",
            root=rel(graph.root),
            nodes=described,
            parms=dict(graph.parms),
            working_dirs=list(working_dirs(getattr(graph, "schedulers", {}).values(), graph.root)),
        )
        rec.emit(
            ev.CookStarted, node=self.target or "", jobs=self.jobs, pid=os.getpid(), overrides=dict(graph.overrides)
        )
        if self.trigger:
            rec.emit(ev.CookTriggered, **self.trigger)
        self.walk = walk = Walk(graph, self.state, rec, self.settle, scope, self.cook_id, self._fail_cook, self._warn)
        # fresh nodes made in bulk (``engine.cook.bulk``) but for a dry run (it hears each decision) and a static plan
        walk.bulk = self.generate_only or (self.observe is None and not self.static)
        # a cook tells its progress from its loop on, when the items known ahead are all counted
        walk.flush = lambda: self._flush(progress=self.generate_only)
        for message in graph.types.warnings:
            self._warn(message)
        walk.files.stats = stats = self._stats()
        # items of these nodes whose inputs were not remade are reused unchecked (``Scan.since`` too)
        since = self.scan.since if self.scan is not None else None
        consistent = since is not None or noop.consistent(self.state, graph.name, self.cook_id)
        unchecked = consistent and not graph.types.cache_handlers
        shortcut = noop.pure_nodes(graph, scope, node_reasons) if unchecked else set()
        self.settle.remade.update(since or ())  # (``delta.Scan.since``: by either walk)
        walk.items = Items(
            graph,
            self.state,
            rec,
            self.settle,
            stats=stats,
            node_fp=node_fp,
            node_reasons=node_reasons,
            shortcut=shortcut,
            enqueue=None,  # set below, when the cook has something to run
            observe=self.observe,
        )
        walk.items.same, self.settle.made = self.same, self.same.wrote
        if not self.target and previous is not None:
            for gone in [d["name"] for d in previous.nodes if d["name"] not in graph.nodes]:
                for item_id in list(self.state.node_items.get((graph.name, gone), {})):
                    walk.items.removed(item_id, self.cook_id, f"node {gone} is no longer in the graph")
        scan = self.scan
        saw_change = scan is not None and (scan.changed or not scan.patterns_same or since is not None)
        if not saw_change and noop.nothing_to_do(
            graph, self.state, scope, stats, node_reasons, self.cook_id, scanned=scan is not None
        ):
            walk.reuse_everything()
            self.reused_all = True
            return
        if self.observe is None and not self.generate_only:  # a dry run, or generating only, runs nothing
            self.dispatch = self._make_dispatch()
            walk.items.enqueue = self.dispatch.enqueue
            self.dispatch.start(False, scope)
        self._flush()
        found = (
            None
            if self.static or self.generate_only  # a static plan walks every item, and so does generating
            else delta.affected(graph, self.state, scope, shortcut, stats, scan=self.scan)
        )
        if found is not None:
            rec.restatted(self.scan.restats if self.scan is not None else None)  # (``restat``)
            walk.walk_delta(*found)
        else:
            if self.target and self._outside_same:
                walk.items.before = {}  # what it remade was, for the children outside its scope (``vouch``)
            walk.start()

    def _stats(self) -> dict:
        """The stat results the decisions read: of the files the manifest's scan found changed (or
        a watcher saw change), the rest on demand."""
        if self.scan is not None:
            return delta.LazyStats(self.scan.stats)  # the changed files' stats; the rest when asked
        # no scan (a cook after one that ended early): each file stat'ed when a decision asks, not
        # every recorded file up front, which read every item of the scope into memory
        self.scan = None
        return delta.LazyStats({})

    def _make_dispatch(self) -> Dispatch:
        used, route = routes(self.graph, self.scope, self.jobs)
        graph, walk = self.graph, self._started_walk
        # outputs stay inside the project or a working folder its schedulers declared (engine.files.confine)
        declared = [*getattr(graph, "schedulers", {}).values(), *used.values()]
        confine = Confine(graph.root, working_dirs(declared, graph.root))
        host = Host(
            state=self.state,
            graph=graph,
            recorder=self.recorder,
            settle=self.settle,
            inbox=self.inbox,
            jobs=self.jobs,
            target=self.target or "",
            store_dir=self.store_dir,
            task=lambda item: task(graph, item, confine),
            warn=self._warn,
            cancel=self.cancel,
            flush=self._flush,
            plan_static=lambda: static_graph.plan(walk),
            generated=lambda node: walk.runs[node].generated if node in walk.runs else True,
            append_item=walk.append_item,
        )
        return Dispatch(host, used, route, static=self.static)

    # -- the loop ------------------------------------------------------------------------------
    def _loop(self) -> None:
        dispatch = self.dispatch
        if dispatch is None:
            return
        next_flush = time.monotonic() + self.tick_s
        get = self.inbox.get
        get_nowait = self.inbox.get_nowait
        handle = dispatch.handle
        recorder = self.recorder
        while True:
            if self._cancel.is_set():
                self._stop_running()
                return
            dispatch.schedule()
            if not dispatch.has_work():
                return
            now = time.monotonic()
            timeout = max(0.0, min(next_flush, dispatch.next_due()) - now)
            try:
                message = get(timeout=timeout)
            except queue.Empty:
                message = None
            while message is not None:
                handle(message)
                if recorder.pending > MAX_PENDING:
                    break
                try:
                    message = get_nowait()
                except queue.Empty:
                    message = None
            now = time.monotonic()
            if now >= dispatch.next_due():
                dispatch.tick(now)
            if now >= next_flush or recorder.pending > MAX_PENDING or dispatch.waiting_done:
                self._flush()
                next_flush = time.monotonic() + self.tick_s
            if self.snapshot.at_tail and self.snapshot.tail_due(self.settle, self._started_walk.runs, SNAPSHOT_EVERY):
                self._flush()  # the snapshot is the state at the end of a batch written
                self.snapshot.ask()

    def _stop_running(self) -> None:
        """After a cancel: ask the schedulers to cancel their jobs, let running items finish for up
        to ``grace_s``, then give up on them. In-process items are not given up on when the grace
        runs out: Python code on the cook's threads cannot be killed as a job is, and a cook that
        returned while they run would leave them writing files (relative to the graph's folder,
        this process's working directory only until then) after their items were recorded
        cancelled. They are waited for, recorded as they end, and the user is told; a second
        signal (``grace_s`` set to 0) stops every wait."""
        dispatch = self.dispatch
        if dispatch is None:  # no scheduler was started: nothing runs
            return
        dispatch.cancel_running()
        started, grace_s = time.monotonic(), self.grace_s
        told = False
        while dispatch.running:
            left = started + self.grace_s - time.monotonic()  # grace_s may drop to 0 meanwhile
            if left <= 0:
                here = self._in_process(dispatch.running) if self.grace_s > 0 else []
                if not here:
                    break
                if not told:
                    told = True
                    self._tell(
                        f"waiting for {_count_names(here, self.state)} to end: Python code running "
                        "in the cook's process cannot be stopped from outside (a second Ctrl-C "
                        "leaves them, to end with this process)"
                    )
                left = self.tick_s
            try:
                dispatch.handle(self.inbox.get(timeout=min(self.tick_s, left)))
            except queue.Empty:
                pass
        if dispatch.running:  # said in the log: the items' cancels alone do not tell why they ended
            given = "a second signal stopped the wait" if self.grace_s < grace_s else f"the {grace_s:g} s grace ran out"
            self._warn(f"{len(dispatch.running)} running work item(s) given up on: {given}")
        dispatch.running.clear()

    def _in_process(self, running) -> list[str]:
        """Those of the ``running`` items (item id -> scheduler name) that run on this process's threads."""
        assert self.dispatch is not None, "only _stop_running asks, with its dispatch"
        schedulers = self.dispatch.schedulers
        return [i for i, name in running.items() if getattr(schedulers.get(name), "in_process", False)]

    def _await_in_process(self) -> None:
        """Once the schedulers stopped: wait for the in-process items still running (a cook stopped
        by an error, by a failing write above all, or left by a second signal), so that none writes
        a file or reports once the cook has returned. A wait longer than ``NOTICE_AFTER_S`` is told
        to the user; a signal then (a second one, if the cook was cancelled already) stops waiting,
        and the items left end with this process (``pdg cook`` exits at once)."""
        dispatch = self.dispatch
        if dispatch is None:
            return
        waiting = [s for s in dispatch.schedulers.values() if not s.wait_here(0)]
        cancelled = self._cancel.is_set()
        began, told = time.monotonic(), False
        while waiting:
            if self.grace_s <= 0 or (self._cancel.is_set() and not cancelled):
                if told or not cancelled:  # else the warning that gave up on them said it
                    self._tell(
                        f"{_count_names(self._here(waiting), self.state)} left running, to end with this process"
                    )
                return
            if not told and time.monotonic() - began >= NOTICE_AFTER_S:
                told = True
                self._tell(
                    f"the cook has stopped; waiting for {_count_names(self._here(waiting), self.state)} "
                    "to end: Python code running in the cook's process cannot be stopped from outside "
                    "(Ctrl-C leaves them, to end with this process)"
                )
            waiting = [s for s in waiting if not s.wait_here(self.tick_s)]

    @staticmethod
    def _here(schedulers) -> list[str]:
        return [item_id for s in schedulers for item_id in s.running_here()]

    def _tell(self, message: str) -> None:
        """A warning the user hears now (``notice``), not only once the cook is over."""
        self._warn(message)
        if self.notice is not None:
            self.notice(message)

    def _warn(self, message: str, about: str = "") -> None:
        self.warnings.append(message)
        self.recorder.emit(ev.CookWarning, about=about or self.graph.name, message=message)

    def _fail_cook(self, message: str) -> None:
        self._warn(message)
        self._generation_failed = message

    # -- end -----------------------------------------------------------------------------------
    def _finish(self) -> tuple[str, str]:
        rec = self.recorder
        counts = self.settle.counts
        cancelled = self._cancel.is_set()
        if cancelled:
            for item_id in self._started_walk.unfinished():
                self.settle.cancelled(item_id, self._cancel_reason)
            cancelmarks.mark_unreached(self._started_walk, rec)  # what it never reached may be stale
        generation_failed = self._generation_failed
        if cancelled:
            status, message = "cancelled", self._cancel_reason
        elif counts["failed"] or generation_failed:
            status = "failed"
            message = generation_failed or f"{counts['failed']} work item(s) failed"
        elif self.generate_only:
            status, message = "success", f"generated the static work items ({self.settle.total} in all); nothing ran"
        else:
            status, message = "success", ""
        self.left_consistent = (
            bool(self.target) and status == "success" and self._outside_same and not (self.static or self.generate_only)
        ) and vouch.leaves_consistent(
            rec, self.graph, self.scope, self.state, self._started_walk, reused_all=self.reused_all
        )
        self.same.finish()  # its warnings before the end: the summary and the cook's record count them
        nodes = None if rec.nodes is None else sorted(rec.nodes)
        rec.emit(
            ev.CookFinished,
            status=status,
            message=message,
            counts=dict(counts),
            consistent=self.left_consistent,
            nodes=nodes,
        )
        self._flush()
        # counted from the newest snapshot, not this cook's events: many small cooks add up too; not
        # weighed by bytes: a cook reads its state from the tables, so the events after a snapshot
        # cost the next cook nothing (a snapshot serves time travel far back, ``pdgstore.timetravel``).
        # The log ends at the state's seq even while the appender still writes the last batch. Not after
        # a cancel: its user waits for the end (packing was 40% of that wait at W(100,000)); the next cook writes it.
        if not self.generate_only and not cancelled:
            self.snapshot.at_end(SNAPSHOT_EVERY)
        rec.checkpoint_now()
        return status, message

    def _flush(self, progress: bool = True) -> None:
        """Write what is pending; ``progress``: the progress bar hears its counts once it is written."""
        settle = self.settle
        self.same.check()  # its warnings go with this batch
        written = self.recorder.flush(mark=(settle.done, settle.total) if progress else None)
        if self.recorder.holding is not None:
            self.recorder.holding.release(self.recorder.written_seq)
        problem = self.recorder.take_problem()
        if problem:
            self._warn(problem)  # written now: the snapshot and manifest after this count it
            written += self.recorder.flush()
        if self.dispatch is not None and self.dispatch.waiting_done:
            self.recorder.wait()
            self.dispatch.answer_flushed()
        if self.progress is not None and self.recorder.confirmed is not None:
            self.progress(*self.recorder.confirmed)  # the terminal hears of written events only
        if written and self.handlers:
            self._notify(written)

    def _notify(self, written) -> None:
        warnings = []
        for event, before, node in written:
            for pdg_event in translate(event, before, node, self):
                for message in self.handlers.dispatch(pdg_event):
                    if pdg_event.type != "cook_warning":
                        warnings.append(message)
        for message in warnings:
            self.warnings.append(message)
            self.recorder.emit(ev.CookWarning, about=self.graph.name, message=message)
        if warnings:
            written = self.recorder.flush()
            self._notify(written)


def _count_names(item_ids: list[str], state: State, shown: int = 5) -> str:
    """ "2 in-process work item(s) (make_1, make_2)": a count, and the first names."""
    names = [state.items[i].name if i in state.items else i for i in item_ids]
    more = f", and {len(names) - shown} more" if len(names) > shown else ""
    return f"{len(names)} in-process work item(s) ({', '.join(names[:shown])}{more})"
