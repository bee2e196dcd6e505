"""Compaction: fold old history into a base snapshot so the log stops growing without bound.

``plan`` picks the cut: every event up to seq ``cut`` is folded into the state at ``cut`` (the base
snapshot); the events after it, and so every kept cook, stay whole. ``compact`` then writes, in one
transaction: the base snapshot, the deletion of the events and snapshots before it, the new base
seq in ``meta`` and a ``LogCompacted`` event that records what was done. Only then is the file
vacuumed to give the space back. The current state is never touched: it is the fold of the base and
the events kept, which ``pdg check`` verifies like any other.

The automatic rule (``should_compact``), off unless asked for, follows ninja's for its build log:
compact when the log holds many events and several times as many as the state it folds into.
"""

from __future__ import annotations

import os
import time
from dataclasses import asdict, dataclass

from pdgstore import codec, tablefill
from pdgstore import events as ev
from pdgstore.errors import BadRef
from pdgstore.log import EventLog
from pdgstore.snapshots import SNAPSHOT_VERSION, pack_from_tables, write_blob
from pdgstore.tablefill import Report

#: the automatic rule: at least this many events, and this many times the live records
AUTO_MIN_EVENTS = 200_000
AUTO_RATIO = 4
AUTO_KEEP_COOKS = 10
#: bytes an event row costs besides its payload and strings (rowid, integers, record and index overhead)
ROW_OVERHEAD = 40


@dataclass
class Plan:
    """What a compaction would do: fold events up to ``cut`` (``events`` of them, about ``bytes``
    of the file) and keep ``cooks_kept`` cooks whole."""

    cut: int
    events: int
    bytes: int
    cooks_folded: int
    cooks_kept: int
    store_bytes: int

    def to_json(self) -> dict:
        return asdict(self)


def store_bytes(log: EventLog) -> int:
    """The store's size on disk: the database file and its write-ahead log."""
    return sum(os.path.getsize(p) for p in (log.path, log.path + "-wal") if os.path.exists(p))


def plan(log: EventLog, *, keep_cooks: int | None = None, before: int | None = None) -> Plan:
    """The cut for ``--keep-cooks N`` (everything before the N-th last cook) or ``--before SEQ``."""
    if (keep_cooks is None) == (before is None):
        raise ValueError("give exactly one of keep_cooks and before")
    base = log.base_seq()
    spans = log.cook_spans()
    cooks = sorted(spans)
    if keep_cooks is not None:
        if keep_cooks < 0:
            raise BadRef(f"--keep-cooks must be 0 or more, not {keep_cooks}")
        if keep_cooks >= len(cooks):
            cut = base
        elif keep_cooks == 0:
            cut = log.last_seq()
        else:
            cut = spans[cooks[-keep_cooks]][0] - 1
    else:
        assert before is not None  # exactly one of the two was given
        cut = before
    cut = max(cut, base)
    row = log.conn.execute(
        "SELECT count(*), coalesce(sum(length(payload) + length(subject) + length(graph) + length(kind)), 0) "
        "FROM events WHERE seq <= ?",
        (cut,),
    ).fetchone()
    folded = sum(1 for c in cooks if spans[c][1] <= cut)
    return Plan(
        cut=cut,
        events=row[0],
        bytes=row[1] + row[0] * ROW_OVERHEAD,
        cooks_folded=folded,
        cooks_kept=len(cooks) - folded,
        store_bytes=store_bytes(log),
    )


def state_at_packed(log: EventLog, cut: int, report: Report | None = None) -> memoryview:
    """The snapshot of the state at seq ``cut``, as ``pack_snapshot(log.state_at(cut))`` packs it,
    made without that state: the newest snapshot at or before the cut and the events after it up to
    the cut are folded into scratch tables in a temporary folder (``tablefill.rebuild``: the base
    written a chunk at a time, the events in bounded batches), then packed from them item by item
    (``pack_from_tables``). A compaction of W(100,000) held the whole state, 574 MB; this holds
    the batch and the snapshot's bytes. ``report``: hears how far the fold got, a batch at a time."""
    start = max(log.snapshot_seq(cut), log.base_seq())
    with tablefill.scratch("compact") as scratch:
        with log.read_errors():
            tablefill.rebuild(scratch, log.conn, start, until=cut, report=report)
        if report is not None:
            report(f"packing the state at seq {cut}", 0, 0)
        return pack_from_tables(scratch, cut)


def compact(log: EventLog, the_plan: Plan, *, vacuum: bool = True, report: Report | None = None) -> dict:
    """Carry out ``the_plan`` on a store opened as its writer; returns the figures of what it did.
    ``report``: hears which step it is at, and how far the longest (the fold) got (42 s at W(100,000))."""
    if not log.is_writer:
        raise RuntimeError("compaction needs the store's writer lock")
    started = time.perf_counter()
    before_bytes = store_bytes(log)
    if the_plan.events == 0:
        return {
            "cut": the_plan.cut,
            "events_removed": 0,
            "bytes_before": before_bytes,
            "bytes_after": before_bytes,
            "seconds": 0.0,
        }
    blob = state_at_packed(log, the_plan.cut, report)
    seq = log.next_seq
    record = ev.LogCompacted(
        seq=seq,
        time_ns=time.time_ns(),
        cook_id=0,
        graph="",
        cut=the_plan.cut,
        events=the_plan.events,
        bytes_before=before_bytes,
    )

    def write(c) -> None:
        write_blob(
            c,
            "snapshots",
            "state",
            the_plan.cut,
            blob,
            "INSERT OR REPLACE INTO snapshots (seq, time_ns, v, state) VALUES (?, ?, ?, zeroblob(?))",
            (the_plan.cut, time.time_ns(), SNAPSHOT_VERSION, len(blob)),
        )
        c.execute("DELETE FROM snapshots WHERE seq < ?", (the_plan.cut,))
        c.execute("DELETE FROM events WHERE seq <= ?", (the_plan.cut,))
        c.execute("INSERT OR REPLACE INTO meta VALUES ('base_seq', ?)", (str(the_plan.cut),))
        c.execute(
            "INSERT INTO events (seq, time_ns, cook_id, graph, kind, subject, payload) VALUES (?,?,?,?,?,?,?)",
            codec.to_row(record),
        )

    if report is not None:
        report(f"writing the snapshot, removing {the_plan.events:,} events", 0, 0)
    log.write(write)
    log.next_seq = seq + 1
    if vacuum:
        if report is not None:
            report("giving the space back (VACUUM)", 0, 0)
        log.conn.execute("VACUUM")
        log.conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    return {
        "cut": the_plan.cut,
        "events_removed": the_plan.events,
        "bytes_before": before_bytes,
        "bytes_after": store_bytes(log),
        "seconds": round(time.perf_counter() - started, 3),
    }


def should_compact(log: EventLog, live_records: int) -> bool:
    """The automatic rule: the log holds at least ``AUTO_MIN_EVENTS`` events and ``AUTO_RATIO``
    times as many as the records (items and cooks) of the state they fold into."""
    events = log.last_seq() - log.base_seq()
    return events >= AUTO_MIN_EVENTS and events >= AUTO_RATIO * max(live_records, 1)
