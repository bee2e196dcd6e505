"""The signals that stop a long-running command (``pdg cook``, ``watch``, ``schedule run``,
``serve``), named in one place so that the commands cannot drift apart: Ctrl-C, SIGTERM (systemd,
docker, CI timeouts) and SIGHUP (a closed terminal) each stop it as Ctrl-C does, with what it was
doing ended and recorded, never a process killed mid-write.

A signal the process was started with ignored stays ignored: ``nohup`` ignores SIGHUP, and a shell
starts a background job (``cmd &`` without job control) with SIGINT ignored. That is the user
asking for the command to outlive the terminal, and a handler of ours would undo it.
"""

from __future__ import annotations

import signal
from collections.abc import Callable
from types import FrameType
from typing import Any

Handler = Callable[[int, FrameType | None], Any]

#: each signal that stops a command, and the words its stop is recorded with
STOP_SIGNALS: dict[int, str] = {
    signal.SIGINT: "interrupted (Ctrl-C)",
    signal.SIGTERM: "terminated (SIGTERM)",
    signal.SIGHUP: "hung up (SIGHUP)",
}


def why(signum: int) -> str:
    """The words a stop by ``signum`` is recorded with."""
    return STOP_SIGNALS.get(signum, "interrupted")


def catch(handler: Handler, previous: dict[int, Any] | None = None) -> dict[int, Any]:
    """Make ``handler`` the handler of every stop signal the process does not ignore, and return
    the handlers it replaced, for ``restore``: put in ``previous`` when given (the first one only,
    so that a second ``catch`` into it keeps the handlers from before the first)."""
    previous = {} if previous is None else previous
    for sig in STOP_SIGNALS:
        current = signal.getsignal(sig)
        if current == signal.SIG_IGN:  # nohup, or a background job: the user's wish, kept
            continue
        previous.setdefault(sig, current)
        signal.signal(sig, handler)
    return previous


def restore(previous: dict[int, Any]) -> None:
    """Give back the handlers ``catch`` replaced."""
    for sig, handler in previous.items():
        if handler is not None:  # None: one not set from Python, which Python cannot set back
            signal.signal(sig, handler)
