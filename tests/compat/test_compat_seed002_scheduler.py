"""Seed 002 (Scheduler Node Callbacks): a scheduler written with PDG's callback names
(``examples/pdg_api/seed002/pdg/types/custom_scheduler.py``), each callback doing what the page
says, in real cooks whose jobs report back through the result server the scheduler hands on."""

from __future__ import annotations

import json
import threading
import time
import warnings

import pdg
import pytest
from pdgstore.engine.graph.api import Graph


def farm_of(graph):
    return graph.schedulers["farm"]


def calls(scheduler, name):
    return [c for c in scheduler.calls if c[0] == name]


def test_onSchedule_runs_jobs_that_report_through_workItemResultServerAddr(example):
    ex = example("seed002")
    graph = ex.graph()
    farm = farm_of(graph)
    summary = ex.cook(graph)
    assert summary.status == "success", summary
    jobs = ex.items("job")
    assert [c[1] for c in calls(farm, "onSchedule")] == [j.name for j in jobs]
    for job in jobs:
        assert job.state == "cooked_success"
        assert job.attrs["scheduled_by"] == ["string", ["farm"]]  # set in onSchedule: recorded
        assert job.attrs["server"][1][0].startswith("127.0.0.1:")  # the job reached the result server
        assert job.attrs["__pdg_cookpercent"] == ["float", [100.0]]
    # applicationBin('python') built the python script command
    assert ("applicationBin", "python") in farm.calls


def test_getStatusURI_and_getLogURI_are_recorded_with_the_item(example):
    ex = example("seed002")
    ex.cook()
    job = ex.items("job")[0]
    logs = ex.logs(job.item_id)
    assert f"status: http://farm.example/status/{job.name}" in logs
    assert f"log: file:///farm/logs/{job.name}.log" in logs
    started = [e for e in ex.events() if e.kind == "JobStarted" and e.item_id == job.item_id]
    assert started[0].log_uri == f"file:///farm/logs/{job.name}.log"  # onWorkItemStartCook names it


def test_onStart_once_onStartCook_after_generation_onStopCook_and_onConfigureCook(example):
    ex = example("seed002")
    graph = ex.graph()
    farm = farm_of(graph)
    ex.cook(graph)
    ex.write("in.txt", "changed")  # a second cook with the same scheduler object
    ex.cook(graph, node="job")
    names = [c[0] for c in farm.calls if c[0] in ("onStart", "onStop", "onConfigureCook", "onStartCook", "onStopCook")]
    # onStart once in the scheduler's life (its onStop runs when the process ends); per cook:
    # onConfigureCook, then onStartCook, then onStopCook
    assert names == ["onStart", "onConfigureCook", "onStartCook", "onStopCook", "onConfigureCook", "onStartCook",
                     "onStopCook"]
    (_, static, cook_set) = calls(farm, "onStartCook")[0]
    assert static is False and cook_set == ["job", "numbers", "setup"]
    assert calls(farm, "onStopCook")[0] == ("onStopCook", False)
    # setWorkingDir(local, remote): workingDir(False) is the remote name
    assert farm.workingDir(True) == str(ex.root) and farm.workingDir(False) == "/farm/project"


def test_onConfigureCook_changes_take_effect(example):
    ex = example("seed002")
    graph = ex.graph()
    farm = farm_of(graph)

    def configure(cook_options):
        farm.calls.append(("onConfigureCook", dict(cook_options)))
        cook_options["static"] = True  # this cook becomes a static one

    farm.onConfigureCook = configure
    ex.cook(graph)
    assert calls(farm, "onStartCook")[0][1] is True
    assert any(e.kind == "CookStaticPlanned" for e in ex.events())


def test_onAcceptWorkItem_is_asked_for_each_item_and_Reject_fails_it(example):
    ex = example("seed002")
    ex.write("graph.py", (ex.root / "graph.py").read_text().replace(
        '    item.set_attrib("sleep", sleep)', '    item.set_attrib("sleep", sleep)\n    item.set_attrib("reject", int(item.index == 1))'))
    graph = ex.graph()
    farm = farm_of(graph)
    summary = ex.cook(graph)
    assert summary.status == "failed"
    asked = calls(farm, "onAcceptWorkItem")
    assert [(a[1], a[2]) for a in asked] == [("job_1", False), ("job_2", False), ("job_3", False)]
    states = {j.name: (j.state, j.error) for j in ex.items("job")}
    assert states["job_2"][0] == "cooked_fail" and "rejected work item job_2" in states["job_2"][1]
    assert states["job_1"][0] == states["job_3"][0] == "cooked_success"


