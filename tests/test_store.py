"""The event log on real SQLite files and real processes: refusals, batches, SIGKILL, one writer, snapshots.

Nothing here mocks the store. Files that must be refused are built for real (a text file, another
application's SQLite file, a store from the future, stores with damaged bytes) and must come out of
every attempt byte for byte as they went in. Process tests run ``pdg`` as a subprocess and kill it
with SIGKILL or race a second cook against it.
"""

from __future__ import annotations

import hashlib
import json
import os
import random
import signal
import sqlite3
import struct
import subprocess
import time
from pathlib import Path

import pytest

from pdgstore import events as ev
from pdgstore import itembatch, schema
from pdgstore.errors import StoreBusy, StoreError, StoreRefused
from pdgstore.events import FINISHED_STATES
from pdgstore.log import EventLog

TINY_GRAPH = """
from pdgstore.engine import Graph

graph = Graph("tiny")
r = graph.range_generate("r", 3)

@graph.python_processor("double", upstream=r)
def double(item):
    item.set_attrib("twice", item.attrib("value") * 2)
"""

SLOW_GRAPH = """
import time
from pdgstore.engine import Graph

graph = Graph("slow")
sleep_s = graph.parm("sleep_s", 0.02)
r = graph.range_generate("r", graph.parm("count", 200))

@graph.python_processor("work", upstream=r)
def work(item):
    time.sleep(sleep_s)
"""

SIDE_FILES = ("-wal", "-shm", "-journal")


# -- helpers ----------------------------------------------------------------------------------------

def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def sqlite_side_files(path: Path) -> set[str]:
    return {path.name + s for s in SIDE_FILES if (path.parent / (path.name + s)).exists()}


def seqs(db: Path) -> list[int]:
    """The seqs the log holds and stands for, in order: a batch of N new items at seq S
    (``pdgstore.itembatch``) stands for S - N + 1 .. S (an overlap would repeat a seq)."""
    conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    try:
        out: list[int] = []
        for seq, kind, payload in conn.execute("SELECT seq, kind, payload FROM events ORDER BY seq"):
            n = len(itembatch.ids_of(payload)) if kind == itembatch.KIND else 1
            out.extend(range(seq - n + 1, seq + 1))
        return out
    finally:
        conn.close()


def some_events(first_seq: int, n: int, cook_id: int = 1) -> list[ev.Event]:
    """``n`` events with seqs first_seq.. (a cook start, generated items, state changes)."""
    out: list[ev.Event] = []
    seq = first_seq
    for i in range(n):
        common = dict(seq=seq, time_ns=1_000 + seq, cook_id=cook_id, graph="g")
        if i == 0:
            out.append(ev.CookStarted(**common, pid=123, jobs=2))
        elif i % 2:
            out.append(ev.WorkItemGenerated(**common, item_id=f"item{seq}", node="n", name=f"n_{seq}", index=i))
        else:
            out.append(ev.WorkItemStateChanged(**common, item_id=f"item{seq - 1}", state="cooking"))
        seq += 1
    return out


def make_store(path: Path, n_events: int = 12) -> Path:
    """A real store holding a few events, closed cleanly (no -wal left)."""
    with EventLog.open(str(path), writer=True, create=True) as log:
        log.append(some_events(1, n_events))
    return path


def one_line(stderr: str) -> str:
    lines = stderr.strip().splitlines()
    assert len(lines) == 1, f"expected one line on stderr, got:\n{stderr}"
    assert "Traceback" not in stderr
    return lines[0]


def run_json(project, *args) -> dict:
    r = project.pdg_process(*args, "--json")
    assert r.returncode == 0, (r.stdout, r.stderr)
    return json.loads(r.stdout)


def wait_until(predicate, *, timeout_s: float = 30.0, what: str = "", proc: subprocess.Popen | None = None):
    deadline = time.monotonic() + timeout_s
    while True:
        value = predicate()
        if value:
            return value
        if proc is not None and proc.poll() is not None:
            out, err = proc.communicate()
            raise AssertionError(f"the process ended ({proc.returncode}) before {what}:\n{out}\n{err}")
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.02)


def count_kind(db: Path, kind: str) -> int:
    """Events of ``kind`` in the store, read the way any reader would (0 while it does not exist)."""
    try:
        with EventLog.open(str(db)) as log:
            return sum(1 for _ in log.events(kind=kind))
    except StoreError:
        return 0


