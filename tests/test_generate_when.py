"""Generate When (issue 19, seed 004): *when* each node's items appear, read from the order of the
events in a real store, for every mode; static/dynamic partitioning; ``pdg cook --generate-only``
and the progress total a static graph knows ahead.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

import pdgstore.engine as engine
from pdgstore import EventLog
from pdgstore.engine import wedge_values
from pdgstore.engine.errors import GraphError
from pdgstore.engine.graph.when import effective_modes


def cook(graph, tmp_path: Path, **kwargs):
    db = str(tmp_path / ".pdg" / "pdg.db")
    return engine.cook_graph(graph, db=db, jobs=kwargs.pop("jobs", 2), **kwargs)


def log_events(tmp_path: Path, cook_id: int | None = None) -> list:
    with EventLog.open(str(tmp_path / ".pdg" / "pdg.db")) as log:
        return list(log.events(cook_id=cook_id))


class Timeline:
    """When each item was first generated and when it cooked, as event sequence numbers."""

    def __init__(self, events: list) -> None:
        self.generated: dict[str, int] = {}
        self.cooked: dict[str, int] = {}
        self.node: dict[str, str] = {}
        self.parents: dict[str, list] = {}
        for e in events:
            if e.kind == "WorkItemGenerated":
                self.generated.setdefault(e.item_id, e.seq)
                self.node[e.item_id] = e.node
                self.parents.setdefault(e.item_id, e.parents)
            elif e.kind == "WorkItemCooked" and e.state == "cooked_success":
                self.cooked.setdefault(e.item_id, e.seq)

    def of(self, node: str) -> list[str]:
        return [i for i, n in self.node.items() if n == node]

    def first_cooked(self, node: str) -> int:
        return min(self.cooked[i] for i in self.of(node))

    def last_cooked(self, node: str) -> int:
        return max(self.cooked[i] for i in self.of(node))


def chain(tmp_path, mode: str, *, first_mode: str = "automatic"):
    graph = engine.Graph("g", root=str(tmp_path))
    seed = graph.range_generate("seed", 4)
    graph.python_processor("a", seed, lambda item: item.set_attrib("a", 1), generate_when=first_mode)
    graph.python_processor("b", "a", lambda item: item.set_attrib("b", item["a"] + 1), generate_when=mode)
    return graph


@pytest.mark.parametrize("mode", ["automatic", "all_upstream_generated", "static"])
def test_static_items_exist_before_anything_runs(tmp_path, mode):
    summary = cook(chain(tmp_path, mode), tmp_path)
    assert summary.status == "success"
    t = Timeline(log_events(tmp_path))
    assert len(t.of("b")) == 4
    # every b item is recorded before the first a item cooked
    assert max(t.generated[i] for i in t.of("b")) < t.first_cooked("a")
    assert all(t.cooked[i] > t.cooked[t.parents[i][0]] for i in t.of("b"))  # and runs after its parent


@pytest.mark.parametrize("mode", ["each_upstream_cooked", "dynamic"])
def test_dynamic_items_appear_as_each_parent_cooks(tmp_path, mode):
    cook(chain(tmp_path, mode), tmp_path)
    t = Timeline(log_events(tmp_path))
    for item in t.of("b"):
        assert t.generated[item] > t.cooked[t.parents[item][0]]


def test_all_upstream_cooked_waits_for_every_upstream_item(tmp_path):
    cook(chain(tmp_path, "all_upstream_cooked"), tmp_path)
    t = Timeline(log_events(tmp_path))
    assert len(t.of("b")) == 4
    assert min(t.generated[i] for i in t.of("b")) > t.last_cooked("a")


def test_all_upstream_generated_below_dynamic_items(tmp_path):
    """a is dynamic (each upstream item cooked); b asks for its items as soon as a's exist."""
    graph = engine.Graph("g", root=str(tmp_path))
    seed = graph.python_processor("seed", None, lambda item: None)
    graph.python_processor("a", seed, lambda item: item.set_attrib("a", 1), generate_when="dynamic")
    graph.python_processor("b", "a", lambda item: None, generate_when="all_upstream_generated")
    assert effective_modes(graph, graph.topological_order())["a"] == "each_upstream_cooked"
    cook(graph, tmp_path)
    t = Timeline(log_events(tmp_path))
    (a,) = t.of("a")
    (b,) = t.of("b")
    assert t.generated[a] < t.generated[b] < t.cooked[a] < t.cooked[b]


