"""``pdg stats``: events by kind, store size, snapshots, and what pdg check and --at go through."""

from __future__ import annotations

import click
from pdgstore.cli import render
from pdgstore.cli.options import db_option, json_option

from pdgstore.locate import open_store
from pdgstore.queries import JSON_SCHEMA
from pdgstore.stats import stats


@click.command("stats", short_help="Show events by kind, store size, snapshot coverage.")
@db_option
@json_option
def command(db, as_json) -> None:
    """Show what the store holds: events by kind and their size (a batch of new work items is one
    row that stands for an event per item: its events count those), the store's size on disk, the
    snapshots and how much of the log they cover, and what the reads that replay the log go through:
    pdg check (every event, and snapshots' bytes) and --at a point far back (at most the events
    between two snapshots). Other reads query the store's tables, and do not slow as the log grows."""
    with open_store(db) as log:
        s = stats(log)
        store = render.here(log.path)
    if as_json:
        render.emit_json({"schema": JSON_SCHEMA, "store": store, **s})
        return
    p = render.out.print
    p(
        f"{store}: {s['store_bytes'] / 1e6:.1f} MB, {s['events']:,} events (seq {s['first_seq']}-{s['last_seq']}), "
        + render.count(s["cooks"], "cook")
        + (
            f" ({s['cooks_with_events']} with their events; history before seq {s['base_seq'] + 1} compacted)"
            if s["base_seq"]
            else ""
        )
    )
    t = render.table("kind", "events", "rows", "payload bytes")
    for k in s["kinds"]:
        t.add_row(k["kind"], f"{k['events']:,}", f"{k['rows']:,}", f"{k['payload_bytes']:,}")
    p(t)
    cov = s["snapshot_coverage"]
    p(
        f"snapshots: {len(s['snapshots'])} ({', '.join(str(x['seq']) for x in s['snapshots']) or 'none'}); "
        f"{cov['events_after_newest']:,} events after the newest; largest gap {cov['largest_gap']:,} events"
    )
    check, at = s["check_reads"], s["time_travel"]
    read = f" and {render.count(check['snapshots'], 'snapshot')} ({check['snapshot_bytes'] / 1e6:.1f} MB)"
    p(
        f"pdg check replays {check['events']:,} events ({check['payload_bytes'] / 1e6:.1f} MB of payload)"
        + (read if check["snapshots"] else "")
        + ", then compares every row of the tables"
    )
    start = "from the snapshot before it, or the log's start"
    p(
        f"--at a point within the last {at['overlay_events']:,} events (every one held) folds back the items"
        f" changed since; a replay goes at most {at['replay_at_most']:,} events ({start})"
    )
