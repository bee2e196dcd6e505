"""One cook of a graph: generate work items, run them, merge partitions, record it all as events.

The loop is single-threaded and owns the state. It generates items (statically where the inputs
allow, dynamically as upstream items cook), hands ready items to the in-process pool, and applies
what the workers hand back. Every change is an event made through the ``Recorder``; the batch is
flushed at least every ``tick_s`` and always before the terminal or an event handler hears of it.

Dependencies: a processor item depends on its parent (and is generated once the parent cooked); a
partition depends on its members and cooks (merges them) when they all have. A failed item stops its
own branch only: independent branches finish, and the cook ends failed. ``cancel()`` (Ctrl-C) stops
scheduling, waits ``grace_s`` for running items, records the rest as cooked_cancel, and flushes.
"""

from __future__ import annotations

import os
import queue
import threading
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass, field

import xxhash
from pdgstore.engine.cook.dispatch import Dispatch, expected_records
from pdgstore.engine.cook.handlers import Handlers, translate
from pdgstore.engine.cook.inbox import Inbox
from pdgstore.engine.cook.recorder import Recorder
from pdgstore.engine.errors import GraphError
from pdgstore.engine.files import records as files
from pdgstore.engine.files.cache import CacheChecker
from pdgstore.engine.files.confine import Confine
from pdgstore.engine.graph.api import Graph
from pdgstore.engine.graph.nodes import GenerateContext, NewItem, Partitioner, Processor, child_attrs
from pdgstore.engine.graph.when import effective_modes
from pdgstore.engine.graph.workitem import WorkItem
from pdgstore.engine.incremental import delta, noop
from pdgstore.engine.incremental import signatures as incremental
from pdgstore.engine.schedulers import orphans
from pdgstore.engine.schedulers.contract import TYPES as SCHEDULER_TYPES
from pdgstore.engine.schedulers.contract import JobResult
from pdgstore.engine.schedulers.contract import make as make_scheduler
from pdgstore.engine.schedulers.inprocess import InProcessScheduler

from pdgstore import events as ev
from pdgstore.errors import PdgError
from pdgstore.events import DONE_STATES, FINISHED_STATES
from pdgstore.log import EventLog
from pdgstore.queries import JSON_SCHEMA
from pdgstore.state import ACCEPTED, Item, State

SNAPSHOT_EVERY = 20_000  # events since the last snapshot that make the end of a cook write a new one
MAX_PENDING = 20_000  # events held before a flush even within a tick


def item_identity(graph: str, node: str, parents: list, key) -> str:
    """A work item's stable id: a domain-tagged hash of its node and what generated it."""
    text = repr(("WorkItem", graph, node, tuple(parents), key))
    return xxhash.xxh3_64_hexdigest(text.encode())


@dataclass
class CookSummary:
    cook_id: int
    status: str
    counts: dict
    seconds: float
    message: str = ""
    failed_items: list = field(default_factory=list)
    warnings: list = field(default_factory=list)
    #: absolute paths of the output files of the cooked items of the final nodes (nothing downstream)
    results: list = field(default_factory=list)
    #: what automatic compaction did after the cook (``pdg cook --auto-compact``), None when it did not run
    compacted: dict | None = None
    #: ``--generate-only``: node -> {"items": recorded items, "mode": its Generate When, resolved}
    generated: dict | None = None

    def to_json(self) -> dict:
        return {
            "schema": JSON_SCHEMA,
            "cook_id": self.cook_id,
            "status": self.status,
            "items": dict(self.counts),
            "seconds": round(self.seconds, 3),
            "message": self.message,
            "failed_items": self.failed_items,
            "warnings": self.warnings,
            "compacted": self.compacted,
            **({"generated": self.generated} if self.generated is not None else {}),
        }


@dataclass
class _NodeRun:
    """What the loop tracks about one node during a cook."""

    node: object
    downstream: list = field(default_factory=list)
    generated: bool = False
    open_upstream: int = 0  # upstream items (this cook) not yet cooked and handed on
    items: dict = field(default_factory=dict)  # item_id -> None, generated this cook
    unfinished: int = 0  # items generated this cook that have not cooked successfully
    names: set = field(default_factory=set)
    kept: int = 0  # delta walk: recorded items reused without being listed in ``items``
    kept_names: set | None = None  # delta walk: their names, when a new item needs a name


def recover_dead_cook(recorder: Recorder, pid_alive: Callable[[int], bool] | None = None) -> int | None:
    """If the log shows a cook that never ended (its process died), record it as cancelled.

    Only the writer calls this, holding the store's lock, so a running cook in the log is dead.
    Returns the id of the recovered cook.
    """
    state = recorder.state
    cook = state.running_cook()
    if cook is None:
        return None
    message = (
        f"the cook (pid {cook.pid}) ended before it recorded its end (its process died, or a write to the store failed)"
    )
    store_dir = os.path.dirname(recorder.log.path) if recorder.log is not None else ""
    stopped = orphans.stop_orphans(
        state, cook.cook_id, cook_pid=cook.pid, store_dir=store_dir
    )  # its jobs still running: stopped before any reruns
    if stopped:
        message += f"; {len(stopped)} of its jobs still running were stopped"
    saved = recorder.cook_id, recorder.graph
    recorder.cook_id, recorder.graph = cook.cook_id, cook.graph
    cancelled = 0
    for item in list(state.items.values()):
        if item.cook_id == cook.cook_id and item.state not in FINISHED_STATES and item.state != "dirty":
            recorder.emit(ev.WorkItemStateChanged, item_id=item.item_id, state="cooked_cancel", message=message)
            cancelled += 1
    counts = dict(cook.counts or {"ran": 0, "reused": 0, "failed": 0, "cancelled": 0})
    counts["cancelled"] = counts.get("cancelled", 0) + cancelled
    recorder.emit(ev.CookFinished, status="cancelled", message=message, counts=counts)
    recorder.cook_id, recorder.graph = saved
    recorder.flush()
    return cook.cook_id


class _Discard(dict):
    """A dict that keeps nothing: the decisions of a cook that is not a dry run."""

    def __setitem__(self, key, value) -> None:
        pass

    def update(self, *args, **kwargs) -> None:
        pass


