"""Static cooks (``pdg cook --static``): the whole planned graph handed to the schedulers first.

A custom local scheduler records the maps it receives; they must be exactly the dependencies the
cook then really had (planned ids = generated ids), and the results must equal a dynamic cook's.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pdgstore.engine as engine
from pdgstore.engine import ScheduleResult
from pdgstore.engine.schedulers.local import LocalScheduler
from pdgstore.log import EventLog
from test_scheduler_contract import cook  # a real store, replay checked against the live state


class Recording(LocalScheduler):
    """Records what a static cook hands it, then falls back to the default (``on_schedule``)."""

    type_name = "recording_local"

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.static_calls = []
        self.static_flag = None

    def on_start_cook(self, static, cook_set):
        self.static_flag = static
        return super().on_start_cook(static, cook_set)

    def on_schedule_static(self, dependency_map, dependent_map, ready_items):
        self.static_calls.append((dependency_map, dependent_map, [s.id for s in ready_items]))
        return super().on_schedule_static(dependency_map, dependent_map, ready_items)


class TakesReady(LocalScheduler):
    """Keeps the ready items of a static cook and starts them itself (gives back what is full)."""

    type_name = "takes_ready_local"

    def on_schedule_static(self, dependency_map, dependent_map, ready_items):
        self.kept = []
        back = []
        for scheduled in ready_items:
            if self.on_schedule(scheduled) is ScheduleResult.SUCCEEDED:
                self.kept.append(scheduled.id)
            else:
                back.append(scheduled)
        return back


def build(root: Path, cls=Recording, **parms) -> tuple[engine.Graph, LocalScheduler]:
    graph = engine.Graph("static", root=str(root))
    scheduler = graph.scheduler("farm", cls, default=True, slots=2, tick_period=0.05, **parms)
    graph.range_generate("numbers", 3)
    graph.command("run", "numbers", ["sh", "-c", "mkdir -p out && echo value @value > out/@pdg_name.txt"],
                  expected_outputs=["out/@pdg_name.txt"])
    graph.range_generate("fan", 2, upstream="run", attribute="copy")
    graph.wait_for_all("all", "run")

    @graph.python_processor("sheet", upstream="all", scheduler="inprocess")
    def sheet(item):
        text = "".join(Path(path).read_text() for path in sorted(f.path for f in item.input_files))
        Path(item.root, "sheet.txt").write_text(text)
        item.add_output_file("sheet.txt")

    graph.partition_by_attribute("by_value", "run", "value")

    @graph.python_processor("after", upstream="by_value", scheduler="inprocess")
    def after(item):
        item.set_attrib("seen", 1)

    return graph, scheduler


def results(state) -> list:
    return sorted((i.item_id, i.name, i.node, i.state, sorted(i.attrs.items()), [o[0] for o in i.outputs])
                  for i in state.items.values())


def test_the_scheduler_receives_the_exact_graph_and_results_equal_a_dynamic_cook(tmp_path):
    graph, scheduler = build(tmp_path / "static")
    summary, state, events = cook(graph, tmp_path / "static", static=True)
    assert summary.status == "success", summary
    assert scheduler.static_flag is True
    assert len(scheduler.static_calls) == 1
    dependencies, dependents, ready = scheduler.static_calls[0]

    by_node = lambda node: sorted((i for i in state.items.values() if i.node == node), key=lambda i: i.index)  # noqa: E731
    run, fan, (all_,), (sheet_,) = by_node("run"), by_node("fan"), by_node("all"), by_node("sheet")
    assert len(run) == 3 and len(fan) == 6
    expected = {r.item_id: set() for r in run}
    expected.update({f.item_id: {f.parents[0]} for f in fan})
    expected[all_.item_id] = {r.item_id for r in run}
    expected[sheet_.item_id] = {all_.item_id}
    assert dependencies == expected  # the numbers cooked at generation: not work to do, not in the map
    inverse = {k: set() for k in expected}
    for item_id, waits in expected.items():
        for other in waits:
            inverse[other].add(item_id)
    assert dependents == inverse
    assert sorted(ready) == sorted(r.item_id for r in run)

    planned = [e for e in events if e.kind == "CookStaticPlanned"]
    assert len(planned) == 1
    assert (planned[0].items, planned[0].dependencies, planned[0].ready) == (11, 10, 3)
    assert planned[0].dynamic_nodes == ["by_value", "after"]
    assert state.cooks[summary.cook_id].static["dynamic_nodes"] == ["by_value", "after"]
    first_job = next(i for i, e in enumerate(events) if e.kind == "JobStarted")
    assert events.index(planned[0]) < first_job  # everything planned before anything ran

    dynamic_graph, dynamic_scheduler = build(tmp_path / "dynamic")
    dynamic, dynamic_state, dynamic_events = cook(dynamic_graph, tmp_path / "dynamic")
    assert dynamic.status == "success" and dynamic_scheduler.static_calls == []
    assert not any(e.kind == "CookStaticPlanned" for e in dynamic_events)
    assert results(state) == results(dynamic_state)
    assert (tmp_path / "static/sheet.txt").read_text() == (tmp_path / "dynamic/sheet.txt").read_text() \
        == "value 0\nvalue 1\nvalue 2\n"
    assert dynamic_state.cooks[dynamic.cook_id].static == {}


def test_a_recook_plans_only_what_is_left_to_do(tmp_path):
    graph, _ = build(tmp_path)
    assert cook(graph, tmp_path, static=True)[0].status == "success"
    graph, scheduler = build(tmp_path)
    summary, _, _ = cook(graph, tmp_path, static=True)
    assert summary.counts["ran"] == 0 and scheduler.static_calls in ([], [({}, {}, [])])  # nothing to do
    (tmp_path / "out/run_2.txt").unlink()
    graph, scheduler = build(tmp_path)
    summary, state, _ = cook(graph, tmp_path, static=True)
    assert summary.status == "success" and summary.counts["ran"] == 1  # run_2 made the same file again: early cutoff
    ((dependencies, _, ready),) = scheduler.static_calls
    named = {i.item_id: i.name for i in state.items.values()}
    assert {named[k]: sorted(named[d] for d in v) for k, v in dependencies.items()} == {
        "run_2": [], "fan_3": ["run_2"], "fan_4": ["run_2"], "all_1": ["run_2"], "sheet_1": ["all_1"]}
    assert [named[i] for i in ready] == ["run_2"]


def test_a_scheduler_may_keep_the_ready_items_and_run_them_itself(tmp_path):
    graph, scheduler = build(tmp_path, TakesReady, queue_ahead=0)  # full means full: no backlog
    summary, state, events = cook(graph, tmp_path, static=True)
    assert summary.status == "success", summary
    assert len(scheduler.kept) == 2  # two slots: the third was given back and offered by on_schedule
    run = [i for i in state.items.values() if i.node == "run"]
    assert all(i.state == "cooked_success" for i in run)
    kept = [e for e in events if e.kind == "WorkItemStateChanged" and e.item_id in scheduler.kept]
    assert [e.state for e in kept][:2] == ["scheduled", "scheduled"]


def test_pdg_cook_static_on_the_command_line(tmp_path):
    (tmp_path / "g.py").write_text(
        "import pdgstore.engine as engine\n"
        "graph = engine.Graph('cli_static')\n"
        "graph.scheduler('local', slots=2, default=True)\n"
        "graph.range_generate('numbers', 2)\n"
        "graph.command('run', 'numbers', 'true')\n"
    )
    out = subprocess.run([sys.executable, "-m", "pdgstore.cli.main", "cook", "--static", "--json", str(tmp_path / "g.py")],
                         capture_output=True, text=True, cwd=tmp_path, timeout=60)
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout)["items"]["ran"] == 2
    with EventLog.open(str(tmp_path / ".pdg" / "pdg.db")) as log:
        state = log.load_state()
    (cook_,) = state.cooks.values()
    assert cook_.static == {"items": 2, "dependencies": 0, "ready": 2, "dynamic_nodes": []}
    shown = subprocess.run([sys.executable, "-m", "pdgstore.cli.main", "history", "1"], capture_output=True, text=True,
                           cwd=tmp_path, timeout=60)
    assert "static cook: 2 items planned (0 dependencies, 2 ready at once); dynamic nodes: none" in shown.stdout
    listed = subprocess.run([sys.executable, "-m", "pdgstore.cli.main", "history", "--json"], capture_output=True, text=True,
                            cwd=tmp_path, timeout=60)
    assert json.loads(listed.stdout)["cooks"][0]["static"]["items"] == 2


def test_a_node_that_cannot_plan_is_left_dynamic_with_a_warning(tmp_path):
    """A processor claiming static generation whose ``generate`` reads its parent's results fails on
    a planned parent: the cook warns, leaves the node dynamic, and its items still cook."""
    from pdgstore.engine.graph.nodes import NewItem, Processor

    class PerOutput(Processor):
        type_name = "per_output"
        static_generation = True  # wrongly: it reads the parent's output files

        def generate(self, ctx, parent):
            return [NewItem(key=parent.outputs[0][0], index=parent.index)]

    graph, scheduler = build(tmp_path)
    graph.add(PerOutput("per_output", ["run"]))
    summary, state, events = cook(graph, tmp_path, static=True)
    assert summary.status == "success", summary
    (warning,) = [w for w in summary.warnings if "could not plan" in w]
    assert warning.startswith("static cook: node per_output could not plan its items (IndexError:")
    assert "per_output" in state.cooks[summary.cook_id].static["dynamic_nodes"]
    assert len([i for i in state.items.values() if i.node == "per_output"]) == 3
