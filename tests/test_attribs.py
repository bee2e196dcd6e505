"""Work item attributes: PDG's typed arrays as the store records them, and ``@attr`` expansion.

Attributes are ``[type, [values...]]`` (issue 3, section 3): int, float, string, file, dict, every
one an array; a bool is stored as an int, an int/float mix as floats, any other mix is refused.
String parameters expand ``@name``, ``@name.N``, ``@pos.x``, the ``@pdg_*`` built-ins and ``\\@``;
an unknown attribute is an ExpansionError naming the node, the item and the parameter.

Pure functions are checked directly; everything the engine records is checked through a real cook
into a real SQLite store, read back from the log.
"""

from __future__ import annotations

from pathlib import Path

import pytest

import pdgstore.engine as engine
from pdgstore.engine import File, WorkItem
from pdgstore.engine.graph import attribs
from pdgstore.engine.errors import ExpansionError
from pdgstore import EventLog
from pdgstore.state import first_difference


# -- helpers ---------------------------------------------------------------------------------------
def cook(graph: engine.Graph, tmp_path: Path, **kwargs):
    """Cook ``graph`` into ``tmp_path/.pdg/pdg.db``; the summary and the state read from the log."""
    db = str(tmp_path / ".pdg" / "pdg.db")
    summary = engine.cook_graph(graph, db=db, jobs=kwargs.pop("jobs", 1), **kwargs)
    with EventLog.open(db) as log:
        state = log.load_state()
        replayed = log.replay_all()
    assert first_difference(replayed.to_plain(), state.to_plain()) is None
    return summary, state


def only(state, node: str):
    items = [i for i in state.items.values() if i.node == node]
    assert len(items) == 1, f"{node} has {len(items)} items"
    return items[0]


def view(**kwargs) -> WorkItem:
    """A WorkItem view, as a python processor's function is given one."""
    defaults = dict(item_id="abc123", name="proc_3", index=2, node="proc", attrs={}, inputs=[], outputs=[],
                    root="/project")
    defaults.update(kwargs)
    return WorkItem(**defaults)


FILE_REC_A = ["in/a.txt", "file/text", 3, 1, "h1"]
FILE_REC_B = ["in/b.png", "file/image/png", 4, 2, "h2"]


# -- typed values ----------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "value, stored",
    [
        (3, ["int", [3]]),
        (-7, ["int", [-7]]),
        (2.5, ["float", [2.5]]),
        ("hello", ["string", ["hello"]]),
        (File("out/a.txt", "file/text"), ["file", [["out/a.txt", "file/text"]]]),
        ({"a": 1, "b": [1, 2]}, ["dict", [{"a": 1, "b": [1, 2]}]]),
        ([1, 2, 3], ["int", [1, 2, 3]]),
        ((1.0, 2.0), ["float", [1.0, 2.0]]),
        (["x", "y"], ["string", ["x", "y"]]),
        ([File("a"), File("b", "file/image")], ["file", [["a", "file"], ["b", "file/image"]]]),
        (True, ["int", [1]]),
        (False, ["int", [0]]),
        ([True, 2], ["int", [1, 2]]),
        ([1, 2.5], ["float", [1.0, 2.5]]),
        ([1.5, 2], ["float", [1.5, 2.0]]),
    ],
)
def test_typed_values(value, stored):
    assert attribs.typed(value) == stored
    kind, values = attribs.typed(value)
    for v in values:  # stored values are plain msgpack-native data
        assert type(v) in (int, float, str, list, dict)
        assert not isinstance(v, bool)


@pytest.mark.parametrize("value", [[1, "a"], ["a", 2.0], [File("a"), "a"], [{"a": 1}, 1], None, object(), [None]])
def test_mixed_or_unknown_types_refused(value):
    with pytest.raises(TypeError):
        attribs.typed(value)


def test_plain_reads_back():
    assert attribs.plain(attribs.typed(4)) == 4
    assert attribs.plain(attribs.typed([4, 5])) == [4, 5]
    assert attribs.plain(attribs.typed(File("x.txt", "file/text"))) == File("x.txt", "file/text")
    item = view(attrs={"f": attribs.typed(File("x.txt", "file/text")), "a": attribs.typed([1, 2, 3])})
    assert item.attrib_value("f") == File("x.txt", "file/text")
    assert item.attrib_array("a") == [1, 2, 3]
    assert item.attrib_value("a", 2) == 3
    assert item["a"] == 1
    assert item.get("missing", "d") == "d"
    with pytest.raises(KeyError):
        item.attrib_value("missing")


