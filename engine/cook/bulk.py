"""PDG's "Generate Static Work Items" in bulk: a fresh network's items generated node by node.

Seed 004: "If you have a TOP network that has no cached results (no work items inside the nodes),
you can choose Tasks > Generate Static Work Items". On such nodes every decision the walk would make
item by item is already known: a new item born cooked is recorded cooked (``decide.born`` with no
record), a new item with work is recorded to run (``decide.work`` with no record, no expected output
and a cache mode that does not demand one). So ``pdg cook --generate-only`` makes those nodes' items
here, a node at a time: the specs from the node's own ``generate``, ids, names and numbers as the
walk gives them, and one ``Recorder.record_batch`` per chunk, which encodes and applies the events in
one pass (the walk pays a decision, a settle and a hand-on per item). A cook that runs them makes a
fresh network's items the same way (a cold cook), and queues each item with work to run as the
walk's decision would, with the signature its result is recorded with.

Which nodes: processors with no recorded item (or whose items ``pdg cook --generate-only``
recorded ahead: ``engine.cook.ahead`` compares each with its record instead of recording it) whose
inputs (if any) are nodes made here whose items are all cooked, so their children are generated for
real, as the walk would (the walk hands a born-cooked item on at once). Every node downstream of a
born-cooked one that is not made here must be a partitioner, which the walk then partitions as
usual; below a node whose items run, a processor may be left to the walk too, which generates its
items as theirs cook, unless it records its items ahead of their parents' cook (an explicit
Generate When). Otherwise nothing is made here and the walk does it all. Items the walk records ahead of their parents' cook (static children of
items with work) are the walk's ``_announce``, and partitions the walk's ``_partition`` (it knows
when their inputs are generated); both record theirs with one ``record_many`` too (``in_bulk``,
``places_in_bulk``).

The events are the walk's, item for item (a test compares the two stores); only their order in the
log differs (a node's items together instead of parent and child interleaved).
"""

from __future__ import annotations

from collections.abc import Iterable

from pdgstore.engine.cook import ahead
from pdgstore.engine.files import attrfiles
from pdgstore.engine.graph.nodes import NewItem, child_attrs
from pdgstore.engine.graph.workitem import child_identities, identity_head, identity_with
from pdgstore.engine.incremental import signatures

from pdgstore import itembatch
from pdgstore.state import EMPTY_LIST, EMPTY_MAP, Item

#: items recorded and flushed at a time (the appender writes a batch while the next is made)
CHUNK = 10_000
#: the room of a chunk that holds a whole node (a recorded root, compared before anything is counted)
_NEVER_FULL = 1 << 62
#: what ``one_per_parent`` hands ``child_attrs`` of each upstream item: no attributes of its own
_ONE = NewItem(key=0, index=0)


def plan(walk) -> list[str]:
    """The nodes of ``walk``'s scope to make in bulk, in topological order ([] when the walk must
    do it all)."""
    graph, state = walk.graph, walk.state
    if walk.affected is not None or walk.items is None or walk.items.observe is not None:
        return []
    if graph.types.stat_handlers:
        return []  # a stat handler may fail one item as it is made (``NewItem.error``): the walk decides each
    chosen: list[str] = []
    all_cooked: set[str] = set()  # chosen nodes whose items are all born cooked
    for name in walk.scope:
        node = graph.nodes[name]
        if node.is_partitioner or any(up not in all_cooked for up in node.inputs):
            continue
        if node.does_work and (node.expected_outputs or node.cache_mode == "always_read"):
            continue  # a cache check or a refusal per item: the walk decides those
        if state.node_items.get((graph.name, name)) and not ahead.eligible(walk, name):
            continue  # recorded, not as ``--generate-only`` records items: the walk decides each
        chosen.append(name)
        if not node.does_work:
            all_cooked.add(name)
    taken = set(chosen)
    for name in chosen:
        for down in walk.runs[name].downstream:
            if down in taken or graph.nodes[down].is_partitioner:
                continue
            if name in all_cooked or down in walk.early:
                return []  # the walk would hand items on to it (or record its items ahead) one by one
            # below items that run: the walk generates its items as each of theirs cooks (``handed_on``)
    return chosen


