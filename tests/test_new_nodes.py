"""A node added to a graph that has cooked (or renamed in it) gets its items at the next cook.

Review 5, defect 1: a new node was missing from ``signatures.node_changes`` (only nodes whose
definition differs were named), so a recook proved a no-op with the new node empty (``noop``'s
``may_be_empty``, the no-op manifest's scan) or walked only the items recorded (the delta walk,
which makes no children of parents it reuses), and said it succeeded. Each test here cooks a graph
with the real ``pdg``, adds a node, cooks again and checks: the new node's items exist with their
attributes, only they ran (the cook's ``--json`` counts), ``pdg explain`` names the new node, and a
second recook changes nothing.
"""

from __future__ import annotations

import json

from pdgstore.engine.incremental.signatures import node_changes

HEAD = """\
from pdgstore.engine import Graph
graph = Graph("g")
r = graph.range_generate("r", 4)
"""

USE = """
@graph.python_processor("use", upstream=r)
def use(item):
    item.set_attrib("twice", item["value"] * 2)
"""


def cook(project, *args: str) -> dict:
    """``pdg cook g.py ARGS --json`` as a real process: its item counts."""
    done = project.pdg_process("cook", "g.py", *args, "--json")
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)["items"]


def counts(ran=0, updated=0, reused=0, removed=0) -> dict:
    return {"ran": ran, "cached": 0, "updated": updated, "reused": reused, "failed": 0, "cancelled": 0, "removed": removed}


def attrs(project, name: str) -> dict:
    """The attributes of item ``name`` (``pdg show --json``), each as its first value."""
    done = project.pdg_process("show", name, "--json")
    assert done.returncode == 0, done.stderr
    return {k: v["values"][0] for k, v in json.loads(done.stdout)["item"]["attrs"].items()}


def totals(project) -> dict:
    """Items per node (``pdg items --json``)."""
    done = project.pdg_process("items", "--json")
    assert done.returncode == 0, done.stderr
    found: dict = {}
    for item in json.loads(done.stdout)["items"]:
        found[item["node"]] = found.get(item["node"], 0) + 1
    return found


def explain(project, name: str) -> str:
    done = project.pdg_process("explain", name)
    assert done.returncode == 0, done.stderr
    return done.stdout.splitlines()[0]


def unchanged_after(project, items: int) -> None:
    """A second recook runs nothing and reuses all ``items``; a dry run agrees."""
    assert cook(project) == counts(reused=items)
    plan = project.pdg_process("cook", "g.py", "--dry-run", "--json")
    assert json.loads(plan.stdout)["items"] == [], plan.stdout


def test_a_new_python_processor_runs_its_items_and_nothing_else(project):
    project.write("g.py", HEAD)
    assert cook(project) == counts(updated=4)
    project.write("g.py", HEAD + USE)
    plan = json.loads(project.pdg_process("cook", "g.py", "--dry-run", "--json").stdout)
    assert [(row["name"], row["action"], row["why"]) for row in plan["items"]][0] == (
        "use_1",
        "run",
        "node use is new in the graph",
    )
    assert cook(project) == counts(ran=4, reused=4)
    assert [attrs(project, f"use_{i + 1}")["twice"] for i in range(4)] == [0, 2, 4, 6]
    assert explain(project, "use_2") == "use_2 ran in cook 2 because node use is new in the graph"
    unchanged_after(project, 8)


def test_a_new_attribute_node_and_filter_make_their_items(project):
    project.write("g.py", HEAD)
    cook(project)
    project.write(
        "g.py",
        HEAD
        + 'ac = graph.attribute_create("ac", r, {"label": "x@value"})\n'
        + 'odd = graph.filter_by_expression("odd", r, lambda item: item["value"] % 2 == 1)\n',
    )
    assert cook(project) == counts(updated=6, reused=4)
    assert totals(project) == {"r": 4, "ac": 4, "odd": 2}
    assert attrs(project, "ac_3") == {"label": "x2", "value": 2}
    assert attrs(project, "odd_2")["value"] == 1
    assert explain(project, "ac_1") == "ac_1 was updated in cook 2 because node ac is new in the graph"
    unchanged_after(project, 10)


