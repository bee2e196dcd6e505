"""The reaper where pidfds fail: a kernel before 5.3 (``os.pidfd_open`` exists and raises ENOSYS)
and a job whose pidfd cannot be opened (no descriptor left). Each job is then waited for on a
thread of its own, with real subprocesses; its output, when it has a pipe, still arrives whole."""

from __future__ import annotations

import errno
import os
import subprocess
import threading
from pathlib import Path

import pytest
from pdgstore.engine.schedulers import exits
from pdgstore.engine.schedulers.reaper import Output, Reaper
from test_local_scheduler import cook, graph_with, run_items

pytestmark = pytest.mark.timeout(60)


def refuse(code: int):
    def pidfd_open(pid, flags=0):
        raise OSError(code, os.strerror(code))

    return pidfd_open


class Ends:
    """What a reaper's ``ended`` heard: each key, once, and when the last one came."""

    def __init__(self, expected: int) -> None:
        self.keys: list = []
        self._all = threading.Event()
        self.expected = expected

    def __call__(self, key) -> None:
        self.keys.append(key)
        if len(self.keys) >= self.expected:
            self._all.set()

    def wait(self) -> bool:
        return self._all.wait(30)


def test_a_kernel_without_pidfd_open_is_probed_once_and_jobs_wait_on_threads(monkeypatch):
    monkeypatch.setattr(os, "pidfd_open", refuse(errno.ENOSYS), raising=False)
    assert exits.pidfd(os.getpid()) == -1
    ends = Ends(2)
    watcher = Reaper(ends)
    try:
        assert watcher.pidfds is False
        quick = subprocess.Popen(["sh", "-c", "exit 3"])
        slow = subprocess.Popen(["sh", "-c", "sleep 0.3; exit 4"])
        watcher.watch(slow.pid, "slow")
        watcher.watch(quick.pid, "quick")
        assert ends.wait()
        assert sorted(ends.keys) == ["quick", "slow"] and watcher.watching == 0
        # told, not reaped: the exit codes are still the scheduler's to read
        assert (quick.wait(5), slow.wait(5)) == (3, 4)
    finally:
        watcher.stop()


def test_a_job_whose_pidfd_cannot_be_opened_has_its_output_pumped_whole(monkeypatch):
    ends = Ends(1)
    watcher = Reaper(ends)
    try:
        assert watcher.pidfds, "this test needs a system with pidfds"
        monkeypatch.setattr(os, "pidfd_open", refuse(errno.EMFILE))
        received = bytearray()
        read_end, write_end = os.pipe()
        # ~590 KB: far more than a pipe holds, so the job finishes only if its output is read meanwhile
        job = subprocess.Popen(["seq", "1", "100000"], stdout=write_end)
        os.close(write_end)
        watcher.watch(job.pid, "loud", Output(read_end, received.extend))
        assert ends.wait() and ends.keys == ["loud"]
        assert job.wait(5) == 0
        assert bytes(received).decode().split() == [str(i) for i in range(1, 100001)]
    finally:
        watcher.stop()


def test_a_cook_on_a_kernel_without_pidfds_runs_its_jobs_and_keeps_their_logs(tmp_path, monkeypatch):
    monkeypatch.setattr(os, "pidfd_open", refuse(errno.ENOSYS), raising=False)
    graph = graph_with(tmp_path, ["sh", "-c", "echo item @value; exit 0"], n=3)
    summary, state, _ = cook(graph, tmp_path)
    assert summary.status == "success" and summary.counts["ran"] == 3
    logs = [Path(state.jobs[item.item_id][3][7:]).read_text() for item in run_items(state)]
    assert sorted(logs) == ["item 0\n", "item 1\n", "item 2\n"]
