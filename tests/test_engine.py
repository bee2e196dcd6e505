"""The cook engine, each test a real cook into a real SQLite store on disk (issue 3, section 3).

Graphs are built in Python (``engine.Graph``) or written as graph files (``engine.cook_file``);
what happened is read back from the log (``EventLog.load_state`` / ``replay_all``), never from the
engine's memory, except where a test compares the two.
"""

from __future__ import annotations

import os
import textwrap
import threading
import time
from pathlib import Path

import pytest
import xxhash

import pdgstore.engine as engine
from pdgstore.engine.cook.loop import Cook
from pdgstore.engine.errors import GraphError, ParmError, UnknownNode
from pdgstore import EventLog
from pdgstore.events import DONE_STATES
from pdgstore.state import first_difference


# -- helpers ---------------------------------------------------------------------------------------
def db_of(tmp_path: Path) -> str:
    return str(tmp_path / ".pdg" / "pdg.db")


def read(db: str):
    """The state from the log, checked against a replay of the whole log (nothing lost)."""
    with EventLog.open(db) as log:
        state = log.load_state()
        replayed = log.replay_all()
    diff = first_difference(replayed.to_plain(), state.to_plain())
    assert diff is None, diff
    return state


def events(db: str, **filters) -> list:
    with EventLog.open(db) as log:
        return list(log.events(**filters))


def cook(graph: engine.Graph, tmp_path: Path, jobs: int = 2, **kwargs):
    db = db_of(tmp_path)
    summary = engine.cook_graph(graph, db=db, jobs=jobs, **kwargs)
    return summary, read(db)


def of(state, node: str) -> list:
    """The items of ``node``, by index then name."""
    return sorted((i for i in state.items.values() if i.node == node), key=lambda i: (i.index, i.name))


def attr(item, name: str):
    kind, values = item.attrs[name]
    return values[0] if len(values) == 1 else values


def write(root: Path, relpath: str, text: str) -> Path:
    path = root / relpath
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


# -- file pattern ----------------------------------------------------------------------------------
def test_file_pattern_one_item_per_file_tagged_sized_hashed(tmp_path, monkeypatch):
    write(tmp_path, "in/a.txt", "alpha\n")
    write(tmp_path, "in/b.csv", "x,y\n1,2\n")
    write(tmp_path, "in/c.png", "not really a png")
    write(tmp_path, "in/d.unknownext", "?")
    write(tmp_path, "in/same.txt", "alpha\n")
    (tmp_path / "in" / "sub").mkdir()  # a folder matches the glob but is no file
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)  # relative paths resolve against the graph's root, not the cwd

    graph = engine.Graph("files", root=str(tmp_path))
    graph.file_pattern("files", "in/*")
    summary, state = cook(graph, tmp_path)

    assert summary.status == "success"
    items = of(state, "files")
    assert [i.outputs[0][0] for i in items] == ["in/a.txt", "in/b.csv", "in/c.png", "in/d.unknownext", "in/same.txt"]
    tags = {i.outputs[0][0]: i.outputs[0][1] for i in items}
    assert tags == {
        "in/a.txt": "file/text",
        "in/b.csv": "file/text/csv",
        "in/c.png": "file/image/png",
        "in/d.unknownext": "file",
        "in/same.txt": "file/text",
    }
    for item in items:
        assert item.state == "cooked_success"
        assert len(item.outputs) == 1
        path, tag, size, mtime_ns, digest = item.outputs[0]
        assert size == (tmp_path / path).stat().st_size
        assert mtime_ns == (tmp_path / path).stat().st_mtime_ns
        assert isinstance(digest, str) and digest
    hashes = {i.outputs[0][0]: i.outputs[0][4] for i in items}
    assert hashes["in/a.txt"] == hashes["in/same.txt"]  # a content hash
    assert hashes["in/a.txt"] != hashes["in/b.csv"]
    assert hashes["in/a.txt"] == xxhash.xxh3_64_hexdigest(b"alpha\n")
    assert len({i.item_id for i in items}) == 5
    assert sorted(i.index for i in items) == [0, 1, 2, 3, 4]
    assert os.getcwd() == str(elsewhere)  # the cook gave the working directory back


def test_file_pattern_explicit_tag_and_recursive_glob(tmp_path):
    write(tmp_path, "data/a.txt", "1")
    write(tmp_path, "data/deep/b.txt", "22")
    write(tmp_path, "data/deep/c.json", "{}")
    graph = engine.Graph("files", root=str(tmp_path))
    graph.file_pattern("tagged", "data/**/*.txt", tag="file/custom")
    _, state = cook(graph, tmp_path)
    outputs = sorted(i.outputs[0] for i in of(state, "tagged"))
    assert [(o[0], o[1], o[2]) for o in outputs] == [("data/a.txt", "file/custom", 1), ("data/deep/b.txt", "file/custom", 2)]


