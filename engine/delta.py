"""The delta walk: a recook that visits only the items a change can reach.

After one input file changes, the full walk of ``engine.cook`` still generates and decides every
item of the graph (tens of microseconds each) to reuse all but a handful. When the facts behind the
per-item shortcut hold for the whole scope (``engine.noop``: the last cook of the graph was a whole,
successful one; every node in scope is a pure built-in node whose definition did not change, in
cache mode automatic; no cache handler), the outcome for an item follows from its neighbours:

- an item is *clean* when it finished, was not dirtied or accepted by hand, and its files have the
  (mtime_ns, size) they were recorded with (``noop.unchanged``);
- a clean item whose parents are neither remade nor re-decided is reused as it is, and generating
  its children again would give the items recorded (pure nodes);

so only the *affected* items need the full decision flow: the items that are not clean, everything
downstream of them (children and partitions that hold them), and, for a processor item, its parent
(generation works parent by parent: the parent is handed downstream again, which regenerates all its
children of that node). The rest are registered as reused in bulk, recording nothing, exactly as the
full walk would have recorded nothing for them.

One change cannot be foreseen from the recorded graph: an affected item whose partition attribute
changed moves to another partition, which is then remade though it was not affected. Its children
were registered as reused; ``Cook._item_cooked`` takes them back and generates them again (and so
on downstream, for each item remade that way).

``affected(cook)`` gives that set, or None when the delta walk does not apply (then the full walk
runs): a node out of the shortcut, a file pattern whose matches changed (files added or removed
renumber items), an affected item of a root node that is not a file pattern, or a change that
reaches most of the graph anyway.
"""

from __future__ import annotations

from engine import files, noop
from engine.nodes import FilePattern

#: above this share of the items in scope, the full walk is as cheap and simpler
MAX_SHARE = 0.5


def affected(cook) -> tuple[set[str], dict[str, list[str]]] | None:
    """The items of ``cook``'s scope that need deciding, and the recorded children of every item
    (item id -> the ids of the items that list it as a parent); None when the delta walk does not
    apply."""
    graph = cook.graph
    if not cook.shortcut or any(name not in cook.shortcut for name in cook.scope):
        return None
    state, root, stats = cook.state, graph.root, cook.stats
    children: dict[str, list[str]] = {}
    dirty: list[str] = []
    total = 0
    for name in cook.scope:
        node = graph.nodes[name]
        items = state.items_of(graph.name, name)
        total += len(items)
        for item in items:
            for parent in item.parents:
                children.setdefault(parent, []).append(item.item_id)
            if not noop.unchanged(item, stats, root):
                dirty.append(item.item_id)
        if isinstance(node, FilePattern):
            recorded = sorted(files.absolute(i.outputs[0][0], root) for i in items if i.outputs)
            if recorded != node.matches(root, stats) or len(recorded) != len(items):
                return None
    items = state.items
    found: set[str] = set()
    stack = dirty
    while stack:
        item_id = stack.pop()
        if item_id in found:
            continue
        item = items.get(item_id)
        if item is None:
            return None
        found.add(item_id)
        stack.extend(children.get(item_id, ()))
        node = graph.nodes[item.node]
        if not node.is_partitioner:
            if not node.inputs:
                if not isinstance(node, FilePattern):
                    return None  # a root generator regenerates as a whole: the full walk does that
            else:
                stack.extend(item.parents)  # its parent hands it (and its siblings) on again
        if len(found) > MAX_SHARE * total:
            return None
    return found, children
