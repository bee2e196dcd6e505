"""The right words (issue 17, defect 8): a read-only store is readable and never called corrupt,
``pdg check`` during a cook tells the truth, ``--json`` answers even when the store cannot be written."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys

import pytest
from conftest import _env

SLOW_GRAPH = """
import time
from pdgstore.engine import Graph

graph = Graph("slow")
r = graph.range_generate("r", graph.parm("count", 200))

@graph.python_processor("work", upstream=r)
def work(item):
    time.sleep(0.001)
"""

TINY_GRAPH = """
from pdgstore.engine import Graph

graph = Graph("tiny")
r = graph.range_generate("r", 3)
"""


@pytest.mark.timeout(300)
def test_check_during_a_cook_never_fails_falsely(project):
    project.write("slow.py", SLOW_GRAPH)
    assert project.pdg_process("cook", "slow.py", "--set", "count=50").returncode == 0
    proc = project.popen("cook", "slow.py", "--set", "count=2000")
    try:
        results = []
        while proc.poll() is None and len(results) < 12:
            results.append(project.pdg_process("check"))
    finally:
        proc.communicate(timeout=280)
    assert results
    for r in results:
        assert r.returncode == 0, (r.stdout, r.stderr)


def test_cook_json_answers_when_the_store_cannot_be_written(project):
    project.write("tiny.py", TINY_GRAPH)
    (project.root / ".pdg" / "pdg.db.lock").mkdir(parents=True)  # the writer lock cannot be opened
    r = project.pdg_process("cook", "tiny.py", "--json")
    assert r.returncode == 1, (r.stdout, r.stderr)
    data = json.loads(r.stdout)
    assert data["status"] == "error" and "writer lock" in data["error"] and data["exit_code"] == 1
    assert r.stderr.strip().splitlines() == [f"pdg: {data['error']}"]


def _read_only(folder, argv):
    """Run ``pdg argv`` with ``folder`` mounted read-only (a private mount namespace: no root-owned
    chmod trick works when the tests run as root)."""
    script = (
        f"mount --bind {folder} {folder} && mount -o remount,bind,ro {folder} && "
        f"exec {sys.executable} -m pdgstore.cli.main " + " ".join(argv)
    )
    return subprocess.run(["unshare", "-m", "sh", "-c", script], cwd=folder, capture_output=True, text=True,
                          timeout=120, env=_env())


@pytest.mark.skipif(not shutil.which("unshare"), reason="needs unshare for a read-only mount")
def test_a_store_in_a_read_only_folder_is_readable_and_never_called_corrupt(project):
    project.write("tiny.py", TINY_GRAPH)
    assert project.pdg_process("cook", "tiny.py").returncode == 0
    probe = subprocess.run(["unshare", "-m", "true"], capture_output=True)
    if probe.returncode:
        pytest.skip("no permission for a private mount namespace here")
    for argv in (["status"], ["history"], ["items"], ["check"]):
        r = _read_only(project.root, argv)
        assert r.returncode == 0, (argv, r.stdout, r.stderr)
        assert "corrupt" not in r.stderr
    r = _read_only(project.root, ["cook", "tiny.py"])
    assert r.returncode == 1, (r.stdout, r.stderr)
    assert "corrupt" not in r.stderr and "Traceback" not in r.stderr
    assert len(r.stderr.strip().splitlines()) == 1 and "Read-only file system" in r.stderr, r.stderr


WRITE_GRAPH = """
from pdgstore.engine import Graph

graph = Graph("w")
r = graph.range_generate("r", 6)

@graph.python_processor("make", upstream=r)
def make(item):
    item.set_attrib("twice", 2 * item.attrib_value("value"))
"""


@pytest.mark.timeout(300)
def test_a_cook_stopped_by_a_write_error_is_later_named_for_it_not_for_a_dead_process(project, monkeypatch):
    """Defect 8: a cook that stopped on "database or disk is full" was later listed as "the cook's
    process died". It notes why in the writer lock as it stops (the log cannot take it), so
    ``pdg status`` and the next cook's record of its end say what happened."""
    from reliability import faultydisk

    from pdgstore.log import EventLog

    project.write("w.py", WRITE_GRAPH)
    counting = faultydisk.Faults()
    probe = type(project)(project.root / "probe")
    probe.write("w.py", WRITE_GRAPH)
    with monkeypatch.context() as m:
        faultydisk.install(m, counting)
        assert probe.pdg("cook", "w.py").exit_code == 0
    for n in range(counting.writes, 0, -1):  # the last write whose failure leaves the cook's end unrecorded
        project = type(project)(probe.root.parent / f"n{n}")
        project.write("w.py", WRITE_GRAPH)
        faults = faultydisk.Faults(n)
        with monkeypatch.context() as m:
            faultydisk.install(m, faults)
            failed = project.pdg("cook", "w.py")
        if not project.db.exists():
            continue
        with EventLog.open(str(project.db)) as log:
            if log.load_state().running_cook() is not None:  # the log could not say it ended
                break
    else:
        raise AssertionError("no failing write left a cook without its end")
    assert faults.fired and failed.exit_code == 1, failed.output
    status = project.pdg_process("status", "--json")
    assert status.returncode == 0, status.stderr
    cook = json.loads(status.stdout)["running_cook"]
    assert cook["status"] == "died" and faultydisk.FULL in cook["error"], cook
    words = project.pdg_process("status")
    assert "stopped on a write error it could not record" in words.stderr and faultydisk.FULL in words.stderr
    assert "process died" not in words.stderr
    again = project.pdg_process("cook", "w.py")
    assert again.returncode == 0, again.stderr
    with EventLog.open(str(project.db)) as log:
        (first,) = [e for e in log.events(kind="CookFinished") if e.cook_id == cook["cook_id"]]
    assert first.status == "cancelled" and first.message.startswith(
        f"the cook (pid {cook['pid']}) stopped on a write error it could not record: writing to"
    ) and faultydisk.FULL in first.message, first.message
    # recorded once: the note is gone, so no later cook is named for it again
    assert "stopped" not in (project.root / ".pdg" / "pdg.db.lock").read_text()
