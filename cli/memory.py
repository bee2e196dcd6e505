"""Large blocks go back to the system when freed: the cooking commands' peak memory.

glibc's malloc serves a request of 128 KiB or more with its own ``mmap`` and unmaps it when freed,
but each time such a block is freed it raises that threshold to the block's size ("dynamic mmap
threshold"). A cook makes a few blocks of megabytes (a batch's packed rows, a partition's event
of 100,000 outputs, the request that hands rows to the appender); after the first is freed the
next ones come from the heap, which the process keeps for the rest of the cook; and the cook's
peak RSS is a benchmark target (issue 16). Setting the threshold once turns the raising off.
Nothing changes elsewhere (another libc, another system).
"""

from __future__ import annotations

import ctypes
import os

#: ``M_MMAP_THRESHOLD`` of glibc's ``mallopt``, and the value it starts with (128 KiB)
_M_MMAP_THRESHOLD = -3
THRESHOLD = 128 * 1024


def return_large_blocks() -> bool:
    """Keep glibc's mmap threshold where it starts; whether it was set (False: not glibc)."""
    try:
        if not (os.confstr("CS_GNU_LIBC_VERSION") or "").startswith("glibc"):
            return False
        return bool(ctypes.CDLL(None).mallopt(_M_MMAP_THRESHOLD, THRESHOLD))  # the process's own libc
    except (ValueError, OSError, AttributeError):  # no such name here (not glibc, not Linux)
        return False
