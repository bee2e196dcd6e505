"""Shared pieces of the reliability tests: real stores, events, and the checks every case ends with."""

from __future__ import annotations

import hashlib
import sqlite3
import time
from pathlib import Path

from pdgstore import events as ev
from pdgstore.log import EventLog

SIDE_FILES = ("-wal", "-shm", "-journal")

#: two ``python_script`` jobs of ``job.py`` (each test writes its own): out-of-process items whose
#: process groups a cancel must kill
JOB_GRAPH = """
from pdgstore.engine import Graph

graph = Graph("orphans")
r = graph.range_generate("r", 2)
graph.python_script("job", r, "job.py")
"""

#: how ``job.py`` begins: it writes its pid into ``pids/`` (``job_pids``), whole when it appears
JOB_STARTED = """
import os, sys, time
pid_file = os.path.join("pids", os.environ["PDG_ITEM_NAME"] + "." + str(os.getpid()))
os.makedirs("pids", exist_ok=True)
with open(pid_file + ".tmp", "w") as f:
    f.write(str(os.getpid()))
os.replace(pid_file + ".tmp", pid_file)  # whole when it appears: the test polls for it
"""


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def file_bytes(path: Path) -> dict[str, str]:
    """The hash of the store and of its -wal and -journal: what a refusal must leave as it was (the
    -shm is SQLite's index of the -wal, rebuilt by any reader, and holds nothing of the store)."""
    out = {}
    for suffix in ("", "-wal", "-journal"):
        p = Path(str(path) + suffix)
        if p.exists() and (suffix == "" or p.stat().st_size):  # an empty -wal holds nothing: as none
            out[suffix or "db"] = sha256(p)
    return out


def some_events(first_seq: int, n: int, cook_id: int = 1) -> list[ev.Event]:
    """``n`` events with seqs first_seq.. (a cook start, generated items, state changes)."""
    out: list[ev.Event] = []
    for i, seq in enumerate(range(first_seq, first_seq + n)):
        common = dict(seq=seq, time_ns=1_000 + seq, cook_id=cook_id, graph="g")
        if i == 0:
            out.append(ev.CookStarted(**common, pid=123, jobs=2))
        elif i % 2:
            out.append(ev.WorkItemGenerated(**common, item_id=f"item{seq}", node="n", name=f"n_{seq}", index=i))
        else:
            out.append(ev.WorkItemStateChanged(**common, item_id=f"item{seq - 1}", state="cooking"))
    return out


def integrity(db: Path) -> str:
    """SQLite's own integrity_check, from a read-only connection (it changes nothing)."""
    conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    try:
        return "; ".join(r[0] for r in conn.execute("PRAGMA integrity_check"))
    finally:
        conn.close()


def seqs(db: Path) -> list[int]:
    with EventLog.open(str(db)) as log:
        return [e.seq for e in log.events()]


def one_line(stderr: str) -> str:
    lines = stderr.strip().splitlines()
    assert len(lines) == 1, f"expected one line on stderr, got:\n{stderr}"
    assert "Traceback" not in stderr
    return lines[0]


def with_jobs(project, job: str):
    """``project`` (``conftest.Project``) holding ``JOB_GRAPH`` as ``orphans.py``, ``job`` as its ``job.py``."""
    project.write("orphans.py", JOB_GRAPH)
    project.write("job.py", job)
    return project


def alive(pid: int) -> bool:
    """Process ``pid`` runs (a zombie, ended but not yet reaped, does not)."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def wait_for(predicate, timeout_s: float = 60.0) -> None:
    """Poll ``predicate`` until it holds, failing after ``timeout_s``: a wait, never a claim about time."""
    deadline = time.monotonic() + timeout_s
    while not predicate():
        assert time.monotonic() < deadline, "timed out waiting"
        time.sleep(0.05)


def job_pids(root: Path) -> list[int]:
    """The pids the jobs of ``job.py`` wrote into ``pids/`` (whole files only: each is renamed there)."""
    folder = root / "pids"
    return [int(p.read_text()) for p in folder.iterdir() if not p.name.endswith(".tmp")] if folder.exists() else []
