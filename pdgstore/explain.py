"""``pdg explain``: why a work item ran (or was reused) in its graph's last cook that covered its
node (a cook of one node covers that node and what it needs), from the log alone.

The answer is a chain: the item's own decision, then the upstream item named by its reason's
``from_item``, and so on back to the root cause (an input file that changed, a parameter, new code)::

    concat_1 ran in cook 3 because its input out1/a.txt changed: size 4 -> 6, hash ... -> ...
      gather_1 was merged again in cook 3 because its members changed: changed upper_1
      upper_1 ran in cook 3 because its input in/a.txt changed: size 4 -> 6, hash ... -> ...
      files_1 was updated in cook 3 because its file in/a.txt changed: size 4 -> 6, hash ... -> ...

An item waiting dirty for the next cook is explained from the event that dirtied it: a cook of one
node records dirty what it remade feeds outside its scope (its reason names that item, and the chain
goes on in that cook), ``pdg dirty`` what a person named.

Each step reads only that item's events of that cook (the log's subject index), so the cost is the
length of the chain, not the size of the store.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from pdgstore import reasons
from pdgstore.errors import UnknownItem
from pdgstore.log import EventLog
from pdgstore.queries import JSON_SCHEMA, find_item, project_root
from pdgstore.removed import Removed, find_removed
from pdgstore.state import UNFINISHED_STATES

if TYPE_CHECKING:
    from pdgstore.readmodel import ReadState


def last_cook_of(log: EventLog, state: ReadState, graph: str, node: str | None = None) -> int | None:
    """The last cook of ``graph``; with ``node``, the last whose scope held it (a cook of one node
    cooks that node and what it needs: of another one's items it says nothing). A cook's scope is
    read from the definitions it recorded (its ``GraphLoaded``): the graph file may have changed
    its nodes' inputs since."""
    for cook in reversed(state.cooks.values()):
        if cook.graph != graph:
            continue
        if node is None or not cook.node:
            return cook.cook_id
        inputs = _inputs(log, state, graph, cook.cook_id)
        if inputs is None or node in _upstream(inputs, cook.node):
            return cook.cook_id
    return None


def _inputs(log: EventLog, state: ReadState, graph: str, cook_id: int) -> dict[str, list] | None:
    """Each node's inputs as cook ``cook_id`` recorded the graph (its ``GraphLoaded``, its first
    event); a cook whose events were compacted away, by the graph's latest recorded definitions;
    None when there are none."""
    nodes = _loaded(log, cook_id)
    if nodes is None:
        info = state.graphs.get(graph)
        if info is None:
            return None
        nodes = info.nodes
    return {d["name"]: d.get("inputs", []) for d in nodes}


def _loaded(log: EventLog, cook_id: int) -> list | None:
    """The node definitions cook ``cook_id`` recorded (its ``GraphLoaded``), None when its events
    were compacted away."""
    with log.read_errors():  # a cook's first event is its GraphLoaded: one row by the cook index
        first = log.conn.execute("SELECT min(seq) FROM events WHERE cook_id = ?", (cook_id,)).fetchone()[0]
    loaded = next(log.events(first - 1, until=first), None) if first is not None else None
    return loaded.payload()["nodes"] if loaded is not None and loaded.kind == "GraphLoaded" else None


def _new_reason(log: EventLog, state: ReadState, graph: str, node: str, cook_id: int) -> dict:
    """Why an item first generated in cook ``cook_id`` is new: its node too, when the graph's cook
    before recorded definitions without it (what that cook's ``node_changes`` found:
    ``reasons.node_added``); plainly new after none, or when that cook's events were compacted away."""
    cooks = reversed(state.cooks.values())
    before = next((c.cook_id for c in cooks if c.graph == graph and c.cook_id < cook_id), None)
    nodes = _loaded(log, before) if before is not None else None
    if nodes is not None and node not in {d["name"] for d in nodes}:
        return reasons.node_added(node)
    return reasons.new()


def _upstream(inputs: dict[str, list], node: str) -> set[str]:
    """``node`` and every node it takes items from, by the graph's recorded definitions."""
    seen, stack = set(), [node]
    while stack:
        name = stack.pop()
        if name not in seen:
            seen.add(name)
            stack.extend(inputs.get(name, ()))
    return seen


def explain(log: EventLog, state: ReadState, ref: str, here: Callable[[str], str] | None = None) -> dict:
    """Why item ``ref`` is as it is, back to the root cause (``here``: how reasons name files,
    ``reasons.shown``). An item a cook removed is told from its removal (``pdgstore.removed``)."""
    try:
        item = find_item(state, ref, summary=True)
    except UnknownItem:
        gone = find_removed(log, state, ref)
        if gone is None:
            raise
        return _removed(log, state, gone, reasons.shown(project_root(log, state, gone.graph), here))
    path = reasons.shown(project_root(log, state, item.graph), here)
    cook_id = last_cook_of(log, state, item.graph, item.node)
    if cook_id is None:
        raise UnknownItem(f"work item {item.name} has not been cooked")

    def name(item_id: str) -> str:
        known = state.item(item_id, summary=True)
        return known.name if known is not None else item_id

    chain = []
    seen = set()
    current: str | None = item.item_id
    if item.state == "dirty":
        step = _dirty_step(log, item, name, path)
        chain.append(step)
        seen.add(item.item_id)
        current = step["reason"].get("from_item")
        cook_id = step["cook_id"] or cook_id  # the chain goes on in the cook that dirtied it
    while current and current not in seen:
        seen.add(current)
        step = _step(log, state, current, cook_id, name, path)
        known = state.item(current, summary=True) if chain and step["action"] == "reuse" else None
        if known is not None and 0 < known.cook_id < cook_id:
            # named upstream, yet reused: a cook of one node before remade it, and the change is there
            cook_id = known.cook_id
            step = _step(log, state, current, cook_id, name, path)
        chain.append(step)
        current = step["reason"].get("from_item") if step["reason"] else None
    text = [("  " if i else "") + step["text"] for i, step in enumerate(chain)]
    return {
        "schema": JSON_SCHEMA,
        "cook_id": cook_id,
        "item_id": item.item_id,
        "name": item.name,
        "chain": chain,
        "text": "\n".join(text),
    }


def _removed(log: EventLog, state: ReadState, gone: Removed, path) -> dict:
    """The answer for an item a cook removed: that cook's step, which says why it went."""

    def name(item_id: str) -> str:
        known = state.item(item_id, summary=True)
        return gone.name if item_id == gone.item_id else known.name if known is not None else item_id

    step = {**_step(log, state, gone.item_id, gone.cook_id, name, path), "node": gone.node}
    return {
        "schema": JSON_SCHEMA,
        "cook_id": gone.cook_id,
        "item_id": gone.item_id,
        "name": gone.name,
        "chain": [step],
        "text": step["text"],
    }


def _step(log: EventLog, state: ReadState, item_id: str, cook_id: int, name, path=str) -> dict:
    item = state.item(item_id, summary=True)
    # the item's events of that cook, but its generation undecoded: a gather's carries every input
    events = list(log.events(0, subject=item_id, cook_id=cook_id, skip_kind="WorkItemGenerated", lazy=True))
    dirtied = next((e for e in reversed(events) if e.kind == "WorkItemDirtied"), None)
    cooked = next((e for e in reversed(events) if e.kind == "WorkItemCooked"), None)
    generated = log.first_seq_of(item_id, cook_id=cook_id, kind="WorkItemGenerated")
    removed = next((e for e in events if e.kind == "WorkItemRemoved"), None)
    # it ran: it was set cooking (in-process) or its job started (out of process: no cooking event)
    ran = any(e.kind == "JobStarted" or (e.kind == "WorkItemStateChanged" and e.state == "cooking") for e in events)
    cancelled = any(getattr(e, "state", "") == "cooked_cancel" for e in events)
    label = name(item_id)
    reason = dict(dirtied.reason) if dirtied is not None else {}
    if removed is not None:
        action, clause = "removed", f"was removed in cook {cook_id}: {removed.reason}"
    elif cooked is not None and cooked.state == "cooked_fail":
        action, clause = "failed", f"failed in cook {cook_id}: {cooked.error}"
    elif cancelled:
        action, clause = "cancelled", f"was cancelled in cook {cook_id}"
    elif cooked is not None and cooked.state == "cooked_cache":
        mode = cooked.reason.get("cache_mode", "automatic")
        action = "cache"
        clause = (
            f"was cooked from cache in cook {cook_id} (cache mode {mode}): its expected files passed the cache check"
        )
    elif cooked is not None and cooked.reason.get("accepted"):
        action, clause = "reuse", f"was reused in cook {cook_id}: its files were accepted by hand"
    elif cooked is not None and cooked.reason.get("kept"):  # held below a cancel (``reasons.upstream_cancelled``)
        held = cooked.reason
        action = "reuse"
        clause = (
            f"was reused in cook {cook_id}: what it depends on came out as before once"
            f" {name(held.get('from_item', ''))}, which cook {held.get('cook', '')} was cancelled before, ran again"
        )
    elif cooked is not None and cooked.reason.get("cause") == "script_named":  # (``scriptpath.signed_as_recorded``)
        action, reason = "update", dict(cooked.reason)
        because = reasons.describe(reason, name, path)
        clause = f"was recorded again in cook {cook_id} without running: {because}, so its results stand"
    elif dirtied is not None or generated is not None or cooked is not None:
        if not reason and (
            (generated is not None and log.first_seq_of(item_id) == generated)
            or (cooked is not None and log.first_seq_of(item_id, kind="WorkItemCooked") == cooked.seq)
        ):
            # generated in this cook, or ahead of it (static) and cooked first now
            reason = _new_reason(log, state, item.graph, item.node, cook_id) if item is not None else reasons.new()
        attempts = max((e.attempt for e in events if e.kind == "JobStarted"), default=1)
        tries = f" (its job started {attempts} times)" if attempts > 1 else ""
        # the cook has not recorded its end (still cooking, or the cook died): what it was set to do
        unfinished = cooked is None and item is not None and item.cook_id == cook_id and item.state in UNFINISHED_STATES
        if unfinished:
            action, verb = ("run", "started running") if ran else ("pending", "was scheduled to run")
        elif ran:
            action, verb = "run", "ran"
        elif item is not None and _merges(state, item_id) and cooked is not None:
            action, verb = "update", "was merged again"
        else:
            action, verb = "update", "was updated"
        because = reasons.describe(reason, name, path) if reason else "what it was made from changed"
        clause = f"{verb} in cook {cook_id}{tries} because {because}"
    elif item is not None and item.cook_id < cook_id:
        action = "reuse"
        clause = f"was reused in cook {cook_id}: nothing it depends on changed since cook {item.cook_id}"
    else:
        action, clause = "none", f"was not part of cook {cook_id}"
    return {
        "item_id": item_id,
        "name": label,
        "node": item.node if item is not None else None,  # "no value" is null in --json, never ""
        "cook_id": cook_id,
        "action": action,
        "cache_state": reason.get("cache_state", "clean" if action == "reuse" else None),
        "reason": reason,
        "text": f"{label} {clause}",
    }


def _dirty_step(log: EventLog, item, name, path=str) -> dict:
    """The step of an item that waits dirty for the next cook: why, from its last ``WorkItemDirtied``
    (``cook_id`` 0 when it was dirtied by hand, between cooks)."""
    dirtied = None
    for event in log.events(0, subject=item.item_id, skip_kind="WorkItemGenerated", lazy=True):
        if event.kind == "WorkItemDirtied":
            dirtied = event
    reason = dict(dirtied.reason) if dirtied is not None else {}
    cook_id = dirtied.cook_id if dirtied is not None else 0
    because = reasons.describe(reason, name, path) if reason else "it was dirtied"
    by = f" by cook {cook_id}" if cook_id else ""
    return {
        "item_id": item.item_id,
        "name": item.name,
        "node": item.node,
        "cook_id": cook_id or None,  # None: dirtied by hand, outside a cook
        "action": "dirty",
        "cache_state": reason.get("cache_state", "dirty_always"),
        "reason": reason,
        "text": f"{item.name} was dirtied{by} and {_next_cook(reason)} at the next cook: {because}",
    }


def _next_cook(reason: dict) -> str:
    """What the next cook does with a dirty item: one below a cancel (``reasons.upstream_cancelled``)
    runs only if what it depends on comes out otherwise (``engine.incremental.decide.held``)."""
    return "is checked again" if reason.get("cause") == "upstream_cancelled" else "runs"


def _merges(state: ReadState, item_id: str) -> bool:
    """Whether the item is a partition's: it has parents and no input files of its own."""
    parents, inputs = state.item_sizes(item_id)
    return parents > 0 and inputs == 0
