"""What a row of the store's tables that is not what pdgstore writes raises while it is decoded.

One rule for every reader of an item's row (``tables.item_values``, ``readmodel.files_from_row``):
a ``DamagedRow`` that names the item, never a bare ``KeyError`` from deep in a decoder.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import msgpack

from pdgstore.errors import DamagedRow

#: what bytes that are not what we wrote raise while they are decoded or given to a record's fields
DECODE_ERRORS = (ValueError, TypeError, KeyError, IndexError, AttributeError, msgpack.UnpackException)


@contextmanager
def decoding(item_id: str) -> Iterator[None]:
    """Decode the row of work item ``item_id`` inside: what it raises becomes a ``DamagedRow``."""
    try:
        yield
    except DamagedRow:
        raise DamagedRow(f"the row of work item {item_id!r} cannot be decoded") from None
    except DECODE_ERRORS as exc:
        raise DamagedRow(
            f"the row of work item {item_id!r} is not what pdgstore writes ({type(exc).__name__})"
        ) from None
