"""PDG's event types, made from the log's events: what event handlers receive, live or replayed.

PDG tells handlers about work items and nodes with a live stream of typed events
(``work_item_add``, ``work_item_state_change``, ``cook_complete``, ...). Here they are derived from
the log's events by ``translate``, a pure function of one log event and the state of its work item
just before it; so the live engine (after each flush) and a replay of the log (``replay_events``)
produce exactly the same sequence for the same events.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any, NamedTuple

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


class PdgEvent(NamedTuple):
    """What a handler receives. ``cook`` is the running cook (``event.cook.cancel()`` stops it); None
    in a replay. Immutable, and a tuple underneath: a replay makes hundreds of thousands of them."""

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

    # PDG's spelling of the same fields (``pdg.Event``)
    @property
    def workItemId(self) -> str:  # noqa: N802
        return self.work_item_id

    @property
    def lastState(self) -> str:  # noqa: N802
        return self.last_state

    @property
    def currentState(self) -> str:  # noqa: N802
        return self.current_state


def translate(event: ev.Event, before: str | None, node: str, cook: Any = None) -> list[PdgEvent]:
    """The PDG events that one log event stands for.

    ``before`` and ``node`` are the state and node of the event's work item just before the event
    (None and '' when it has none): the live engine and a replay both know them at that moment.
    """
    make = _MAKERS.get(event.kind)
    return make(event, before or "", node, cook) if make is not None else []


def _generated(e, before, node, cook):
    return [PdgEvent("work_item_add", e.node, e.item_id, before, e.state, "", e.seq, e.cook_id, e.graph, None, cook)]


def _state_changed(e, before, node, cook):
    return [
        PdgEvent(
            "work_item_state_change", node, e.item_id, before, e.state, e.message, e.seq, e.cook_id, e.graph, None, cook
        )
    ]


def _cooked(e, before, node, cook):
    seq, cook_id, graph, item_id = e.seq, e.cook_id, e.graph, e.item_id
    out = []
    if e.attrs:
        out.append(
            PdgEvent("work_item_set_attribute", node, item_id, "", "", "", seq, cook_id, graph, sorted(e.attrs), cook)
        )
    if e.outputs:
        out.append(
            PdgEvent(
                "work_item_output_files",
                node,
                item_id,
                "",
                "",
                "",
                seq,
                cook_id,
                graph,
                [o[0] for o in e.outputs],
                cook,
            )
        )
    out.append(
        PdgEvent("work_item_state_change", node, item_id, before, e.state, e.error, seq, cook_id, graph, None, cook)
    )
    if e.state == "cooked_fail":
        out.append(PdgEvent("cook_error", node, item_id, "", "", e.error, seq, cook_id, graph, None, cook))
    return out


def _dirtied(e, before, node, cook):
    return [
        PdgEvent(
            "work_item_state_change",
            node,
            e.item_id,
            before,
            "dirty",
            reasons.describe(e.reason),
            e.seq,
            e.cook_id,
            e.graph,
            dict(e.reason),
            cook,
        )
    ]


def _removed(e, before, node, cook):
    return [PdgEvent("work_item_remove", node, e.item_id, "", "", e.reason, e.seq, e.cook_id, e.graph, None, cook)]


def _job_started(e, before, node, cook):
    return [
        PdgEvent(
            "work_item_state_change",
            node,
            e.item_id,
            before,
            "cooking",
            f"{e.scheduler} job, pid {e.pid}, attempt {e.attempt}",
            e.seq,
            e.cook_id,
            e.graph,
            None,
            cook,
        )
    ]


def _job_ended(e, before, node, cook):
    if e.outcome != "retry":
        return []  # the item's WorkItemCooked tells how it ended
    return [
        PdgEvent(
            "work_item_state_change",
            node,
            e.item_id,
            before,
            "scheduled",
            e.message,
            e.seq,
            e.cook_id,
            e.graph,
            None,
            cook,
        )
    ]


def _attrib_set(e, before, node, cook):
    return [PdgEvent("work_item_set_attribute", node, e.item_id, "", "", "", e.seq, e.cook_id, e.graph, [e.name], cook)]


def _output_added(e, before, node, cook):
    return [
        PdgEvent(
            "work_item_output_files",
            node,
            e.item_id,
            "",
            "",
            "",
            e.seq,
            e.cook_id,
            e.graph,
            [o[0] for o in e.outputs],
            cook,
        )
    ]


def _about_node(pdg_type: str, message: str = "", data: str = ""):
    def make(e, before, node, cook):
        return [
            PdgEvent(
                pdg_type,
                e.node,
                "",
                "",
                "",
                getattr(e, message) if message else "",
                e.seq,
                e.cook_id,
                e.graph,
                getattr(e, data) if data else None,
                cook,
            )
        ]

    return make


def _about_cook(pdg_type: str, data: str = ""):
    def make(e, before, node, cook):
        return [
            PdgEvent(
                pdg_type, "", "", "", "", e.message, e.seq, e.cook_id, e.graph, getattr(e, data) if data else None, cook
            )
        ]

    return make


_MAKERS = {
    "WorkItemGenerated": _generated,
    "WorkItemStateChanged": _state_changed,
    "WorkItemCooked": _cooked,
    "WorkItemDirtied": _dirtied,
    "WorkItemRemoved": _removed,
    "JobStarted": _job_started,
    "JobEnded": _job_ended,
    "WorkItemAttribSet": _attrib_set,
    "WorkItemOutputAdded": _output_added,
    "NodeGenerated": _about_node("node_generated", data="count"),
    "NodeCooked": _about_node("node_cooked"),
    "NodeDirtied": _about_node("node_dirty", message="reason"),
    "CookStarted": _about_node("cook_start"),
    "CookFinished": _about_cook("cook_complete", data="status"),
    "CookWarning": _about_cook("cook_warning"),
}


#: events folded between two words to ``replay_events``'s ``report``
REPORT_EVERY = 10_000


def replay_events(
    events,
    state: State,
    types: frozenset[str] | None = None,
    report: Callable[[str, int, int], None] | None = None,
    last: int = 0,
) -> Iterator[PdgEvent]:
    """Fold ``events`` into ``state`` and yield the PDG events each one stands for, in order.

    ``state`` must be the state just before the first event (``EventLog.state_at``); it is advanced
    as the events go by, so memory stays that of one state however many events are replayed.
    ``report`` hears the seq reached (of ``last``) every ``REPORT_EVERY`` events, however few of
    them ``types`` lets through.
    """
    items = state.items
    for n, event in enumerate(events, 1):
        if report is not None and n % REPORT_EVERY == 0:
            report("replaying events (seq)", event.seq, last)
        item_id = getattr(event, "item_id", None)
        item = items.get(item_id) if item_id else None
        before, node = (item.state, item.node) if item is not None else (None, "")
        APPLY[event.kind](state, event)
        state.seq = event.seq
        for pdg_event in translate(event, before, node):
            if types is None or pdg_event.type in types:
                yield pdg_event
