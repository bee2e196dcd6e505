"""Reading a job's log file for ``pdg show`` and ``pdg log``."""

from __future__ import annotations

import os
from collections import deque


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


def exists(path: str) -> bool:
    return bool(path) and os.path.isfile(path)