def in_bulk(walk) -> bool:
    """Whether ``walk`` records what it can in bulk: ``pdg cook --generate-only`` on a fresh walk
    (the nodes of ``plan``, the partitions of ``places_in_bulk`` and the items it records ahead of
    their parents' cook, ``Walk._announce``)."""
    return walk.bulk and walk.affected is None


def places_in_bulk(walk, name: str) -> bool:
    """Whether the walk places the partitions of partitioner ``name`` in bulk (``Walk._partition``):
    generating in bulk, a fresh walk, and no item of ``name`` recorded, so every partition is new
    and its placing known (``decide.placed`` with no record). Then the partitions' events are
    recorded with one ``Recorder.record_many`` (their table rows made by the writer, as the
    processors' here), and the partitions whose members all cooked are merged after it."""
    return in_bulk(walk) and not walk.state.node_items.get((walk.graph.name, name))


def generate(walk, names: list[str]) -> None:
    """Make the items of ``names`` (``plan``) and record them; the walk then marks those nodes
    generated (``Walk._node_generated``), which partitions what waits on them."""
    early = _done_early(walk, names)
    nodes = walk.graph.nodes
    walk.recorder.expect(sum(nodes[name].count_ahead() or 0 for name in names if not nodes[name].inputs))
    fed = _fed(walk, names)
    fed_nodes = set(fed.values())
    for name in names:
        if name in fed_nodes:
            continue  # made beside its input (``_Feed``), from each chunk of it as it is recorded
        if any(not _made(walk, up) for up in nodes[name].inputs):
            continue  # an input failed to generate: as in the walk, nothing below it is made
        down = fed.get(name)
        feed = _Feed(walk, down, early) if down is not None else None
        if _node(walk, name, early, feed) and feed is not None:
            feed.close()
    holding = walk.recorder.holding
    if holding is not None:  # items born cooked, their children made: done, as ``Settle.cooked`` says
        seq = walk.recorder.emitted_seq
        handed_over = {born for parents in early.values() for born in parents}  # done already, by ``_node``
        for name in names:
            if name in walk.bulk_made and not walk.graph.nodes[name].does_work and name not in handed_over:
                for item_id in walk.runs[name].items:
                    holding.done(item_id, seq)


def _done_early(walk, names: list[str]) -> dict[str, list[str]]:
    """Child node -> the born-cooked node whose items are done as soon as that child node has made
    its children from them (``Holding`` may then let go of them while the rest are made, instead of
    holding a whole node of parents to the end): nodes made here whose downstream nodes are all
    processors made here, the child being the last of those. Any other born node's items are done
    once every node is made (a partitioner below reads them as members)."""
    order = {name: i for i, name in enumerate(names)}
    early: dict[str, list[str]] = {}
    for name in names:
        if walk.graph.nodes[name].does_work:
            continue
        downstream = walk.runs[name].downstream
        if downstream and all(down in order for down in downstream):
            early.setdefault(max(downstream, key=order.__getitem__), []).append(name)
    return early


def _made(walk, name: str) -> bool:
    return walk.runs[name].items or name in walk.bulk_made


def _fed(walk, names: list[str]) -> dict[str, str]:
    """Node -> the processor made here whose only input it is, and the only node made here below
    it: that processor's items are made from each chunk of its input as the chunk is recorded
    (``_Feed``), not once its input is whole. The log appender then writes both nodes' rows from
    the first chunks on, instead of the second node's (the heavier: parents, links) all at the end."""
    chosen = set(names)
    fed: dict[str, str] = {}
    for name in names:
        node = walk.graph.nodes[name]
        if len(node.inputs) != 1 or node.inputs[0] not in chosen:
            continue
        up = node.inputs[0]
        if [down for down in walk.runs[up].downstream if down in chosen] == [name]:
            fed[up] = name
    for up in [up for up in fed if up in fed.values()]:
        del fed[up]  # one node fed at a time: the one below a fed node is made once that one is whole
    return fed


