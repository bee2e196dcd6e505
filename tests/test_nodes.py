"""The node library (issue 19): every node through a real cook into a real SQLite store, read back
from the log (checked against a replay), with incremental recooks where a parameter changes.

A recook test builds the graph twice (as a graph file would be loaded twice) and asserts exactly
which work ran, as redun's recook test does.
"""

from __future__ import annotations

import os
from pathlib import Path

import pdgstore.engine as engine
import pytest
from pdgstore.engine import attribFlag, wedge_random, wedge_range, wedge_string, wedge_values
from pdgstore.engine.errors import GraphError

from pdgstore import EventLog
from pdgstore.state import first_difference


# -- helpers ---------------------------------------------------------------------------------------
def cook(graph: engine.Graph, tmp_path: Path, **kwargs):
    db = str(tmp_path / ".pdg" / "pdg.db")
    summary = engine.cook_graph(graph, db=db, jobs=kwargs.pop("jobs", 2), **kwargs)
    with EventLog.open(db) as log:
        state = log.load_state()
        replayed = log.replay_all()
    assert first_difference(replayed.to_plain(), state.to_plain()) is None
    return summary, state


def events(tmp_path: Path, **filters) -> list:
    with EventLog.open(str(tmp_path / ".pdg" / "pdg.db")) as log:
        return list(log.events(**filters))


def of(state, node: str) -> list:
    return sorted((i for i in state.items.values() if i.node == node), key=lambda i: (i.index, i.name))


def val(item, name: str):
    values = item.attrs[name][1]
    return values[0] if len(values) == 1 else values


def warnings_of(summary) -> str:
    return "\n".join(summary.warnings)


class Ran:
    """Records the items a python processor ran, across cooks."""

    def __init__(self) -> None:
        self.names: list[str] = []

    def __call__(self, item) -> None:
        self.names.append(item.name)


# -- wedge -----------------------------------------------------------------------------------------
def test_wedge_several_attributes_index_and_count(tmp_path):
    graph = engine.Graph("w", root=str(tmp_path))
    graph.wedge(
        "wedge",
        count=4,
        attributes=[
            wedge_range("samples", 1, 8),
            wedge_range("scale", 0.0, 1.0),
            wedge_values("look", ["a", "b", "c", "d"]),
            wedge_random("jitter", 0.0, 1.0, seed=7),
            wedge_range("pos", (0, 0), (3, 30)),
        ],
    )
    summary, state = cook(graph, tmp_path)
    assert summary.status == "success"
    items = of(state, "wedge")
    assert [val(i, "wedgeindex") for i in items] == [0, 1, 2, 3]
    assert {val(i, "wedgecount") for i in items} == {4}
    assert [val(i, "samples") for i in items] == [1, 3, 6, 8]
    assert [val(i, "scale") for i in items] == pytest.approx([0.0, 1 / 3, 2 / 3, 1.0])
    assert [val(i, "look") for i in items] == ["a", "b", "c", "d"]
    assert [val(i, "pos") for i in items] == [[0, 0], [1, 10], [2, 20], [3, 30]]
    jitter = [val(i, "jitter") for i in items]
    assert all(0.0 <= j <= 1.0 for j in jitter) and len(set(jitter)) == 4
    assert val(items[0], "wedgeattribs") == ["samples", "scale", "look", "jitter", "pos"]
    # the same seed gives the same samples, and sample N does not depend on the count
    again = engine.Graph("w2", root=str(tmp_path))
    node = again.wedge("wedge", count=6, attributes=[wedge_random("jitter", 0.0, 1.0, seed=7)])
    assert again.wedge("v", count=2, attributes=[wedge_values("vec", [(1, 2), (3, 4.5)])]).values_at(1)["vec"] == [
        "float",
        [3.0, 4.5],
    ]
    assert [node.values_at(i)["jitter"][1][0] for i in range(4)] == jitter


@pytest.mark.timeout(30)
@pytest.mark.parametrize("count", [0, 1, 2, 7])
def test_wedge_generate_makes_what_values_at_makes(count):
    """``Wedge.generate`` makes its attributes a column at a time: the same values, types and key
    order as ``values_at`` for each index, whatever the wedge types."""
    graph = engine.Graph("w")
    cases = [
        [wedge_range("n", 0, 1000)],
        [wedge_range("f", 0.5, 1.0), wedge_range("fi", 0, 7, type="float"), wedge_range("i", 3, 9, type="int")],
        [wedge_range("v", (0, 1), (5, 9.5)), wedge_random("r", 0, 10, seed=3), wedge_random("ri", 0, 9, type="int")],
        [wedge_values("s", [str(i) for i in range(7)]), wedge_values("b", [True, False] * 4)],
        [wedge_values("vec", [(i, i + 0.5) for i in range(7)]), wedge_string("t", "take_@wedgeindex")],
        [],
    ]
    for n, attributes in enumerate(cases):
        node = graph.wedge(f"w{n}", count=count, attributes=attributes)
        made = [(spec.key, spec.index, list(spec.attrs.items())) for spec in node.generate(None, None)]
        assert made == [(i, i, list(node.values_at(i).items())) for i in range(count)], attributes
        # a part at a time (a cook generating in bulk): the same items, in the same order
        for size in (1, 3, 100):
            parts = list(node.generate_parts(None, None, size))
            assert all(len(part) <= size for part in parts) or any(a["wedge_type"] == "string" for a in attributes)
            joined = [(spec.key, spec.index, list(spec.attrs.items())) for part in parts for spec in part]
            assert joined == made, (attributes, size)


