"""``pdg stats``: what the store holds and what reading it costs."""

from __future__ import annotations

import os

from pdgstore.compact import store_bytes
from pdgstore.itembatch import KIND as BATCH_KIND
from pdgstore.itembatch import batch_counts
from pdgstore.log import EventLog
from pdgstore.snapshots import SNAPSHOT_VERSION

#: events per second a replay folds, as measured on the benchmark machine (benchmarks/README.md):
#: the basis of the replay-time estimates, which say "about"
REPLAY_RATE = 200_000
#: snapshot bytes per second that unpacking into state costs (same machine)
SNAPSHOT_RATE = 60_000_000


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
    readable = [s for s in snapshots if s["readable"]]
    newest = readable[-1] if readable else None
    tail = last - (newest["seq"] if newest else base)
    load_s = tail / REPLAY_RATE + (newest["bytes"] / SNAPSHOT_RATE if newest else 0)
    gaps = [b["seq"] - a["seq"] for a, b in zip(readable, readable[1:])] + ([last - newest["seq"]] if newest else [])
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
            "events_after_newest": tail,
            "largest_gap": max(gaps) if gaps else last - base,
        },
        "replay_estimate_s": {
            "current_state": round(load_s, 3),
            "full_replay": round(events / REPLAY_RATE, 3),
            "at_worst": round(
                (max(gaps) if gaps else events) / REPLAY_RATE
                + (max(s["bytes"] for s in readable) / SNAPSHOT_RATE if readable else 0),
                3,
            ),
        },
    }
