"""The crash campaign: a real ``pdg cook`` (or ``pdg compact``) killed with SIGKILL, then checked.

Each case kills at one point: from outside at a random moment (the cook alone, its log appender
alone, or the cook's whole process group), or from inside at the moments that matter through the
crash points of ``pdgstore.faults`` (mid-batch, mid-checkpoint, mid-snapshot, mid-compaction,
mid-migration; the process that reaches the point kills itself, its parent, or its group). After
every kill:

1. ``pdg check`` passes (replay from zero equals the tables and snapshots);
2. SQLite's own ``integrity_check`` says ok;
3. every event acknowledged to anyone is in the log: each state change an event handler heard
   (handlers hear only of written events), each attribute a job was told "ok" for, and the cook's
   end when the terminal was told of it (the ``--json`` summary, printed once it is written);
4. the next ``pdg cook`` finishes and every output holds what it should;
5. no job of the killed cook is still running.

How many cases: ``PDG_CRASH_COUNT`` (default 5, what CI runs); ``PDG_CRASH_SEED`` picks them.
The large run (docs/reliability.md)::

    PDG_CRASH_COUNT=1000 PDG_CRASH_TALLY=crash-tally.jsonl .venv/bin/python -m pytest tests/crash -q

``PDG_CRASH_SHARD=K/N`` runs only the cases whose number is K modulo N, so N processes side by side
run the same 1,000 cases (each case is still one cook killed and checked on its own), appending to
one tally.

Each case is its own test, so the count run and the count held are pytest's own tally.
"""

from __future__ import annotations

import json
import os
import random
import re
import signal
import sqlite3
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
from conftest import _env
from pdgstore.engine.schedulers.orphans import started_by

from pdgstore.log import EventLog

pytestmark = [pytest.mark.slow, pytest.mark.timeout(240)]


GRAPH = '''
import os
from pdgstore.engine import Graph

graph = Graph("crash")
salt = graph.parm("salt", 0)
r = graph.range_generate("r", graph.parm("count", 300))

@graph.python_processor("make", upstream=r)
def make(item):
    v = item.attrib_value("value")
    os.makedirs("out", exist_ok=True)
    path = f"out/{v}.txt"
    with open(path, "w") as f:
        f.write(f"{v * 2} {salt}\\n")
    item.add_output_file(path)

j = graph.range_generate("j", 3)
graph.python_script("job", j, "job.py")

@graph.on("work_item_state_change")
def ack(event):  # an event handler hears only of events already in the log
    fd = os.open("acks/handler.txt", os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    os.write(fd, f"{event.work_item_id} {event.current_state}\\n".encode())
    os.close(fd)
'''

JOB = '''
import os, time, pdgcmd
name = os.environ["PDG_ITEM_NAME"]
time.sleep(0.2)
pdgcmd.setIntAttrib("acked", 1)  # returns once the cook has the attribute in its log
fd = os.open(os.path.join("acks", "job." + name), os.O_WRONLY | os.O_CREAT, 0o644)
os.close(fd)
os.makedirs("jout", exist_ok=True)
with open(os.path.join("jout", name + ".txt"), "w") as f:
    f.write("ok\\n")
pdgcmd.addOutputFile(os.path.join("jout", name + ".txt"))
time.sleep(float(os.environ.get("JOB_SLEEP", "0.3")))
'''

#: the kinds of kill point, cycled through (the first few are what CI runs): (how, what, whom)
KINDS = [
    ("outside", "random", "group"),
    ("inside", "batch", "parent"),
    ("inside", "checkpoint", "group"),
    ("inside", "snapshot", "self"),
    ("inside", "migration", "group"),
    ("outside", "random", "cook"),
    ("outside", "random", "appender"),
    ("inside", "batch", "self"),
    ("inside", "batch", "group"),
    ("inside", "checkpoint", "self"),
    ("inside", "snapshot", "group"),
    ("inside", "manifest", "group"),
    ("inside", "compaction", "self"),
    ("inside", "migration", "self"),
]


def count_for(what: str, whom: str) -> int:
    """Items of the in-process node: 2,100 where the point needs a log appender (a batch of 2,000
    rows starts one), 300 elsewhere (a cheaper case, the same checks)."""
    return 2100 if whom in ("appender", "parent") or what == "checkpoint" else 300


