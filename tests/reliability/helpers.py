"""Shared pieces of the reliability tests: real stores, events, and the checks every case ends with."""

from __future__ import annotations

import hashlib
import sqlite3
from pathlib import Path

from pdgstore import events as ev
from pdgstore.log import EventLog

SIDE_FILES = ("-wal", "-shm", "-journal")


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
