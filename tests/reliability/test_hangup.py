"""SIGHUP, a closed terminal (review 6, defect 2): a command started with SIGHUP ignored (``nohup``)
keeps it ignored, so a cook outlives the terminal. Real ``pdg`` processes; each job writes its pid
(``reliability.helpers``)."""

from __future__ import annotations

import json
import os
import signal

import pytest

from reliability.helpers import JOB_STARTED, job_pids, wait_for, with_jobs

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