# -- refused files ----------------------------------------------------------------------------------

def _text_file(path: Path) -> None:
    path.write_text("these are my notes, not a database\n" * 50)


def _other_application(path: Path) -> None:
    conn = sqlite3.connect(path)
    conn.execute("CREATE TABLE contacts (name TEXT, phone TEXT)")
    conn.execute("INSERT INTO contacts VALUES ('ada', '555-0100')")
    conn.commit()
    conn.close()


def _newer_than_the_code(path: Path) -> None:
    make_store(path)
    conn = sqlite3.connect(path)
    conn.execute("PRAGMA user_version = 99")
    conn.close()


def _truncated(path: Path) -> None:
    """Cut inside the pages, where bytes are lost (a cut through trailing zeros loses nothing, and
    SQLite rightly reads such a file whole: only SQLite's verdict counts, not the header's arithmetic)."""
    make_store(path)
    data = path.read_bytes()
    page_size = struct.unpack(">H", data[16:18])[0]
    cut = 2 * page_size + 1000
    assert cut % page_size and any(data[cut:])
    path.write_bytes(data[:cut])


def _last_page_missing(path: Path) -> None:
    make_store(path)
    data = path.read_bytes()
    page_size = struct.unpack(">H", data[16:18])[0]
    path.write_bytes(data[:-page_size])


def _page_one_garbage(path: Path) -> None:
    """The 100-byte header stays intact (so only SQLite itself can tell), page 1's b-tree is noise."""
    make_store(path)
    data = bytearray(path.read_bytes())
    page_size = struct.unpack(">H", data[16:18])[0]
    rng = random.Random(3)
    data[100:page_size] = bytes(rng.randrange(256) for _ in range(page_size - 100))
    path.write_bytes(bytes(data))


REFUSED = {
    "text_file": (_text_file, "not a pdgstore"),
    "other_application": (_other_application, "not a pdgstore"),
    "newer_than_the_code": (_newer_than_the_code, "newer"),
    "truncated": (_truncated, "corrupt"),
    "last_page_missing": (_last_page_missing, "corrupt"),
    "page_one_garbage": (_page_one_garbage, "corrupt|malformed"),
}


@pytest.fixture(params=sorted(REFUSED))
def refused(request, tmp_path) -> tuple[Path, str]:
    make, expect = REFUSED[request.param]
    path = tmp_path / "data" / f"{request.param}.db"
    path.parent.mkdir()
    make(path)
    assert sqlite_side_files(path) == set()
    return path, expect


@pytest.mark.parametrize("writer", [False, True], ids=["reader", "writer"])
def test_open_refuses_and_never_touches(refused, writer):
    path, expect = refused
    before = sha256(path)
    with pytest.raises(StoreRefused) as err:
        EventLog.open(str(path), writer=writer)
    message = str(err.value)
    assert "\n" not in message
    assert path.name in message
    assert any(word in message for word in expect.split("|")), message
    assert sha256(path) == before
    # no -wal/-shm left beside the refused file (nor a connection kept open on it)
    assert sqlite_side_files(path) == set()


def test_writer_open_with_create_refuses_too(refused):
    """``create=True`` creates a missing store; it must never replace or repair one that exists."""
    path, _ = refused
    before = sha256(path)
    with pytest.raises(StoreRefused):
        EventLog.open(str(path), writer=True, create=True)
    assert sha256(path) == before
    assert sqlite_side_files(path) == set()


def test_refused_store_lock_is_released(refused):
    """A refused writer open must not keep the writer lock: the next attempt is refused the same way."""
    path, _ = refused
    for _ in range(2):
        with pytest.raises(StoreRefused):
            EventLog.open(str(path), writer=True)


@pytest.mark.parametrize("command", ["status", "cook"])
def test_pdg_refuses_with_one_sentence(project, refused, command):
    path, expect = refused
    project.write("tiny.py", TINY_GRAPH)
    before = sha256(path)
    args = ["status", "--db", str(path)] if command == "status" else ["cook", "tiny.py", "--db", str(path)]
    r = project.pdg_process(*args)
    assert r.returncode == 2, (r.stdout, r.stderr)
    line = one_line(r.stderr)
    assert line.startswith("pdg: ")
    assert path.name in line
    assert any(word in line for word in expect.split("|")), line
    assert sha256(path) == before
    assert sqlite_side_files(path) == set()
    assert not (project.root / ".pdg").exists()  # the cook did not fall back to a store of its own


