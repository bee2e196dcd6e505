"""The address path: a ``dask scheduler`` and two ``dask worker`` processes started from their own
command lines, a graph naming the scheduler's address, cooked by ``pdg cook`` in its own process.
Ctrl-C cancels the futures and kills the jobs on the workers. Then the Dask scheduler is killed
mid-cook: the cook ends cancelled with that reason, recorded (this test comes last of those on the
module's cluster). Last, a Dask scheduler killed and started again on its address, with a new
worker, gets the dropped jobs again.
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

from tests.dask_cluster import frames_example
from tests.ports import reserved_port

pytest.importorskip("distributed")

pytestmark = pytest.mark.timeout(180)

DASK = [sys.executable, "-m", "distributed.cli.dask_scheduler"]
WORKER = [sys.executable, "-m", "distributed.cli.dask_worker"]


def _start(argv: list, log: Path) -> subprocess.Popen:
    """``argv`` started in ``log``'s folder, as a farm's processes start far from any project."""
    return subprocess.Popen(
        argv, stdout=open(log, "wb"), stderr=subprocess.STDOUT, start_new_session=True, env=dict(os.environ),
        cwd=log.parent,
    )


def _scheduler_address(info: Path, deadline: float) -> str:
    """The address ``dask scheduler`` writes to its scheduler file, once the file holds it whole:
    Dask writes the file in place, so it can exist, empty or cut, before it is complete (read
    too soon beside another suite, it once gave a JSONDecodeError)."""
    while True:
        try:
            return json.loads(info.read_text())["address"]
        except (OSError, ValueError, KeyError):
            if time.monotonic() > deadline:
                raise
            time.sleep(0.1)


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
        address = _scheduler_address(info, time.monotonic() + 60)
        for n in range(2):
            procs.append(_start(WORKER + [address, "--nthreads", "1", "--resources", "slots=1", "--no-dashboard",
                                          "--host", "127.0.0.1", "--name", f"w{n}"], folder / f"worker{n}.log"))
        from distributed import Client

        with Client(address, set_as_default=False, timeout=30) as client:
            client.wait_for_workers(2, timeout=60)
            workers = set(client.run(os.getpid).values())
        yield address, procs, workers
    finally:
        _stop_groups(procs)


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


def _slow_cook(project, address: str) -> subprocess.Popen:
    """``pdg cook`` of two jobs on the cluster at ``address`` that sleep a minute once they run."""
    project.write("g.py", GRAPH.format(address=address, n=2))
    project.write("job.py", JOB)
    (project.root / "slow").write_text("")
    return project.popen("cook", "g.py", "--json")


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


def test_the_frames_example_cooks_on_the_cluster_with_one_line_added(project, command_line_cluster):
    """examples/frames/ with the one line README shows, on workers started in a folder of their
    own: its Python processors write by paths relative to the project, as in the cook."""
    address, _, _ = command_line_cluster
    frames_example(
        project.root,
        'graph.scheduler("local", slots=2, max_retries=1, timeout=60)\n',
        f'graph.scheduler("farm", "dask", address="{address}", default=True)\n',
    )
    done = project.pdg_process("cook", "frames.py", "--set", "frames=4", "--json", timeout=150)
    assert done.returncode == 0, done.stdout + done.stderr[-3000:]
    summary = json.loads(done.stdout)
    assert summary["items"]["failed"] == 0 and summary["results"] == ["contact.png"], summary
    assert (project.root / "contact.png").read_bytes().startswith(b"\x89PNG")
    from pdgstore.log import EventLog

    with EventLog.open(str(project.db)) as log:
        jobs = log.load_state().jobs
    assert len(jobs) == 4 and {job[0] for job in jobs.values()} == {"farm"}  # the renders, on the cluster


def test_ctrl_c_cancels_the_futures_and_kills_the_jobs_on_the_workers(project, command_line_cluster):
    address, _, workers = command_line_cluster
    cook = _slow_cook(project, address)
    try:
        jobs = _wait_for_jobs(project.root / "pids.txt", 2)
        cook.send_signal(signal.SIGINT)
        out, err = cook.communicate(timeout=60)
    finally:
        if cook.poll() is None:
            cook.kill()
    assert cook.returncode == 130, (out, err[-1500:])
    assert json.loads(out)["status"] == "cancelled"
    left = _still_alive(jobs)
    for pid in left:
        os.killpg(pid, signal.SIGKILL)
    assert not left, f"jobs outlived the cancelled cook on the workers: {left}"
    from pdgstore.log import EventLog

    with EventLog.open(str(project.db)) as log:
        state = log.load_state()
    assert {i.state for i in state.items.values() if i.node == "job"} == {"cooked_cancel"}


def test_the_dask_scheduler_going_away_cancels_the_cook_with_its_reason(project, command_line_cluster):
    address, procs, _ = command_line_cluster
    cook = _slow_cook(project, address)
    try:
        _wait_for_jobs(project.root / "pids.txt", 2)
        os.killpg(procs[0].pid, signal.SIGKILL)  # the Dask scheduler
        out, err = cook.communicate(timeout=90)
    finally:
        if cook.poll() is None:
            cook.kill()
        for pid in (project.root / "pids.txt").read_text().split():  # the orphaned jobs on the workers
            _kill_group(int(pid))
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


RECONNECT_GRAPH = '''
from pdgstore.engine import Graph
graph = Graph("back")
graph.scheduler("farm", "dask", address="{address}", default=True, tick_period=0.1, lost_after_s=90)
numbers = graph.range_generate("numbers", 2)
graph.command("run", numbers, ["sh", "-c", "if [ -e hold ]; then echo $$ >> pids.txt; sleep 600; fi; echo @value > out_@pdg_name"],
              expected_outputs=["out_@pdg_name"])
'''


OUTAGE_S = 12


class _Outage:
    """A cook of ``RECONNECT_GRAPH`` on a ``dask scheduler`` and one ``dask worker`` started on a
    held port, its two jobs running (the file ``hold`` keeps them so): what both reconnect tests
    take away from the cook, and start again."""

    def __init__(self, project, folder: Path, port: int) -> None:
        self.address = f"tcp://127.0.0.1:{port}"
        self.folder = folder
        self.scheduler = DASK + ["--host", "127.0.0.1", "--port", str(port), "--no-dashboard"]
        self.worker = WORKER + [self.address, "--nthreads", "2", "--resources", "slots=2", "--no-dashboard",
                                "--host", "127.0.0.1"]
        self.project = project
        self.procs: list[subprocess.Popen] = []
        self.pids_file = project.root / "pids.txt"
        self.cook: subprocess.Popen | None = None
        self.first_jobs: list[int] = []

    def start(self) -> subprocess.Popen:
        """The cluster, then the cook; back once its two jobs run."""
        self.start_cluster()
        self.project.write("g.py", RECONNECT_GRAPH.format(address=self.address))
        (self.project.root / "hold").write_text("")
        self.cook = self.project.popen("cook", "g.py", "--json")
        self.first_jobs = _wait_for_jobs(self.pids_file, 2, wait_s=90)
        return self.cook

    def start_cluster(self) -> None:
        """A Dask scheduler on the port and a worker of it (again, after ``stop_cluster``)."""
        n = len(self.procs) // 2 + 1
        self.procs += [_start(self.scheduler, self.folder / f"scheduler{n}.log"),
                       _start(self.worker, self.folder / f"worker{n}.log")]

    def stop_cluster(self) -> None:
        """SIGKILL the Dask scheduler and its worker (their jobs live on in their own process groups).
        The worker's resource tracker is spared: it outlives them by a moment to unlink the POSIX
        semaphores the worker made, which would otherwise stay in /dev/shm after every run."""
        for proc in self.procs:
            _kill_group_but_trackers(proc.pid)
        for proc in self.procs:
            proc.wait(timeout=60)

    def close(self) -> None:
        """The cook, every Dask process and every job the cook started: none outlives the test."""
        if self.cook is not None and self.cook.poll() is None:
            self.cook.kill()
            self.cook.wait()
        _stop_groups(self.procs)
        for pid in self.pids_file.read_text().split() if self.pids_file.exists() else ():
            _kill_group(int(pid))  # no worker is left to kill them


@pytest.fixture
def outage(project, tmp_path, port):
    """``_Outage`` for one test, cleaned up after it."""
    rig = _Outage(project, tmp_path, port)
    try:
        rig.start()
        yield rig
    finally:
        rig.close()


def test_a_dask_scheduler_back_on_its_address_gets_the_dropped_jobs_again(project, outage):
    """The Dask scheduler dies mid-cook with its worker (their jobs live on in their own process
    groups) and a new one starts on the same address with a new worker, within ``lost_after_s``:
    the cook reaches it again (``rejoin``: not the client's own reconnect, whose backoff may not try
    again until long after the scheduler is back), the jobs left running are killed, and each item
    runs again as a retry with its reason; the cook succeeds, everything recorded, and no traceback
    of the lost client's cancelled reconnect reaches stderr."""
    address, first = outage.address, outage.first_jobs
    outage.stop_cluster()  # the worker would close itself half a minute after its scheduler
    assert all(_alive(pid) for pid in first)  # the jobs live on without it
    (project.root / "hold").unlink()
    # the scheduler stays away a while (not a wait for anything): distributed's own reconnect
    # would by now back off for seconds to tens of seconds between attempts
    time.sleep(OUTAGE_S)
    outage.start_cluster()
    cook = outage.cook
    assert cook is not None
    out, err = cook.communicate(timeout=120)
    assert cook.returncode == 0, (out, err[-2000:])
    orphans = _still_alive(first)
    assert not orphans, f"jobs of the lost scheduler still ran: {orphans}"
    assert json.loads(out)["items"]["ran"] == 2
    assert "Traceback" not in err, err[-2000:]
    warnings = json.loads(out)["warnings"]
    assert any(f"Dask scheduler at {address} is out of reach: waiting up to 90 s" in w for w in warnings), warnings
    assert any(f"Dask scheduler at {address} answered again" in w and "2 dropped job(s)" in w for w in warnings)
    from pdgstore.log import EventLog

    with EventLog.open(str(project.db)) as log:
        state = log.load_state()
        events = list(log.events(0))
    for item in (i for i in state.items.values() if i.node == "run"):
        ended = [e for e in events if e.kind == "JobEnded" and e.item_id == item.item_id]
        assert [e.outcome for e in ended] == ["retry", "success"], ended
        assert "dropped while the Dask scheduler was out of reach" in ended[0].message
        assert "was killed" in ended[0].message
        assert item.attrs["failurecount"] == ["int", [1]]
        assert (project.root / f"out_{item.name}").read_text().strip() == str(item.index)
    assert project.pdg_process("check").returncode == 0