MODES = ["automatic", "all_upstream_generated", "all_upstream_cooked", "each_upstream_cooked"]


@pytest.mark.parametrize("first", MODES)
@pytest.mark.parametrize("second", MODES)
def test_every_pair_of_modes_generates_when_its_resolved_mode_says(tmp_path, first, second):
    """Two python processors in a chain, each in every mode: from the events' order, each item of
    the second appears when its resolved mode says, relative to its parent in the first (before
    the parent cooks; after it cooked; after every upstream item cooked), and the first's items
    relative to the range above them in the same way."""
    graph = chain(tmp_path, second, first_mode=first)
    modes = effective_modes(graph, graph.topological_order())
    summary = cook(graph, tmp_path)
    assert summary.status == "success"
    t = Timeline(log_events(tmp_path))
    assert len(t.of("a")) == len(t.of("b")) == 4
    a_last_cooked = t.last_cooked("a")
    for item in t.of("b"):
        parent = t.parents[item][0]
        mode = modes["b"]
        if mode == "all_upstream_generated":
            assert t.generated[item] < t.cooked[parent], (first, second, modes)
        elif mode == "each_upstream_cooked":
            assert t.generated[item] > t.cooked[parent], (first, second, modes)
        else:
            assert mode == "all_upstream_cooked"
            assert t.generated[item] > a_last_cooked, (first, second, modes)
    if modes["a"] == "all_upstream_generated" and modes["b"] == "all_upstream_generated":
        # both static: every item of both is known before the first item runs
        assert max(t.generated[i] for i in t.of("a") + t.of("b")) < t.first_cooked("a")
    # what a cook records matches what --generate-only says of the same graph
    fresh = tmp_path / "fresh"
    fresh.mkdir()
    g2 = chain(fresh, second, first_mode=first)
    generated = cook(g2, fresh, generate_only=True).generated
    assert generated["b"]["mode"] == modes["b"] and generated["a"]["mode"] == modes["a"]
    # a's parents are born cooked, so a's items are made whatever its mode; b's are known only
    # when b makes them from items that exist (they run later)
    assert generated["a"]["items"] == 4
    assert generated["b"]["items"] == (4 if modes["b"] == "all_upstream_generated" else 0), (first, second)


def test_automatic_resolution():
    graph = engine.Graph("g")
    seed = graph.wedge("seed", attributes=[wedge_values("v", [1, 2])])
    work = graph.python_processor("work", seed, lambda item: None)
    filt = graph.filter_by_expression("filt", work, lambda item: True)
    after = graph.python_processor("after", filt, lambda item: None)
    allp = graph.wait_for_all("all", after)
    tail = graph.python_processor("tail", allp, lambda item: None)
    dyn = graph.partition_by_attribute("dyn", work, "v")
    stat = graph.partition_by_attribute("stat", work, "v", use_dynamic_partitioning=False)
    graph.python_processor("x", dyn, lambda item: None)
    graph.python_processor("y", stat, lambda item: None)
    modes = effective_modes(graph, graph.topological_order())
    assert modes["seed"] == "all_upstream_generated"  # no inputs
    assert modes["work"] == "all_upstream_generated"
    assert modes["filt"] == "each_upstream_cooked"  # cannot generate statically
    assert modes["after"] == "each_upstream_cooked"  # its input is dynamic
    assert modes["all"] == "static"  # a wait for all makes one item, even over dynamic items
    assert modes["tail"] == "all_upstream_generated"
    assert modes["dyn"] == "dynamic" and modes["x"] == "each_upstream_cooked"
    assert modes["stat"] == "static" and modes["y"] == "all_upstream_generated"
    del tail


def test_modes_are_refused_where_a_node_cannot_follow_them():
    graph = engine.Graph("g")
    seed = graph.range_generate("seed", 2)
    with pytest.raises(GraphError, match="cannot generate statically"):
        graph.filter_by_expression("f", seed, lambda item: True, generate_when="static")
    with pytest.raises(GraphError, match="generate_when is one of"):
        graph.python_processor("p", seed, lambda item: None, generate_when="sometimes")


