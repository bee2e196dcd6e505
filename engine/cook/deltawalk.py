"""The delta walk's start (``engine.incremental.delta``): what it keeps, and what it makes again.

Apart from ``engine.cook.walk`` because it is the part of the walk that must not go over a node:
every item the change cannot reach is counted as reused, never listed (``Walk.is_kept``), the
affected items of the root nodes are made again, and a file pattern's new matches that sort after
every file it made (``delta.Scan.appended``) are made alone. Such a match renumbers no recorded
item: the full walk would give every other item the name and index it has, so the new ones, their
chains and the partitions that gain them are all that a recook after a file is added decides.

A new item takes the name the full walk would give it (``<node>_<N>``) unless an item the node
keeps has it: ``KeptNames`` asks the store about that one name, where the node's kept names were
read item by item, every item of the node made for one new name.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from pdgstore.engine.errors import HandlerError
from pdgstore.engine.files import records as files
from pdgstore.engine.graph.nodes import FilePattern, NewItem
from pdgstore.engine.graph.workitem import item_identity

from pdgstore.events import PATH

if TYPE_CHECKING:
    from pdgstore.engine.cook.walk import NodeRun, Walk


def start(self: Walk, affected: set[str], children: dict[str, list[str]], appended: dict | None) -> None:
    """``Walk.walk_delta``: register every item the change cannot reach as reused, in bulk, then
    generate the affected items of the root nodes again (a file pattern's from their files, another
    root's by its node) and a file pattern's ``appended`` matches (``delta.Scan.appended``); the
    rest of the walk is the usual one, restricted by ``handed_on`` to the affected items' children
    (and the new items': they were remade, ``Walk.take_back``)."""
    self.affected, self.children = affected, children
    self._decider.before = {}  # the records of the items made again, for partitions merged in place
    # what is remade hands its children on (``take_back``): known even in a store with no item yet
    # (a cold cook's ``Settle`` keeps none), where a file pattern's first matches are all new
    self.settle.keeps_remade = True
    graph, state = self.graph, self.state
    per_node: dict[str, int] = {}
    for item_id in affected:
        node_name = state.items[item_id].node
        per_node[node_name] = per_node.get(node_name, 0) + 1
    for name in self.scope:
        if graph.nodes[name].is_partitioner:
            continue  # _partition goes over every member and registers every partition
        run = self.runs[name]
        # counted, not listed: a recook after one change does O(changed) work (``pdg watch``)
        run.kept = state.item_count(graph.name, name) - per_node.get(name, 0)
        self.settle.kept(run.kept)  # (a dry run counts them: it lists none)
    root = graph.root
    for name in self.scope:
        node = graph.nodes[name]
        if node.inputs:
            continue
        if not isinstance(node, FilePattern):  # a wedge, a frame range: made again, the affected kept
            _regenerate_root(self, name, affected if per_node.get(name) else set())
            continue
        made, new, _gone = (appended or {}).get(name, (None, [], []))
        again = sorted((state.items[i] for i in affected if state.items[i].node == name), key=lambda i: i.index)
        if made is not None:  # the items of matches gone are not made again: their node removes them
            again = [i for i in again if i.index < made]
        specs = []
        for item in again:
            first = item.outputs[0]
            try:
                record = self.file_record(files.absolute(first[PATH], root), node.tag, first)
            except HandlerError as exc:  # as ``FilePattern.generate``: this item fails, not the node
                specs.append(NewItem(key=first[PATH], index=item.index, error=str(exc)))
                continue
            specs.append(NewItem(key=record[PATH], index=item.index, outputs=[record]))
        numbers = [i.index + 1 for i in again]
        if made is not None:
            specs += _new_matches(self, node, made, new)
            numbers += range(made + 1, made + len(new) + 1)
        self._add_children(self.runs[name], specs, None, numbers=numbers)
        self._node_generated(name)


def _new_matches(self: Walk, node: FilePattern, made: int, paths: list[str]) -> list[NewItem]:
    """The items ``FilePattern.generate`` makes of the matches ``paths`` (absolute, sorted) that
    follow the ``made`` ones it made before: the same keys, indexes, records and failures."""
    root = self.graph.root
    self.files.look_up(paths)  # their last records, if items of another pattern hold them
    out = []
    for index, path in enumerate(paths, start=made):
        try:
            record = self.file_record(path, node.tag)
        except HandlerError as exc:  # this file's item fails, not the node
            out.append(NewItem(key=files.relative(path, root), index=index, error=str(exc)))
            continue
        out.append(NewItem(key=record[PATH], index=index, outputs=[record]))
    return out


def _regenerate_root(self: Walk, name: str, affected: set[str]) -> None:
    """A root node other than a file pattern makes its items again from its definition
    (unchanged, or the walk would be the full one); those the change reaches are generated and
    decided, numbered as the full walk numbers them."""
    new = self._call_generate(self.graph.nodes[name], None) if affected else []
    if new is None:
        return
    graph_name = self.graph.name
    chosen, numbers = [], []
    for i, spec in enumerate(new):
        if item_identity(graph_name, name, [], spec.key) in affected:
            chosen.append(spec)
            numbers.append(i + 1)
    self._add_children(self.runs[name], chosen, None, numbers=numbers)
    self._node_generated(name)


def take_back(self: Walk, item_id: str, run: NodeRun) -> bool:
    """``Walk.take_back``: an item the change was not foreseen to reach was remade (a partition
    whose members changed, a new item): take back its children in ``run``, registered as reused,
    so they are generated and decided again. False when it was not remade (its children stand)."""
    if item_id not in self.settle.remade:
        return False
    node = run.node.name
    for child in self.children.get(item_id, ()):
        item = self.state.items.get(child)
        if item is not None and item.node == node and self.is_kept(child, node):
            self.taken_back.add(child)
            run.kept -= 1
            if run.kept_names is not None:
                run.kept_names.discard(item.name)
            self.settle.taken_back()
    return True


def kept_names(self: Walk, run: NodeRun):
    """The names of the items ``run`` keeps, which a new item must not take (an affected item
    keeps its recorded name): asked of the store name by name (``KeptNames``) where the state
    reads the tables, else read from the node's items on the first new item."""
    if run.kept_names is None:
        node = run.node.name
        named = getattr(self.state, "ids_named", None)
        if named is not None:
            run.kept_names = KeptNames(self, run, named)
        else:
            run.kept_names = {
                i.name for i in self.state.items_of(self.graph.name, node) if self.is_kept(i.item_id, node)
            }
    return run.kept_names


class KeptNames:
    """The set of names of the items a node keeps, as ``_name_for`` asks it: whether one name is
    taken (the items the store holds by that name, one lookup of its ``name`` index: one of them
    recorded before this cook, and kept), and how many there are (the node's kept count)."""

    def __init__(self, walk: Walk, run: NodeRun, named) -> None:
        self._walk, self._run, self._named = walk, run, named

    def __contains__(self, name: str) -> bool:
        walk, run = self._walk, self._run
        node = run.node.name
        return any(i not in run.items and walk.is_kept(i, node) for i in self._named(walk.graph.name, node, name))

    def __len__(self) -> int:
        return self._run.kept

    def discard(self, name: str) -> None:
        """(An item taken back: ``Walk.is_kept`` no longer holds for it, which ``in`` asks.)"""
