"""A wait-for-all merged again after a few of its members were remade, without reading the rest.

Why: a recook after one input changed reruns one chain, and the wait-for-all over a million items
then merged its partition from every member, read from its row (a third of such a recook, with the
signature made again over every member). The delta walk places that partition with its recorded
members (``as_recorded.place``: the same ones, in the same order); a member it did not reach is the
one recorded, so what the partition holds changes only where a remade member's record did. Its
signature is a sum of one term per member (``signatures.partition_signature``), patched for the
remade ones; its files are the recorded list with each remade member's files put in place of the
ones it had; its attributes are the recorded ones when no remade member's attributes changed.

New members that come after every recorded one (a file pattern's new files that sort last, and
their chains: ``as_recorded.place``) are merged in the same way (``_grown_by``): their files after
the others, their attributes where no member before set them, the signature's count term made
again and their terms added; its reason and events are those ``decide.merged`` gives a partition
whose members changed.

The remade members' records from before this cook are kept by ``Items`` (``before``: a delta
walk's only, each the few items it decided to make again). A partition a cook of one node left
dirty, having remade some of its members (``engine.incremental.vouch``), carries their records
from before in its reason (``was``): those members count as remade here, with those records.

Anything this cannot prove (another node type, merge rules or signature scheme, a member's files
not found once and only once in the partition's list, a member with no record from before)
leaves the merge to ``Items.merge``, which reads every member. ``tests/test_inplace_merge.py``
compares the two, event for event.
"""

from __future__ import annotations

from typing import NamedTuple

from pdgstore.engine.graph.nodes import Partitioner, WaitForAll
from pdgstore.engine.incremental import decide, signatures

from pdgstore import events as ev
from pdgstore.events import DONE_STATES, PATH

#: the most remade members whose records from before a partition left dirty by a cook of one node
#: carries in its event (``engine.incremental.vouch``): more, and it is merged from every member
MAX_CHANGED = 64
#: remade members up to which each is looked up in the partition's lists one by one; more, and the
#: lists are gone over once for all of them
FEW = 8


class Was(NamedTuple):
    """A member's record from before this cook remade it: what its partition's merge and signature
    read of it (``signatures.member_term``)."""

    item_id: str
    outputs: list
    attrs: dict


def merge(items, node, item, prev) -> decide.Decision | None:
    """The decision ``Items.merge`` would make for ``item`` (a wait-for-all's partition placed as
    recorded, ``prev`` its record), from the remade members alone; None when it cannot be proven
    so (see the module)."""
    before = items.before
    stale = dirty_was(prev)
    kept, added = _grown(item, prev)
    grown = item is not prev
    if (
        before is None
        or (grown and (stale is not None or item.attrs))  # (own attributes would go last: made again)
        or (grown and kept == len(prev.parents) and not added)  # (the same members: another record)
        or type(node) is not WaitForAll
        or type(node).merged is not Partitioner.merged
        or node.merge_output_files not in ("all", "none")
        or (stale is None and (prev.state not in DONE_STATES or prev.reason))
        or not prev.signature.startswith(signatures.PARTITION_SCHEME)
        or node.name in items.node_reasons
    ):
        return None
    state, inputs = items.state, set(node.inputs)
    new = set(added)
    remade = [
        i for i in items.settle.remade if i not in new and (m := state.items.get(i)) is not None and m.node in inputs
    ]
    if stale:  # what the partition recorded of them is what they were before the cook that left it dirty
        before = {**before, **stale}
        remade = [*stale, *(i for i in remade if i not in stale)]
    parents = list(prev.parents)
    if not (remade or grown) or len(remade) * 2 > len(parents):
        return None  # (most members remade: merging every member costs no more)
    places = _single_places(parents, remade)
    changes = []  # (place, before, after)
    for member_id in remade:
        was = before.get(member_id)
        place = places.get(member_id, -1)
        if was is None or place < 0 or place >= kept:
            return None  # no record from before, or not among the members once
        now = state.items[member_id]
        if node.merge_input_attributes and was.attrs != now.attrs:
            return None  # the merged attributes may change anywhere: made again from every member
        changes.append((place, was, now))
    changes.sort(key=lambda change: change[0])
    outputs = list(prev.outputs)
    if node.merge_output_files == "all":
        placed = _files_in_place(outputs, changes)
        if placed is None:
            return None
        outputs = placed
    signature = signatures.patched_partition_signature(prev.signature, changes)
    if signature is None:
        return None
    if grown:
        gone = [before.get(i) for i in prev.parents[kept:]]  # (``Items.removed`` kept their records)
        if None in gone:
            return None
        return _grown_by(items, node, item, prev, (kept, gone, [state.items[i] for i in added]), outputs, signature)
    changed = [now.item_id for _place, _was, now in changes]
    if stale and signature == prev.signature:
        return None  # a dirty partition is not reused in place: ``Items.merge`` decides it
    return decide.merged_in_place(prev, changed, dict(prev.attrs), outputs, signature)


