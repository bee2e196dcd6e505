"""Long lists written as changes to the item's last ones: how a partition's events stay small.

Why: a partition's outputs and parents, and the inputs of the item a gather makes, hold one entry
per member. At W(100,000) that is 100,000 file records (5.5 MB); a one-change recook used to
write two events of that size (the partition's ``WorkItemCooked`` and the gather item's
``WorkItemGenerated``), though each differed from the item's last one in a single entry.

From payload v3 of those two kinds, an event may carry ``patched = {field: splices}`` instead of
the list itself: ``splices`` is ``[[start, stop, entries], ...]`` (ascending, not overlapping),
and the field's list is the item's list just before the event with ``base[start:stop]``
replaced by ``entries`` for each splice; the payload's own value of a patched field is ignored.
The fold (``pdgstore.projection``) resolves it against the state it folds into, so the state,
the tables, snapshots and ``pdg check`` never see a patch. The base is always the item's list
as the fold left it, so a replay, a live cook and ``--at`` (which folds an item's own events
from its first one) agree. A list is written as a patch only when the item already has one
of the same field, the list is long (``PATCH_FROM`` entries or more) and at most a quarter of
its entries change; otherwise it is written whole.

Readers of single events outside a fold (the data layer's follower) call ``resolve_from_log``: the
fold of the item's own earlier events, or, when ``pdg compact`` folded the item's first events into
its base snapshot, the state at the event (snapshot and replay: slow, and only then).
"""

from __future__ import annotations

from itertools import compress, count
from operator import ne

from pdgstore.codec import LazyList
from pdgstore.errors import StoreRefused
from pdgstore.itemlists import Spliced, Stored, as_list

#: kind -> the list fields that may be written as a patch
FIELDS: dict[str, tuple[str, ...]] = {
    "WorkItemCooked": ("outputs",),
    "WorkItemGenerated": ("parents", "inputs", "outputs"),
}
#: lists shorter than this are written whole (a patch saves nothing worth its indirection)
PATCH_FROM = 256


_listed = as_list  # a list, or one the fold left in its table or its event (``itemlists.as_list``)


def splices(old, new: list) -> list | None:
    """``new`` as changes to ``old``: ``[[start, stop, entries], ...]`` such that ``apply(old, it)
    == new``; None when it is not worth it (short, no base, or more than a quarter changed).

    Same length: one splice per run of changed entries. Another length (a member added or
    gone): one splice between the common head and the common tail."""
    m = len(new)
    if m < PATCH_FROM or old is None:
        return None
    old = _listed(old)
    n = len(old)
    if n == m:
        if old == new:
            return []
        changed = list(compress(count(), map(ne, old, new)))
        if len(changed) * 4 > m:
            return None
        out: list = []
        for i in changed:
            if out and out[-1][1] == i:
                out[-1][1] = i + 1
            else:
                out.append([i, i + 1])
        return [[start, stop, new[start:stop]] for start, stop in out]
    head = next(compress(count(), map(ne, old, new)), min(n, m))
    tail = next(compress(count(), map(ne, reversed(old), reversed(new))), min(n, m))
    tail = min(tail, n - head, m - head)
    entries = new[head : m - tail]
    if len(entries) * 4 > m:
        return None
    return [[head, n - tail, entries]]


class PatchedList(LazyList):
    """``apply(base, patch)`` of a base left lazy (an event's ``codec.PackedList``, or another
    patched one), made only when read: ``--at``'s fold of a partition through its patched events
    then decodes none of its million entries unless the answer shows them."""

    __slots__ = ("base", "patch")

    def __init__(self, base: LazyList, patch: list) -> None:
        super().__init__(patched_length(len(base), patch))  # checked now, as ``apply`` would: a bad patch is the log's
        self.base, self.patch = base, patch

    def _make(self) -> list:
        return apply(self.base.decode(), self.patch)


def patched_length(length: int, patch: list) -> int:
    """The length of a list of ``length`` entries once ``patch`` is applied; ValueError when a
    splice does not fit it (out of order, or past its end)."""
    pos, count = 0, length
    for start, stop, entries in patch:
        if start < pos or stop < start or stop > length:
            raise ValueError(f"splice [{start}, {stop}) does not fit a list of {length} entries after {pos}")
        count += len(entries) - (stop - start)
        pos = stop
    return count


def apply(base, patch: list) -> list:
    """The list ``splices`` described: ``base`` with each splice's range replaced (a lazy base
    gives a lazy list: ``PatchedList``)."""
    if isinstance(base, LazyList):
        return PatchedList(base, patch)  # type: ignore[return-value]  # a list when read
    if type(base) is Stored and all(stop - start == len(entries) for start, stop, entries in patch):
        patched_length(len(base), patch)  # checked now, as a whole list is below
        return Spliced(base, patch)  # type: ignore[return-value]  # a list when read; written a chunk at a time
    base = _listed(base)
    patched_length(len(base), patch)
    out: list = []
    pos = 0
    for start, stop, entries in patch:
        out += base[pos:start]
        out += entries
        pos = stop
    out += base[pos:]
    return out


def compact(kind: str, fields: dict, item) -> dict:
    """The ``patched`` map for an event of ``kind`` with ``fields`` about ``item`` (the state's
    item before the event, or None): the long lists that differ little from the item's."""
    if item is None:
        return {}
    patched = {}
    for name in FIELDS[kind]:
        new = fields.get(name)
        if new is not None and len(new) >= PATCH_FROM:
            patch = splices(getattr(item, name), new)
            if patch is not None:
                patched[name] = patch
    return patched


def resolve(event, item) -> None:
    """Give ``event`` (a decoded event with a ``patched`` map) its whole lists, from ``item``, its
    subject as the state held it just before the event, and empty its ``patched``: a decoded
    event is completed once, then reads like one written whole (folding it again is harmless)."""
    patched = event.patched
    if not patched:
        return
    values = vars(event)
    for name, patch in patched.items():
        try:
            if item is None:
                raise ValueError("the item does not exist before it")
            values[name] = apply(getattr(item, name), patch)
        except ValueError as err:
            raise StoreRefused(
                f"the log's event {event.seq} ({event.kind} of item {event.item_id}) changes the item's {name}, "
                f"which do not fit it ({err}): the log is corrupt"
            ) from None
    values["patched"] = {}


def resolve_from_log(log, event) -> None:
    """``resolve`` for an event read alone: its item just before it is the fold of the item's own
    events before it (the subject index; a chain of patches ends at the item's first list)."""
    if not getattr(event, "patched", None):
        return
    from pdgstore.projection import APPLY  # the fold imports this module
    from pdgstore.state import State

    state = State()
    for earlier in log.events(0, subject=event.item_id, until=event.seq - 1):
        if earlier.kind == "WorkItemGenerated" or getattr(earlier, "item_id", None) in state.items:
            APPLY[earlier.kind](state, earlier)
    item = state.items.get(event.item_id)
    if item is None and log.base_seq() > 0:  # its first events were folded into the compaction base
        item = log.state_at(event.seq - 1).items.get(event.item_id)
    resolve(event, item)
