"""Under ``--json`` a failing command tells its failure on stdout too, the same way for every
command: one JSON object (``schema``, ``status`` "error", ``error``, ``exit_code``) beside the one
``pdg: ...`` line on stderr, so a script that reads stdout hears every outcome. Run for real."""

from __future__ import annotations

import json

import pytest

pytestmark = pytest.mark.timeout(120)

GRAPH = """\
from pdgstore.engine import Graph
graph = Graph("g")
numbers = graph.range_generate("numbers", 2)
"""


@pytest.mark.parametrize(
    "args, words, code",
    [
        (("cook", "missing.py"), "graph file missing.py does not exist", 2),
        (("cook", "missing.py", "--dry-run"), "graph file missing.py does not exist", 2),
        (("status",), "no pdgstore database here", 2),
        (("items", "nope"), "nope", 2),
        (("show", "nope_1"), "nope_1", 2),
        (("history", "7"), "cook 7", 2),
        (("explain", "nope_1"), "nope_1", 2),
        (("schedule", "add", "missing.py", "--every", "1h"), "missing.py", 2),
    ],
)
def test_a_failure_under_json_is_one_json_object_on_stdout(project, args, words, code):
    if args[0] != "status":
        project.write("g.py", GRAPH)
        assert project.pdg_process("cook", "g.py").returncode == 0
    result = project.pdg_process(*args, "--json")
    assert result.returncode == code, (result.stdout, result.stderr)
    told = json.loads(result.stdout)
    assert told == {"schema": 2, "status": "error", "error": told["error"], "exit_code": code}
    assert words in told["error"], told
    assert result.stderr == f"pdg: {told['error']}\n"


def test_without_json_stdout_stays_empty(project):
    result = project.pdg_process("status")
    assert result.returncode == 2 and result.stdout == ""