def _grown(item, prev) -> tuple[int, list[str]]:
    """How many members ``item`` (the partition as placed now: ``as_recorded.place``) holds first
    as ``prev`` (its record from before) does, and those it holds after them (the rest of
    ``prev``'s are gone): all and none when it is ``prev`` itself."""
    if item is prev:
        return len(prev.parents), []
    now, was = item.parents, prev.parents
    kept = next((i for i, (a, b) in enumerate(zip(now, was)) if a != b), min(len(now), len(was)))
    return kept, list(now[kept:])


def _grown_by(items, node, item, prev, change: tuple, outputs: list, signature: str) -> decide.Decision | None:
    """What ``decide.merged`` decides for a partition whose first ``kept`` members are ``prev``'s
    (``outputs`` and ``signature``: its merge and signature patched for those remade), the rest of
    ``prev``'s ``gone`` (their records from before) and ``added`` after them (``change``): the
    files of the kept ones, then theirs; the attributes where no member before set them (the
    first value wins); the signature patched for its count and the members' terms."""
    kept, gone, added = change
    attrs = dict(prev.attrs)
    if node.merge_input_attributes and any(not _no_copy(attr) for was in gone for attr in was.attrs.values()):
        return None  # an attribute a gone member set may be set by no member kept: merged again
    if node.merge_output_files == "all":
        tail = [o for was in gone for o in was.outputs]
        if tail != outputs[len(outputs) - len(tail) :]:
            return None  # (the gone members' files are not where merging them puts them)
        outputs = outputs[: len(outputs) - len(tail)]
    if node.merge_input_attributes:
        for member in added:
            for name, attr in member.attrs.items():
                if name not in attrs and not _no_copy(attr):
                    attrs[name] = attr
    if node.merge_output_files == "all":
        outputs = outputs + [o for member in added for o in member.outputs]
    fp = items.node_fp[node.name]
    signature = signatures.grown_partition_signature(signature, fp, item.attrs, len(prev.parents), change)
    made = decide.merged_in_place(prev, [], attrs, outputs, signature)
    if made.result is None:
        return None  # (its signature as before: a count's term collided) ``Items.merge`` decides it
    reason = decide.stale_reason(prev, None) or signatures.why_members(
        prev.parents, list(item.parents), items.settle.remade
    )
    return made._replace(reason=reason, events=((ev.WorkItemDirtied, {"item_id": item.item_id, "reason": reason}),))


def _no_copy(attr) -> bool:
    return len(attr) > 2 and "NoCopy" in attr[2]


def dirty_was(prev) -> dict[str, Was] | None:
    """The records from before of the members a cook of one node remade, of a partition it left
    dirty for them (``decide.stale_members``); None for any other item."""
    stale = decide.stale_members(prev)
    if stale is None:
        return None
    return {member_id: Was(member_id, list(outputs), dict(attrs)) for member_id, outputs, attrs in stale}


def _files_in_place(outputs: list, changes: list) -> list | None:
    """The partition's files (every member's, in member order) with each changed member's files
    in place of the ones it had; None when one's files are not found in the list once, in a
    place that keeps the members' order."""
    firsts = [was.outputs[0][PATH] if was.outputs else None for _place, was, _now in changes]
    if None in firsts:
        return None  # a member that held no file: where its new ones go is not known
    paths = [record[PATH] for record in outputs]
    places = _single_places(paths, firsts)
    spans: list[tuple[int, int, list]] = []
    for (_place, was, now), first in zip(changes, firsts, strict=True):
        old = list(was.outputs)
        at = places.get(first)
        if at is None or at < 0:
            return None  # not in the list, or in it twice
        if outputs[at : at + len(old)] != old:
            return None
        if spans and spans[-1][0] + spans[-1][1] > at:
            return None  # out of the members' order, or overlapping: not what merging them gives
        spans.append((at, len(old), list(now.outputs)))
    for at, length, new in reversed(spans):
        outputs[at : at + length] = new
    return outputs


def _single_places(values: list, wanted: list) -> dict:
    """value -> the place of its only occurrence in ``values``, for each of ``wanted`` found there
    (-1 for one found twice or more): a lookup each for a few, one pass over ``values`` for more."""
    if len(wanted) <= FEW:
        found = {}
        for value in wanted:
            if value in found:
                continue
            try:
                at = values.index(value)
            except ValueError:
                continue
            found[value] = at if values.count(value) == 1 else -1
        return found
    want = set(wanted)
    places: dict = {}
    for at, value in enumerate(values):
        if value in want:
            places[value] = -1 if value in places else at
    return places
