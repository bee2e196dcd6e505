"""Reading a job's log file for ``pdg show`` and ``pdg log``."""

from __future__ import annotations

import os

from pdgstore.cli.render import here
from pdgstore.engine.schedulers.jobs import tail  # noqa: F401 - `pdg show`'s and `pdg log`'s, as the web view's


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
