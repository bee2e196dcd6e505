"""Whose output a file is: so that a cache check never hands one work item's file to another.

Why: in cache mode automatic a new item whose expected files exist is cooked from cache (PDG's
rule: the files are there). An expected path made of a position (``out/@pdg_name.txt`` below a file
pattern) names another item's file once a file is added before it: the new ``copy_2`` found
``out/copy_2.txt``, which the item now named ``copy_3`` wrote, and was "cooked from cache" with
that item's text; a reused item whose name moved took the file of its new name into its outputs,
beside its own. The store knows which item recorded a file (the ``files`` table,
``pdgstore.fileindex``), so a file another item records is not a hit: the item runs, and its reason
names the other (``reasons.output_taken``). Stricter than PDG, which cannot know the owner.

Whose a file is: another item of a working node of the graph (``does_work``, not a partitioner: a
partition lists its members' files, a file pattern's item the file it found) that recorded it before
this cook or in it. Before: the table, and the records this cook already took the file away from
(``gave_up``: the old owner may be decided first, and the log appender may have written its new
record since). In it: the table as written so far, and what is recorded but not written yet
(``engine.cook.sameoutputs``). An item removed in this cook counts: the file is still what it
wrote. A path among the asking item's inputs is handed on, not another's output. An item removed
in an earlier cook leaves its file to nobody, and PDG's rule takes it.

Cost: only the files a cache hit would take that the item did not record are looked up, one query
by the path index; a cook that runs everything asks nothing. ``gave_up`` holds a path of each item
a cook remade or removed, only in a graph with a node that expects outputs (only such a node takes
files it did not record).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

from pdgstore.engine.graph.api import Graph

from pdgstore.events import PATH
from pdgstore.state import State


class Owners:
    def __init__(self, graph: Graph, state: State, names: dict[str, str]) -> None:
        self.graph_name, self.state = graph.name, state
        self._names = names  # item id -> name of the items removed in this cook (gone from the state)
        nodes = graph.nodes.values()
        self.writers = sorted(n.name for n in nodes if getattr(n, "does_work", False) and not n.is_partitioner)
        self._writer_set = frozenset(self.writers)
        self.watched = any(getattr(n, "expected_outputs", None) for n in nodes)
        self._given_up: dict[str, str] = {}  # path -> an item whose record this cook took it from

    def gave_up(self, item) -> None:
        """``item``'s record from before this cook, which the cook replaces (it runs, is taken from
        the cache, fails or is removed): its files stay its own for this cook."""
        if self.watched and item.outputs and item.node in self._writer_set:
            given = self._given_up
            for record in item.outputs:
                given.setdefault(record[PATH], item.item_id)

    def taken(self, new: dict, files: list, unwritten: Callable[[str], Iterable[str]]) -> tuple:
        """``(path, id, name)`` of the first of ``files`` that an item other than ``new`` (an item's
        ``WorkItemGenerated`` fields) records, else ``()``; ``unwritten``: the items that recorded a
        path in this cook whose events are not written yet."""
        me = new["item_id"]
        inputs = {record[PATH] for record in new["inputs"]}
        paths = [f[PATH] for f in files if f[PATH] not in inputs]
        for path in paths:
            for other in (self._given_up.get(path), *unwritten(path)):
                if other is not None and other != me:
                    return path, other, self._name(other)
        ask = getattr(self.state, "others_holding", None)  # a store's state (a plain one has no table)
        if ask is None or not paths:
            return ()
        for path, _me, other in ask(self.graph_name, self.writers, [(path, me) for path in paths]):
            return path, other, self._name(other)
        return ()

    def _name(self, item_id: str) -> str:
        item = self.state.items.get(item_id)
        return item.name if item is not None else self._names.get(item_id, item_id)