@pytest.mark.parametrize("dynamic", [False, True])
def test_use_dynamic_partitioning(tmp_path, dynamic):
    graph = engine.Graph("g", root=str(tmp_path))
    seed = graph.range_generate("seed", 4)

    @graph.python_processor("work", upstream=seed)
    def work(item):
        item.set_attrib("group", item.index % 2)

    graph.partition_by_index("parts", work, use_dynamic_partitioning=dynamic)
    cook(graph, tmp_path)
    t = Timeline(log_events(tmp_path))
    first_part = min(t.generated[i] for i in t.of("parts"))
    if dynamic:
        assert first_part > t.last_cooked("work")
    else:
        assert first_part < t.first_cooked("work")


# -- pdg cook --generate-only ----------------------------------------------------------------------
PAGE = """
from pdgstore.engine import Graph, wedge_values

graph = Graph("page")
wedge = graph.wedge("wedge", attributes=[wedge_values("pixelsamples", [1, 4, 9, 16])])
render = graph.frame_range("render", wedge, start=1, end=5)

@graph.python_processor("shade", upstream=render)
def shade(item):
    with open(f"out_{item.name}.txt", "w") as f:
        f.write(str(item["pixelsamples"]))
    item.add_output_file(f"out_{item.name}.txt")

byframe = graph.partition_by_frame("byframe", shade)

@graph.python_processor("sheet", upstream=byframe)
def sheet(item):
    item.set_attrib("n", len(item.input_files))

done = graph.wait_for_all("done", sheet)
"""


def test_generate_only_records_static_items_and_prints_them_per_node(project):
    pdg = project.pdg
    project.write("page.py", PAGE)
    result = pdg("cook", "page.py", "--generate-only", "--json")
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    counts = {name: row["items"] for name, row in data["generated"].items()}
    assert counts == {"wedge": 4, "render": 20, "shade": 20, "byframe": 5, "sheet": 5, "done": 1}
    assert {row["mode"] for row in data["generated"].values()} <= {"all_upstream_generated", "static"}
    assert not list(project.root.glob("out_*.txt"))  # nothing ran
    with EventLog.open(str(project.db)) as log:
        state = log.load_state()
    assert sum(1 for i in state.items.values() if i.node == "shade" and i.state == "uncooked") == 20
    text = pdg("cook", "page.py", "--generate-only")
    assert text.exit_code == 0
    assert "shade" in text.output and "20" in text.output and "nothing ran" in text.output

    result = pdg("cook", "page.py", "--json")
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    assert data["items"]["ran"] == 25  # 20 shade + 5 sheet, each once
    events = log_events(project.root, cook_id=data["cook_id"])
    assert not [e for e in events if e.kind == "WorkItemDirtied"]  # announced items are new, not stale
    assert len(list(project.root.glob("out_*.txt"))) == 20


STATIC_TWICE = """
from pdgstore.engine import Graph, wedge_values

graph = Graph("twice")
scale = graph.parm("scale", 1)
wedge = graph.wedge("wedge", attributes=[wedge_values("k", [n * scale for n in range(6)])])

@graph.python_processor("work", upstream=wedge)
def work(item):
    item.set_attrib("done", item["k"])
"""