def _node(walk, name: str, early: dict[str, list[str]], feed: _Feed | None = None) -> bool:
    """Make and record the items of ``name``, handing each chunk recorded to ``feed`` (the
    processor made from them, ``_fed``); whether they were all made (else the cook fails)."""
    run = walk.runs[name]
    node = run.node
    if node.inputs:
        own = _Feed(walk, name, early, feed)
        items = walk.state.items
        # one parent at a time: a parent let go of once its children are made is not held here
        own.feed(items[i] for up in node.inputs for i in list(walk.runs[up].items))
        return own.close()
    chunk = _Chunk(walk, run, early, feed)
    # a part at a time (``Processor.generate_parts``): the first chunk is recorded while the rest is made
    parts = node.generate_parts(walk.ctx, None, CHUNK)
    made = 0
    while True:
        try:
            specs = next(parts, None)
        except Exception as exc:  # noqa: BLE001 - as ``Walk._call_generate``; before the first part, so nothing is recorded
            walk.generate_failed(node, None, exc)
            return False
        if specs is None:
            break
        chunk.add(None, specs, made)
        made += len(specs)
    chunk.record()
    if name in walk.bulk_left:
        return False
    walk.bulk_made.add(name)
    return True


class _Feed:
    """The items of processor ``name``, made from its parents as they come: all of them at once
    (``_node``), or a chunk of its input at a time, as each is recorded (``_fed``). ``then``: the
    feed of the node made from this one's chunks, if any."""

    def __init__(self, walk, name: str, early: dict[str, list[str]], then: _Feed | None = None) -> None:
        self.walk = walk
        self.node = walk.runs[name].node
        self.chunk = _Chunk(walk, walk.runs[name], early, then)
        #: parents that made one item each (a processor's), laid out together once there is a chunk of them
        self.singles: list[Item] = []
        #: their specs; None: the node makes ``one_per_parent`` of each, known without asking it
        self.single_specs: list | None = None if self.node.one_each() else []
        self.failed = False

    def feed(self, parents: Iterable[Item]) -> None:
        """Make the items of ``parents``; stop at the first whose generation fails (the cook fails)."""
        if self.failed:
            return
        walk, node, chunk = self.walk, self.node, self.chunk
        if self.single_specs is None:  # one item each, as ``generate_one_each`` makes it: no call per parent
            singles = self.singles
            for parent in parents:
                singles.append(parent)
                if len(singles) == (chunk.room or CHUNK):
                    self._lay_out_singles()
                    singles = self.singles
            return
        for parent in parents:
            specs = walk._call_generate(node, parent)
            if specs is None:
                self.failed = True
                return
            if len(specs) == 1:
                self.singles.append(parent)
                self.single_specs.append(specs[0])
                if len(self.singles) == (chunk.room or CHUNK):
                    self._lay_out_singles()
                continue
            self._lay_out_singles()
            chunk.add(parent, specs)

    def _lay_out_singles(self) -> None:
        if self.singles:
            self.chunk.add_singles(self.singles, self.single_specs)
            self.singles = []
            if self.single_specs is not None:
                self.single_specs = []

    def close(self) -> bool:
        """Record what is left; whether every parent's items were made (else nothing more is
        recorded, and the node is not made here)."""
        if self.failed:
            return False
        self._lay_out_singles()
        self.chunk.record()
        self.walk.bulk_made.add(self.node.name)
        return True