def test_status_without_a_store(project, tmp_path):
    empty = tmp_path / "empty"
    empty.mkdir()
    r = project.pdg_process("status", cwd=empty)
    assert r.returncode == 2, (r.stdout, r.stderr)
    assert ".pdg/pdg.db" in one_line(r.stderr)
    assert list(empty.iterdir()) == []


def test_status_with_a_missing_db(project):
    r = project.pdg_process("status", "--db", "nowhere.db")
    assert r.returncode == 2
    assert "nowhere.db" in one_line(r.stderr)
    assert not (project.root / "nowhere.db").exists()


# -- appends ----------------------------------------------------------------------------------------

def test_append_is_read_back_in_order(tmp_path):
    db = tmp_path / "s.db"
    with EventLog.open(str(db), writer=True, create=True) as log:
        assert log.next_seq == 1
        first = some_events(1, 50)
        log.append(first)
        second = some_events(51, 30, cook_id=2)
        log.append(second)
    with EventLog.open(str(db)) as log:
        assert list(log.events()) == first + second
        assert log.last_seq() == 80
        assert [e.seq for e in log.events(after=50)] == list(range(51, 81))
    assert seqs(db) == list(range(1, 81))
    with EventLog.open(str(db), writer=True) as log:
        assert log.next_seq == 81


def test_a_read_only_store_refuses_a_write_with_a_sentence(tmp_path):
    """A store on a read-only mount (here: the connection made query-only) refuses, exit 2 (it
    stays so until the user changes it), in words that name no cook: ``pdg dirty`` writes too."""
    db = tmp_path / "s.db"
    with EventLog.open(str(db), writer=True, create=True) as log:
        log.append(some_events(1, 5))
        log.conn.execute("PRAGMA query_only = ON")
        with pytest.raises(StoreRefused) as refused:
            log.append(some_events(6, 5))
    assert str(refused.value).endswith("s.db is read-only (attempt to write a readonly database): nothing was written")
    assert refused.value.exit_code == 2
    assert seqs(db) == list(range(1, 6))


def test_reader_cannot_append(tmp_path):
    db = make_store(tmp_path / "s.db")
    with EventLog.open(str(db)) as log, pytest.raises(Exception):
        log.append(some_events(13, 2))
    assert seqs(db) == list(range(1, 13))


@pytest.mark.parametrize("bad_at", ["inside_the_batch", "against_the_log"])
def test_a_failing_batch_leaves_none_of_itself(tmp_path, bad_at):
    db = tmp_path / "s.db"
    with EventLog.open(str(db), writer=True, create=True) as log:
        log.append(some_events(1, 10))
        batch = some_events(11, 20)
        # the 15th row collides: rows 11..24 are valid and written first by executemany
        duplicate = 13 if bad_at == "inside_the_batch" else 5
        batch.insert(14, ev.NodeGenerated(seq=duplicate, cook_id=1, graph="g", node="n", count=1))
        with pytest.raises(Exception):
            log.append(batch)
        assert not log.conn.in_transaction
        with EventLog.open(str(db)) as reader:  # another connection sees only the first batch
            assert reader.last_seq() == 10
            assert [e.seq for e in reader.events()] == list(range(1, 11))
        # the log is still usable: the next batch goes in whole
        log.append(some_events(11, 5))
    assert seqs(db) == list(range(1, 16))


def test_a_failing_batch_is_not_reported_as_a_corrupt_store(tmp_path):
    """A batch the store rejects (a seq already taken) says so; it must not call a sound file corrupt
    or refuse it (StoreRefused means 'not ours, newer or corrupt: never touched')."""
    db = tmp_path / "s.db"
    with EventLog.open(str(db), writer=True, create=True) as log:
        log.append(some_events(1, 3))
        with pytest.raises(Exception) as err:
            log.append(some_events(3, 2))
        assert not isinstance(err.value, StoreRefused), f"{type(err.value).__name__}: {err.value}"
        assert "corrupt" not in str(err.value)
        assert log.integrity_problem() is None


# -- synchronous ------------------------------------------------------------------------------------

