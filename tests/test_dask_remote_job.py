"""``remote.run_job`` called directly (as a Dask worker calls it, without the worker): how a job's
end is waited for. With a pidfd the job's end is seen the moment it exits; without one (not Linux)
the same answers come from polling. Either way: every byte of output reaches the log, a job that
closes its output and runs on is waited for, a timeout kills its process group."""

from __future__ import annotations

import os
import sys

import pytest
from pdgstore.engine.schedulers import exits
from pdgstore.engine.schedulers.dask import remote

pytestmark = pytest.mark.timeout(60)


@pytest.fixture(params=["pidfd", "polling"])
def waiting(request, monkeypatch):
    if request.param == "pidfd":
        if not hasattr(os, "pidfd_open"):
            pytest.skip("no pidfd on this system")
    else:
        monkeypatch.setattr(exits, "pidfd", lambda pid: -1)
    return request.param


def _spec(tmp_path, code: str, timeout_s: float | None = None, key: str = "k1", argv: list | None = None) -> dict:
    return {
        "key": key,
        "item_id": "item",
        "attempt": 1,
        "argv": argv or [sys.executable, "-c", code],
        "env": {},
        "cwd": str(tmp_path),
        "log": str(tmp_path / "logs" / "job.log"),
        "timeout_s": timeout_s,
        "item_json": None,
        "scripts": None,
    }


def test_every_byte_of_output_reaches_the_log(tmp_path, waiting):
    code = "import sys\nfor i in range(2000): sys.stdout.write('line %d\\n' % i)\nsys.exit(3)"
    answer = remote.run_job(_spec(tmp_path, code))
    assert answer["code"] == 3 and answer["kill_reason"] == "" and answer["error"] == ""
    lines = (tmp_path / "logs" / "job.log").read_text().splitlines()
    assert lines == [f"line {i}" for i in range(2000)]


def test_a_job_that_closes_its_output_is_waited_for_to_its_end(tmp_path, waiting):
    # it closes stdout and stderr, then writes a file under a temporary name and renames it
    code = (
        "import os, time\nos.close(1); os.close(2)\ntime.sleep(0.3)\n"
        "open('done.tmp', 'w').write('x'); os.replace('done.tmp', 'done')\nraise SystemExit(5)"
    )
    answer = remote.run_job(_spec(tmp_path, code))
    assert answer["code"] == 5
    assert (tmp_path / "done").exists()  # it ran to its end before run_job answered
    assert answer["duration_ns"] >= 0.3e9
    assert not (tmp_path / "logs" / "job.log").exists()  # it printed nothing: no log made


def test_a_timeout_kills_the_job(tmp_path, waiting):
    # a shell prints at once (an interpreter's start-up on a busy machine could outlast the timeout,
    # and the log would be empty for that reason alone)
    argv = ["sh", "-c", "echo started; exec sleep 30"]
    answer = remote.run_job(_spec(tmp_path, "", timeout_s=3.0, argv=argv))
    assert answer["kill_reason"] == "timeout"
    assert answer["code"] < 0  # ended by a signal
    assert (tmp_path / "logs" / "job.log").read_text() == "started\n"


def test_a_timeout_kills_a_job_whose_output_is_closed(tmp_path, waiting):
    code = "import os, time\nos.close(1); os.close(2)\ntime.sleep(30)"
    answer = remote.run_job(_spec(tmp_path, code, timeout_s=0.5))
    assert answer["kill_reason"] == "timeout" and answer["code"] < 0


def test_no_descriptor_is_left_open(tmp_path, waiting):
    before = len(os.listdir("/proc/self/fd")) if os.path.isdir("/proc/self/fd") else None
    for i in range(20):
        assert remote.run_job(_spec(tmp_path, "print('x')", key=f"k{i}"))["code"] == 0
    if before is not None:
        assert len(os.listdir("/proc/self/fd")) == before


class _Worker:
    """What ``run_job`` asks of its Dask worker: its address, plugins, and events sent."""

    def __init__(self, plugins: dict) -> None:
        self.address, self.plugins, self.events = "tcp://127.0.0.1:1", plugins, []

    def log_event(self, topic, msg) -> None:
        self.events.append((topic, msg))


@pytest.mark.parametrize("installed", [True, False])
def test_an_answer_is_sent_by_the_plugin_where_it_is_installed_else_by_the_job(tmp_path, monkeypatch, installed):
    """A job leaves its answer to its worker's plugin (``answers.JobAnswers``), marked so in the
    packed answer its task returns, when its worker holds the plugin; on a worker without it
    (another pdgstore, a registration that failed) the job sends its answer itself. The plugin
    sends a marked answer of a job's key as its task ends, packed as it is, and nothing else."""
    pytest.importorskip("distributed")
    from pdgstore.engine.schedulers.dask.answers import JobAnswers

    worker = _Worker({remote.ANSWERS_PLUGIN: object()} if installed else {})
    monkeypatch.setattr(remote, "_worker", lambda: worker)
    # a job running past ANNOUNCE_AFTER_S (a Python start on a busy machine) also announces itself:
    # that is another event than the answer's, and not this test's
    monkeypatch.setattr(remote, "ANNOUNCE_AFTER_S", 3600.0)
    key = remote.KEY_PREFIX + "token-item-1"
    packed = remote.run_job_packed(_spec(tmp_path, "print('x')", key=key))
    assert type(packed) is bytes
    answer = remote.answer_of(packed)
    assert answer["code"] == 0 and "by_plugin" not in answer
    if not installed:
        assert worker.events == [(remote.ENDED_TOPIC, {"key": key, "answer": answer})]
        assert not packed.startswith(remote.FOR_PLUGIN)
        return
    assert worker.events == [] and packed.startswith(remote.FOR_PLUGIN)
    plugin = JobAnswers()
    plugin.setup(worker)
    unmarked = remote._pack((False, answer))  # an answer carrying files: gathered, never sent as an event
    worker.data = {key: packed, remote.KEY_PREFIX + "python": {"run": "r"}, remote.KEY_PREFIX + "files": unmarked}
    worker.data["other-key"] = packed
    for k, start, finish in [
        (key, "executing", "memory"),
        (key, "memory", "released"),  # not an end
        (remote.KEY_PREFIX + "python", "executing", "memory"),  # no packed answer: a Python item's result
        (remote.KEY_PREFIX + "files", "executing", "memory"),  # not marked for the plugin
        ("other-key", "executing", "memory"),  # not a job of a cook
    ]:
        plugin.transition(k, start, finish)
    assert worker.events == [(remote.ENDED_TOPIC, {"key": key, "answer": packed})]


def test_a_packed_answer_is_read_back_and_anything_else_is_left_as_it_is():
    answer = {"code": 3, "outputs": {"/x": b"\x00bytes"}}
    assert remote.answer_of(remote._pack((False, answer))) == answer
    assert remote.answer_of(remote._pack((True, answer))) == answer
    for other in (b"not msgpack \xc1", remote._pack([1, 2, 3]), remote._pack((True, [])), {"code": 0}, None):
        assert remote.answer_of(other) is other
