"""The members a partitioner groups, and for a static one (dynamic partitioning off) the members
as they were generated: the attributes they had then, not those their cook set.

Why: docs/generate_when.md (PDG's "Use Dynamic Partitioning" off): the groups are made from the
items' generation-time attributes, as soon as the items exist. A cold cook partitions before its
members cook, so it sees exactly those; a recook meets members reused from an earlier cook, whose
record also holds what their cook set (``WorkItemCooked`` merges it over them), and members that
cooked already in this cook (below a node that generates as its parents cook). Grouping those by
their records gave one graph different partitions, or a failure, depending on what the store held.

The store does not keep an item's generation-time attributes apart from those its cook set (and the
``WorkItemGenerated`` that held them may be compacted away), so they are read where they come from:

- an item of a node without work never cooks: its record is as generated;
- an item with work that has not started in this cook (``uncooked``, ``dirty``: the walk generated
  it, or generated it again, and nothing ran) holds them as recorded;
- any other item with work was made by its node's ``generate`` from its parent, as the parent's
  record is now (the walk generates a child from its cooked parent, and a parent remade with other
  attributes remakes its children): ``child_attrs(parent.attrs, spec)``. For the nodes that make one
  item per parent with no attributes of their own (``Processor.one_each``: a python processor, a
  command, a script) that is the parent's inherited attributes; another (a user's processor) is
  asked for its items from that parent again, once per parent, its item found by its identity.
  Such an item had no output files when generated;
- a partition (every partitioner partitions again in every cook, the delta walk's too) is merged
  once its members cooked, so its record holds what they set: as generated, it is what its
  partitioner merges from the members as it read them, its own attributes on top. The walk keeps
  that (``Walk.as_made``) for the partitions a static partitioner reads (``feeds_static``), and does
  not place such a wait-for-all as recorded (``as_recorded``), which would not read its members.

Cost: only for a static partitioner that reads attributes (not a wait-for-all, nor a partition by
index: ``Partitioner.reads_attributes``); a cold cook's members have not started, so nothing more is
read. The parents of the others are read a node at a time (``read_node``), as the members are: one
more pass, over the members' parents, when members were reused or cooked already.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from pdgstore.engine.graph.nodes import NewItem, child_attrs
from pdgstore.engine.graph.workitem import item_identity, work_item_order

if TYPE_CHECKING:
    from pdgstore.engine.cook.walk import Walk

#: the states of an item with work whose record holds what it was generated with (nothing ran)
NOT_STARTED = frozenset({"uncooked", "dirty"})
#: a child with no attributes of its own (``child_attrs`` of its parent's: the NoCopy ones left out)
PLAIN = NewItem(key=None, index=0)


class Generated:
    """A member as it was generated: its own ``attrs`` and ``outputs``, the rest its record's."""

    __slots__ = ("item", "attrs", "outputs")

    def __init__(self, item, attrs: dict) -> None:
        self.item, self.attrs = item, attrs
        self.outputs: list = []

    def __getattr__(self, name: str) -> Any:
        return getattr(self.item, name)


def members(walk: Walk, name: str) -> list:
    """The records of the items partitioner ``name`` partitions, in work item order, never in the
    order they finished cooking (``generated`` gives them as a static partitioner reads them)."""
    partitioner = walk.runs[name].node
    state, graph_name = walk.state, walk.graph.name
    found: list = []
    for up in partitioner.inputs:
        listed = walk.runs[up].items
        if walk.affected is None:
            read_node = getattr(state.items, "read_node", None)
            if read_node is not None:  # members let go of as they cooked: read back in one pass, not one by one
                read_node(graph_name, up, listed)
            mine = [state.items[i] for i in listed if i in state.items]
        else:  # the kept items too, which the delta walk counts without listing
            mine = [i for i in state.items_of(graph_name, up) if i.item_id in listed or walk.is_kept(i.item_id, up)]
        found += sorted(mine, key=work_item_order)
    return found


