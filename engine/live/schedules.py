"""Scheduled cooks: definitions recorded as events, due times, and the service that runs them.

A schedule is ``ScheduleAdded`` (and ``ScheduleChanged``/``ScheduleRemoved``) in the store, so
``pdg schedule list`` needs no service and a restarted service finds every schedule again. What
happened to each due time is recorded too: ``ScheduleFired`` (then a cook whose ``CookTriggered``
names the schedule), ``ScheduleMissed`` (due while no service ran, or later than the misfire grace)
and ``ScheduleSkipped`` (the store stayed busy).

The service (``ScheduleService``) runs APScheduler 3.x's BackgroundScheduler with one job per
schedule, its ``misfire_grace_time`` set on purpose (the library's default of 1 s silently drops a
fire that is a second late), ``coalesce=True`` and ``max_instances=1``. Due times are computed here
from the schedule's definition (interval schedules are anchored at the time they were defined), so
the times missed while the service was down are known exactly on restart: reported once, and run
once (coalesced) when the last of them is within the grace.
"""

from __future__ import annotations

import os
import re
import threading
import time
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

from pdgstore.engine.errors import UnknownNode
from pdgstore.engine.graph.loader import load_graph
from pdgstore.engine.live import schedulemessages as msg
from pdgstore.engine.live.writer import StoreSession
from pdgstore.engine.stop import Stop

from pdgstore import events as ev
from pdgstore.errors import PdgError, StoreBusy
from pdgstore.log import EventLog
from pdgstore.paths import display_path

_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}
_DAYS = ("sun", "mon", "tue", "wed", "thu", "fri", "sat")
#: due times counted one by one before a long outage is summarised
MAX_COUNTED = 100_000


class ScheduleError(PdgError):
    """A schedule that cannot be defined, or an id no schedule has."""

    exit_code = 2


def parse_every(text: str) -> float:
    """Seconds in an interval such as ``15m``, ``1h30m``, ``90s``, ``2d`` or ``45`` (seconds)."""
    value = text.strip().lower()
    if re.fullmatch(r"\d+(\.\d+)?", value):
        seconds = float(value)
    else:
        parts = re.findall(r"(\d+(?:\.\d+)?)([smhdw])", value)
        if not parts or "".join(n + u for n, u in parts) != value.replace(" ", ""):
            raise ScheduleError(f"--every {text!r} is not an interval: write e.g. 30s, 15m, 1h30m or 2d")
        seconds = sum(float(n) * _UNITS[u] for n, u in parts)
    if seconds < 0.5:
        raise ScheduleError(f"--every {text!r} is too short: the shortest interval is 0.5 s")
    return seconds


def cron_trigger(expr: str, timezone=None):
    """An APScheduler CronTrigger for a standard crontab line (0 or 7 = Sunday, as cron says;
    APScheduler 3.x alone would read 0 as Monday)."""
    from apscheduler.triggers.cron import CronTrigger

    fields = expr.split()
    if len(fields) != 5:
        raise ScheduleError(f"--cron {expr!r} needs 5 fields (minute hour day month weekday), e.g. '0 2 * * *'")
    try:
        fields[4] = _crontab_weekdays(fields[4])
        return CronTrigger(
            minute=fields[0],
            hour=fields[1],
            day=fields[2],
            month=fields[3],
            day_of_week=fields[4],
            timezone=timezone or _local(),
        )
    except (ValueError, KeyError) as exc:
        raise ScheduleError(f"--cron {expr!r} is not a valid crontab line: {exc}") from None


def _crontab_weekdays(field: str) -> str:
    """Crontab weekday numbers as day names, which APScheduler reads without the off-by-one."""
    out = []
    for token in field.split(","):
        m = re.fullmatch(r"(\d)(?:-(\d))?(?:/(\d+))?", token)
        if not m:
            out.append(token)
            continue
        first = int(m.group(1))
        last = int(m.group(2)) if m.group(2) else first if not m.group(3) else 7
        step = int(m.group(3) or 1)
        if first > 7 or last > 7 or first > last:
            raise ValueError(f"weekday {token} is out of range 0-7")
        out.extend(_DAYS[n % 7] for n in range(first, last + 1, step))
    return ",".join(dict.fromkeys(out))


