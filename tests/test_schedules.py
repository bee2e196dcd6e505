"""Scheduled cooks: definitions as events, due times, and the APScheduler service on short intervals."""

from __future__ import annotations

import json
import signal
import threading
import time
from datetime import datetime

import pytest

from pdgstore.engine.live import schedulemessages, schedules
from pdgstore.engine.live.schedulemessages import Fired, Missed, ScheduleMessage
from pdgstore.engine.live.schedules import ScheduleService, due_times, next_due_ns
from pdgstore.log import EventLog
from conftest import CHATTY_WIDE_GRAPH

NS = 1_000_000_000


def schedule(every_s=0.0, cron="", changed_ns=0) -> dict:
    return {"every_s": every_s, "cron": cron, "changed_ns": changed_ns}


def test_interval_due_times_are_anchored_where_the_schedule_was_defined():
    s = schedule(every_s=900, changed_ns=1000 * NS)
    assert due_times(s, 1000 * NS, 1000 * NS + 3600 * NS) == (4, 1900 * NS, 4600 * NS)
    assert due_times(s, 1900 * NS, 1900 * NS + 899 * NS) == (0, 0, 0)
    assert next_due_ns(s, 1901 * NS) == 2800 * NS


def test_cron_due_times_and_crontab_weekdays():
    start = int(datetime(2026, 11, 30, 0, 0).timestamp() * NS)  # a Monday, local time
    assert due_times(schedule(cron="*/5 * * * *"), start, start + 3600 * NS)[0] == 12
    sunday = datetime.fromtimestamp(next_due_ns(schedule(cron="0 2 * * 0"), start) / NS)
    assert (sunday.weekday(), sunday.hour, sunday.day) == (6, 2, 6)  # cron's 0 is Sunday, not Monday
    assert schedules._crontab_weekdays("1-5") == "mon,tue,wed,thu,fri"
    assert schedules._crontab_weekdays("0,6,7") == "sun,sat"


@pytest.mark.parametrize(
    "args, message",
    [
        ([], "give exactly one of --cron"),
        (["--cron", "0 2 * * *", "--every", "1h"], "give exactly one of --cron"),
        (["--every", "soon"], "is not an interval"),
        (["--every", "0.1s"], "too short"),
        (["--cron", "0 2 * *"], "needs 5 fields"),
        (["--cron", "0 25 * * *"], "not a valid crontab line"),
    ],
)
def test_bad_schedules_are_one_sentence_and_write_nothing(wide, args, message):
    result = wide.pdg_process("schedule", "add", "wide.py", *args)
    assert result.returncode == 2 and message in result.stderr and "Traceback" not in result.stderr
    assert not wide.db.exists()


def test_unknown_node_and_parameter_are_refused(wide):
    result = wide.pdg_process("schedule", "add", "wide.py", "nope", "--every", "1h")
    assert result.returncode == 2 and "has no node nope" in result.stderr
    result = wide.pdg_process("schedule", "add", "wide.py", "--every", "1h", "--set", "x=1")
    assert result.returncode == 2 and "no parameter x" in result.stderr
    assert not wide.db.exists()


def test_add_change_list_remove_without_a_service(wide):
    first = json.loads(wide.pdg("schedule", "add", "wide.py", "--every", "15m", "--json").output)
    assert first["schedule_id"] == 1 and first["schema"] == 2  # ids are integers named *_id (schema 2)
    out = json.loads(wide.pdg("schedule", "add", "wide.py", "upper", "--cron", "0 2 * * *", "--json").output)
    assert out == {**out, "schedule_id": 2, "result": "added"}
    again = json.loads(wide.pdg("schedule", "add", "wide.py", "--every", "1h", "--json").output)
    assert again["schedule_id"] == 1 and again["result"] == "changed"
    rows = json.loads(wide.pdg("schedule", "list", "--json").output)["schedules"]
    assert [(r["schedule_id"], r["when"], r["node"]) for r in rows] == [
        (1, "every 1h", ""),
        (2, "cron 0 2 * * *", "upper"),
    ]
    assert all("schedule" not in r and r["last_cook_id"] is None for r in rows)
    assert rows[0]["next_due_ns"] > time.time_ns()
    assert wide.pdg("schedule", "remove", "2").exit_code == 0
    gone = wide.pdg("schedule", "remove", "2")
    assert gone.exit_code == 2 and "no schedule 2" in gone.output
    assert [r["schedule_id"] for r in json.loads(wide.pdg("schedule", "list", "--json").output)["schedules"]] == [1]
    assert "every 1h" in wide.pdg("schedule", "list").output
    assert wide.pdg("check").exit_code == 0
    kinds = [json.loads(line)["kind"] for line in wide.pdg("events", "--json").output.splitlines()]
    assert kinds == ["ScheduleAdded", "ScheduleAdded", "ScheduleChanged", "ScheduleRemoved"]