def test_onAcceptWorkItem_Accept_takes_in_process_items(example):
    """By default custom schedulers only get out-of-process items; Accept takes in-process ones."""
    ex = example("seed002")
    graph = ex.graph()
    farm = farm_of(graph)
    farm.onAcceptWorkItem = lambda work_item: (
        farm.calls.append(("onAcceptWorkItem", work_item.name, work_item.isInProcess)) or pdg.acceptResult.Accept
    )
    graph.nodes["setup"].scheduler = "farm"

    ran_here = []

    def onSchedule(work_item):  # an in-process item: run its work and say it cooked
        if work_item.isInProcess:
            ran_here.append(work_item.name)
            result = work_item.run()
            work_item.setIntAttrib("ran_by_farm", 1)
            return pdg.scheduleResult.CookSucceeded if result.state == "cooked_success" else pdg.scheduleResult.CookFailed
        return type(farm).onSchedule(farm, work_item)

    farm.onSchedule = onSchedule
    assert ex.cook(graph).status == "success"
    assert ran_here == ["setup_1", "setup_2", "setup_3"]
    assert all(i.attrs["ran_by_farm"] == ["int", [1]] for i in ex.items("setup"))


def test_onTick_SchedulerCancelCook_cancels_the_cook_and_onCancelWorkItems_gets_the_node(example):
    ex = example("seed002")
    graph = ex.graph(sleep=30)
    farm = farm_of(graph)

    def cancel_when_running():
        deadline = time.monotonic() + 60
        while len(farm.running) < 3 and time.monotonic() < deadline:
            time.sleep(0.02)
        farm.cancel_next_tick = True

    threading.Thread(target=cancel_when_running, daemon=True).start()
    summary = ex.cook(graph)
    assert summary.status == "cancelled" and "the farm went away" in summary.message
    (cancel,) = calls(farm, "onCancelWorkItems")
    assert cancel == ("onCancelWorkItems", ["job_1", "job_2", "job_3"], "job")
    assert calls(farm, "onStopCook")[-1] == ("onStopCook", True)
    assert {j.state for j in ex.items("job")} == {"cooked_cancel"}


def test_onScheduleStatic_sample_with_dependencyGraph(example):
    """The page's sample, with the smallest fix: ``hou.node(...).getPDGGraphContext()`` is a
    ``pdg.GraphContext`` made from the graph (there is no Houdini node here)."""
    ex = example("seed002")
    graph = ex.graph()
    farm = farm_of(graph)
    seen = {}

    def onScheduleStatic(dependency_map, dependent_map, ready_items):
        seen["maps"] = (dependency_map, dependent_map, list(ready_items))
        return ready_items  # offer them through onSchedule as a dynamic cook does

    farm.onScheduleStatic = onScheduleStatic
    context = pdg.GraphContext(graph, db=ex.db)  # n.getPDGGraphContext()
    # Perform generation phase of PDG cook
    context.cook(True, pdg.cookType.StaticDepsFull)
    # Retrieve the generated task graph work items and topology
    (dependencies, dependents, ready) = context.graph.dependencyGraph(True)

    dependency_map, dependent_map, ready_items = seen["maps"]
    assert all(isinstance(w, pdg.WorkItem) for w in dependency_map)
    # the farm's items (jobs) wait for their setup items, which run in-process: none is ready yet
    assert ready_items == []
    jobs = [w for w in dependency_map if w.node.name == "job"]
    assert len(jobs) == 3
    for job in jobs:
        (setup,) = dependency_map[job]
        assert setup.node.name == "setup" and job in dependent_map[setup]
        assert job.id in dependency_map  # a work item answers to its id as well
    assert calls(farm, "onStartCook")[0][1] is True  # a static cook, and onStartCook came first
    # after the cook, the context's graph holds the generated task graph, as pdg.WorkItems
    names = {w.name: w for w in dependencies}
    assert {d.name for d in dependencies[names["job_2"]]} == {"setup_2"}
    assert {d.name for d in dependents[names["numbers_1"]]} == {"setup_1"}
    assert sorted(w.name for w in ready) == ["numbers_1", "numbers_2", "numbers_3"]
    assert names["job_2"]["server"].value().startswith("127.0.0.1:")


