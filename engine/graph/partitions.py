"""PDG's partitioners (fan-in): by frame, index, range, comparison, expression and tile, each with
PDG's switches (by node and by combination, which combine items across inputs, are in
``engine.graph.combinations``).

- ``use_dynamic_partitioning``: partition once every upstream item has cooked (the grouping reads
  what they made) instead of once they are all generated. Off, the groups are known from the
  items' generation-time attributes, so a static cook plans them before anything runs.
- ``merge_input_attributes``: a partition takes its members' attributes (first member's value
  wins, NoCopy ones left out; ``Partitioner.merged``); its own attributes (the frame, the tile...)
  are set on top.
- ``merge_output_files`` (PDG's "Merge Output Files"): the output files the partition holds, so
  the files its child sees: ``"all"`` (the default: every member's, in member order), ``"first"``
  or ``"last"`` (that member's files), ``"none"``.

A partition's key (what its identity is made from) is what it groups by (a frame, an index, a
tile), so changing a parameter regroups only the groups that change, and the others are reused.
What would make nothing silently (an attribute no item has, a range that holds no item) is a
recorded warning (``GenerateContext.warning``), and so is leaving out some upstream items for
lacking what the partitioner groups by (how many, and the first: ``nodes.left_out``).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

from pdgstore.engine.errors import GraphError
from pdgstore.engine.graph import attribs, checks
from pdgstore.engine.graph.code import func_fingerprint
from pdgstore.engine.graph.nodes import (
    GenerateContext,
    NewPartition,
    Partitioner,
    check_merge_output_files,
    left_out,
)

ROUNDING = ("down", "up", "nearest")
MISSING = ("error", "ignore", "all")


class LibraryPartitioner(Partitioner):
    """What every partitioner of the library has: the two switches, recorded with its parameters."""

    dynamic_default = False

    def __init__(
        self, name, inputs, *, use_dynamic_partitioning=None, merge_input_attributes=True, merge_output_files="all"
    ) -> None:
        super().__init__(name, inputs)
        dynamic = self.dynamic_default if use_dynamic_partitioning is None else use_dynamic_partitioning
        self.needs_cooked_inputs = bool(dynamic)
        self.merge_input_attributes = bool(merge_input_attributes)
        self.merge_output_files = check_merge_output_files(name, merge_output_files)

    def parms(self) -> dict:
        out = {
            "use_dynamic_partitioning": self.needs_cooked_inputs,
            "merge_input_attributes": self.merge_input_attributes,
            **self.own_parms(),
        }
        if self.merge_output_files != "all":  # recorded as before otherwise: no fingerprint changes
            out["merge_output_files"] = self.merge_output_files
        return out

    def own_parms(self) -> dict:
        return {}

    #: why the last ``partition`` made nothing (the cook records it: ``Node.made_nothing``)
    why_nothing: str = ""

    def made_nothing(self, upstream: int) -> str:
        return self.why_nothing if upstream else ""

    def _nothing(self, why: str) -> list:
        self.why_nothing = why
        return []


def _number(item, attribute: str):
    """The first value of a numeric attribute, None when the item has none."""
    attr = item.attrs.get(attribute)
    if attr is None or attr[0] not in ("int", "float") or not attr[1]:
        return None
    return attr[1][0]


def group_key(attr) -> Any:
    """An attribute's values as a hashable, orderable group key (a file's path and tag: the size
    and hash its record carries are not the value, ``engine.files.attrfiles``)."""
    values = attr[1]
    if attr[0] == "file":
        return repr([v[:2] for v in values])
    if attr[0] in ("dict", "pyobject"):
        return repr(values)
    return tuple(values) if len(values) != 1 else values[0]


def _split(items: list, attribute: str | None, ctx: GenerateContext, node: str) -> dict:
    """PDG's "Split by Attribute": items grouped by ``attribute`` first (all in one group without)."""
    if not attribute:
        return {(): items}
    groups: dict = {}
    without = []
    for item in items:
        attr = item.attrs.get(attribute)
        if attr is None:
            without.append(item)
            continue
        groups.setdefault((group_key(attr),), []).append(item)
    if without:
        ctx.warning(left_out(f"partitioner {node}", without, f"the split attribute {attribute!r}"))
    return groups


