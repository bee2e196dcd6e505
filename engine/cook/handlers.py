"""Event handlers, as PDG's: user functions called with an event object for event types they chose.

The log's events are translated into PDG event types by ``pdgstore.pdgevents`` (the same
translation ``pdg replay`` uses). Handlers run on the engine's loop, after the events they see have been
flushed to the log. A handler that raises is reported back as a cook warning naming the handler;
the cook goes on.
"""

from __future__ import annotations

from collections.abc import Callable

from pdgstore.engine.errors import error_line

from pdgstore.pdgevents import EVENT_TYPES, PdgEvent, translate

__all__ = ["EVENT_TYPES", "Handlers", "PdgEvent", "translate"]


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
                    warnings.append(f"event handler {name} raised {error_line(exc)} (on {pdg_event.type})")
        return warnings
