"""The cook's walk over the graph: generate work items node by node, hand each on when it cooked.

Dependencies: a processor item is generated from its parent once the parent cooked (it inherits the
parent's output files); a partition holds its members and is merged when they all have. A node is
*generated* when every item it will have exists, and *cooked* when they all finished; a recorded
item its node did not generate again is removed.

Each item the walk generates goes to ``Items`` (``engine.cook.items``) to be decided; an item that
cooked comes back through ``Settle`` to ``handed_on``, which generates its children and counts down
the partitions waiting for it. The delta walk (``engine.incremental.delta``) keeps the items a
change cannot reach without generating them (``kept``): they are counted, never listed.
"""

from __future__ import annotations

from collections.abc import Callable, Collection
from contextlib import nullcontext
from dataclasses import dataclass, field
from typing import Any

from pdgstore.engine.cook import as_generated, as_recorded, bulk, deltawalk
from pdgstore.engine.cook import static as static_graph
from pdgstore.engine.cook.filerecords import FileRecords
from pdgstore.engine.cook.items import Items
from pdgstore.engine.cook.recorder import Recorder
from pdgstore.engine.cook.settle import Settle
from pdgstore.engine.cook.takennames import TakenNames
from pdgstore.engine.errors import error_line
from pdgstore.engine.graph.api import Graph
from pdgstore.engine.graph.nodes import GenerateContext, NewItem, Partitioner, Processor, child_attrs
from pdgstore.engine.graph.when import effective_modes
from pdgstore.engine.graph.workitem import item_identity
from pdgstore.engine.incremental import decide

from pdgstore import events as ev
from pdgstore import itembatch
from pdgstore.events import DONE_STATES, FINISHED_STATES
from pdgstore.state import Item, State, paused_gc


@dataclass
class NodeRun:
    """What the walk tracks about one node during a cook."""

    #: a processor or a partitioner (``engine.graph.nodes``), read by the contract's attributes: the
    #: walk asks ``is_partitioner`` before it asks for what only one of the two has
    node: Any
    downstream: list = field(default_factory=list)
    generated: bool = False
    open_upstream: int = 0  # upstream items (this cook) not yet cooked and handed on
    items: dict = field(default_factory=dict)  # item_id -> None, generated this cook
    unfinished: int = 0  # items generated this cook that have not cooked successfully
    names: TakenNames = field(init=False)  # the names its items took this cook
    kept: int = 0  # delta walk: recorded items reused without being listed in ``items``
    kept_names: Any = None  # delta walk: their names (a set, ``deltawalk.KeptNames``), when a new item needs a name

    def __post_init__(self) -> None:
        self.names = TakenNames(self.node.name)


