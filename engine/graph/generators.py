"""Processors that make work items from their parameters: the Wedge and the frame range.

Both are PDG's static processors: what they make depends on their parameters (and, with an input,
on the parent's identity and index only), so their items can be known before anything runs.
Without an input they make their items once; with one they make that many items per upstream
item (seed 004: "the number of wedges multiplied by the number of incoming work items"), each
child inheriting its parent's attributes.

Keys are chosen for incremental recooks: a wedge item's key is its wedge index and a frame item's
key is its frame, so a changed value reruns only the items whose value changed and one more frame
adds one chain. (A longer wedge changes every item's ``wedgecount``, so all its items see a change.)
"""

from __future__ import annotations

import math
import random
from collections.abc import Iterable, Iterator
from itertools import repeat
from typing import Any

from pdgstore.engine.errors import ExpansionError, GraphError
from pdgstore.engine.graph import attribs
from pdgstore.engine.graph.checks import number, text, whole
from pdgstore.engine.graph.nodes import GenerateContext, NewItem, Processor

WEDGE_TYPES = ("range", "values", "random", "string")
#: each wedge type as a sentence names it
WEDGE_KINDS = {"range": "a range", "values": "a value list", "random": "random samples", "string": "a string pattern"}


def wedge_range(name: str, start, end, *, type: str | None = None) -> dict:
    """A wedge attribute that goes from ``start`` to ``end`` (inclusive) over the wedge count.
    ``start``/``end`` may be tuples (a vector attribute, each component interpolated). ``type``:
    "int" or "float" (default: float unless both ends are ints)."""
    return {"name": name, "wedge_type": "range", "start": start, "end": end, "type": type}


def wedge_values(name: str, values) -> dict:
    """A wedge attribute that takes the N-th of ``values`` on wedge N (PDG's Value List)."""
    return {"name": name, "wedge_type": "values", "values": list(values)}


def wedge_random(name: str, start, end, *, seed: int = 0, type: str | None = None) -> dict:
    """A wedge attribute with a random sample in [start, end] per wedge (PDG's Random Samples):
    the same ``seed`` gives the same samples, and sample N does not depend on the wedge count."""
    return {"name": name, "wedge_type": "random", "start": start, "end": end, "seed": seed, "type": type}


def wedge_string(name: str, pattern: str) -> dict:
    """A string wedge attribute: ``pattern`` with ``@attr`` expanded for each wedge against the
    wedge attributes listed before it, ``wedgeindex`` and ``wedgecount`` (``"take_@wedgeindex"``,
    ``"shot_@pixelsamples"``). For strings from a list, use ``wedge_values``."""
    return {"name": name, "wedge_type": "string", "pattern": pattern}


def _components(value) -> list:
    return list(value) if isinstance(value, (list, tuple)) else [value]