@pytest.mark.parametrize("pattern", ["in/*.txt", "in/**/*.txt"])
def test_file_pattern_matches_files_and_links_to_files_only(tmp_path, pattern):
    """Found by listing the folder (``in/*.txt``) or by glob (``**``), the same files match: a
    folder or a dangling link named like a file does not, a link to a file does."""
    write(tmp_path, "in/a.txt", "aaa")
    (tmp_path / "in" / "b.txt").mkdir()
    (tmp_path / "in" / "c.txt").symlink_to(tmp_path / "in" / "a.txt")
    (tmp_path / "in" / "d.txt").symlink_to(tmp_path / "in" / "gone.txt")
    graph = engine.Graph("files", root=str(tmp_path))
    graph.file_pattern("files", pattern)
    _, state = cook(graph, tmp_path)
    assert sorted((i.outputs[0][0], i.outputs[0][2]) for i in of(state, "files")) == [("in/a.txt", 3), ("in/c.txt", 3)]


def test_graph_file_relative_paths_resolve_against_its_directory(tmp_path, monkeypatch):
    project = tmp_path / "project"
    write(project, "in/one.txt", "one two three\n")
    write(project, "in/two.txt", "four\n")
    write(project, "graph.py", textwrap.dedent('''
        from pdgstore.engine import Graph

        graph = Graph("words")
        texts = graph.file_pattern("texts", "in/*.txt")

        @graph.python_processor("count", upstream=texts)
        def count(item):
            item.set_attrib("words", len(item.input_path.read_text().split()))
    '''))
    monkeypatch.chdir(tmp_path)
    summary = engine.cook_file("project/graph.py", jobs=2)
    assert summary.status == "success"
    db = project / ".pdg" / "pdg.db"  # the store defaults to .pdg/pdg.db beside the graph file
    assert db.exists()
    state = read(str(db))
    counts = {i.inputs[0][0]: attr(i, "words") for i in of(state, "count")}
    assert counts == {"in/one.txt": 3, "in/two.txt": 1}


# -- range generator -------------------------------------------------------------------------------
def test_range_generator_start_step_and_values(tmp_path):
    graph = engine.Graph("ranges", root=str(tmp_path))
    graph.range_generate("steps", 4, start=10, step=5)
    graph.range_generate("halves", 3, start=0.0, step=0.5, attribute="t")
    graph.range_generate("listed", values=["a", "b", "c"], attribute="letter")
    graph.range_generate("none", 0)
    summary, state = cook(graph, tmp_path)
    assert summary.status == "success"
    steps = of(state, "steps")
    assert [i.index for i in steps] == [0, 1, 2, 3]
    assert [i.attrs["value"] for i in steps] == [["int", [v]] for v in (10, 15, 20, 25)]
    assert [i.attrs["t"] for i in of(state, "halves")] == [["float", [v]] for v in (0.0, 0.5, 1.0)]
    assert [i.attrs["letter"] for i in of(state, "listed")] == [["string", [v]] for v in "abc"]
    assert of(state, "none") == []
    assert all(i.state == "cooked_success" for i in state.items.values())
    names = [i.name for i in steps]
    assert len(set(names)) == 4 and all(n.startswith("steps_") for n in names)


def test_range_generator_with_upstream_fans_out_and_inherits(tmp_path):
    graph = engine.Graph("fanout", root=str(tmp_path))
    outer = graph.range_generate("outer", 2, start=100, attribute="outer")
    graph.range_generate("inner", 3, upstream=outer, attribute="inner")
    _, state = cook(graph, tmp_path)
    outers = {i.item_id: i for i in of(state, "outer")}
    inners = of(state, "inner")
    assert len(inners) == 6
    pairs = sorted((attr(i, "outer"), attr(i, "inner")) for i in inners)
    assert pairs == [(o, n) for o in (100, 101) for n in (0, 1, 2)]
    for item in inners:
        assert len(item.parents) == 1 and item.parents[0] in outers
        assert attr(outers[item.parents[0]], "outer") == attr(item, "outer")
    assert len({i.item_id for i in inners}) == 6
    assert len({i.name for i in inners}) == 6


