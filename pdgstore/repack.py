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
    and the entries joined."""

    __slots__ = ("names", "values", "parts", "body")

    def __init__(self, names: tuple, values: list, parts: list[bytes]) -> None:
        self.names, self.values, self.parts = names, values, parts
        self.body = b"".join(parts)


def _map_header(n: int) -> bytes:
    if n < 16:
        return bytes((0x80 | n,))
    if n < 1 << 16:
        return b"\xde" + n.to_bytes(2, "big")
    return b"\xdf" + n.to_bytes(4, "big")


class RowPacker:
    """``detail(item)``: ``tables.item_detail(item)``, remembering what it packed (see the module)."""

    def __init__(self) -> None:
        self._packed: dict[str, _Packed] = {}

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
        values = list(attrs.values())
        if packed is not None:
            n = len(packed.values)
            if len(values) < n or tuple(islice(attrs, n)) != packed.names:
                packed = None  # an attribute removed or reordered: pack it whole
        if packed is None:
            parts = [_pack(name) + _pack(value) for name, value in attrs.items()]
            packed = _Packed(tuple(attrs), values, parts)
        else:
            parts, n = packed.parts, len(packed.values)
            if not all(map(is_, values, packed.values)):
                for i in compress(count(), map(is_not, values, packed.values)):  # the few values replaced
                    parts[i] = _pack(packed.names[i]) + _pack(values[i])
                packed.body = b"".join(parts)
            if len(values) > n:
                more = [_pack(name) + _pack(value) for name, value in islice(attrs.items(), n, None)]
                parts += more
                packed.body += b"".join(more)
                packed.names = tuple(attrs)
            packed.values = values
        self._packed[item_id] = packed
        if len(self._packed) > MAX_ITEMS:
            del self._packed[next(iter(self._packed))]
        return _map_header(len(values)) + packed.body