@pytest.mark.parametrize("value", ["FULL", "full", "NORMAL"])
def test_synchronous_modes(tmp_path, value):
    db = tmp_path / "s.db"
    with EventLog.open(str(db), writer=True, create=True, synchronous=value) as log:
        expected = {"FULL": 2, "NORMAL": 1}[value.upper()]
        assert log.conn.execute("PRAGMA synchronous").fetchone()[0] == expected
        assert log.conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        log.append(some_events(1, 5))
    with EventLog.open(str(db), synchronous=value) as log:
        assert [e.seq for e in log.events()] == [1, 2, 3, 4, 5]


def test_cook_with_sync_full(wide):
    r = wide.pdg("cook", "wide.py", "--sync", "full", "--json")
    assert r.exit_code == 0, r.stderr
    assert json.loads(r.stdout)["status"] == "success"


@pytest.mark.parametrize("value", ["OFF", "EXTRA", "0", ""])
def test_invalid_synchronous_is_refused(tmp_path, value):
    db = make_store(tmp_path / "s.db")
    before = sha256(db)
    for writer in (False, True):
        with pytest.raises((ValueError, StoreError)):
            EventLog.open(str(db), writer=writer, synchronous=value)
    assert sha256(db) == before
    with EventLog.open(str(db), writer=True) as log:  # the refused writer did not keep the lock
        assert log.is_writer


def test_invalid_synchronous_creates_nothing(tmp_path):
    """An invalid argument is refused before anything is written: no store appears."""
    db = tmp_path / ".pdg" / "pdg.db"
    with pytest.raises((ValueError, StoreError)):
        EventLog.open(str(db), writer=True, create=True, synchronous="OFF")
    assert not db.exists()


# -- snapshots --------------------------------------------------------------------------------------

@pytest.fixture
def cooked_twice(wide):
    assert wide.pdg("cook", "wide.py").exit_code == 0
    (wide.root / "in" / "f0003.txt").write_text("changed\n")
    wide.inputs(1, folder="in/more")
    assert wide.pdg("cook", "wide.py").exit_code == 0
    return wide


def test_snapshots_are_an_optimisation_only(cooked_twice):
    db = cooked_twice.db
    with EventLog.open(str(db), writer=True) as log:  # two small cooks write none (snapshotting.py)
        log.save_snapshot(log.load_state())
    with EventLog.open(str(db)) as log:
        assert log.snapshot_seq() > 0, "the cooks saved no snapshot: this test would prove nothing"
        fast = log.load_state().to_plain()
        assert fast == log.replay_all().to_plain()
        assert fast["seq"] == log.last_seq()
    conn = sqlite3.connect(db)
    conn.execute("DELETE FROM snapshots")
    conn.commit()
    conn.close()
    with EventLog.open(str(db)) as log:
        assert log.snapshot() is None and log.snapshot_seq() == 0
        assert log.load_state().to_plain() == fast
    r = cooked_twice.pdg_process("check")
    assert r.returncode == 0, (r.stdout, r.stderr)
    assert "Traceback" not in r.stderr


def test_check_names_a_tampered_snapshot(cooked_twice):
    db = cooked_twice.db
    assert cooked_twice.pdg_process("check").returncode == 0
    with EventLog.open(str(db), writer=True) as log:
        state = log.load_state()
        item = next(i for i in state.items.values() if i.state == "cooked_success")
        item.state = "cooked_fail"
        log.save_snapshot(state)
        assert log.snapshot_seq() == state.seq == log.last_seq()
    r = cooked_twice.pdg_process("check")
    assert r.returncode == 1, (r.stdout, r.stderr)
    line = one_line(r.stderr)
    assert item.item_id in line
    assert "'state'" in line
    assert "cooked_fail" in line and "cooked_success" in line
    data = json.loads(cooked_twice.pdg_process("check", "--json").stdout)
    assert data["ok"] is False and item.item_id in data["difference"]


def test_check_names_a_dropped_index_and_an_added_column(cooked_twice):
    """A store whose file is sound but whose tables left schema 1 fails ``pdg check`` by name."""
    db = str(cooked_twice.db)
    conn = sqlite3.connect(db)
    conn.execute("DROP INDEX events_subject")
    conn.commit()
    conn.close()
    r = cooked_twice.pdg_process("check")
    assert r.returncode == 1 and "Traceback" not in r.stderr
    assert "index events_subject on events(subject) is missing or changed" in one_line(r.stderr)
    conn = sqlite3.connect(db)
    conn.execute("CREATE INDEX events_subject ON events (subject)")
    conn.execute("ALTER TABLE snapshots ADD COLUMN extra TEXT")
    conn.commit()
    conn.close()
    data = json.loads(cooked_twice.pdg_process("check", "--json").stdout)
    assert data["ok"] is False and data["integrity"] == f"column snapshots.extra is not in schema {schema.SCHEMA_VERSION}"


