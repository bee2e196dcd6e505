"""An item's row ``detail`` packed again after a report, reusing what its last packing made.

A job reporting attributes one call at a time has its item's row rewritten once per report
(``prepared.write_updated``), and the row's detail holds every attribute the item has: packing
all 500 attributes again for the 501st made a job's reports cost the writer O(n²) packing, and
with 16 remote jobs reporting one attribute per call it was half of the cook's CPU (issue 22).

``RowPacker`` keeps, for an item with many attributes, the packed map entries of its last packing
and the value objects they were packed from. Attribute values are replaced on every change, never
changed in place (the fold assigns the event's value, ``WorkItem`` copies its item's attributes
and stores new lists), so an entry whose name and value are the same objects as last time packs
to the same bytes: only entries that are new or changed are packed again, and the map is their
concatenation. The result is byte for byte ``tables.item_detail`` (tests/test_repack.py); items
with few attributes are packed whole (cheap), and only the most recently packed ``MAX_ITEMS``
items are remembered.

Checking that nothing else changed is itself O(n) per packing (every name and value compared), and
with 16 jobs reporting one attribute a call it was again the largest part of the cook's loop (issue
22, stop 22). So the one writer of the live state, the cook's ``Recorder``, also tells the packer
what changed: ``note`` for each attribute an event set (the fold of ``WorkItemAttribSet`` assigns
that one name), ``forget`` for any other event about the item (its fold may change anything). An
item whose changes since its last packing were all noted, in the same attributes dict, is packed by
repacking only the noted entries; anything else goes through the full comparison above.
"""

from __future__ import annotations

from itertools import compress, count, islice
from operator import is_, is_not

import msgpack

from pdgstore import itemlists
from pdgstore.state import Item
from pdgstore.tables import item_detail

#: items with fewer attributes are packed whole: remembering their entries costs more than it saves
MIN_ATTRS = 64
#: how many items' packings are remembered (the ones packed last)
MAX_ITEMS = 1024

_pack = msgpack.Packer(use_bin_type=True).pack


class _Packed:
    """One item's last packing of its attributes: names and values in order, each entry's bytes,
    the entries joined, each name's place, the dict packed (an item made again has a new one), and
    the attributes set since, as ``RowPacker.note`` was told (None: not known, compare them all)."""

    __slots__ = ("names", "values", "parts", "body", "index", "attrs", "noted")

    def __init__(self, attrs: dict, values: list, parts: list[bytes]) -> None:
        self.names, self.values, self.parts = list(attrs), values, parts
        self.body = b"".join(parts)
        self.index = {name: i for i, name in enumerate(self.names)}
        self.attrs = attrs
        self.noted: list[str] | None = None


def _map_header(n: int) -> bytes:
    if n < 16:
        return bytes((0x80 | n,))
    if n < 1 << 16:
        return b"\xde" + n.to_bytes(2, "big")
    return b"\xdf" + n.to_bytes(4, "big")


class RowPacker:
    """``detail(item)``: ``tables.item_detail(item)``, remembering what it packed (see the module)."""

    def __init__(self, told: bool = False) -> None:
        """``told``: every change of a remembered item's attributes is told (``note``, ``forget``)."""
        self._packed: dict[str, _Packed] = {}
        self._told = told

    def __len__(self) -> int:
        """How many items' packings it remembers (none: ``note`` and ``forget`` have nothing to do)."""
        return len(self._packed)

    def note(self, item_id: str, name: str) -> None:
        """The item's attribute ``name`` was set (added or replaced), and nothing else of its attributes."""
        packed = self._packed.get(item_id)
        if packed is not None and packed.noted is not None:
            packed.noted.append(name)

    def forget(self, item_id: str) -> None:
        """Anything of the item's attributes may have changed: its next packing compares them all."""
        packed = self._packed.get(item_id)
        if packed is not None:
            packed.noted = None

    def detail(self, item: Item) -> bytes:
        attrs = item.attrs
        if len(attrs) < MIN_ATTRS:
            return item_detail(item)
        inline = itemlists.inline
        return b"".join(
            (
                b"\x95",  # an array of 5, as item_detail's tuple
                _pack(inline(item.parents)),
                self._attrs(item.item_id, attrs),
                _pack(inline(item.inputs)),
                _pack(item.traceback),
                _pack(item.reason),
            )
        )

    def _attrs(self, item_id: str, attrs: dict) -> bytes:
        packed = self._packed.pop(item_id, None)  # taken out and put back last: the newest
        if packed is not None and packed.noted is not None and packed.attrs is attrs:
            if not _repack_noted(packed):
                packed = None
        else:
            packed = _compared(packed, attrs)
        if packed is None:
            packed = _Packed(attrs, list(attrs.values()), [_pack(name) + _pack(value) for name, value in attrs.items()])
        packed.noted = [] if self._told else None
        self._packed[item_id] = packed
        if len(self._packed) > MAX_ITEMS:
            del self._packed[next(iter(self._packed))]
        return _map_header(len(packed.values)) + packed.body


def _repack_noted(packed: _Packed) -> bool:
    """Pack again only the attributes noted since the last packing; False (``packed`` is then of no
    use) when the dict does not hold what the notes say (its size, its last name)."""
    attrs, names, values, parts, index = packed.attrs, packed.names, packed.values, packed.parts, packed.index
    assert packed.noted is not None, "only called with notes"
    more: list[bytes] = []
    replaced = False
    for name in packed.noted:
        value = attrs.get(name)
        if value is None:
            return False
        entry = _pack(name) + _pack(value)
        at = index.get(name)
        if at is None:  # a new name: the dict put it last
            index[name] = len(names)
            names.append(name)
            values.append(value)
            parts.append(entry)
            more.append(entry)
        else:
            values[at] = value
            parts[at] = entry
            replaced = True
    if len(names) != len(attrs) or (names and next(reversed(attrs)) != names[-1]):
        return False
    if replaced:
        packed.body = b"".join(parts)
    elif more:
        packed.body += b"".join(more)
    return True


def _compared(packed: _Packed | None, attrs: dict) -> _Packed | None:
    """``packed`` brought up to ``attrs`` by comparing every name and value with its last packing;
    None (pack it whole) when an attribute was removed or reordered, or the dict is another."""
    if packed is None or packed.attrs is not attrs or len(packed.names) != len(packed.values):
        return None
    values = list(attrs.values())
    n = len(packed.values)
    if len(values) < n or list(islice(attrs, n)) != packed.names:
        return None
    parts = packed.parts
    if not all(map(is_, values, packed.values)):
        for i in compress(count(), map(is_not, values, packed.values)):  # the few values replaced
            parts[i] = _pack(packed.names[i]) + _pack(values[i])
        packed.body = b"".join(parts)
    if len(values) > n:
        more = [_pack(name) + _pack(value) for name, value in islice(attrs.items(), n, None)]
        parts += more
        packed.body += b"".join(more)
        for name in islice(attrs, n, None):
            packed.index[name] = len(packed.names)
            packed.names.append(name)
    packed.values = values
    return packed
