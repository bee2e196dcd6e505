"""Proving that a cook has nothing to do, without deciding item by item.

The common recook changes nothing. Walking every item through the decision flow of ``engine.cook``
costs tens of microseconds per item; this module proves the same outcome ("every item is reused")
from facts that are cheap to check, and the cook then records exactly what the full walk would
have recorded for an unchanged graph: each node generated and cooked, every item reused.

The proof holds when all of these do, and the cook falls back to the full walk when any does not:

- no node's definition changed (its type, inputs, parameters, the values and code its function
  reads: ``Cook.node_reasons`` is empty) and the graph was cooked before;
- every node in scope is a built-in node whose items follow from its inputs alone (file pattern,
  range generator, python processor, wait for all, partition by attribute), not in cache mode
  always_write, and no cache handler is registered (a handler may say Miss for a file that is there);
- every item of those nodes finished successfully (cooked_success or cooked_cache), none was
  dirtied or accepted by hand since, and none is left from a dead cook;
- every file pattern matches exactly the files its items recorded;
- every file recorded for those items has the (mtime_ns, size) it had (the stat scan the cook made
  anyway): the same "clean without reading" rule as the full walk.

A stat or attribute cannot change without one of these changing, so the full walk would reuse every
item, and renumber none.
"""

from __future__ import annotations

from engine import files
from engine.nodes import FilePattern, PartitionByAttribute, PythonProcessor, RangeGenerator, WaitForAll
from pdgstore.events import DONE_STATES
from pdgstore.state import ACCEPTED

PURE_NODES = (FilePattern, RangeGenerator, PythonProcessor, WaitForAll, PartitionByAttribute)


def nothing_to_do(cook) -> bool:
    """True when ``cook`` (after its stat scan) provably reuses every item in its scope."""
    graph = cook.graph
    if cook.node_reasons or graph.name not in cook.state.graphs or graph.types.cache_handlers:
        return False
    root = graph.root
    stats = cook.stats
    for name in cook.scope:
        node = graph.nodes[name]
        if type(node) not in PURE_NODES or getattr(node, "cache_mode", "automatic") == "always_write":
            return False
        items = cook.state.items_of(graph.name, name)
        if not items:
            return False
        for item in items:
            if item.state not in DONE_STATES or item.signature in ("", ACCEPTED) or item.reason:
                return False
            for o in item.outputs:
                st = stats.get(files.absolute(o[0], root))
                if st is None or st.st_mtime_ns != o[3] or st.st_size != o[2]:
                    return False
        if isinstance(node, FilePattern):
            recorded = sorted(files.absolute(i.outputs[0][0], root) for i in items if i.outputs)
            if recorded != node.matches(root, stats) or len(recorded) != len(items):
                return False
    return True
