"""Items recorded ahead, met again by a cook that makes its nodes in bulk (``engine.cook.bulk``).

Seed 004: "Generate Static Work Items" creates a network's static items before anything runs, and
a cook then runs them. ``pdg cook --generate-only`` records them (the roots' items born cooked, the
processors' items announced: uncooked, never run); the cook that follows generates the same items
again and finds each recorded. Item by item, the walk decides a root's item reused (its files
unchanged: no event) and a processor's item to run without a second ``WorkItemGenerated`` (it is
``announced_as`` recorded). Here the cook makes such nodes in bulk as it makes fresh ones, and
compares each item made with its record instead of recording it: what matches gets the walk's
decision with no event, and the rest the walk's own decision, one by one.

Which nodes (``eligible``): a root without work whose recorded items are all settled and whose
definition did not change (``noop``'s shortcut: its clean items are reused without a signature);
a processor with work whose recorded items were all only announced, or whose definition changed
(``changed``: its code or a parameter, in cache mode automatic). Each item of such a processor
runs again for that reason, so none compares the same and the walk's ``Items.work`` decides each:
the recook after a change to a processor lays its items out in bulk, from its unchanged root's,
instead of generating them one hand-off at a time (``tests/test_bulk_ahead.py``: event for event
the walk's).

A root is compared whole before anything of it is counted (``Comparison``): if one item differs
from its record the node is left to the walk, which decides each (the items below it were not
made yet). A processor's items are compared a chunk at a time: one that differs is decided by
the walk then and there (``Items.work``; nothing below a processor with work is made in bulk, so
its hand-on is the walk's).

The events are the walk's, item for item (``tests/test_bulk_ahead.py`` compares the two cooks event for event).
"""

from __future__ import annotations

from pdgstore.engine.cook.takennames import TakenNames
from pdgstore.engine.incremental import decide


def eligible(walk, name: str) -> bool:
    """Whether bulk may make node ``name``, whose items are recorded (see the module)."""
    node, state = walk.graph.nodes[name], walk.state
    if node.does_work and changed(walk, node):
        return True
    recorded = state.items_of(walk.graph.name, name)
    if node.does_work:
        return all(item.state == "uncooked" and decide.record_of(item) is None for item in recorded)
    return (
        not node.inputs
        and name in walk.items.shortcut
        and name not in walk.items.node_reasons
        and all(decide.settled(item) for item in recorded)
    )


def changed(walk, node) -> bool:
    """A processor with work whose definition changed (its code, a parameter), in cache mode
    automatic: each of its items runs again for that reason, whatever its record, so none is the
    same as recorded and each is decided by the walk's ``Items.work``."""
    reason = walk.items.node_reasons.get(node.name)
    return decide.redefines(reason) and getattr(node, "cache_mode", "automatic") == "automatic"


class Comparison:
    """The items of one chunk (``itembatch.COLUMNS``' lists) against their records: the positions
    of those ``same`` as recorded, ``fresh`` (no record) and ``other`` (recorded otherwise)."""

    def __init__(self, walk, node, out: dict[str, list]) -> None:
        self.same: list[int] = []
        self.fresh: list[int] = []
        self.other: list[int] = []
        items, name = walk.state.items, node.name
        stats, root, remade = walk.items.stats, walk.graph.root, walk.settle.remade
        rerun = node.does_work and changed(walk, node)
        read_ids = getattr(items, "read_ids", None)  # a cook's state reads its items from the tables
        if node.does_work and read_ids is not None:
            # this chunk's records by their ids: read one by one, a few hundred misses make the
            # state read the whole node at once (``lazyitems.MAX_MISSES``), every record held
            read_ids(out["ids"])
        for k, item_id in enumerate(out["ids"]):
            recorded = items.get(item_id)
            if recorded is None:
                self.fresh.append(k)
                continue
            new = fields_at(out, k, name)
            if rerun:
                same = False
            elif node.does_work:
                same = decide.announced_as(recorded, new)
            else:  # ``Items.born``'s reuse, with no event (the same name and index)
                prev = decide.record_of(recorded)
                same = (
                    prev is not None
                    and prev.name == new["name"]
                    and prev.index == new["index"]
                    and decide.born_as_recorded(prev, new, stats, root, remade)
                )
            (self.same if same else self.other).append(k)

    @property
    def all_same(self) -> bool:
        return not self.fresh and not self.other


def columns_at(out: dict[str, list], positions: list[int]) -> dict[str, list]:
    """The chunk's columns of the items at ``positions`` only."""
    return {column: [values[k] for k in positions] for column, values in out.items()}


def fields_at(out: dict[str, list], k: int, node: str) -> dict:
    """The ``WorkItemGenerated`` fields the walk hands its decision for the item at ``k``."""
    return {
        "item_id": out["ids"][k],
        "node": node,
        "name": out["names"][k],
        "index": out["indexes"][k],
        "parents": out["parents"][k],
        "attrs": out["attrs"][k],
        "inputs": out["inputs"][k],
        "outputs": out["outputs"][k],
    }


def forget(walk, run, out: dict[str, list]) -> None:
    """A root left to the walk after its comparison: the names and numbers its items took here are
    free again, for the walk to give them the same way."""
    run.names = TakenNames(run.node.name)
    for item_id in out["ids"]:
        walk.numbers.pop(item_id, None)
