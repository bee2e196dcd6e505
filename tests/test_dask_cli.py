"""The address path: a ``dask scheduler`` and two ``dask worker`` processes started from their own
command lines, a graph naming the scheduler's address, cooked by ``pdg cook`` in its own process.
Then the Dask scheduler is killed mid-cook: the cook ends cancelled with that reason, recorded.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

pytest.importorskip("distributed")

pytestmark = pytest.mark.timeout(180)

DASK = [sys.executable, "-m", "distributed.cli.dask_scheduler"]
WORKER = [sys.executable, "-m", "distributed.cli.dask_worker"]


def _start(argv: list, log: Path) -> subprocess.Popen:
    return subprocess.Popen(
        argv, stdout=open(log, "wb"), stderr=subprocess.STDOUT, start_new_session=True, env=dict(os.environ)
    )


@pytest.fixture(scope="module")
def command_line_cluster(tmp_path_factory):
    """``dask scheduler`` + two ``dask worker`` (1 thread, slots=1 each), loopback only."""
    folder = tmp_path_factory.mktemp("cluster")
    info = folder / "scheduler.json"
    procs = [
        _start(DASK + ["--host", "127.0.0.1", "--port", "0", "--no-dashboard", "--scheduler-file", str(info)],
               folder / "scheduler.log")
    ]
    try:
        deadline = time.monotonic() + 60
        while not info.exists() and time.monotonic() < deadline:
            time.sleep(0.1)
        address = json.loads(info.read_text())["address"]
        for n in range(2):
            procs.append(_start(WORKER + [address, "--nthreads", "1", "--resources", "slots=1", "--no-dashboard",
                                          "--host", "127.0.0.1", "--name", f"w{n}"], folder / f"worker{n}.log"))
        from distributed import Client

        with Client(address, set_as_default=False, timeout=30) as client:
            client.wait_for_workers(2, timeout=60)
            workers = set(client.run(os.getpid).values())
        yield address, procs, workers
    finally:
        for proc in procs:
            try:
                os.killpg(proc.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            proc.wait()


GRAPH = '''
from pdgstore.engine import Graph
graph = Graph("cli")
graph.scheduler("farm", "dask", address="{address}", default=True, tick_period=0.1, lost_after_s=1)
numbers = graph.range_generate("numbers", {n})
graph.python_script("job", numbers, "job.py")
'''

JOB = '''
import os, time, pdgcmd
pdgcmd.setIntAttrib("worker_pid", os.getppid())
open(os.path.join(os.environ["PDG_DIR"], "pids.txt"), "a").write(f"{os.getpid()}\\n")
if os.path.exists(os.path.join(os.environ["PDG_DIR"], "slow")):
    time.sleep(60)
'''


def test_a_graph_cooks_on_a_command_line_cluster(project, command_line_cluster):
    address, _, workers = command_line_cluster
    project.write("g.py", GRAPH.format(address=address, n=4))
    project.write("job.py", JOB)
    done = project.pdg_process("cook", "g.py", "--json", timeout=120)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["items"]["ran"] == 4
    from pdgstore.log import EventLog

    with EventLog.open(str(project.db)) as log:
        state = log.load_state()
    ran_on = {i.attrs["worker_pid"][1][0] for i in state.items.values() if i.node == "job"}
    assert ran_on and ran_on <= workers
    assert project.pdg_process("check").returncode == 0


def test_the_dask_scheduler_going_away_cancels_the_cook_with_its_reason(project, command_line_cluster):
    address, procs, _ = command_line_cluster
    project.write("g.py", GRAPH.format(address=address, n=2))
    project.write("job.py", JOB)
    (project.root / "slow").write_text("")
    cook = project.popen("cook", "g.py", "--json")
    try:
        pids = project.root / "pids.txt"
        deadline = time.monotonic() + 60
        while (not pids.exists() or len(pids.read_text().split()) < 2) and time.monotonic() < deadline:
            time.sleep(0.05)
        os.killpg(procs[0].pid, signal.SIGKILL)  # the Dask scheduler
        out, err = cook.communicate(timeout=90)
    finally:
        if cook.poll() is None:
            cook.kill()
        for pid in (project.root / "pids.txt").read_text().split():  # the orphaned jobs on the workers
            try:
                os.killpg(int(pid), signal.SIGKILL)
            except ProcessLookupError:
                pass
    summary = json.loads(out)
    assert cook.returncode == 130, (out, err[-1500:])
    assert summary["status"] == "cancelled"
    assert summary["message"].startswith(f"scheduler farm cancelled the cook: the Dask scheduler at {address} went away")
    from pdgstore.log import EventLog

    with EventLog.open(str(project.db)) as log:
        state = log.load_state()
        finished = [e for e in log.events(0) if e.kind == "CookFinished"][-1]
    assert finished.message == summary["message"]
    assert {i.state for i in state.items.values() if i.node == "job"} == {"cooked_cancel"}
    assert shutil.which("true")  # the machine is still usable
