"""``pdg schedule``: cooks on a timetable (add, list, remove), and the service that runs them."""

from __future__ import annotations

import os
import signal
import threading

import click
from pdgstore.cli import render
from pdgstore.cli.cook import parse_sets
from pdgstore.cli.options import db_option, json_option
from pdgstore.engine.live import schedules
from pdgstore.engine.project import find_store, open_store, store_beside

from pdgstore.queries import JSON_SCHEMA, schedule_json


@click.group("schedule", short_help="Cook graphs on a timetable: add, list, remove, run.")
def group() -> None:
    """Scheduled cooks. Schedules live in the store as events: `pdg schedule list` works without the
    service, and `pdg schedule run` (a foreground service) finds them all again after a restart.
    Every subcommand takes --json."""


@group.command("add")
@click.argument("graph", type=click.Path(dir_okay=False))
@click.argument("node", required=False)
@click.option("--cron", metavar="'MIN HOUR DAY MONTH WEEKDAY'", help="A crontab line, e.g. '0 2 * * *' (02:00 daily).")
@click.option("--every", metavar="INTERVAL", help="An interval: 30s, 15m, 1h30m, 2d.")
@click.option("--set", "sets", multiple=True, metavar="NAME=VALUE", help="Override a graph parameter (repeatable).")
@click.option(
    "--db", type=click.Path(dir_okay=False), envvar="PDG_DB", help="The store (default: .pdg/pdg.db beside GRAPH)."
)
@json_option
def add_command(graph, node, cron, every, sets, db, as_json) -> None:
    """Cook GRAPH (or NODE) on a timetable: --cron "0 2 * * *" or --every 15m. The same GRAPH,
    NODE and --set values again change that schedule's timing instead of adding another."""
    path = os.path.abspath(db) if db else store_beside(graph)
    sid, what = schedules.add(path, graph, node, cron=cron, every=every, overrides=parse_sets(sets))
    if as_json:
        render.emit_json({"schema": JSON_SCHEMA, "schedule_id": int(sid), "result": what, "store": path})
    else:
        render.err.print(f"schedule {sid} {what} (store {render.here(path)}); `pdg schedule run` runs it")


@group.command("list")
@db_option
@json_option
def list_command(db, as_json) -> None:
    """List the schedules with their timing, next due time, and how often they fired, were
    missed or skipped (answered from the store: no service needed)."""
    with open_store(db) as log:
        rows = schedules.rows(log.load_state())
    if as_json:
        render.emit_json({"schema": JSON_SCHEMA, "schedules": [schedule_json(r) for r in rows]})
        return
    t = render.table("id", "graph", "node", "when", "next due", "fired", "missed", "skipped", "last cook", "--set")
    for r in rows:
        t.add_row(
            r["schedule"],
            render.here(r["path"]),
            r["node"],
            r["when"],
            render.when(r["next_due_ns"]),
            str(r["fired"]),
            str(r["missed"]),
            str(r["skipped"]),
            f"{r['last_cook']} {r['last_status']}" if r["last_cook"] else "",
            " ".join(f"{k}={v}" for k, v in r["overrides"].items()),
        )
    render.out.print(t)


@group.command("remove")
@click.argument("schedule_id", metavar="ID")
@db_option
@json_option
def remove_command(schedule_id, db, as_json) -> None:
    """Remove schedule ID (its past fires and cooks stay in the log)."""
    removed = schedules.remove(find_store(db), schedule_id)
    if as_json:
        render.emit_json({"schema": JSON_SCHEMA, "schedule_id": int(schedule_id), "removed": schedule_json(removed)})
    else:
        render.err.print(
            f"schedule {schedule_id} removed ({schedules.describe(removed)} of {render.here(removed['path'])})"
        )


@group.command("run")
@click.option("--watch", "watch", is_flag=True, help="Also watch the scheduled graph files (as `pdg watch`).")
@click.option(
    "--misfire-grace",
    type=click.FloatRange(min=0),
    default=600,
    show_default=True,
    metavar="SECONDS",
    help="A due cook later than this (service down or busy) is recorded missed, not run.",
)
@click.option(
    "--busy-wait",
    type=click.FloatRange(min=0),
    default=300,
    show_default=True,
    metavar="SECONDS",
    help="How long a due cook waits for another cook to finish before it is recorded skipped.",
)
@db_option
@json_option
def run_command(watch, misfire_grace, busy_wait, db, as_json) -> None:
    """Run the due cooks of every schedule in the store until Ctrl-C (exit 0). Due times missed
    while no service ran are reported, and the last one is run once when within --misfire-grace."""
    path = find_store(db)
    ui = _Report(as_json)
    gate = threading.Lock()
    service = schedules.ScheduleService(
        path, misfire_grace_s=misfire_grace, busy_wait_s=busy_wait, report=ui.report, gate=gate
    )
    watchers = _watchers(path, gate, ui) if watch else []
    threads = [threading.Thread(target=w.run, daemon=True) for w in watchers]

    def interrupt(signum, frame) -> None:
        service.stop("interrupted (Ctrl-C)")
        for w in watchers:
            w.stop("interrupted (Ctrl-C)")

    previous = {sig: signal.signal(sig, interrupt) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        for t in threads:
            t.start()
        service.run()
    finally:
        for w in watchers:
            w.stop("the schedule service stopped")
        for t in threads:
            t.join(30)
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def _watchers(db: str, gate: threading.Lock, ui: _Report) -> list:
    from pdgstore.cli.watch import WatchStatus
    from pdgstore.engine.live.watch import Watcher

    with open_store(db) as log:
        state = log.load_state()
    targets = dict.fromkeys((s["path"], s["node"] or None) for s in state.schedules.values())
    status = WatchStatus(ui.as_json)
    return [Watcher(path, db=db, node=node, report=status.report, gate=gate) for path, node in targets]


class _Report:
    def __init__(self, as_json: bool) -> None:
        self.as_json = as_json

    def report(self, kind: str, data: dict) -> None:
        if self.as_json:
            if kind in ("cook", "fired", "missed", "skipped", "error"):
                data = dict(data)
                if "summary" in data:
                    data["summary"] = data["summary"].to_json()
                if "schedule" in data:
                    data["schedule_id"] = int(data.pop("schedule"))
                import json
                import sys

                sys.stdout.write(json.dumps({"schema": JSON_SCHEMA, "event": kind, **data}, default=str) + "\n")
                sys.stdout.flush()
            return
        say = render.err.print
        if kind == "started":
            say(f"running {data['schedules']} schedules of {render.here(data['store'])}; Ctrl-C to stop", style="bold")
        elif kind == "missed":
            say(f"schedule {data['schedule']}: missed {data['count']} due times ({data['message']})", style="yellow")
        elif kind == "fired":
            say(f"schedule {data['schedule']} is due" + (f" (for {data['missed']} missed)" if data["missed"] else ""))
        elif kind == "cook":
            s = data["summary"]
            say(
                f"schedule {data['schedule']}: cook {s.cook_id} {s.status}: {s.counts['ran']} ran, "
                f"{s.counts['reused']} reused in {s.seconds:.2f} s",
                style=render.STATE_STYLES.get(s.status),
            )
        elif kind == "skipped":
            say(f"schedule {data['schedule']} skipped: {data['message']}", style="yellow")
        elif kind == "error":
            say(f"pdg: {data['message']}", style="bold red")
        elif kind == "stopped":
            say("schedule service stopped")
