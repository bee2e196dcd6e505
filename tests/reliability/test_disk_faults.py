"""Faults below the store (issue 17): a disk that fills, or fails with an I/O error, at the N-th
write, for every N over a whole small cook. Each ends in one sentence and exit 1; nothing a handler
was told is lost; the store stays readable and sound; the next cook, once the disk is back, is correct."""

from __future__ import annotations

import pytest
from reliability import faultydisk
from reliability.faultydisk import Faults

from pdgstore.log import EventLog

GRAPH = """
import os
from pdgstore.engine import Graph

graph = Graph("disk")
r = graph.range_generate("r", 6)

@graph.python_processor("make", upstream=r)
def make(item):
    v = item.attrib_value("value")
    os.makedirs("out", exist_ok=True)
    with open(f"out/{v}.txt", "w") as f:
        f.write(f"{v * 3}\\n")
    item.add_output_file(f"out/{v}.txt")

@graph.on("work_item_state_change")
def ack(event):
    with open("acks.txt", "a") as f:
        f.write(f"{event.work_item_id} {event.current_state}\\n")
"""


def sentences(stderr: str) -> list[str]:
    """The lines of ``stderr`` but the notice a cook gives while it waits for an in-process item
    still running when the disk failed (printed only if that wait is long, as on a loaded machine)."""
    return [
        line
        for line in stderr.splitlines()
        if line.strip() and not line.startswith("pdg: the cook has stopped; waiting for")
    ]


def whole_cook_writes(project, monkeypatch) -> int:
    faults = Faults()
    with monkeypatch.context() as m:
        faultydisk.install(m, faults)
        assert project.pdg("cook", "disk.py").exit_code == 0
    return faults.writes


@pytest.mark.timeout(600)
@pytest.mark.parametrize("message", [faultydisk.FULL, faultydisk.IO_ERROR], ids=["disk-full", "io-error"])
def test_a_failing_disk_at_every_write_of_a_cook(tmp_path, monkeypatch, message):
    from conftest import Project

    probe = Project(tmp_path / "probe")
    probe.write("disk.py", GRAPH)
    total = whole_cook_writes(probe, monkeypatch)
    assert total > 5
    for n in range(1, total + 1):
        project = Project(tmp_path / f"n{n}")
        project.write("disk.py", GRAPH)
        faults = Faults(n, message)
        with monkeypatch.context() as m:
            faultydisk.install(m, faults)
            result = project.pdg("cook", "disk.py")
        if not faults.fired:  # this cook wrote fewer times than the probe (batched otherwise): nothing to see
            assert n > total // 2, (n, total, faults.writes)
            continue
        assert result.exit_code == 1, (n, result.output)
        lines = sentences(result.stderr)
        assert len(lines) == 1 and lines[0].startswith("pdg: ") and message in lines[0], (n, result.stderr)
        assert "Traceback" not in result.output
        db = project.db
        if db.exists():
            # readable, sound, and holding every state change a handler heard
            assert project.pdg("status").exit_code == 0, n
            check = project.pdg("check")
            assert check.exit_code == 0, (n, check.output)
            acks = project.root / "acks.txt"
            told = {tuple(line.split()) for line in acks.read_text().splitlines()} if acks.exists() else set()
            with EventLog.open(str(db)) as log:
                heard = {(e.work_item_id, e.current_state) for e in log.replay(0, types={"work_item_state_change"})}
            assert told <= heard, (n, told - heard)
        # the disk is back: the next cook is correct
        again = project.pdg("cook", "disk.py")
        assert again.exit_code == 0, (n, again.output)
        for v in range(0, 7):
            out = project.root / "out" / f"{v}.txt"
            if out.exists():
                assert out.read_text() == f"{v * 3}\n"
        assert len(list((project.root / "out").iterdir())) == 6
        assert project.pdg("check").exit_code == 0, n


#: the same cook with items that take a while (a nap of half the cook's 100 ms flush tick): their
#: events go in several batches over the cook and items are still running when a write fails, so
#: commits come in another order than in a quick cook (as on a loaded machine). A longer nap only
#: slows the two tests below: each still fails on the code before its fix (87f255b, 6b5130a) with it.
SLOW_GRAPH = GRAPH.replace(
    '    v = item.attrib_value("value")\n', '    v = item.attrib_value("value")\n    time.sleep(0.05)\n'
)
SLOW_GRAPH = SLOW_GRAPH.replace("import os\n", "import os\nimport time\n", 1)


@pytest.mark.timeout(300)
def test_a_failing_commit_ends_the_cook_with_its_own_sentence(tmp_path, monkeypatch):
    """Which statement the N-th write is depends on how the cook batched its events, which depends
    on timing: here the items take a while and every COMMIT in turn fails. A COMMIT that fails
    leaves SQLite's transaction open; the store now rolls it back, so the cook ends with the disk's
    sentence (it said "cannot start a transaction within a transaction": found by the suite run
    beside another, where the quick cook above batched like this one)."""
    from conftest import Project

    probe = Project(tmp_path / "probe")
    probe.write("disk.py", SLOW_GRAPH)
    faults = Faults(only=("COMMIT",))
    with monkeypatch.context() as m:
        faultydisk.install(m, faults)
        assert probe.pdg("cook", "disk.py").exit_code == 0
    assert faults.writes > 6
    for n in range(1, faults.writes + 1):
        project = Project(tmp_path / f"n{n}")
        project.write("disk.py", SLOW_GRAPH)
        failing = Faults(n, faultydisk.FULL, only=("COMMIT",))
        with monkeypatch.context() as m:
            faultydisk.install(m, failing)
            result = project.pdg("cook", "disk.py")
        if not failing.fired:  # this cook committed fewer times than the probe: nothing to see
            continue
        lines = sentences(result.stderr)
        assert result.exit_code == 1 and len(lines) == 1 and faultydisk.FULL in lines[0], (n, result.stderr)
        if project.db.exists():
            assert project.pdg("check").exit_code == 0, n
        again = project.pdg("cook", "disk.py")
        assert again.exit_code == 0, (n, again.output)
        assert len(list((project.root / "out").iterdir())) == 6


@pytest.mark.timeout(300)
def test_a_disk_that_stays_full_leaves_no_checkpointer_thread(tmp_path, monkeypatch):
    """From the N-th write on every write fails (a disk that stays full), so the flush in the
    cook's own stop fails too. The cook still ends with the disk's sentence, and its checkpointer
    thread is stopped: the stop's failure skipped that, and the thread left running failed
    test_checkpointer later in the same process (a paired suite run, round 3)."""
    import threading

    from conftest import Project

    probe = Project(tmp_path / "probe")
    probe.write("disk.py", SLOW_GRAPH)
    total = whole_cook_writes(probe, monkeypatch)
    tried = 0
    for n in range(max(1, total // 3), total):
        project = Project(tmp_path / f"n{n}")
        project.write("disk.py", SLOW_GRAPH)
        faults = Faults(n, faultydisk.FULL, stays=True)
        with monkeypatch.context() as m:
            faultydisk.install(m, faults)
            result = project.pdg("cook", "disk.py")
        if not faults.fired:  # this cook wrote fewer times than the probe
            continue
        tried += 1
        assert result.exit_code == 1 and faultydisk.FULL in result.stderr, (n, result.stderr)
        assert not [t for t in threading.enumerate() if t.name == "pdg-checkpointer"], n
    assert tried > 5, (tried, total)
