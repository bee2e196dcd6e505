"""Jobs started by the C library's posix_spawn with the GIL free (``engine.schedulers.spawnfree``):
the same child ``os.posix_spawn`` made (its own session and process group, stdin from /dev/null,
output to the log, exactly the environment given)."""

from __future__ import annotations

import json
import os
import sys

import pytest
from pdgstore.engine.schedulers import jobs, spawnfree

pytestmark = [
    pytest.mark.timeout(60),
    pytest.mark.skipif(not spawnfree.available(), reason="no C library posix_spawn with POSIX_SPAWN_SETSID here"),
]

CHILD = (
    "import json, os, sys; print('err', file=sys.stderr, flush=True); "
    "print(json.dumps([os.getsid(0), os.getpgid(0), sys.stdin.read(), sorted(os.environ)]))"
)


def test_the_child_is_what_os_posix_spawn_made(tmp_path):
    log = tmp_path / "job.log"
    fd = os.open(log, os.O_WRONLY | os.O_CREAT, 0o644)
    try:
        pid = spawnfree.spawn(sys.executable, [sys.executable, "-c", CHILD], {"ONLY": "this"}, fd)
    finally:
        os.close(fd)
    assert jobs.Process(pid).wait() == 0
    err, out = log.read_text().splitlines()
    sid, pgid, stdin, names = json.loads(out)
    assert sid == pid and pgid == pid  # a session and group of its own: kill_group reaches it all
    assert stdin == "" and err == "err"
    assert "ONLY" in names and "PATH" not in names  # exactly the environment given (Python adds LC_CTYPE)


def test_a_program_that_cannot_start_raises_as_os_posix_spawn_does(tmp_path):
    fd = os.open(os.devnull, os.O_WRONLY)
    try:
        with pytest.raises(OSError) as err:
            spawnfree.spawn(str(tmp_path / "missing"), ["missing"], {}, fd)
    finally:
        os.close(fd)
    assert err.value.strerror and err.value.filename == str(tmp_path / "missing")


def test_a_job_started_by_the_engine_runs_in_its_own_group(tmp_path, monkeypatch):
    """``jobs.spawn`` (the local scheduler's) goes through it, and the job's output reaches its log."""
    monkeypatch.chdir(tmp_path)
    proc = jobs.spawn([sys.executable, "-c", CHILD], {"A": "1"}, str(tmp_path), tmp_path / "logs" / "x.log")
    assert isinstance(proc, jobs.Process) and jobs.reap(proc) == 0
    err, out = (tmp_path / "logs" / "x.log").read_text().splitlines()
    assert json.loads(out)[:3] == [proc.pid, proc.pid, ""] and err == "err"
