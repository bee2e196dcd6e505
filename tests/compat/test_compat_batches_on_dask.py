"""PDG's batch work items on the dask scheduler, on a real LocalCluster (2 worker processes).

The same job script as on the local scheduler (``examples/pdg_api/batches/render.py``, written with
PDG's Job API: ``isBatch``, ``batchItems``, ``startSubItem(wait=True)``, ``checkSubItem``,
``cookSubItem``, ``appendSubItem``): each batch is one job on a worker, its sub-items report over
the network with their ``subindex`` and settle one by one, and what depends on them cooks.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

import pdgstore.engine as engine
from pdgstore.engine.errors import GraphError
from pdgstore.log import EventLog
from pdgstore.state import first_difference

from compat.jobscripts import HEARTBEATS, write_heartbeat_jobs
from dask_cluster import dask_cluster  # noqa: F401 - a fixture

pytest.importorskip("distributed")

pytestmark = pytest.mark.timeout(120)

EXAMPLES = Path(__file__).resolve().parents[2] / "examples" / "pdg_api"


def test_batches_cook_on_dask_workers_as_on_the_local_scheduler(tmp_path, dask_cluster):
    cluster, client = dask_cluster
    shutil.copy(EXAMPLES / "batches" / "render.py", tmp_path / "render.py")
    graph = engine.Graph("batches", root=str(tmp_path))
    graph.scheduler("farm", "dask", address=cluster.scheduler_address, default=True, tick_period=0.05,
                    max_retries=0)
    frames = graph.range_generate("frames", 5)
    graph.python_script("render", frames, "render.py", batch_size=3)
    graph.command("after", "render", ["sh", "-c", "echo after"])
    db = str(tmp_path / ".pdg" / "pdg.db")
    summary = engine.cook_graph(graph, db=db, jobs=2)
    assert summary.status == "success", summary
    with EventLog.open(db) as log:
        state = log.load_state()
        assert first_difference(log.replay_all().to_plain(), state.to_plain()) is None
    renders = sorted((i for i in state.items.values() if i.node == "render"), key=lambda i: i.name)
    assert len(renders) == 6 and {i.state for i in renders} == {"cooked_success"}  # 5 + 1 appended
    afters = [i for i in state.items.values() if i.node == "after"]
    assert len(afters) == 6 and {i.state for i in afters} == {"cooked_success"}
    by_batch: dict[str, set] = {}
    workers = set(client.run(lambda: __import__("os").getpid()).values())
    for item in renders:
        value = item.attrs["value"][1][0]
        assert item.attrs["squared"][1] == [value * value]
        assert [o[0] for o in item.outputs] == [f"out/frame{value}.txt"]
        batch_id, batch_name, _ = item.attrs["__pdg_batch"][1]
        job = state.jobs[item.item_id]
        by_batch.setdefault(batch_name, set()).add(job[2])  # the job's pid: one per batch
    assert sorted(by_batch) == ["render_batch1", "render_batch2"]
    assert all(len(pids) == 1 for pids in by_batch.values()), by_batch
    assert not {pid for pids in by_batch.values() for pid in pids} & workers  # jobs are the workers' children
    assert (tmp_path / "out" / "frame4.txt").read_text() == "4"


def test_heartbeats_keep_a_job_on_a_worker_from_being_judged_hung(tmp_path, dask_cluster):
    """``heartbeat_timeout`` on the dask scheduler, as on the local one: the silent job is killed on
    its worker and failed with the reason; the one sending keepalives runs its 5.5 s to the end."""
    cluster, _ = dask_cluster
    write_heartbeat_jobs(tmp_path)
    graph = engine.Graph("beats", root=str(tmp_path))
    graph.scheduler("farm", "dask", address=cluster.scheduler_address, default=True, tick_period=0.05,
                    max_retries=0, heartbeat_timeout=5)
    one = graph.range_generate("one", 1)
    graph.python_script("alive", one, "alive.py")
    graph.python_script("silent", one, "silent.py")
    db = str(tmp_path / ".pdg" / "pdg.db")
    summary = engine.cook_graph(graph, db=db, jobs=2)
    assert summary.counts["failed"] == 1, summary
    with EventLog.open(db) as log:
        state = log.load_state()
        events = list(log.events(0))
    alive = next(i for i in state.items.values() if i.node == "alive")
    silent = next(i for i in state.items.values() if i.node == "silent")
    assert alive.state == "cooked_success"
    assert silent.state == "cooked_fail"
    assert "judged hung and killed: no heartbeat (pdgcmd.keepalive) or report for 5 s" in silent.error
    assert state.jobs[silent.item_id][4] < 0  # its exit code: killed by a signal on its worker
    beats = [e for e in events if e.kind == "WorkItemLogged" and e.item_id == alive.item_id and e.text == "keepalive"]
    assert len(beats) == HEARTBEATS  # each heartbeat is an event


def test_heartbeat_timeout_is_a_positive_number():
    graph = engine.Graph("bad")
    with pytest.raises(GraphError, match="heartbeat_timeout must be a positive number of seconds, not 0"):
        graph.scheduler("farm", "dask", heartbeat_timeout=0)