class Wedge(Processor):
    """PDG's Wedge: ``count`` variations, each item carrying every wedge attribute's N-th value,
    ``wedgeindex`` (N), ``wedgecount`` and ``wedgeattribs`` (the wedged attribute names)."""

    type_name = "wedge"
    static_generation = True

    def __init__(self, name: str, inputs: list[str], count: int | None, attributes) -> None:
        super().__init__(name, inputs)
        if attributes is None or (isinstance(attributes, Iterable) and not isinstance(attributes, (str, dict))):
            attributes = list(attributes or ())
        if not isinstance(attributes, list) or not all(isinstance(a, dict) for a in attributes):
            raise GraphError(
                f"wedge {name}: attributes is a list of wedge attributes (wedge_range, wedge_values, ...), "
                f"not {attributes!r}"
            )
        attributes = [dict(a) for a in attributes]
        if not attributes and count is None:
            raise GraphError(f"wedge {name}: give a wedge count or wedge attributes")
        seen = set()
        for a in attributes:
            if not isinstance(a.get("name"), str) or not a["name"]:
                raise GraphError(f"wedge {name}: a wedge attribute needs a name (use wedge_range, wedge_values, ...)")
            if a["name"] in seen:
                raise GraphError(f"wedge {name}: attribute {a['name']} is wedged twice")
            seen.add(a["name"])
            if a.get("wedge_type") not in WEDGE_TYPES:
                raise GraphError(f"wedge {name}, attribute {a['name']}: wedge type is one of {', '.join(WEDGE_TYPES)}")
        lists = [len(a["values"]) for a in attributes if a["wedge_type"] == "values"]
        if count is None:
            count = lists[0] if lists else None
            if count is None:
                given = ", ".join(f"{a['name']} ({WEDGE_KINDS[a['wedge_type']]})" for a in attributes)
                raise GraphError(
                    f"wedge {name}: give a wedge count (count=N): its attributes, {given}, do not say how many "
                    "wedges to make (only a value list, wedge_values, does)"
                )
        whole(f"wedge {name}", "the wedge count", count, least=0)
        for a in attributes:
            if a["wedge_type"] == "values" and len(a["values"]) < count:
                raise GraphError(
                    f"wedge {name}, attribute {a['name']}: {len(a['values'])} values for a wedge count of {count}"
                )
            if a["wedge_type"] == "string" and not isinstance(a.get("pattern"), str):
                raise GraphError(f"wedge {name}, attribute {a['name']}: a string wedge's pattern is a string")
            if a["wedge_type"] in ("range", "random"):
                start, end = _components(a["start"]), _components(a["end"])
                if len(start) != len(end) or not all(isinstance(v, (int, float)) for v in start + end):
                    raise GraphError(f"wedge {name}, attribute {a['name']}: start and end are numbers of one size")
                kind = a.get("type") or (
                    "int" if all(isinstance(v, int) for v in start + end) and a["wedge_type"] == "range" else "float"
                )
                if kind not in ("int", "float"):
                    raise GraphError(f"wedge {name}, attribute {a['name']}: type is int or float, not {kind!r}")
                a["type"] = kind
        self.count = count
        self.attributes = attributes
        for a in attributes:  # a value list is refused now, not mid-cook (ranges are numbers by construction)
            if a["wedge_type"] == "values":
                for v in a["values"][:count]:
                    try:
                        attribs.typed(v)
                    except TypeError as exc:
                        raise GraphError(f"wedge {name}, attribute {a['name']}: {exc}") from None
        if count:  # a string pattern naming an attribute the wedge has not: refused now too
            try:
                self.values_at(0)
            except ExpansionError as exc:
                raise GraphError(f"wedge {name}: {exc}") from None

    def parms(self) -> dict:
        return {"count": self.count, "attributes": self.attributes}

    def count_ahead(self) -> int | None:
        return None if self.inputs else self.count

    def made_nothing(self, upstream: int) -> str:
        return "its wedge count is 0" if self.count == 0 and (upstream or not self.inputs) else ""

    def values_at(self, index: int) -> dict:
        """The attributes of wedge ``index``, stored form (a wedge of 100,000 makes them per item,
        so a scalar number skips ``attribs.typed``)."""
        out = {"wedgeindex": ["int", [index]], "wedgecount": ["int", [self.count]]}
        for a in self.attributes:
            if a["wedge_type"] == "string":
                view = _WedgeView(f"wedge {index}", index, out)
                out[a["name"]] = ["string", [attribs.expand(a["pattern"], item=view, node=self.name, parm=a["name"])]]
                continue
            out[a["name"]] = _stored(_wedge_value(a, index, self.count))
        out["wedgeindex"] = out.pop("wedgeindex")  # after the wedged attributes, as before
        out["wedgecount"] = out.pop("wedgecount")
        if self.attributes:
            out["wedgeattribs"] = ["string", [a["name"] for a in self.attributes]]
        return out

    def generate(self, ctx: GenerateContext, parent) -> list[NewItem]:
        """Every wedge's item, ``values_at`` of each index; made a column per attribute (a wedge of
        100,000 is made by ``pdg cook --generate-only`` at every cook of a fresh store), with the
        same values in the same order, unless a string attribute expands against the others."""
        count = self.count
        if any(a["wedge_type"] == "string" for a in self.attributes):
            values_at = self.values_at
            return [NewItem(key=i, index=i, attrs=values_at(i)) for i in range(count)]
        return self._items(0, count)

    def generate_parts(self, ctx: GenerateContext, parent, size: int) -> Iterator[list[NewItem]]:
        """``generate``'s items ``size`` at a time, each part made when it is asked for (the values
        of every kind but a string's are known from the index and the count alone)."""
        if any(a["wedge_type"] == "string" for a in self.attributes):
            yield self.generate(ctx, parent)
            return
        for start in range(0, self.count, size):
            yield self._items(start, min(self.count, start + size))

    def _items(self, start: int, stop: int) -> list[NewItem]:
        """The items of wedge indexes ``start`` to ``stop`` (no string attribute), made a column
        per attribute."""
        count = self.count
        names = [a["name"] for a in self.attributes]
        columns = [_wedge_column(a, count, start, stop) for a in self.attributes]
        out = []
        for i, row in zip(range(start, stop), zip(*columns) if columns else repeat((), stop - start)):
            attrs = dict(zip(names, row))
            attrs["wedgeindex"] = ["int", [i]]
            attrs["wedgecount"] = ["int", [count]]
            if names:
                attrs["wedgeattribs"] = ["string", list(names)]
            out.append(NewItem(key=i, index=i, attrs=attrs))
        return out


class _WedgeView:
    """What a string wedge's ``@attr`` expands against: the wedge's attributes made so far."""

    __slots__ = ("name", "index", "attrs", "item_id", "inputs", "outputs")

    def __init__(self, name: str, index: int, attrs: dict) -> None:
        self.name, self.index, self.attrs = name, index, attrs
        self.item_id = ""
        self.inputs: list = []
        self.outputs: list = []


def _wedge_column(a: dict, count: int, start: int, stop: int) -> list:
    """The stored values (``[type, [value]]``, as ``Wedge.values_at`` makes them) of wedge attribute
    ``a`` for indexes ``start`` to ``stop`` of ``count``: a scalar range's arithmetic inline,
    ``_wedge_value`` for the rest."""
    if a["wedge_type"] == "range" and not isinstance(a["start"], (list, tuple)) and count > 1:
        s, e, last = a["start"], a["end"], count - 1
        if a["type"] == "int":
            floor = math.floor
            return [["int", [int(floor(s + (e - s) * (i / last) + 0.5))]] for i in range(start, stop)]
        return [_stored(s + (e - s) * (i / last)) for i in range(start, stop)]
    return [_stored(_wedge_value(a, i, count)) for i in range(start, stop)]