def test_a_root_count_is_known_ahead_only_where_the_node_knows_it():
    """``count_ahead``: a root wedge's or range's count (a cook generating in bulk starts its log
    appender before making that many); None with an input, or for a node only ``generate`` can count."""
    graph = engine.Graph("c")
    wedge = graph.wedge("w", count=5, attributes=[wedge_range("n", 0, 1)])
    assert wedge.count_ahead() == 5
    assert graph.range_generate("r", 4).count_ahead() == 4
    assert graph.wedge("w2", wedge, count=3).count_ahead() is None
    assert graph.range_generate("r2", 2, upstream=wedge).count_ahead() is None
    assert graph.file_pattern("f", "in/*.txt").count_ahead() is None


def test_wedge_times_upstream_items_inherits_parent_attributes(tmp_path):
    graph = engine.Graph("w", root=str(tmp_path))
    shots = graph.wedge("shots", attributes=[wedge_values("shot", ["s1", "s2", "s3"])])
    graph.wedge("variants", shots, count=2, attributes=[wedge_values("variant", [10, 20])])
    _, state = cook(graph, tmp_path)
    items = of(state, "variants")
    assert len(items) == 6
    assert sorted((val(i, "shot"), val(i, "variant")) for i in items) == [
        (s, v) for s in ("s1", "s2", "s3") for v in (10, 20)
    ]
    assert len({i.name for i in items}) == 6


def test_wedge_refuses_bad_parameters():
    graph = engine.Graph("w")
    with pytest.raises(GraphError, match="3 values for a wedge count of 4"):
        graph.wedge("a", count=4, attributes=[wedge_values("x", [1, 2, 3])])
    with pytest.raises(GraphError, match="wedged twice"):
        graph.wedge("b", count=2, attributes=[wedge_range("x", 0, 1), wedge_range("x", 0, 2)])
    with pytest.raises(GraphError, match="wedge count"):
        graph.wedge("c", attributes=[wedge_range("x", 0, 1)])


def test_wedge_parameter_change_reruns_exactly_the_changed_wedges(tmp_path):
    ran = Ran()

    def build(values):
        graph = engine.Graph("w", root=str(tmp_path))
        wedge = graph.wedge("wedge", attributes=[wedge_values("v", values)])
        graph.python_processor("work", wedge, ran)
        return graph

    cook(build([1, 2, 3, 4]), tmp_path)
    assert sorted(ran.names) == ["work_1", "work_2", "work_3", "work_4"]
    ran.names.clear()
    cook(build([1, 2, 3, 4]), tmp_path)
    assert ran.names == []
    cook(build([1, 2, 30, 4]), tmp_path)
    assert ran.names == ["work_3"]
    ran.names.clear()
    ran.names.clear()
    # a longer wedge adds an item, and changes every item's wedgecount: all of them see new attributes
    _, state = cook(build([1, 2, 30, 4, 5]), tmp_path)
    assert sorted(ran.names) == ["work_1", "work_2", "work_3", "work_4", "work_5"]
    assert {val(i, "wedgecount") for i in of(state, "work")} == {5}


# -- frame range -----------------------------------------------------------------------------------
def test_frame_range_frames_and_pdg_frame_expansion(tmp_path):
    graph = engine.Graph("f", root=str(tmp_path))
    frames = graph.frame_range("frames", start=1, end=9, step=2)

    @graph.python_processor("name", upstream=frames)
    def name(item):
        item.set_attrib("label", item.expand("shot_$F4.@pdg_frame.$FF"))

    _, state = cook(graph, tmp_path)
    items = of(state, "name")
    assert [val(i, "frame") for i in items] == [1, 3, 5, 7, 9]
    assert val(items[1], "label") == "shot_0003.3.3.0"


