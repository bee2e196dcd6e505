"""``pdg stats`` counts the cooks the store remembers, folded or not, and lists kinds by events."""

from __future__ import annotations

import json

import pytest

GRAPH = "from pdgstore.engine import Graph\ngraph = Graph('g')\ngraph.range_generate('count', int(graph.parm('n', 3)))\n"


@pytest.mark.timeout(120)
def test_stats_after_compaction_counts_every_cook_history_lists(project):
    project.write("g.py", GRAPH)
    for n in (3, 4, 5, 6, 7):
        assert project.pdg("cook", "g.py", "--set", f"n={n}").exit_code == 0
    assert project.pdg("compact", "--keep-cooks", "2").exit_code == 0
    listed = json.loads(project.pdg("history", "--json").output)["cooks"]
    stats = json.loads(project.pdg("stats", "--json").output)
    assert stats["cooks"] == len(listed) == 5
    assert stats["cooks_with_events"] == 2
    events = [k["events"] for k in stats["kinds"]]
    assert events == sorted(events, reverse=True)  # by events, a batch of new items counting each
    text = project.pdg_process("stats").stdout
    assert "5 cooks (2 with their events; history before seq" in text
