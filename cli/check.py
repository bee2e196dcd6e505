"""``pdg check``: replay the whole log and compare it with the snapshot-accelerated state."""

from __future__ import annotations

import sys
import time

import click
from pdgstore.cli import render
from pdgstore.cli.options import db_option, json_option
from pdgstore.engine.project import open_store

from pdgstore.queries import JSON_SCHEMA
from pdgstore.state import first_difference


@click.command("check", short_help="Replay the whole log and compare it with the snapshot state.")
@db_option
@json_option
def command(db, as_json) -> None:
    """Check the store: SQLite's integrity check and its tables against the schema, then a replay
    of every event from zero compared with the state the snapshots give. Exits 1 naming the first
    difference."""
    with open_store(db) as log, log.one_reading():  # a cook appending meanwhile changes neither reading
        started = time.perf_counter()
        problem = log.integrity_problem()
        difference = None
        events = 0
        if problem is None:
            t0 = time.perf_counter()
            full = log.replay_all()
            replay_s = time.perf_counter() - t0
            fast = log.load_state()
            events = log.last_seq()
            difference = first_difference(full.to_plain(named=True), fast.to_plain(named=True), "replayed state")
            if difference:
                difference = difference.replace("is missing from the second", "is missing from the snapshot state")
        else:
            replay_s = 0.0
        seconds = time.perf_counter() - started
        store = render.here(log.path)
    ok = problem is None and difference is None
    if as_json:
        render.emit_json(
            {
                "schema": JSON_SCHEMA,
                "store": store,
                "ok": ok,
                "events": events,
                "seconds": round(seconds, 3),
                "replay_events_per_s": round(events / replay_s) if replay_s else None,
                "integrity": problem or "ok",
                "difference": difference,
            }
        )
    elif ok:
        rate = f", {events / replay_s:,.0f} events/s" if replay_s else ""
        render.out.print(f"{store}: ok ({events} events replayed in {replay_s:.2f} s{rate}; snapshot state matches)")
    elif problem:
        render.err.print(f"pdg: {store} failed its integrity check: {problem}")
    else:
        render.err.print(f"pdg: {store}: replay differs from the snapshot state at {difference}", markup=False)
    sys.exit(0 if ok else 1)