def test_endSharedServer_is_deprecated():
    scheduler = pdg.Scheduler("s")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        assert scheduler.endSharedServer("server") is True
    assert "deprecated" in str(caught[0].message)


def test_a_pdg_scheduler_registers_by_its_class_name(example):
    ex = example("seed002")
    graph = ex.graph()
    assert type(farm_of(graph)).__name__ == "CustomScheduler"
    assert isinstance(farm_of(graph), pdg.Scheduler)
    assert Graph is type(graph)


def test_the_example_cooks_with_the_pdg_command(example):
    """``pdg cook graph.py`` in the example's folder: its ``pdg/types/`` folder must not shadow
    ``import pdg`` (the plugin subclasses ``pdg.Scheduler``), and ``pdg show`` names the URIs."""
    import subprocess
    import sys

    ex = example("seed002")
    run = lambda *args: subprocess.run(  # noqa: E731
        [sys.executable, "-m", "pdgstore.cli.main", *args], cwd=ex.root, capture_output=True, text=True, timeout=120
    )
    cooked = run("cook", "graph.py")
    assert cooked.returncode == 0, cooked.stderr
    shown = run("show", "job_1")
    assert "status: http://farm.example/status/job_1" in shown.stdout
    assert "__pdg_cookpercent (float) = 100.0" in shown.stdout


def test_onSchedule_gets_a_batch_work_item_and_reports_it_for_every_sub_item(example):
    """A batched node (``batch_size``) hands a custom scheduler one work item per batch: onSchedule
    sees ``work_item.isBatch`` and ``batchItems``; onWorkItemSucceeded on the batch settles them all."""
    ex = example("seed002")
    ex.write("graph.py", (ex.root / "graph.py").read_text().replace(
        'graph.python_script("job", setup, "job.py", scheduler="farm")',
        'graph.python_script("job", setup, "job.py", scheduler="farm", batch_size=3)'))
    graph = ex.graph()
    farm = farm_of(graph)
    seen = []
    schedule = farm.onSchedule

    def onSchedule(work_item):
        seen.append((work_item.name, work_item.isBatch, [s.name for s in work_item.batchItems]))
        return schedule(work_item)

    farm.onSchedule = onSchedule
    summary = ex.cook(graph)
    assert summary.status == "success", summary
    assert seen == [("job_batch1", True, ["job_1", "job_2", "job_3"])]
    jobs = ex.items("job")
    assert [j.state for j in jobs] == ["cooked_success"] * 3
    for job in jobs:
        assert job.attrs["scheduled_by"] == ["string", ["farm"]]  # set on the batch in onSchedule: each sub-item's
        assert job.attrs["__pdg_cookpercent"] == ["float", [100.0]]  # reported by the batch's job
        assert job.attrs["__pdg_batch"][1][1] == "job_batch1"



SCHEDULERS_GRAPH = '''
import pdg
from pdgstore.engine import Graph


class MyScheduler(pdg.Scheduler):
    def onSchedule(self, work_item):
        self.onWorkItemStartCook(work_item.id, -1)
        self.onWorkItemSucceeded(work_item.id, -1, 0.0)
        return pdg.scheduleResult.Succeeded


class BrokenScheduler(pdg.Scheduler):
    def onSchedule(self, work_item):
        raise RuntimeError("farm API down")


graph = Graph("custom")
{declare}
seed = graph.range_generate("seed", 1)
graph.command("a", seed, "true", scheduler="broken")
graph.command("b", seed, "true", scheduler="mine")
'''


