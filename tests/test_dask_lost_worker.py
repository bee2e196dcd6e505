"""A Dask worker SIGKILLed while two of its jobs run and two more wait on it for its slots: only the
jobs that ran there are charged an attempt ("its worker was lost while running it", their orphans
killed), and with ``max_retries=0`` they fail; the two that only waited there run once, on the
worker started in its place, with no retry and no ``JobStarted`` they never had. Both ways a worker's
death reaches the cook: Dask running the tasks again itself (``allowed-failures`` 3, its default, as
``dask scheduler`` from its command line), and Dask giving up on them (``KilledWorker``,
``allowed-failures`` 0, as the LocalCluster a cook starts). The next cook runs the two failed items
only.

The other fault tests (a killed worker's job retried once, Dask's own rerun counted once) are in
test_dask_scheduler.py.
"""

from __future__ import annotations

import os
import signal
import threading
import time

import pdgstore.engine as engine
import pytest
from dask_cluster import local_cluster
from test_dask_scheduler import cook, items_of, parent_of, running

pytest.importorskip("distributed")


@pytest.fixture(params=[3, 0], ids=["dask-reruns", "killed-worker"])
def one_worker(request):
    """A LocalCluster of one worker process with 2 threads and 2 ``slots`` (its nanny starts
    another when it dies), letting a task be run again after that many workers died under it."""
    cluster = local_cluster(1, 2, allowed_failures=request.param)
    try:
        yield cluster
    finally:
        cluster.close()


@pytest.mark.timeout(180)
def test_only_the_jobs_running_on_a_lost_worker_are_charged_and_max_retries_0_fails_them(tmp_path, one_worker):
    graph = engine.Graph("lost", root=str(tmp_path))
    graph.scheduler("farm", "dask", address=one_worker.scheduler_address, default=True, max_retries=0)
    (tmp_path / "ran").mkdir()
    script = "echo $$ > ran/@pdg_name.tmp; mv ran/@pdg_name.tmp ran/@pdg_name; sleep 3"
    graph.command("slow", graph.range_generate("numbers", 4), ["sh", "-c", script])
    killed: dict[str, int] = {}  # item name -> the pid of its job running when its worker died

    def running_items() -> list[str]:  # the items whose job runs (each writes its pid under a temporary name first)
        return [name for name in os.listdir(tmp_path / "ran") if not name.endswith(".tmp")]

    def kill_the_worker() -> None:
        deadline = time.monotonic() + 60
        while len(running_items()) < 2 and time.monotonic() < deadline:
            time.sleep(0.02)
        killed.update({name: int((tmp_path / "ran" / name).read_text()) for name in running_items()})
        os.kill(parent_of(next(iter(killed.values()))), signal.SIGKILL)  # both run in that worker process

    killer = threading.Thread(target=kill_the_worker, daemon=True)
    killer.start()
    try:
        summary, state, events = cook(graph, tmp_path)
        killer.join(5)
        deadline = time.monotonic() + 30  # killed from the cook: each ends when it next runs
        while any(running(pid) for pid in killed.values()) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert not any(running(pid) for pid in killed.values()), "a job left running without its worker"
    finally:
        for pid in killed.values():
            try:
                os.killpg(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
    assert summary.status == "failed", summary
    assert len(killed) == 2, killed
    items = items_of(state, "slow")
    for item in items:
        started = [e for e in events if e.kind == "JobStarted" and e.item_id == item.item_id]
        ended = [e for e in events if e.kind == "JobEnded" and e.item_id == item.item_id]
        assert [e.attempt for e in started] == [1], (item.name, started)
        assert "failurecount" not in item.attrs, item.name
        if item.name in killed:  # it ran on the lost worker: its one attempt failed, no retry
            assert item.state == "cooked_fail"
            assert started[0].pid == killed[item.name]
            assert [e.outcome for e in ended] == ["failure"]
            assert "its worker was lost while running it" in item.error
            assert f"its job, left running without it (pid {killed[item.name]}), was killed" in item.error
        else:  # it only waited there: run once, on the worker started in its place
            assert item.state == "cooked_success", (item.name, item.error)
            assert [e.outcome for e in ended] == ["success"]
            assert started[0].pid == int((tmp_path / "ran" / item.name).read_text())

    again, state, events = cook(graph, tmp_path)
    assert again.status == "success", again
    reran = {state.items[e.item_id].name for e in events if e.kind == "JobStarted" and e.cook_id == again.cook_id}
    assert reran == set(killed)


@pytest.mark.timeout(240)
def test_a_job_that_kills_its_worker_at_once_is_charged_after_a_few_losses(tmp_path):
    """A job that ends its worker before it can announce its run cannot be told from one that only
    waited there: it is sent again uncharged ``SPARED_MAX`` times, then each loss is an attempt, so
    it fails within ``max_retries`` instead of being sent again for ever."""
    from pdgstore.engine.schedulers.dask.loss import SPARED_MAX

    cluster = local_cluster(1, 1, allowed_failures=0)
    try:
        graph = engine.Graph("killer", root=str(tmp_path))
        graph.scheduler("farm", "dask", address=cluster.scheduler_address, default=True, max_retries=1)
        graph.command("kill", graph.range_generate("numbers", 1), ["sh", "-c", "kill -9 $PDG_DASK_WORKER_PID"])
        summary, state, events = cook(graph, tmp_path)
    finally:
        cluster.close()
    assert summary.status == "failed", summary
    (item,) = items_of(state, "kill")
    assert item.state == "cooked_fail"
    assert f"its worker was lost as it started, the {SPARED_MAX + 2}th time" in item.error, item.error
    ended = [e.outcome for e in events if e.kind == "JobEnded" and e.item_id == item.item_id]
    assert ended == ["retry", "failure"]
