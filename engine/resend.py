"""``pdg replay``: feed recorded events to an event handler, as it would have received them live.

The handler is named ``module:function`` (a module importable from the current directory, or a
path to a Python file). Replaying reads the store only: it never runs work items or touches the
user's files; the only code it runs is the handler's.
"""

from __future__ import annotations

import importlib
import importlib.util
import os
import sys
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from pdgstore.engine.errors import PdgError, error_line

from pdgstore.log import EventLog
from pdgstore.pdgevents import EVENT_TYPES


class BadHandler(PdgError):
    """A ``--handler`` that cannot be imported or is not a function."""

    exit_code = 2


@dataclass
class ReplayResult:
    events: int = 0
    delivered: int = 0
    errors: list[str] = field(default_factory=list)


def load_handler(spec: str) -> Callable:
    """The function ``spec`` names: ``package.module:function`` or ``path/to/file.py:function``."""
    module_name, sep, attr = spec.rpartition(":")
    if not sep or not module_name or not attr:
        raise BadHandler(f"--handler {spec!r} must be module:function (or path/to/file.py:function)")
    try:
        if module_name.endswith(".py") or os.sep in module_name:
            path = os.path.abspath(module_name)
            if not os.path.isfile(path):
                raise BadHandler(f"--handler {spec}: there is no file {module_name}")
            unique = f"pdg_replay_handler_{abs(hash(path))}"
            loader_spec = importlib.util.spec_from_file_location(unique, path)
            if loader_spec is None or loader_spec.loader is None:
                raise BadHandler(f"--handler {spec}: {module_name} is not a Python file")
            module = importlib.util.module_from_spec(loader_spec)
            sys.modules[unique] = module
            loader_spec.loader.exec_module(module)
        else:
            if "" not in sys.path and os.getcwd() not in sys.path:
                sys.path.insert(0, os.getcwd())
            module = importlib.import_module(module_name)
    except BadHandler:
        raise
    except ModuleNotFoundError as exc:
        raise BadHandler(f"--handler {spec}: no module {exc.name} (run from the folder that holds it)") from None
    except Exception as exc:  # noqa: BLE001 - the user's module failed to import: say how
        raise BadHandler(f"--handler {spec}: importing {module_name} raised {error_line(exc)}") from None
    fn = getattr(module, attr, None)
    if not callable(fn):
        raise BadHandler(f"--handler {spec}: {module_name} has no function {attr}")
    return fn


def check_types(types: Iterable[str]) -> frozenset[str] | None:
    types = frozenset(types)
    unknown = sorted(types - set(EVENT_TYPES) - {"*"})
    if unknown:
        raise BadHandler(f"unknown event type {unknown[0]!r} (known: {', '.join(EVENT_TYPES)})")
    return None if not types or "*" in types else types


def replay_into(
    log: EventLog,
    handler: Callable,
    after: int,
    until: int | None,
    types: frozenset[str] | None,
    report: Callable[[str, int, int], None] | None = None,
) -> ReplayResult:
    """Call ``handler`` with each PDG event of the log's events in (after, until], in order. A handler
    that raises is noted (as a live cook would record a warning) and the replay goes on. ``report``:
    hears how far the replay got (``EventLog.replay``)."""
    result = ReplayResult()
    for pdg_event in log.replay(after, until, types=types, report=report):
        result.delivered += 1
        try:
            handler(pdg_event)
        except Exception as exc:  # noqa: BLE001 - as live: a handler's bug is reported, not fatal
            name = getattr(handler, "__qualname__", repr(handler))
            result.errors.append(
                f"event handler {name} raised {error_line(exc)} (on {pdg_event.type}, seq {pdg_event.seq})"
            )
    result.events = (until if until is not None else log.last_seq()) - after
    return result