def test_a_cook_runs_the_static_items_generated_ahead_without_generating_them_again(project):
    """The items ``--generate-only`` recorded are the ones the next cook runs: it records no second
    ``WorkItemGenerated`` for an item it generates exactly as announced (the fold would get the
    same fields again), ``pdg explain`` says each is new, and replay of the log gives what the
    cook holds (``pdg check``). An item generated differently since (a parameter changed) is
    generated again."""
    pdg = project.pdg
    project.write("twice.py", STATIC_TWICE)
    assert pdg("cook", "twice.py", "--generate-only").exit_code == 0
    data = json.loads(pdg("cook", "twice.py", "--json").output)
    assert data["items"]["ran"] == 6
    events = log_events(project.root, cook_id=data["cook_id"])
    assert not [e for e in events if e.kind in ("WorkItemGenerated", "WorkItemsGenerated", "WorkItemDirtied")]
    with EventLog.open(str(project.db)) as log:
        state = log.load_state()
    work = sorted((i for i in state.items.values() if i.node == "work"), key=lambda i: i.index)
    assert [(i.state, i.cook_id, i.attrs["done"]) for i in work] == [
        ("cooked_success", data["cook_id"], ["int", [n]]) for n in range(6)
    ]
    explained = json.loads(pdg("explain", "work_3", "--json").output)
    assert explained["chain"][0]["action"] == "run" and explained["chain"][0]["reason"]["cause"] == "new", explained
    assert pdg("check").exit_code == 0

    # generated ahead with scale 2, cooked with scale 3: the items whose attribute differs are new
    assert pdg("cook", "twice.py", "--generate-only", "--set", "scale=2").exit_code == 0
    data = json.loads(pdg("cook", "twice.py", "--set", "scale=3", "--json").output)
    assert data["items"]["ran"] == 5  # work_1 (index 0: k is 0 at any scale) is reused
    events = log_events(project.root, cook_id=data["cook_id"])
    regenerated = [e for e in events if e.kind == "WorkItemGenerated" and e.node == "work"]
    assert sorted(e.attrs["k"] for e in regenerated) == [["int", [3 * n]] for n in range(1, 6)]
    assert pdg("check").exit_code == 0


def test_progress_knows_the_static_total_ahead(tmp_path):
    """Static: the first progress report that counts anything already counts every item (b's too,
    though none of a has cooked); dynamic: the total grows as a cooks."""
    import time

    totals = {}
    for mode in ("automatic", "dynamic"):
        seen: list[tuple[int, int]] = []
        graph = engine.Graph("g", root=str(tmp_path / mode))
        seed = graph.range_generate("seed", 20)
        a = graph.python_processor("a", seed, lambda item: time.sleep(0.03))
        graph.python_processor("b", a, lambda item: None, generate_when=mode)
        summary = cook(graph, tmp_path / mode, progress=lambda done, total: seen.append((done, total)), jobs=1)
        assert summary.status == "success"
        assert seen[-1] == (60, 60)
        totals[mode] = [total for _done, total in seen if total > 0][0]
    assert totals["automatic"] == 60 and totals["dynamic"] < 60


def test_generate_only_of_a_dynamic_graph_names_what_comes_later(project):
    pdg = project.pdg
    project.write(
        "dyn.py",
        """
from pdgstore.engine import Graph
graph = Graph("dyn")
seed = graph.range_generate("seed", 3)
work = graph.python_processor("work", seed, lambda item: item.set_attrib("k", item.index % 2))
graph.partition_by_attribute("groups", work, "k")
""",
    )
    result = pdg("cook", "dyn.py", "--generate-only", "--json")
    assert result.exit_code == 0, result.output
    gen = json.loads(result.output)["generated"]
    assert gen["work"] == {"items": 3, "mode": "all_upstream_generated"}
    assert gen["groups"] == {"items": 0, "mode": "dynamic"}
    assert os.path.isfile(project.db)


def test_a_wait_for_all_turns_a_dynamic_count_into_a_static_one(tmp_path):
    """Below dynamic items, the wait for all's one item and the static items under it are recorded
    before anything runs; the partition takes its members when they are generated."""
    graph = engine.Graph("g", root=str(tmp_path))
    seed = graph.range_generate("seed", 3)
    work = graph.python_processor("work", seed, lambda item: item.set_attrib("w", item.index), generate_when="dynamic")
    more = graph.python_processor("more", work, lambda item: None, generate_when="dynamic")
    everything = graph.wait_for_all("all", more)
    graph.python_processor("after", everything, lambda item: item.set_attrib("n", len(item.input_files)))
    summary = cook(graph, tmp_path)
    assert summary.status == "success"
    t = Timeline(log_events(tmp_path))
    (part,) = t.of("all")
    (after,) = t.of("after")
    assert t.generated[part] < t.first_cooked("work") and t.generated[after] < t.first_cooked("work")
    assert t.cooked[after] > t.last_cooked("more")
    with EventLog.open(str(tmp_path / ".pdg" / "pdg.db")) as log:
        state = log.load_state()
    assert len(state.items[part].parents) == 3  # its members, once they were generated