def test_ctrl_c_while_the_dask_scheduler_is_out_of_reach_cancels_the_cook(project, outage):
    """The Dask scheduler and its worker die mid-cook; while the cook waits for them (a warning in
    the log says so) the user presses Ctrl-C: the cook ends then, cancelled for the user's reason,
    not the lost scheduler's, its items recorded cancelled, with no traceback."""
    outage.stop_cluster()
    cook = outage.cook
    assert cook is not None
    deadline = time.monotonic() + 60
    while not _warned(project, "is out of reach") and time.monotonic() < deadline and cook.poll() is None:
        time.sleep(0.1)
    cook.send_signal(signal.SIGINT)
    out, err = cook.communicate(timeout=60)
    summary = json.loads(out)
    assert cook.returncode == 130, (out, err[-2000:])
    assert summary["status"] == "cancelled" and summary["message"] == "interrupted (Ctrl-C)", summary
    assert "Traceback" not in err, err[-2000:]
    from pdgstore.log import EventLog

    with EventLog.open(str(project.db)) as log:
        state = log.load_state()
    assert {i.state for i in state.items.values() if i.node == "run"} == {"cooked_cancel"}


@pytest.fixture
def port():
    """The Dask scheduler's port, held for the test (``tests/ports.py``): no other process can take
    it, neither before the first scheduler listens nor while the test keeps it away."""
    with reserved_port() as held:
        yield held


