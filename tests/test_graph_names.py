"""Two graphs in one store (graph files that share a folder share ``.pdg/pdg.db``): every command
that takes a NODE or an ITEM takes it alone while one graph holds it, as ``GRAPH/NODE`` or
``GRAPH/ITEM`` always, and refuses a name two graphs hold, given alone, with the forms to type
(exit 2, nothing written): ``pdg dirty r`` once dirtied both graphs' items. Run as real ``pdg``
processes on a real store.
"""

from __future__ import annotations

import json

import pytest

pytestmark = pytest.mark.timeout(180)

BAD_INPUT = 2

#: the review's repro (graphs a and b, each with a node r), plus a processor that records each run
#: in runs.txt and writes an output file, and in b alone a node only_b
GRAPH_FILE = """\
from pdgstore.engine import Graph
graph = Graph("{name}")
r = graph.range_generate("r", 2)

@graph.python_processor("w", upstream=r)
def w(item):
    with open("runs.txt", "a") as f:
        f.write("{name}/" + item.name + "\\n")
    with open("out_{name}_" + item.name + ".txt", "w") as f:
        f.write("made")
    item.add_output_file("out_{name}_" + item.name + ".txt")
{extra}"""


@pytest.fixture
def two(project):
    project.write("a.py", GRAPH_FILE.format(name="a", extra=""))
    project.write("b.py", GRAPH_FILE.format(name="b", extra='graph.range_generate("only_b", 1)\n'))
    for graph in ("a.py", "b.py"):
        done = project.pdg_process("cook", graph)
        assert done.returncode == 0, done.stderr
    assert (project.root / "runs.txt").read_text().split() == ["a/w_1", "a/w_2", "b/w_1", "b/w_2"]
    (project.root / "runs.txt").write_text("")
    return project


def run(project, *args: str, code: int = 0):
    done = project.pdg_process(*args)
    assert done.returncode == code, (args, done.returncode, done.stdout, done.stderr)
    assert "Traceback" not in done.stderr, done.stderr
    return done


def events(project) -> list[str]:
    return run(project, "events", "--json").stdout.splitlines()