# -- python processor ------------------------------------------------------------------------------
def test_python_processor_reads_inputs_sets_attributes_reports_outputs(tmp_path):
    write(tmp_path, "in/a.txt", "one two\n")
    write(tmp_path, "in/b.txt", "three four five\n")
    graph = engine.Graph("proc", root=str(tmp_path))
    files = graph.file_pattern("files", "in/*.txt")
    seen_inputs = {}

    @graph.python_processor("upper", upstream=files, parms={"dest": "out/@pdg_name.txt"})
    def upper(item):
        seen_inputs[item.name] = [f.relpath for f in item.input_files]
        text = item.input_path.read_text()
        dest = item.parm("dest")
        os.makedirs("out", exist_ok=True)
        Path(dest).write_text(text.upper())
        item.add_output_file(dest)
        item.set_attrib("words", len(text.split()))
        item.set_attrib("source", item.input_files[0].relpath)

    @graph.python_processor("child", upstream=upper)
    def child(item):
        item.set_attrib("double", item["words"] * 2)
        item.set_attrib("seen", item.input_path.read_text())

    summary, state = cook(graph, tmp_path)
    assert summary.status == "success", summary.failed_items
    uppers = {attr(i, "source"): i for i in of(state, "upper")}
    assert set(uppers) == {"in/a.txt", "in/b.txt"}
    for source, item in uppers.items():
        assert item.state == "cooked_success"
        assert [r[0] for r in item.inputs] == [source]
        assert seen_inputs[item.name] == [source]
        out_rel = f"out/{item.name}.txt"
        assert [o[0] for o in item.outputs] == [out_rel]
        path, tag, size, _, digest = item.outputs[0]
        assert tag == "file/text"
        content = (tmp_path / out_rel).read_bytes()
        assert size == len(content) and digest == xxhash.xxh3_64_hexdigest(content)
        assert content == (tmp_path / source).read_bytes().upper()
        assert attr(item, "words") == len((tmp_path / source).read_text().split())
        assert item.duration_ns >= 0 and item.started_ns > 0
    for item in of(state, "child"):
        parent = state.items[item.parents[0]]
        assert parent.node == "upper"
        # children inherit their parent's attributes, and its outputs are their inputs
        assert attr(item, "words") == attr(parent, "words")
        assert attr(item, "source") == attr(parent, "source")
        assert attr(item, "double") == 2 * attr(parent, "words")
        assert item.inputs == parent.outputs
        assert attr(item, "seen") == (tmp_path / parent.outputs[0][0]).read_text()


def test_python_processor_output_that_does_not_exist_fails_the_item(tmp_path):
    graph = engine.Graph("ghost", root=str(tmp_path))
    seed = graph.range_generate("seed", 1)
    graph.python_processor("liar", upstream=seed, func=lambda item: item.add_output_file("out/never.txt"))
    summary, state = cook(graph, tmp_path)
    (item,) = of(state, "liar")
    assert summary.status == "failed"
    assert item.state == "cooked_fail" and "never.txt" in item.error


# -- partitioners ----------------------------------------------------------------------------------
def _writer_graph(tmp_path, count=5):
    graph = engine.Graph("parts", root=str(tmp_path))
    seed = graph.range_generate("seed", count)

    @graph.python_processor("make", upstream=seed)
    def make(item):
        os.makedirs("made", exist_ok=True)
        path = f"made/{item.index}.txt"
        Path(path).write_text(f"{item.index}\n")
        item.add_output_file(path)
        item.set_attrib("parity", "even" if item.index % 2 == 0 else "odd")
        if item.index == 0:
            item.set_attrib("only_first", 1)

    return graph, make


def test_wait_for_all_one_partition_merging_members(tmp_path):
    graph, make = _writer_graph(tmp_path)
    gather = graph.wait_for_all("gather", make)
    seen = {}

    @graph.python_processor("concat", upstream=gather)
    def concat(item):
        seen["inputs"] = sorted(f.relpath for f in item.input_files)
        Path("all.txt").write_text("".join(f.path.read_text() for f in sorted(item.input_files, key=lambda f: f.relpath)))
        item.add_output_file("all.txt")

    summary, state = cook(graph, tmp_path, jobs=3)
    assert summary.status == "success"
    members = of(state, "make")
    (partition,) = of(state, "gather")
    assert partition.state == "cooked_success"
    assert sorted(partition.parents) == sorted(m.item_id for m in members)
    # outputs and attributes merge from the members
    assert sorted(o[0] for o in partition.outputs) == [f"made/{i}.txt" for i in range(5)]
    for name in ("parity", "value", "only_first"):
        assert name in partition.attrs
    assert partition.attrs["parity"] in [m.attrs["parity"] for m in members]
    # downstream of the partition sees every member's output as an input file
    assert seen["inputs"] == [f"made/{i}.txt" for i in range(5)]
    (final,) = of(state, "concat")
    assert sorted(r[0] for r in final.inputs) == seen["inputs"]
    assert (tmp_path / "all.txt").read_text() == "".join(f"{i}\n" for i in range(5))


def test_partition_by_attribute_one_partition_per_value(tmp_path):
    graph, make = _writer_graph(tmp_path)
    parts = graph.partition_by_attribute("by_parity", make, "parity")
    seen = {}

    @graph.python_processor("per_group", upstream=parts)
    def per_group(item):
        seen[item["parity"]] = sorted(f.relpath for f in item.input_files)

    summary, state = cook(graph, tmp_path, jobs=3)
    assert summary.status == "success"
    members = {m.item_id: m for m in of(state, "make")}
    partitions = of(state, "by_parity")
    assert len(partitions) == 2
    by_value = {attr(p, "parity"): p for p in partitions}
    assert set(by_value) == {"even", "odd"}
    for value, partition in by_value.items():
        assert partition.state == "cooked_success"
        expected = sorted(i for i, m in members.items() if attr(m, "parity") == value)
        assert sorted(partition.parents) == expected
        assert sorted(o[0] for o in partition.outputs) == sorted(members[i].outputs[0][0] for i in expected)
    assert seen == {"even": ["made/0.txt", "made/2.txt", "made/4.txt"], "odd": ["made/1.txt", "made/3.txt"]}
    assert len(of(state, "per_group")) == 2


