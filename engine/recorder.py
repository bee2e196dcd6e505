"""The engine's one way to change anything: make an event, apply it, queue it for the log.

``Recorder.emit`` stamps an event with the next ``seq``, the time and the cook, encodes it (so a
later change to its lists cannot reach the log), applies it to the live state with the same
``apply`` that replay uses, and keeps it in the pending batch. ``flush`` appends the batch in one
transaction; only then may anyone outside (the terminal, a handler, a job) hear of those events,
so ``flush`` hands back the events it wrote for the caller to announce.
"""

from __future__ import annotations

import time

from pdgstore import codec
from pdgstore.events import Event
from pdgstore.log import EventLog
from pdgstore.projection import APPLY
from pdgstore.state import State


class Recorder:
    def __init__(self, log: EventLog | None, state: State, *, graph: str = "", keep_events: bool = False,
                 dry_run: bool = False) -> None:
        self.log = log
        self.dry_run = dry_run  # apply to the (throw-away) state, never append: ``pdg cook --dry-run``
        self.state = state
        self.graph = graph
        self.cook_id = 0
        self.keep_events = keep_events
        self._rows: list[tuple] = []
        self._events: list[tuple[Event, str | None, str]] = []
        self._seq = log.next_seq if log is not None else state.seq + 1

    @property
    def pending(self) -> int:
        return len(self._rows)

    def emit(self, cls: type[Event], **fields) -> Event:
        event, row = codec.new_event(cls, self._seq, time.time_ns(), self.cook_id, self.graph, fields)
        self._seq += 1
        self._rows.append(row)
        if self.keep_events:
            item_id = getattr(event, "item_id", None)
            item = self.state.items.get(item_id) if item_id else None
            if item is None:
                self._events.append((event, None, ""))
            else:
                self._events.append((event, item.state, item.node))
        APPLY[event.kind](self.state, event)
        self.state.seq = event.seq
        return event

    def flush(self) -> list[tuple[Event, str | None, str]]:
        """Write the pending batch; return its events, each with its item's state and node before it."""
        if self._rows and self.dry_run:
            self._rows = []
        if self._rows:
            self.log.append_rows(self._rows)
            self.log.next_seq = self._seq
            self._rows = []
        written, self._events = self._events, []
        return written