class _Chunk:
    """The batch of items being made for one node: ``itembatch.COLUMNS``' lists, filled by
    comprehensions a run of items at a time (all the children of one parent, or the one child of
    each of many parents), and recorded ``CHUNK`` items at a time. Each item gets what the walk
    gives a fresh node's item (``Walk._add_children``): its id, number, name, starting attributes,
    inputs, and for an item born cooked its files and signature."""

    def __init__(self, walk, run, early: dict[str, list[str]], then: _Feed | None = None) -> None:
        self.walk, self.run = walk, run
        #: the processor whose items are made from each chunk of these once it is recorded (``_fed``)
        self.then = then
        node = run.node
        self.name, self.graph_name, self.does_work = node.name, walk.graph.name, node.does_work
        self.node_fp = walk.items.node_fp[node.name]
        #: a cook that runs what it makes (not ``--generate-only``) queues each with its signature
        self.queues = node.does_work and walk.items.enqueue is not None
        #: an item's number is read only to number its children: not kept for a node with none below
        self.numbers: dict | None = walk.numbers if run.downstream else None
        #: parents done once their children are made here (``_done_early``): handed to ``Holding`` a
        #: chunk at a time, after the chunk holding their last child is recorded
        self.finishing = set(early.get(node.name, ())) if walk.recorder.holding is not None else set()
        self.made_from: list[str] = []
        self.out = _columns()
        self.to_run: list[str] | None = [] if self.queues else None
        #: the node's items are recorded (``engine.cook.ahead``): compared, not recorded; a root's
        #: whole, in one chunk, before anything of it is counted
        self.recorded = bool(walk.state.node_items.get((walk.graph.name, node.name)))
        self.whole = self.recorded and not node.inputs

    @property
    def room(self) -> int:
        return _NEVER_FULL if self.whole else CHUNK - len(self.out["ids"])

    def record(self) -> None:
        """Record the items made so far (if any), hand over the parents done with them, then make
        the next node's items from them (``then``)."""
        ids = self.out["ids"]
        if ids and self.recorded:
            if not _compare(self.walk, self.run, self.out, self.to_run):
                return  # left to the walk (``engine.cook.ahead``): nothing of it made here
            self.out = _columns()
            self.to_run = [] if self.queues else None
        elif ids:
            _record(self.walk, self.run, self.out, self.to_run)
            self.out = _columns()
            self.to_run = [] if self.queues else None
        kept_at = self.walk.kept_at
        if self.made_from and self.finishing and all(name in kept_at for name in self.finishing):
            # parents kept as recorded: nothing about them was recorded since their comparison, so
            # the cook may let go of them once the log holds that much, not this chunk's events too
            _hand_over(self.walk, self.made_from, max(kept_at[name] for name in self.finishing))
        else:
            _hand_over(self.walk, self.made_from)
        if ids and self.then is not None:
            items = self.walk.state.items
            self.then.feed(items[i] for i in ids)

    def add(self, parent: Item | None, specs: list, before: int = 0) -> None:
        """The items ``parent`` generated (None: a root node's, after the ``before`` made already),
        a chunk at a time."""
        count = len(specs)
        pn = self.walk.numbers.get(parent.item_id, 1) if parent is not None else 1
        done = 0
        while done < count:
            if not self.room:
                self.record()
            part = specs[done : done + self.room] if done or count > self.room else specs
            k = len(part)
            # as ``Walk._add_children`` numbers them: a root's from 1, a parent's after its own number
            first = before + done + 1 if parent is None else (pn - 1) * count + done + 1
            numbers = range(first, first + k)
            self._lay_out(parent, part, list(numbers))
            done += k
        if parent is not None and parent.node in self.finishing:
            self.made_from.append(parent.item_id)

    def _lay_out(self, parent: Item | None, specs: list, numbers: list[int]) -> None:
        """Add items ``specs`` of one parent (None: a root node's), numbered ``numbers``."""
        n = len(specs)
        if parent is None:
            head = identity_head(self.graph_name, self.name, [])
            attrs = [dict(s.attrs) for s in specs]
            parent_ids: list[str] = []  # one list for all: as the walk's items of one parent, never changed
            parent_files: list = []
        else:
            head = identity_head(self.graph_name, self.name, [parent.item_id])
            parent_attrs = parent.attrs
            attrs = [child_attrs(parent_attrs, s) for s in specs]
            parent_ids, parent_files = [parent.item_id], parent.outputs
        ids = [identity_with(head, s.key) for s in specs]
        inputs = [list(parent_files) for _ in range(n)] if parent_files else [EMPTY_LIST] * n
        indexes, spec_outputs = [s.index for s in specs], [s.outputs for s in specs]
        self._add(ids, numbers, indexes, spec_outputs, [parent_ids] * n, attrs, inputs, [parent_files] * n)

    def add_singles(self, parents: list[Item], specs: list | None) -> None:
        """The one item each of ``parents`` generated (``specs``, in the same order; None: each
        parent's ``one_per_parent``, keyed 0, with its index and the attributes it hands down)."""
        while parents:
            if not self.room:
                self.record()
            k = self.room
            part, parents = parents[:k], parents[k:]
            parent_ids = [p.item_id for p in part]
            get = self.walk.numbers.get
            if specs is None:
                ids = child_identities(self.graph_name, self.name, parent_ids, [0] * len(part))
                attrs = [child_attrs(p.attrs, _ONE) for p in part]
                indexes = [p.index for p in part]
                spec_outputs = None
            else:
                part_specs, specs = specs[:k], specs[k:]
                ids = child_identities(self.graph_name, self.name, parent_ids, [s.key for s in part_specs])
                attrs = [child_attrs(p.attrs, s) for p, s in zip(part, part_specs, strict=True)]
                indexes = [s.index for s in part_specs]
                spec_outputs = [s.outputs for s in part_specs]
            inputs = [list(p.outputs) for p in part]
            self._add(
                ids,
                [get(i, 1) for i in parent_ids],
                indexes,
                spec_outputs,
                [[i] for i in parent_ids],
                attrs,
                inputs,
                [p.outputs for p in part],
            )
            if self.finishing:
                self.made_from += [p.item_id for p in part if p.node in self.finishing]

    def _add(self, ids, numbers, indexes, spec_outputs, parent_lists, attrs, inputs, parent_outputs) -> None:
        """Add items to the chunk's columns, with their names, files and signatures. ``indexes``
        and ``spec_outputs``: their specs' (None: they have none, their parents' outputs are theirs)."""
        fp, item_signature = self.node_fp, signatures.item_signature
        attrs = [a or EMPTY_MAP for a in attrs]  # one empty dict for all that have none (``EMPTY_MAP``)
        if self.does_work:
            # recorded uncooked, as ``decide.work`` records a new item to run: sharing one empty list
            outputs: list[list] = [EMPTY_LIST] * len(ids)
            signature_list = [""] * len(ids)
            if self.to_run is not None:
                self.to_run += [item_signature(fp, a, i) for a, i in zip(attrs, inputs, strict=True)]
        else:
            attrs = [_with_files(self.walk, a) if attrfiles.holds_files(a) else a for a in attrs]
            if spec_outputs is None:
                spec_outputs = [()] * len(ids)
            outputs = [list(so) or list(po) for so, po in zip(spec_outputs, parent_outputs, strict=True)]
            signature_list = [item_signature(fp, a, i, o) for a, i, o in zip(attrs, inputs, outputs, strict=True)]
        if self.numbers is not None:
            self.numbers.update(zip(ids, numbers, strict=True))
        # ``Walk._name_for`` on a fresh node, but for a name taken already
        run, name, take, name_for = self.run, self.name, self.run.names.take_number, self.walk._name_for
        names = [f"{name}_{k}" if take(k) else name_for(run, k) for k in numbers]
        out = self.out
        out["ids"] += ids
        out["names"] += names
        out["indexes"] += indexes
        out["parents"] += parent_lists
        out["attrs"] += attrs
        out["inputs"] += inputs
        out["outputs"] += outputs
        out["signatures"] += signature_list


