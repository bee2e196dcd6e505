"""A graph file that gives a node or a scheduler a parameter of the wrong type is refused where it
declares it: ``pdg cook`` says one sentence naming the file and line, the node (or scheduler) and
the parameter with what it takes, exits 2, and shows no traceback. So does a connection to an
unknown node, found only once the whole file has run: the line is the one that declared the node.
"""

from __future__ import annotations

import pytest
from pdgstore.engine import Graph, wedge_range, wedge_string
from pdgstore.engine.errors import GraphError

HEAD = "from pdgstore.engine import Graph, wedge_string\ngraph = Graph('g')\ngraph.range_generate('up', 2)\n"

#: what a user wrote on line 4 of m.py, and what the one line on stderr must say
REVIEWED = {
    "scheduler_slots": (
        'graph.scheduler("local", slots="x")',
        "pdg: m.py:4: scheduler local (local): slots is a whole number or None, not 'x'",
    ),
    "range_count": (
        'graph.range_generate("x", "ten")',
        "pdg: m.py:4: range generator x: count is a whole number >= 0, not 'ten'",
    ),
    "wedge_of_a_string_pattern": (
        'graph.wedge("t", attributes=[wedge_string("take", "@wedgeindex")])',
        "pdg: m.py:4: wedge t: give a wedge count (count=N): its attributes, take (a string pattern), "
        "do not say how many wedges to make (only a value list, wedge_values, does)",
    ),
    "unknown_upstream": (
        'graph.range_generate("r2", 2, upstream="zzz")',
        "pdg: m.py:4: node r2 is connected to unknown node zzz",
    ),
    "cycle": (
        'graph.range_generate("r2", 2, upstream="up")\ngraph.nodes["up"].inputs.append("r2")',
        "pdg: m.py:3: graph g has a cycle: up -> r2 -> up",
    ),
    "handler_of_an_unknown_node": (
        'graph.on("cook_complete", lambda event: None, node="zzz")',
        "pdg: m.py:4: a cook_complete handler is registered for unknown node zzz",
    ),
    "unknown_scheduler_parameter": (
        'graph.scheduler("farm", "local", slot=2)',
        "pdg: m.py:4: scheduler farm (local) has no parameter slot (its parameters: slots, ",
    ),
}


@pytest.mark.timeout(60)
@pytest.mark.parametrize("case", list(REVIEWED))
def test_pdg_cook_names_the_line_the_node_and_the_parameter(project, case):
    line, said = REVIEWED[case]
    project.write("m.py", HEAD + line + "\n")
    proc = project.pdg_process("cook", "m.py")
    assert proc.returncode == 2, proc.stderr
    assert "Traceback" not in proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(said), proc.stderr
    assert not proc.stdout.strip()
    assert not project.db.exists()


