"""PDG's partitioner options beyond the two switches, each through a real cook (checked against a
replay of the log) and an incremental recook: "Merge Output Files" (all, first, last, none) on
every partitioner, Partition by Node's "Sort Nodes By", Partition by Combination's "Keep
Percentage" with its seed."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

import pdgstore.engine as engine
from pdgstore import EventLog
from pdgstore.engine.errors import GraphError
from pdgstore.state import first_difference

pytestmark = pytest.mark.timeout(120)


def cook(graph: engine.Graph, tmp_path: Path):
    db = str(tmp_path / ".pdg" / "pdg.db")
    summary = engine.cook_graph(graph, db=db, jobs=2)
    with EventLog.open(db) as log:
        state = log.load_state()
        replayed = log.replay_all()
    assert first_difference(replayed.to_plain(), state.to_plain()) is None
    assert summary.status == "success", summary.message
    return summary, state


def of(state, node: str) -> list:
    return sorted((i for i in state.items.values() if i.node == node), key=lambda i: (i.index, i.name))


def val(item, name: str):
    values = item.attrs[name][1]
    return values[0] if len(values) == 1 else values


class Seen:
    """What a python processor saw, across cooks: each item's name and input file paths."""

    def __init__(self) -> None:
        self.inputs: dict[str, list[str]] = {}
        self.ran: list[str] = []

    def __call__(self, item) -> None:
        self.ran.append(item.name)
        self.inputs[item.name] = [f.relpath for f in item.input_files]


def files(tmp_path: Path, n: int) -> None:
    (tmp_path / "in").mkdir(exist_ok=True)
    for i in range(n):
        (tmp_path / "in" / f"f{i}.txt").write_text("x" * (i + 1))


# -- Merge Output Files --------------------------------------------------------------------------
@pytest.mark.parametrize(
    "how, expected",
    [("all", ["in/f0.txt", "in/f1.txt", "in/f2.txt"]), ("first", ["in/f0.txt"]), ("last", ["in/f2.txt"]), ("none", [])],
)
def test_merge_output_files_sets_the_files_a_partition_hands_on(tmp_path, how, expected):
    files(tmp_path, 3)
    seen = Seen()
    graph = engine.Graph("m", root=str(tmp_path))
    found = graph.file_pattern("found", "in/*.txt")
    part = graph.partition_by_range("one", found, range_type="count", count=1, merge_output_files=how)
    graph.python_processor("after", part, seen)
    _, state = cook(graph, tmp_path)
    (partition,) = of(state, "one")
    assert [o[0] for o in partition.outputs] == expected
    assert seen.inputs == {"after_1": expected}
    assert len(partition.parents) == 3  # the members are the same whatever the files


