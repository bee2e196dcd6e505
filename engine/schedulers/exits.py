"""Waiting for a child process to end without polling.

``subprocess.Popen.wait(timeout)`` polls: it sleeps 0.5 ms, then twice as long each time up to
50 ms, so a process that ends after 40 ms is noticed up to 30 ms late, and a job that lasts a
millisecond costs a sleep of one more. A pidfd (Linux 5.3 and later) becomes readable the moment
its process exits, and ``select`` waits on it beside other descriptors (a job's output pipe).
Where there is none, the wait falls back to ``Popen.wait``'s polling.
"""

from __future__ import annotations

import os
import select
import subprocess


def pidfd(pid: int) -> int:
    """A pidfd of process ``pid``, readable once it exits, or -1 where there is none (not Linux, a
    kernel before 5.3, or the process reaped already). The caller closes it."""
    try:
        return os.pidfd_open(pid)
    except (AttributeError, OSError):
        return -1


def wait(proc: subprocess.Popen, timeout: float) -> int:
    """``proc.wait(timeout)`` (its exit code; ``subprocess.TimeoutExpired`` when it has not ended by
    then), told of the end as it happens rather than at the next poll."""
    if proc.returncode is not None:  # reaped already: its pid may be another process's by now
        return proc.returncode
    fd = pidfd(proc.pid)
    if fd < 0:
        return proc.wait(timeout)
    try:
        if not select.select([fd], [], [], timeout)[0]:
            raise subprocess.TimeoutExpired(proc.args, timeout)
    finally:
        os.close(fd)
    return proc.wait()
