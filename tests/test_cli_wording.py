"""Sentences the CLI says about a point in the past, and counts with their nouns."""

from __future__ import annotations

import json

import pytest
from pdgstore.cli import render

GRAPH = "from pdgstore.engine import Graph\ngraph = Graph('g')\ngraph.range_generate('count', 3)\n"


@pytest.mark.timeout(60)
def test_status_at_a_point_inside_a_cook_says_the_cook_was_running_then(project):
    """``pdg status --at SEQ`` inside a cook that has since ended said it "is running"."""
    project.write("g.py", GRAPH)
    assert project.pdg("cook", "g.py").exit_code == 0
    past = project.pdg_process("status", "--at", "3")
    assert past.returncode == 0, past.stderr
    assert "cook 1 of g was running then (pid " in past.stderr
    assert "is running" not in past.stderr
    now = project.pdg_process("status")
    assert "running" not in now.stderr


@pytest.mark.timeout(10)
def test_a_count_names_its_noun_in_the_singular_for_one():
    assert render.count(1, "due time") == "1 due time"
    assert render.count(0, "schedule") == "0 schedules"
    assert render.count(3, "cook") == "3 cooks"


AHEAD = """from pdgstore.engine import Graph
graph = Graph('g')
r = graph.range_generate('r', 2)
c = graph.command('c', r, 'true')
w = graph.wait_for_all('w', c)
graph.command('after', w, 'true')
"""


@pytest.mark.timeout(120)
def test_show_says_an_item_generated_ahead_was_generated_again_not_uncooked_twice(project):
    """An item made ahead of its partition's members and remade once they cooked has two
    ``WorkItemGenerated`` events: ``pdg show`` said "uncooked" twice, as if two things happened alike."""
    project.write("g.py", AHEAD)
    assert project.pdg("cook", "g.py").exit_code == 0
    history = json.loads(project.pdg("show", "after_1", "--json").output)["item"]["history"]
    uncooked = [h for h in history if h["state"] == "uncooked"]
    assert len(uncooked) == 2
    assert uncooked[0]["message"] is None
    assert uncooked[1]["message"] == "generated again: its record remade from its parents"


@pytest.mark.timeout(120)
def test_status_leaves_out_a_node_the_graph_dropped_once_its_items_are_removed(project):
    project.write("g.py", AHEAD)
    assert project.pdg("cook", "g.py").exit_code == 0
    project.write("g.py", AHEAD.replace("graph.command('after', w, 'true')\n", ""))
    assert project.pdg("cook", "g.py").exit_code == 0
    nodes = [r["node"] for r in json.loads(project.pdg("status", "--json").output)["nodes"]]
    assert nodes == ["r", "c", "w"]
    assert "after" not in project.pdg_process("status").stdout


@pytest.mark.timeout(60)
def test_events_into_a_pipe_print_each_payload_of_a_graph_whole(project):
    """``pdg events | grep`` missed what lay past a payload's 160th character."""
    project.write("g.py", AHEAD)
    assert project.pdg("cook", "g.py").exit_code == 0
    piped = project.pdg_process("events", "--kind", "GraphLoaded")
    assert piped.returncode == 0, piped.stderr
    payload = piped.stdout.splitlines()[1].split("\t")[-1]
    assert len(payload) > 160 and not payload.endswith("...")
    assert '"name":"after"' in payload  # the last node, far past the cut
