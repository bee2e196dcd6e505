"""Names, REFs and the store's reading: a cook reference that names no cook, a reversed range, a
removed item looked up in its own history, damaged stored text, and what pdg check counts; on
real stores made by real cooks."""

from __future__ import annotations

import json

import pytest
from conftest import Project, wide_in


def _cooked(project: Project, cooks: int) -> Project:
    """The W(N) graph cooked ``cooks`` times, one input changed before each recook."""
    wide = wide_in(project.root)
    for n in range(cooks):
        if n:
            wide.write("in/f0003.txt", f"changed {n}\n")
        assert wide.pdg("cook", "wide.py").exit_code == 0
    return wide


def _refused(project: Project, *args: str) -> str:
    """The one sentence ``pdg ARGS`` is refused with (exit code 2, no traceback)."""
    result = project.pdg_process(*args)
    assert result.returncode == 2, (result.returncode, result.stdout, result.stderr)
    assert "Traceback" not in result.stderr and len(result.stderr.strip().splitlines()) == 1, result.stderr
    return result.stderr


@pytest.mark.timeout(180)
def test_a_cook_ref_says_which_cook_is_missing_and_why(project):
    wide = _cooked(project, 3)
    assert "there is no cook 0" in _refused(wide, "status", "--at", "cook:0")  # never compacted
    assert wide.pdg("compact", "--keep-cooks", "1").exit_code == 0
    assert [c["cook_id"] for c in json.loads(wide.pdg("history", "--json").output)["cooks"]] == [1, 2, 3]
    # cook~1 is cook 2, whose events compaction folded away: said so, not "does not hold 2 cooks"
    assert "the events of cook 2 were folded away by pdg compact" in _refused(wide, "status", "--at", "cook~1")
    assert "does not hold 4 cooks (it holds 3)" in _refused(wide, "status", "--at", "cook~3")
    assert "there is no cook 0" in _refused(wide, "status", "--at", "cook:0")
    assert json.loads(wide.pdg("status", "--at", "cook~0", "--json").output)["at"]["cook_id"] == 3
