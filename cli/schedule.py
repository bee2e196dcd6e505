"""``pdg schedule``: cooks on a timetable (add, list, remove), and the service that runs them."""

from __future__ import annotations

import json
import os
import sys
import threading
from collections.abc import Callable
from typing import Any, TextIO

import click
from pdgstore.cli import render, stopsignals
from pdgstore.cli.cook import parse_sets
from pdgstore.cli.memory import return_large_blocks
from pdgstore.cli.options import db_option, json_option, store_option
from pdgstore.engine.live import schedulemessages as msg
from pdgstore.engine.live import schedules
from pdgstore.engine.project import find_store, open_store, store_beside

from pdgstore.queries import JSON_SCHEMA, schedule_json
from pdgstore.readmodel import TableState


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
@store_option
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
        rows = schedules.rows(TableState(log))  # the schedules and cooks from the tables, no item read
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
    return_large_blocks()
    path = find_store(db)
    with render.json_stdout(as_json) as out:  # what the graphs' own code prints: to stderr
        _serve(path, watch, misfire_grace, busy_wait, ScheduleStatus(as_json, out))


def _serve(path: str, watch: bool, misfire_grace: float, busy_wait: float, ui: ScheduleStatus) -> None:
    gate = threading.Lock()
    service = schedules.ScheduleService(
        path, misfire_grace_s=misfire_grace, busy_wait_s=busy_wait, report=ui.report, gate=gate
    )
    watchers = _watchers(path, gate, ui) if watch else []
    threads = [threading.Thread(target=w.run, daemon=True) for w in watchers]

    def interrupt(signum, frame) -> None:
        service.stop(stopsignals.why(signum))
        for w in watchers:
            w.stop(stopsignals.why(signum))

    previous = stopsignals.catch(interrupt)  # Ctrl-C, SIGTERM, SIGHUP (a closed terminal)
    try:
        for t in threads:
            t.start()
        service.run()
    finally:
        for w in watchers:
            w.stop("the schedule service stopped")
        for t in threads:
            t.join(30)
        stopsignals.restore(previous)


def _watchers(db: str, gate: threading.Lock, ui: ScheduleStatus) -> list:
    from pdgstore.cli.watch import WatchStatus
    from pdgstore.engine.live.watch import Watcher

    with open_store(db) as log:
        found = TableState(log).schedules
    targets = dict.fromkeys((s["path"], s["node"] or None) for s in found.values())
    status = WatchStatus(ui.as_json, ui.out)
    return [Watcher(path, db=db, node=node, report=status.report, gate=gate) for path, node in targets]


class ScheduleStatus:
    """What the schedule service reports (``engine.live.schedulemessages``): status lines on stderr,
    or, with --json, one line on stdout per fire, missed or skipped due time, cook and error."""

    #: the messages --json writes a line for (starting and stopping are said on stderr only)
    JSON_LINES = (msg.Fired, msg.Missed, msg.Skipped, msg.ScheduledCook, msg.CookFailed)

    def __init__(self, as_json: bool, out: TextIO | None = None) -> None:
        self.as_json = as_json
        self.out = out or sys.stdout  # where the JSON lines go (``render.json_stdout``)
        self._on: dict[type, Callable[[Any], None]] = {
            msg.ServiceStarted: self._started,
            msg.Missed: self._missed,
            msg.Fired: self._fired,
            msg.ScheduledCook: self._cook,
            msg.Skipped: self._skipped,
            msg.CookFailed: self._error,
            msg.ServiceStopped: self._stopped,
        }

    def report(self, message: msg.ScheduleMessage) -> None:
        if self.as_json:
            if isinstance(message, self.JSON_LINES):
                self._json_line(message)
            return
        self._on[type(message)](message)

    def _json_line(self, message: msg.ScheduleMessage) -> None:
        data = message.data()
        if "summary" in data:
            data["summary"] = data["summary"].to_json()
        data["schedule_id"] = int(data.pop("schedule"))
        self.out.write(json.dumps({"schema": JSON_SCHEMA, "event": message.kind, **data}, default=str) + "\n")
        self.out.flush()

    @staticmethod
    def _say(text: str, style: str | None = None) -> None:
        render.err.print(text, style=style)

    def _started(self, m: msg.ServiceStarted) -> None:
        self._say(f"running {render.count(m.schedules, 'schedule')} of {render.here(m.store)}; Ctrl-C to stop", "bold")

    def _missed(self, m: msg.Missed) -> None:
        self._say(f"schedule {m.schedule}: missed {render.count(m.count, 'due time')} ({m.message})", "yellow")

    def _fired(self, m: msg.Fired) -> None:
        self._say(f"schedule {m.schedule} is due" + (f" (for {m.missed} missed)" if m.missed else ""))

    def _cook(self, m: msg.ScheduledCook) -> None:
        s = m.summary
        self._say(f"schedule {m.schedule}: {render.cook_line(s)}", render.STATE_STYLES.get(s.status))

    def _skipped(self, m: msg.Skipped) -> None:
        self._say(f"schedule {m.schedule} skipped: {m.message}", "yellow")

    def _error(self, m: msg.CookFailed) -> None:
        self._say(f"pdg: {m.message}", "bold red")

    def _stopped(self, m: msg.ServiceStopped) -> None:
        self._say("schedule service stopped")
