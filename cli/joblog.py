"""Reading a job's log file for ``pdg show`` and ``pdg log``."""

from __future__ import annotations

import os
from typing import BinaryIO

from pdgstore.cli.render import here

#: how much of a log is read at a time when it is copied out: a 100 MB log is never held whole
CHUNK_BYTES = 1 << 16


def read_from(path: str, offset: int) -> tuple[str, int]:
    """What the file holds from ``offset`` on, and the offset after it (for ``--json``, which
    holds the text in one string all the same)."""
    try:
        with open(path, "rb") as f:
            f.seek(offset)
            data = f.read()
    except OSError:
        return "", offset
    return data.decode("utf-8", errors="replace"), offset + len(data)


def copy_from(path: str, offset: int, out: BinaryIO) -> int:
    """Copy the file from ``offset`` on to ``out`` as it is (the job's own bytes, in chunks of
    ``CHUNK_BYTES``), flushed; the offset after what was copied. A file not there (yet) copies
    nothing."""
    try:
        with open(path, "rb") as f:
            f.seek(offset)
            while chunk := f.read(CHUNK_BYTES):
                out.write(chunk)
                offset += len(chunk)
    except OSError:
        return offset
    finally:
        out.flush()
    return offset


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