def test_frame_range_per_upstream_item_and_one_more_frame_adds_one_chain(tmp_path):
    ran = Ran()

    def build(end):
        graph = engine.Graph("f", root=str(tmp_path))
        wedge = graph.wedge("wedge", attributes=[wedge_values("q", [1, 2])])
        render = graph.frame_range("render", wedge, start=1, end=end)
        graph.python_processor("work", render, ran)
        return graph

    _, state = cook(build(3), tmp_path)
    assert len(ran.names) == 6
    assert sorted((val(i, "q"), val(i, "frame")) for i in of(state, "render")) == [
        (q, f) for q in (1, 2) for f in (1, 2, 3)
    ]
    ran.names.clear()
    _, state = cook(build(4), tmp_path)
    assert len(ran.names) == 2  # one new chain per wedge: frame 4
    ran_now = [i for i in of(state, "work") if i.name in ran.names]
    assert sorted((val(i, "q"), val(i, "frame")) for i in ran_now) == [(1, 4), (2, 4)]


def test_a_range_that_makes_nothing_warns(tmp_path):
    graph = engine.Graph("f", root=str(tmp_path))
    graph.frame_range("frames", start=10, end=1)
    graph.range_generate("none", 0)
    items = graph.range_generate("items", 3)
    graph.partition_by_range("backwards", items, start=5, end=2)
    graph.partition_by_tile("tiles", items, tiles=2)
    summary, _ = cook(graph, tmp_path)
    assert "node frames made no work items: start 10, end 1, step 1 gives no frame" in warnings_of(summary)
    assert "node none made no work items: its count is 0" in warnings_of(summary)
    assert "node backwards made no work items: its end 2 is before its start 5" in warnings_of(summary)
    assert "node tiles made no work items: none of its 3 upstream items has a 1-component position" in (
        warnings_of(summary)
    )
    recorded = [e.message for e in events(tmp_path) if e.kind == "CookWarning"]
    assert sorted(recorded) == sorted(summary.warnings) and len(recorded) == 4


# -- partitions ------------------------------------------------------------------------------------
def page_example(graph):
    wedge = graph.wedge("wedge", attributes=[wedge_values("pixelsamples", [1, 4, 9, 16])])
    render = graph.frame_range("render", wedge, start=1, end=5)
    return graph.partition_by_frame("byframe", render)


def test_partition_by_frame_groups_the_variants_of_each_frame(tmp_path):
    graph = engine.Graph("p", root=str(tmp_path))
    page_example(graph)
    _, state = cook(graph, tmp_path)
    parts = of(state, "byframe")
    assert [val(p, "frame") for p in parts] == [1, 2, 3, 4, 5]
    for p in parts:
        assert len(p.parents) == 4
        assert {val(state.items[m], "frame") for m in p.parents} == {val(p, "frame")}
        first = state.items[p.parents[0]]
        assert val(p, "pixelsamples") == val(first, "pixelsamples")  # merged: the first member's value


def test_partition_by_frame_options(tmp_path):
    graph = engine.Graph("p", root=str(tmp_path))
    wedge = graph.wedge("wedge", attributes=[wedge_values("w", [0, 1])])
    frames = graph.frame_range("frames", wedge, start=1.0, end=2.0, step=0.5)
    graph.partition_by_frame("down", frames, frame_rounding="down", frame_as_index=True, merge_input_attributes=False)
    graph.partition_by_frame("split", frames, split_by_attribute="w")
    _, state = cook(graph, tmp_path)
    down = of(state, "down")
    assert [(p.index, len(p.parents)) for p in down] == [(1, 4), (2, 2)]
    assert "w" not in down[0].attrs  # merge_input_attributes off
    split = of(state, "split")
    assert len(split) == 2 * 2  # 2 wedges x frames 1, 2 (1.5 rounds to 2)
    assert sorted(len(p.parents) for p in split) == [1, 1, 2, 2]


def test_partition_by_frame_missing_frame_error_and_ignore(tmp_path):
    graph = engine.Graph("p", root=str(tmp_path))
    plain = graph.range_generate("plain", 3)
    graph.partition_by_frame("byframe", plain)
    summary, _ = cook(graph, tmp_path)
    assert summary.status == "failed"
    assert "byframe" in summary.message and "has no frame" in summary.message

    graph = engine.Graph("p2", root=str(tmp_path / "b"))
    plain = graph.range_generate("plain", 3)
    graph.partition_by_frame("byframe", plain, missing_frame="ignore")
    summary, state = cook(graph, tmp_path / "b")
    assert summary.status == "success"
    assert of(state, "byframe") == []
    assert "node byframe made no work items: none of its 3 upstream items has a frame" in warnings_of(summary)


def test_partition_on_an_attribute_no_item_has_warns(tmp_path):
    graph = engine.Graph("p", root=str(tmp_path))
    items = graph.range_generate("items", 3)
    graph.partition_by_attribute("byattr", items, "nosuch")
    summary, state = cook(graph, tmp_path)
    assert summary.status == "success"
    assert "node byattr made no work items: none of its 3 upstream items has the attribute 'nosuch'" in (
        warnings_of(summary)
    )
    warned = [e for e in events(tmp_path) if e.kind == "CookWarning"]
    assert any("nosuch" in e.message for e in warned)