class Cook:
    """A cook of ``graph`` (or of ``node`` and what it needs) into an open writer ``log``."""

    def __init__(
        self,
        log: EventLog,
        graph: Graph,
        *,
        state: State | None = None,
        node: str | None = None,
        jobs: int | None = None,
        tick_s: float = 0.1,
        grace_s: float = 2.0,
        progress: Callable[[int, int], None] | None = None,
        store_dir: str | None = None,
        dry_run: bool = False,
        trigger: dict | None = None,
        static: bool = False,
        changed: list[str] | None = None,
        index: delta.Index | None = None,
        scan: delta.Scan | None = None,
        generate_only: bool = False,
    ) -> None:
        self.log = log
        self.static = static  # generate everything first, then hand the graph to the schedulers
        #: PDG's "Generate Static Work Items": generate and record what can be known, run nothing
        self.generate_only = generate_only
        self.trigger = trigger  # CookTriggered fields when a watcher or a schedule started this cook
        #: a watcher's word (``pdg watch``): only these recorded files changed since the state it keeps,
        #: and ``index`` finds what they reach; then the cook stats and visits only that (``engine.incremental.delta``)
        self.changed, self.index = changed, index
        #: the no-op manifest's stat scan of every file recorded for the graph, made just before
        #: (``engine.incremental.manifest``): its stats, and which files changed; None once ``_start`` took
        #: other stats (a target node, a watcher's word), of which it says nothing
        self.scan = scan
        self.trusted: list[str] | None = None  # the items owning ``changed``, when that word is taken
        self.graph = graph
        self.dry_run = dry_run
        self.state = state if state is not None else (log.load_state() if log is not None else State())
        self.target = node
        self.jobs = jobs or os.cpu_count() or 1
        self.tick_s = tick_s
        self.grace_s = grace_s
        self.progress = progress
        self.store_dir = store_dir or (os.path.dirname(log.path) if log is not None else graph.root)
        self.handlers = Handlers([] if dry_run else graph.handlers)
        self.recorder = Recorder(
            log, self.state, graph=graph.name, keep_events=bool(self.handlers), dry_run=dry_run, offload=True
        )
        self.ctx = GenerateContext(graph.name, graph.root, file=self._file_record, warn=self._warn)
        self._cancel = threading.Event()
        self._cancel_reason = ""
        self.dispatch: Dispatch | None = None
        self._generation_failed = ""  # why a node could not generate its items, if one could not
        #: the items a delta walk decides (``engine.incremental.delta``); None: the full walk decides every item
        self.affected: set[str] | None = None
        self.children: dict[str, list[str]] = {}  # delta walk: item id -> its recorded children
        self.taken_back: set[str] = set()  # delta walk: kept items generated again after all
        self.warnings: list[str] = []
        self._confine: Confine | None = None  # outputs stay inside the project (engine.files.confine)

    # -- public --------------------------------------------------------------------------------
    def cancel(self, reason: str = "cancelled by the user") -> None:
        """Stop the cook (thread-safe; from a signal handler, an event handler or another thread)."""
        if not self._cancel.is_set():
            self._cancel_reason = reason
            self._cancel.set()

    @property
    def is_cancelled(self) -> bool:
        return self._cancel.is_set()

    def run(self, after: Callable[[CookSummary], None] | None = None) -> CookSummary:
        """Cook; the summary. ``after(summary)`` runs once the cook is over but before its log
        appender has written everything: what it stores through ``self.recorder`` (the no-op
        manifest) is written there while this process goes on."""
        started = time.perf_counter()
        old_cwd = os.getcwd()
        os.chdir(self.graph.root)
        self._inbox = Inbox()
        self.dispatch: Dispatch | None = None
        started_schedulers = False
        try:
            self._start()
            started_schedulers = self.dispatch is not None and not self.dry_run and not self.generate_only
            try:
                self._loop()
            except KeyboardInterrupt:  # no SIGINT handler installed (library use): same as cancel()
                self.cancel("interrupted (KeyboardInterrupt)")
                self._stop_running()
            if started_schedulers:
                started_schedulers = False
                self.dispatch.stop(self._cancel.is_set())
            status, message = self._finish()
            failed = [
                {"item_id": i.item_id, "name": i.name, "node": i.node, "error": i.error}
                for i in (self.state.items.get(j) for run in self.runs.values() for j in run.items)  # decided here
                if i is not None and i.cook_id == self.cook_id and i.state == "cooked_fail"
            ]
            summary = CookSummary(
                self.cook_id,
                status,
                dict(self.counts),
                0.0,
                message,
                failed,
                self.warnings,
                [] if self.trusted is not None else self._results(),
            )
            if self.generate_only:
                summary.generated = self._generated_counts()
            if after is not None:
                after(summary)
            self.recorder.close()  # everything written: the store is this process's alone again
            if self.progress is not None and self.recorder.confirmed is not None:
                self.progress(*self.recorder.confirmed)
        finally:
            if started_schedulers:
                self.dispatch.stop(True)
            self.recorder.abandon()  # after a failure only: it was closed above
            os.chdir(old_cwd)
        summary.seconds = time.perf_counter() - started
        return summary

    def _generated_counts(self) -> dict:
        """Per node in scope: how many items it holds now and when it generates (``--generate-only``)."""
        out = {}
        for name in self.scope:
            count = len(self.state.node_items.get((self.graph.name, name), ()))
            out[name] = {"items": count, "mode": self.modes.get(name, "")}
        return out

    def _results(self) -> list[str]:
        root = self.graph.root
        paths = []
        for run in self.runs.values():
            if run.downstream:
                continue
            listed = run.items
            if self.affected is not None:  # the kept items too
                node = run.node.name
                listed = [
                    i
                    for i in self.state.node_items.get((self.graph.name, node), ())
                    if i in run.items or self._is_kept(i, node)
                ]
            for item_id in listed:
                item = self.state.items.get(item_id)
                if item is not None and item.state in DONE_STATES:
                    paths.extend(o[0] if os.path.isabs(o[0]) else os.path.join(root, o[0]) for o in item.outputs)
        return list(dict.fromkeys(paths))  # a file two final partitions share is one result

    # -- start ---------------------------------------------------------------------------------
    def _start(self) -> None:
        rec = self.recorder
        if not self.dry_run:
            recover_dead_cook(rec)
        self.cook_id = rec.cook_id = self.state.last_cook_id() + 1
        graph = self.graph
        scope = graph.upstream_closure(self.target) if self.target else graph.topological_order()
        self.scope = scope
        described = graph.describe()
        previous = self.state.graphs.get(graph.name)
        self.node_fp = {d["name"]: incremental.node_fingerprint(d) for d in described}
        self.node_reasons = incremental.node_changes(previous.nodes if previous else [], described)
        rel = lambda p: os.path.relpath(p, self.store_dir).replace(os.sep, "/")  # noqa: E731
        rec.emit(
            ev.GraphLoaded,
            path=rel(graph.path) if graph.path else "",
            root=rel(graph.root),
            nodes=described,
            parms=dict(graph.parms),
        )
        rec.emit(
            ev.CookStarted, node=self.target or "", jobs=self.jobs, pid=os.getpid(), overrides=dict(graph.overrides)
        )
        if self.trigger:
            rec.emit(ev.CookTriggered, **self.trigger)
        self.counts = {"ran": 0, "reused": 0, "updated": 0, "failed": 0, "cancelled": 0}
        self.runs: dict[str, _NodeRun] = {name: _NodeRun(graph.nodes[name]) for name in scope}
        for name in scope:
            for up in graph.nodes[name].inputs:
                self.runs[up].downstream.append(name)
        for message in graph.types.warnings:
            self._warn(message)
        if not self.target and previous is not None:
            for gone in [d["name"] for d in previous.nodes if d["name"] not in graph.nodes]:
                for item_id in list(self.state.node_items.get((graph.name, gone), {})):
                    rec.emit(ev.WorkItemRemoved, item_id=item_id, reason=f"node {gone} is no longer in the graph")
        self.partition_waits: dict[str, int] = {}  # partition id -> members not yet cooked
        self.member_of: dict[str, list[str]] = {}  # item id -> partitions waiting on it
        self.numbers: dict[str, int] = {}  # item id -> the N of its name node_N
        #: Generate When, resolved (``engine.graph.when``): node -> mode, and the nodes that make
        #: their items from upstream items as soon as those exist although those are dynamic
        self.modes = effective_modes(graph, scope)
        self.early = {
            name
            for name in scope
            if getattr(graph.nodes[name], "generate_when", "") in ("all_upstream_generated", "static")
            and graph.nodes[name].inputs
        }
        self.announced: dict[str, None] = {}  # items recorded before their parents cooked, not generated yet
        self.held: dict[str, list] = {}  # node -> upstream items cooked (all_upstream_cooked waits for all)
        self.signatures: dict[str, str] = {}  # item id -> the signature its pending run is made from
        self.partition_prev: dict[str, tuple] = {}  # partition id -> (its record before, its own attrs)
        self.remade: set[str] = set()  # items whose results were made anew in this cook
        # item id -> (action, reason): what --dry-run reports; a real cook keeps none (20,000 tuples)
        self.decisions: dict[str, tuple[str, dict]] = {} if self.dry_run else _Discard()
        self.total = 0
        self.done = 0
        self._known: dict[str, list] | None = None
        if self.changed and self.index is not None and not self.target:
            stats = files.stat_many(self.changed)
            dirty = self.index.dirty(self.changed)
            if dirty is not None and all(stats[p] is not None for p in self.changed):
                self.trusted = dirty
                self.stats = delta.LazyStats(stats)
        if self.trusted is None:
            self.stats = (
                self.scan.stats
                if self.scan is not None and not self.target
                else files.stat_many(self._recorded_paths(scope))
            )
        if self.scan is not None and self.stats is not self.scan.stats:
            self.scan = None
        self.ctx.stats = self.stats
        self.cache = CacheChecker(graph.types, graph.root, self.stats)
        # items of these nodes whose inputs were not remade are reused without a signature check
        self.pure = noop.pure_nodes(self)
        self.shortcut = (
            set()
            if graph.types.cache_handlers or not noop.consistent(self.state, graph.name, self.cook_id)
            else self.pure
        )
        scan = self.scan
        saw_change = scan is not None and (scan.changed or not scan.patterns_same)  # else the item scan finds out
        if self.trusted is None and not saw_change and noop.nothing_to_do(self):
            self._reuse_everything()
            return
        self.dispatch = self._make_dispatch()
        if not self.dry_run and not self.generate_only:
            self.dispatch.start(False, scope)
        self._flush()
        # a static plan walks every item, and so does generating the static items
        found = None if self.static or self.generate_only else delta.affected(self)
        if found is not None:
            self.affected, self.children = found
            self._walk_delta(self.affected)
            return
        for name in scope:
            if not graph.nodes[name].inputs:
                self._generate_root(name)
        self._announce()

    def _is_kept(self, item_id: str, node: str) -> bool:
        """Delta walk: the recorded item of ``node`` is reused without being decided (counted in
        ``run.kept``, never in ``run.items``). A partitioner keeps none: it partitions again."""
        return (
            item_id not in self.affected
            and item_id not in self.taken_back
            and not self.graph.nodes[node].is_partitioner
        )

    def _kept_names(self, run: _NodeRun) -> set[str]:
        """Delta walk: the names of the items ``run`` keeps, which a new item must not take (made on
        the first new item of the node: an affected item keeps its recorded name)."""
        if run.kept_names is None:
            node = run.node.name
            run.kept_names = {
                i.name for i in self.state.items_of(self.graph.name, node) if self._is_kept(i.item_id, node)
            }
        return run.kept_names

    def _walk_delta(self, affected: set[str]) -> None:
        """Register every item the change cannot reach as reused, in bulk (``engine.incremental.delta``), then
        generate the affected items of the root file patterns again; the rest of the walk is the
        usual one, restricted by ``_item_cooked`` to the affected items' children."""
        graph = self.graph
        reused = 0
        per_node: dict[str, int] = {}
        for item_id in affected:
            node = self.state.items[item_id].node
            per_node[node] = per_node.get(node, 0) + 1
        for name in self.scope:
            if graph.nodes[name].is_partitioner:
                continue  # _partition goes over every member and registers every partition
            run = self.runs[name]
            # counted, not listed: a recook after one change does O(changed) work (``pdg watch``)
            run.kept = len(self.state.node_items.get((graph.name, name), ())) - per_node.get(name, 0)
            if self.dry_run:
                self.decisions.update(
                    (i.item_id, ("reuse", {}))
                    for i in self.state.items_of(graph.name, name)
                    if self._is_kept(i.item_id, name)
                )
            reused += run.kept
        self.counts["reused"] += reused
        self.total += reused
        self.done += reused
        root = graph.root
        for name in self.scope:
            node = graph.nodes[name]
            if node.inputs:
                continue
            again = sorted(
                (self.state.items[i] for i in affected if self.state.items[i].node == name), key=lambda i: i.index
            )
            specs = []
            for item in again:
                record = self._file_record(files.absolute(item.outputs[0][0], root), node.tag, item.outputs[0])
                specs.append(NewItem(key=record[0], index=item.index, outputs=[record]))
            self._add_children(self.runs[name], specs, None, numbers=[i.index + 1 for i in again])
            self._node_generated(name)

    def _reuse_everything(self) -> None:
        """Record what the full walk records when nothing changed (``engine.incremental.noop`` proved it):
        every node generated and cooked, every item reused."""
        rec = self.recorder
        for name in self.scope:
            run = self.runs[name]
            run.items = dict.fromkeys(self.state.node_items.get((self.graph.name, name), ()))
            if self.dry_run:
                self.decisions.update((item_id, ("reuse", {})) for item_id in run.items)
            run.generated = True
            rec.emit(ev.NodeGenerated, node=name, count=len(run.items))
            rec.emit(ev.NodeCooked, node=name, failed=0)
            self.counts["reused"] += len(run.items)
        self.total = self.done = self.counts["reused"]

    def _recorded_paths(self, scope: list[str]) -> list[str]:
        """Every file the store recorded for the items in scope: the cold-start stat scan."""
        root = self.graph.root
        paths = []
        for name in scope:
            for item in self.state.items_of(self.graph.name, name):
                paths.extend(files.absolute(o[0], root) for o in item.outputs)
        return paths

    def _file_record(self, path: str, tag: str | None = None, prev: list | None = None) -> list:
        """A file's record for generation: the stat cascade against its last record (no read when
        its mtime and size match), a full stat and hash when it has none. ``prev``: that last record,
        when the caller knows it (else it is looked up among every file pattern's records)."""
        root = self.graph.root
        if prev is None and self._known is None:
            self._known = {}
            for name in self.scope:
                node = self.graph.nodes[name]
                if not node.is_partitioner and not node.does_work:
                    for item in self.state.items_of(self.graph.name, name):
                        for o in item.outputs:
                            self._known[o[0]] = o
        relpath = files.relative(path, root)
        full = files.absolute(relpath, root)
        st = self.stats.get(full, False)
        if prev is None:
            prev = self._known.get(relpath)
        if (
            prev is not None
            and st
            and st.st_mtime_ns == prev[3]
            and st.st_size == prev[2]
            and (not tag or tag == prev[1])
        ):
            return prev  # the stat cascade's first step, inline: a file pattern may hold 100,000 files
        if prev is not None:
            _verdict, current = files.check(prev, root, types=self.graph.types, st=st)
            if current is not None:
                if tag and current[1] != tag:
                    current = [current[0], tag, *current[2:]]
                return current
        return files.record(relpath, root, tag, types=self.graph.types, st=st or None)

    # -- generation ----------------------------------------------------------------------------
    def _register(self, run: _NodeRun, item_id: str, number: int) -> None:
        run.items[item_id] = None
        run.unfinished += 1
        self.numbers[item_id] = number
        if self.announced.pop(item_id, 1):  # an announced item was counted when it was announced
            self.total += 1
        for down in run.downstream:
            self.runs[down].open_upstream += 1

    def _name_for(self, run: _NodeRun, number: int) -> str:
        node = run.node.name
        name = f"{node}_{number}"
        kept = self._kept_names(run) if self.affected is not None else ()  # disjoint from run.names
        if name in run.names or name in kept:
            name = f"{node}_{number}_{len(run.names) + len(kept)}"
        run.names.add(name)
        return name

    def _generated(
        self,
        item_id: str,
        run: _NodeRun,
        name: str,
        index: int,
        parents: list,
        attrs: dict,
        inputs: list,
        outputs: list,
        state: str,
        signature: str = "",
    ) -> None:
        self.recorder.emit(
            ev.WorkItemGenerated,
            item_id=item_id,
            node=run.node.name,
            name=name,
            index=index,
            parents=parents,
            attrs=attrs,
            inputs=inputs,
            outputs=outputs,
            state=state,
            signature=signature,
        )

    def _dirtied(self, item_id: str, reason: dict) -> None:
        self.recorder.emit(ev.WorkItemDirtied, item_id=item_id, reason=reason)

    def _reuse(self, prev: Item, name: str, index: int, outputs: list | None = None, signature: str = "") -> None:
        """Keep ``prev``'s results: follow its new position, refresh touched files' records, and
        confirm the signature of an item the user accepted."""
        rec = self.recorder
        item_id = prev.item_id
        if prev.name != name or prev.index != index:
            rec.emit(ev.WorkItemRenumbered, item_id=item_id, name=name, index=index)
        if outputs is not None and outputs != prev.outputs:
            rec.emit(ev.WorkItemRestatted, item_id=item_id, outputs=outputs)
        if prev.signature == ACCEPTED and signature:
            rec.emit(
                ev.WorkItemCooked,
                item_id=item_id,
                state=prev.state,
                outputs=list(prev.outputs),
                started_ns=prev.started_ns,
                duration_ns=prev.duration_ns,
                signature=signature,
                reason={"accepted": True},
            )
        self.decisions[item_id] = ("reuse", {})

    def _generate_root(self, name: str) -> None:
        run = self.runs[name]
        processor: Processor = run.node
        new = self._call_generate(processor, None)
        if new is None:
            return
        self._add_children(run, new, parent=None)
        self._node_generated(name)

    def _announce(self) -> None:
        """Record the items known before anything runs (Generate When resolved to "all upstream
        items are generated", and static partitions over them): ``engine.cook.static`` plans them
        with the ids, names and indices the engine gives them when it generates them for real (once
        their parents cooked: their input files and cooked attributes come then). New ones only:
        a recorded item keeps its record until it is decided."""
        from pdgstore.engine.cook.static import planned_items

        found, warnings = planned_items(self)
        for message in warnings:
            self._warn(message)
        known = self.state.items
        for p in found:
            if p.item_id not in known:
                self._record_announced(p.item_id, p.node, p.name, p.index, p.parents, p.attrs)

    def _record_announced(self, item_id: str, node: str, name: str, index: int, parents: list, attrs: dict) -> None:
        self.recorder.emit(
            ev.WorkItemGenerated,
            item_id=item_id,
            node=node,
            name=name,
            index=index,
            parents=parents,
            attrs=attrs,
            inputs=[],
            outputs=[],
            state="uncooked",
        )
        self.announced[item_id] = None
        self.total += 1

    def _announce_children(self, run: _NodeRun, item_ids: list) -> None:
        """Explicit "all upstream items are generated" below dynamic items: a node's items are
        recorded as soon as their parents exist, before those cook."""
        for down in run.downstream:
            if down not in self.early or self.modes.get(down) != "all_upstream_generated":
                continue
            node = self.graph.nodes[down]
            for parent_id in item_ids:
                parent = self.state.items.get(parent_id)
                if parent is None or parent.state in DONE_STATES:
                    continue  # a cooked parent's children are generated for real right away
                try:
                    specs = node.generate(self.ctx, parent)
                except Exception:  # noqa: BLE001 - it fails, with its message, when generated for real
                    continue
                pn = self.numbers.get(parent_id, parent.index + 1)
                for i, spec in enumerate(specs):
                    item_id = item_identity(self.graph.name, down, [parent_id], spec.key)
                    if item_id in self.state.items:
                        continue
                    number = pn if len(specs) == 1 else (pn - 1) * len(specs) + i + 1
                    attrs = child_attrs(parent.attrs, spec)
                    self._record_announced(item_id, down, f"{down}_{number}", spec.index, [parent_id], attrs)

    def _prev(self, item_id: str) -> Item | None:
        """The item's record, None when it has none worth deciding on: an item only announced (by
        this cook or by ``--generate-only``), or a partition generated but never merged, is new."""
        prev = self.state.items.get(item_id)
        if (
            prev is not None
            and prev.state in ("uncooked", "waiting")
            and not prev.signature
            and not prev.reason
            and not prev.outputs
        ):
            return None
        return prev

    def _call_generate(self, processor, parent):
        try:
            return processor.generate(self.ctx, parent)
        except Exception as exc:
            where = f" from {parent.name}" if parent is not None else ""
            self._fail_cook(f"node {processor.name} failed to generate work items{where}: {type(exc).__name__}: {exc}")
            return None

    def _add_children(
        self, run: _NodeRun, new: list[NewItem], parent: Item | None, numbers: list[int] | None = None
    ) -> None:
        """Register and decide the items ``new`` that a node generated (from ``parent``, or as a root
        node when None). ``numbers``: their positions when they are not the whole node's (delta walk)."""
        processor = run.node
        count = len(new)
        for i, spec in enumerate(new):
            if parent is None:
                number = numbers[i] if numbers is not None else i + 1
                attrs, inputs, parents = dict(spec.attrs), [], []
            else:
                pn = self.numbers.get(parent.item_id, 1)
                number = pn if count == 1 else (pn - 1) * count + i + 1
                attrs = child_attrs(parent.attrs, spec)
                inputs, parents = list(parent.outputs), [parent.item_id]
            item_id = item_identity(self.graph.name, processor.name, parents, spec.key)
            prev = self.state.items.get(item_id) if self.affected is not None else None
            if prev is not None and prev.node == processor.name:
                name = prev.name  # the delta walk renumbers nothing: an item keeps its recorded name
                run.names.add(name)
            else:
                name = self._name_for(run, number)
            self._register(run, item_id, number)
            if processor.does_work:
                self._decide_work(run, item_id, name, spec.index, parents, attrs, inputs)
            else:
                outputs = list(spec.outputs)
                if not outputs and parent is not None:
                    outputs = list(parent.outputs)  # an item without work passes its parent's files on
                self._decide_born(run, item_id, name, spec.index, parents, attrs, inputs, outputs)
            if self.early and processor.does_work:
                self._announce_children(run, [item_id])

    def _stale_reason(self, prev: Item, node: str) -> dict | None:
        """The reason every kind of item shares: its node changed, or it has no result to reuse."""
        reason = self.node_reasons.get(node)
        if reason is not None:
            return dict(reason)
        if prev.state not in DONE_STATES:
            if prev.reason:
                return dict(prev.reason)
            return {"cause": "no_result", "state": prev.state, "cache_state": "dirty_empty"}
        return None

    def _unchanged(self, prev: Item, parents: list) -> bool:
        """``prev`` can be reused as it is: it and its files are unchanged (``noop.unchanged``) and
        it has the same parents, none of them remade in this cook (so its starting attributes and
        input files are what they were)."""
        if prev.parents != parents or not noop.unchanged(prev, self.stats, self.graph.root):
            return False
        remade = self.remade
        return not any(p in remade for p in parents)

    def _decide_born(
        self,
        run: _NodeRun,
        item_id: str,
        name: str,
        index: int,
        parents: list,
        attrs: dict,
        inputs: list,
        outputs: list,
    ) -> None:
        """An item born cooked (a file pattern's): reuse it, or record its new files."""
        node = run.node.name
        prev = self._prev(item_id)
        if (
            node in self.shortcut
            and prev is not None
            and prev.outputs == outputs
            and prev.inputs == inputs
            and prev.attrs == attrs
            and self._unchanged(prev, parents)
        ):
            self._reuse(prev, name, index)
            self._item_cooked(item_id, "reused")
            return
        signature = incremental.item_signature(self.node_fp[node], attrs, inputs, outputs)
        if prev is not None and prev.state in DONE_STATES and prev.signature in (signature, ACCEPTED):
            self._reuse(prev, name, index, outputs, signature)
            self._item_cooked(item_id, "reused")
            return
        if prev is not None:
            reason = self._stale_reason(prev, node) or self._file_reason(prev, outputs, attrs, inputs, parents)
            self._dirtied(item_id, reason)
            self.decisions[item_id] = ("update", reason)
        else:
            self.decisions[item_id] = ("update", {"cause": "new", "cache_state": "dirty_new"})
        self._generated(item_id, run, name, index, parents, attrs, inputs, outputs, "cooked_success", signature)
        self.remade.add(item_id)
        self._item_cooked(item_id, "updated")

    def _file_reason(self, prev: Item, outputs: list, attrs: dict, inputs: list, parents: list) -> dict:
        before = {o[0]: o for o in prev.outputs}
        for o in outputs:
            old = before.get(o[0])
            if old is not None and (old[4] != o[4] or old[2] != o[2]):
                return {
                    "cause": "file",
                    "path": o[0],
                    "old_size": old[2],
                    "new_size": o[2],
                    "old_hash": old[4],
                    "new_hash": o[4],
                    "cache_state": "dirty_stale",
                }
        return incremental.why(
            prev, attrs, inputs, dict.fromkeys((r[0] for r in inputs), parents[0] if parents else "")
        )

    def _expected(self, node, item_id: str, name: str, index: int, attrs: dict, inputs: list) -> list[list]:
        """The files ``node`` expects an item to write, expanded for it: ``[path, tag]`` each."""
        if not node.expected_outputs:
            return []
        view = WorkItem(
            item_id=item_id,
            name=name,
            index=index,
            node=node.name,
            attrs=attrs,
            inputs=inputs,
            outputs=[],
            root=self.graph.root,
            read_only=True,
        )
        out = []
        for expr in node.expected_outputs:
            path = files.relative(view.expand(expr, parm="expected_outputs"), self.graph.root)
            out.append([path, self.graph.types.tag_for(path)])
        return out

    def _decide_work(
        self, run: _NodeRun, item_id: str, name: str, index: int, parents: list, attrs: dict, inputs: list
    ) -> None:
        """An item with work: reuse it, satisfy it from the cache, fail it (cache mode always read
        with a missing file), or queue it to run with the reason recorded."""
        node = run.node
        prev = self._prev(item_id)
        if node.name in self.shortcut and prev is not None and self._unchanged(prev, parents):
            self._reuse(prev, name, index)
            self._item_cooked(item_id, "reused")
            return
        mode = node.cache_mode
        signature = incremental.item_signature(self.node_fp[node.name], attrs, inputs)
        root = self.graph.root

        def generated(state: str = "uncooked") -> None:
            self._generated(item_id, run, name, index, parents, attrs, inputs, [], state)

        try:
            reason = None
            if prev is None:
                expected = self._expected(node, item_id, name, index, attrs, inputs)
                if mode == "always_read" and not expected:
                    generated()
                    return self._fail_item(
                        item_id,
                        f"cache mode always read: work item {name} of node {node.name} "
                        "has no expected output files to read",
                    )
                if expected and mode != "always_write":
                    view = WorkItem(
                        item_id=item_id,
                        name=name,
                        index=index,
                        node=node.name,
                        attrs=attrs,
                        inputs=inputs,
                        outputs=[],
                        root=root,
                        read_only=True,
                    )
                    check = self.cache.check(expected, view)
                    if check.hit:
                        generated()
                        return self._from_cache(item_id, mode, check.records, signature)
                    if mode == "always_read":
                        generated()
                        return self._fail_item(item_id, self._missing_message(name, check.reason))
                reason = {"cause": "new", "cache_state": "dirty_new"}
            elif mode == "always_write":
                reason = {"cause": "cache_mode", "mode": mode, "cache_state": "dirty_always"}
            else:
                reason = self._stale_reason(prev, node.name) if mode == "automatic" else None
                if reason is None and mode == "automatic" and prev.signature not in (signature, ACCEPTED):
                    reason = incremental.why(
                        prev, attrs, inputs, dict.fromkeys((r[0] for r in inputs), parents[0] if parents else "")
                    )
                if reason is None:
                    expected = list(prev.outputs) if prev.state in DONE_STATES else []
                    recorded = {e[0] for e in expected}
                    expected += [
                        e for e in self._expected(node, item_id, name, index, attrs, inputs) if e[0] not in recorded
                    ]
                    if mode != "automatic" and not expected:
                        check = None
                        reason = {"cause": "no_result", "state": prev.state, "cache_state": "dirty_empty"}
                    else:
                        check = self.cache.check(expected, WorkItem.view_of(prev, root))
                    if check is not None and check.hit:
                        same = prev.state in DONE_STATES and prev.signature in (signature, ACCEPTED)
                        if same:
                            self._reuse(prev, name, index, check.records, signature)
                            self._item_cooked(item_id, "reused")
                            return
                        generated()
                        return self._from_cache(item_id, mode, check.records, signature)
                    if check is not None:
                        reason = check.reason
                    if mode == "always_read":
                        generated()
                        return self._fail_item(item_id, self._missing_message(name, reason))
        except PdgError as exc:  # a handler raised, or an expected output did not expand
            if item_id not in self.state.items or self.state.items[item_id].cook_id != self.cook_id:
                generated()
            return self._fail_item(item_id, str(exc))
        generated()
        if prev is not None:
            self._dirtied(item_id, reason)
        self.decisions[item_id] = ("run", reason)
        self.signatures[item_id] = signature
        self.dispatch.enqueue(item_id, node)

    def _missing_message(self, name: str, reason: dict | None) -> str:
        path = (reason or {}).get("path", "?")
        how = "is missing" if (reason or {}).get("cause") != "output_modified" else "was modified"
        if (reason or {}).get("cause") == "cache_miss":
            how = f"was refused by cache handler {reason.get('handler')}"
        return f"cache mode always read: expected output {path} of work item {name} {how}"

    def _from_cache(self, item_id: str, mode: str, records: list, signature: str) -> None:
        now = time.time_ns()
        self.recorder.emit(
            ev.WorkItemCooked,
            item_id=item_id,
            state="cooked_cache",
            outputs=records,
            started_ns=now,
            duration_ns=0,
            signature=signature,
            reason={"cache_mode": mode, "files": [r[0] for r in records]},
        )
        self.remade.add(item_id)
        self.decisions[item_id] = ("cache", {"cache_mode": mode})
        self._item_cooked(item_id, "reused")

    def _fail_item(self, item_id: str, message: str) -> None:
        now = time.time_ns()
        self.recorder.emit(
            ev.WorkItemCooked, item_id=item_id, state="cooked_fail", started_ns=now, duration_ns=0, error=message
        )
        self.decisions[item_id] = ("fail", {"message": message})
        self.counts["failed"] += 1
        self.done += 1

    def _node_generated(self, name: str) -> None:
        """Mark ``name`` fully generated; remove its items that this cook did not generate again."""
        run = self.runs[name]
        if run.generated:
            return
        run.generated = True
        rec = self.recorder
        recorded = self.state.node_items.get((self.graph.name, name), {})
        if self.affected is not None and not run.node.is_partitioner:  # the kept items stand
            recorded = [i for i in (*self.affected, *self.taken_back) if i in recorded]
        for item_id in list(recorded):
            if item_id not in run.items:
                rec.emit(ev.WorkItemRemoved, item_id=item_id, reason=f"cook {self.cook_id} did not generate it again")
                self.decisions[item_id] = ("remove", {})
        rec.emit(ev.NodeGenerated, node=name, count=len(run.items) + run.kept)
        if not run.items and not run.kept:
            upstream = sum(len(self.runs[i].items) + self.runs[i].kept for i in run.node.inputs if i in self.runs)
            why = run.node.made_nothing(upstream)
            if why:
                self._warn(f"node {name} made no work items: {why}")
        if run.unfinished == 0:
            rec.emit(ev.NodeCooked, node=name, failed=0)
        for down in run.downstream:
            self._maybe_generate(down)

    def _maybe_generate(self, name: str) -> None:
        """Generate what ``name`` can now that its inputs progressed; mark it generated when done."""
        run = self.runs[name]
        if run.generated or not all(self.runs[up].generated for up in run.node.inputs):
            return
        if run.node.is_partitioner:
            if run.node.needs_cooked_inputs and run.open_upstream:
                return
            self._partition(name)
            self._node_generated(name)
        elif run.open_upstream == 0:
            for parent in sorted(self.held.pop(name, ()), key=lambda p: self.numbers.get(p.item_id, p.index + 1)):
                new = self._call_generate(run.node, parent)
                if new is not None:
                    self._add_children(run, new, parent=parent)
            self._node_generated(name)

    def _partition(self, name: str) -> None:
        run = self.runs[name]
        partitioner: Partitioner = run.node
        members = []
        for up in partitioner.inputs:  # in work item order, never in the order they finished cooking
            listed = self.runs[up].items
            if self.affected is None:
                found = [self.state.items[i] for i in listed if i in self.state.items]
            else:  # the kept items too, which the delta walk counts without listing
                found = [
                    i
                    for i in self.state.items_of(self.graph.name, up)
                    if i.item_id in listed or self._is_kept(i.item_id, up)
                ]
            members += sorted(found, key=lambda m: (m.index, m.item_id))
        try:
            partitions = partitioner.partition(self.ctx, members)
        except Exception as exc:
            self._fail_cook(f"partitioner {name} failed: {type(exc).__name__}: {exc}")
            return
        for number, part in enumerate(partitions, start=1):
            member_ids = [m.item_id for m in part.members]
            item_id = item_identity(self.graph.name, name, [], part.key)
            if part.index is not None:  # the partitioner's own index (a frame, say) numbers it
                number = part.index + 1
            item_name = self._name_for(run, number)
            self._register(run, item_id, number)
            own = dict(part.attrs)
            prev = self._prev(item_id)
            self.partition_prev[item_id] = (prev, own)
            same = (
                prev is not None
                and prev.state in DONE_STATES
                and prev.parents == member_ids
                and all(prev.attrs.get(k) == v for k, v in own.items())
            )
            if same:
                if prev.name != item_name or prev.index != number - 1:
                    self.recorder.emit(ev.WorkItemRenumbered, item_id=item_id, name=item_name, index=number - 1)
            else:
                self._generated(item_id, run, item_name, number - 1, member_ids, own, [], [], "waiting")
            waiting = 0
            for member in part.members:
                if self.state.items[member.item_id].state not in DONE_STATES:
                    waiting += 1
                    self.member_of.setdefault(member.item_id, []).append(item_id)
            self.partition_waits[item_id] = waiting
            if waiting == 0:
                self._cook_partition(item_id)

    def _cook_partition(self, item_id: str) -> None:
        """A partition's members have all cooked: reuse it if they are what it merged last time,
        else merge their attributes and outputs into it."""
        item = self.state.items[item_id]
        prev, own = self.partition_prev.pop(item_id, (None, {}))
        members = [self.state.items[m] for m in item.parents]
        node = item.node
        if (
            node in self.shortcut
            and item is prev
            and not prev.reason
            and prev.state in DONE_STATES
            and prev.signature not in ("", ACCEPTED)
            and not any(m in self.remade for m in prev.parents)
        ):
            signature = prev.signature  # the same members, none remade: what it merged is unchanged
        else:
            signature = incremental.partition_signature(self.node_fp[node], own, members)
        if prev is not None and prev.state in DONE_STATES and prev.signature in (signature, ACCEPTED) and item is prev:
            # the members' files are the same, but one rerun (cut off early) or touched has new stats
            outputs = [o for member in members for o in member.outputs]
            self._reuse(prev, prev.name, prev.index, outputs, signature)
            self._item_cooked(item_id, "reused")
            return
        if prev is not None:
            reason = self._stale_reason(prev, node) or incremental.why_members(prev.parents, members, self.remade)
            self._dirtied(item_id, reason)
            self.decisions[item_id] = ("update", reason)
        else:
            self.decisions[item_id] = ("update", {"cause": "new", "cache_state": "dirty_new"})
        merged, outputs = self.graph.nodes[node].merged(members, own)
        now = time.time_ns()
        self.recorder.emit(
            ev.WorkItemCooked,
            item_id=item_id,
            state="cooked_success",
            attrs=merged,
            outputs=outputs,
            started_ns=now,
            duration_ns=0,
            signature=signature,
        )
        self.remade.add(item_id)
        self._item_cooked(item_id, "updated")

    # -- cooking -------------------------------------------------------------------------------
    def _item_cooked(self, item_id: str, how: str = "ran") -> None:
        """``item_id`` is done (``how``: ran, reused or updated): hand it on downstream (iteratively,
        not recursively)."""
        self.counts[how] += 1
        stack = [item_id]
        while stack:
            current = stack.pop()
            item = self.state.items[current]
            run = self.runs[item.node]
            run.unfinished -= 1
            self.done += 1
            if run.generated and run.unfinished == 0:
                self.recorder.emit(ev.NodeCooked, node=item.node, failed=0)
            for partition_id in self.member_of.pop(current, ()):
                self.partition_waits[partition_id] -= 1
                if self.partition_waits[partition_id] == 0:
                    self._cook_partition(partition_id)
            affected = self.affected
            for down in run.downstream:
                down_run = self.runs[down]
                if not down_run.node.is_partitioner and (
                    affected is None or current in affected or self._take_back(current, down_run)
                ):
                    if self.modes.get(down) == "all_upstream_cooked":
                        self.held.setdefault(down, []).append(item)  # made once every upstream item cooked
                    else:
                        new = self._call_generate(down_run.node, item)
                        if new is None:
                            continue
                        self._add_children(down_run, new, parent=item)
                down_run.open_upstream -= 1
                self._maybe_generate(down)

    def _take_back(self, item_id: str, run: _NodeRun) -> bool:
        """Delta walk: an item the change was not foreseen to reach was remade (a partition whose
        members changed): take back its children in ``run``, registered as reused, so they are
        generated and decided again. False when it was not remade (its children stand)."""
        if item_id not in self.remade:
            return False
        node = run.node.name
        for child in self.children.get(item_id, ()):
            item = self.state.items.get(child)
            if item is not None and item.node == node and self._is_kept(child, node):
                self.taken_back.add(child)
                run.kept -= 1
                if run.kept_names is not None:
                    run.kept_names.discard(item.name)
                self.counts["reused"] -= 1
                self.total -= 1
                self.done -= 1
        return True

    def _task(self, item: Item) -> Callable[[], JobResult]:
        node = self.graph.nodes[item.node]
        view = WorkItem(
            item_id=item.item_id,
            name=item.name,
            index=item.index,
            node=item.node,
            attrs=item.attrs,
            inputs=item.inputs,
            outputs=item.outputs,
            root=self.graph.root,
            node_parms=getattr(node, "node_parms", None),
        )
        root = self.graph.root
        types = self.graph.types
        if self._confine is None:
            self._confine = Confine(root)
        confine = self._confine

        def run() -> JobResult:
            started = time.time_ns()
            t0 = time.perf_counter_ns()
            try:
                node.cook(view)
                outputs = list(view.outputs)
                for path, tag in view.new_outputs:
                    confine.check_output(path, f"work item {view.name}")
                    try:
                        outputs.append(files.record(path, root, tag, types=types, item=view))
                    except FileNotFoundError:
                        raise FileNotFoundError(
                            f"work item {view.name} reported output file {path}, which does not exist"
                        ) from None
                if node.expected_outputs:
                    outputs = expected_records(view, node, outputs, root, types)
            except BaseException as exc:  # noqa: BLE001 - every failure of user code is the item's
                return JobResult(
                    "cooked_fail",
                    {},
                    view.outputs,
                    started,
                    time.perf_counter_ns() - t0,
                    f"{type(exc).__name__}: {exc}",
                    traceback.format_exc(),
                )
            return JobResult("cooked_success", view.changed, outputs, started, time.perf_counter_ns() - t0)

        return run

    def _make_dispatch(self) -> Dispatch:
        """Pick each working node's scheduler: its own, else the graph's default, else the
        in-process one (in-process nodes) or the local one (out-of-process nodes)."""
        graph = self.graph
        declared = dict(getattr(graph, "schedulers", {}))
        used = {"inprocess": declared.get("inprocess") or InProcessScheduler("inprocess", jobs=self.jobs)}
        route = {}
        for name in self.scope:
            node = graph.nodes[name]
            if not getattr(node, "does_work", False):
                continue
            out_of_process = getattr(node, "out_of_process", False)
            wanted = (
                getattr(node, "scheduler", None)
                or getattr(graph, "default_scheduler", None)
                or ("local" if out_of_process else "inprocess")
            )
            scheduler = used.get(wanted) or declared.get(wanted)
            if scheduler is None and wanted in SCHEDULER_TYPES:
                scheduler = make_scheduler(wanted, wanted, {})
            if scheduler is None:
                raise GraphError(
                    f"node {name} uses scheduler {wanted}, which graph {graph.name} does not declare "
                    f"(declared: {', '.join(sorted(declared)) or 'none'})"
                )
            used[wanted] = scheduler
            if out_of_process or scheduler.in_process:
                route[name] = (wanted, None)
            else:  # an in-process node goes to another scheduler only if it accepts the item
                route[name] = ("inprocess", wanted)
        return Dispatch(self, used, route, static=self.static)

    def _handle_result(self, item_id: str, result: JobResult) -> None:
        """An in-process item's run ended: record what it made."""
        if self.dispatch.running.pop(item_id, None) is None:
            return  # a late result of an item already recorded as cancelled
        self.recorder.emit(
            ev.WorkItemCooked,
            item_id=item_id,
            state=result.state,
            attrs=result.attrs,
            outputs=result.outputs,
            started_ns=result.started_ns,
            duration_ns=result.duration_ns,
            error=result.error,
            traceback=result.traceback,
            signature=self.signatures.pop(item_id, ""),
        )
        if result.state == "cooked_success":
            self.remade.add(item_id)
            self._item_cooked(item_id)
        else:
            self.counts["failed"] += 1
            self.done += 1

    def _loop(self) -> None:
        dispatch = self.dispatch
        if dispatch is None:
            return
        if self.dry_run or self.generate_only:  # nothing runs: what would run is in self.decisions
            return
        next_flush = time.monotonic() + self.tick_s
        get = self._inbox.get
        get_nowait = self._inbox.get_nowait
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

    def _stop_running(self) -> None:
        """After a cancel: ask the schedulers to cancel their jobs, let running items finish for up
        to ``grace_s``, then give up on them."""
        dispatch = self.dispatch
        dispatch.cancel_running()
        started = time.monotonic()
        while dispatch.running:
            left = started + self.grace_s - time.monotonic()  # grace_s may drop to 0 meanwhile
            if left <= 0:
                break
            try:
                dispatch.handle(self._inbox.get(timeout=min(self.tick_s, left)))
            except queue.Empty:
                pass
        dispatch.running.clear()

    def _warn(self, message: str) -> None:
        self.warnings.append(message)
        self.recorder.emit(ev.CookWarning, about=self.graph.name, message=message)

    def _fail_cook(self, message: str) -> None:
        self._warn(message)
        self._generation_failed = message

    # -- end -----------------------------------------------------------------------------------
    def _finish(self) -> tuple[str, str]:
        rec = self.recorder
        cancelled = self._cancel.is_set()
        if cancelled:
            reason = self._cancel_reason
            # the items this cook generated, and those it recorded ahead (static) and did not reach
            announced = [i for i in self.announced if i in self.state.items]
            for item_ids in [run.items for run in self.runs.values()] + [announced]:
                for item_id in item_ids:
                    item = self.state.items.get(item_id)
                    if item is not None and item.state not in FINISHED_STATES:
                        rec.emit(ev.WorkItemStateChanged, item_id=item_id, state="cooked_cancel", message=reason)
                        self.counts["cancelled"] += 1
        generation_failed = self._generation_failed
        if cancelled:
            status, message = "cancelled", self._cancel_reason
        elif self.counts["failed"] or generation_failed:
            status = "failed"
            message = generation_failed or f"{self.counts['failed']} work item(s) failed"
        elif self.generate_only:
            status, message = "success", f"generated the static work items ({self.total} in all); nothing ran"
        else:
            status, message = "success", ""
        rec.emit(ev.CookFinished, status=status, message=message, counts=dict(self.counts))
        self._flush()
        if self.dry_run:
            return status, message
        # counted from the newest snapshot, not this cook's events: many small cooks add up too; and
        # by bytes: events carrying big lists (a partition's outputs) can outweigh the snapshot soon.
        # The log ends at the state's seq even while the appender still writes the last batch.
        if self.log.snapshot_due(SNAPSHOT_EVERY, last_seq=self.state.seq):
            rec.save_snapshot()
        return status, message

    def _flush(self) -> None:
        written = self.recorder.flush(mark=(self.done, self.total))
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
