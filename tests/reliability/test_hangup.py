"""SIGHUP, a closed terminal (review 6, defects 2 and 3): ``pdg watch``, ``pdg schedule run`` and
``pdg serve`` stop on it as on SIGTERM, their cook cancelled and recorded, its jobs stopped; and a
command started with SIGHUP ignored (``nohup``) keeps it ignored, so a cook outlives the terminal.
Real ``pdg`` processes; each job writes its pid (``reliability.helpers``)."""

from __future__ import annotations

import json
import os
import signal

import pytest
from pdgstore.cli import stopsignals

from pdgstore.log import EventLog
from reliability.helpers import JOB_STARTED, alive, job_pids, wait_for, with_jobs

pytestmark = pytest.mark.timeout(300)

#: a job that runs until the test makes ``go`` (or 90 s pass: never a job left behind for long)
JOB = (
    JOB_STARTED
    + """deadline = time.monotonic() + 90
while not os.path.exists("go") and time.monotonic() < deadline:
    time.sleep(0.05)
"""
)


@pytest.fixture
def jobs_project(project):
    return with_jobs(project, JOB)


def _as_nohup_starts_it() -> None:
    """In the child before ``exec``: SIGHUP ignored, as ``nohup`` leaves it (SIGINT at its default,
    as ``Project.popen`` has it)."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)
    signal.signal(signal.SIGHUP, signal.SIG_IGN)


def _signal_masks(pid: int) -> dict[str, int]:
    """The process's ignored (``SigIgn``) and caught (``SigCgt``) signals, as the kernel has them."""
    with open(f"/proc/{pid}/status") as f:
        fields = dict(line.split(":\t", 1) for line in f if line.startswith(("SigIgn", "SigCgt")))
    return {name: int(value, 16) for name, value in fields.items()}


def _has(mask: int, sig: int) -> bool:
    return bool(mask & (1 << (sig - 1)))


def _handlers_in_place(pid: int) -> bool:
    """The command has caught its stop signals: SIGTERM, which Python leaves at its default, is caught."""
    return _has(_signal_masks(pid)["SigCgt"], signal.SIGTERM)


def _stop_every_job(root) -> None:
    """Whatever failed, no job is left behind."""
    (root / "go").touch()
    for pid in job_pids(root):
        try:
            os.killpg(pid, signal.SIGKILL)
        except OSError:
            pass


def test_a_cook_started_under_nohup_outlives_a_hangup(jobs_project):
    proc = jobs_project.popen("cook", "orphans.py", "--json", preexec_fn=_as_nohup_starts_it)
    try:
        wait_for(lambda: len(job_pids(jobs_project.root)) == 2)  # the cook runs, its handlers set
        masks = _signal_masks(proc.pid)
        assert _has(masks["SigIgn"], signal.SIGHUP) and not _has(masks["SigCgt"], signal.SIGHUP)
        proc.send_signal(signal.SIGHUP)
        (jobs_project.root / "go").touch()
        out, err = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate(timeout=30)
        _stop_every_job(jobs_project.root)
    assert proc.returncode == 0, (out, err)
    assert json.loads(out)["status"] == "success"


@pytest.mark.parametrize("args", [("watch", "orphans.py"), ("schedule", "run"), ("serve",)], ids=" ".join)
def test_a_command_started_under_nohup_keeps_sighup_ignored(jobs_project, args):
    (jobs_project.root / "go").touch()  # jobs end at once: only the handlers are looked at
    assert jobs_project.pdg_process("cook", "orphans.py").returncode == 0  # a store to serve and run
    proc = jobs_project.popen(*args, preexec_fn=_as_nohup_starts_it)
    try:
        wait_for(lambda: _handlers_in_place(proc.pid))
        masks = _signal_masks(proc.pid)
        assert _has(masks["SigIgn"], signal.SIGHUP) and not _has(masks["SigCgt"], signal.SIGHUP)
        assert _has(masks["SigCgt"], signal.SIGINT)
        proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate(timeout=30)
    assert proc.returncode == 0, (out, err)


def _cancelled_and_stopped(proc, root, sig) -> tuple[str, str]:
    """Once ``proc``'s cook runs both jobs: ``sig``; then the command has exited 0 and the jobs are gone."""
    try:
        wait_for(lambda: len(job_pids(root)) == 2)
        pids = job_pids(root)
        proc.send_signal(sig)
        out, err = proc.communicate(timeout=60)
        wait_for(lambda: not any(alive(p) for p in pids), 30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate(timeout=30)
        _stop_every_job(root)
    assert proc.returncode == 0, (out, err)
    assert "Traceback" not in err
    return out, err


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGHUP], ids=["SIGTERM", "SIGHUP"])
def test_pdg_watch_stops_on_sighup_as_on_sigterm(jobs_project, sig):
    proc = jobs_project.popen("watch", "orphans.py", "--json")
    out, _ = _cancelled_and_stopped(proc, jobs_project.root, sig)
    words = stopsignals.STOP_SIGNALS[sig]
    cook = json.loads(out.splitlines()[0])
    assert cook["status"] == "cancelled" and cook["message"] == words, cook
    with EventLog.open(str(jobs_project.db)) as log:
        stopped = [e.message for e in log.events() if e.kind == "WatchStopped"]
        state = log.load_state()
    assert stopped == [words]
    assert [c.status for c in state.cooks.values()] == ["cancelled"]
    assert sorted(i.state for i in state.items.values() if i.node == "job") == ["cooked_cancel"] * 2


def test_pdg_schedule_run_stops_on_sighup_as_on_sigterm(jobs_project):
    assert jobs_project.pdg_process("schedule", "add", "orphans.py", "--every", "1s").returncode == 0
    proc = jobs_project.popen("schedule", "run", "--json")
    out, _ = _cancelled_and_stopped(proc, jobs_project.root, signal.SIGHUP)
    lines = [json.loads(line) for line in out.splitlines()]
    cooked = [line["summary"] for line in lines if "summary" in line]
    assert [(c["status"], c["message"]) for c in cooked] == [("cancelled", "hung up (SIGHUP)")], lines
    with EventLog.open(str(jobs_project.db)) as log:
        state = log.load_state()
    assert [c.status for c in state.cooks.values()] == ["cancelled"]
    assert sorted(i.state for i in state.items.values() if i.node == "job") == ["cooked_cancel"] * 2


def test_pdg_serve_stops_on_sighup_and_removes_its_serve_json(project, serve):
    server = serve()
    info = project.root / ".pdg" / "serve.json"
    assert json.loads(info.read_text())["pid"] == server.proc.pid  # written before its first line
    server.proc.send_signal(signal.SIGHUP)
    assert server.proc.wait(60) == 0, server.stderr_text()
    assert not info.exists()
