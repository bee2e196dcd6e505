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
client did not ask to have packed, goes as plain values. A client that asks for refs as well
(``sharedlists``) gets a graph's appends as refs to its nodes' packed appends, and ``Resolver``
makes them an ``IdList`` too, whose ids are put together (``interleaved``) only when it is read:
a client that reads counts and states never pays for a graph's ids at all.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from functools import partial
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
    joined = _joined_of_one_width(values)
    width = len(joined) // len(values) if joined is not None else 0
    return {"ids": joined, "w": width} if width else None


def as_id_list(values: list, width: int) -> IdList | None:
    """``values`` as an ``IdList`` of ``width`` when they are all strings of that length (else
    None): a short plain list joined to packed ones without making their strings again."""
    joined = _joined_of_one_width(values)
    if joined is None or len(joined) != width * len(values):
        return None
    return IdList(joined, width)


def _joined_of_one_width(values: list) -> str | None:
    """``values`` joined into one string when they are all strings of one length; else None."""
    try:
        joined = "".join(values)
    except TypeError:
        return None  # some value is not a string
    if len(set(map(len, values))) > 1:
        return None
    return joined


def packed_wire(wires: list[dict]) -> list[dict]:
    """The wire maps ``wires`` (messages' ``to_wire()``) with their lists of ``PACKED_PROPS`` packed
    where they can be (in place; refs stay refs)."""
    for wire in wires:
        props = wire.get("props")
        if props is not None:  # a snapshot
            for name in PACKED_PROPS.intersection(props):
                packed = pack(props[name])
                if packed is not None:
                    props[name] = packed
        elif wire.get("prop") in PACKED_PROPS and "values" in wire:
            packed = pack(wire["values"])
            if packed is not None:
                del wire["values"]
                wire.update(packed)
    return wires


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
        #: the joined ids, in parts: strings, or ``Later`` ones not put together yet
        self._parts: list[str | Later] = [joined]
        self.width = width
        self._len = len(joined) // width

    @classmethod
    def later(cls, count: int, width: int, make: Callable[[], str]) -> IdList:
        """A view of ``count`` ids whose joined string ``make()`` returns when first read."""
        view = cls("", width)
        view._parts, view._len = [Later(count * width, make)], count
        return view

    def _joined(self) -> str:
        parts = self._parts
        if len(parts) > 1 or type(parts[0]) is not str:
            parts[:] = [_join(parts)]  # the same ids: a view's content never changes
        return cast(str, parts[0])

    def extended(self, other: IdList) -> IdList:
        """This list followed by ``other`` (of the same width), as a new view: appends are kept as
        parts, the smaller ones merged (each part over twice the next: few parts, and each id
        copied a few times at most, so a long run of appends stays linear). Parts not put together
        yet are merged as such: nothing is read."""
        view = IdList.__new__(IdList)
        parts = self._parts + other._parts
        while len(parts) > 1 and len(parts[-2]) <= 2 * len(parts[-1]):
            pair = parts[-2:]
            parts[-2:] = [
                _join(pair)
                if all(type(p) is str for p in pair)
                else Later(len(pair[0]) + len(pair[1]), partial(_join, pair))
            ]
        view._parts, view.width, view._len = parts, self.width, self._len + other._len
        return view

    def __len__(self) -> int:
        return self._len

    def __getitem__(self, index):
        if isinstance(index, slice):
            start, stop, step = index.indices(self._len)
            if step != 1:
                return [self[i] for i in range(start, stop, step)]
            return list(IdList(self._joined()[start * self.width : max(start, stop) * self.width], self.width))
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


class Later:
    """Part of an ``IdList``'s joined ids not put together yet: its length (in characters), and
    how to make it, made once when first read."""

    __slots__ = ("chars", "_make", "_text")

    def __init__(self, chars: int, make: Callable[[], str]) -> None:
        self.chars = chars
        self._make: Callable[[], str] | None = make
        self._text = ""

    def __len__(self) -> int:
        return self.chars

    def text(self) -> str:
        if self._make is not None:
            self._text, self._make = self._make(), None
        return self._text


def _join(parts: list[str | Later]) -> str:
    return "".join(p if type(p) is str else cast(Later, p).text() for p in parts)


def interleaved(sources: list[str], width: int) -> str:
    """The ids of ``sources`` (joined strings of as many ids each) taken one from each in turn:
    by columns of bytes, one slice assignment per character of an id and source, not a step per
    id (item ids are ASCII; any other text is put together id by id)."""
    if not all(s.isascii() for s in sources):
        count = len(sources[0]) // width
        return "".join(s[k * width : (k + 1) * width] for k in range(count) for s in sources)
    row = width * len(sources)
    out = bytearray(len(sources[0]) * len(sources))
    for i, source in enumerate(sources):
        data = source.encode("ascii")
        for c in range(width):
            out[i * width + c :: row] = data[c::width]
    return out.decode("ascii")