def refusal(project, *args: str) -> str:
    """The one line ``pdg ARGS`` is refused with (exit 2, stdout empty)."""
    done = run(project, *args, code=BAD_INPUT)
    lines = [line for line in done.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and not done.stdout.strip(), (args, done.stdout, done.stderr)
    return lines[0]


AMBIGUOUS = [
    (("items", "r"), "node r", "a/r or b/r"),
    (("dirty", "r"), "node r", "a/r or b/r"),
    (("dirty", "--remove-outputs", "w"), "node w", "a/w or b/w"),
    (("accept", "w"), "node w", "a/w or b/w"),
    (("history", "--node", "r"), "node r", "a/r or b/r"),
    (("show", "r_1"), "work item r_1", "a/r_1 or b/r_1"),
    (("show", "--at", "cook:2", "r_1"), "work item r_1", "a/r_1 or b/r_1"),
    (("explain", "r_1"), "work item r_1", "a/r_1 or b/r_1"),
    (("log", "w_1"), "work item w_1", "a/w_1 or b/w_1"),
    (("open", "--print", "w_1"), "work item w_1", "a/w_1 or b/w_1"),
    (("dirty", "w_1"), "work item w_1", "a/w_1 or b/w_1"),
    (("accept", "r_2"), "work item r_2", "a/r_2 or b/r_2"),
    (("history", "--item", "r_1"), "work item r_1", "a/r_1 or b/r_1"),
    (("events", "--item", "r_1"), "work item r_1", "a/r_1 or b/r_1"),
]


def test_a_name_two_graphs_hold_is_refused_by_every_command_and_nothing_is_written(two):
    before = events(two)
    for args, what, forms in AMBIGUOUS:
        line = refusal(two, *args)
        assert f"{what} is in 2 graphs of the store (a, b): give {forms}" in line, (args, line)
    assert events(two) == before
    assert (two.root / "runs.txt").read_text() == ""
    assert sorted(p.name for p in two.root.glob("out_*")) == [
        "out_a_w_1.txt",
        "out_a_w_2.txt",
        "out_b_w_1.txt",
        "out_b_w_2.txt",
    ]


def test_a_qualified_name_picks_one_graph_in_every_command(two):
    ids = {(r["graph"], r["name"]): r["item_id"] for r in json.loads(run(two, "items", "--json").stdout)["items"]}
    assert len(ids) == 9

    listed = run(two, "items", "a/r").stdout.splitlines()
    assert listed[0].split("\t")[:4] == ["item_id", "name", "graph", "node"]
    assert [line.split("\t")[:4] for line in listed[1:]] == [
        [ids["a", "r_1"], "r_1", "a", "r"],
        [ids["a", "r_2"], "r_2", "a", "r"],
    ]
    rows = json.loads(run(two, "items", "b/w", "--json").stdout)["items"]
    assert [(r["graph"], r["name"]) for r in rows] == [("b", "w_1"), ("b", "w_2")]

    shown = json.loads(run(two, "show", "b/r_1", "--json").stdout)["item"]
    assert (shown["graph"], shown["item_id"]) == ("b", ids["b", "r_1"])
    at = json.loads(run(two, "show", "--at", "cook:1", "a/r_2", "--json").stdout)["item"]
    assert (at["graph"], at["item_id"]) == ("a", ids["a", "r_2"])
    by_id = json.loads(run(two, "show", f"a/{ids['a', 'w_2']}", "--json").stdout)["item"]
    assert by_id["name"] == "w_2" and by_id["graph"] == "a"
    assert ids["a", "r_1"] in run(two, "explain", "a/r_1", "--json").stdout
    assert "no job log" in refusal(two, "log", "b/w_1")  # found: it ran in-process
    opened = json.loads(run(two, "open", "--print", "b/w_2", "--json").stdout)
    assert (opened["graph"], opened["item_id"], opened["file"]) == ("b", ids["b", "w_2"], "out_b_w_2.txt")

    cooks = json.loads(run(two, "history", "--node", "b/r", "--json").stdout)["cooks"]
    assert [(c["cook_id"], c["graph"]) for c in cooks] == [(2, "b")]
    cooks = json.loads(run(two, "history", "--item", "a/w_1", "--json").stdout)["cooks"]
    assert [(c["cook_id"], c["graph"]) for c in cooks] == [(1, "a")]
    about = [json.loads(line) for line in run(two, "events", "--item", "a/r_2", "--json").stdout.splitlines()]
    assert about and {(e["graph"], e["subject"]) for e in about} == {("a", ids["a", "r_2"])}

    changed = run(two, "diff", "cook:1").stdout.splitlines()  # what cook 2 (graph b) added
    assert changed[0].split("\t")[:4] == ["change", "name", "graph", "node"]
    assert sorted(line.split("\t")[2] + "/" + line.split("\t")[1] for line in changed[1:]) == [
        "b/only_b_1",
        "b/r_1",
        "b/r_2",
        "b/w_1",
        "b/w_2",
    ]


def test_a_name_one_graph_holds_needs_no_graph(two):
    rows = json.loads(run(two, "items", "only_b", "--json").stdout)["items"]
    assert [(r["graph"], r["name"]) for r in rows] == [("b", "only_b_1")]
    assert json.loads(run(two, "show", "only_b_1", "--json").stdout)["item"]["graph"] == "b"
    assert "only_b_1" in run(two, "explain", "only_b_1").stdout
    assert [c["cook_id"] for c in json.loads(run(two, "history", "--node", "only_b", "--json").stdout)["cooks"]] == [2]
    assert [c["cook_id"] for c in json.loads(run(two, "history", "--item", "only_b_1", "--json").stdout)["cooks"]] == [
        2
    ]
    assert run(two, "events", "--item", "only_b_1").stdout.count("\n") > 1
    dirtied = json.loads(run(two, "dirty", "only_b", "--json").stdout)
    assert [(i["graph"], i["name"]) for i in dirtied["items"]] == [("b", "only_b_1")]
    accepted = json.loads(run(two, "accept", "only_b_1", "--json").stdout)
    assert [(i["graph"], i["name"]) for i in accepted["items"]] == [("b", "only_b_1")]


def test_an_unknown_qualified_name_says_what_the_store_holds(two):
    assert refusal(two, "items", "zz/r").endswith("the store has no graph zz for node zz/r (its graphs: a, b)")
    assert refusal(two, "items", "a/only_b").endswith(
        "the store has no node a/only_b (its nodes: a/r, a/w, b/r, b/w, b/only_b)"
    )
    assert "(its nodes: a/r, a/w, b/r, b/w, b/only_b)" in refusal(two, "items", "nosuch")
    assert "(its graphs: a, b)" in refusal(two, "history", "--node", "zz/r")
    assert "no work item a/only_b_1" in refusal(two, "show", "a/only_b_1")
    assert "the store has no graph zz for work item zz/r_1 (its graphs: a, b)" in refusal(
        two, "events", "--item", "zz/r_1"
    )
    assert "no node or work item zz/r in the store (nodes: a/r, a/w, b/r, b/w, b/only_b)" in refusal(
        two, "dirty", "zz/r"
    )
    assert "a/only_b" in refusal(two, "accept", "a/only_b")


def test_dirty_of_one_graphs_node_reruns_that_graphs_items_alone(two):
    """The review's repro: ``pdg dirty a/r`` dirties graph a's r_1 and r_2, not b's, and only
    ``pdg cook a.py`` reruns them; ``pdg dirty b/w_1`` makes b's w_1 alone run again."""
    dirtied = json.loads(run(two, "dirty", "a/r", "--json").stdout)
    assert [(i["graph"], i["name"]) for i in dirtied["items"]] == [("a", "r_1"), ("a", "r_2")]
    states = {(r["graph"], r["name"]): r["state"] for r in json.loads(run(two, "items", "--json").stdout)["items"]}
    assert [key for key, state in states.items() if state == "dirty"] == [("a", "r_1"), ("a", "r_2")]

    b_cook = json.loads(run(two, "cook", "b.py", "--json").stdout)["items"]
    assert (b_cook["ran"], b_cook["updated"], b_cook["reused"]) == (0, 0, 5)
    a_cook = json.loads(run(two, "cook", "a.py", "--json").stdout)["items"]
    assert (a_cook["ran"], a_cook["updated"], a_cook["reused"]) == (0, 2, 2)  # w: what r makes is the same

    run(two, "dirty", "b/w_1")
    assert json.loads(run(two, "cook", "a.py", "--json").stdout)["items"]["ran"] == 0
    assert json.loads(run(two, "cook", "b.py", "--json").stdout)["items"]["ran"] == 1
    assert (two.root / "runs.txt").read_text().split() == ["b/w_1"]


def test_a_store_of_one_graph_keeps_its_columns_and_names(project):
    """Scripts written for a store of one graph see what they saw: no graph column, plain names."""
    project.write("a.py", GRAPH_FILE.format(name="a", extra=""))
    run(project, "cook", "a.py")
    listed = run(project, "items", "r").stdout.splitlines()
    assert listed[0].split("\t") == ["item_id", "name", "node", "index", "state", "outputs", "seconds"]
    assert len(listed) == 3
    assert refusal(project, "items", "nosuch").endswith("the store has no node nosuch (its nodes: r, w)")
    assert run(project, "diff", "0").stdout.splitlines()[0].split("\t")[:3] == ["change", "name", "node"]
    assert json.loads(run(project, "show", "a/w_2", "--json").stdout)["item"]["name"] == "w_2"


def test_events_say_their_graph_in_a_store_of_several(two):
    """``pdg events`` adds a graph column (after cook_id) once the store holds several graphs, as
    ``pdg items`` does; a store of one keeps its columns."""
    listed = [line.split("\t") for line in run(two, "events").stdout.splitlines()]
    assert listed[0] == ["seq", "time", "cook_id", "graph", "kind", "subject", "payload"]
    assert {row[3] for row in listed[1:]} == {"a", "b"}


def test_events_of_a_store_of_one_graph_keep_their_columns(project):
    project.write("a.py", GRAPH_FILE.format(name="a", extra=""))
    run(project, "cook", "a.py")
    header = run(project, "events").stdout.splitlines()[0].split("\t")
    assert header == ["seq", "time", "cook_id", "kind", "subject", "payload"]