def test_partition_by_index_node_and_range(tmp_path):
    graph = engine.Graph("p", root=str(tmp_path))
    a = graph.range_generate("a", 3, attribute="x")
    b = graph.range_generate("b", 2, start=10, attribute="y")
    graph.partition_by_index("byindex", [a, b])
    graph.partition_by_node("bynode", [a, b])
    c = graph.range_generate("c", 7)
    graph.partition_by_range("byrange", c, size=3)
    graph.partition_by_range("overlap", c, size=4, step=2)
    graph.partition_by_range("byvalue", c, size=2.5, attribute="value", start=0, end=4)
    _, state = cook(graph, tmp_path)
    byindex = of(state, "byindex")
    assert [len(p.parents) for p in byindex] == [2, 2, 1]
    assert val(byindex[1], "x") == 1 and val(byindex[1], "y") == 11
    assert [(val(p, "partitionnode"), len(p.parents)) for p in of(state, "bynode")] == [("a", 3), ("b", 2)]
    members = lambda p: sorted(state.items[m].index for m in p.parents)  # noqa: E731
    assert [members(p) for p in of(state, "byrange")] == [[0, 1, 2], [3, 4, 5], [6]]
    assert [members(p) for p in of(state, "overlap")] == [[0, 1, 2, 3], [2, 3, 4, 5], [4, 5, 6], [6]]
    assert [members(p) for p in of(state, "byvalue")] == [[0, 1, 2], [3, 4]]


def test_partition_by_combination_comparison_expression(tmp_path):
    graph = engine.Graph("p", root=str(tmp_path))
    a = graph.wedge("a", attributes=[wedge_values("k", [1, 2, 3])])
    b = graph.wedge("b", attributes=[wedge_values("k", [3, 1, 1, 5])])
    graph.partition_by_combination("across", [a, b])
    graph.partition_by_combination("pairs", a, mode="pairs")
    graph.partition_by_comparison("compare", [a, b], attribute="k")
    graph.partition_by_comparison("greater", [a, b], compare=lambda x, y: y["k"] > x["k"] + 1)
    graph.partition_by_expression("parity", b, lambda item: item["k"] % 2)
    _, state = cook(graph, tmp_path)
    assert len(of(state, "across")) == 12
    assert len(of(state, "pairs")) == 3
    compare = of(state, "compare")
    assert [(val(state.items[p.parents[0]], "k"), len(p.parents) - 1) for p in compare] == [(1, 2), (3, 1)]
    greater = of(state, "greater")
    assert [len(p.parents) - 1 for p in greater] == [2, 1, 1]  # k=1: 3, 5; k=2: 5; k=3: 5
    parity = of(state, "parity")
    assert [(val(p, "partitionkey"), len(p.parents)) for p in parity] == [(1, 4)]


def test_partition_by_tile(tmp_path):
    graph = engine.Graph("p", root=str(tmp_path))
    points = graph.wedge(
        "points",
        attributes=[wedge_values("P", [(0.5, 0.5), (1.5, 0.5), (0.2, 1.7), (1.9, 1.9), (5.0, 5.0)])],
    )
    graph.partition_by_tile("tiles", points, tiles=(2, 2), bounds=((0, 0), (2, 2)))
    summary, state = cook(graph, tmp_path)
    tiles = of(state, "tiles")
    assert sorted((tuple(val(t, "tile")), len(t.parents)) for t in tiles) == [
        ((0, 0), 1),
        ((0, 1), 1),
        ((1, 0), 1),
        ((1, 1), 1),
    ]
    assert "1 input item(s) lie outside the bounds" in warnings_of(summary)


def test_partition_parameter_change_regroups_only_what_changes(tmp_path):
    ran = Ran()

    def build(size):
        graph = engine.Graph("p", root=str(tmp_path))
        items = graph.range_generate("items", 6)
        groups = graph.partition_by_range("groups", items, size=size)
        graph.python_processor("work", groups, ran)
        return graph

    cook(build(2), tmp_path)
    assert len(ran.names) == 3
    ran.names.clear()
    cook(build(2), tmp_path)
    assert ran.names == []
    _, state = cook(build(3), tmp_path)  # [0,1,2] [3,4,5]: both groups are new
    assert len(ran.names) == 2
    assert len(of(state, "work")) == 2