def _with_files(walk, attrs: dict) -> dict:
    """``attrs`` of an item born cooked with its file attributes' files recorded, as the walk's
    ``Items.born`` records them (no stat handler here: ``plan``)."""
    items = walk.items
    fresh = attrfiles.recorded(attrs, walk.graph.root, walk.graph.types, known=items.known_files)
    return {**attrs, **fresh} if fresh else attrs


def _hand_over(walk, parent_ids: list[str], seq: int | None = None) -> None:
    """The parents of ``parent_ids`` made all their children here, and those are recorded: done
    (``Holding`` lets go of them once the log holds ``seq``, by default every event recorded so
    far); ``parent_ids`` is emptied."""
    if parent_ids:
        holding = walk.recorder.holding
        if seq is None:
            seq = walk.recorder.emitted_seq
        for item_id in parent_ids:
            holding.done(item_id, seq)
        parent_ids.clear()


def _columns() -> dict[str, list]:
    """A batch's empty columns, in ``itembatch.COLUMNS`` order (the event's)."""
    return {column: [] for column in itembatch.COLUMNS}


def _compare(walk, run, out: dict[str, list], to_run: list[str] | None) -> bool:
    """Items of a node recorded ahead (``engine.cook.ahead``), compared with their records: those
    the same are counted (and queued) as the walk would, with no event; the fresh ones recorded;
    the others decided by the walk. False: a root with an item not the same, left to the walk."""
    node = run.node
    found = ahead.Comparison(walk, node, out)
    if not node.does_work:
        if not found.all_same:
            ahead.forget(walk, run, out)
            walk.bulk_left.add(node.name)
            return False
        run.items.update(dict.fromkeys(out["ids"]))
        walk.settle.kept(len(out["ids"]))  # reused as recorded, as the walk's reuse of each counts it
        walk.settle.generating(node.name)
        walk.kept_at[node.name] = walk.recorder.emitted_seq
        return True
    run.items.update(dict.fromkeys(out["ids"]))  # in the order made (``_register`` keeps a place taken)
    if found.fresh:
        fresh = ahead.columns_at(out, found.fresh)
        _record(walk, run, fresh, [to_run[k] for k in found.fresh] if to_run is not None else None)
    same = [out["ids"][k] for k in found.same]
    _counted(walk, run, same, [to_run[k] for k in found.same] if to_run is not None else None)
    for k in found.other:
        walk._register(run, out["ids"][k], walk.numbers.get(out["ids"][k], 1))
        walk.items.work(node, ahead.fields_at(out, k, node.name))
    walk.flush()
    return True