class PartitionByFrame(LibraryPartitioner):
    """One partition per frame (after ``frame_rounding``), split by ``split_by_attribute`` if set."""

    type_name = "partition_by_frame"

    def __init__(
        self,
        name,
        inputs,
        *,
        frame_rounding="nearest",
        missing_frame="error",
        frame_as_index=False,
        split_by_attribute=None,
        **switches,
    ) -> None:
        super().__init__(name, inputs, **switches)
        if frame_rounding not in ROUNDING:
            raise GraphError(f"partition by frame {name}: frame_rounding is one of {', '.join(ROUNDING)}")
        if missing_frame not in MISSING:
            raise GraphError(f"partition by frame {name}: missing_frame is one of {', '.join(MISSING)}")
        self.frame_rounding, self.missing_frame = frame_rounding, missing_frame
        checks.text(f"partition by frame {name}", "split_by_attribute", split_by_attribute, none=True)
        self.frame_as_index, self.split_by_attribute = bool(frame_as_index), split_by_attribute

    def own_parms(self) -> dict:
        return {
            "frame_rounding": self.frame_rounding,
            "missing_frame": self.missing_frame,
            "frame_as_index": self.frame_as_index,
            "split_by_attribute": self.split_by_attribute or "",
        }

    def _round(self, frame) -> int:
        if self.frame_rounding == "down":
            return math.floor(frame)
        if self.frame_rounding == "up":
            return math.ceil(frame)
        return math.floor(frame + 0.5)

    def partition(self, ctx, items):
        self.why_nothing = ""
        out = []
        for split, group in sorted(_split(items, self.split_by_attribute, ctx, self.name).items(), key=_order):
            frames: dict = {}
            without = []
            for item in group:
                frame = _number(item, "frame")
                if frame is None:
                    without.append(item)
                else:
                    frames.setdefault(self._round(frame), []).append(item)
            if without and self.missing_frame == "error":
                raise ValueError(f"work item {without[0].name} has no frame (missing_frame='error')")
            if without and frames and self.missing_frame == "ignore":
                ctx.warning(left_out(f"partition by frame {self.name}", without, "a frame"))
            for frame, members in sorted(frames.items()):
                if self.missing_frame == "all":
                    members = members + without
                out.append(
                    NewPartition(
                        key=[*split, frame],
                        members=members,
                        attrs={"frame": ["int", [frame]]},
                        index=frame if self.frame_as_index else None,
                    )
                )
        if items and not out:
            return self._nothing(f"none of its {len(items)} upstream items has a frame")
        return out


def _order(kv):
    return tuple(str(k) for k in kv[0])


class PartitionByIndex(LibraryPartitioner):
    """One partition per work item index: the N-th items of every input together."""

    type_name = "partition_by_index"
    reads_attributes = False

    def partition(self, ctx, items):
        groups: dict = {}
        for item in items:
            groups.setdefault(item.index, []).append(item)
        return [NewPartition(key=i, members=m, index=i) for i, m in sorted(groups.items())]


RANGE_TYPES = ("custom", "count", "size", "first_last", "first_middle_last")