def test_partition_by_attribute_leaves_out_items_without_the_attribute(tmp_path):
    graph = engine.Graph("partial", root=str(tmp_path))
    seed = graph.range_generate("seed", 4)

    @graph.python_processor("tag", upstream=seed)
    def tag(item):
        if item.index < 3:
            item.set_attrib("group", item.index % 2)

    graph.partition_by_attribute("groups", tag, "group")
    _, state = cook(graph, tmp_path)
    tagged = {i.item_id: i for i in of(state, "tag")}
    partitions = of(state, "groups")
    assert sorted(attr(p, "group") for p in partitions) == [0, 1]
    in_partitions = sorted(m for p in partitions for m in p.parents)
    assert in_partitions == sorted(i for i, t in tagged.items() if t.index < 3)


# -- graph parameters ------------------------------------------------------------------------------
def test_graph_parameters_defaults_and_typed_overrides(tmp_path):
    overrides = {"n": "5", "scale": "0.5", "label": "hello", "flag": "false"}
    graph = engine.Graph("parms", root=str(tmp_path), overrides=overrides)
    n = graph.parm("n", 3)
    scale = graph.parm("scale", 2.0)
    label = graph.parm("label", "x")
    flag = graph.parm("flag", True)
    other = graph.parm("other", 7)
    assert (n, scale, label, flag, other) == (5, 0.5, "hello", False, 7)
    assert [type(v) for v in (n, scale, label, flag, other)] == [int, float, str, bool, int]
    graph.range_generate("numbers", n, step=scale)
    summary, state = cook(graph, tmp_path)
    assert summary.status == "success"
    assert len(of(state, "numbers")) == 5
    assert [attr(i, "value") for i in of(state, "numbers")] == [0.0, 0.5, 1.0, 1.5, 2.0]
    assert state.graphs["parms"].parms == {"n": 5, "scale": 0.5, "label": "hello", "flag": False, "other": 7}
    assert state.cooks[1].overrides == overrides


@pytest.mark.parametrize("text, expected", [("1", True), ("true", True), ("yes", True), ("0", False), ("off", False)])
def test_bool_parameter_words(tmp_path, text, expected):
    assert engine.Graph("b", root=str(tmp_path), overrides={"flag": text}).parm("flag", False) is expected


@pytest.mark.parametrize(
    "name, default, text",
    [("count", 3, "five"), ("count", 3, "2.5"), ("ratio", 1.0, "x"), ("flag", True, "maybe")],
)
def test_bad_parameter_values_raise_parm_error_naming_the_parameter(tmp_path, name, default, text):
    graph = engine.Graph("bad", root=str(tmp_path), overrides={name: text})
    with pytest.raises(ParmError) as caught:
        graph.parm(name, default)
    assert name in str(caught.value)


def test_graph_file_parameters_through_cook_file(tmp_path):
    write(tmp_path, "g.py", textwrap.dedent('''
        from pdgstore.engine import Graph
        graph = Graph("g")
        n = graph.parm("n", 2)
        graph.range_generate("numbers", n)
    '''))
    summary = engine.cook_file(str(tmp_path / "g.py"), overrides={"n": "4"}, jobs=1)
    assert summary.status == "success"
    state = read(db_of(tmp_path))
    assert len(of(state, "numbers")) == 4
    with pytest.raises(ParmError) as caught:
        engine.cook_file(str(tmp_path / "g.py"), overrides={"nope": "1"})
    assert "nope" in str(caught.value)
    with pytest.raises(ParmError) as caught:
        engine.cook_file(str(tmp_path / "g.py"), overrides={"n": "many"})
    assert "n" in str(caught.value) and "many" in str(caught.value)
    assert len(read(db_of(tmp_path)).cooks) == 1  # refused cooks wrote nothing


# -- graph validation ------------------------------------------------------------------------------
def _cycle(tmp_path):
    graph = engine.Graph("cyclic", root=str(tmp_path))
    graph.range_generate("root", 1)
    graph.python_processor("alpha", upstream=["root", "beta"], func=lambda item: None)
    graph.python_processor("beta", upstream="alpha", func=lambda item: None)
    return graph


def _unknown(tmp_path):
    graph = engine.Graph("dangling", root=str(tmp_path))
    graph.range_generate("root", 1)
    graph.python_processor("orphan", upstream="ghost", func=lambda item: None)
    return graph


def test_cycle_refused_naming_the_nodes(tmp_path):
    with pytest.raises(GraphError) as caught:
        _cycle(tmp_path).validate()
    assert "alpha" in str(caught.value) and "beta" in str(caught.value)


def test_unknown_connection_refused_naming_the_nodes(tmp_path):
    with pytest.raises(GraphError) as caught:
        _unknown(tmp_path).validate()
    assert "orphan" in str(caught.value) and "ghost" in str(caught.value)


