"""The static part of a cook's graph: every work item that can be known before anything runs.

``pdg cook --static`` generates everything first and hands the whole graph to the schedulers
(seed 002's ``onScheduleStatic``). In this engine an item is generated from its parent once the
parent has cooked, because it inherits the parent's output files; but most nodes' ``generate``
only reads the parent's identity, index and attributes, so its children can be known before the
parent cooks. Those nodes say so with ``static_generation = True`` (range generate, python
processor, command, python script); a wait-for-all partition is static too (its members are known).
Their items are *planned*: the ids computed here are the ids the engine gives them when it
generates them for real (``engine.graph.workitem.item_identity``), so a scheduler can match them.

What cannot be known before the parents cook (a processor without ``static_generation``, a
partition by attribute, and everything downstream of them) is *dynamic*, as in PDG: it is
generated as its parents cook and offered through ``on_schedule``; the plan names those nodes.

Only work to do is planned: items already cooked (reused) are done, and a dependency on them is
satisfied, so they are not in the maps.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from pdgstore.engine.cook import as_generated
from pdgstore.engine.errors import error_line
from pdgstore.engine.graph.nodes import child_attrs
from pdgstore.engine.graph.workitem import item_identity, work_item_order

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
    number: int = 0  # the N of its name node_N, as the engine will number it


@dataclass
class StaticPlan:
    """item id -> set of item ids it waits for, and the inverse; ``dynamic_nodes``: nodes left out;
    ``warnings``: nodes whose ``generate`` or ``partition`` raised on planned items (left out too)."""

    dependencies: dict
    dependents: dict
    dynamic_nodes: list
    warnings: list = field(default_factory=list)
    #: the planned items (not generated yet), in node order
    items: list = field(default_factory=list)

    @property
    def edges(self) -> int:
        return sum(len(d) for d in self.dependencies.values())


def plan(cook) -> StaticPlan:
    """The static plan of a cook after its first generation pass (nothing has run yet): ``cook`` is
    its walk (``engine.cook.walk.Walk``: graph, state, scope, node runs, partitions waiting)."""
    graph, state = cook.graph, cook.state
    pending: dict[str, list] = {}  # node -> its items still to cook, in order (generated or planned)
    deps: dict[str, set] = {}
    dynamic: list[str] = []
    warnings: list[str] = []
    planned_items: list[Planned] = []
    modes = getattr(cook, "modes", None) or {}
    for name in cook.scope:
        node = graph.nodes[name]
        run = cook.runs[name]
        todo = [state.items[i] for i in run.items if _todo(cook, node, i)]
        for item in todo:
            deps[item.item_id] = {p for p in item.parents if _pending(state, p)}
        if not node.inputs or run.generated:
            pending[name] = todo
        elif any(up in dynamic for up in node.inputs) or (
            node.needs_cooked_inputs
            if node.is_partitioner
            else modes.get(name, "all_upstream_generated" if getattr(node, "static_generation", False) else "")
            != "all_upstream_generated"
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
                    f"({error_line(exc)}); they are generated as their inputs cook"
                )
                continue
            deps.update(planned)
            planned_items += [p for p in pending[name] if isinstance(p, Planned)]
    dependents: dict[str, set] = {item_id: set() for item_id in deps}
    for item_id, waits in deps.items():
        for other in waits:
            dependents[other].add(item_id)
    return StaticPlan(deps, dependents, dynamic, warnings, planned_items)


def planned_items(cook) -> tuple[list, list]:
    """The items that can be known now but are not generated yet (Generate When resolved to "all
    upstream items are generated", static partitions over them), and warnings: the light walk a cook
    makes to record its static items before anything runs. Unlike ``plan`` it computes no
    dependency maps, and looks at a generated node's items only when a node below it is planned."""
    graph, state = cook.graph, cook.state
    modes = getattr(cook, "modes", None) or {}
    known: dict[str, list] = {}  # node -> its items still to cook (generated or planned)
    dynamic: set[str] = set()
    out: list = []
    warnings: list = []

    def pending_of(name: str) -> list:
        if name not in known:
            node = graph.nodes[name]
            known[name] = [state.items[i] for i in cook.runs[name].items if _todo(cook, node, i)]
        return known[name]

    for name in cook.scope:
        node = graph.nodes[name]
        run = cook.runs[name]
        if not node.inputs or run.generated:
            continue
        static = not node.needs_cooked_inputs if node.is_partitioner else modes.get(name) == "all_upstream_generated"
        inputs_known = not any(up in dynamic or not (cook.runs[up].generated or up in known) for up in node.inputs)
        if node.type_name == "wait_for_all" and not inputs_known:
            # one item whatever its inputs make (seed 004: it turns a dynamic count into a static
            # one); its members are known once they are generated
            item_id = item_identity(graph.name, name, [], "all")
            new = [Planned(item_id, 0, name, {}, name=f"{name}_1", number=1)]
            known[name] = new
            out += new
            continue
        if not static or not inputs_known:
            dynamic.add(name)
            continue
        pending = {up: pending_of(up) for up in node.inputs}
        try:
            if node.is_partitioner:
                new = _plan_partitions(cook, node, pending, {}, item_identity)
            else:
                new = _plan_children(cook, node, pending, {}, item_identity)
        except Exception as exc:  # noqa: BLE001 - user code: its items are generated as they come
            dynamic.add(name)
            warnings.append(
                f"node {name} could not generate its static items ({error_line(exc)}); "
                "they are generated as their inputs cook"
            )
            continue
        known[name] = pending_of(name) + new if not node.is_partitioner else new
        out += new
    return out, warnings


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
            specs = node.generate(cook.ctx, parent)
            count = len(specs)
            pn = parent.number if isinstance(parent, Planned) else cook.numbers.get(parent.item_id, parent.index + 1)
            for i, spec in enumerate(specs):
                attrs = child_attrs(parent.attrs, spec)
                item_id = item_identity(cook.graph.name, node.name, [parent.item_id], spec.key)
                number = pn if count == 1 else (pn - 1) * count + i + 1
                out.append(
                    Planned(
                        item_id,
                        spec.index,
                        node.name,
                        attrs,
                        parents=[parent.item_id],
                        name=f"{node.name}_{number}",
                        number=number,
                    )
                )
                planned[item_id] = {parent.item_id}
    return out


def _plan_partitions(cook, node, pending: dict, planned: dict, item_identity) -> list:
    """A partitioner that needs no results partitions the planned members as it will the real ones."""
    members = []
    for up in node.inputs:
        known = cook.runs[up].items
        found = [cook.state.items[i] for i in known if i in cook.state.items]
        found = as_generated.generated(cook, found, node)  # (a reused one's record holds what it set)
        found += [p for p in pending.get(up, ()) if p.item_id not in known]
        members += sorted(found, key=work_item_order)
    out = []
    for number, part in enumerate(node.partition(cook.ctx, members), start=1):
        item_id = item_identity(cook.graph.name, node.name, [], part.key)
        member_ids = [m.item_id for m in part.members]
        planned[item_id] = {m for m in member_ids if _pending(cook.state, m)}
        index = part.index if part.index is not None else number - 1
        out.append(
            Planned(
                item_id,
                index,
                node.name,
                dict(part.attrs),
                parents=member_ids,
                name=f"{node.name}_{index + 1}",
                number=index + 1,
            )
        )
    return out