def cases() -> list[tuple]:
    count = int(os.environ.get("PDG_CRASH_COUNT", "5"))
    rng = random.Random(int(os.environ.get("PDG_CRASH_SEED", "17")))
    shard, shards = (int(n) for n in os.environ.get("PDG_CRASH_SHARD", "0/1").split("/"))
    out = []
    for i in range(count):
        how, what, whom = KINDS[i % len(KINDS)]
        seed = rng.randrange(1 << 30)  # drawn for every case, so a shard's cases are the whole run's
        if i % shards == shard:
            out.append((i, how, what, whom, seed))
    return out


def pdg(root: Path, *args: str, env: dict | None = None, timeout: float = 120) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "pdgstore.cli.main", *args], cwd=root, capture_output=True, text=True,
        timeout=timeout, env={**_env(), **(env or {})},
    )


def popen(root: Path, *args: str, env: dict | None = None) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "pdgstore.cli.main", *args], cwd=root, stdout=subprocess.PIPE,
        stderr=subprocess.PIPE, text=True, env={**_env(), **(env or {})}, start_new_session=True,
    )


def make_project(root: Path) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    (root / "crash.py").write_text(textwrap.dedent(GRAPH))
    (root / "job.py").write_text(textwrap.dedent(JOB))
    (root / "acks").mkdir(exist_ok=True)
    return root


def appender_of(pid: int) -> int | None:
    try:
        children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
    except OSError:
        return None
    for child in children:
        try:
            if b"pdgstore.appender" in Path(f"/proc/{child}/cmdline").read_bytes():
                return int(child)
        except OSError:
            continue
    return None


def downgrade_to_schema_1(db: Path) -> None:
    """The store as schema 1 wrote it (no projection tables), for a cook to migrate."""
    from pdgstore import tables

    conn = sqlite3.connect(db, isolation_level=None)
    conn.execute("BEGIN")
    for table in tables.TABLES:
        conn.execute(f"DROP TABLE {table}")
    conn.execute("DROP INDEX IF EXISTS events_global")
    conn.execute("UPDATE meta SET value = '1' WHERE key = 'schema'")
    conn.execute("PRAGMA user_version = 1")
    conn.execute("COMMIT")
    conn.close()


def run_case(root: Path, how: str, what: str, whom: str, seed: int) -> dict:
    """Kill at the case's point; what happened (for the checks and the tally)."""
    rng = random.Random(seed)
    count = count_for(what, whom)
    salt = rng.randrange(1, 1 << 20)
    mark = root / "crash.mark"
    env = {"PDG_CRASH_MARK": str(mark), "JOB_SLEEP": str(rng.choice([0.05, 0.3, 1.0]))}
    args = ["cook", "crash.py", "--set", f"count={count}", "--set", f"salt={salt}", "--json"]
    if what in ("compaction", "migration", "manifest"):
        # a store with history first: two whole cooks
        for s in (0, salt + 1):
            r = pdg(root, "cook", "crash.py", "--set", f"count={count}", "--set", f"salt={s}")
            assert r.returncode == 0, r.stderr
        if what == "migration":
            downgrade_to_schema_1(root / ".pdg" / "pdg.db")
        if what == "compaction":
            args = ["compact", "--keep-cooks", "1"]
    if how == "inside":
        n = 1 if what in ("snapshot", "compaction", "migration", "manifest") else rng.randrange(1, 6)
        env["PDG_CRASH_AT"] = f"{what}:{n}:{whom}"
    proc = popen(root, *args, env=env)
    killed_pid = proc.pid
    if how == "outside":
        delay = rng.uniform(0.3, 1.8)
        deadline = time.monotonic() + delay
        target = None
        while time.monotonic() < deadline and proc.poll() is None:
            time.sleep(0.01)
            if whom == "appender" and target is None:
                target = appender_of(proc.pid)
        if proc.poll() is None:
            if whom == "cook":
                os.kill(proc.pid, signal.SIGKILL)
            elif whom == "group":
                os.killpg(proc.pid, signal.SIGKILL)
            else:
                target = target or appender_of(proc.pid)
                if target is not None:
                    os.kill(target, signal.SIGKILL)
            mark.write_text(f"{whom} at {delay:.3f} s\n")
    told, _ = proc.communicate(timeout=200)
    # the killed cook's appender, if it outlived the cook, finishes its batches and ends
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            os.killpg(killed_pid, 0)
        except ProcessLookupError:
            break
        time.sleep(0.02)
    return {"reached": mark.exists(), "returncode": proc.returncode, "killed_pid": killed_pid, "salt": salt,
            "count": count, "told": told if args[0] == "cook" else ""}


