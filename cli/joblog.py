"""Reading a job's log file for ``pdg show`` and ``pdg log``."""

from __future__ import annotations

import os
from collections import deque

from pdgstore.cli.render import here


def tail(path: str, lines: int) -> str:
    """The last ``lines`` lines of the file ('' when it is gone)."""
    try:
        with open(path, encoding="utf-8", errors="replace") as f:
            return "".join(deque(f, maxlen=lines))
    except OSError:
        return ""


def read_from(path: str, offset: int) -> tuple[str, int]:
    """What the file holds from ``offset`` on, and the offset after it."""
    try:
        with open(path, "rb") as f:
            f.seek(offset)
            data = f.read()
    except OSError:
        return "", offset
    return data.decode("utf-8", errors="replace"), offset + len(data)


def absence(path: str) -> str:
    """Why the job log at ``path`` has nothing to show, in words: a job that printed nothing leaves
    no file (its log is made on its first write) or an empty one."""
    return f"its log file {here(path)} is empty" if os.path.exists(path) else f"no log file at {here(path)}"


def has_text(path: str) -> bool:
    """Whether the job log at ``path`` holds anything (a job that printed nothing leaves none)."""
    try:
        return os.path.getsize(path) > 0
    except OSError:
        return False
