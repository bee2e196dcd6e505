"""``engine.schedulers.exits.wait``: ``Popen.wait(timeout)``'s answers (the exit code, or
``TimeoutExpired`` with the process left running), with a pidfd and without one."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from pdgstore.engine.schedulers import exits

pytestmark = pytest.mark.timeout(60)


@pytest.fixture(params=["pidfd", "polling"])
def waiting(request, monkeypatch):
    if request.param == "pidfd" and not hasattr(os, "pidfd_open"):
        pytest.skip("no pidfd on this system")
    if request.param == "polling":
        monkeypatch.setattr(exits, "pidfd", lambda pid: -1)
    return request.param


def test_the_exit_code_of_a_process_that_ends_in_time(waiting):
    proc = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(0.2); raise SystemExit(7)"])
    assert exits.wait(proc, 30) == 7
    assert proc.returncode == 7


def test_a_process_still_running_at_the_timeout_is_left_running(waiting):
    proc = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"])
    try:
        with pytest.raises(subprocess.TimeoutExpired):
            exits.wait(proc, 0.2)
        assert proc.poll() is None
    finally:
        proc.kill()
        proc.wait()


def test_a_process_reaped_already(waiting):
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    assert exits.wait(proc, 5) == 0


def _pidfds() -> set[int]:
    """This process's open pidfds (what ``exits.wait`` opens). Not every descriptor: other threads
    of the test process (a server or a cluster of an earlier test, ending) open and close theirs."""
    found = set()
    for name in os.listdir("/proc/self/fd"):
        try:
            if os.readlink(f"/proc/self/fd/{name}") == "anon_inode:[pidfd]":
                found.add(int(name))
        except OSError:
            pass  # closed since the listing
    return found


def test_no_descriptor_is_left_open(waiting):
    if not os.path.isdir("/proc/self/fd"):
        pytest.skip("no /proc/self/fd here")
    before = _pidfds()
    for _ in range(10):
        exits.wait(subprocess.Popen([sys.executable, "-c", "pass"]), 30)
    assert _pidfds() == before
