"""``pdg check``: replay the whole log and compare it with the store's tables and its newest snapshot."""

from __future__ import annotations

import sys
import time

import click
from pdgstore.cli import progress, render
from pdgstore.cli.options import db_option, json_option

from pdgstore import tablecheck
from pdgstore.locate import open_store
from pdgstore.queries import JSON_SCHEMA


@click.command("check", short_help="Replay the log and compare it with the tables and snapshot.")
@db_option
@json_option
def command(db, as_json) -> None:
    """Check the store: SQLite's integrity check and its tables against the schema, then a replay
    of every event from zero (streamed into scratch tables, memory bounded) compared row by row with
    the store's queryable state and with its newest snapshot. Exits 1 naming the first difference."""
    # a cook appending meanwhile changes neither reading; a minute at W(100,000) after ten cooks,
    # so a terminal is told how far it got
    with open_store(db) as log, log.one_reading(), progress.shown("checking the file's integrity", as_json) as line:
        started = time.perf_counter()
        problem = log.integrity_problem()
        difference = None
        events = 0
        if problem is None:
            verdict = tablecheck.check(log, line.report if line is not None else None)
            difference, events, replay_s = verdict.difference, verdict.events, verdict.replay_s
        else:
            replay_s = 0.0
        seconds = time.perf_counter() - started
        store = render.here(log.path)
        base = log.base_seq()
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
        since = f" from the compaction base at seq {base}" if base else ""
        render.out.print(
            f"{store}: ok ({events} events replayed{since} in {replay_s:.2f} s{rate}; tables and snapshot match)"
        )
    elif problem:
        render.err.print(f"pdg: {store} failed its integrity check: {problem}")
    else:
        render.err.print(f"pdg: {store}: the replay of its log differs: {difference}", markup=False)
    sys.exit(0 if ok else 1)
