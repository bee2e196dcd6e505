"""PDG's event types, made from the log's events: what event handlers receive, live or replayed.

PDG tells handlers about work items and nodes with a live stream of typed events
(``work_item_add``, ``work_item_state_change``, ``cook_complete``, ...). Here they are derived from
the log's events by ``translate``, a pure function of one log event and the state of its work item
just before it; so the live engine (after each flush) and a replay of the log (``replay_events``)
produce exactly the same sequence for the same events.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Iterator

from pdgstore import events as ev
from pdgstore import reasons
from pdgstore.projection import APPLY
from pdgstore.state import State

EVENT_TYPES = (
    "work_item_add",
    "work_item_remove",
    "work_item_state_change",
    "work_item_set_attribute",
    "work_item_output_files",
    "node_generated",
    "node_cooked",
    "node_dirty",
    "cook_start",
    "cook_complete",
    "cook_error",
    "cook_warning",
)


@dataclass(frozen=True, slots=True)
class PdgEvent:
    """What a handler receives. ``cook`` is the running cook (``event.cook.cancel()`` stops it)."""

    type: str
    node: str = ""
    work_item_id: str = ""
    last_state: str = ""
    current_state: str = ""
    message: str = ""
    seq: int = 0
    cook_id: int = 0
    graph: str = ""
    data: Any = None
    cook: Any = None


def translate(event: ev.Event, before: str | None, node: str, cook: Any = None) -> list[PdgEvent]:
    """The PDG events that one log event stands for.

    ``before`` and ``node`` are the state and node of the event's work item just before the event
    (None and '' when it has none): the live engine and a replay both know them at that moment.
    """
    base = dict(seq=event.seq, cook_id=event.cook_id, graph=event.graph, cook=cook)
    kind = event.kind
    if kind == "WorkItemGenerated":
        return [PdgEvent("work_item_add", event.node, event.item_id, before or "", event.state, **base)]
    if kind == "WorkItemStateChanged":
        return [
            PdgEvent(
                "work_item_state_change", node, event.item_id, before or "", event.state,
                event.message, **base,
            )
        ]
    if kind == "WorkItemCooked":
        node = node
        out = []
        if event.attrs:
            out.append(PdgEvent("work_item_set_attribute", node, event.item_id, data=sorted(event.attrs), **base))
        if event.outputs:
            out.append(PdgEvent("work_item_output_files", node, event.item_id, data=[o[0] for o in event.outputs], **base))
        out.append(PdgEvent("work_item_state_change", node, event.item_id, before or "", event.state, event.error, **base))
        if event.state == "cooked_fail":
            out.append(PdgEvent("cook_error", node, event.item_id, message=event.error, **base))
        return out
    if kind == "WorkItemDirtied":
        return [
            PdgEvent("work_item_state_change", node, event.item_id, before or "", "dirty",
                     reasons.describe(event.reason), data=dict(event.reason), **base)
        ]
    if kind == "WorkItemRemoved":
        return [PdgEvent("work_item_remove", node, event.item_id, message=event.reason, **base)]
    if kind == "NodeGenerated":
        return [PdgEvent("node_generated", event.node, data=event.count, **base)]
    if kind == "NodeCooked":
        return [PdgEvent("node_cooked", event.node, **base)]
    if kind == "NodeDirtied":
        return [PdgEvent("node_dirty", event.node, message=event.reason, **base)]
    if kind == "CookStarted":
        return [PdgEvent("cook_start", event.node, **base)]
    if kind == "CookFinished":
        return [PdgEvent("cook_complete", message=event.message, data=event.status, **base)]
    if kind == "CookWarning":
        return [PdgEvent("cook_warning", message=event.message, **base)]
    return []


def replay_events(events, state: State, types: frozenset[str] | None = None) -> Iterator[PdgEvent]:
    """Fold ``events`` into ``state`` and yield the PDG events each one stands for, in order.

    ``state`` must be the state just before the first event (``EventLog.state_at``); it is advanced
    as the events go by, so memory stays that of one state however many events are replayed.
    """
    items = state.items
    for event in events:
        item_id = getattr(event, "item_id", None)
        item = items.get(item_id) if item_id else None
        before, node = (item.state, item.node) if item is not None else (None, "")
        APPLY[event.kind](state, event)
        state.seq = event.seq
        for pdg_event in translate(event, before, node):
            if types is None or pdg_event.type in types:
                yield pdg_event