# -- attributes ------------------------------------------------------------------------------------
def test_attribute_nodes(tmp_path):
    graph = engine.Graph("a", root=str(tmp_path))
    items = graph.range_generate("items", 2)
    made = graph.attribute_create(
        "create",
        items,
        {"label": "item_@value", "tags": ["x", "y"], "secret": 1},
        flags={"secret": attribFlag.NoCopy},
    )
    renamed = graph.attribute_rename("rename", made, {"label": "title"})
    deleted = graph.attribute_delete("delete", renamed, "tag*")
    arr = graph.attribute_array("append", deleted, "nums", operation="append", values=[1, 2])
    cat = graph.attribute_array("concat", arr, "both", operation="concat", sources=["nums", "value"])
    graph.attribute_array("split", cat, "both", operation="split", element="one")
    _, state = cook(graph, tmp_path)
    create = of(state, "create")
    assert val(create[1], "label") == "item_1"
    assert create[0].attrs["secret"] == ["int", [1], ["NoCopy"]]
    rename = of(state, "rename")
    assert "label" not in rename[0].attrs and val(rename[0], "title") == "item_0"
    assert "secret" not in rename[0].attrs  # NoCopy: not passed to children
    delete = of(state, "delete")
    assert "tags" not in delete[0].attrs and "title" in delete[0].attrs
    assert val(of(state, "concat")[1], "both") == [1, 2, 1]
    split = of(state, "split")
    assert len(split) == 6
    assert sorted(val(i, "one") for i in split) == [0, 1, 1, 1, 2, 2]


def test_attribute_promote_and_copy(tmp_path):
    graph = engine.Graph("a", root=str(tmp_path))
    items = graph.range_generate("items", 3)

    @graph.python_processor("write", upstream=items)
    def write(item):
        os.makedirs("out", exist_ok=True)
        path = f"out/{item.name}.txt"
        Path(path).write_text(str(item["value"]))
        item.add_output_file(path)

    graph.attribute_promote("promote", write, "written")
    extra = graph.wedge("extra", attributes=[wedge_values("color", ["red", "green"]), wedge_values("hidden", [1, 2])])
    graph.attribute_copy("copy", write, extra, attributes=["color"])
    summary, state = cook(graph, tmp_path)
    promote = of(state, "promote")
    assert promote[0].attrs["written"][0] == "file"
    assert promote[0].attrs["written"][1][0][0] == "out/write_1.txt"
    copy = of(state, "copy")
    assert [val(c, "color") if "color" in c.attrs else None for c in copy] == ["red", "green", None]
    assert all("hidden" not in c.attrs for c in copy)
    assert [len(c.outputs) for c in copy] == [1, 1, 1]  # the target's own file
    assert "1 item(s) have no source item" in warnings_of(summary)


def test_python_script_node_edits_attributes_in_process(tmp_path):
    graph = engine.Graph("s", root=str(tmp_path))
    items = graph.range_generate("items", 3)
    graph.python_script(
        "script",
        items,
        code="work_item.setIntAttrib('double', work_item.attribValue('value') * 2)\n"
        "work_item.setPyObjectAttrib('obj', {'set': {1, 2}})\n"
        "work_item.setStringAttrib('vec', 'z', 2)\n",
    )
    seen = []

    @graph.python_processor("read", upstream="script")
    def read(item):
        seen.append(item["obj"])  # the engine unpickles a pyobject for the graph's own code

    _, state = cook(graph, tmp_path)
    items = of(state, "script")
    assert [val(i, "double") for i in items] == [0, 2, 4]
    assert seen == [{"set": {1, 2}}] * 3
    assert items[0].attrs["obj"][0] == "pyobject"
    assert val(items[0], "vec") == ["", "", "z"]  # an index past the end pads with the type's default, as PDG


def test_python_script_refuses_bad_code():
    graph = engine.Graph("s")
    with pytest.raises(GraphError, match="syntax error"):
        graph.python_script("bad", None, code="def (:")


# -- routing ---------------------------------------------------------------------------------------
def test_filter_split_merge_sort(tmp_path):
    graph = engine.Graph("r", root=str(tmp_path))
    items = graph.wedge("items", attributes=[wedge_values("v", [5, 2, 8, 1, 9])])
    graph.filter_by_expression("big", items, lambda i: i["v"] > 4)
    graph.filter_by_expression("small", items, lambda i: i["v"] > 4, keep_matching=False)
    first, rest = graph.split("first", items, count=2)
    odd, even = graph.split("odd", items, lambda i: i["v"] % 2 == 1)
    graph.merge("merged", [first, odd])
    graph.sort("sorted", items, attributes="v")
    graph.sort("desc", items, key=lambda i: i["v"], reverse=True)
    _, state = cook(graph, tmp_path)
    vs = lambda node: [val(i, "v") for i in of(state, node)]  # noqa: E731
    assert sorted(vs("big")) == [5, 8, 9]
    assert sorted(vs("small")) == [1, 2]
    assert sorted(vs("first")) == [2, 5] and sorted(vs("first_else")) == [1, 8, 9]
    assert sorted(vs("odd")) == [1, 5, 9] and sorted(vs("odd_else")) == [2, 8]
    assert sorted(vs("merged")) == [1, 2, 5, 5, 9]
    assert vs("sorted") == [1, 2, 5, 8, 9]
    assert vs("desc") == [9, 8, 5, 2, 1]


