"""What a cancelled cook leaves out of date below the work it stopped, recorded dirty.

A cook stopped by Ctrl-C or SIGTERM records the items it made and did not finish cooked_cancel
(``Walk.unfinished``). The recorded items below them that the walk never reached keep the last
result they had, cooked_success, though what they were made from was about to change: ``pdg
status`` and ``pdg items`` said they were fine. Each such item is recorded dirty now
(``WorkItemDirtied`` with ``reasons.upstream_cancelled``, naming the cancelled item it is below),
so the tables, a replay of the log and ``pdg explain`` (the chain goes on through the cancelled
item to the change that made it run) all say so. The next cook decides such an item as the result
it holds (``engine.incremental.held``): rerun if what it depends on comes out otherwise, reused if
that comes out as before. Only items below cancelled work are marked: one below an item that
failed is left as a failed cook leaves it, and an item that was dirty, failed or cancelled already
says so.

What is read is what the walk knew could be reached, never the whole store: after a delta walk
(``engine.incremental.delta``) the affected items it did not make again; after a full walk, by
node, the recorded items of each node whose count says the walk did not make them all (the ids
from the store's index, an item read only when its node holds some the walk did not reach). A
partition the walk placed as recorded and that still waited for a cancelled member was not
decided either: it keeps its result, and is marked as the items it feeds are.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator

from pdgstore.engine.cook.recorder import Recorder
from pdgstore.engine.cook.walk import Walk

from pdgstore import events as ev
from pdgstore import reasons
from pdgstore.events import DONE_STATES


def mark_unreached(walk: Walk, recorder: Recorder) -> int:
    """Record dirty every recorded item below the work the cancelled cook of ``walk`` stopped that
    the walk did not reach (see the module docstring); how many it recorded."""
    items = walk.state.items
    cancelled = set(_cancelled(walk))
    if not cancelled:
        return 0
    below: dict[str, str] = {}  # item recorded dirty -> the cancelled item it is below
    waiting = _waiting(walk, cancelled)
    for item_id in _unreached(walk, waiting):
        item = items.get(item_id)
        if item is None or item.state not in DONE_STATES:
            continue
        cause = waiting.get(item_id) or next(_causes(item.parents, cancelled, below), None)
        if cause is None:
            continue
        below[item_id] = cause
        reason = reasons.upstream_cancelled(cause, walk.cook_id, item.state)
        recorder.emit(ev.WorkItemDirtied, item_id=item_id, reason=reason)
    return len(below)


def _waiting(walk: Walk, cancelled: set[str]) -> dict[str, str]:
    """The partitions the walk placed (as recorded, their result standing) that still waited for
    members when it stopped, each with a cancelled member it waited for (``Walk.member_of`` holds
    the members not cooked yet: a partition's list of members is not read)."""
    waiting: dict[str, str] = {}
    for member, partitions in walk.member_of.items():
        if member in cancelled:
            for partition_id in (partitions,) if isinstance(partitions, str) else partitions:
                waiting.setdefault(partition_id, member)
    return waiting


def _cancelled(walk: Walk) -> Iterator[str]:
    """The items this cook made (or recorded ahead) and recorded cancelled."""
    items = walk.state.items
    is_read = getattr(items, "is_read", None)  # an item let go of is settled (``engine.cook.holding``)
    for item_ids in [run.items for run in walk.runs.values()] + [walk.announced]:
        for item_id in item_ids:
            if is_read is not None and not is_read(item_id):
                continue
            item = items.get(item_id)
            if item is not None and item.state == "cooked_cancel" and item.cook_id == walk.cook_id:
                yield item_id


def _causes(parents: Iterable[str], cancelled: set[str], below: dict[str, str]) -> Iterator[str]:
    """The cancelled items that ``parents`` are, or are below (a partition's members are its parents)."""
    for parent in parents:
        if parent in cancelled:
            yield parent
        else:
            cause = below.get(parent)
            if cause is not None:
                yield cause


def _unreached(walk: Walk, waiting: dict[str, str]) -> Iterator[str]:
    """The recorded items of the walk's scope that the walk may have reached and did not decide,
    node by node, upstream first: those it did not make, and the partitions in ``waiting``."""
    graph, state = walk.graph, walk.state
    order = [name for name in graph.topological_order() if name in walk.runs]
    made = walk.runs
    if walk.affected is not None:  # the delta walk: what it found the change may reach
        rank = {name: i for i, name in enumerate(order)}
        items = state.items
        runs = [run.items for run in made.values()]
        left: list[tuple[int, str]] = []
        for item_id in (*walk.affected, *walk.taken_back, *waiting):
            if item_id not in waiting and any(item_id in ids for ids in runs):
                continue  # made and decided: not read again (it may have been let go of)
            item = items.get(item_id)
            if item is not None and item.node in made:
                left.append((rank[item.node], item_id))
        left.sort()
        yield from dict.fromkeys(item_id for _, item_id in left)  # (a partition may be affected and waiting)
        return
    for name in order:  # the full walk: by node, only where the walk did not make every item
        run = made[name]
        yield from (item_id for item_id in run.items if item_id in waiting)
        if state.item_count(graph.name, name) <= len(run.items):
            continue
        for item_id in list(state.node_items.get((graph.name, name), ())):
            if item_id not in run.items:
                yield item_id