def test_merge_output_files_on_every_partitioner_and_partition_by_attribute(tmp_path):
    files(tmp_path, 4)
    graph = engine.Graph("m", root=str(tmp_path))
    found = graph.file_pattern("found", "in/*.txt")
    other = graph.file_pattern("other", "in/f[01].txt")
    graph.partition_by_index("byindex", [found, other], merge_output_files="last")
    graph.partition_by_node("bynode", [found, other], merge_output_files="first")
    graph.partition_by_combination("pairs", found, mode="pairs", merge_output_files="none")
    graph.partition_by_expression("halves", found, lambda item: item.index // 2, merge_output_files="first")
    graph.partition_by_attribute("byattr", found, "missing_ok", merge_output_files="last")
    _, state = cook(graph, tmp_path)
    assert [[o[0] for o in p.outputs] for p in of(state, "byindex")] == [
        ["in/f0.txt"],  # found_1 and other_1: the last member's (other's f0)
        ["in/f1.txt"],
        ["in/f2.txt"],
        ["in/f3.txt"],
    ]
    assert [[o[0] for o in p.outputs] for p in of(state, "bynode")] == [["in/f0.txt"], ["in/f0.txt"]]
    assert all(p.outputs == [] for p in of(state, "pairs")) and len(of(state, "pairs")) == 6
    assert sorted(o[0] for p in of(state, "halves") for o in p.outputs) == ["in/f0.txt", "in/f2.txt"]
    with pytest.raises(GraphError, match="partitioner bad: merge_output_files is one of all, first, last, none"):
        graph.partition_by_index("bad", found, merge_output_files="every")
    with pytest.raises(GraphError, match="partitioner bad2: merge_output_files"):
        graph.partition_by_attribute("bad2", found, "x", merge_output_files="both")


def test_changing_merge_output_files_reruns_the_child_and_a_reused_partition_keeps_its_rule(tmp_path):
    files(tmp_path, 3)
    seen = Seen()

    def build(how):
        graph = engine.Graph("m", root=str(tmp_path))
        found = graph.file_pattern("found", "in/*.txt")
        part = graph.partition_by_range("one", found, range_type="count", count=1, merge_output_files=how)
        graph.python_processor("after", part, seen)
        return graph

    cook(build("all"), tmp_path)
    assert seen.ran == ["after_1"]
    seen.ran.clear()
    cook(build("all"), tmp_path)
    assert seen.ran == []  # nothing changed
    _, state = cook(build("first"), tmp_path)
    assert seen.ran == ["after_1"] and seen.inputs["after_1"] == ["in/f0.txt"]
    # a member's file touched, content the same: the partition is reused, its files still by its rule
    seen.ran.clear()
    path = tmp_path / "in" / "f2.txt"
    st = path.stat()
    os.utime(path, ns=(st.st_atime_ns + 5_000_000_000, st.st_mtime_ns + 5_000_000_000))
    _, state = cook(build("first"), tmp_path)
    (partition,) = of(state, "one")
    assert [o[0] for o in partition.outputs] == ["in/f0.txt"]
    assert seen.ran == []


# -- Partition by Node: Sort Nodes By ----------------------------------------------------------
def test_partition_by_node_sort_nodes_by_name_or_input_index(tmp_path):
    graph = engine.Graph("s", root=str(tmp_path))
    zeta = graph.range_generate("zeta", 2, attribute="z")
    alpha = graph.range_generate("alpha", 3, attribute="a")
    graph.partition_by_node("wired", [zeta, alpha])
    graph.partition_by_node("named", [zeta, alpha], sort_nodes_by="name")
    graph.partition_by_node("tuples", [zeta, alpha], mode="tuple", sort_nodes_by="name")
    graph.partition_by_node("combos", [zeta, alpha], mode="combination", sort_nodes_by="name")
    _, state = cook(graph, tmp_path)
    assert [val(p, "partitionnode") for p in of(state, "wired")] == ["zeta", "alpha"]
    assert [val(p, "partitionnode") for p in of(state, "named")] == ["alpha", "zeta"]
    members = lambda p: [state.items[m].node for m in p.parents]  # noqa: E731
    assert [members(p) for p in of(state, "tuples")] == [["alpha", "zeta"], ["alpha", "zeta"]]
    combos = of(state, "combos")
    assert len(combos) == 6 and all(members(p) == ["alpha", "zeta"] for p in combos)
    # the merged attributes follow the members' order: alpha's first
    assert all("a" in p.attrs and "z" in p.attrs for p in combos)
    with pytest.raises(GraphError, match="partition by node bad: sort_nodes_by is one of input_index, name"):
        graph.partition_by_node("bad", [zeta, alpha], sort_nodes_by="size")


def test_sort_nodes_by_change_reruns_exactly_the_partitions_it_changes(tmp_path):
    seen = Seen()
    values: dict[str, int] = {}

    def after(item):
        seen(item)
        values[item.name] = item["v"]

    def build(order):
        graph = engine.Graph("s", root=str(tmp_path))
        zeta = graph.range_generate("zeta", 2, start=100, attribute="v")
        alpha = graph.range_generate("alpha", 2, start=0, attribute="v")
        whole = graph.partition_by_node("bynode", [zeta, alpha], sort_nodes_by=order)
        graph.python_processor("per_node", whole, seen)
        tuples = graph.partition_by_node("tuples", [zeta, alpha], mode="tuple", sort_nodes_by=order)
        graph.python_processor("per_tuple", tuples, after)
        return graph

    cook(build("input_index"), tmp_path)
    assert sorted(values.values()) == [100, 101]  # zeta first: its value of v wins the merge
    seen.ran.clear()
    cook(build("input_index"), tmp_path)
    assert seen.ran == []
    _, state = cook(build("name"), tmp_path)
    assert [val(p, "partitionnode") for p in of(state, "bynode")] == ["alpha", "zeta"]
    # a whole node's partition holds what it held (only its place changed): its child is reused;
    # a tuple's members are now in another order, so its merged v is alpha's: those children rerun
    assert sorted(seen.ran) == ["per_tuple_1", "per_tuple_2"]
    assert sorted(values.values()) == [0, 1]


# -- Partition by Combination: Keep Percentage and Seed ----------------------------------------
def combos_of(state, node: str) -> set:
    return {tuple(sorted(state.items[m].index for m in p.parents)) for p in of(state, node)}


def test_keep_percentage_keeps_about_that_share_the_same_for_a_seed(tmp_path):
    graph = engine.Graph("k", root=str(tmp_path))
    items = graph.range_generate("items", 20)  # 190 pairs
    graph.partition_by_combination("all", items, mode="pairs")
    graph.partition_by_combination("half", items, mode="pairs", keep_percentage=50, seed=7)
    graph.partition_by_combination("same", items, mode="pairs", keep_percentage=50, seed=7)
    graph.partition_by_combination("other", items, mode="pairs", keep_percentage=50, seed=8)
    graph.partition_by_combination("tenth", items, mode="pairs", keep_percentage=10, seed=7)
    graph.partition_by_combination("every", items, mode="pairs", keep_percentage=100, seed=7)
    summary, state = cook(graph, tmp_path)
    everything = combos_of(state, "all")
    assert len(everything) == 190 and combos_of(state, "every") == everything
    half, tenth = combos_of(state, "half"), combos_of(state, "tenth")
    assert 60 <= len(half) <= 130 and half < everything  # about half (a fixed draw: the same every run)
    assert combos_of(state, "same") == half
    assert combos_of(state, "other") != half
    assert 5 <= len(tenth) <= 40 and tenth < half  # a draw below 10% is below 50% too


def test_keep_percentage_zero_warns_and_bad_values_are_refused(tmp_path):
    graph = engine.Graph("k", root=str(tmp_path))
    items = graph.range_generate("items", 3)
    graph.partition_by_combination("none", items, mode="pairs", keep_percentage=0)
    summary, state = cook(graph, tmp_path)
    assert of(state, "none") == []
    assert "keep_percentage 0 kept none of its 3 combinations" in "\n".join(summary.warnings)
    for bad in (-1, 101, "50", True):
        with pytest.raises(GraphError, match="keep_percentage is a number from 0 to 100"):
            graph.partition_by_combination(f"bad{bad}", items, keep_percentage=bad)
    with pytest.raises(GraphError, match="seed is a whole number"):
        graph.partition_by_combination("badseed", items, keep_percentage=50, seed=1.5)


def test_one_more_upstream_item_adds_only_its_kept_combinations(tmp_path):
    seen = Seen()

    def build(count, seed=3):
        graph = engine.Graph("k", root=str(tmp_path))
        items = graph.range_generate("items", count)
        pairs = graph.partition_by_combination("pairs", items, mode="pairs", keep_percentage=40, seed=seed)
        graph.python_processor("after", pairs, seen)
        return graph

    _, state = cook(build(12), tmp_path)
    before = combos_of(state, "pairs")
    assert len(seen.ran) == len(before)
    seen.ran.clear()
    _, state = cook(build(13), tmp_path)
    after = combos_of(state, "pairs")
    assert before < after and all(12 in combo for combo in after - before)
    assert len(seen.ran) == len(after - before)  # only the new kept pairs ran
    seen.ran.clear()
    _, state = cook(build(13, seed=4), tmp_path)
    assert combos_of(state, "pairs") != after  # a new seed draws again
