"""What the schedule service tells whoever runs it (``pdg schedule run``): one frozen message type
per happening, handled by type, as the watcher's messages are (``engine.live.messages``).

``ScheduleService(report=...)`` calls ``report(message)`` with one of these, from the service's
thread or an APScheduler worker thread. Each type has the ``kind`` it is known by in ``--json``
lines (``"event"``), and ``data()``, its fields as a dict. Typed rather than ``(kind, dict)`` so a
misspelt kind or a missing field is an error where the message is made, not a silent no-op where
it is read.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

from pdgstore.engine.live.messages import LiveMessage


@dataclass(frozen=True, slots=True)
class ScheduleMessage(LiveMessage):
    """What the schedule service says."""


@dataclass(frozen=True, slots=True)
class ServiceStarted(ScheduleMessage):
    """The service read the store and runs its schedules."""

    kind: ClassVar[str] = "started"
    schedules: int
    store: str


@dataclass(frozen=True, slots=True)
class Missed(ScheduleMessage):
    """``count`` due times of ``schedule`` passed unrun (the service was down, or a fire came later
    than the misfire grace); ``message`` says whether the last one runs now."""

    kind: ClassVar[str] = "missed"
    schedule: str
    count: int
    message: str


@dataclass(frozen=True, slots=True)
class Fired(ScheduleMessage):
    """A due time of ``schedule`` came: its cook starts (``missed``: how many missed ones it stands for)."""

    kind: ClassVar[str] = "fired"
    schedule: str
    due_ns: int
    missed: int


@dataclass(frozen=True, slots=True)
class ScheduledCook(ScheduleMessage):
    """The cook of a fire ended; ``summary`` is its ``engine.cook.summary.CookSummary``."""

    kind: ClassVar[str] = "cook"
    schedule: str
    summary: Any


@dataclass(frozen=True, slots=True)
class Skipped(ScheduleMessage):
    """A due time of ``schedule`` was not cooked (the store or this process was busy, or the graph
    does not load); ``message`` says why."""

    kind: ClassVar[str] = "skipped"
    schedule: str
    message: str


@dataclass(frozen=True, slots=True)
class CookFailed(ScheduleMessage):
    """The cook of a fire could not run (a user's mistake, in one sentence)."""

    kind: ClassVar[str] = "error"
    schedule: str
    message: str


@dataclass(frozen=True, slots=True)
class ServiceStopped(ScheduleMessage):
    kind: ClassVar[str] = "stopped"