def _local():
    from tzlocal import get_localzone

    return get_localzone()


def describe(schedule: dict) -> str:
    return f"cron {schedule['cron']}" if schedule["cron"] else f"every {_seconds_text(schedule['every_s'])}"


def _seconds_text(seconds: float) -> str:
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size and seconds % size == 0:
            return f"{int(seconds // size)}{unit}"
    return f"{seconds:g}s"


def anchor_ns(schedule: dict) -> int:
    """Where an interval schedule's due times start: when its timing was last defined."""
    return schedule["changed_ns"]


def due_times(schedule: dict, after_ns: int, until_ns: int, limit: int = MAX_COUNTED) -> tuple[int, int, int]:
    """(count, first_ns, last_ns) of the due times in (after_ns, until_ns]; count stops at ``limit``
    (then last_ns is still the last due time)."""
    if schedule["every_s"]:
        step = int(schedule["every_s"] * 1e9)
        anchor = anchor_ns(schedule)
        k_first = max(1, (after_ns - anchor) // step + 1)
        k_last = (until_ns - anchor) // step
        if k_last < k_first:
            return 0, 0, 0
        return int(min(k_last - k_first + 1, limit)), anchor + k_first * step, anchor + k_last * step
    trigger = cron_trigger(schedule["cron"])
    tz = trigger.timezone
    cursor = datetime.fromtimestamp(after_ns / 1e9, tz) + timedelta(microseconds=1)
    until = datetime.fromtimestamp(until_ns / 1e9, tz)
    count, first, last, previous = 0, 0, 0, None
    while True:
        nxt = trigger.get_next_fire_time(previous, cursor)
        if nxt is None or nxt > until:
            break
        count += 1
        stamp = int(nxt.timestamp() * 1e9)
        first = first or stamp
        last = stamp
        if count >= limit:
            break
        previous, cursor = nxt, nxt + timedelta(microseconds=1)
    return count, first, last


def next_due_ns(schedule: dict, now_ns: int) -> int:
    if schedule["every_s"]:
        step = int(schedule["every_s"] * 1e9)
        anchor = anchor_ns(schedule)
        return anchor + ((now_ns - anchor) // step + 1) * step
    trigger = cron_trigger(schedule["cron"])
    nxt = trigger.get_next_fire_time(None, datetime.fromtimestamp(now_ns / 1e9, trigger.timezone))
    return int(nxt.timestamp() * 1e9) if nxt else 0


# -- definitions (``pdg schedule add/remove``) ------------------------------------------------------
def add(
    db: str, graph_path: str, node: str | None, *, cron: str | None, every: str | None, overrides: dict
) -> tuple[str, str]:
    """Define a scheduled cook (or retime the one with the same graph, node and ``--set`` values):
    (schedule id, 'added' | 'changed' | 'unchanged'). The graph file is loaded first, so a broken
    one, an unknown node or parameter is refused before anything is written."""
    if bool(cron) == bool(every):
        raise ScheduleError('give exactly one of --cron "MIN HOUR DAY MONTH WEEKDAY" or --every INTERVAL')
    every_s = parse_every(every) if every else 0.0
    if cron:
        cron_trigger(cron)
    path = os.path.abspath(graph_path)
    graph = load_graph(path, overrides)
    if node is not None and node not in graph.nodes:
        raise UnknownNode(
            f"{display_path(path)}: graph {graph.name} has no node {node} "
            f"(its nodes: {', '.join(graph.nodes) or 'none'})"
        )
    session = StoreSession(db)
    with EventLog.open(db, writer=True, create=True) as log:
        state = session.state = log.state_without_items()
        ids = [int(e.schedule) for e in log.events(0, kind="ScheduleAdded")]
    for sid, s in state.schedules.items():
        if s["path"] == path and s["node"] == (node or "") and s["overrides"] == overrides:
            if s["cron"] == (cron or "") and s["every_s"] == every_s:
                return sid, "unchanged"
            session.record(
                graph.name,
                [(ev.ScheduleChanged, {"schedule": sid, "cron": cron or "", "every_s": every_s})],
                wait_s=10.0,
            )
            return sid, "changed"
    sid = str(max(ids, default=0) + 1)
    session.record(
        graph.name,
        [
            (
                ev.ScheduleAdded,
                {
                    "schedule": sid,
                    "path": path,
                    "node": node or "",
                    "cron": cron or "",
                    "every_s": every_s,
                    "overrides": dict(overrides),
                },
            )
        ],
        wait_s=10.0,
    )
    return sid, "added"


def remove(db: str, schedule_id: str) -> dict:
    session = StoreSession(db)
    state = session.refresh()
    schedule = state.schedules.get(schedule_id)
    if schedule is None:
        known = ", ".join(state.schedules) or "none"
        raise ScheduleError(f"no schedule {schedule_id} in {display_path(db)} (its schedules: {known})")
    session.record(schedule["graph"], [(ev.ScheduleRemoved, {"schedule": schedule_id})], wait_s=10.0)
    return schedule


def rows(state, now_ns: int | None = None) -> list[dict]:
    """``pdg schedule list``: one row per schedule, with its next due time."""
    now_ns = now_ns or time.time_ns()
    out = []
    for s in state.schedules.values():
        last_cook = state.cooks.get(s["last_cook"])
        out.append(
            {
                **s,
                "when": describe(s),
                "next_due_ns": next_due_ns(s, now_ns),
                "last_status": last_cook.status if last_cook else "",
            }
        )
    return out


# -- the service (``pdg schedule run``) ------------------------------------------------------------
class ScheduleService:
    """Run the store's schedules until ``stop``. ``report(message)`` hears what happens, as the
    typed messages of ``engine.live.schedulemessages``. ``gate`` serialises cooks within this process (a watch
    started with ``--watch`` shares it); across processes the store's writer lock does."""

    def __init__(
        self,
        db: str,
        *,
        misfire_grace_s: float = 600.0,
        busy_wait_s: float = 300.0,
        report: Callable[[msg.ScheduleMessage], None] | None = None,
        gate: threading.Lock | None = None,
        refresh_s: float = 1.0,
        clock: Callable[[], int] = time.time_ns,
    ) -> None:
        self.db = db
        # what "now" is when due times are reckoned (catch-up on start, a fire's lateness): tests
        # hand in a clock that is hours ahead instead of sleeping through due times
        self.clock = clock
        self.misfire_grace_s = misfire_grace_s
        self.busy_wait_s = busy_wait_s
        self.report = report or (lambda message: None)
        self.gate = gate or threading.Lock()
        self.refresh_s = refresh_s
        self.stopped = Stop()  # ``stop`` may be called from a signal handler (``engine.stop``)
        self.session = StoreSession(db, stop=self.stopped)
        self._outbox: list[tuple[str, type, dict]] = []  # (graph, event class, fields) to record
        self._outbox_lock = threading.Lock()
        self._jobs: dict[str, tuple] = {}  # schedule id -> (cron, every_s, changed_ns) scheduled
        self._cook = None
        self.scheduler: Any = None  # APScheduler's BackgroundScheduler, while running

    def stop(self, reason: str = "stopped") -> None:
        self.stopped.set()
        cook = self._cook
        if cook is not None:
            cook.cancel(reason)

    def run(self) -> None:
        from apscheduler.events import EVENT_JOB_MAX_INSTANCES, EVENT_JOB_MISSED
        from apscheduler.schedulers.background import BackgroundScheduler

        with self.gate:
            state = self.session.refresh()
        self.report(msg.ServiceStarted(schedules=len(state.schedules), store=self.db))
        self._catch_up(state)
        self.scheduler = BackgroundScheduler(timezone=_local())
        self.scheduler.add_listener(self._on_missed, EVENT_JOB_MISSED)
        self.scheduler.add_listener(self._on_busy, EVENT_JOB_MAX_INSTANCES)
        self.scheduler.start()
        try:
            self._sync(state)
            while not self.stopped.wait(self.refresh_s):
                self._flush_outbox()
                with self.gate:
                    state = self.session.refresh()
                self._sync(state)
        finally:
            self.scheduler.shutdown(wait=True)
            self._flush_outbox(wait_s=10.0)
            self.report(msg.ServiceStopped())

    # -- what was due while no service ran --------------------------------------------------------
    def _catch_up(self, state) -> None:
        now = self.clock()
        for sid, s in list(state.schedules.items()):
            after = max(s["last_due_ns"], s["changed_ns"])
            count, first, last = due_times(s, after, now)
            if not count:
                continue
            late_s = (now - last) / 1e9
            run = late_s <= self.misfire_grace_s
            message = (
                "running it once now"
                if run
                else f"the last was {late_s:.0f} s ago, beyond the misfire grace of {self.misfire_grace_s:g} s: not run"
            )
            fields = {"schedule": sid, "count": count, "first_ns": first, "last_ns": last, "message": message}
            try:
                self._record(s["graph"], ev.ScheduleMissed, **fields)
            except StoreBusy:  # another process's cook holds the store: recorded once it can be (the
                # service goes on; it died here, and never fired again while it ran)
                self._queue(sid, ev.ScheduleMissed, graph=s["graph"], **fields)
            self.report(msg.Missed(schedule=sid, count=count, message=message))
            if run:
                self._fire(sid, due_ns=last, missed=count)

    # -- APScheduler jobs -----------------------------------------------------------------------
    def _sync(self, state) -> None:
        """Make the scheduler's jobs match the schedules in the store (added, changed, removed)."""
        for sid in list(self._jobs):
            if sid not in state.schedules:
                self.scheduler.remove_job(sid)
                del self._jobs[sid]
        for sid, s in state.schedules.items():
            key = (s["cron"], s["every_s"], s["changed_ns"])
            if self._jobs.get(sid) == key:
                continue
            trigger = self._trigger(s)
            if sid in self._jobs:
                self.scheduler.reschedule_job(sid, trigger=trigger)
            else:
                self.scheduler.add_job(
                    self._fire,
                    trigger,
                    args=[sid],
                    id=sid,
                    misfire_grace_time=max(1, int(self.misfire_grace_s)),
                    coalesce=True,
                    max_instances=1,
                )
            self._jobs[sid] = key

    def _trigger(self, s: dict):
        if s["cron"]:
            return cron_trigger(s["cron"])
        from apscheduler.triggers.interval import IntervalTrigger

        tz = _local()
        return IntervalTrigger(
            seconds=s["every_s"], start_date=datetime.fromtimestamp(anchor_ns(s) / 1e9, tz), timezone=tz
        )

    def _on_missed(self, event) -> None:
        sid = event.job_id
        due = int(event.scheduled_run_time.timestamp() * 1e9)
        self._queue(
            sid,
            ev.ScheduleMissed,
            schedule=sid,
            count=1,
            first_ns=due,
            last_ns=due,
            message=f"ran later than the misfire grace of {self.misfire_grace_s:g} s: not run",
        )
        self.report(msg.Missed(schedule=sid, count=1, message="later than the misfire grace"))

    def _on_busy(self, event) -> None:
        sid = event.job_id
        due = int(event.scheduled_run_times[-1].timestamp() * 1e9) if event.scheduled_run_times else self.clock()
        message = "its previous cook was still running"
        self._queue(sid, ev.ScheduleSkipped, schedule=sid, due_ns=due, message=message)
        self.report(msg.Skipped(schedule=sid, message=message))

    def _fire(self, sid: str, due_ns: int | None = None, missed: int = 0) -> None:
        """Run one due cook of schedule ``sid`` (an APScheduler job, or a catch-up on start)."""
        now = self.clock()
        if self.stopped.is_set():
            return
        if not self._acquire_gate():
            if not self.stopped.is_set():
                self._skip(sid, due_ns or now, f"another cook of this process ran for over {self.busy_wait_s:g} s")
            return
        try:
            s = self.session.refresh().schedules.get(sid)
            if s is None:
                return  # removed since
            if due_ns is None:  # the latest due time: APScheduler calls at (or just after) it
                window = int(max(self.misfire_grace_s, 1.0) * 1e9)
                due_ns = due_times(s, max(s["last_due_ns"], s["changed_ns"], now - window), now)[2] or now
            try:
                graph = load_graph(s["path"], s["overrides"])
            except PdgError as exc:
                self._skip(sid, due_ns, f"the graph does not load: {exc}")
                return
            try:
                self.session.record(
                    graph.name,
                    [
                        (
                            ev.ScheduleFired,
                            {
                                "schedule": sid,
                                "due_ns": due_ns,
                                "late_s": round(max(0, now - due_ns) / 1e9, 3),
                                "missed": missed,
                            },
                        )
                    ],
                    wait_s=self.busy_wait_s,
                )
            except StoreBusy as exc:
                self._skip(sid, due_ns, f"{exc} for over {self.busy_wait_s:g} s")
                return
            self.report(msg.Fired(schedule=sid, due_ns=due_ns, missed=missed))
            trigger = {"by": "schedule", "schedule": sid, "message": f"schedule {sid} ({describe(s)})"}
            try:
                summary = self.session.cook(
                    graph, node=s["node"] or None, trigger=trigger, on_cook=self._running, wait_s=self.busy_wait_s
                )
            except StoreBusy as exc:
                self._skip(sid, due_ns, f"{exc} for over {self.busy_wait_s:g} s")
                return
            except PdgError as exc:
                self.report(msg.CookFailed(schedule=sid, message=str(exc)))
                return
            finally:
                self._cook = None
            try:  # the no-op manifest it left: a pdg cook after it proves its no-op from it
                self.session.save_manifest()
            except PdgError as exc:  # derived data: the next pdg cook only reads more
                self.report(msg.CookFailed(schedule=sid, message=f"the no-op manifest was not written: {exc}"))
            self.report(msg.ScheduledCook(schedule=sid, summary=summary))
        finally:
            self.gate.release()

    def _acquire_gate(self) -> bool:
        """The process's one-cook-at-a-time lock, waited for up to ``busy_wait_s`` (less on stop)."""
        deadline = time.monotonic() + self.busy_wait_s
        while not self.stopped.is_set():
            if self.gate.acquire(timeout=min(0.1, max(0.0, deadline - time.monotonic()))):
                return True
            if time.monotonic() >= deadline:
                return False
        return False

    def _running(self, cook) -> None:
        self._cook = cook
        if self.stopped.is_set():
            cook.cancel("the schedule service stopped")

    # -- recording from threads that must not wait for the lock ----------------------------------
    def _skip(self, sid: str, due_ns: int, message: str) -> None:
        s = self.session.state.schedules.get(sid) if self.session.state else None
        self._queue(
            sid, ev.ScheduleSkipped, schedule=sid, due_ns=due_ns, message=message, graph=s["graph"] if s else ""
        )
        self.report(msg.Skipped(schedule=sid, message=message))

    def _queue(self, sid: str, cls, graph: str = "", **fields) -> None:
        with self._outbox_lock:
            self._outbox.append((graph, cls, fields))

    def _record(self, graph: str, cls, **fields) -> None:
        with self.gate:
            self.session.record(graph, [(cls, fields)], wait_s=self.busy_wait_s)

    def _flush_outbox(self, wait_s: float = 0.0) -> None:
        """Record what the scheduler's threads queued, when the store can be written."""
        with self._outbox_lock:
            pending, self._outbox = self._outbox, []
        if not pending:
            return
        with self.gate:
            state = self.session.refresh()
            while pending:
                graph, cls, fields = pending[0]
                s = state.schedules.get(fields["schedule"])
                if s is not None:  # a schedule removed since has nothing more to record
                    try:
                        self.session.record(graph or s["graph"], [(cls, fields)], wait_s=wait_s)
                    except StoreBusy:
                        with self._outbox_lock:
                            self._outbox[:0] = pending  # written at the next turn
                        return
                pending.pop(0)