#: (method, keyword arguments but the one under test, the parameter, a value of the wrong type)
WRONG = [
    ("range_generate", {}, "count", "ten"),
    ("range_generate", {}, "count", 2.5),
    ("range_generate", {}, "count", True),
    ("range_generate", {"count": 3}, "start", "a"),
    ("range_generate", {"count": 3}, "step", "a"),
    ("range_generate", {"count": 3}, "attribute", 5),
    ("range_generate", {}, "values", 5),
    ("wedge", {}, "count", "3"),
    ("wedge", {}, "attributes", 5),
    ("frame_range", {}, "start", "1"),
    ("frame_range", {}, "end", None),
    ("frame_range", {}, "attribute", 3),
    ("file_pattern", {}, "pattern", 3),
    ("file_pattern", {"pattern": "*.txt"}, "tag", 3),
    ("partition_by_range", {"upstream": "up"}, "size", "2"),
    ("partition_by_range", {"upstream": "up"}, "start", "2"),
    ("partition_by_range", {"upstream": "up"}, "end", "2"),
    ("partition_by_range", {"upstream": "up"}, "attribute", 2),
    ("partition_by_combination", {"upstream": "up"}, "seed", "x"),
    ("partition_by_combination", {"upstream": "up"}, "keep_percentage", "x"),
    ("partition_by_attribute", {"upstream": "up"}, "attribute", 5),
    ("partition_by_attribute", {"upstream": "up", "attribute": "a"}, "range_size", "x"),
    ("partition_by_frame", {"upstream": "up"}, "split_by_attribute", 5),
    ("split", {"upstream": "up"}, "count", "x"),
    ("sort", {"upstream": "up"}, "attributes", 5),
    ("attribute_delete", {"upstream": "up"}, "patterns", 5),
    ("attribute_promote", {"upstream": "up"}, "attribute", 5),
    ("attribute_array", {"upstream": "up", "operation": "append"}, "attribute", 5),
    ("command", {"upstream": "up", "command": "echo"}, "env", 5),
    ("command", {"upstream": "up", "command": "echo"}, "env_attribs", 5),
    ("command", {"upstream": "up", "command": "echo"}, "cache_mode", 5),
    ("command", {"upstream": "up", "command": "echo"}, "expected_outputs", 5),
    ("command", {"upstream": "up", "command": "echo"}, "batch_size", "2"),
    ("python_script", {"upstream": "up"}, "script", 5),
    ("python_script", {"upstream": "up", "script": "s.py"}, "args", 5),
]


@pytest.mark.timeout(30)
@pytest.mark.parametrize(("method", "given", "parm", "value"), WRONG, ids=[f"{w[0]}-{w[2]}-{w[3]!r}" for w in WRONG])
def test_a_parameter_of_the_wrong_type_is_refused_naming_node_and_parameter(method, given, parm, value):
    graph = Graph("g")
    graph.range_generate("up", 2)
    with pytest.raises(GraphError) as refused:
        getattr(graph, method)("node_x", **{**given, parm: value})
    said = str(refused.value)
    assert "node_x" in said and parm.replace("_", " ") in said.replace("_", " ") and repr(value) in said, said
    assert "node_x" not in graph.nodes


@pytest.mark.timeout(30)
@pytest.mark.parametrize(
    ("parm", "value", "takes"),
    [
        ("slots", "x", "a whole number or None"),
        ("slots", 2.5, "a whole number or None"),
        ("timeout", "5", "a number or None"),
        ("tick_period", "x", "a number"),
        ("max_retries", True, "a whole number"),
        ("exit_codes", 5, "a dict or None"),
        ("on_timeout", 1, "a string"),
    ],
)
def test_a_scheduler_parameter_of_the_wrong_type_is_refused(parm, value, takes):
    with pytest.raises(GraphError) as refused:
        Graph("g").scheduler("farm", "local", **{parm: value})
    assert str(refused.value) == f"scheduler farm (local): {parm} is {takes}, not {value!r}"


@pytest.mark.timeout(30)
def test_parameters_of_the_right_type_still_make_their_nodes(tmp_path):
    graph = Graph("g", root=str(tmp_path))
    graph.scheduler("farm", "local", slots=2, timeout=5, working_dir=tmp_path, max_memory_mb=100)
    graph.range_generate("r", 3, start=0.5, step=2)
    graph.range_generate("v", values=(1, 2))
    graph.wedge("w", attributes=(wedge_range("a", 0, 1),), count=2)
    graph.wedge("s", attributes=[wedge_range("a", 0, 1), wedge_string("b", "x@a")], count=2)
    graph.frame_range("f", "r", start=1, end=2.5, step=0.5)
    graph.partition_by_attribute("p", "r", ["value"])
    graph.command("c", "r", ["echo", 1], env={"A": 1}, env_attribs="value", expected_outputs="out/@pdg_name.txt")
    graph.validate()
    assert set(graph.nodes) == {"r", "v", "w", "s", "f", "p", "c"}