@pytest.mark.timeout(120)
def test_register_scheduler_type_registers_each_pdg_scheduler_by_its_class_name(project):
    """``graph.register_scheduler_type(cls)`` registers each ``pdg.Scheduler`` subclass under its
    class name, as ``registerScheduler(cls)`` does: two of them, used by that name or as a class."""
    project.write("g.py", SCHEDULERS_GRAPH.format(declare="""
assert graph.register_scheduler_type(MyScheduler) is MyScheduler
graph.register_scheduler_type(BrokenScheduler)  # a second pdg.Scheduler subclass: its own name
graph.scheduler("mine", "MyScheduler")
graph.scheduler("broken", BrokenScheduler)  # the class itself, as before
"""))
    cooked = project.pdg_process("cook", "g.py")
    assert cooked.returncode == 1, cooked.stderr  # a_1 failed: its scheduler raised
    assert "already registered" not in cooked.stderr and "unknown scheduler type" not in cooked.stderr
    assert json.loads(project.pdg_process("show", "b_1", "--json").stdout)["item"]["state"] == "cooked_success"


@pytest.mark.timeout(120)
def test_a_custom_schedulers_messages_use_the_users_words(project):
    """A callback that raises is named as the user's class spells it (``onSchedule``), about the
    item by its name; ``pdg show`` prints no pid the scheduler never had."""
    project.write("g.py", SCHEDULERS_GRAPH.format(declare="""
graph.scheduler("mine", MyScheduler)
graph.scheduler("broken", BrokenScheduler)
"""))
    cooked = project.pdg_process("cook", "g.py")
    assert cooked.returncode == 1, cooked.stderr
    error = json.loads(project.pdg_process("show", "a_1", "--json").stdout)["item"]["error"]
    said = "scheduler broken's onSchedule for work item a_1 raised RuntimeError: farm API down at "
    assert error.startswith(said)
    assert error in cooked.stderr  # the cook's summary says the same
    shown = project.pdg_process("show", "b_1")
    assert "cooked_success" in shown.stdout
    assert "cooking  mine job, attempt 1" in shown.stdout
    assert "job: mine, attempt 1, exit code 0" in shown.stdout
    assert "pid" not in shown.stdout


@pytest.mark.timeout(120)
@pytest.mark.parametrize("kind", ['"MyScheduler"', "MyScheduler"])
def test_a_custom_scheduler_given_a_parameter_it_lacks_is_named_by_its_type(project, kind):
    """A ``pdg.Scheduler`` subclass, by its registered name or as a class, is called what the user
    named it in the graph file's error, never the base class's "pdg_scheduler"."""
    project.write("g.py", SCHEDULERS_GRAPH.format(declare=f"""
graph.register_scheduler_type(MyScheduler)
graph.scheduler("mine", {kind}, slots=4)
graph.scheduler("broken", BrokenScheduler)
"""))
    cooked = project.pdg_process("cook", "g.py")
    assert cooked.returncode == 2, cooked.stderr
    assert "scheduler mine (MyScheduler):" in cooked.stderr
    assert "pdg_scheduler" not in cooked.stderr and "Traceback" not in cooked.stderr


PLUGIN_SCHEDULER = '''
import pdg
from pdg.scheduler import PyScheduler
{extra}

class MyScheduler(PyScheduler):
    def onSchedule(self, work_item):
        self.onWorkItemStartCook(work_item.id, -1)
        self.onWorkItemSucceeded(work_item.id, -1, 0.0)
        return pdg.scheduleResult.Succeeded


def registerTypes(type_registry):
    type_registry.registerScheduler(MyScheduler)
'''

PLUGIN_GRAPH = '''
from pdgstore.engine import Graph

graph = Graph("g")
graph.scheduler("mine", "MyScheduler", default=True)
seed = graph.range_generate("seed", 2)
graph.command("c", seed, "true")
'''


@pytest.mark.timeout(120)
def test_a_types_plugin_scheduler_imports_PyScheduler_from_pdg_scheduler(project):
    """``from pdg.scheduler import PyScheduler`` (how Houdini's own schedulers import their base) in
    a ``pdg/types/`` plugin: the class is ``pdg.Scheduler``, and the graph cooks on it by name."""
    project.write("pdg/types/mysched.py", PLUGIN_SCHEDULER.format(extra="assert PyScheduler is pdg.PyScheduler"))
    project.write("g.py", PLUGIN_GRAPH)
    cooked = project.pdg_process("cook", "g.py")
    assert cooked.returncode == 0, cooked.stderr
    assert "failed to load" not in cooked.stderr
    shown = json.loads(project.pdg_process("show", "c_2", "--json").stdout)["item"]
    assert shown["state"] == "cooked_success"