def test_stores_created_with_sqlite_utils_match_the_schema(tmp_path):
    """Stores made before the schema became plain SQL were created with sqlite-utils' table API:
    with the migration statements of schemas 2 to 5 they pass the schema check, and both ways
    give the same tables."""
    import sqlite_utils

    db = sqlite_utils.Database(str(tmp_path / "old.db"))
    db["meta"].create({"key": str, "value": str}, pk="key", not_null={"value"})
    columns = {"seq": int, "time_ns": int, "cook_id": int, "graph": str, "kind": str, "subject": str,
               "payload": bytes}
    db["events"].create(columns, pk="seq", not_null=set(columns) - {"seq"})
    db["events"].create_index(["cook_id"], index_name="events_cook")
    db["events"].create_index(["subject"], index_name="events_subject")
    db["snapshots"].create({"seq": int, "time_ns": int, "v": int, "state": bytes}, pk="seq",
                           not_null={"time_ns", "v", "state"})
    assert schema.schema_problem(db.conn) == "index events_global on events(seq) is missing or changed"
    for statement in schema.MIGRATIONS[2] + schema.MIGRATIONS[3] + schema.MIGRATIONS[4]:
        db.conn.execute(statement)
    assert schema.schema_problem(db.conn) == "index items_place on items((expression), (expression)) is missing or changed"
    for statement in schema.MIGRATIONS[5]:
        db.conn.execute(statement)
    assert schema.schema_problem(db.conn) is None
    new = sqlite_utils.Database(memory=True)
    schema.create_tables(new.conn)
    for name in ("meta", "events", "snapshots"):
        assert new[name].columns == db[name].columns and new[name].pks == db[name].pks
    assert schema.schema_problem(sqlite3.connect(":memory:")) == "table meta is missing"


# -- processes: SIGKILL and one writer --------------------------------------------------------------

@pytest.fixture
def slow(project):
    project.write("slow.py", SLOW_GRAPH)
    procs: list[subprocess.Popen] = []

    def start(*args: str) -> subprocess.Popen:
        proc = project.popen("cook", "slow.py", "--jobs", "1", *args)
        procs.append(proc)
        return proc

    project.start_cook = start
    yield project
    for proc in procs:
        if proc.poll() is None:
            proc.kill()
        proc.communicate(timeout=30)


def test_sigkill_leaves_a_sound_log_and_the_next_cook_recovers(slow):
    db = slow.db
    proc = slow.start_cook()
    wait_until(lambda: count_kind(db, "WorkItemCooked") >= 5, what="some items cooked", proc=proc)
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=10)
    assert proc.returncode == -signal.SIGKILL

    # the store opens cleanly and holds a contiguous log
    with EventLog.open(str(db)) as log:
        assert log.integrity_problem() is None
        n = log.last_seq()
        state = log.load_state()
        assert log.writer_pid() is None
    assert seqs(db) == list(range(1, n + 1))
    cook = state.cooks[1]
    assert cook.status == "running" and cook.pid == proc.pid  # as the log left it
    unfinished = {
        i.item_id for i in state.items.values()
        if i.cook_id == 1 and i.state not in FINISHED_STATES and i.state != "dirty"
    }
    assert unfinished, "the cook finished before it was killed: this test would prove nothing"

    r = slow.pdg_process("check")
    assert r.returncode == 0, (r.stdout, r.stderr)
    [died] = run_json(slow, "history")["cooks"]
    assert died["cook_id"] == 1 and died["status"] == "died"
    running = run_json(slow, "status")["running_cook"]
    assert running["cook_id"] == 1 and running["status"] == "died" and running["pid"] == proc.pid

    # the next cook takes the store over, records the dead cook's unfinished items as cancelled
    r = slow.pdg_process("cook", "slow.py", "--set", "sleep_s=0", "--json")
    assert r.returncode == 0, (r.stdout, r.stderr)
    assert json.loads(r.stdout)["status"] == "success"

    cooks = {c["cook_id"]: c for c in run_json(slow, "history")["cooks"]}
    assert cooks[1]["status"] == "died"  # its end recorded by the next cook (liveness.died_end), still told died
    assert f"pid {proc.pid}" in cooks[1]["message"]
    assert cooks[2]["status"] == "success"
    listed = slow.pdg("events", "--kind", "WorkItemStateChanged", "--json")
    changes = [json.loads(line) for line in listed.stdout.splitlines()]
    cancelled = [e for e in changes if e["cook_id"] == 1 and e["payload"]["state"] == "cooked_cancel"]
    assert {e["payload"]["item_id"] for e in cancelled} == unfinished
    assert all(f"pid {proc.pid}" in e["payload"]["message"] for e in cancelled)
    assert all(e["seq"] > n for e in cancelled)  # recorded by the next cook, after the kill

    assert seqs(db) == list(range(1, seqs(db)[-1] + 1))
    assert slow.pdg_process("check").returncode == 0
    assert run_json(slow, "status")["running_cook"] is None


