"""Work items a cook removed, found by id or name though the tables no longer hold them: ``pdg
events --item``, ``pdg history --item`` and ``pdg explain`` of an item whose node was renamed or
whose file is gone. The tables hold what exists; a removed item lives on in the log alone.

What a look-up costs:

- by id (or an id prefix of ``MIN_ID_PREFIX`` or more characters): the item's own events, a range
  of the subject index;
- by name, which the log does not index: the cooks that removed items (the cooks table's counts
  say which: one row per cook), newest first; of each, its ``WorkItemRemoved`` events (read through
  the cook index: the cook's rows, not the log's) and each removed item's events up to its removal
  (the subject index), for the name it had. It stops at the newest cook that removed an item of
  that name (of each graph, in a store of several), so the cost is that of the cooks that removed
  items since, never a pass over the whole log. A cook whose counts do not say (a cook that died,
  a store older than the count) is read as one that may have removed some.
"""

from __future__ import annotations

from dataclasses import dataclass

from pdgstore.errors import UnknownItem
from pdgstore.queries import MIN_ID_PREFIX, ambiguous, find_item, split_qualified
from pdgstore.readmodel import HIGH

_HEX = frozenset("0123456789abcdef")
_NAMING = ("WorkItemGenerated", "WorkItemRenumbered")


@dataclass(frozen=True)
class Removed:
    """A removed item: who it was when it went, and the cook and event (``seq``) that removed it."""

    item_id: str
    name: str
    node: str
    graph: str
    cook_id: int
    seq: int
    reason: str


def item_id_in_log(log, state, ref: str) -> str:
    """The id of the item ``ref`` names (``queries.find_item``'s forms): one the store holds, else
    one a cook removed (``find_removed``); the refusal is ``find_item``'s when it is neither."""
    try:
        return find_item(state, ref, summary=True).item_id
    except UnknownItem:
        gone = find_removed(log, state, ref)
        if gone is None:
            raise
        return gone.item_id


def find_removed(log, state, ref: str) -> Removed | None:
    """The removed item ``ref`` names (its id, an id prefix, or the name it had; ``GRAPH/`` before
    any of them), the newest removal of that name; None when the log shows none."""
    graph, name = split_qualified(ref)
    if len(name) >= MIN_ID_PREFIX and set(name) <= _HEX:
        removals = log.conn.execute(  # every id of the prefix with its last removal: one range of the index
            "SELECT subject, max(seq) FROM events"
            " WHERE subject >= ? AND subject < ? AND kind = 'WorkItemRemoved' GROUP BY subject",
            (name, name + HIGH),
        ).fetchall()
        found = [
            gone for gone in (_removal(log, i, seq) for i, seq in removals) if gone and graph in (None, gone.graph)
        ]
        if len(found) > 1:
            raise UnknownItem(f"item id prefix {ref} is ambiguous ({len(found)} removed items): give more of it")
        if found:
            return found[0]
    by_graph: dict[str, Removed] = {}
    for cook in reversed(state.cooks.values()):
        if cook.graph in by_graph or graph not in (None, cook.graph) or not cook.counts.get("removed", 1):
            continue
        rows = log.conn.execute(
            "SELECT seq, subject FROM events WHERE cook_id = ? AND kind = 'WorkItemRemoved' ORDER BY seq DESC",
            (cook.cook_id,),
        ).fetchall()
        for seq, item_id in rows:
            gone = _removal(log, item_id, seq)
            if gone is not None and gone.name == name:
                by_graph[gone.graph] = gone
                break
    if len(by_graph) > 1:
        raise ambiguous("removed work item", name, sorted(by_graph), also=" (or its item id)")
    return next(iter(by_graph.values()), None)


def _removal(log, item_id: str, seq: int) -> Removed | None:
    """``item_id`` as it was when the event at ``seq`` removed it, from one read of its events up to
    then: its name from its last naming event, its node from its generation (a renumbering names
    none; the id is of one node); None when there is none."""
    named = generated = removal = None
    for event in log.events(0, subject=item_id, until=seq, lazy=True):
        if event.kind in _NAMING:
            named = event
            if event.kind == "WorkItemGenerated":
                generated = event  # its fields decoded once, below
        elif event.kind == "WorkItemRemoved" and event.seq == seq:
            removal = event
    if named is None or removal is None:
        return None
    node = generated.node if generated is not None else ""
    return Removed(item_id, named.name, node, removal.graph, removal.cook_id, seq, removal.reason)