class PartitionByRange(LibraryPartitioner):
    """PDG's Partition by Range. ``range_type="custom"`` (the default): partitions of ``size``
    consecutive values, a new one every ``step`` (overlapping when step < size), from ``start`` to
    ``end`` (default: the smallest and largest value); the value is the item's index, or the
    numeric attribute ``attribute``. The others take the items in order (of ``attribute``, else
    their index): ``"count"``, ``count`` partitions as even as can be (the first ones one item
    larger); ``"size"``, partitions of ``size`` items (the last holds what is left);
    ``"first_last"`` and ``"first_middle_last"``, the first (middle, last) item of each input.

    Each partition carries ``range``: for ``custom`` its window of values ``[low, high]`` (it holds
    ``low <= value < high``, ``high`` = low + size); for the others, which count items rather than
    values, ``[place, partitions]``, its place among the node's partitions (from 0, its index too)
    and how many it made. Two meanings, each the one its kind has: a window's bounds are what a
    custom range is, and a counted group has only its place (docs/nodes.md)."""

    type_name = "partition_by_range"

    def __init__(
        self,
        name,
        inputs,
        *,
        size=1,
        step=None,
        start=None,
        end=None,
        attribute=None,
        range_type="custom",
        count=None,
        **switches,
    ) -> None:
        super().__init__(name, inputs, **switches)
        if range_type not in RANGE_TYPES:
            raise GraphError(f"partition by range {name}: range_type is one of {', '.join(RANGE_TYPES)}")
        step = size if step is None else step
        for what, v in (("size", size), ("step", step)):
            if not isinstance(v, (int, float)) or isinstance(v, bool) or v <= 0:
                raise GraphError(f"partition by range {name}: {what} is a number > 0, not {v!r}")
        if range_type == "size" and not isinstance(size, int):
            raise GraphError(f"partition by range {name}: a fixed partition size is a whole number, not {size!r}")
        if range_type == "count" and (not isinstance(count, int) or isinstance(count, bool) or count < 1):
            raise GraphError(f"partition by range {name}: range_type 'count' needs count, a whole number >= 1")
        what = f"partition by range {name}"
        checks.number(what, "start", start, none=True)
        checks.number(what, "end", end, none=True)
        checks.text(what, "attribute", attribute, none=True)
        self.size, self.step, self.start, self.end, self.attribute = size, step, start, end, attribute
        self.range_type, self.count = range_type, count

    def own_parms(self) -> dict:
        out = {"size": self.size, "step": self.step, "start": self.start, "end": self.end, "attribute": self.attribute}
        if self.range_type != "custom":  # recorded as before otherwise
            out.update(range_type=self.range_type, count=self.count)
        return out

    def partition(self, ctx, items):
        self.why_nothing = ""
        if self.range_type != "custom":
            return self._ordered(ctx, items)
        values = self._values(ctx, items)
        if items and not values:
            return self._nothing(f"none of its {len(items)} upstream items has the attribute {self.attribute!r}")
        if not values:
            return []
        start = min(v for v, _ in values) if self.start is None else self.start
        end = max(v for v, _ in values) if self.end is None else self.end
        if end < start:
            return self._nothing(f"its end {end} is before its start {start}")
        out = []
        k = 0
        while start + k * self.step <= end:
            low = start + k * self.step
            high = low + self.size
            members = [item for v, item in values if low <= v < high and v <= end]
            if members:
                out.append(
                    NewPartition(key=[low, self.size], members=members, attrs={"range": attribs.typed([low, high])})
                )
            k += 1
        if not out:
            return self._nothing(f"no upstream item falls in {start}..{end}")
        return out

    def _values(self, ctx, items) -> list[tuple]:
        """(value, item) of the items that have a value (their index, or the number in
        ``attribute``); the others are left out, said in a warning when some items have one."""
        values, without = [], []
        for item in items:
            v = item.index if not self.attribute else _number(item, self.attribute)
            if v is None:
                without.append(item)
            else:
                values.append((v, item))
        if values and without:
            what = f"a number in the attribute {self.attribute!r}"
            ctx.warning(left_out(f"partition by range {self.name}", without, what))
        return values

    def _ordered(self, ctx, items):
        """The range types that take the items in order rather than by value."""
        keyed = self._values(ctx, items)
        if items and not keyed:
            return self._nothing(f"none of its {len(items)} upstream items has the attribute {self.attribute!r}")
        keyed.sort(key=lambda kv: kv[0])
        ordered = [item for _, item in keyed]
        kind = self.range_type
        groups: list[list] = []
        if kind == "count":
            n = len(ordered)
            base, extra = divmod(n, self.count)
            at = 0
            for k in range(min(self.count, n)):
                take = base + (1 if k < extra else 0)
                groups.append(ordered[at : at + take])
                at += take
        elif kind == "size":
            groups = [ordered[i : i + self.size] for i in range(0, len(ordered), self.size)]
        else:  # first_last, first_middle_last: of each input, in input order
            picks: list[list] = [[], [], []] if kind == "first_middle_last" else [[], []]
            for up in self.inputs:
                mine = [item for item in ordered if item.node == up]
                if not mine:
                    continue
                chosen = [mine[0], mine[len(mine) // 2], mine[-1]] if len(picks) == 3 else [mine[0], mine[-1]]
                for group, item in zip(picks, chosen):
                    group.append(item)
            groups = picks if any(picks) else []
        return [
            NewPartition(key=[kind, i], members=group, index=i, attrs={"range": attribs.typed([i, len(groups)])})
            for i, group in enumerate(groups)
            if group
        ]


class PartitionByComparison(LibraryPartitioner):
    """For each item of the first input, a partition of it and the items of the other inputs that
    match it: the same value of ``attribute``, or ``compare(first, other)`` true."""

    type_name = "partition_by_comparison"
    dynamic_default = True

    def __init__(self, name, inputs, *, attribute=None, compare=None, keep_unmatched=False, **switches) -> None:
        super().__init__(name, inputs, **switches)
        if len(inputs) < 2:
            raise GraphError(f"partition by comparison {name}: it compares two inputs; give two upstream nodes")
        if (attribute is None) == (compare is None):
            raise GraphError(f"partition by comparison {name}: give an attribute or a compare function (one of them)")
        self.attribute, self.compare, self.keep_unmatched = attribute, compare, bool(keep_unmatched)

    def own_parms(self) -> dict:
        return {
            "attribute": self.attribute or "",
            "compare": func_fingerprint(self.compare),
            "keep_unmatched": self.keep_unmatched,
        }

    def partition(self, ctx, items):
        self.why_nothing = ""
        first = [i for i in items if i.node == self.inputs[0]]
        others = [i for i in items if i.node != self.inputs[0]]
        if self.attribute is not None:
            if items and not any(self.attribute in i.attrs for i in items):
                self.why_nothing = f"none of its {len(items)} upstream items has the attribute {self.attribute!r}"
            by_value: dict = {}
            for other in others:
                attr = other.attrs.get(self.attribute)
                if attr is not None:
                    by_value.setdefault(group_key(attr), []).append(other)
        out = []
        for item in first:
            if self.attribute is not None:
                attr = item.attrs.get(self.attribute)
                matched = by_value.get(group_key(attr), []) if attr is not None else []
            else:
                matched = [o for o in others if self.compare(item_view(item), item_view(o))]
            if matched or self.keep_unmatched:
                out.append(NewPartition(key=item.item_id, members=[item, *matched]))
        return out


class PartitionByExpression(LibraryPartitioner):
    """One partition per distinct key ``func(item)`` returns (None leaves the item out; a list puts
    it in several partitions)."""

    type_name = "partition_by_expression"
    dynamic_default = True

    def __init__(self, name, inputs, func: Callable, **switches) -> None:
        super().__init__(name, inputs, **switches)
        if not callable(func):
            raise GraphError(f"partition by expression {name}: give a function item -> key")
        self.func = func

    def own_parms(self) -> dict:
        return {"func": func_fingerprint(self.func)}

    def partition(self, ctx, items):
        self.why_nothing = ""
        groups: dict = {}
        for item in items:
            keys = self.func(item_view(item))
            for key in keys if isinstance(keys, list) else [keys]:
                if key is not None:
                    groups.setdefault(_hashable(key), (key, []))[1].append(item)
        out = []
        for _k, (key, members) in sorted(groups.items(), key=lambda kv: repr(kv[0])):
            try:
                own = {"partitionkey": attribs.typed(key)}
            except TypeError:
                own = {"partitionkey": ["string", [repr(key)]]}
            out.append(NewPartition(key=repr(_hashable(key)), members=members, attrs=own))
        if items and not out:
            return self._nothing(f"its function gave no key for any of its {len(items)} upstream items")
        return out


def _hashable(key):
    if isinstance(key, list):
        return tuple(_hashable(k) for k in key)
    if isinstance(key, dict):
        return tuple(sorted((k, _hashable(v)) for k, v in key.items()))
    return key


class PartitionByTile(LibraryPartitioner):
    """Spatial partitions: ``bounds`` (min corner, max corner; 2 or 3 components, default: the
    items' own bounds) cut into ``tiles`` (a count per axis); each item goes to the tile its
    position (attribute ``attribute``, default ``P``) falls in. The partition carries ``tile``
    (its grid coordinates) and ``tilebounds``."""

    type_name = "partition_by_tile"
    dynamic_default = True

    def __init__(self, name, inputs, *, tiles, bounds=None, attribute="P", **switches) -> None:
        super().__init__(name, inputs, **switches)
        tiles = [tiles] if isinstance(tiles, int) else list(tiles)
        if not tiles or not all(isinstance(t, int) and t > 0 for t in tiles):
            raise GraphError(f"partition by tile {name}: tiles is a count > 0 per axis, not {tiles!r}")
        if bounds is not None:
            low, high = list(bounds[0]), list(bounds[1])
            if len(low) != len(tiles) or len(high) != len(tiles) or any(h <= lo for lo, h in zip(low, high)):
                raise GraphError(
                    f"partition by tile {name}: bounds are (min, max) corners with max > min on every axis"
                )
            bounds = [low, high]
        self.tiles, self.bounds, self.attribute = tiles, bounds, attribute

    def own_parms(self) -> dict:
        return {"tiles": self.tiles, "bounds": self.bounds, "attribute": self.attribute}

    def partition(self, ctx, items):
        self.why_nothing = ""
        axes = len(self.tiles)
        placed, without = [], []
        for item in items:
            attr = item.attrs.get(self.attribute)
            if attr is not None and attr[0] in ("int", "float") and len(attr[1]) >= axes:
                placed.append((attr[1][:axes], item))
            else:
                without.append(item)
        if items and not placed:
            return self._nothing(
                f"none of its {len(items)} upstream items has a {axes}-component position attribute {self.attribute!r}"
            )
        if not placed:
            return []
        if without:
            what = f"a {axes}-component position attribute {self.attribute!r}"
            ctx.warning(left_out(f"partition by tile {self.name}", without, what))
        if self.bounds is not None:
            low, high = self.bounds
        else:
            low = [min(p[a] for p, _ in placed) for a in range(axes)]
            high = [max(p[a] for p, _ in placed) for a in range(axes)]
            high = [h if h > lo else lo + 1 for lo, h in zip(low, high)]
        groups: dict = {}
        outside = 0
        for pos, item in placed:
            if any(not (low[a] <= pos[a] <= high[a]) for a in range(axes)):
                outside += 1
                continue
            cell = tuple(
                min(int((pos[a] - low[a]) / (high[a] - low[a]) * self.tiles[a]), self.tiles[a] - 1) for a in range(axes)
            )
            groups.setdefault(cell, []).append(item)
        if outside:
            ctx.warning(
                f"partition by tile {self.name}: {outside} input item(s) lie outside the bounds and are left out"
            )
        out = []
        for cell, members in sorted(groups.items()):
            size = [(high[a] - low[a]) / self.tiles[a] for a in range(axes)]
            corner = [low[a] + cell[a] * size[a] for a in range(axes)]
            out.append(
                NewPartition(
                    key=list(cell),
                    members=members,
                    attrs={
                        "tile": ["int", list(cell)],
                        "tilebounds": ["float", [float(c) for c in corner] + [c + s for c, s in zip(corner, size)]],
                    },
                )
            )
        return out


def item_view(item):
    """A read-only WorkItem over a recorded (or planned) item, for user functions."""
    from pdgstore.engine.graph.workitem import WorkItem

    return WorkItem.view_of(item, "")