def generated(walk, items: list, partitioner) -> list:
    """``items`` (records of ``partitioner``'s upstream items) as it reads them: as they are when it
    partitions dynamically; else each as it was generated, the record itself where that is what it
    holds, a ``Generated`` made from its parent where not."""
    if partitioner.needs_cooked_inputs or not partitioner.reads_attributes:
        return items
    graph = walk.graph
    nodes = graph.nodes
    later = [i for i in items if getattr(nodes[i.node], "does_work", False) and i.state not in NOT_STARTED]
    if any(nodes[i.node].is_partitioner for i in items):  # as its partitioner made it in this cook
        parts = walk.as_made
        items = [Generated(i, parts[i.item_id]) if i.item_id in parts else i for i in items]
    if not later:
        return items
    records = walk.state.items
    read_node = getattr(records, "read_node", None)
    if read_node is not None:
        parent_ids = [i.parents[0] for i in later if i.parents]
        for up in {up for i in later for up in graph.nodes[i.node].inputs}:
            read_node(graph.name, up, parent_ids)
    one_each = {name: graph.nodes[name].one_each() for name in {i.node for i in later}}
    made: dict[str, dict] = {}  # item id -> the attributes a user processor's items were made with
    asked: set[tuple] = set()  # (node, parent id) it was asked about ('' for a root's)
    views = {}
    for item in later:
        parent = records.get(item.parents[0]) if item.parents else None
        plain = _inherited(parent.attrs) if parent is not None else {}
        if one_each[item.node]:
            views[item.item_id] = Generated(item, plain)
            continue
        if (asking := (item.node, parent.item_id if parent is not None else "")) not in asked:
            asked.add(asking)
            made.update(_made_from(walk, graph.nodes[item.node], parent))
        views[item.item_id] = Generated(item, made.get(item.item_id, plain))  # (an appended sub-item: plain)
    return [views.get(i.item_id, i) for i in items]


def _inherited(attrs: dict) -> dict:
    """What a child made with no attributes of its own starts with (``child_attrs``): the parent's
    but the NoCopy ones; the parent's own dict when it has none, read only here (no copy per member)."""
    if any(len(attr) > 2 and "NoCopy" in attr[2] for attr in attrs.values()):
        return child_attrs(attrs, PLAIN)
    return attrs


def _made_from(walk, node, parent) -> dict[str, dict]:
    """Item id -> the attributes ``node`` makes its items from ``parent`` with (None: as a root)."""
    parents = [parent.item_id] if parent is not None else []
    out = {}
    for spec in node.generate(walk.ctx, parent):
        attrs = child_attrs(parent.attrs, spec) if parent is not None else dict(spec.attrs)
        out[item_identity(walk.graph.name, node.name, parents, spec.key)] = attrs
    return out


def feeds_static(walk: Walk, name: str) -> bool:
    """Whether a static partitioner reads ``name``'s items (a partitioner's: the walk keeps each
    partition's attributes as generated, ``Walk.as_made``, and never places it as recorded)."""
    for down in walk.runs[name].downstream:
        node = walk.runs[down].node
        if node.is_partitioner and node.reads_attributes and not node.needs_cooked_inputs:
            return True
    return False


def hint(walk: Walk, name: str) -> str:
    """What to add when static partitioner ``name`` failed or made nothing and its upstream does
    work (or merges what did: a partitioner): it read the attributes its members were generated
    with, not what their cook sets."""
    node = walk.runs[name].node
    if not node.is_partitioner or node.needs_cooked_inputs:
        return ""
    ups = [walk.graph.nodes[up] for up in node.inputs]
    if not any(getattr(up, "does_work", False) or up.is_partitioner for up in ups):
        return ""
    return (
        "; it partitions its members by the attributes they were generated with, before they cook "
        "(use_dynamic_partitioning=True partitions them once they cooked, by what their cook set)"
    )