class Service:
    def __init__(self, db, **kwargs) -> None:
        self.seen: list[ScheduleMessage] = []
        self.service = ScheduleService(str(db), report=self.seen.append, refresh_s=0.1, **kwargs)
        self.thread = threading.Thread(target=self.service.run, daemon=True)
        self.thread.start()

    def stop(self) -> None:
        self.service.stop("test over")
        # a wait, not a claim about time: the service ends once a cook it fired just now has ended
        # and its outbox is written, which a loaded machine (another suite beside this one) slows
        self.thread.join(60)
        assert not self.thread.is_alive()

    def kinds(self) -> list[str]:
        return [m.kind for m in self.seen]


def state_of(db):
    with EventLog.open(str(db)) as log:
        return log.load_state()


def wait_for(condition, what: str, timeout_s: float = 60) -> None:
    """Poll ``condition`` until it holds: a wait for an event, never a claim about how long it took."""
    deadline = time.monotonic() + timeout_s
    while not condition():
        assert time.monotonic() < deadline, f"never saw {what}"
        time.sleep(0.02)


def hours_ahead(hours: float):
    """A clock ``hours`` ahead of the real one: the service reckons due times that did not yet pass."""
    return lambda: time.time_ns() + int(hours * 3600 * NS)


def test_fires_are_recorded(wide):
    wide.pdg("schedule", "add", "wide.py", "--every", "0.5s")
    service = Service(wide.db)
    wait_for(lambda: service.kinds().count("cook") >= 2, "two scheduled cooks")
    service.stop()
    state = state_of(wide.db)
    fired = state.schedules["1"]["fired"]
    assert fired >= 2 and service.kinds().count("cook") == fired
    cooks = [c for c in state.cooks.values() if c.trigger.get("schedule") == "1"]
    assert len(cooks) == fired and all(c.status == "success" for c in cooks)
    trigger = json.loads(wide.pdg("history", "--json").output)["cooks"][-1]["trigger"]
    assert trigger["by"] == "schedule" and trigger["schedule_id"] == 1 and "schedule" not in trigger


def test_a_restart_reports_misses_and_runs_once_then_not_beyond_the_grace(wide):
    """Due times that passed while no service ran, seen through a clock hours ahead (no sleeping)."""
    wide.pdg("schedule", "add", "wide.py", "--every", "1h")
    service = Service(wide.db, misfire_grace_s=3600, clock=hours_ahead(3.5))  # due at +1h, +2h, +3h
    wait_for(lambda: "cook" in service.kinds(), "the catch-up cook")
    service.stop()
    missed = next(m for m in service.seen if isinstance(m, Missed))
    assert missed.count == 3 and missed.message == "running it once now"
    first_fire = next(m for m in service.seen if isinstance(m, Fired))
    assert first_fire.missed == 3  # one coalesced cook for all of them
    assert service.kinds().count("cook") == 1
    state = state_of(wide.db)
    assert state.schedules["1"]["missed"] == 3  # the restart kept the schedule and its counts

    service = Service(wide.db, misfire_grace_s=60, clock=hours_ahead(5.5))  # +4h and +5h, the last 30 min late
    wait_for(lambda: "missed" in service.kinds(), "the missed due times")
    service.stop()
    late = next(m for m in service.seen if isinstance(m, Missed))
    assert late.count == 2 and "beyond the misfire grace" in late.message
    assert "fired" not in service.kinds()  # too late: not run
    assert state_of(wide.db).schedules["1"]["missed"] == 5
    assert wide.pdg("check").exit_code == 0


