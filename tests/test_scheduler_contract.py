"""The scheduler contract, held by every scheduler (in-process, local, dask): real jobs, real files.

Each test builds a graph whose work runs on the scheduler under test, cooks it into a real store,
and checks what the log says (replay equal to the live state). Custom schedulers written against
the contract (deferring every other item, cancelling the cook from on_tick, running jobs itself)
are held to the same results.
"""

from __future__ import annotations

import os
import subprocess
import threading
import time
from pathlib import Path

import pytest

import pdgstore.engine as engine
from pdgstore.engine import AcceptResult, ScheduleResult, Scheduler, TickResult
from pdgstore.engine.schedulers.inprocess import InProcessScheduler
from pdgstore.engine.schedulers.dask import DaskScheduler
from pdgstore.engine.schedulers.local import LocalScheduler
from pdgstore.log import EventLog
from pdgstore.state import first_difference

from dask_cluster import dask_cluster  # noqa: F401 - a fixture

SCHEDULERS = {
    "inprocess": (InProcessScheduler, {"jobs": 2}),
    "local": (LocalScheduler, {"slots": 2, "max_retries": 0}),
    # on the module's LocalCluster (dask_cluster: 2 worker processes); Python items stay in-process
    "dask": (DaskScheduler, {"max_retries": 0, "accept_python": False}),
}


def deferring(base: type[Scheduler]) -> type[Scheduler]:
    """``base`` deferring every other item it is offered (the item comes back on a later tick)."""

    class Deferring(base):
        type_name = f"deferring_{base.type_name}"

        def __init__(self, *args, **kwargs) -> None:
            super().__init__(*args, **kwargs)
            self.calls = 0
            self.deferred = 0

        def on_schedule(self, item):
            self.calls += 1
            if self.calls % 2:
                self.deferred += 1
                return ScheduleResult.DEFERRED
            return super().on_schedule(item)

    return Deferring


KINDS = [(name, cls, parms) for name, (cls, parms) in SCHEDULERS.items()]
KINDS += [(f"deferring-{name}", deferring(cls), parms) for name, (cls, parms) in SCHEDULERS.items()]


@pytest.fixture(params=KINDS, ids=[k[0] for k in KINDS])
def kind(request):
    name, cls, parms = request.param
    if name.endswith("dask"):
        cluster, _ = request.getfixturevalue("dask_cluster")
        return name, cls, {**parms, "address": cluster.scheduler_address}
    return request.param


def make_graph(tmp_path: Path, kind, n: int = 4, command=None, **node) -> tuple[engine.Graph, Scheduler]:
    _, cls, parms = kind
    graph = engine.Graph("contract", root=str(tmp_path))
    scheduler = graph.scheduler("under_test", cls, default=True, tick_period=0.05, **parms)
    numbers = graph.range_generate("numbers", n)
    command = command or ["sh", "-c", "mkdir -p out && echo value @value > out/@pdg_name.txt && echo made @pdg_name"]
    node.setdefault("expected_outputs", ["out/@pdg_name.txt"])
    graph.command("run", numbers, command, **node)
    return graph, scheduler


def cook(graph: engine.Graph, tmp_path: Path, **kwargs):
    db = str(tmp_path / ".pdg" / "pdg.db")
    summary = engine.cook_graph(graph, db=db, jobs=2, **kwargs)
    with EventLog.open(db) as log:
        state = log.load_state()
        assert first_difference(log.replay_all().to_plain(), state.to_plain()) is None
        events = list(log.events(0))
    return summary, state, events


def items_of(state, node: str) -> list:
    return sorted((i for i in state.items.values() if i.node == node), key=lambda i: i.index)