def test_duplicate_node_name_refused(tmp_path):
    graph = engine.Graph("dup", root=str(tmp_path))
    graph.range_generate("twice", 1)
    with pytest.raises(GraphError) as caught:
        graph.range_generate("twice", 2)
    assert "twice" in str(caught.value)


@pytest.mark.parametrize("make, names", [(_cycle, ("alpha", "beta")), (_unknown, ("orphan", "ghost"))])
def test_cook_graph_refuses_an_invalid_graph_with_graph_error(tmp_path, make, names):
    """A graph built in Python is checked when it is cooked, as a graph file is when it loads."""
    with pytest.raises(GraphError) as caught:
        engine.cook_graph(make(tmp_path), db=db_of(tmp_path), jobs=1)
    for name in names:
        assert name in str(caught.value)
    if os.path.exists(db_of(tmp_path)):
        assert read(db_of(tmp_path)).cooks == {}


@pytest.mark.parametrize(
    "body, names",
    [
        ('''
graph.range_generate("root", 1)
graph.python_processor("alpha", upstream=["root", "beta"], func=lambda item: None)
graph.python_processor("beta", upstream="alpha", func=lambda item: None)
''', ("alpha", "beta")),
        ('''
graph.python_processor("orphan", upstream="ghost", func=lambda item: None)
''', ("orphan", "ghost")),
        ('''
graph.range_generate("twice", 1)
graph.range_generate("twice", 1)
''', ("twice",)),
    ],
)
def test_graph_file_refused_when_it_loads(tmp_path, body, names):
    write(tmp_path, "bad.py", "from pdgstore.engine import Graph\ngraph = Graph('bad')\n" + body)
    with pytest.raises(GraphError) as caught:
        engine.cook_file(str(tmp_path / "bad.py"), jobs=1)
    for name in names:
        assert name in str(caught.value)
    assert "bad.py" in str(caught.value)
    assert not os.path.exists(db_of(tmp_path))


# -- stable identity -------------------------------------------------------------------------------
def _identity_graph(tmp_path, *, reorder: bool, extra_node: bool) -> engine.Graph:
    graph = engine.Graph("ident", root=str(tmp_path))

    def branch():
        files = graph.file_pattern("files", "in/*.txt")
        wedge = graph.range_generate("wedge", 2, upstream=files)

        def work(item):
            item.set_attrib("done", 1)

        graph.python_processor("work", upstream=wedge, func=work)
        graph.wait_for_all("all", "work")
        graph.partition_by_attribute("by_value", "work", "value")

    def unrelated():
        graph.range_generate("other", 3)
        graph.python_processor("other_work", upstream="other", func=lambda item: None)

    if reorder:
        if extra_node:
            graph.range_generate("extra", 2)
        unrelated()
        branch()
    else:
        branch()
        unrelated()
    return graph


def _identities(state) -> dict:
    """item id -> (node, what generated it), described without ids or names."""
    def origin(item):
        if item.node == "files":
            return item.outputs[0][0]
        if item.node in ("wedge",):
            return (origin(state.items[item.parents[0]]), item.index)
        if item.node == "work":
            return origin(state.items[item.parents[0]])
        if item.node == "by_value":
            return attr(item, "value")
        return item.index
    return {i.item_id: (i.node, origin(i)) for i in state.items.values()}


def test_item_ids_are_stable_across_cooks_reorders_and_new_files(tmp_path):
    for name in ("a", "b", "c"):
        write(tmp_path, f"in/{name}.txt", name)
    _, first = cook(_identity_graph(tmp_path, reorder=False, extra_node=False), tmp_path)
    ids1 = _identities(first)
    assert len(ids1) == 3 + 6 + 6 + 1 + 2 + 3 + 3

    _, second = cook(_identity_graph(tmp_path, reorder=False, extra_node=False), tmp_path)
    assert _identities(second) == ids1  # same ids, for the same things

    _, third = cook(_identity_graph(tmp_path, reorder=True, extra_node=False), tmp_path)
    assert _identities(third) == ids1

    write(tmp_path, "in/0first.txt", "sorts before the others")
    _, fourth = cook(_identity_graph(tmp_path, reorder=True, extra_node=True), tmp_path)
    ids4 = _identities(fourth)
    for item_id, what in ids1.items():
        assert ids4.get(item_id) == what, f"{what} changed identity"
    new = {what for item_id, what in ids4.items() if item_id not in ids1}
    assert new == {
        ("files", "in/0first.txt"),
        ("wedge", ("in/0first.txt", 0)), ("wedge", ("in/0first.txt", 1)),
        ("work", ("in/0first.txt", 0)), ("work", ("in/0first.txt", 1)),
        ("extra", 0), ("extra", 1),
    }