def test_attributes_of_every_type_recorded_and_read_downstream(tmp_path):
    """A processor sets one attribute of each type; the log holds them typed, and a child reads
    them back as Python values (inherited from its parent)."""
    graph = engine.Graph("types", root=str(tmp_path))
    seed = graph.range_generate("seed", 1)

    @graph.python_processor("setter", upstream=seed)
    def setter(item):
        item.set_attrib("i", 42)
        item.set_attrib("f", 0.25)
        item.set_attrib("s", "text")
        item.set_attrib("flag", True)
        item.set_attrib("d", {"k": "v", "n": 1})
        item.set_attrib("ints", [1, 2, 3])
        item.set_attrib("pos", (1.0, 2, 3.5))
        item.set_attrib("names", ["a", "b"])
        item.set_file_attrib("file", "data/x.csv", "file/text/csv")
        item.set_attrib("files", [File("a.txt"), File("b.txt", "file/text")])

    seen = {}

    @graph.python_processor("reader", upstream=setter)
    def reader(item):
        for name in item.attrib_names():
            seen[name] = item.attrib_array(name)
        seen["first_pos"] = item.attrib_value("pos")
        seen["pos_z"] = item.attrib_value("pos", 2)

    summary, state = cook(graph, tmp_path)
    assert summary.status == "success"
    attrs = only(state, "setter").attrs
    assert attrs["i"] == ["int", [42]]
    assert attrs["f"] == ["float", [0.25]]
    assert attrs["s"] == ["string", ["text"]]
    assert attrs["flag"] == ["int", [1]]
    assert attrs["d"] == ["dict", [{"k": "v", "n": 1}]]
    assert attrs["ints"] == ["int", [1, 2, 3]]
    assert attrs["pos"] == ["float", [1.0, 2.0, 3.5]]
    assert attrs["names"] == ["string", ["a", "b"]]
    assert attrs["file"] == ["file", [["data/x.csv", "file/text/csv"]]]
    assert attrs["files"] == ["file", [["a.txt", "file"], ["b.txt", "file/text"]]]
    assert attrs["value"] == ["int", [0]]  # the range generator's, inherited
    # the child inherited all of them
    child = only(state, "reader")
    for name, attr in attrs.items():
        assert child.attrs[name] == attr
    assert seen["file"] == [File("data/x.csv", "file/text/csv")]
    assert seen["flag"] == [1]
    assert seen["pos"] == [1.0, 2.0, 3.5]
    assert seen["first_pos"] == 1.0 and seen["pos_z"] == 3.5
    assert seen["d"] == [{"k": "v", "n": 1}]


def test_setting_a_mixed_array_fails_the_item(tmp_path):
    graph = engine.Graph("mixed", root=str(tmp_path))
    seed = graph.range_generate("seed", 1)

    @graph.python_processor("bad", upstream=seed)
    def bad(item):
        item.set_attrib("mixed", [1, "one"])

    summary, state = cook(graph, tmp_path)
    item = only(state, "bad")
    assert summary.status == "failed"
    assert item.state == "cooked_fail"
    assert "TypeError" in item.error and "one type" in item.error
    assert "mixed" not in item.attrs


def test_pdg_attribute_objects_in_a_python_processor(tmp_path):
    """PDG's pages spell an attribute as an object (``work_item['x'].value()``, from a handler):
    a python processor's ``item['x']`` is the value itself, and PDG's object is ``item.attrib('x')``,
    which reads and sets as PDG's does. The page's spelling pasted as it is fails the item with a
    sentence saying which to write."""
    graph = engine.Graph("pdgattrs", root=str(tmp_path))
    seed = graph.range_generate("seed", 1)

    @graph.python_processor("ok", upstream=seed)
    def ok(item):
        item.set_attrib("pos", [1, 2])
        pos = item.attrib("pos")
        item.set_attrib("read", [pos.value(), pos.value(1), len(pos), item["pos"], int(item.attrib("nope") is None)])
        pos.setValue(5, 3)  # padded as PDG pads an indexed set

    @graph.python_processor("pasted", upstream=seed)
    def pasted(item):
        item.set_attrib("x", 3)
        item.set_attrib("y", item["x"].value())

    summary, state = cook(graph, tmp_path)
    assert only(state, "ok").attrs["read"] == ["int", [1, 2, 2, 1, 1]]
    assert only(state, "ok").attrs["pos"] == ["int", [1, 2, 0, 5]]
    failed = only(state, "pasted")
    assert failed.state == "cooked_fail" and "y" not in failed.attrs
    assert "'int' object has no attribute 'value'" in failed.error
    assert "item.attrib('x').value()" in failed.error, failed.error