def _stored(value) -> list:
    kind = type(value)
    if kind is int or kind is float:
        return ["int" if kind is int else "float", [value]]
    return attribs.typed(value)


def _wedge_value(a: dict, index: int, count: int) -> Any:
    kind = a["wedge_type"]
    if kind == "values":
        return a["values"][index]
    start, end = _components(a["start"]), _components(a["end"])
    if kind == "range":
        t = index / (count - 1) if count > 1 else 0.0
        values = [s + (e - s) * t for s, e in zip(start, end)]
    else:  # random: seeded per (seed, attribute, index), so sample N never depends on the count
        rng = random.Random(f"{a['seed']}:{a['name']}:{index}")
        values = [rng.uniform(s, e) for s, e in zip(start, end)]
    if a["type"] == "int":
        values = [int(math.floor(v + 0.5)) for v in values]
    return values if isinstance(a["start"], (list, tuple)) else values[0]


class RangeGenerator(Processor):
    """A wedge-like generator: ``count`` items (or one per value of ``values``), each with an
    ``attribute`` holding start + index * step (or the value). With an upstream node it makes that
    many items per upstream item, each inheriting its parent's attributes."""

    type_name = "range_generate"
    static_generation = True

    def __init__(self, name, inputs, count=None, *, start=0, step=1, values=None, attribute="value") -> None:
        super().__init__(name, inputs)
        what = f"range generator {name}"
        if values is None and count is None:
            raise GraphError(f"{what}: give a count or a list of values")
        if count is not None:
            whole(what, "count", count, least=0)  # as a wedge's: a negative count is a mistake, not 0
        number(what, "start", start)
        number(what, "step", step)
        text(what, "attribute", attribute)
        if values is not None:
            if isinstance(values, (str, dict)) or not isinstance(values, Iterable):
                raise GraphError(f"{what}: values is a list, not {values!r}")
            values = list(values)
            for v in values:
                try:
                    attribs.typed(v)  # refuse what cannot be an attribute now, not mid-cook
                except TypeError as exc:
                    raise GraphError(f"{what}: values: {exc}") from None
        self.count = len(values) if values is not None else count
        self.start, self.step, self.values, self.attribute = start, step, values, attribute

    def parms(self) -> dict:
        return {
            "count": self.count,
            "start": self.start,
            "step": self.step,
            "values": self.values,
            "attribute": self.attribute,
        }

    def count_ahead(self) -> int | None:
        return None if self.inputs else self.count

    def made_nothing(self, upstream: int) -> str:
        if self.values is not None and not self.values:
            return "its list of values is empty"
        return "its count is 0" if self.count == 0 else ""

    def generate(self, ctx: GenerateContext, parent) -> list[NewItem]:
        out = []
        for i in range(self.count):
            value = self.values[i] if self.values is not None else self.start + i * self.step
            out.append(NewItem(key=i, index=i, attrs={self.attribute: attribs.typed(value)}))
        return out


class FrameRange(Processor):
    """One item per frame of ``start``..``end`` (inclusive) by ``step``: PDG's frame range on a
    ROP-like node. Each item carries ``frame`` (what the job API's ``work_item.frame`` reads, and
    ``@pdg_frame``/``$F`` expand to) and its index; with an input, the range per upstream item."""

    type_name = "frame_range"
    static_generation = True

    def __init__(self, name: str, inputs: list[str], start=1, end=1, step=1, *, attribute: str = "frame") -> None:
        super().__init__(name, inputs)
        for what, v in (("start", start), ("end", end), ("step", step)):
            number(f"frame range {name}", what, v)
        if step == 0:
            raise GraphError(f"frame range {name}: the step cannot be 0")
        text(f"frame range {name}", "attribute", attribute)
        self.start, self.end, self.step, self.attribute = start, end, step, attribute

    def parms(self) -> dict:
        return {"start": self.start, "end": self.end, "step": self.step, "attribute": self.attribute}

    def frames(self) -> list:
        """The frames, in order; whole numbers stay ints."""
        out = []
        n = int(math.floor((self.end - self.start) / self.step + 1e-9)) + 1
        for i in range(max(n, 0)):
            f = self.start + i * self.step
            out.append(int(f) if isinstance(f, float) and f.is_integer() and isinstance(self.step, int) else f)
        return out

    def made_nothing(self, upstream: int) -> str:
        if self.frames() or (self.inputs and not upstream):
            return ""
        return f"start {self.start}, end {self.end}, step {self.step} gives no frame"

    def generate(self, ctx: GenerateContext, parent) -> list[NewItem]:
        frames = self.frames()
        return [NewItem(key=f, index=i, attrs={self.attribute: attribs.typed(f)}) for i, f in enumerate(frames)]