def test_a_busy_store_waits_then_records_the_fire_skipped(wide):
    wide.pdg("schedule", "add", "wide.py", "--every", "0.5s")
    holder = EventLog.open(str(wide.db), writer=True)  # another process's cook, as far as the lock is concerned
    service = Service(wide.db, busy_wait_s=0.2)
    try:
        try:
            wait_for(lambda: "skipped" in service.kinds(), "a skipped fire")
        except AssertionError as exc:  # (failed twice in CI under load: say what the service heard)
            raise AssertionError(f"{exc}; the service heard {service.kinds()} {service.seen[-3:]}") from None
        assert "cook" not in service.kinds()
    finally:
        holder.close()
    wait_for(lambda: "cook" in service.kinds(), "a cook once the store was free")
    service.stop()
    state = state_of(wide.db)
    assert state.schedules["1"]["skipped"] >= 1  # recorded once the store could be written
    assert state.schedules["1"]["fired"] >= 1  # and the next due time cooked


def test_a_restart_while_another_cook_holds_the_store_records_its_misses_once_it_can(wide):
    """Due times missed while no service ran, its start while another process's cook holds the
    store: the misses and the catch-up's skip are recorded once the store is free, in that order,
    and the service goes on (it died on the busy store: the cause of the busy-store test's rare
    failures under load, whose service started after a due time had passed)."""
    wide.pdg("schedule", "add", "wide.py", "--every", "1h")
    holder = EventLog.open(str(wide.db), writer=True)
    service = Service(wide.db, busy_wait_s=0.2, misfire_grace_s=3600, clock=hours_ahead(2.5))  # +1h, +2h
    try:
        wait_for(lambda: "skipped" in service.kinds(), "the catch-up's skip")
        assert service.kinds()[:3] == ["started", "missed", "skipped"], service.kinds()
        assert service.thread.is_alive()
    finally:
        holder.close()
    wait_for(lambda: state_of(wide.db).schedules["1"]["skipped"] >= 1, "the queued records written")
    service.stop()
    kinds = [json.loads(line)["kind"] for line in wide.pdg("events", "--json").output.splitlines()]
    schedule_kinds = [k for k in kinds if k.startswith("Schedule") and k != "ScheduleAdded"]
    assert schedule_kinds[:2] == ["ScheduleMissed", "ScheduleSkipped"], kinds
    assert state_of(wide.db).schedules["1"]["missed"] == 2


def test_schedule_run_process_with_watch_exits_0_on_ctrl_c(wide):
    wide.pdg("schedule", "add", "wide.py", "--every", "1h")
    proc = wide.popen("schedule", "run", "--watch", "--json")
    try:
        first = json.loads(proc.stdout.readline())  # the watcher's first cook
        if first["status"] != "success":
            proc.kill()
            out, err = proc.communicate()
            raise AssertionError(f"first: {first}\nstdout: {out}\nstderr: {err}")
        assert first["status"] == "success" and first["items"]["ran"] == 21
        (wide.root / "in" / "f0001.txt").write_text("edited while the service runs\n")
        second = json.loads(proc.stdout.readline())
        assert second["trigger"]["files"] == ["in/f0001.txt"]
        proc.send_signal(signal.SIGINT)
        assert proc.wait(15) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
    state = state_of(wide.db)
    assert list(state.schedules) == ["1"] and all(w["ended_ns"] for w in state.watches.values())


def test_scheduled_and_watch_cooks_in_one_process_never_overlap(project):
    from pdgstore.engine.live.watch import Watcher
    from test_watch import SLOW_GRAPH

    project.write("slow.py", SLOW_GRAPH)
    project.inputs(2)
    project.pdg("schedule", "add", "slow.py", "--every", "0.5s")
    gate = threading.Lock()
    service = Service(project.db, gate=gate)
    watcher = Watcher(str(project.root / "slow.py"), gate=gate, debounce_s=0.02)
    thread = threading.Thread(target=watcher.run, daemon=True)
    thread.start()

    def cooks_by(by: str) -> int:
        return sum(c.trigger.get("by") == by for c in state_of(project.db).cooks.values())

    def ended_watch_cooks() -> int:
        """Watch cooks, counted only once none is running: an edit written while one runs may be
        read by it (it is recorded before it stats its inputs), and then no later cook is owed."""
        cooks = [c for c in state_of(project.db).cooks.values() if c.trigger.get("by") == "watch"]
        return len(cooks) if all(c.ended_ns for c in cooks) else -1

    k = 0
    wait_for(lambda: ended_watch_cooks() >= 1, "the watcher's first cook")
    while cooks_by("schedule") < 2 or cooks_by("watch") < 3:  # edits keep coming while schedules fire
        before = cooks_by("watch")
        (project.root / "in" / "f0000.txt").write_text(f"edit {k}\n")
        k += 1
        wait_for(lambda: ended_watch_cooks() > before, f"the watch cook of edit {k}")
    watcher.stop("test over")
    thread.join(10)
    service.stop()
    cooks = sorted(state_of(project.db).cooks.values(), key=lambda c: c.started_ns)
    assert {c.trigger.get("by") for c in cooks} == {"watch", "schedule"}
    for a, b in zip(cooks, cooks[1:]):
        assert a.ended_ns and a.ended_ns <= b.started_ns, (a.cook_id, b.cook_id)


