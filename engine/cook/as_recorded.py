"""Delta walk: a wait-for-all placed with its recorded members (``engine.cook.walk``)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from pdgstore.engine.cook import as_generated
from pdgstore.engine.graph.nodes import WaitForAll
from pdgstore.engine.graph.workitem import item_identity, work_item_order
from pdgstore.engine.incremental import decide
from pdgstore.engine.incremental.signatures import signed_before

from pdgstore.events import DONE_STATES

if TYPE_CHECKING:
    from pdgstore.engine.cook.walk import Walk


def place(self: Walk, name: str) -> bool:
    """Delta walk: place a wait-for-all's one partition with its recorded members, without
    reading the members the change did not reach. False (partition as usual) unless it
    provably holds the same members in the same order: its upstream nodes are no partitioners,
    none of their items was given another index in this cook (``renumbered``), their ids are the
    recorded partition's members, and it was signed under the scheme that orders them as now (not
    ``signatures.signed_before``). Or those members but the last ones, which its last upstream
    node removed (``dropped``), and after them, the items new to that node (``added``): a file
    pattern's last matches gone or new ones that sort last, and their chains, the new ones after
    the last member kept in work item order (``engine.cook.inplace`` merges them, ``_grown_by``).
    Members are in work item
    order (``work_item_order``: their names' numbers, then index and id), kept ones are untouched
    and regenerated ones keep their name and index, so the recorded order is the order the full
    walk would give. The kept members finished (they are clean): only the regenerated ones are
    waited for."""
    partitioner = self.runs[name].node
    ups = partitioner.inputs
    if (
        type(partitioner) is not WaitForAll
        or any(up in self.renumbered or self.runs[up].node.is_partitioner for up in ups)
        or any(up in self.reshaped for up in ups[:-1])  # (their new items would not go last)
        or name in self.reshaped
        or as_generated.feeds_static(self, name)  # (a static partitioner reads it as generated)
    ):
        return False
    graph_name = self.graph.name
    item_id = item_identity(graph_name, name, [], "all")
    prev = decide.record_of(self.state.items.get(item_id))
    if prev is None or prev.node != name or (prev.state not in DONE_STATES and decide.stale_members(prev) is None):
        return False
    if signed_before(prev.signature):
        return False
    member_ids = list(prev.parents)
    dropped = self.dropped.get(ups[-1], [])
    if dropped:  # the last members gone (a file pattern's last matches, and their chains)
        if len(dropped) > len(member_ids) or set(member_ids[-len(dropped) :]) != set(dropped):
            return False
        del member_ids[-len(dropped) :]
    added = _after(self, member_ids, self.added.get(ups[-1], []))
    if added is None:
        return False
    now: list[str] = []
    for up in ups:
        now += self.state.node_items.get((graph_name, up), ())
    if len(now) != len(member_ids) + len(added) or set(now) != set(member_ids).union(added):
        return False
    member_ids += added
    run = self.runs[name]
    item_name = self._name_for(run, 1)
    self._register(run, item_id, 1)
    self.partition_prev[item_id] = (prev, {})
    self.in_place.add(item_id)
    fields = {"item_id": item_id, "node": name, "name": item_name, "index": 0, "parents": member_ids, "attrs": {}}
    self._decider.place(fields, prev)
    waiting = 0
    items = self.state.items
    for up in ups:
        for member_id in self.runs[up].items:
            if items[member_id].state not in DONE_STATES:
                waiting += 1
                self.waits_for(member_id, item_id)
    self.partition_waits[item_id] = waiting
    if waiting == 0:
        self._merge(item_id)
    return True


def _after(self: Walk, members: list[str], added: list[str]) -> list[str] | None:
    """``added`` (the new items of the partition's last upstream node) in work item order, when
    that puts them after every one of ``members`` (the recorded partition's, in that order: its
    last one's place is compared, read alone); None when one would go among them."""
    if not added:
        return []
    items = self.state.items
    new = sorted((items[i] for i in added), key=work_item_order)
    last = items.get(members[-1]) if members else None
    if members and last is None:
        return None
    if last is not None and last.node == new[0].node and work_item_order(last) >= work_item_order(new[0]):
        return None
    return [i.item_id for i in new]