def test_jobs_run_and_their_outputs_are_recorded(tmp_path, kind):
    graph, scheduler = make_graph(tmp_path, kind)
    summary, state, events = cook(graph, tmp_path)
    assert summary.status == "success", summary
    run = items_of(state, "run")
    assert [i.state for i in run] == ["cooked_success"] * 4
    for item in run:
        assert [o[0] for o in item.outputs] == [f"out/{item.name}.txt"]
        assert (tmp_path / "out" / f"{item.name}.txt").read_text() == f"value {item.index}\n"
        scheduler_name, attempt, pid, log_uri, exit_code = state.jobs[item.item_id]
        assert scheduler_name == "under_test" and attempt == 1 and pid > 0 and exit_code == 0
        assert log_uri.startswith("file://") and Path(log_uri[7:]).read_text() == f"made {item.name}\n"
    kinds = [e.kind for e in events if getattr(e, "item_id", "") == run[0].item_id]
    assert kinds.index("JobStarted") < kinds.index("JobEnded") < kinds.index("WorkItemCooked")
    if "deferring" in kind[0]:
        assert scheduler.deferred >= 4


def test_a_failing_job_fails_its_item_only(tmp_path, kind):
    command = ["sh", "-c", "mkdir -p out && test @value != 2 || exit 7; echo ok > out/@pdg_name.txt"]
    graph, _ = make_graph(tmp_path, kind, command=command)
    summary, state, events = cook(graph, tmp_path)
    assert summary.status == "failed"
    states = {i.name: i.state for i in items_of(state, "run")}
    assert states == {"run_1": "cooked_success", "run_2": "cooked_success", "run_3": "cooked_fail",
                      "run_4": "cooked_success"}
    failed = next(i for i in items_of(state, "run") if i.state == "cooked_fail")
    assert "code 7" in failed.error and "run_3" in failed.error
    assert state.jobs[failed.item_id][4] == 7


def test_a_missing_expected_output_fails_with_a_clear_message(tmp_path, kind):
    graph, _ = make_graph(tmp_path, kind, n=1, command=["true"])
    summary, state, _ = cook(graph, tmp_path)
    assert summary.status == "failed"
    (item,) = items_of(state, "run")
    assert item.error == "work item run_1 did not write its expected output out/run_1.txt"


def test_a_command_that_cannot_start_fails_its_item(tmp_path, kind):
    graph, _ = make_graph(tmp_path, kind, n=1, command=["/nonexistent/program", "@pdg_name"], expected_outputs=[])
    summary, state, _ = cook(graph, tmp_path)
    (item,) = items_of(state, "run")
    assert item.state == "cooked_fail"
    assert "could not start /nonexistent/program" in item.error


def ended_soon(pid: int, within_s: float = 10.0) -> bool:
    """Whether ``pid`` has ended, or does within ``within_s``: a job killed on a dask worker is a
    zombie until the worker's thread reaps it, which on a loaded machine can come after the cook
    returned (a zombie has ended: it runs nothing and holds nothing)."""
    deadline = time.monotonic() + within_s
    while True:
        try:
            data = Path(f"/proc/{pid}/stat").read_bytes()
        except OSError:
            return True
        if data[data.rfind(b")") + 2 :].split()[0] == b"Z":
            return True
        if time.monotonic() > deadline:
            return False
        time.sleep(0.05)


def test_cancel_kills_running_jobs_and_records_cooked_cancel(tmp_path, kind):
    command = ["sh", "-c", "echo $$ >> pids.txt; sleep 30"]
    graph, _ = make_graph(tmp_path, kind, n=3, command=command, expected_outputs=[])
    started = threading.Event()

    @graph.on("work_item_state_change")
    def cancel_when_two_run(event):
        if event.current_state == "cooking" and (tmp_path / "pids.txt").exists() and \
                len((tmp_path / "pids.txt").read_text().split()) >= 2:
            started.set()
            event.cook.cancel("enough")

    summary, state, _ = cook(graph, tmp_path)
    assert summary.status == "cancelled" and summary.message == "enough"
    assert started.is_set()
    assert {i.state for i in items_of(state, "run")} == {"cooked_cancel"}
    for pid in (tmp_path / "pids.txt").read_text().split():
        assert ended_soon(int(pid)), f"job {pid} outlived the cancelled cook"