def test_dict_attribute_with_non_string_keys_keeps_the_log_readable(tmp_path):
    """Events hold string-keyed maps only. A dict attribute keyed by ints must either be refused
    (the item fails) or be stored so that the log still replays; never a log that cannot be read."""
    graph = engine.Graph("intkeys", root=str(tmp_path))
    seed = graph.range_generate("seed", 1)

    @graph.python_processor("p", upstream=seed)
    def p(item):
        item.set_attrib("d", {1: "one"})

    db = str(tmp_path / ".pdg" / "pdg.db")
    engine.cook_graph(graph, db=db, jobs=1)
    with EventLog.open(db) as log:
        replayed = log.replay_all()  # must not raise
        loaded = log.load_state()
    assert first_difference(replayed.to_plain(), loaded.to_plain()) is None
    item = only(replayed, "p")
    assert item.state == "cooked_fail" or "d" in item.attrs


def test_attribute_that_cannot_be_recorded_fails_the_item_not_the_cook(tmp_path):
    """A dict holding a value msgpack cannot carry (a set) is the item's failure: the cook still
    ends, recorded as failed, and the store has no cook left 'running'."""
    graph = engine.Graph("unencodable", root=str(tmp_path))
    seed = graph.range_generate("seed", 2)

    @graph.python_processor("p", upstream=seed)
    def p(item):
        if item.index == 0:
            item.set_attrib("d", {"members": {1, 2}})
        else:
            item.set_attrib("ok", 1)

    summary, state = cook(graph, tmp_path)
    assert summary.status == "failed"
    assert state.cooks[1].status == "failed"
    by_index = {i.index: i for i in state.items.values() if i.node == "p"}
    assert by_index[0].state == "cooked_fail"
    assert by_index[1].state == "cooked_success"


# -- @attr expansion -------------------------------------------------------------------------------
@pytest.fixture
def item() -> WorkItem:
    return view(
        attrs={
            "name": attribs.typed("rock"),
            "count": attribs.typed(7),
            "scale": attribs.typed(0.5),
            "frames": attribs.typed([10, 20, 30]),
            "pos": attribs.typed([1.5, 2.5, 3.5]),
            "tex": attribs.typed(File("tex/rock.png", "file/image/png")),
        },
        inputs=[FILE_REC_A, FILE_REC_B],
        outputs=[["out/proc_3.txt", "file/text", 5, 3, "h3"]],
    )


@pytest.mark.parametrize(
    "text, expected",
    [
        ("plain text", "plain text"),
        ("@name", "rock"),
        ("out/@name.txt", "out/rock.txt"),
        ("@name.0", "rock"),
        ("@count", "7"),
        ("@scale", "0.5"),
        ("@frames", "10"),
        ("@frames.0-@frames.1-@frames.2", "10-20-30"),
        ("@pos.x,@pos.y,@pos.z", "1.5,2.5,3.5"),
        ("@tex", "tex/rock.png"),
        ("@pdg_index", "2"),
        ("@pdg_name", "proc_3"),
        ("@pdg_name.txt", "proc_3.txt"),
        ("@pdg_input", "in/a.txt in/b.png"),  # every input file (issue 19)
        ("@pdg_input.0 @pdg_input.1", "in/a.txt in/b.png"),
        ("@pdg_output", "out/proc_3.txt"),
        ("@pdg_output.0", "out/proc_3.txt"),
        ("\\@name", "@name"),
        ("user\\@host @name", "user@host rock"),
        ("@name_@count", None),  # name_ is a (missing) attribute name of its own
    ],
)
def test_expansion(item, text, expected):
    if expected is None:
        with pytest.raises(ExpansionError):
            item.expand(text)
    else:
        assert item.expand(text) == expected


@pytest.mark.parametrize(
    "text, words",
    [
        ("@missing", ["missing"]),
        ("@frames.3", ["frames"]),
        ("@pos.w", ["pos"]),
        ("@pdg_input.2", ["pdg_input"]),
    ],
)
def test_expansion_errors_name_node_item_and_parameter(item, text, words):
    with pytest.raises(ExpansionError) as caught:
        item.expand(text, parm="outfile")
    message = str(caught.value)
    for word in ["proc", "proc_3", "outfile", *words]:
        assert word in message, message


def test_pdg_output_without_outputs_is_an_error():
    with pytest.raises(ExpansionError) as caught:
        view(name="p_1", node="p").expand("@pdg_output", parm="target")
    assert "p_1" in str(caught.value) and "target" in str(caught.value)