def _counted(walk, run, ids: list[str], to_run: list[str] | None) -> None:
    """Items to run registered and counted as the walk's ``_register`` does, and queued as
    ``Items.carry_out`` queues a decision to run, when ``to_run`` holds their signatures."""
    walk.settle.total += len(ids)
    walk.settle.generating(run.node.name)
    run.unfinished += len(ids)
    for down in run.downstream:
        walk.runs[down].open_upstream += len(ids)
    if to_run is not None:
        queue, node = walk.items.queue, run.node
        for item_id, signature in zip(ids, to_run, strict=True):
            queue(item_id, node, signature)


def _record(walk, run, out: dict[str, list], to_run: list[str] | None) -> None:
    """Record the items of ``out`` (a ``WorkItemsGenerated``'s columns: ``pdgstore.itembatch``)
    and count them as the walk would; queue them to run when ``to_run`` holds their signatures;
    flush, so the log appender writes them while the next ones are made."""
    does_work = run.node.does_work
    ids = out["ids"]
    walk.recorder.record_batch(run.node.name, "uncooked" if does_work else "cooked_success", out)
    run.items.update(dict.fromkeys(ids))
    settle = walk.settle
    n = len(ids)
    if does_work:  # to run: counted as the walk's ``_register`` counts them
        _counted(walk, run, ids, to_run)
    else:  # born cooked: settled and handed on (their children are made here; partitions wait)
        settle.total += n
        settle.counts["updated"] += n
        settle.done += n
        if settle.keeps_remade:
            settle.remade.update(ids)
        settle.generating(run.node.name)
    walk.flush()