def test_every_schedule_message_has_a_handler_in_the_cli():
    """A message type the CLI does not handle would be lost: each is handled by its own method."""
    import inspect

    from pdgstore.cli.schedule import ScheduleStatus

    types = {
        obj
        for _, obj in inspect.getmembers(schedulemessages, inspect.isclass)
        if issubclass(obj, ScheduleMessage) and obj is not ScheduleMessage
    }
    assert types and set(ScheduleStatus(as_json=False)._on) == types
    assert len({t.kind for t in types}) == len(types)


def test_schedule_run_json_lines_name_the_event_and_the_schedule_id(wide):
    wide.write("wide.py", CHATTY_WIDE_GRAPH)  # what the graph prints goes to stderr, not between the lines
    wide.pdg("schedule", "add", "wide.py", "--every", "0.5s")
    proc = wide.popen("schedule", "run", "--json")
    try:
        lines = [json.loads(proc.stdout.readline())]
        while lines[-1]["event"] != "cook":  # due times passed while the process started: missed first
            lines.append(json.loads(proc.stdout.readline()))
        # a fire that comes while the cook still runs is skipped (max one at a time): said in between
        assert [line["event"] for line in lines if line["event"] not in ("missed", "skipped")] == ["fired", "cook"]
        missed = [line for line in lines if line["event"] == "missed"]
        fired, cooked = (next(line for line in lines if line["event"] == e) for e in ("fired", "cook"))
        assert all(m["schedule_id"] == 1 and m["count"] >= 1 for m in missed)
        assert all(line["schedule_id"] == 1 and line["message"] for line in lines if line["event"] == "skipped")
        assert fired["event"] == "fired" and fired["schedule_id"] == 1 and "schedule" not in fired
        assert fired["missed"] == sum(m["count"] for m in missed) and isinstance(fired["due_ns"], int)
        assert fired["schema"] == 2
        assert cooked["event"] == "cook" and cooked["schedule_id"] == 1
        assert cooked["summary"]["status"] == "success" and cooked["summary"]["items"]["ran"] == 21
        proc.send_signal(signal.SIGINT)
        assert proc.wait(15) == 0
    finally:
        if proc.poll() is None:
            proc.kill()


def test_the_pdg_cook_after_a_scheduled_cook_proves_its_noop_from_the_manifest_it_left(wide, monkeypatch):
    """The service writes the no-op manifest right after its cook, and the ``pdg cook`` after the
    service reads no item of the store. One cook only: the catch-up of a due time missed, seen
    through a clock ahead (the next is due half an hour later), so no fire is cut short by the stop."""
    from pdgstore.engine.project import cook_file

    wide.pdg("schedule", "add", "wide.py", "--every", "1h")
    service = Service(wide.db, misfire_grace_s=3600, clock=hours_ahead(1.5))
    wait_for(lambda: "cook" in service.kinds(), "the catch-up cook")
    service.stop()
    assert service.kinds().count("cook") == 1
    with EventLog.open(str(wide.db)) as log:
        seq = log.manifest("wide")[0]
        assert seq == max(e.seq for e in log.events(0, kind="CookFinished"))
        assert log.manifest_at_end("wide") is not None
    for name in ("load_state", "current_state", "cook_state"):
        monkeypatch.setattr(EventLog, name, lambda self: pytest.fail("the state was loaded"))
    summary = cook_file(str(wide.root / "wide.py"))
    assert summary.status == "success" and summary.counts["ran"] == 0
