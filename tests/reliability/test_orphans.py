"""Signals and orphans (issue 17, defect 6): SIGTERM and SIGHUP cancel a cook like Ctrl-C, and a cook
that finds a dead cook's jobs still running stops them before it runs their items again."""

from __future__ import annotations

import json
import os
import signal

import pytest

from pdgstore.log import EventLog
from reliability.helpers import JOB_STARTED, alive, job_pids, wait_for, with_jobs

JOB = (
    JOB_STARTED
    + """
if not os.path.exists("quick"):
    time.sleep(90)
"""
)


@pytest.fixture
def jobs_project(project):
    return with_jobs(project, JOB)


@pytest.mark.timeout(300)
@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGHUP], ids=["SIGTERM", "SIGHUP"])
def test_sigterm_and_sighup_cancel_like_ctrl_c(jobs_project, sig):
    proc = jobs_project.popen("cook", "orphans.py", "--json")
    try:
        wait_for(lambda: len(job_pids(jobs_project.root)) == 2)
        pids = job_pids(jobs_project.root)
        proc.send_signal(sig)
        out, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
        for p in job_pids(jobs_project.root):  # never leave a job behind, whatever failed
            if proc.returncode != 130:
                try:
                    os.killpg(p, signal.SIGKILL)
                except OSError:
                    pass
    assert proc.returncode == 130, (out, err)
    assert json.loads(out)["status"] == "cancelled"
    assert "Traceback" not in err
    wait_for(lambda: not any(alive(p) for p in pids), 30)
    with EventLog.open(str(jobs_project.db)) as log:
        state = log.load_state()
    assert sorted(i.state for i in state.items.values() if i.node == "job") == ["cooked_cancel", "cooked_cancel"]


@pytest.mark.timeout(300)
def test_a_cook_stops_a_dead_cooks_jobs_before_running_them_again(jobs_project):
    proc = jobs_project.popen("cook", "orphans.py")
    try:
        wait_for(lambda: len(job_pids(jobs_project.root)) == 2)
        old = job_pids(jobs_project.root)
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert all(alive(p) for p in old)  # orphans: their cook is gone, they are not
    (jobs_project.root / "quick").touch()
    try:
        r = jobs_project.pdg_process("cook", "orphans.py")
        assert r.returncode == 0, r.stderr
        assert not any(alive(p) for p in old)
        with EventLog.open(str(jobs_project.db)) as log:
            messages = [e.message for e in log.events() if e.kind == "CookFinished"]
        assert "2 of its jobs still running were stopped" in messages[0], messages
    finally:
        for p in old:
            try:
                os.killpg(p, signal.SIGKILL)
            except OSError:
                pass
