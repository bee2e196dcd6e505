"""Nodes that route work items without doing work: filter, split, merge, sort and the mappers.

Filter, split and merge are processors: one child (or none) per upstream item, passing its
attributes and files on; the child's identity is its parent's, so a filter change keeps what
passes. Sort and the mappers need every upstream item at once, so they are partitioners:
sort makes one single-member partition per item in sorted order (its index is its place), a
mapper makes one partition per target item holding the source items mapped to it, so the target
waits for them (PDG's Map by Index / Map by Expression: dependencies between unrelated chains).
"""

from __future__ import annotations

from collections.abc import Callable

from pdgstore.engine.errors import GraphError
from pdgstore.engine.graph import checks
from pdgstore.engine.graph.code import func_fingerprint
from pdgstore.engine.graph.nodes import GenerateContext, NewItem, NewPartition, Processor
from pdgstore.engine.graph.partitions import LibraryPartitioner, group_key, item_view


class FilterByExpression(Processor):
    """Pass on the upstream items for which ``func(item)`` is true (with ``keep_matching=False``:
    those for which it is false). PDG's Filter by Expression."""

    type_name = "filter_by_expression"

    def __init__(self, name, inputs, func: Callable, *, keep_matching: bool = True) -> None:
        super().__init__(name, inputs)
        if not callable(func):
            raise GraphError(f"filter {name}: give a function item -> bool")
        if not inputs:
            raise GraphError(f"filter {name}: it filters upstream items; give an upstream node")
        self.func, self.keep_matching = func, bool(keep_matching)

    def parms(self) -> dict:
        return {"func": func_fingerprint(self.func), "keep_matching": self.keep_matching}

    def generate(self, ctx: GenerateContext, parent) -> list[NewItem]:
        if parent is None or bool(self.func(item_view(parent))) != self.keep_matching:
            return []
        return [NewItem(key=0, index=parent.index)]


class SplitBranch(Processor):
    """One side of a split: the items of the first ``count`` indices, or those for which ``func``
    is true (``selected=True``), or the others (``selected=False``)."""

    type_name = "split"

    def __init__(self, name, inputs, *, func: Callable | None, count: int | None, selected: bool) -> None:
        super().__init__(name, inputs)
        if (func is None) == (count is None):
            raise GraphError(f"split {name}: split by an expression or by a count (one of them)")
        if count is not None and (not isinstance(count, int) or count < 0):
            raise GraphError(f"split {name}: the count is a whole number >= 0, not {count!r}")
        self.func, self.count, self.selected = func, count, selected
        self.static_generation = func is None  # by count: the parent's index is known before it cooks

    def parms(self) -> dict:
        return {
            "func": func_fingerprint(self.func),
            "count": self.count,
            "selected": self.selected,
        }

    def generate(self, ctx, parent):
        if parent is None:
            return []
        chosen = parent.index < self.count if self.func is None else bool(self.func(item_view(parent)))
        return [NewItem(key=0, index=parent.index)] if chosen == self.selected else []


class Merge(Processor):
    """Every item of every input, passed on (PDG's Merge: several inputs into one node)."""

    type_name = "merge"
    static_generation = True

    def generate(self, ctx, parent):
        return [] if parent is None else [NewItem(key=0, index=parent.index)]


class Sort(LibraryPartitioner):
    """The upstream items again, in order of ``attributes`` (each item's values, compared in turn)
    or of ``key(item)``, ``reverse`` for descending; the index of each is its place. Items without
    a sort attribute go last (a warning says how many)."""

    type_name = "sort"
    dynamic_default = True

    def __init__(self, name, inputs, *, attributes=(), key: Callable | None = None, reverse=False, **switches):
        super().__init__(name, inputs, **switches)
        attributes = checks.texts(f"sort {name}", "attributes", attributes)
        self.attributes, self.key, self.reverse = list(attributes), key, bool(reverse)
        if not self.attributes and key is None:
            raise GraphError(f"sort {name}: sort by attributes or by a key function")

    def own_parms(self) -> dict:
        return {
            "attributes": self.attributes,
            "key": func_fingerprint(self.key),
            "reverse": self.reverse,
        }

    def partition(self, ctx, items):
        keyed, missing = [], []
        for item in items:
            if self.key is not None:
                keyed.append(((self.key(item_view(item)),), item))
            elif all(a in item.attrs for a in self.attributes):
                keyed.append((tuple(group_key(item.attrs[a]) for a in self.attributes), item))
            else:
                missing.append(item)
        if missing:
            ctx.warning(f"sort {self.name}: {len(missing)} input item(s) lack a sort attribute and go last")
        keyed.sort(key=lambda k: k[0], reverse=self.reverse)
        ordered = [item for _, item in keyed] + missing
        return [NewPartition(key=item.item_id, members=[item], index=i) for i, item in enumerate(ordered)]


class MapBy(LibraryPartitioner):
    """A mapper: for each item of the ``target`` input, one item that waits for the items of the
    other inputs mapped to it, by the same index (``func`` None) or by ``func(source, target)``.
    It carries the target's attributes first (then the sources', when merging) and every file."""

    type_name = "map_by_index"

    def __init__(self, name, inputs, *, target: str, func: Callable | None = None, **switches) -> None:
        super().__init__(name, inputs, **switches)
        if target not in inputs or len(inputs) < 2:
            raise GraphError(f"mapper {name}: it maps items of one input onto the items of a target input")
        if inputs.count(target) > 1:
            raise GraphError(f"mapper {name}: node {target} is its target; it cannot be one of its sources too")
        self.target, self.func = target, func
        if func is not None:
            self.type_name = "map_by_expression"

    def own_parms(self) -> dict:
        return {"target": self.target, "func": func_fingerprint(self.func)}

    def partition(self, ctx, items):
        targets = [i for i in items if i.node == self.target]
        sources = [i for i in items if i.node != self.target]
        by_index: dict = {}
        if self.func is None:
            for s in sources:
                by_index.setdefault(s.index, []).append(s)
        out = []
        for t in targets:
            if self.func is None:
                mapped = by_index.get(t.index, [])
            else:
                tv = item_view(t)
                mapped = [s for s in sources if self.func(item_view(s), tv)]
            out.append(NewPartition(key=t.item_id, members=[t, *mapped], index=t.index))
        return out