def test_one_writer_at_a_time(slow):
    db = slow.db
    proc = slow.start_cook("--set", "count=5000")  # long enough to outlast the checks on a loaded machine

    def writing() -> bool:
        try:
            with EventLog.open(str(db)) as log:
                return log.writer_pid() == proc.pid and log.load_state().running_cook() is not None
        except StoreError:
            return False

    wait_until(writing, what="the first cook to start", proc=proc)

    r = slow.pdg_process("cook", "slow.py")
    assert r.returncode != 0, (r.stdout, r.stderr)
    line = one_line(r.stderr)
    assert "a cook is already running on" in line
    assert f"(pid {proc.pid})" in line
    assert "database is locked" not in r.stderr

    # readers work meanwhile, from other processes, and see the cook running
    status = run_json(slow, "status")
    assert status["running_cook"]["status"] == "running"
    assert status["running_cook"]["pid"] == proc.pid
    [cook] = run_json(slow, "history")["cooks"]
    assert cook["status"] == "running" and cook["pid"] == proc.pid
    assert proc.poll() is None, "the first cook ended during the test: nothing was proved"

    # the refused cook wrote nothing: one cook started in this store, the first one
    proc.kill()
    proc.wait(timeout=10)
    with EventLog.open(str(db)) as log:
        starts = list(log.events(kind="CookStarted"))
    assert [(e.cook_id, e.pid) for e in starts] == [(1, proc.pid)]


def test_a_refused_writer_never_unlinks_the_busy_writers_wal(tmp_path, monkeypatch):
    """A second writer refused as busy left the first writer's -wal and -shm alone only if they
    existed when it began: when the first writer opened the store in between (its -wal still
    empty), the refused one unlinked both under it, and its later commits went to a WAL no new
    reader saw (122 times in 10 s in a loop of two openers; ``pdg schedule run --watch`` opens
    one writer per thread). Only a refused file's own look is cleaned up."""
    from pdgstore import sqlitefile

    db = make_store(tmp_path / "s.db")
    with EventLog.open(str(db), writer=True) as log:
        assert sqlite_side_files(db) >= {db.name + "-wal", db.name + "-shm"}
        monkeypatch.setattr(sqlitefile, "side_files", lambda path: set())  # as if opened before the writer
        with pytest.raises(StoreBusy):
            EventLog.open(str(db), writer=True)
        monkeypatch.undo()
        assert sqlite_side_files(db) >= {db.name + "-wal", db.name + "-shm"}
        log.append(some_events(13, 1, cook_id=2))
        with EventLog.open(str(db)) as reader:
            assert reader.last_seq() == 13  # the busy writer's commit is seen


def test_writer_lock_in_process(tmp_path):
    """The library refuses a second writer with StoreBusy naming the store and the holder's pid."""
    db = make_store(tmp_path / "s.db")
    with EventLog.open(str(db), writer=True) as log:
        with pytest.raises(StoreBusy) as err:
            EventLog.open(str(db), writer=True)
        assert f"a cook is already running on {log.display} (pid {os.getpid()})" == str(err.value)
        with EventLog.open(str(db)) as reader:
            assert reader.writer_pid() == os.getpid()
            assert reader.last_seq() == 12
    with EventLog.open(str(db), writer=True) as log:  # released on close
        assert log.is_writer