def test_mappers_make_items_wait_for_unrelated_chains(tmp_path):
    graph = engine.Graph("m", root=str(tmp_path))
    sims = graph.range_generate("sims", 3, attribute="sim")
    renders = graph.range_generate("renders", 3, attribute="render")
    graph.map_by_index("mapped", sims, renders)
    graph.map_by_expression("all_after", sims, renders, lambda s, t: s["sim"] <= t["render"])
    _, state = cook(graph, tmp_path)
    mapped = of(state, "mapped")
    assert [(state.items[p.parents[0]].node, len(p.parents)) for p in mapped] == [("renders", 2)] * 3
    assert val(mapped[2], "render") == 2 and val(mapped[2], "sim") == 2
    assert [len(p.parents) - 1 for p in of(state, "all_after")] == [1, 2, 3]


# -- flags and built-ins in commands -----------------------------------------------------------------
def test_pdg_input_names_every_file_of_a_partition_in_a_command(tmp_path):
    graph = engine.Graph("c", root=str(tmp_path))
    for i in range(7):
        (tmp_path / "in").mkdir(exist_ok=True)
        (tmp_path / "in" / f"f{i}.txt").write_text("x" * (i + 1))
    files = graph.file_pattern("files", "in/*.txt")
    everything = graph.wait_for_all("all", files)
    graph.command(
        "count",
        everything,
        ["sh", "-c", 'echo "$@" > out.txt; echo @pdg_inputsize >> out.txt', "sh", "@pdg_input"],
        expected_outputs="out.txt",
    )
    summary, state = cook(graph, tmp_path)
    assert summary.status == "success", summary.message
    words = (tmp_path / "out.txt").read_text().split()
    assert words == [f"in/f{i}.txt" for i in range(7)] + ["7"]


def test_env_export_flag_reaches_the_job(tmp_path):
    graph = engine.Graph("c", root=str(tmp_path))
    made = graph.attribute_create("made", None, {"quality": "high", "n": [1, 2]}, flags={"quality": "EnvExport"})
    graph.command("job", made, ["sh", "-c", 'echo "$quality" > env.txt'], expected_outputs="env.txt")
    summary, _ = cook(graph, tmp_path)
    assert summary.status == "success", summary.message
    assert (tmp_path / "env.txt").read_text().strip() == "high"


def test_read_only_attribute_cannot_be_set_again(tmp_path):
    graph = engine.Graph("c", root=str(tmp_path))
    made = graph.attribute_create("made", None, {"fixed": 1}, flags={"fixed": [attribFlag.ReadOnly]})

    @graph.python_processor("change", upstream=made)
    def change(item):
        item.set_attrib("fixed", 2)

    summary, state = cook(graph, tmp_path)
    assert summary.status == "failed"
    assert "read-only" in of(state, "change")[0].error


# -- the page's example ----------------------------------------------------------------------------
def test_wedge_frames_example_cooks_and_one_more_frame_adds_one_chain(project):
    """examples/wedge_frames (seed 004's network), as a user runs it: a real ``pdg`` process."""
    import json
    import shutil

    example = Path(__file__).resolve().parent.parent / "examples" / "wedge_frames"
    for name in ("wedge_frames.py", "mosaic.py", "png.py"):
        shutil.copy(example / name, project.root / name)
    result = project.pdg_process("cook", "wedge_frames.py", "--set", "size=12", "--json")
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["items"]["ran"] == 20 + 5 + 1
    sheets = sorted(p.name for p in (project.root / "sheets").glob("frame_*.png"))
    assert sheets == [f"frame_{f:04d}.png" for f in range(1, 6)]
    import sys

    sys.path.insert(0, str(project.root))
    try:
        import png

        width, height, _rows = png.read(str(project.root / "sheets" / "frame_0003.png"))
    finally:
        sys.path.remove(str(project.root))
        sys.modules.pop("png", None)
    assert (width, height) == (12 * 4, 12)
    result = project.pdg_process("cook", "wedge_frames.py", "--set", "size=12", "--set", "end=6", "--json")
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["items"]["ran"] == 4 + 1 + 1  # frame 6's four renders, its sheet, the report


def test_pdgattribvals_and_pdg_log_in_a_command(tmp_path):
    graph = engine.Graph("c", root=str(tmp_path))
    made = graph.attribute_create("made", None, {"vals": [3, 1, 2]})
    graph.command(
        "job",
        made,
        ["sh", "-c", 'echo "$@" > args.txt', "sh", "pdgattribvals(vals)", "n=pdgattribvals(vals)", "log=@pdg_log"],
        expected_outputs="args.txt",
    )
    summary, _ = cook(graph, tmp_path)
    assert summary.status == "success", summary.message
    words = (tmp_path / "args.txt").read_text().split()
    assert words[:3] == ["3", "1", "2"]  # a whole word: one argument per value
    assert words[3:6] == ["n=3", "1", "2"]  # inside a word: the values space-separated
    assert words[6].startswith("log=") and words[6].endswith("/logs/job_1.log")


