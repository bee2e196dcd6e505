"""The static part of a cook's graph: every work item that can be known before anything runs.

``pdg cook --static`` generates everything first and hands the whole graph to the schedulers
(seed 002's ``onScheduleStatic``). In this engine an item is generated from its parent once the
parent has cooked, because it inherits the parent's output files; but most nodes' ``generate``
only reads the parent's identity, index and attributes, so its children can be known before the
parent cooks. Those nodes say so with ``static_generation = True`` (range generate, python
processor, command, python script); a wait-for-all partition is static too (its members are known).
Their items are *planned*: the ids computed here are the ids the engine gives them when it
generates them for real (``engine.cook.loop.item_identity``), so a scheduler can match them.

What cannot be known before the parents cook (a processor without ``static_generation``, a
partition by attribute, and everything downstream of them) is *dynamic*, as in PDG: it is
generated as its parents cook and offered through ``on_schedule``; the plan names those nodes.

Only work to do is planned: items already cooked (reused) are done, and a dependency on them is
satisfied, so they are not in the maps.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from pdgstore.events import DONE_STATES, FINISHED_STATES


@dataclass(slots=True)
class Planned:
    """An item known before it is generated: what a static ``generate`` may read of a parent."""

    item_id: str
    index: int
    node: str
    attrs: dict
    parents: list = field(default_factory=list)
    inputs: list = field(default_factory=list)
    outputs: list = field(default_factory=list)
    name: str = ""
    state: str = "planned"


@dataclass
class StaticPlan:
    """item id -> set of item ids it waits for, and the inverse; ``dynamic_nodes``: nodes left out;
    ``warnings``: nodes whose ``generate`` or ``partition`` raised on planned items (left out too)."""

    dependencies: dict
    dependents: dict
    dynamic_nodes: list
    warnings: list = field(default_factory=list)
    #: item id -> the planned item (not generated yet), for schedulers that read it (``Planned``)
    items: dict = field(default_factory=dict)

    @property
    def edges(self) -> int:
        return sum(len(d) for d in self.dependencies.values())


def plan(cook) -> StaticPlan:
    """The static plan of ``cook`` after its first generation pass (nothing has run yet)."""
    from pdgstore.engine.cook.loop import item_identity  # the same identities the engine will give them

    graph, state = cook.graph, cook.state
    pending: dict[str, list] = {}  # node -> its items still to cook, in order (generated or planned)
    deps: dict[str, set] = {}
    dynamic: list[str] = []
    warnings: list[str] = []
    for name in cook.scope:
        node = graph.nodes[name]
        run = cook.runs[name]
        todo = [state.items[i] for i in run.items if _todo(cook, node, i)]
        for item in todo:
            deps[item.item_id] = {p for p in item.parents if _pending(state, p)}
        if not node.inputs or run.generated:
            pending[name] = todo
        elif any(up in dynamic for up in node.inputs) or (
            node.needs_cooked_inputs if node.is_partitioner else not getattr(node, "static_generation", False)
        ):
            dynamic.append(name)
        else:
            planned: dict[str, set] = {}
            try:
                if node.is_partitioner:
                    pending[name] = _plan_partitions(cook, node, pending, planned, item_identity)
                else:
                    pending[name] = todo + _plan_children(cook, node, pending, planned, item_identity)
            except Exception as exc:  # noqa: BLE001 - user code: its items are generated as they come
                dynamic.append(name)
                warnings.append(
                    f"static cook: node {name} could not plan its items "
                    f"({type(exc).__name__}: {exc}); they are generated as their inputs cook"
                )
                continue
            deps.update(planned)
    dependents: dict[str, set] = {item_id: set() for item_id in deps}
    for item_id, waits in deps.items():
        for other in waits:
            dependents[other].add(item_id)
    planned_items = {p.item_id: p for todo in pending.values() for p in todo if isinstance(p, Planned)}
    return StaticPlan(deps, dependents, dynamic, warnings, planned_items)


def _todo(cook, node, item_id: str) -> bool:
    """Generated and still to cook in this cook (a partition kept from the last cook may still wait
    for members that run again)."""
    if node.is_partitioner:
        return cook.partition_waits.get(item_id, 0) > 0
    item = cook.state.items.get(item_id)
    return item is not None and item.state not in FINISHED_STATES


def _pending(state, item_id: str) -> bool:
    item = state.items.get(item_id)
    return item is None or item.state not in DONE_STATES


def _plan_children(cook, node, pending: dict, planned: dict, item_identity) -> list:
    """The children a static processor will generate from its parents still to cook (those of the
    parents cooked already exist)."""
    out = []
    for up in node.inputs:
        for parent in pending.get(up, ()):
            for spec in node.generate(cook.ctx, parent):
                attrs = dict(parent.attrs)
                attrs.update(spec.attrs)
                item_id = item_identity(cook.graph.name, node.name, [parent.item_id], spec.key)
                out.append(Planned(item_id, spec.index, node.name, attrs, parents=[parent.item_id]))
                planned[item_id] = {parent.item_id}
    return out


def _plan_partitions(cook, node, pending: dict, planned: dict, item_identity) -> list:
    """A partitioner that needs no results partitions the planned members as it will the real ones."""
    members = []
    for up in node.inputs:
        known = cook.runs[up].items
        found = [cook.state.items[i] for i in known if i in cook.state.items]
        found += [p for p in pending.get(up, ()) if p.item_id not in known]
        members += sorted(found, key=lambda m: (m.index, m.item_id))
    out = []
    for number, part in enumerate(node.partition(cook.ctx, members), start=1):
        item_id = item_identity(cook.graph.name, node.name, [], part.key)
        member_ids = [m.item_id for m in part.members]
        planned[item_id] = {m for m in member_ids if _pending(cook.state, m)}
        out.append(Planned(item_id, number - 1, node.name, dict(part.attrs), parents=member_ids))
    return out
