"""``pdg cook`` never drops a warning without a word (more tests of what ``pdg history`` and
``pdg diff`` count follow)."""

from __future__ import annotations

import json
import os
import shutil

import pytest


def _json(result) -> dict:
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


WARNS = """
from pdgstore.engine import Graph
graph = Graph("w")
nums = graph.range_generate("nums", 20)
graph.attribute_promote("promoted", nums, "images")  # no item has an output file: 20 warnings
"""


@pytest.mark.timeout(120)
def test_the_cook_summary_says_how_many_warnings_it_left_out(project):
    project.write("w.py", WARNS)
    for args, where in (
        (("--dry-run",), "--json lists them all"),
        ((), "pdg history 1"),
        (("--generate-only",), "pdg history 1"),  # in a new store
    ):
        if os.path.exists(project.db):
            assert len(_json(project.pdg("history", "1", "--json"))["cook"]["warnings"]) == 20
            shutil.rmtree(project.db.parent)
        result = project.pdg_process("cook", "w.py", *args)
        assert result.returncode == 0, result.stderr
        assert result.stderr.count("  warning: attribute promote promoted") == 5, result.stderr
        assert f"  ... and 15 more warnings ({where})" in result.stderr