def test_filter_and_sort_recooks(tmp_path):
    """A filter change runs only the items that now pass; a new sort order renumbers and reruns nothing."""
    ran = Ran()

    def build(threshold, reverse):
        graph = engine.Graph("r", root=str(tmp_path))
        items = graph.wedge("items", attributes=[wedge_values("v", [5, 2, 8, 1, 9])])
        big = graph.filter_by_expression("big", items, lambda i: i["v"] > threshold)
        ordered = graph.sort("ordered", big, attributes="v", reverse=reverse)
        graph.python_processor("work", ordered, ran)
        return graph

    cook(build(4, False), tmp_path)
    assert len(ran.names) == 3
    ran.names.clear()
    _, state = cook(build(4, True), tmp_path)
    assert ran.names == []
    assert [val(i, "v") for i in of(state, "ordered")] == [9, 8, 5]
    _, state = cook(build(1, True), tmp_path)
    assert len(ran.names) == 1  # v=2 passes now; the others are reused
    assert [val(i, "v") for i in of(state, "work") if i.name in ran.names] == [2]


# -- PDG's partition variants and string wedges -----------------------------------------------------
def test_string_wedges_expand_per_wedge_and_refuse_unknown_names(tmp_path):
    graph = engine.Graph("w", root=str(tmp_path))
    wedge = graph.wedge(
        "wedge",
        attributes=[
            wedge_values("shot", ["sq010", "sq020", "sq030"]),
            wedge_string("take", "@shot-take@wedgeindex"),
        ],
    )
    graph.attribute_create("labelled", wedge, {"label": "@take of @wedgecount"})
    _, state = cook(graph, tmp_path)
    assert [val(i, "take") for i in of(state, "wedge")] == ["sq010-take0", "sq020-take1", "sq030-take2"]
    assert [val(i, "label") for i in of(state, "labelled")] == [
        "sq010-take0 of 3",
        "sq020-take1 of 3",
        "sq030-take2 of 3",
    ]
    assert val(of(state, "wedge")[0], "wedgeattribs") == ["shot", "take"]
    with pytest.raises(GraphError, match="wedge bad: node bad, item wedge 0, parameter t: no attribute 'nope'"):
        graph.wedge("bad", count=2, attributes=[wedge_string("t", "x_@nope")])


def test_partition_by_attribute_several_attributes_and_value_ranges(tmp_path):
    graph = engine.Graph("p", root=str(tmp_path))
    w = graph.wedge(
        "w",
        attributes=[
            wedge_values("shot", ["a", "a", "b", "b", "a"]),
            wedge_values("look", [1, 2, 1, 1, 1]),
            wedge_values("t", [0.5, 1.5, 2.2, 9.0, 2.9]),
        ],
    )
    graph.partition_by_attribute("pairs", w, ["shot", "look"], use_dynamic_partitioning=False)
    graph.partition_by_attribute("bins", w, "t", range_size=1.0)
    graph.partition_by_attribute("nobins", w, "shot", range_size=2)  # not a number: nothing, and a warning
    summary, state = cook(graph, tmp_path)
    members = lambda p: sorted(state.items[m].index for m in p.parents)  # noqa: E731
    pairs = of(state, "pairs")
    assert [(val(p, "shot"), val(p, "look"), members(p)) for p in pairs] == [
        ("a", 1, [0, 4]),
        ("a", 2, [1]),
        ("b", 1, [2, 3]),
    ]
    bins = of(state, "bins")
    assert sorted((val(p, "trange"), members(p)) for p in bins) == [
        ([0.0, 1.0], [0]),
        ([1.0, 2.0], [1]),
        ([2.0, 3.0], [2, 4]),
        ([9.0, 10.0], [3]),
    ]
    assert "node nobins made no work items: none of its 5 upstream items has a number in the attribute 'shot'" in (
        warnings_of(summary)
    )
    with pytest.raises(GraphError, match="range_size is a number > 0"):
        graph.partition_by_attribute("bad", w, "t", range_size=0)


def test_partition_by_attribute_static_groups_are_known_before_anything_runs(tmp_path):
    """Off dynamic partitioning, a partition by two attributes is planned before its members cook."""
    graph = engine.Graph("p", root=str(tmp_path))
    w = graph.wedge("w", attributes=[wedge_values("shot", ["a", "b", "a"]), wedge_values("look", [1, 1, 1])])
    work = graph.python_processor("work", w, lambda item: None)
    graph.partition_by_attribute("pairs", work, ["shot", "look"], use_dynamic_partitioning=False)
    cook(graph, tmp_path)
    seq = {}
    for e in events(tmp_path):
        if e.kind == "WorkItemGenerated" and e.node == "pairs":
            seq.setdefault("pairs", e.seq)
        if e.kind == "WorkItemStateChanged" and e.state == "cooking":
            seq.setdefault("first_run", e.seq)
    assert seq["pairs"] < seq["first_run"]