class Walk:
    def __init__(
        self,
        graph: Graph,
        state: State,
        recorder: Recorder,
        settle: Settle,
        scope: list[str],
        cook_id: int,
        fail_cook: Callable[[str], None],
        warn: Callable[[str], None],
    ) -> None:
        self.graph, self.state, self.recorder, self.settle = graph, state, recorder, settle
        self.scope, self.cook_id = scope, cook_id
        self.fail_cook = fail_cook  # a node could not generate or partition: the cook fails, its branch stops
        self.warn = warn  # a cook warning (a node that made nothing, a static item it could not plan)
        self.items: Items | None = None  # set once the cook knows its stats (``Cook._start``)
        #: the records of the files generation meets; the cook gives it the stats its scan took
        self.files = FileRecords(graph, state, scope)
        self.file_record = self.files.record
        self.ctx = GenerateContext(graph.name, graph.root, file=self.file_record, warn=warn)
        self.runs: dict[str, NodeRun] = {name: NodeRun(graph.nodes[name]) for name in scope}
        for name in scope:
            for up in graph.nodes[name].inputs:
                self.runs[up].downstream.append(name)
        self.partition_waits: dict[str, int] = {}  # partition id -> members not yet cooked
        #: item id -> the partition waiting on it (a list when several do: most items are in one)
        self.member_of: dict[str, str | list[str]] = {}
        self.numbers: dict[str, int] = {}  # item id -> the N of its name node_N
        self.partition_prev: dict[str, tuple] = {}  # partition id -> (its record before, its own attrs)
        #: the items a delta walk decides (``engine.incremental.delta``); None: the full walk decides every item
        self.affected: set[str] | None = None
        self.children: dict[str, list[str]] = {}  # delta walk: item id -> its recorded children
        self.taken_back: set[str] = set()  # delta walk: kept items generated again after all
        #: delta walk: nodes an item was added to, removed from or renumbered in (``as_recorded``);
        #: of those, the ones an item was renumbered in (or recorded ahead in, or a partition new to),
        #: the items each removed (``dropped``: node -> ids) and added (``added``: as generated)
        self.reshaped: set[str] = set()
        self.renumbered: set[str] = set()
        self.dropped: dict[str, list[str]] = {}
        self.added: dict[str, list[str]] = {}
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
        self.bulk = False  # fresh nodes are made in bulk (``engine.cook.bulk``): set by the cook but for a dry run
        self.flush: Callable[[], None] = lambda: None  # the cook's flush (bulk generation flushes as it goes)
        self.bulk_made: set[str] = set()
        self.bulk_left: set[str] = set()  # roots bulk compared with their records, left to the walk (``ahead``)
        self.kept_at: dict[str, int] = {}  # roots bulk compared the same as recorded -> the seq recorded then
        self.in_place: set[str] = set()  # partitions placed with their recorded members (``as_recorded``)
        #: partition id -> its attributes as generated, where a static partitioner reads it (``as_generated``)
        self.as_made: dict[str, dict] = {}
        settle.handed_on = self.handed_on

    @property
    def moved(self) -> set[str]:
        """Delta walk: the nodes an item was removed from or renumbered in (it did more than add)."""
        return self.renumbered | self.dropped.keys()

    @property
    def _decider(self) -> Items:
        """``items``, once the cook set it: what decides each item the walk generates."""
        assert self.items is not None, "Cook._start sets the walk's items before it walks"
        return self.items

    # -- starting points -----------------------------------------------------------------------------
    def start(self) -> None:
        """Generate the root nodes, and record the items known before anything runs; the rest
        follows as items cook.

        Generating in bulk (``engine.cook.bulk``), the cyclic garbage collector is paused
        meanwhile (``paused_gc``): every item made survives in the state, so each collection on the
        way would scan a growing heap for nothing (a large share of the generation's time:
        ``benchmarks/test_bench_generate.py``)."""
        with paused_gc() if self.bulk else nullcontext():
            chosen = bulk.plan(self) if self.bulk else []
            bulk.generate(self, chosen)
            for name in self.scope:
                if name in self.bulk_made:
                    self._node_generated(name)
                elif not self.graph.nodes[name].inputs and (name not in chosen or name in self.bulk_left):
                    self._generate_root(name)
            self._announce()

    # -- items known ahead (Generate When: all upstream items are generated) -------------------------
    def _announce(self) -> None:
        """Record the items known before anything runs (Generate When resolved to "all upstream
        items are generated", and static partitions over them): ``engine.cook.static`` plans them
        with the ids, names and indices the engine gives them when it generates them for real (once
        their parents cooked: their input files and cooked attributes come then). New ones only:
        a recorded item keeps its record until it is decided."""
        found, warnings = static_graph.planned_items(self)
        for message in warnings:
            self.warn(message)
        known = self.state.items
        if bulk.in_bulk(self):  # generating in bulk: one ``record_many`` for them all (``engine.cook.bulk``)
            many = [
                _announced(p.item_id, p.node, p.name, p.index, p.parents, p.attrs)
                for p in found
                if p.item_id not in known
            ]
            if len({fields["item_id"] for fields in many}) == len(many):
                self.recorder.record_many(ev.WorkItemGenerated, many)
                for fields in many:
                    self.announced[fields["item_id"]] = None
                    self.settle.registered(fields["node"])
                return
        for p in found:
            if p.item_id not in known:
                self._record_announced(p.item_id, p.node, p.name, p.index, p.parents, p.attrs)

    def _record_announced(self, item_id: str, node: str, name: str, index: int, parents: list, attrs: dict) -> None:
        self.recorder.record(ev.WorkItemGenerated, _announced(item_id, node, name, index, parents, attrs))
        if self.affected is not None:
            self.reshaped.add(node)  # a new item, recorded ahead
            self.renumbered.add(node)
        self.announced[item_id] = None
        self.settle.registered(node)

    def _announce_children(self, run: NodeRun, item_ids: list) -> None:
        """Explicit "all upstream items are generated" below dynamic items: a node's items are
        recorded as soon as their parents exist, before those cook."""
        for down in run.downstream:
            if down not in self.early or self.modes.get(down) != "all_upstream_generated":
                continue
            node = self.runs[down].node
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

    def reuse_everything(self) -> None:
        """Record what the full walk records when nothing changed (``engine.incremental.noop`` proved it):
        every node generated and cooked, every item reused."""
        rec = self.recorder
        for name in self.scope:
            run = self.runs[name]
            run.items = dict.fromkeys(self.state.node_items.get((self.graph.name, name), ()))
            run.generated = True
            rec.emit(ev.NodeGenerated, node=name, count=len(run.items))
            rec.emit(ev.NodeCooked, node=name, failed=0)
            self.settle.kept(len(run.items))

    def walk_delta(self, affected: set[str], children: dict[str, list[str]], appended: dict | None = None) -> None:
        """Register every item the change cannot reach as reused, in bulk (``engine.incremental.delta``),
        and make the affected items of the root nodes again, and a file pattern's new matches that
        follow every recorded one (``engine.cook.deltawalk``)."""
        deltawalk.start(self, affected, children, appended)

    # -- the delta walk's kept items -----------------------------------------------------------------
    def is_kept(self, item_id: str, node: str) -> bool:
        """Delta walk: the recorded item of ``node`` is reused without being decided (counted in
        ``run.kept``, never in ``run.items``). A partitioner keeps none: it partitions again."""
        affected = self.affected
        assert affected is not None, "only a delta walk keeps items"
        return item_id not in affected and item_id not in self.taken_back and not self.graph.nodes[node].is_partitioner

    # -- generation ----------------------------------------------------------------------------------
    def _register(self, run: NodeRun, item_id: str, number: int) -> None:
        run.items[item_id] = None
        run.unfinished += 1
        self.numbers[item_id] = number
        if self.announced.pop(item_id, 1):  # an announced item was counted when it was announced
            self.settle.registered(run.node.name)
        for down in run.downstream:
            self.runs[down].open_upstream += 1

    def _name_for(self, run: NodeRun, number: int) -> str:
        node = run.node.name
        name = f"{node}_{number}"
        kept = deltawalk.kept_names(self, run) if self.affected is not None else ()  # disjoint from run.names
        if name in kept or not run.names.take_number(number):  # (taken when free: one step, not a test and an add)
            name = f"{node}_{number}_{len(run.names) + len(kept)}"
            run.names.add(name)
        return name

    def _generate_root(self, name: str) -> None:
        run = self.runs[name]
        processor: Processor = run.node
        new = self._call_generate(processor, None)
        if new is None:
            return
        self._add_children(run, new, parent=None)
        self._node_generated(name)

    def _call_generate(self, processor, parent):
        try:
            return processor.generate(self.ctx, parent)
        except Exception as exc:
            self.generate_failed(processor, parent, exc)
            return None

    def generate_failed(self, processor, parent, exc: Exception) -> None:
        """``processor``'s ``generate`` (or ``generate_parts``) raised ``exc``: the cook fails."""
        where = f" from {parent.name}" if parent is not None else ""
        self.fail_cook(f"node {processor.name} failed to generate work items{where}: {error_line(exc)}")

    def _add_children(
        self, run: NodeRun, new: list[NewItem], parent: Item | None, numbers: list[int] | None = None
    ) -> None:
        """Register and decide the items ``new`` that a node generated (from ``parent``, or as a root
        node when None). ``numbers``: their positions when they are not the whole node's (delta walk)."""
        processor = run.node
        node_name = processor.name
        graph_name = self.graph.name
        count = len(new)
        items = self._decider
        decide_item = items.work if processor.does_work else items.born
        for i, spec in enumerate(new):
            if parent is None:
                number = numbers[i] if numbers is not None else i + 1
                attrs, inputs, parents = dict(spec.attrs), [], []
            else:
                pn = self.numbers.get(parent.item_id, 1)
                number = pn if count == 1 else (pn - 1) * count + i + 1
                attrs = child_attrs(parent.attrs, spec)
                inputs, parents = list(parent.outputs), [parent.item_id]
            item_id = item_identity(graph_name, node_name, parents, spec.key)
            prev = self.state.items.get(item_id) if self.affected is not None else None
            if prev is not None and prev.node == node_name:
                name = prev.name  # the delta walk renumbers nothing: an item keeps its recorded name
                run.names.add(name)
            else:
                name = self._name_for(run, number)
            if self.affected is not None and (prev is None or prev.node != node_name or prev.index != spec.index):
                self.reshaped.add(node_name)
                if prev is None:
                    self.added.setdefault(node_name, []).append(item_id)
                else:
                    self.renumbered.add(node_name)
            self._register(run, item_id, number)
            outputs = [] if processor.does_work else list(spec.outputs)
            if not outputs and not processor.does_work and parent is not None:
                outputs = list(parent.outputs)  # an item without work passes its parent's files on
            fields = {
                "item_id": item_id,
                "node": node_name,
                "name": name,
                "index": spec.index,
                "parents": parents,
                "attrs": attrs,
                "inputs": inputs,
                "outputs": outputs,
            }
            if spec.error:  # a stat handler raised on its file: it alone fails
                items.failed_at_birth(processor, fields, spec.error)
            else:
                decide_item(processor, fields)
            if self.early and processor.does_work:
                self._announce_children(run, [item_id])

    def _node_generated(self, name: str) -> None:
        """Mark ``name`` fully generated; remove its items that this cook did not generate again."""
        run = self.runs[name]
        if run.generated:
            return
        run.generated = True
        recorded: Collection[str] = ()
        if self.affected is not None and not run.node.is_partitioner:  # the kept items stand
            recorded = self.state.ids_in_node(self.graph.name, name, (*self.affected, *self.taken_back))
        elif not (ids := self.state.node_items.get((self.graph.name, name), {})).keys() <= run.items.keys():
            recorded = ids  # else all made now (a cold node)
        for item_id in list(recorded):
            if item_id not in run.items:
                self._decider.removed(item_id, self.cook_id)
                self.reshaped.add(name)
                self.dropped.setdefault(name, []).append(item_id)
        (rec := self.recorder).emit(ev.NodeGenerated, node=name, count=len(run.items) + run.kept)
        if not run.items and not run.kept:
            upstream = sum(len(self.runs[i].items) + self.runs[i].kept for i in run.node.inputs if i in self.runs)
            if why := run.node.made_nothing(upstream):
                self.warn(f"node {name} made no work items: {why}{as_generated.hint(self, name)}")
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
        if self.affected is not None and as_recorded.place(self, name):
            return
        members = as_generated.members(self, name)  # in work item order, never in the order they cooked
        made = self.as_made if as_generated.feeds_static(self, name) else None
        try:  # (a static partitioner's members as generated: a user processor's are asked for again)
            partitions = partitioner.partition(self.ctx, as_generated.generated(self, members, partitioner))
        except Exception as exc:
            self.fail_cook(f"partitioner {name} failed: {error_line(exc)}{as_generated.hint(self, name)}")
            return
        # a node with no recorded item (``bulk.places_in_bulk``): its partitions placed in one ``record_many``
        fresh = bulk.places_in_bulk(self, name)
        placed: list[dict] = []
        pending: set[str] = set()  # the ids in ``placed``
        complete: list[str] = []
        for number, part in enumerate(partitions, start=1):
            member_ids = [m.item_id for m in part.members]
            item_id = item_identity(self.graph.name, name, [], part.key)
            if part.index is not None:  # the partitioner's own index (a frame, say) numbers it
                number = part.index + 1
            item_name = self._name_for(run, number)
            self._register(run, item_id, number)
            own = dict(part.attrs)
            if made is not None:  # its members' attributes as this partitioner read them, its own on top
                made[item_id] = partitioner.merged(part.members, own)[0]
            prev = decide.record_of(self.state.items.get(item_id))
            if self.affected is not None and item_id not in self.state.items:
                self.reshaped.add(name)
                self.renumbered.add(name)
            self.partition_prev[item_id] = (prev, own)
            fields = {
                "item_id": item_id,
                "node": name,
                "name": item_name,
                "index": number - 1,
                "parents": member_ids,
                "attrs": own,
            }
            if fresh and item_id in pending:  # the same partition twice: place it as the walk would
                self.recorder.record_many(ev.WorkItemGenerated, placed)
                placed, pending = [], set()
                prev = decide.record_of(self.state.items.get(item_id))
                self.partition_prev[item_id] = (prev, own)
            if fresh and prev is None:
                placed.extend({**fields, "patched": {}} for _cls, fields in decide.placed(None, fields))
                pending.add(item_id)
            else:
                self._decider.place(fields, prev)
            waiting = 0
            for member in part.members:
                if self.state.items[member.item_id].state not in DONE_STATES:
                    waiting += 1
                    self.waits_for(member.item_id, item_id)
            self.partition_waits[item_id] = waiting
            if waiting == 0:
                if fresh:
                    complete.append(item_id)
                else:
                    self._merge(item_id)
        if placed:
            self.recorder.record_many(ev.WorkItemGenerated, placed)
        for item_id in complete:
            self._merge(item_id)

    def waits_for(self, member_id: str, partition_id: str) -> None:
        """Partition ``partition_id`` waits for ``member_id`` to cook (``handed_on`` counts it)."""
        have = self.member_of.get(member_id)
        if have is None:
            self.member_of[member_id] = partition_id
        elif isinstance(have, str):
            self.member_of[member_id] = [have, partition_id]
        else:
            have.append(partition_id)

    def _merge(self, item_id: str) -> None:
        prev, own = self.partition_prev.pop(item_id, (None, {}))
        self._decider.merge(item_id, prev, own, in_place=item_id in self.in_place)

    # -- hand-on -------------------------------------------------------------------------------------
    def handed_on(self, item_id: str) -> None:
        """``item_id`` cooked (``Settle`` counted it): generate what depends on it, merge the
        partitions it completes."""
        item = self.state.items[item_id]
        run = self.runs[item.node]
        run.unfinished -= 1
        if run.generated and run.unfinished == 0:
            self.recorder.emit(ev.NodeCooked, node=item.node, failed=0)
        waiting = self.member_of.pop(item_id, ())
        for partition_id in (waiting,) if isinstance(waiting, str) else waiting:
            self.partition_waits[partition_id] -= 1
            if self.partition_waits[partition_id] == 0:
                self._merge(partition_id)
        affected = self.affected
        for down in run.downstream:
            down_run = self.runs[down]
            if not down_run.node.is_partitioner and (
                affected is None or item_id in affected or deltawalk.take_back(self, item_id, down_run)
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

    # -- a batch's new sub-item ---------------------------------------------------------------------
    def append_item(self, node: str, like_id: str) -> str:
        """``pdgcmd.appendSubItem``: a new item of ``node`` beside ``like_id`` (the same parent, so
        the same inputs and inherited attributes), generated, registered and decided as any other;
        its id. Its identity names this cook: an appended item lives as long as the batch run that
        made it (a later cook, not making it again, removes it)."""
        run = self.runs[node]
        like = self.state.items[like_id]
        parent = self.state.items.get(like.parents[0]) if like.parents else None
        before = len(run.items)
        key = ("appended", self.cook_id, like_id, before)
        self._add_children(run, [NewItem(key=key, index=like.index + 1)], parent)
        return list(run.items)[before]

    # -- the end -------------------------------------------------------------------------------------
    def listed(self, run: NodeRun) -> list[str]:
        """The items of ``run``'s node in this cook: those it generated, and those a delta walk kept."""
        if self.affected is None:
            return list(run.items)
        node = run.node.name
        return [
            i for i in self.state.node_items.get((self.graph.name, node), ()) if i in run.items or self.is_kept(i, node)
        ]

    def unfinished(self) -> list[str]:
        """The items generated in this cook, and those it recorded ahead (static) and did not reach,
        that did not finish (what a cancel records cancelled)."""
        out = []
        items = self.state.items
        # an item the cook let go of is settled (``engine.cook.holding``): not read back to be told so
        is_read = getattr(items, "is_read", None)
        announced = [i for i in self.announced if i in items]
        for item_ids in [run.items for run in self.runs.values()] + [announced]:
            for item_id in item_ids:
                if is_read is not None and not is_read(item_id):
                    continue
                item = items.get(item_id)
                if item is not None and item.state not in FINISHED_STATES:
                    out.append(item_id)
        return out


def _announced(item_id: str, node: str, name: str, index: int, parents: list, attrs: dict) -> dict:
    """The ``WorkItemGenerated`` fields of an item recorded ahead of its parents' cook: no files,
    no signature yet, uncooked."""
    return itembatch.item_fields(item_id, node, name, index, parents, attrs, [], [], "uncooked", "")
