"""What a watcher tells whoever runs it (``pdg watch``, ``pdg schedule run --watch``): one frozen
message type per happening, handled by type.

``Watcher(report=...)`` calls ``report(message)`` with one of these, from the watcher's thread.
Each type has the ``kind`` it is known by in ``--json`` lines and logs, and ``data()``, its fields
as a dict.
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from typing import Any, ClassVar


@dataclass(frozen=True, slots=True)
class LiveMessage:
    """A message of a live service (this watcher, or the schedule service's
    ``engine.live.schedulemessages``): its ``kind`` names it in ``--json`` lines and logs."""

    kind: ClassVar[str] = ""

    def data(self) -> dict[str, Any]:
        return {f.name: getattr(self, f.name) for f in fields(self)}


@dataclass(frozen=True, slots=True)
class WatchMessage(LiveMessage):
    """What a watcher says."""


@dataclass(frozen=True, slots=True)
class Started(WatchMessage):
    """The first cook is done and the files are watched."""

    kind: ClassVar[str] = "started"
    files: int
    dirs: int
    mode: str  # native or poll
    poll_s: float
    graph: str
    store: str


@dataclass(frozen=True, slots=True)
class ChangeSeen(WatchMessage):
    """Watched files changed (verified by their stats); ``graph``: the graph file or its modules did
    (``graph_file``: the file itself; ``modules``: the local modules it imports that changed,
    relative to the project)."""

    kind: ClassVar[str] = "change"
    files: list
    count: int
    graph: bool
    verify_s: float
    graph_file: bool = False
    modules: list = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class CookStarting(WatchMessage):
    kind: ClassVar[str] = "cook_start"
    files: list
    message: str
    time: float  # time.perf_counter() when it starts


@dataclass(frozen=True, slots=True)
class Cooked(WatchMessage):
    kind: ClassVar[str] = "cook"
    summary: Any  # engine.cook.summary.CookSummary
    files: list
    message: str


@dataclass(frozen=True, slots=True)
class Ready(WatchMessage):
    """Watching again after a cook (the watch set brought up to date)."""

    kind: ClassVar[str] = "ready"
    files: int
    update_s: float


@dataclass(frozen=True, slots=True)
class GraphBroken(WatchMessage):
    """The graph file does not load; the watch goes on with the previous results."""

    kind: ClassVar[str] = "graph_error"
    message: str


@dataclass(frozen=True, slots=True)
class GraphReloaded(WatchMessage):
    kind: ClassVar[str] = "graph_reloaded"
    graph: str


@dataclass(frozen=True, slots=True)
class FellBack(WatchMessage):
    """The native observer failed: the watcher polls instead."""

    kind: ClassVar[str] = "fallback"
    message: str


@dataclass(frozen=True, slots=True)
class StoreBusy(WatchMessage):
    """Another process writes the store: the watcher waits for it."""

    kind: ClassVar[str] = "busy"
    message: str


@dataclass(frozen=True, slots=True)
class WatchError(WatchMessage):
    kind: ClassVar[str] = "error"
    message: str


@dataclass(frozen=True, slots=True)
class Stopped(WatchMessage):
    kind: ClassVar[str] = "stopped"
    cooks: int
    message: str