def test_a_renamed_processor_makes_its_items_under_the_new_name(project):
    project.write("g.py", HEAD + USE)
    assert cook(project) == counts(ran=4, updated=4)
    project.write("g.py", HEAD + USE.replace('"use"', '"use2"'))
    assert cook(project) == counts(ran=4, reused=4, removed=4)
    assert totals(project) == {"r": 4, "use2": 4}
    assert attrs(project, "use2_4")["twice"] == 6
    assert explain(project, "use2_1") == "use2_1 ran in cook 2 because node use2 is new in the graph"
    unchanged_after(project, 8)


def test_a_node_inserted_in_a_chain_feeds_the_node_below_it(project):
    """``m`` between ``use`` and ``q``: ``q``'s items are made again from ``m``'s (its parents are
    new), ``r`` and ``use`` are reused."""
    below = """
@graph.python_processor("q", upstream={up})
def q(item):
    item.set_attrib("q", item["twice"] + 1)
"""
    project.write("g.py", HEAD + USE + below.format(up="use"))
    assert cook(project) == counts(ran=8, updated=4)
    project.write("g.py", HEAD + USE + 'm = graph.attribute_create("m", use, {"label": "mid"})\n' + below.format(up="m"))
    assert cook(project) == counts(ran=4, updated=4, reused=8, removed=4)
    assert totals(project) == {"r": 4, "use": 4, "m": 4, "q": 4}
    assert attrs(project, "q_2") == {"value": 1, "twice": 2, "label": "mid", "q": 3}
    assert explain(project, "m_1") == "m_1 was updated in cook 2 because node m is new in the graph"
    unchanged_after(project, 16)


def test_a_new_node_below_a_partition(project):
    project.write("g.py", HEAD + USE + 'w = graph.wait_for_all("w", use)\n')
    cook(project)
    after = """
@graph.python_processor("after", upstream=w)
def after(item):
    item.set_attrib("n", item["twice"] + 100)
"""
    project.write("g.py", HEAD + USE + 'w = graph.wait_for_all("w", use)\n' + after)
    assert cook(project) == counts(ran=1, reused=9)
    assert attrs(project, "after_1")["n"] == 100  # the first member's twice
    unchanged_after(project, 10)


def test_a_new_node_out_of_a_cook_of_one_node_is_made_by_the_next_whole_cook(project):
    """``pdg cook g.py r`` records the graph with ``ac`` but does not cook it: the next cook of the
    graph does, having no proof it is consistent; a cook of ``ac`` itself makes its items."""
    project.write("g.py", HEAD)
    cook(project)
    project.write("g.py", HEAD + 'ac = graph.attribute_create("ac", r, {"label": "x"})\n' + USE)
    assert cook(project, "r") == counts(reused=4)
    assert totals(project) == {"r": 4}
    assert cook(project, "ac") == counts(updated=4, reused=4)
    assert cook(project) == counts(ran=4, reused=8)
    assert totals(project) == {"r": 4, "ac": 4, "use": 4}
    assert attrs(project, "ac_1")["label"] == "x"
    unchanged_after(project, 12)


def test_a_new_node_over_an_empty_node_makes_nothing_and_says_so_once(project):
    head = HEAD + 'none = graph.filter_by_expression("none", r, lambda item: False)\n'
    project.write("g.py", head)
    cook(project)
    project.write("g.py", head + 'e = graph.attribute_create("e", none, {"label": "e"})\n')
    assert cook(project) == counts(reused=4)
    assert totals(project) == {"r": 4}
    unchanged_after(project, 4)


def test_node_changes_names_a_node_the_last_definitions_lack():
    """The first cook has no definitions before it: its nodes are not changes (every item is new)."""
    r = {"name": "r", "type": "range_generate", "inputs": [], "parms": {"count": 2}}
    ac = {"name": "ac", "type": "attribute_create", "inputs": ["r"], "parms": {}}
    assert node_changes([], [r, ac]) == {}
    assert node_changes([r], [r, ac]) == {"ac": {"cause": "new", "node": "ac", "cache_state": "dirty_new"}}
