"""Reading a job's log file: its last lines (``pdg show``, the web view) and its last words (why a
job that failed without saying so failed). Apart from the schedulers that write the logs, so that
the read commands that show them load none of the cook's parts (``tests/test_startup.py``).
"""

from __future__ import annotations

import os
import re

#: how long a reason added to an item's one-line error may be (the whole text stays in its log)
REASON_CHARS = 300


def one_line(text: str) -> str:
    """``text`` as a reason added to an item's error: its first non-empty line, cut short."""
    line = next((part.strip() for part in text.splitlines() if part.strip()), "")
    return line if len(line) <= REASON_CHARS else line[: REASON_CHARS - 3] + "..."


#: how much of a log's end ``last_words`` reads: a job's last line is in it, however long the log
LAST_WORDS_BYTES = 4096
#: how much of a log's end ``tail`` reads, and how long a line it shows whole (a renderer's progress
#: bar, redrawn with ``\r``, is one line of megabytes)
TAIL_BYTES, TAIL_LINE_CHARS = 65536, 1000


def _end(path: str, size: int) -> str:
    """The last ``size`` bytes of the file at ``path``, as text ('' when it is gone)."""
    try:
        with open(path, "rb") as f:
            f.seek(max(0, f.seek(0, os.SEEK_END) - size))
            return f.read().decode("utf-8", errors="replace")
    except OSError:
        return ""


def tail(path: str, lines: int) -> str:
    """The last ``lines`` lines of the log at ``path`` ('' when it is gone), from its last
    ``TAIL_BYTES`` only, each line cut to its last ``TAIL_LINE_CHARS`` characters."""
    shown = []
    for line in _end(path, TAIL_BYTES).splitlines(keepends=True)[-lines:]:
        if len(line) > TAIL_LINE_CHARS:
            line = "..." + line[-TAIL_LINE_CHARS:]
        shown.append(line)
    return "".join(shown)


def last_words(path: str) -> str:
    """The last non-empty line the job's log at ``path`` holds from its last attempt, cut to one
    line ('' when there is none, or no file): what a job that failed without reporting why said
    last, e.g. the exception under a Python traceback. It reads the file's end, not the file."""
    for line in reversed(_end(path, LAST_WORDS_BYTES).splitlines()):
        line = line.strip()
        if _ATTEMPT.fullmatch(line):  # the attempt that failed printed nothing
            return ""
        if line:
            return one_line(line)
    return ""


_ATTEMPT = re.compile(r"--- attempt \d+ ---")