@pytest.mark.timeout(120)
def test_an_unknown_scheduler_type_names_the_plugin_that_failed_to_load_and_why(project):
    """The type a graph asks for is missing because its plugin failed to load: the graph file's
    error says which plugin and why (exit 2), not only that the type is unknown."""
    project.write("pdg/types/mysched.py", PLUGIN_SCHEDULER.format(extra="import no_such_farm_api"))
    project.write("g.py", PLUGIN_GRAPH)
    cooked = project.pdg_process("cook", "g.py")
    assert cooked.returncode == 2, cooked.stderr
    assert "g.py:5: scheduler mine: unknown scheduler type 'MyScheduler'" in cooked.stderr
    assert (
        "types plugin pdg/types/mysched.py failed to load: ModuleNotFoundError: No module named 'no_such_farm_api'"
        in cooked.stderr
    )
    assert "Traceback" not in cooked.stderr


SHELL_SCHEDULER = '''
import subprocess

import pdg
from pdg.scheduler import PyScheduler


class ShellScheduler(PyScheduler):
    def __init__(self, scheduler, name, **parms):
        PyScheduler.__init__(self, scheduler, name, **parms)
        self.running = {}

    def onSchedule(self, work_item):
        work_item.setStringAttrib("command_type", type(work_item.command).__name__)
        work_item.setStringAttrib("as_list", self.expandCommandTokens(["__PDG_ITEM_NAME__"], work_item))
        command = self.expandCommandTokens(work_item.command, work_item)
        job_env = self.job_environment(work_item)
        self.running[work_item.id] = subprocess.Popen(
            command, shell=True, env=job_env, cwd=self.workingDir(True), stdout=subprocess.PIPE, text=True
        )
        self.onWorkItemStartCook(work_item.id, -1)
        return pdg.scheduleResult.Succeeded

    def onTick(self):
        for item_id, proc in list(self.running.items()):
            if proc.poll() is None:
                continue
            del self.running[item_id]
            self.onWorkItemAppendLog(item_id, -1, "said: " + proc.stdout.read().strip())
            if proc.returncode == 0:
                self.onWorkItemSucceeded(item_id, -1, 0.0)
            else:
                self.onWorkItemFailed(item_id, -1)
        return pdg.tickResult.SchedulerReady


def registerTypes(type_registry):
    type_registry.registerScheduler(ShellScheduler)
'''


@pytest.mark.timeout(120)
def test_work_item_command_is_pdgs_string_that_a_shell_runs_whole(project):
    """``work_item.command`` in a ``pdg.Scheduler``'s onSchedule is PDG's string, quoted as a shell
    reads it: ``Popen(expandCommandTokens(work_item.command, work_item), shell=True)`` runs every
    word (a list given to ``sh -c`` would run the first alone), also an argument that holds spaces;
    ``expandCommandTokens`` of an argument list still gives a list."""
    project.write("pdg/types/shellsched.py", SHELL_SCHEDULER)
    project.write("g.py", '''
from pdgstore.engine import Graph

graph = Graph("g")
graph.scheduler("shell", "ShellScheduler", default=True)
n = graph.range_generate("n", 2)
graph.command("echo", n, "echo hello @pdg_index")
graph.command("write", n, ["sh", "-c", "echo wrote $0 > out_$0.txt", "@pdg_index __PDG_ITEM_NAME__"])
''')
    cooked = project.pdg_process("cook", "g.py")
    assert cooked.returncode == 0, cooked.stderr
    shown = json.loads(project.pdg_process("show", "echo_2", "--json").stdout)["item"]
    assert shown["state"] == "cooked_success"
    assert shown["attrs"]["command_type"]["values"] == ["str"]
    assert shown["attrs"]["as_list"]["values"] == ["echo_2"]
    assert "said: hello 1" in project.pdg_process("show", "echo_2").stdout
    assert (project.root / "out_1 write_2.txt").read_text() == "wrote 1 write_2\n"
