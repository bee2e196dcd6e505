"""Packed id lists: a list of work item ids sent as one string, read lazily by the client.

Following a cook, a client is sent every new work item id of the objects it follows (a cold
W(10,000) is 40,000 ids per client following a graph and its nodes). Parsing them was most of
what following a cook cost a client, and most of that was making one Python string per id, which
a visualizer that shows counts and states never reads. So a client may ask, in its hello::

    {"op": "hello", "packed": true}

and then a list of ``work_items`` (of at least ``MIN_PACKED`` values, all strings of one length,
as item ids are) comes as the ids joined into one string, with their width::

    {"t": 1, "seq": 130, "prop": "work_items", "ids": "0a1b...9f3c4d5e...", "w": 16}

and, in a snapshot, ``"props": {"work_items": {"ids": "...", "w": 16}, ...}``. ``IdList`` is the
client's view of such a list: a read-only sequence that makes an id's string only when it is
read (``len()`` makes none), equal to the list of the same ids. Any other list, and any list a
client did not ask to have packed, goes as plain values. A packed client is not sent ``refs``
(``sharedlists``): a graph's appends come packed too, which costs a client less than resolving
references would.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any, cast

#: the properties whose lists may be packed (``PropertyNames.WorkItems``: the lists of many item
#: ids; this module is below ``messages``, which reads packed lists with it)
PACKED_PROPS = frozenset({"work_items"})
#: shorter lists go as plain values (their strings cost little, and a plain list is simpler)
MIN_PACKED = 16


def pack(values: list) -> dict | None:
    """``{"ids": joined, "w": width}`` for a list of at least ``MIN_PACKED`` strings of one
    length; None for any other list (it goes as plain values)."""
    if len(values) < MIN_PACKED:
        return None
    try:
        joined = "".join(values)
    except TypeError:
        return None  # some value is not a string
    width = len(joined) // len(values)
    if width == 0 or len(set(map(len, values))) != 1:
        return None
    return {"ids": joined, "w": width}


def to_wire_packed(messages) -> list[dict]:
    """The wire maps of ``messages`` with their lists of ``PACKED_PROPS`` packed where they can be."""
    out = []
    for message in messages:
        wire = message.to_wire()
        props = wire.get("props")
        if props is not None:  # a snapshot
            for name in PACKED_PROPS.intersection(props):
                packed = pack(props[name])
                if packed is not None:
                    props[name] = packed
        elif wire["prop"] in PACKED_PROPS:
            packed = pack(wire["values"])
            if packed is not None:
                del wire["values"]
                wire.update(packed)
        out.append(wire)
    return out


def unpack(data: dict) -> list:
    """The ``IdList`` of a packed wire map, typed as the list it reads as (a message's values);
    ValueError for a malformed one."""
    joined, width = data.get("ids"), data.get("w")
    if not isinstance(joined, str) or type(width) is not int or width <= 0 or len(joined) % width:
        raise ValueError("packed ids need a string 'ids' whose length is a multiple of a positive 'w'")
    return cast(list, IdList(joined, width))


def is_packed(value: Any) -> bool:
    """Whether a snapshot's property value on the wire is a packed list."""
    return isinstance(value, dict) and "ids" in value


class IdList(Sequence):
    """A read-only list of ids of one width, held as joined strings: an id's string is made only
    when it is read. Compares equal to a list of the same ids; ``list(view)`` makes them all."""

    __slots__ = ("_parts", "width", "_len")

    def __init__(self, joined: str, width: int) -> None:
        self._parts = [joined]
        self.width = width
        self._len = len(joined) // width

    def _joined(self) -> str:
        parts = self._parts
        if len(parts) > 1:
            parts[:] = ["".join(parts)]  # the same ids: a view's content never changes
        return parts[0]

    def extended(self, other: IdList) -> IdList:
        """This list followed by ``other`` (of the same width), as a new view: appends are kept as
        parts, the smaller ones merged so that a long run of appends stays linear."""
        view = IdList.__new__(IdList)
        parts = self._parts + other._parts
        while len(parts) > 1 and len(parts[-2]) <= 2 * len(parts[-1]):
            parts[-2:] = ["".join(parts[-2:])]  # each part over twice the next: few parts, each id copied few times
        view._parts, view.width, view._len = parts, self.width, self._len + other._len
        return view

    def __len__(self) -> int:
        return self._len

    def __getitem__(self, index):
        if isinstance(index, slice):
            return [self[i] for i in range(*index.indices(self._len))]
        if index < 0:
            index += self._len
        if not 0 <= index < self._len:
            raise IndexError("IdList index out of range")
        width = self.width
        return self._joined()[index * width : (index + 1) * width]

    def __iter__(self) -> Iterator[str]:
        joined, width = self._joined(), self.width
        return map(
            joined.__getitem__, map(slice, range(0, len(joined), width), range(width, len(joined) + width, width))
        )

    def __contains__(self, value: object) -> bool:
        return self._find(value) >= 0

    def index(self, value: Any, start: int = 0, stop: int | None = None) -> int:
        at = self._find(value)
        if at < 0:
            raise ValueError(f"{value!r} is not in the list")
        if at >= start and (stop is None or at < stop):
            return at
        return list(self).index(value, start, stop if stop is not None else self._len)

    def _find(self, value: object) -> int:
        """The index of the first ``value``, or -1 (a search in the joined string, aligned)."""
        if not isinstance(value, str) or len(value) != self.width:
            return -1
        joined, width = self._joined(), self.width
        at = joined.find(value)
        while at >= 0 and at % width:
            at = joined.find(value, at + 1)
        return at // width if at >= 0 else -1

    def __eq__(self, other: object) -> bool:
        if isinstance(other, IdList):
            return self._len == other._len and list(self) == list(other)
        if isinstance(other, (list, tuple)):
            return self._len == len(other) and list(self) == list(other)
        return NotImplemented

    __hash__ = None  # type: ignore[assignment]

    def __add__(self, other) -> list:
        return [*self, *other]

    def __radd__(self, other) -> list:
        return [*other, *self]

    def __repr__(self) -> str:
        return repr(list(self))
