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
        assert faults.fired, n
        assert result.exit_code == 1, (n, result.output)
        lines = [line for line in result.stderr.splitlines() if line.strip()]
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
