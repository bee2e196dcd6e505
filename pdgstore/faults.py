"""Crash points for the crash campaign (``tests/crash``): where a test can have a real process die.

Unset, nothing here does anything: ``point`` returns at once. With ``PDG_CRASH_AT=WHAT:N:WHOM`` in
the environment, the ``N``-th time this process reaches the point ``WHAT`` it sends SIGKILL to
``WHOM``:

- ``WHAT``: ``batch`` (an append's transaction, written and not yet committed), ``snapshot``,
  ``manifest``, ``compaction``, ``migration`` (each the same moment of its own transaction), or
  ``checkpoint`` (a WAL checkpoint: the kill is sent from another thread 0-3 ms after the
  checkpoint starts, so it lands inside SQLite's copying);
- ``WHOM``: ``self`` (the process that reached the point: the cook, or its log appender), ``parent``
  (the cook, when the appender reaches it; the appender goes on) or ``group`` (the process group:
  the cook and its appender together; jobs run in groups of their own and live on).

``PDG_CRASH_MARK=FILE`` makes the kill first add a line to ``FILE``, so the campaign knows the
point was reached. This is a test hook, documented in ``docs/reliability.md``; the store itself never reads the
variable for anything else.
"""

from __future__ import annotations

import os
import random
import signal
import threading

_SPEC = os.environ.get("PDG_CRASH_AT", "")
_counts: dict[str, int] = {}
#: "appender" in a log appender process (``pdgstore.appender`` sets it): ``parent`` means the cook
#: only there; reached in the cook itself, a ``parent`` point is ignored (its parent is whoever ran pdg)
role = "cook"


def point(what: str) -> None:
    """Reached ``what``: die here if ``PDG_CRASH_AT`` says so (see the module docstring)."""
    if not _SPEC:
        return
    want, _, rest = _SPEC.partition(":")
    if want != what:
        return
    n, _, whom = rest.partition(":")
    if whom == "parent" and role != "appender":
        return
    _counts[what] = _counts.get(what, 0) + 1
    if str(_counts[what]) != n:
        return
    if what == "checkpoint":
        threading.Timer(random.uniform(0, 0.003), _kill, (whom,)).start()
    else:
        _kill(whom)


def _kill(whom: str) -> None:
    mark = os.environ.get("PDG_CRASH_MARK")  # the campaign counts the points reached
    if mark:
        fd = os.open(mark, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        os.write(fd, f"{_SPEC} {os.getpid()}\n".encode())
        os.close(fd)
    if whom == "parent":
        os.kill(os.getppid(), signal.SIGKILL)
    elif whom == "group":
        os.killpg(os.getpgrp(), signal.SIGKILL)
    else:
        os.kill(os.getpid(), signal.SIGKILL)
