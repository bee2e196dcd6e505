"""Proving that a cook has nothing to do, without deciding item by item.

The common recook changes nothing. Walking every item through the decision flow of ``engine.cook.loop``
costs tens of microseconds per item; this module proves the same outcome ("every item is reused")
from facts that are cheap to check, and the cook then records exactly what the full walk would
have recorded for an unchanged graph: each node generated and cooked, every item reused.

The proof holds when all of these do, and the cook falls back to the full walk when any does not:

- the graph's last cook was a whole-graph cook that succeeded, or a cook of one node that left
  the graph as one does (``CookFinished.consistent``), so every item's recorded signature was made
  (or confirmed) under the node definitions that cook recorded: any other cook of one node, a
  failed or a cancelled cook can leave items made under other definitions;
- no node's definition changed (its type, inputs, parameters, the values and code its function
  reads: ``signatures.node_changes`` finds none) and the graph was cooked before;
- every node in scope is a built-in node whose items follow from its inputs alone (file pattern,
  range generator, python processor, wait for all, partition by attribute, and the node library's
  ``engine.graph.library.PURE_NODES``), in cache mode automatic, and no cache handler is registered (a handler may say Miss for a file that is there);
- every item of those nodes finished successfully (a node may hold none only if it makes nothing
  without a warning: ``may_be_empty``) (cooked_success or cooked_cache), none was
  dirtied or accepted by hand since, and none is left from a dead cook;
- every file pattern matches exactly the files its items recorded;
- every file recorded for those items has the (mtime_ns, size) it had (the stat scan the cook made
  anyway): the same "clean without reading" rule as the full walk.

A stat or attribute cannot change without one of these changing, so the full walk would reuse every
item, and renumber none.

The same facts, item by item, let the full walk skip its signature and cache checks for an item of a
pure node whose parents were not remade in this cook and whose own files are unchanged
(``engine.incremental.decide.clean``): that is what keeps a one-file change cheap.
"""

from __future__ import annotations

from pdgstore.engine.files import records as files
from pdgstore.engine.graph import library
from pdgstore.engine.graph.generators import RangeGenerator
from pdgstore.engine.graph.nodes import (
    FilePattern,
    Node,
    PartitionByAttribute,
    PythonProcessor,
    WaitForAll,
)
from pdgstore.engine.incremental.decide import settled, unchanged

from pdgstore.events import PATH

PURE_NODES = (FilePattern, RangeGenerator, PythonProcessor, WaitForAll, PartitionByAttribute, *library.PURE_NODES)


def may_be_empty(node) -> bool:
    """Whether ``node`` may hold no item in a no-op: it makes nothing without a word (a filter
    that passed no item, the empty side of a split), so, its definition and inputs unchanged, it
    would make nothing again. A node that warns when it makes nothing (``Node.made_nothing``: a
    wedge of 0, a partition on a missing attribute) is left to the walk, which records the warning."""
    return type(node).made_nothing is Node.made_nothing


def consistent(state, graph: str, before: int) -> bool:
    """Whether every item of ``graph`` agrees with the node definitions last recorded for it: its
    last cook before cook ``before`` succeeded, and covered the whole graph or left it consistent."""
    for cook in reversed(state.cooks.values()):
        if cook.graph == graph and cook.cook_id < before:
            return cook.status == "success" and (cook.node == "" or cook.consistent)
    return False


def pure_nodes(graph, scope: list[str], node_reasons: dict) -> set[str]:
    """The nodes in ``scope`` whose items follow from their inputs alone and whose definition did not
    change (``node_reasons``): for them, an item made from unchanged inputs is the item recorded."""
    return {
        name
        for name in scope
        if type(graph.nodes[name]) in PURE_NODES
        and name not in node_reasons
        and getattr(graph.nodes[name], "cache_mode", "automatic") == "automatic"
    }


def nothing_to_do(
    graph, state, scope: list[str], stats: dict, node_reasons: dict, cook_id: int, *, scanned: bool = False
) -> bool:
    """True when cook ``cook_id`` of ``scope`` provably reuses every item in it, given the stats of
    every recorded file (``stats``) and why node definitions changed (``node_reasons``).

    ``scanned``: the no-op manifest's scan found every recorded file and pattern as it recorded
    them. The manifest describes the log's end, and only a cook that succeeded and left the whole
    graph consistent writes one, so every item is settled and its files unchanged: no item is read
    to prove it again (a cook that takes the scan and records no no-op, as ``pdg cook --dry-run``'s,
    read every item of its scope)."""
    if node_reasons or graph.types.cache_handlers or not consistent(state, graph.name, cook_id):
        return False
    root = graph.root
    pure = pure_nodes(graph, scope, node_reasons)
    if any(name not in pure for name in scope):
        return False
    if scanned and hasattr(state, "unsettled_ids"):  # (none, but what a cook of one node left dirty)
        if state.unsettled_ids(graph.name, scope):
            return False
        return all(state.item_count(graph.name, name) or may_be_empty(graph.nodes[name]) for name in scope)
    # before any stat or listing, the last nodes first: the items a --generate-only recorded ahead
    # of their parents' cook are all unsettled, and the last nodes hold the fewest items to read
    by_node: list = [None] * len(scope)
    for at in range(len(scope) - 1, -1, -1):
        items = by_node[at] = state.items_of(graph.name, scope[at])
        if not all(settled(item) for item in items):
            return False
    for name, items in zip(scope, by_node, strict=True):
        node = graph.nodes[name]
        if not items and not may_be_empty(node):
            return False
        for item in items:
            if not unchanged(item, stats, root):
                return False
        if isinstance(node, FilePattern):
            recorded = sorted(files.absolute(i.outputs[0][PATH], root) for i in items if i.outputs)
            if recorded != node.matches(root, stats) or len(recorded) != len(items):
                return False
    return True
