"""Carrying out the decisions about generated work items: gather the facts, ask, act.

For each item the walk generates (``engine.cook.walk``), ``Items`` gathers what the decision needs
(the item's record, its signature, the stat results the cook took, its node's cache mode and
changes), asks ``engine.incremental.decide``, finds the costly facts the decision asks for (the
expected output files, the cache check, which calls the user's cache handlers), then carries the
decision out: append its events, and settle the item (``engine.cook.settle``) or queue it to run.

A dry run (``pdg cook --dry-run``) carries out every decision but the runs: ``enqueue`` is not
given, and ``observe`` hears each decision and its reason (the plan it prints).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable

from pdgstore.engine.cook import inplace
from pdgstore.engine.cook.owners import Owners
from pdgstore.engine.cook.recorder import Recorder
from pdgstore.engine.cook.sameoutputs import SameOutputs
from pdgstore.engine.cook.settle import Settle
from pdgstore.engine.files import attrfiles
from pdgstore.engine.files import records as files
from pdgstore.engine.files.cache import CacheChecker
from pdgstore.engine.graph.api import Graph
from pdgstore.engine.graph.nodes import FilePattern
from pdgstore.engine.graph.workitem import WorkItem
from pdgstore.engine.incremental import decide
from pdgstore.engine.incremental import signatures as incremental

from pdgstore.errors import PdgError
from pdgstore.events import PATH
from pdgstore.state import State

NEED_EXPECTED, NEED_CACHE_CHECK, NEED_OWNERS = decide.NEED_EXPECTED, decide.NEED_CACHE_CHECK, decide.NEED_OWNERS
REUSE, UPDATE, RUN, CACHE = decide.REUSE, decide.UPDATE, decide.RUN, decide.CACHE


class Items:
    def __init__(
        self,
        graph: Graph,
        state: State,
        recorder: Recorder,
        settle: Settle,
        *,
        stats: dict,
        node_fp: dict[str, str],
        node_reasons: dict[str, dict],
        shortcut: set[str],
        enqueue: Callable[[str, object], None] | None,
        observe: Callable[[str, str, dict], None] | None = None,
    ) -> None:
        self.graph, self.state, self.recorder, self.settle = graph, state, recorder, settle
        self.root = graph.root
        self.stats = stats
        self.cache = CacheChecker(graph.types, graph.root, stats)
        self.node_fp = node_fp  # node name -> its definition's fingerprint
        self.node_reasons = node_reasons  # node name -> why its definition changed
        #: nodes whose clean items with parents not remade are reused without a signature (``noop``)
        self.shortcut = shortcut
        self.enqueue = enqueue  # None: runs are not carried out (a dry run)
        self.observe = observe
        #: a delta walk's items remade in this cook: item id -> its record from before
        #: (``inplace.Was``), which a wait-for-all merged in place reads (``engine.cook.inplace``)
        self.before: dict[str, inplace.Was] | None = None
        #: item id -> name of the items removed in this cook (what their children's removal says)
        self.removed_names: dict[str, str] = {}
        #: (path, tag) -> the record of a file attribute's file made in this cook (``attrfiles``)
        self.known_files: dict = {}
        #: which other item records a file a cache hit would take (``engine.cook.owners``)
        self.owners = Owners(graph, state, self.removed_names)
        #: names another item that writes an output found changed (``engine.cook.sameoutputs``)
        self.same: SameOutputs | None = None

    # -- each kind of item -------------------------------------------------------------------------
    def born(self, node, new: dict) -> None:
        """An item born cooked (``new``: its ``WorkItemGenerated`` fields): reuse it or record it."""
        prev = decide.record_of(self.state.items.get(new["item_id"]))
        name = node.name
        if attrfiles.holds_files(new["attrs"]):  # its file attributes' files, recorded as it is made
            self.record_attr_files(new, prev)
        if (
            prev is not None
            and name in self.shortcut
            and decide.born_as_recorded(prev, new, self.stats, self.root, self.settle.remade)
        ):
            decision = decide.reuse(prev, new["name"], new["index"])
            self.cache.reused(new["name"])
        else:
            signature = incremental.item_signature(self.node_fp[name], new["attrs"], new["inputs"], new["outputs"])
            decision = decide.born(prev, new, signature, self.node_reasons.get(name))
        self._keep_before(prev, decision)
        self.carry_out(new["item_id"], decision, node)

    def work(self, node, new: dict) -> None:
        """An item with work: reuse it, take it from the cache, fail it, or queue it to run."""
        item_id = new["item_id"]
        recorded = self.state.items.get(item_id)
        prev = decide.record_of(recorded)
        if (
            prev is not None
            and node.name in self.shortcut
            and decide.clean(prev, new["parents"], self.stats, self.root, self.settle.remade)
        ):
            self.cache.reused(new["name"])
            return self.carry_out(item_id, decide.reuse(prev, new["name"], new["index"]), node)
        signature = incremental.item_signature(self.node_fp[node.name], new["attrs"], new["inputs"])
        expected: list | None = None if node.expected_outputs else []
        check = taken = attr_files = None
        mode, node_reason = node.cache_mode, self.node_reasons.get(node.name)
        try:
            if prev is not None and attrfiles.holds_files(prev.attrs):  # (a stat handler may raise)
                attr_files = attrfiles.check(prev.attrs, self.root, self.graph.types, prev, self.stats)
            while True:
                decision = decide.work(
                    prev,
                    new,
                    mode=mode,
                    signature=signature,
                    node_reason=node_reason,
                    expected=expected,
                    check=check,
                    taken=taken,
                    attr_files=attr_files,
                )
                if decision.action == NEED_EXPECTED:
                    expected = self.expected(node, new)
                elif decision.action == NEED_CACHE_CHECK:
                    view = self._view(new) if prev is None else WorkItem.view_of(prev, self.root)
                    check = self.cache.check(decision.files or [], view)
                    if check.reason is not None and self.same is not None:
                        self.same.annotate(item_id, check.reason)
                elif decision.action == NEED_OWNERS:
                    taken = self.owners.taken(new, decision.files or [], self._unwritten)
                else:
                    break
            if decision.action == CACHE and attrfiles.holds_files(new["attrs"]):  # as its work's end would
                assert decision.result is not None, "a cache decision carries the recorded result"
                view, types = self._view(new), self.graph.types
                decision.result["attrs"] = attrfiles.recorded(new["attrs"], self.root, types, view)
        except PdgError as exc:  # a handler raised, or an expected output did not expand
            decision = decide.failed(item_id, str(exc), decide.generated_only(new))
        if prev is None and decide.announced_as(recorded, new):
            decision = decide.without_generation(decision)
        self._keep_before(prev, decision)
        self.carry_out(item_id, decision, node, signature)

    def record_attr_files(self, new: dict, prev) -> None:
        """Record the files of the file attributes ``new`` (an item born cooked) is made with
        (``attrfiles.recorded``): those with the record ``prev`` holds are not read again, and one
        many items name is read once a cook (``known_files``) unless a stat handler decides."""
        types = self.graph.types
        view = self._view(new) if types.stat_handlers else None
        before = prev.attrs if prev is not None else None
        fresh = attrfiles.recorded(new["attrs"], self.root, types, view, before=before, known=self.known_files)
        if fresh:
            new["attrs"] = {**new["attrs"], **fresh}

    def failed_at_birth(self, node, new: dict, message: str) -> None:
        """An item that fails as it is made (``NewItem.error``: a stat handler raised on its file):
        recorded as generated, then failed with ``message``."""
        prev = decide.record_of(self.state.items.get(new["item_id"]))
        decision = decide.failed(new["item_id"], message, decide.generated_only(new))
        self._keep_before(prev, decision)
        self.carry_out(new["item_id"], decision, node)

    def _keep_before(self, prev, decision: decide.Decision) -> None:
        """Keep the record of an item a delta walk makes again, for the partitions it is in, and its
        files as its own for the rest of the cook (``Owners.gave_up``)."""
        if prev is None or decision.action == REUSE:
            return
        self.owners.gave_up(prev)
        if self.before is not None:
            self.before[prev.item_id] = inplace.Was(prev.item_id, list(prev.outputs), dict(prev.attrs))

    def merge(self, item_id: str, prev, own: dict, *, in_place: bool = False) -> None:
        """A partition whose members all cooked: reuse it or merge them into it. ``in_place``: a
        wait-for-all placed with its recorded members, merged from the remade ones alone when that
        can be proven (``engine.cook.inplace``)."""
        item = self.state.items[item_id]
        node = item.node
        keeps = node in self.shortcut and decide.keeps_signature(item, prev, self.settle.remade)
        if in_place and not keeps:
            decision = inplace.merge(self, self.graph.nodes[node], item, prev)
            if decision is not None:
                return self.carry_out(item_id, decision, None)
        # the members the walk did not read stay unread: only what the merge uses of each is read
        members = self.state.members(self.graph.name, self.graph.nodes[node].inputs, list(item.parents))
        if keeps:
            signature = prev.signature
        else:
            signature = incremental.partition_signature(self.node_fp[node], own, members)
        reason = self.node_reasons.get(node)
        merge = self.graph.nodes[node].merged  # type: ignore[attr-defined]  # a partitioner's
        decision = decide.merged(item, prev, members, own, signature, reason, self.settle.remade, merge)
        self.carry_out(item_id, decision, None)

    def place(self, new: dict, prev) -> None:
        """Record a partition as generated (or renumbered) before its members cooked (``prev``: its
        record worth deciding on, ``decide.record_of``)."""
        for cls, fields in decide.placed(prev, new):
            self.recorder.record(cls, fields)

    # -- carrying out --------------------------------------------------------------------------------
    def carry_out(self, item_id: str, decision: decide.Decision, node, signature: str = "") -> None:
        record = self.recorder.record
        for cls, fields in decision.events:
            record(cls, fields)
        action = decision.action
        if self.observe is not None:
            self.observe(item_id, action, decision.reason or {})
        settle = self.settle
        if action == REUSE:
            settle.cooked(item_id, "reused")
        elif action == RUN:
            if self.enqueue is not None:
                self.queue(item_id, node, signature)
        elif action == UPDATE:
            if decision.result is not None:
                settle.recorded(decision.result, "updated")
            else:
                settle.cooked(item_id, "updated", remade=True)
        elif action == CACHE:
            assert decision.result is not None, "a cache decision carries the recorded result"
            settle.recorded(decision.result, "cached")
        else:
            assert decision.result is not None, "a failed decision carries the failure"
            settle.failed(decision.result)

    def queue(self, item_id: str, node, signature: str) -> None:
        """Queue ``item_id`` of ``node`` to run; ``signature``: what its result is recorded with.
        Only called when runs are carried out (``enqueue`` is set: not a dry run)."""
        assert self.enqueue is not None, "a dry run queues nothing"
        self.settle.signatures[item_id] = signature
        self.enqueue(item_id, node)

    def removed(self, item_id: str, cook_id: int, why: str = "") -> None:
        """Remove the recorded ``item_id``, which its node did not generate again (``why``: the
        cause when the caller knows it, its node gone from the graph): record why, count it, and
        tell a dry run its name and node (gone from the state once recorded)."""
        item = self.state.items.get(item_id)
        decision = decide.removed(item_id, cook_id, why or (self._why_removed(item) if item is not None else ""))
        for cls, fields in decision.events:
            self.recorder.record(cls, fields)
        self.settle.removed()
        if item is not None:
            self.removed_names[item_id] = item.name
            self.owners.gave_up(item)
            if self.before is not None:  # what a wait-for-all it leaves is merged without (``inplace``)
                self.before[item_id] = inplace.Was(item_id, list(item.outputs), dict(item.attrs))
        if self.observe is not None:
            named = {"name": item.name, "node": item.node} if item is not None else {}
            self.observe(item_id, decision.action, {**(decision.reason or {}), **named})

    def _why_removed(self, item) -> str:
        """What made ``item`` go, when that can be told without reading more: a parent removed
        before it in this cook, or the file a file pattern's item stood for gone or no longer
        matched; "" otherwise (``decide.removed`` says its node did not generate it again)."""
        gone = [self.removed_names[p] for p in item.parents if p in self.removed_names]
        if gone:
            if len(gone) > 1:
                return f"its parents {', '.join(gone[:3])}{' ...' if len(gone) > 3 else ''} were removed"
            return f"its parent {gone[0]} was removed"
        node = self.graph.nodes.get(item.node)
        if isinstance(node, FilePattern) and item.outputs:
            path = item.outputs[0][PATH]
            if not os.path.exists(files.absolute(path, self.root)):
                return f"its file {path} is gone"
            return f"its file {path} no longer matches {node.pattern}"
        return ""

    # -- facts that cost something -------------------------------------------------------------------
    def _unwritten(self, path: str) -> Iterable[str]:
        """The items that recorded ``path`` in this cook whose events are not written yet."""
        return self.same.unwritten(path) if self.same is not None else ()

    def _view(self, new: dict) -> WorkItem:
        return WorkItem(
            item_id=new["item_id"],
            name=new["name"],
            index=new["index"],
            node=new["node"],
            attrs=new["attrs"],
            inputs=new["inputs"],
            outputs=[],
            root=self.root,
            read_only=True,
        )

    def expected(self, node, new: dict) -> list[list]:
        """The files ``node`` expects an item to write, expanded for it: ``[path, tag]`` each."""
        if not node.expected_outputs:
            return []
        view = self._view(new)
        out = []
        for expr in node.expected_outputs:
            path = files.relative(view.expand(expr, parm="expected_outputs"), self.root)
            out.append([path, self.graph.types.tag_for(path)])
        return out