def _warned(project, text: str) -> bool:
    """Whether the cook's log holds a cook warning saying ``text`` (read while the cook writes)."""
    from pdgstore.log import EventLog

    try:
        with EventLog.open(str(project.db)) as log:
            return any(e.kind == "CookWarning" and text in e.message for e in log.events(0))
    except Exception:  # noqa: BLE001 - not created yet, or busy: ask again
        return False


def _wait_for_jobs(pids_file: Path, n: int, wait_s: float = 60) -> list[int]:
    """The pids of the first ``n`` jobs once they wrote them to ``pids_file`` (or what is there
    after ``wait_s``: the test's own assertions then say what is missing)."""
    deadline = time.monotonic() + wait_s
    while (not pids_file.exists() or len(pids_file.read_text().split()) < n) and time.monotonic() < deadline:
        time.sleep(0.05)
    return [int(p) for p in pids_file.read_text().split()] if pids_file.exists() else []


def _stop_groups(procs: list[subprocess.Popen]) -> None:
    """End Dask processes as their users do (SIGTERM), and SIGKILL what is left after 20 s: a worker
    killed outright takes its nanny's resource tracker with it, and the POSIX semaphores it was to
    unlink stay in /dev/shm. (Those the tests kill on purpose, mid-cook, are left there.)"""
    for proc in procs:
        if proc.poll() is None:
            _signal_group(proc.pid, signal.SIGTERM)
    deadline = time.monotonic() + 20
    for proc in procs:
        try:
            proc.wait(timeout=max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            pass
    for proc in procs:
        _kill_group(proc.pid)  # its group: what a process that ended left behind in it
        proc.wait()


def _signal_group(pid: int, sig: int) -> None:
    try:
        os.killpg(pid, sig)
    except ProcessLookupError:
        pass


def _kill_group(pid: int) -> None:
    try:
        os.killpg(pid, signal.SIGKILL)
    except ProcessLookupError:
        pass


def _kill_group_but_trackers(pgid: int) -> None:
    """SIGKILL process group ``pgid``, all but multiprocessing's resource trackers: those end by
    themselves once the processes they serve are gone, unlinking what those left (a resource
    tracker killed with them leaves its semaphores in /dev/shm for good)."""
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_bytes()
            command = (entry / "cmdline").read_bytes()
        except OSError:
            continue
        if int(stat[stat.rfind(b")") + 2 :].split()[2]) == pgid and b"multiprocessing.resource_tracker" not in command:
            try:
                os.kill(int(entry.name), signal.SIGKILL)
            except ProcessLookupError:
                pass


def _alive(pid: int) -> bool:
    try:
        data = Path(f"/proc/{pid}/stat").read_bytes()
    except OSError:
        return False
    return data[data.rfind(b")") + 2 :].split()[0] != b"Z"


def _still_alive(pids: list, wait_s: float = 30) -> list:
    """Those of ``pids`` still alive once the others are gone or ``wait_s`` has passed: a process
    sent SIGKILL ends when it next runs, which on a busy machine may be a moment later."""
    deadline = time.monotonic() + wait_s
    while any(_alive(pid) for pid in pids) and time.monotonic() < deadline:
        time.sleep(0.05)
    return [pid for pid in pids if _alive(pid)]