# -- failures --------------------------------------------------------------------------------------
def test_failure_stops_its_branch_only(tmp_path):
    graph = engine.Graph("fails", root=str(tmp_path))
    seed = graph.range_generate("seed", 4)

    def risky(item):
        if item.index == 2:
            raise ValueError(f"boom on {item.name}")
        item.set_attrib("ok", 1)

    graph.python_processor("risky", upstream=seed, func=risky)
    graph.python_processor("after", upstream="risky", func=lambda item: item.set_attrib("after", 1))
    graph.wait_for_all("gather", "risky")
    graph.python_processor("final", upstream="gather", func=lambda item: None)
    side = graph.range_generate("side", 3)
    graph.python_processor("side_work", upstream=side, func=lambda item: item.set_attrib("side", 1))
    errors = []
    graph.on("cook_error", errors.append)

    summary, state = cook(graph, tmp_path, jobs=2)
    assert summary.status == "failed"
    assert summary.counts["failed"] == 1
    (failed,) = [i for i in state.items.values() if i.state == "cooked_fail"]
    assert failed.node == "risky" and failed.index == 2
    assert "ValueError" in failed.error and "boom on" in failed.error
    assert "Traceback" in failed.traceback and "ValueError: boom on" in failed.traceback
    assert "risky" in failed.traceback  # the user function's frame
    assert [f["item_id"] for f in summary.failed_items] == [failed.item_id]
    assert summary.failed_items[0]["node"] == "risky"
    # its downstream did not cook; its siblings' did
    after = of(state, "after")
    # (static: the failed item's child was generated before anything ran; it never cooked)
    assert [i.state for i in after if failed.item_id in i.parents] == ["uncooked"]
    after = [i for i in after if failed.item_id not in i.parents]
    assert sorted(state.items[i.parents[0]].index for i in after) == [0, 1, 3]
    assert all(i.state == "cooked_success" for i in after)
    for item in of(state, "gather") + of(state, "final"):
        assert item.state not in DONE_STATES
    # the independent branch finished
    assert [i.state for i in of(state, "side_work")] == ["cooked_success"] * 3
    cook1 = state.cooks[1]
    assert cook1.status == "failed" and cook1.counts["failed"] == 1
    cooked = [e for e in events(db_of(tmp_path), kind="WorkItemCooked") if e.item_id == failed.item_id]
    assert len(cooked) == 1 and "boom on" in cooked[0].traceback
    # a cook_error handler heard of it, naming the item
    assert [(e.work_item_id, e.node) for e in errors] == [(failed.item_id, "risky")]
    assert "boom on" in errors[0].message


# -- cancel ----------------------------------------------------------------------------------------
def test_cancel_from_an_event_handler(tmp_path):
    graph = engine.Graph("cancel", root=str(tmp_path))
    seed = graph.range_generate("seed", 40)

    def slow(item):
        time.sleep(0.01)
        item.set_attrib("slept", 1)

    graph.python_processor("slow", upstream=seed, func=slow)
    graph.wait_for_all("gather", "slow")
    cooked = []
    k = 3

    def stop_after_k(event):
        if event.node == "slow" and event.current_state == "cooked_success":
            cooked.append(event.work_item_id)
            if len(cooked) >= k:
                event.cook.cancel("enough")

    graph.on("work_item_state_change", stop_after_k)
    summary, state = cook(graph, tmp_path, jobs=1)
    assert summary.status == "cancelled"
    assert state.cooks[1].status == "cancelled"
    slow_items = of(state, "slow")
    states = [i.state for i in slow_items]
    assert states.count("cooked_success") >= k
    assert states.count("cooked_cancel") >= 1
    assert set(states) <= {"cooked_success", "cooked_cancel"}
    assert [i.state for i in of(state, "gather")] == ["cooked_cancel"]
    this_cook = [i for i in state.items.values() if i.cook_id == 1]
    counts = summary.counts
    assert counts == state.cooks[1].counts
    assert counts["cancelled"] == sum(i.state == "cooked_cancel" for i in this_cook)
    assert counts["ran"] + counts["updated"] + counts["failed"] + counts["cancelled"] == len(this_cook)
    assert counts["failed"] == 0
    # nothing in flight is left behind
    assert not [i for i in state.items.values() if i.state in ("scheduled", "cooking", "uncooked", "waiting")]


# -- targeted cook ---------------------------------------------------------------------------------
def test_node_cook_cooks_only_the_node_and_its_upstream(tmp_path):
    def build():
        graph = engine.Graph("target", root=str(tmp_path))
        a = graph.range_generate("a", 2)
        b = graph.python_processor("b", upstream=a, func=lambda item: item.set_attrib("b", 1))
        graph.python_processor("c", upstream=b, func=lambda item: item.set_attrib("c", 1))
        d = graph.range_generate("d", 2)
        graph.python_processor("e", upstream=d, func=lambda item: None)
        return graph

    summary, state = cook(build(), tmp_path, node="b")
    assert summary.status == "success"
    assert {i.node for i in state.items.values()} == {"a", "b"}
    assert all(i.state == "cooked_success" for i in state.items.values())
    assert state.cooks[1].node == "b"
    assert [e.node for e in events(db_of(tmp_path), kind="CookStarted")] == ["b"]

    summary, state = cook(build(), tmp_path)
    assert {i.node for i in state.items.values()} == {"a", "b", "c", "d", "e"}
    with pytest.raises(UnknownNode) as caught:
        engine.cook_graph(build(), db=db_of(tmp_path), node="zzz")
    assert "zzz" in str(caught.value)