def test_parm_expansion_in_a_real_cook(tmp_path):
    """``item.parm`` expands node parameters per item; the expanded path is where outputs go."""
    (tmp_path / "in").mkdir()
    (tmp_path / "in" / "a.txt").write_text("alpha beta\n")
    (tmp_path / "in" / "b.txt").write_text("gamma\n")
    graph = engine.Graph("expand", root=str(tmp_path))
    files = graph.file_pattern("files", "in/*.txt")

    @graph.python_processor("pos", upstream=files)
    def set_pos(item):
        item.set_attrib("pos", [item.index, 10 + item.index, 20])

    def write(item):
        out = Path(item.parm("out"))
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(item.parm("label") + "\n")
        item.add_output_file(out)
        item.set_attrib("label", item.parm("label"))
        item.set_attrib("count", item.parm("count"))  # non-string parameters pass through

    graph.python_processor(
        "write", upstream=[files], func=write,
        parms={"out": "out/@pdg_name.txt", "label": "@pdg_index:@pdg_input:\\@x", "count": 3},
    )

    def read_pos(item):
        item.set_attrib("label", item.parm("label"))

    graph.python_processor("readpos", upstream=set_pos, func=read_pos, parms={"label": "@pos.y/@pos.2/@pos"})
    summary, state = cook(graph, tmp_path)
    assert summary.status == "success", summary.failed_items
    written = sorted((i for i in state.items.values() if i.node == "write"), key=lambda i: i.inputs[0][0])
    assert [i.inputs[0][0] for i in written] == ["in/a.txt", "in/b.txt"]
    for item in written:
        expected_label = f"{item.index}:{item.inputs[0][0]}:@x"
        assert item.attrs["label"] == ["string", [expected_label]]
        assert item.attrs["count"] == ["int", [3]]
        assert [o[0] for o in item.outputs] == [f"out/{item.name}.txt"]
        assert item.outputs[0][1] == "file/text"
        assert (tmp_path / "out" / f"{item.name}.txt").read_text() == expected_label + "\n"
    for item in (i for i in state.items.values() if i.node == "readpos"):
        assert item.attrs["label"] == ["string", [f"{10 + item.index}/20/{item.index}"]]


def test_pdg_output_refers_to_an_output_the_item_reported(tmp_path):
    """Once a python processor's item reported an output file, ``@pdg_output`` is that file."""
    graph = engine.Graph("output", root=str(tmp_path))
    seed = graph.range_generate("seed", 1)

    def write(item):
        out = item.path(f"out/{item.name}.txt")
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text("x")
        item.add_output_file(f"out/{item.name}.txt")
        item.set_attrib("after", item.expand("@pdg_output", parm="after"))

    graph.python_processor("write", upstream=seed, func=write)
    summary, state = cook(graph, tmp_path)
    item = only(state, "write")
    assert summary.status == "success", item.error
    assert item.attrs["after"] == ["string", [f"out/{item.name}.txt"]]


def test_unknown_attribute_in_a_real_cook_fails_the_item_naming_node_item_and_parameter(tmp_path):
    graph = engine.Graph("unknown", root=str(tmp_path))
    seed = graph.range_generate("seed", 2)
    caught = []

    def use(item):
        try:
            item.parm("target")
        except ExpansionError as exc:
            caught.append(str(exc))
            raise

    graph.python_processor("use", upstream=seed, func=use, parms={"target": "out/@nosuch.txt"})
    summary, state = cook(graph, tmp_path)
    assert summary.status == "failed"
    failed = sorted((i for i in state.items.values() if i.node == "use"), key=lambda i: i.index)
    assert [i.state for i in failed] == ["cooked_fail", "cooked_fail"]
    for item in failed:
        assert "ExpansionError" in item.error
        for word in ("use", item.name, "target", "nosuch"):
            assert word in item.error, item.error
        assert "ExpansionError" in item.traceback
    assert len(caught) == 2 and all(isinstance(m, str) for m in caught)


def test_pdg_show_lists_attributes_in_counting_order(project):
    """a2 before a10, as people count: in the table and in --json's keys."""
    project.write("many.py", """
        from pdgstore.engine import Graph
        graph = Graph("many")

        @graph.python_processor("set", upstream=graph.range_generate("r", 1))
        def set_many(item):
            for i in (10, 2, 1, 0, 11):
                item.set_attrib(f"a{i}", i)
    """)
    assert project.pdg("cook", "many.py").exit_code == 0
    import json

    shown = json.loads(project.pdg("show", "set_1", "--json").stdout)
    names = [n for n in shown["item"]["attrs"] if n.startswith("a")]
    assert names == ["a0", "a1", "a2", "a10", "a11"]
    text = project.pdg("show", "set_1").stdout
    assert [text.index(f"a{i} ") for i in (0, 1, 2, 10, 11)] == sorted(text.index(f"a{i} ") for i in (0, 1, 2, 10, 11))
