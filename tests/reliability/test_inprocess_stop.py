"""A cook does not return while its in-process items can still write or report (issue 17).

Python code running on the cook's threads cannot be killed as a job's process group is. A cook
stopped by a failing write used to return (raise) at once, its item still running: the item then
wrote its files after the cook was over, relative to whatever the working directory had become,
and reported into a cook nobody read; in ``pdg watch`` or a test process the next cook could run
the same item beside it. Now the cook waits for such items, and tells the user when that takes a
while; a Ctrl-C stops the wait.
"""

from __future__ import annotations

import json
import signal
import threading
import time

import pdgstore.engine as engine
import pdgstore.engine.cook.loop as loop
import pytest
from pdgstore.engine.project import cook_graph

from pdgstore.errors import StoreIOError
from reliability import faultydisk
from reliability.faultydisk import Faults

pytestmark = pytest.mark.timeout(120)

DEADLINE_S = 60  # for waits on conditions, on a loaded machine


def _workers() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name.startswith("pdg-worker-")]


def test_a_cook_stopped_by_a_write_error_waits_for_its_in_process_item(tmp_path, monkeypatch):
    """The disk fills while item ``slow`` runs; ``quick`` items ending meanwhile make the cook
    write, which fails. The item goes on for a while after the failure, then writes a file by a
    relative path: the cook raises its sentence only once the item has ended, the file is in the
    graph's folder (not the caller's working directory), no worker thread is left, and the user
    was told what the cook waited for."""
    root, elsewhere = tmp_path / "project", tmp_path / "elsewhere"
    root.mkdir()
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)  # the caller's working directory, which the graph's files are not in
    monkeypatch.setattr(loop, "NOTICE_AFTER_S", 0.0)  # told however short the wait (no clock in the test)
    faults = Faults()
    armed = threading.Event()
    before = set(_workers())

    def work(item):
        if item.attrib_value("value") != 0:  # a quick item: ends once the disk is full
            armed.wait(DEADLINE_S)
            return
        faults.every, faults.stays = 1, True  # from now on every write of the store fails
        armed.set()
        deadline = time.monotonic() + DEADLINE_S
        while not faults.fired and time.monotonic() < deadline:
            time.sleep(0.01)
        time.sleep(0.5)  # still at work after the cook's write failed
        with open("late.txt", "w") as f:
            f.write("written after the store failed\n")

    # a worker per item (jobs=4): the quick items wait for the slow one, which must not wait for a worker
    graph = engine.Graph("stops", root=str(root))
    numbers = graph.range_generate("numbers", 4)
    graph.python_processor("work", upstream=numbers, func=work)
    heard: list[str] = []
    faultydisk.install(monkeypatch, faults)
    with pytest.raises(StoreIOError, match=faultydisk.FULL):
        cook_graph(
            graph, db=str(root / ".pdg" / "pdg.db"), jobs=4, on_cook=lambda c: setattr(c, "notice", heard.append)
        )
    assert faults.fired
    assert (root / "late.txt").exists(), "the cook returned while its item still ran"
    assert not (elsewhere / "late.txt").exists()
    assert not set(_workers()) - before, "a worker thread of the cook outlived it"
    assert any(
        m.startswith("the cook has stopped; waiting for 1 in-process work item(s) (work_") and "Ctrl-C" in m
        for m in heard
    ), heard


SLOW_GRAPH = """
import os
import time
from pdgstore.engine import Graph

graph = Graph("hold")
numbers = graph.range_generate("numbers", 1)

@graph.python_processor("held", upstream=numbers)
def held(item):
    open("started", "w").close()
    deadline = time.monotonic() + 90
    while os.path.exists("hold") and time.monotonic() < deadline:
        time.sleep(0.02)
    with open("done.txt", "w") as f:
        f.write("done\\n")
    item.add_output_file("done.txt")
"""


def test_ctrl_c_waits_past_the_grace_for_an_in_process_item_and_says_so(project):
    """One Ctrl-C while an in-process item runs past the cook's grace: the cook does not give it up
    and exit, leaving it to be cut off mid-work; it tells the user it waits for it (and that a
    second Ctrl-C leaves it), records it as it ends, and then exits cancelled."""
    project.write("hold.py", SLOW_GRAPH)
    (project.root / "hold").write_text("")
    proc = project.popen("cook", "hold.py", "--json")
    try:
        deadline = time.monotonic() + DEADLINE_S
        while not (project.root / "started").exists():
            assert time.monotonic() < deadline and proc.poll() is None, proc.poll()
            time.sleep(0.02)
        proc.send_signal(signal.SIGINT)
        seen = []
        for line in proc.stderr:  # the notice comes once the grace has run out
            seen.append(line)
            if "waiting for 1 in-process work item(s) (held_" in line:
                break
        assert seen and "a second Ctrl-C leaves them" in seen[-1], seen
        (project.root / "hold").unlink()
        out, err = proc.communicate(timeout=DEADLINE_S)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 130, (out, err)
    assert "Traceback" not in err
    summary = json.loads(out)
    assert summary["status"] == "cancelled"
    assert any("waiting for 1 in-process work item(s)" in w for w in summary["warnings"]), summary
    assert not any("given up on" in w for w in summary["warnings"]), summary
    assert (project.root / "done.txt").read_text() == "done\n"
    shown = json.loads(project.pdg("show", "held_1", "--json").stdout)["item"]
    assert shown["state"] == "cooked_success", shown  # recorded as it ended, its output with it
    assert project.pdg("check").exit_code == 0