def check_everything(root: Path, killed: dict) -> None:
    db = root / ".pdg" / "pdg.db"
    if db.exists():
        check_store(root, db)
        check_terminal(db, killed["told"])
    else:  # killed before the store was made: nothing can have been acknowledged
        assert not any((root / "acks").iterdir())
    next_cook(root, killed)


def check_store(root: Path, db: Path) -> None:
    # 1. pdg check
    r = pdg(root, "check")
    assert r.returncode == 0, ("pdg check after the kill", r.stdout, r.stderr)
    # 2. SQLite's own integrity check
    conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    try:
        assert [row[0] for row in conn.execute("PRAGMA integrity_check")] == ["ok"]
    finally:
        conn.close()
    # 3. every acknowledged event is in the log
    with EventLog.open(str(db)) as log:
        heard = {(e.work_item_id, e.current_state) for e in log.replay(0, types={"work_item_state_change"})}
        state = log.load_state()
        acked_attrs = {e.item_id for e in log.events(kind="WorkItemAttribSet") if e.name == "acked"}
    handler = root / "acks" / "handler.txt"
    acks = {tuple(line.split()) for line in handler.read_text().splitlines()} if handler.exists() else set()
    acks = {a for a in acks if len(a) == 2}
    missing = acks - heard
    assert not missing, f"{len(missing)} state changes a handler heard are not in the log: {sorted(missing)[:5]}"
    names = {item.name: item.item_id for item in state.items.values()}
    for ack in (root / "acks").glob("job.*"):
        item_id = names.get(ack.name[len("job.") :])
        assert item_id in acked_attrs, f"job {ack.name} was told ok but its attribute is not in the log"


def check_terminal(db: Path, told: str) -> None:
    """What the killed cook printed of its end (its ``--json`` summary, whole or cut short by the
    kill) is in the log: a cook that told the terminal how it ended has recorded that end."""
    found = re.search(r'"cook_id": (\d+),\s*"status": "(\w+)"', told)
    if found is None or found[2] == "error":  # nothing told, or a cook that never started
        return
    cook_id, status = int(found[1]), found[2]
    with EventLog.open(str(db)) as log:
        ends = [e.status for e in log.events(kind="CookFinished") if e.cook_id == cook_id]
    assert ends[:1] == [status], f"the terminal was told cook {cook_id} ended {status}; the log holds {ends}"


def next_cook(root: Path, killed: dict) -> None:
    # 4. the next cook finishes with correct outputs
    count = killed["count"]
    r = pdg(root, "cook", "crash.py", "--set", f"count={count}", "--set", f"salt={killed['salt']}", "--json")
    assert r.returncode == 0, ("the next cook", r.stdout[-2000:], r.stderr)
    for v in range(0, count + 1):
        text = (root / "out" / f"{v}.txt").read_text() if (root / "out" / f"{v}.txt").exists() else None
        if text is None:  # range_generate may count from 0
            continue
        assert text == f"{v * 2} {killed['salt']}\n", (v, text)
    outs = sorted(p.name for p in (root / "out").iterdir())
    assert len(outs) == count
    assert sorted(p.name for p in (root / "jout").iterdir()) == ["job_1.txt", "job_2.txt", "job_3.txt"]
    r = pdg(root, "check")
    assert r.returncode == 0, ("pdg check after the next cook", r.stdout, r.stderr)
    # 5. no job of the killed cook still running
    assert started_by(killed["killed_pid"], str(root / ".pdg")) == []


@pytest.mark.parametrize("case", cases(), ids=lambda c: f"{c[0]}-{c[1]}-{c[2]}-{c[3]}")
def test_a_kill_point_holds(tmp_path, case):
    _, how, what, whom, seed = case
    root = make_project(tmp_path / "p")
    killed = run_case(root, how, what, whom, seed)
    try:
        check_everything(root, killed)
    finally:
        # whatever failed, leave nothing of this case running
        for _item_id, pgid in started_by(killed["killed_pid"], str(root / ".pdg")):
            try:
                os.killpg(pgid, signal.SIGKILL)
            except OSError:
                pass
    tally = Path(os.environ.get("PDG_CRASH_TALLY", tmp_path / "tally.jsonl"))
    with open(tally, "a") as f:
        f.write(json.dumps({"case": case[0], "how": how, "what": what, "whom": whom, "reached": killed["reached"],
                            "returncode": killed["returncode"]}) + "\n")