# -- event handlers --------------------------------------------------------------------------------
def test_event_handlers_graph_and_node_scoped(tmp_path):
    db = db_of(tmp_path)
    graph = engine.Graph("handlers", root=str(tmp_path))
    seed = graph.range_generate("seed", 3)
    work = graph.python_processor("work", upstream=seed, func=lambda item: item.set_attrib("x", item.index))
    every, scoped, scoped2, lifecycle, store_checks = [], [], [], [], []
    main_thread = threading.get_ident()

    @graph.on("work_item_state_change")
    def on_change(event):
        every.append(event)
        with EventLog.open(db) as log:  # the store already holds what the handler hears of
            store_checks.append((event.seq, log.last_seq(), threading.get_ident() == main_thread))

    work.on("work_item_state_change", scoped.append)
    graph.on("work_item_add", scoped2.append, node="seed")
    graph.on("cook_start", lifecycle.append)
    graph.on("cook_complete", lifecycle.append)
    everything = []
    graph.on("*", everything.append)

    summary = engine.cook_graph(graph, db=db, jobs=2)
    assert summary.status == "success"
    state = read(db)
    work_ids = {i.item_id for i in of(state, "work")}

    assert every and all(e.type == "work_item_state_change" for e in every)
    for event in every:
        assert event.work_item_id in state.items
        assert event.node == state.items[event.work_item_id].node
        assert event.current_state
    # per item, the states it went through form a chain ending cooked_success
    for item_id in work_ids:
        chain = [(e.last_state, e.current_state) for e in every if e.work_item_id == item_id]
        assert chain[-1][1] == "cooked_success"
        assert chain[0][0] == "uncooked"
        for (_, current), (last, _) in zip(chain, chain[1:]):
            assert last == current
    # node scope
    assert scoped and {e.node for e in scoped} == {"work"}
    assert {e.work_item_id for e in scoped} == work_ids
    assert {e.node for e in scoped2} == {"seed"} and len(scoped2) == 3
    assert all(e.type == "work_item_add" and e.current_state for e in scoped2)
    # cook start and complete, in order
    assert [e.type for e in lifecycle] == ["cook_start", "cook_complete"]
    assert all(e.cook_id == summary.cook_id for e in lifecycle)
    # handlers ran on the loop after their events were flushed
    assert store_checks and all(last >= seq for seq, last, _ in store_checks)
    assert all(on_loop for _, _, on_loop in store_checks)
    types = {e.type for e in everything}
    assert {"work_item_add", "work_item_state_change", "work_item_set_attribute", "node_generated", "node_cooked",
            "cook_start", "cook_complete"} <= types
    seqs = [e.seq for e in everything]
    assert seqs == sorted(seqs)  # handlers hear of events in log order


def test_raising_handler_is_a_cook_warning_and_the_cook_goes_on(tmp_path):
    db = db_of(tmp_path)
    graph = engine.Graph("warn", root=str(tmp_path))
    seed = graph.range_generate("seed", 3)
    graph.python_processor("work", upstream=seed, func=lambda item: None)
    raised = []

    def broken_handler(event):
        if not raised:
            raised.append(event)
            raise RuntimeError("handler bug")

    graph.on("work_item_state_change", broken_handler)
    summary = engine.cook_graph(graph, db=db, jobs=1)
    assert summary.status == "success"
    assert any("broken_handler" in w for w in summary.warnings)
    warnings = events(db, kind="CookWarning")
    assert len(warnings) == 1
    assert "broken_handler" in warnings[0].message and "handler bug" in warnings[0].message
    state = read(db)
    assert state.cooks[1].warnings == 1
    assert all(i.state == "cooked_success" for i in state.items.values())


def test_unknown_event_type_refused(tmp_path):
    graph = engine.Graph("g", root=str(tmp_path))
    with pytest.raises(GraphError):
        graph.on("no_such_event", lambda e: None)


