"""The names a node's work items took in one cook, so that a new item never takes one twice.

Why not a set of the names: a cook keeps these to its end, after it let go of the items themselves
(``engine.cook.holding``), and a set held every name's string and a slot for it, about 165 bytes
per work item (330 MB at W(1,000,000), where the items are two million). Nearly every name is
``<node>_<N>`` with N the item's number, so those are kept as one bit of N each; any other name
(a suffixed one the walk made when N was taken, a delta walk's recorded name of another shape) is
kept as a string, in a set.
"""

from __future__ import annotations

#: numbers from here on are kept as strings: a bit per number up to one this high (8 MB of bits)
#: bounds what a node numbering its items sparsely (a wide fan-out of a wide fan-out) can cost
MAX_BIT = 1 << 26


class TakenNames:
    """A set of names (``add``, ``in``, ``len``) for the items of node ``node``."""

    __slots__ = ("_prefix", "_bits", "_other", "_count")

    def __init__(self, node: str) -> None:
        self._prefix = node + "_"
        self._bits = bytearray()
        self._other: set[str] = set()
        self._count = 0

    def _number(self, name: str) -> int | None:
        """N when ``name`` is ``<node>_<N>`` as the engine writes it (no sign, no leading zero)."""
        if not name.startswith(self._prefix):
            return None
        tail = name[len(self._prefix) :]
        if not (tail.isascii() and tail.isdigit()) or (tail[0] == "0" and tail != "0"):
            return None
        number = int(tail)
        return number if number < MAX_BIT else None

    def take_number(self, number: int) -> bool:
        """Take ``<node>_<number>``; False (nothing changed) when it was taken already."""
        if not 0 <= number < MAX_BIT:
            return self._take_other(f"{self._prefix}{number}")
        bits = self._bits
        at, bit = number >> 3, 1 << (number & 7)
        if at >= len(bits):
            bits.extend(bytes(max(at + 1 - len(bits), len(bits))))  # doubling: amortised growth
        elif bits[at] & bit:
            return False
        bits[at] |= bit
        self._count += 1
        return True

    def add(self, name: str) -> None:
        number = self._number(name)
        if number is not None:
            self.take_number(number)
        else:
            self._take_other(name)

    def _take_other(self, name: str) -> bool:
        """Take a name kept as a string; False when it was taken already."""
        if name in self._other:
            return False
        self._other.add(name)
        self._count += 1
        return True

    def __contains__(self, name: object) -> bool:
        if not isinstance(name, str):
            return False
        number = self._number(name)
        if number is None:
            return name in self._other
        at = number >> 3
        return at < len(self._bits) and bool(self._bits[at] & (1 << (number & 7)))

    def __len__(self) -> int:
        return self._count
