"""A dead cook's jobs that still run: found by the pids its log recorded, stopped before their
items run again.

A cook killed by SIGKILL (or the OOM killer) cannot stop its jobs: each runs in a process group of
its own (``jobs.spawn``), so they outlive it, and the next cook would start the same items beside
them. The next cook records the dead one as cancelled (``engine.cook.loop.recover_dead_cook``) and,
first, stops every job the log shows that cook started and never saw end: the process group named
by the job's recorded pid (``JobStarted.pid``), and only when a process in that group still carries
the item's id in its environment (``PDG_ITEM_ID``, set by ``jobs.prepare``), so a pid the system
has since given to an unrelated process is left alone. A job started in the moment before the dead
cook could record it is found by its environment instead: ``PDG_COOK_PID`` names the cook that
started it and ``PDG_TEMP`` the store's jobs folder. Linux only (``/proc``); elsewhere
nothing is found and nothing is stopped.
"""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Iterable

#: how long a dead cook's job has to end after SIGTERM before its group gets SIGKILL
GRACE_S = 2.0


def unended_jobs(state, cook_id: int, started: Iterable[str]) -> list[tuple[str, int]]:
    """(item id, pid) of every job of ``cook_id`` the log shows started and not ended, among the
    jobs of the items ``started`` (those whose job that cook started)."""
    out = []
    for item_id in started:
        job = state.jobs.get(item_id)
        if job is None:
            continue
        pid, exit_code = job[2], job[4]
        item = state.items.get(item_id)
        if exit_code is None and pid and pid > 0 and item is not None and item.cook_id == cook_id:
            out.append((item_id, pid))
    return out


def _group(pgid: int) -> list[int]:
    """The pids of the processes in process group ``pgid`` (from /proc)."""
    members: list[int] = []
    try:
        names = os.listdir("/proc")
    except OSError:
        return members
    for name in names:
        if not name.isdigit():
            continue
        try:
            with open(f"/proc/{name}/stat", "rb") as f:
                fields = f.read().rsplit(b")", 1)[1].split()
        except (OSError, IndexError):
            continue
        if len(fields) > 2 and fields[2] == str(pgid).encode():
            members.append(int(name))
    return members


def _carries(pid: int, item_id: str) -> bool:
    try:
        with open(f"/proc/{pid}/environ", "rb") as f:
            return b"PDG_ITEM_ID=" + item_id.encode() in f.read().split(b"\0")
    except OSError:
        return False


def still_running(item_id: str, pid: int) -> bool:
    """Whether the job's process group still holds a process of that item's job."""
    return any(_carries(member, item_id) for member in _group(pid))


def started_by(cook_pid: int, store_dir: str) -> list[tuple[str, int]]:
    """(item id, process group) of every process whose environment says a cook with pid
    ``cook_pid`` on the store in ``store_dir`` started it (``PDG_COOK_PID``, and ``PDG_TEMP`` under
    the store's jobs folder): a job the cook started but was killed before it could record."""
    if not cook_pid:
        return []
    jobs_dir = os.path.join(os.path.realpath(store_dir), "jobs") + os.sep
    marker = b"PDG_COOK_PID=" + str(cook_pid).encode()
    found: list[tuple[str, int]] = []
    try:
        names = os.listdir("/proc")
    except OSError:
        return found
    for name in names:
        if not name.isdigit() or int(name) == os.getpid():
            continue
        try:
            with open(f"/proc/{name}/environ", "rb") as f:
                env = f.read().split(b"\0")
            if marker not in env:
                continue
            with open(f"/proc/{name}/stat", "rb") as f:
                pgid = int(f.read().rsplit(b")", 1)[1].split()[2])
        except (OSError, ValueError, IndexError):
            continue
        values = dict(e.split(b"=", 1) for e in env if b"=" in e)
        temp = os.fsdecode(values.get(b"PDG_TEMP", b""))
        if temp and os.path.realpath(temp).startswith(jobs_dir):
            found.append((os.fsdecode(values.get(b"PDG_ITEM_ID", b"")), pgid))
    return found


def stop_orphans(
    state, cook_id: int, started: Iterable[str], grace_s: float = GRACE_S, cook_pid: int = 0, store_dir: str = ""
) -> list[str]:
    """Stop the jobs of the dead cook ``cook_id`` that still run (SIGTERM to each job's process
    group, SIGKILL after ``grace_s``): those its log recorded (``started``: the items whose job it
    started), and those it started but was killed before recording (found by ``started_by``); the
    ids of their items."""
    found = [(item_id, pid) for item_id, pid in unended_jobs(state, cook_id, started) if still_running(item_id, pid)]
    groups = {pid for _, pid in found}
    found += [(item_id, pgid) for item_id, pgid in started_by(cook_pid, store_dir) if pgid not in groups]
    found = list(dict.fromkeys(found))
    for _, pid in found:
        _signal_group(pid, signal.SIGTERM)
    deadline = time.monotonic() + grace_s
    alive = found
    while alive and time.monotonic() < deadline:
        time.sleep(0.02)
        alive = [(item_id, pid) for item_id, pid in alive if still_running(item_id, pid)]
    for _, pid in alive:
        _signal_group(pid, signal.SIGKILL)
    return [item_id for item_id, _ in found]


def _signal_group(pgid: int, sig: int) -> None:
    try:
        os.killpg(pgid, sig)
    except (ProcessLookupError, PermissionError):
        pass