# -- a second cook ---------------------------------------------------------------------------------
def test_second_cook_keeps_first_history_and_removes_vanished_items(tmp_path):
    for name in ("a", "b", "c"):
        write(tmp_path, f"in/{name}.txt", name * 3)

    def build():
        graph = engine.Graph("twice", root=str(tmp_path))
        files = graph.file_pattern("files", "in/*.txt")
        graph.python_processor("work", upstream=files, func=lambda item: item.set_attrib("n", 1))
        graph.wait_for_all("gather", "work")
        return graph

    first = engine.cook_graph(build(), db=db_of(tmp_path), jobs=2)
    state1 = read(db_of(tmp_path))
    cook1 = state1.to_plain(named=True)["cooks"][0]
    b_file = next(i for i in of(state1, "files") if i.outputs[0][0] == "in/b.txt")
    b_work = next(i for i in of(state1, "work") if i.parents == [b_file.item_id])

    (tmp_path / "in" / "b.txt").unlink()
    graph2 = build()
    heard = []
    graph2.on("work_item_remove", heard.append)
    second = engine.cook_graph(graph2, db=db_of(tmp_path), jobs=2)
    assert (first.cook_id, second.cook_id) == (1, 2)
    assert second.status == "success"
    state2 = read(db_of(tmp_path))
    assert list(state2.cooks) == [1, 2]
    assert state2.to_plain(named=True)["cooks"][0] == cook1  # the first cook's history is intact
    assert state2.cooks[2].status == "success"
    removed = {e.item_id for e in events(db_of(tmp_path), kind="WorkItemRemoved")}
    assert removed == {b_file.item_id, b_work.item_id}
    assert {e.work_item_id for e in heard} == removed
    assert b_file.item_id not in state2.items and b_work.item_id not in state2.items
    assert len(of(state2, "files")) == 2 and len(of(state2, "work")) == 2
    (partition,) = of(state2, "gather")
    assert sorted(partition.parents) == sorted(i.item_id for i in of(state2, "work"))
    assert all(i.state == "cooked_success" for i in state2.items.values())
    # unchanged items are reused from the first cook; the partition lost a member, so it merged again
    assert {i.cook_id for i in of(state2, "files") + of(state2, "work")} == {1}
    assert partition.cook_id == 2
    assert second.counts == {"ran": 0, "cached": 0, "reused": 4, "updated": 1, "failed": 0, "cancelled": 0, "removed": 2}
    # the first cook's events are still in the log, under its id
    assert events(db_of(tmp_path), cook_id=1, kind="CookFinished")[0].status == "success"


def test_live_state_equals_replay_after_cooks(tmp_path):
    """The engine's own state after a cook is exactly the log replayed (and the snapshot path)."""
    write(tmp_path, "in/a.txt", "a")
    graph = engine.Graph("live", root=str(tmp_path))
    files = graph.file_pattern("files", "in/*.txt")
    graph.python_processor("work", upstream=files, func=lambda item: item.set_attrib("n", [1, 2]))
    graph.partition_by_attribute("by_n", "work", "n")
    db = db_of(tmp_path)
    for _ in range(2):
        with EventLog.open(db, writer=True, create=True) as log:
            c = Cook(log, graph, jobs=2)
            c.run()
            live = c.state.to_plain()
        with EventLog.open(db) as log:
            assert first_difference(log.replay_all().to_plain(), live) is None
            assert first_difference(log.load_state().to_plain(), live) is None


# -- the processor / partitioner contract ----------------------------------------------------------
class Squares(engine.Processor):
    """A user processor: two children per parent, each cooked by ``cook``."""

    type_name = "squares"
    does_work = True

    def generate(self, ctx, parent):
        base = parent.index if parent is not None else 0
        return [engine.NewItem(key=k, index=base * 2 + k, attrs={"k": ["int", [k]]}) for k in range(2)]

    def cook(self, item):
        item.set_attrib("square", item.index * item.index)


class ByK(engine.Partitioner):
    """A user partitioner: groups by the ``k`` attribute."""

    type_name = "by_k"

    def partition(self, ctx, items):
        groups = {}
        for item in items:
            groups.setdefault(item.attrs["k"][1][0], []).append(item)
        return [engine.NewPartition(key=k, members=m, attrs={"k": ["int", [k]]}) for k, m in sorted(groups.items())]


def test_user_nodes_follow_the_same_contract(tmp_path):
    graph = engine.Graph("custom", root=str(tmp_path))
    seed = graph.range_generate("seed", 3)
    graph.add(Squares("squares", [seed.name]))
    graph.add(ByK("by_k", ["squares"]))
    summary, state = cook(graph, tmp_path)
    assert summary.status == "success"
    squares = of(state, "squares")
    assert sorted(i.index for i in squares) == [0, 1, 2, 3, 4, 5]
    assert all(attr(i, "square") == i.index ** 2 for i in squares)
    parts = of(state, "by_k")
    assert [(attr(p, "k"), len(p.parents)) for p in parts] == [(0, 3), (1, 3)]
    assert state.graphs["custom"].nodes[1]["type"] == "squares"


class Broken(engine.Processor):
    type_name = "broken"

    def generate(self, ctx, parent):
        raise RuntimeError("cannot generate")


def test_generation_failure_fails_the_cook_naming_the_node(tmp_path):
    graph = engine.Graph("broken", root=str(tmp_path))
    graph.add(Broken("bad_gen", []))
    graph.python_processor("after", upstream="bad_gen", func=lambda item: None)
    side = graph.range_generate("side", 2)
    graph.python_processor("side_work", upstream=side, func=lambda item: None)
    summary, state = cook(graph, tmp_path)
    assert summary.status == "failed"
    assert "bad_gen" in summary.message and "cannot generate" in summary.message
    assert state.cooks[1].status == "failed"
    assert [i.state for i in of(state, "side_work")] == ["cooked_success"] * 2
    assert of(state, "after") == []
    assert any("bad_gen" in e.message for e in events(db_of(tmp_path), kind="CookWarning"))
