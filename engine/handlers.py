"""Event handlers, as PDG's: user functions called with an event object for event types they chose.

The log's events are translated into PDG event types (``work_item_add``, ``work_item_state_change``,
``cook_complete``, ...). Handlers run on the engine's loop, after the events they see have been
flushed to the log. A handler that raises is reported back as a cook warning naming the handler;
the cook goes on.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable

from pdgstore import events as ev
from pdgstore import reasons

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


def translate(event: ev.Event, before: str | None, node_of: Callable[[str], str], cook: Any = None) -> list[PdgEvent]:
    """The PDG events that one log event stands for (``before``: the item's state before it)."""
    base = dict(seq=event.seq, cook_id=event.cook_id, graph=event.graph, cook=cook)
    kind = event.kind
    if kind == "WorkItemGenerated":
        return [PdgEvent("work_item_add", event.node, event.item_id, before or "", event.state, **base)]
    if kind == "WorkItemStateChanged":
        return [
            PdgEvent(
                "work_item_state_change", node_of(event.item_id), event.item_id, before or "", event.state,
                event.message, **base,
            )
        ]
    if kind == "WorkItemCooked":
        node = node_of(event.item_id)
        out = []
        if event.attrs:
            out.append(PdgEvent("work_item_set_attribute", node, event.item_id, data=sorted(event.attrs), **base))
        if event.outputs:
            out.append(PdgEvent("work_item_output_files", node, event.item_id, data=[o[0] for o in event.outputs], **base))
        out.append(PdgEvent("work_item_state_change", node, event.item_id, before or "", event.state, event.error, **base))
        if event.state == "cooked_fail":
            out.append(PdgEvent("cook_error", node, event.item_id, message=event.error, **base))
        return out
    if kind == "JobStarted":
        return [PdgEvent("work_item_state_change", node_of(event.item_id), event.item_id, before or "", "cooking",
                         f"{event.scheduler} job, pid {event.pid}, attempt {event.attempt}", **base)]
    if kind == "JobEnded" and event.outcome == "retry":
        return [PdgEvent("work_item_state_change", node_of(event.item_id), event.item_id, before or "", "scheduled",
                         event.message, **base)]
    if kind == "WorkItemAttribSet":
        return [PdgEvent("work_item_set_attribute", node_of(event.item_id), event.item_id, data=[event.name], **base)]
    if kind == "WorkItemOutputAdded":
        return [PdgEvent("work_item_output_files", node_of(event.item_id), event.item_id,
                         data=[o[0] for o in event.outputs], **base)]
    if kind == "WorkItemDirtied":
        return [
            PdgEvent("work_item_state_change", node_of(event.item_id), event.item_id, before or "", "dirty",
                     reasons.describe(event.reason), data=dict(event.reason), **base)
        ]
    if kind == "WorkItemRemoved":
        return [PdgEvent("work_item_remove", node_of(event.item_id), event.item_id, message=event.reason, **base)]
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


class Handlers:
    """The handlers a graph registered, by event type."""

    def __init__(self, registrations: list[tuple[str, Callable, str | None]]) -> None:
        self.by_type: dict[str, list[tuple[Callable, str | None]]] = {}
        for event_type, fn, node in registrations:
            self.by_type.setdefault(event_type, []).append((fn, node))

    def __bool__(self) -> bool:
        return bool(self.by_type)

    def dispatch(self, pdg_event: PdgEvent) -> list[str]:
        """Call every handler for this event; return a warning sentence per handler that raised."""
        warnings = []
        for key in (pdg_event.type, "*"):
            for fn, node in self.by_type.get(key, ()):
                if node is not None and node != pdg_event.node:
                    continue
                try:
                    fn(pdg_event)
                except Exception as exc:  # a handler's bug must not stop the cook
                    name = getattr(fn, "__qualname__", repr(fn))
                    warnings.append(f"event handler {name} raised {type(exc).__name__}: {exc} (on {pdg_event.type})")
        return warnings
