"""What a row of the store's tables that is not what pdgstore writes raises while it is decoded.

One rule for every reader of an item's row (``tables.item_values``, ``readmodel.files_from_row``):
a ``DamagedRow`` that names the item, never a bare ``KeyError`` from deep in a decoder.
(``DamagedRow`` is a ``ValueError``: caught with ``DECODE_ERRORS``.)
"""

from __future__ import annotations

import msgpack

from pdgstore.errors import DamagedRow

#: what bytes that are not what we wrote raise while they are decoded or given to a record's fields
DECODE_ERRORS = (ValueError, TypeError, KeyError, IndexError, AttributeError, msgpack.UnpackException)


def damaged(item_id: str, exc: Exception) -> DamagedRow:
    """The ``DamagedRow`` to raise for what decoding the row of work item ``item_id`` raised (one of
    ``DECODE_ERRORS``; a ``DamagedRow`` is one too), in place of it: ``raise damaged(...) from None``.
    A ``try`` costs nothing until it raises, where a context manager around each of a million rows
    cost a watcher's start a tenth of its time."""
    if isinstance(exc, DamagedRow):
        return DamagedRow(f"the row of work item {item_id!r} cannot be decoded")
    return DamagedRow(f"the row of work item {item_id!r} is not what pdgstore writes ({type(exc).__name__})")
