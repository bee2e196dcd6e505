"""``pdg stats``: what the store holds, and what the reads that go through the log (``pdg check``,
``--at`` a point far back) have to go through: events and bytes, never a time. Ordinary reads
(``pdg status``, ``pdg items``, ``pdg show``) query the tables, whose cost does not follow the log;
times estimated from a replay rate described the loader that folded the log for every read, and
were wrong both ways (review 7, W(100,000): "about 0.88 s now" when ``pdg status`` took 0.1 s,
"8.00 s for a full replay" when ``pdg check`` took 60 s)."""

from __future__ import annotations

import os

from pdgstore.compact import store_bytes
from pdgstore.itembatch import KIND as BATCH_KIND
from pdgstore.itembatch import batch_counts
from pdgstore.log import EventLog
from pdgstore.snapshots import SNAPSHOT_VERSION


def stats(log: EventLog) -> dict:
    """What ``log`` holds; a store SQLite finds damaged while it is read gives the sentence every
    read gives (``StoreRefused``), never SQLite's exception."""
    with log.read_errors():
        return _stats(log)


def _stats(log: EventLog) -> dict:
    kinds = [
        {"kind": kind, "events": n, "rows": n, "payload_bytes": size}
        for kind, n, size in log.conn.execute(
            "SELECT kind, count(*), sum(length(payload)) FROM events GROUP BY kind ORDER BY count(*) DESC"
        )
    ]
    for entry in kinds:
        if entry["kind"] == BATCH_KIND:
            entry["events"] = batch_counts(log.conn, log.base_seq())[1]
    kinds.sort(key=lambda k: -k["events"])  # by the events each kind stands for, as the table says
    snapshots = [
        {"seq": seq, "time_ns": t, "bytes": size, "readable": v == SNAPSHOT_VERSION}
        for seq, t, v, size in log.conn.execute("SELECT seq, time_ns, v, length(state) FROM snapshots ORDER BY seq")
    ]
    first, last = log.first_seq(), log.last_seq()
    events = sum(k["events"] for k in kinds)
    base = log.base_seq()
    readable = [s for s in snapshots if s["readable"] and s["seq"] >= base]
    newest = readable[-1] if readable else None
    # a replay starts at a snapshot or, before the first one, at the log's start (the base): the
    # stretches between them are what a --at far back replays at most
    starts = sorted({base, *(s["seq"] for s in readable)})
    gaps = [b - a for a, b in zip(starts, starts[1:])] + [last - starts[-1]]
    # pdg check (pdgstore.tablecheck): every event the log holds, from its base snapshot, and the
    # newest snapshot after it compared with the replay
    read_by_check = [s for s in readable if s["seq"] == base or s is newest]
    return {
        "store_bytes": store_bytes(log),
        "wal_bytes": os.path.getsize(log.path + "-wal") if os.path.exists(log.path + "-wal") else 0,
        "events": events,
        "first_seq": first,
        "last_seq": last,
        "base_seq": base,
        # every cook the store remembers (pdg history lists them), and those whose events are still
        # in the log (the rest were folded by pdg compact)
        "cooks": log.conn.execute("SELECT count(*) FROM cooks").fetchone()[0],
        "cooks_with_events": log.conn.execute(
            "SELECT count(DISTINCT cook_id) FROM events WHERE cook_id > 0"
        ).fetchone()[0],
        "kinds": kinds,
        "snapshots": snapshots,
        "snapshot_coverage": {
            "events_after_newest": last - (newest["seq"] if newest else base),
            "largest_gap": max(gaps),
        },
        "check_reads": {
            "events": events,
            "payload_bytes": sum(k["payload_bytes"] or 0 for k in kinds),
            "snapshots": len(read_by_check),
            "snapshot_bytes": sum(s["bytes"] for s in read_by_check),
        },
        # --at a point: any the log holds (every event from its start or its compaction base) is
        # the tables with the items changed since folded back (pdgstore.timetravel); a replay (pdg
        # replay, or --at when an item cannot be placed) goes at most replay_at_most events from
        # the snapshot before the point
        "time_travel": {
            "overlay_events": last - base,
            "replay_at_most": max(gaps),
        },
    }