def test_in_process_items_stay_in_process_when_the_default_scheduler_is_another(tmp_path, kind):
    graph, _ = make_graph(tmp_path, kind, n=2)
    threads = []

    @graph.python_processor("inproc", upstream="run")
    def inproc(item):
        threads.append(threading.current_thread().name)
        item.set_attrib("seen", item.input_path.read_text().strip())

    summary, state, _ = cook(graph, tmp_path)
    assert summary.status == "success", summary
    assert [i.attrs["seen"] for i in items_of(state, "inproc")] == [["string", ["value 0"]], ["string", ["value 1"]]]
    assert all(t.startswith("pdg-worker-") for t in threads)


def test_on_tick_cancel_cook_ends_the_cook_with_its_reason(tmp_path):
    class Quitter(InProcessScheduler):
        type_name = "quitter"

        def on_tick(self):
            self.cancel_reason = "the farm went away"
            return TickResult.CANCEL_COOK

    graph = engine.Graph("quit", root=str(tmp_path))
    graph.scheduler("q", Quitter, default=True, tick_period=0.05)
    numbers = graph.range_generate("numbers", 3)
    graph.command("run", numbers, ["sleep", "30"])
    summary, state, events = cook(graph, tmp_path)
    assert summary.status == "cancelled"
    assert summary.message == "scheduler q cancelled the cook: the farm went away"
    finished = [e for e in events if e.kind == "CookFinished"][-1]
    assert finished.message == summary.message
    assert {i.state for i in items_of(state, "run")} == {"cooked_cancel"}


CUSTOM_GRAPH = '''
import subprocess
from pdgstore.engine import Graph, Scheduler, ScheduleResult

graph = Graph("custom")


class EveryOther(Scheduler):
    """Runs each job itself, at once, but defers every other item it is offered."""

    type_name = "every_other"

    def __init__(self, name=None, **parms):
        super().__init__(name, **parms)
        self.calls = 0

    def on_schedule(self, item):
        self.calls += 1
        with open("calls.txt", "a") as f:
            f.write(f"{item.name} {self.calls}\\n")
        if self.calls % 2:
            return ScheduleResult.DEFERRED
        done = subprocess.run(item.command, env=dict(item.env, PATH="/usr/bin:/bin"))
        return ScheduleResult.COOK_SUCCEEDED if done.returncode == 0 else ScheduleResult.COOK_FAILED


graph.register_scheduler_type(EveryOther)
graph.scheduler("mine", "every_other", tick_period=0.05)
numbers = graph.range_generate("numbers", 4)
graph.command("run", numbers, ["sh", "-c", "mkdir -p out; echo @value > out/@pdg_name.txt"],
              expected_outputs=["out/@pdg_name.txt"], scheduler="mine")
'''


def test_a_custom_scheduler_in_a_graph_file_defers_every_other_item(project):
    project.write("custom.py", CUSTOM_GRAPH)
    result = project.pdg_process("cook", "custom.py", "--json")
    assert result.returncode == 0, result.stderr
    calls = (project.root / "calls.txt").read_text().split("\n")
    offered = [c.split()[0] for c in calls if c]
    assert len(offered) == 8  # each of the 4 items deferred once, then run
    assert sorted(set(offered)) == ["run_1", "run_2", "run_3", "run_4"]
    for n in range(4):
        assert (project.root / "out" / f"run_{n + 1}.txt").read_text() == f"{n}\n"
    assert project.pdg_process("check").returncode == 0


def test_unknown_scheduler_names_are_refused_in_one_sentence(tmp_path):
    graph = engine.Graph("bad", root=str(tmp_path))
    numbers = graph.range_generate("numbers", 1)
    graph.command("run", numbers, ["true"], scheduler="nowhere")
    with pytest.raises(engine.errors.GraphError, match="node run uses scheduler nowhere, which graph bad does not"):
        graph.validate()
    with pytest.raises(engine.errors.GraphError, match="unknown scheduler type 'farm'"):
        graph.scheduler("f", "farm")