def test_partition_by_range_types(tmp_path):
    graph = engine.Graph("p", root=str(tmp_path))
    a = graph.range_generate("a", 7)
    b = graph.range_generate("b", 3, start=100)
    graph.partition_by_range("count", a, range_type="count", count=3)
    graph.partition_by_range("size", a, range_type="size", size=3)
    graph.partition_by_range("firstlast", [a, b], range_type="first_last")
    graph.partition_by_range("fml", [a, b], range_type="first_middle_last")
    graph.partition_by_range("desc", a, range_type="size", size=4, attribute="value")
    _, state = cook(graph, tmp_path)
    members = lambda p: [(state.items[m].node, state.items[m].index) for m in p.parents]  # noqa: E731
    idx = lambda p: [state.items[m].index for m in p.parents]  # noqa: E731
    assert [idx(p) for p in of(state, "count")] == [[0, 1, 2], [3, 4], [5, 6]]
    assert [idx(p) for p in of(state, "size")] == [[0, 1, 2], [3, 4, 5], [6]]
    assert [members(p) for p in of(state, "firstlast")] == [[("a", 0), ("b", 0)], [("a", 6), ("b", 2)]]
    assert [members(p) for p in of(state, "fml")] == [
        [("a", 0), ("b", 0)],
        [("a", 3), ("b", 1)],
        [("a", 6), ("b", 2)],
    ]
    assert [idx(p) for p in of(state, "desc")] == [[0, 1, 2, 3], [4, 5, 6]]
    with pytest.raises(GraphError, match="range_type 'count' needs count"):
        graph.partition_by_range("bad", a, range_type="count")
    with pytest.raises(GraphError, match="range_type is one of custom, count, size, first_last, first_middle_last"):
        graph.partition_by_range("bad", a, range_type="thirds")


def test_partition_by_node_tuples_and_combinations(tmp_path):
    graph = engine.Graph("p", root=str(tmp_path))
    a = graph.range_generate("a", 3)
    b = graph.range_generate("b", 2)
    graph.partition_by_node("tuples", [a, b], mode="tuple")
    graph.partition_by_node("partial", [a, b], mode="tuple", allow_partial=True)
    graph.partition_by_node("combos", [a, b], mode="combination")
    _, state = cook(graph, tmp_path)
    members = lambda p: [(state.items[m].node, state.items[m].index) for m in p.parents]  # noqa: E731
    assert [members(p) for p in of(state, "tuples")] == [[("a", 0), ("b", 0)], [("a", 1), ("b", 1)]]
    assert [members(p) for p in of(state, "partial")][-1] == [("a", 2)]
    assert len(of(state, "combos")) == 6
    assert sorted(tuple(members(p)) for p in of(state, "combos"))[0] == (("a", 0), ("b", 0))
    with pytest.raises(GraphError, match="mode is one of node, tuple, combination"):
        graph.partition_by_node("bad", [a, b], mode="pairs")


def test_partition_variant_parameter_change_regroups_and_reruns_only_what_changes(tmp_path):
    def build(size):
        graph = engine.Graph("p", root=str(tmp_path))
        items = graph.range_generate("items", 6)
        part = graph.partition_by_range("chunks", items, range_type="size", size=size)
        graph.python_processor("after", part, ran)
        return graph

    ran = Ran()
    cook(build(3), tmp_path)
    assert sorted(ran.names) == ["after_1", "after_2"]
    ran.names.clear()
    cook(build(3), tmp_path)
    assert ran.names == []
    cook(build(2), tmp_path)
    assert len(ran.names) == 3  # three groups of two: each is new


@pytest.mark.parametrize("pattern", ["in/*.txt", "in/[ab]?.txt", "in/.*", "in/*", "in/*[!t]", "in/**/*.txt"])
def test_a_file_pattern_matches_what_glob_matches(tmp_path, pattern):
    """A pattern with wildcards in its last part only is one listing of its folder, filtered as the
    folder is read (a folder may hold a million names); it matches the regular files ``glob`` does:
    no hidden file unless the pattern starts with a dot, no folder, brackets and ``?`` as glob has them."""
    import glob

    from pdgstore.engine.graph.nodes import FilePattern

    for name in ["a1.txt", "b2.txt", "c3.txt", "ab.txt", ".hidden.txt", "A1.txt", "notes.md", "x.TXT"]:
        (tmp_path / "in" / name).parent.mkdir(exist_ok=True)
        (tmp_path / "in" / name).write_text(name)
    (tmp_path / "in" / "folder.txt").mkdir()
    (tmp_path / "in" / "deep").mkdir()
    (tmp_path / "in" / "deep" / "d.txt").write_text("d")
    expected = sorted(p for p in glob.glob(str(tmp_path / pattern), recursive=True) if os.path.isfile(p))
    assert FilePattern("files", pattern).matches(str(tmp_path)) == expected
    assert expected  # each pattern matches something here
