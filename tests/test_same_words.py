"""What two commands say of the same thing, they say in the same words and the same shape: a key
named ``warnings`` is a list wherever it appears (a count is ``warning_count``); and ``pdg open``
of a file name several files have says how many, in a sentence that reads. (The generate-only
table and its ``--json``: tests/test_generate_words.py.)
"""

from __future__ import annotations

import json

import pytest

TWO_APPLES = """
import os
from pdgstore.engine import Graph

graph = Graph("fruit")
nums = graph.range_generate("nums", 1)

@graph.python_processor("count", upstream=nums)
def count(item):
    for folder in ("a", "b"):
        os.makedirs(folder, exist_ok=True)
        with open(folder + "/apple.txt", "w") as f:
            f.write(folder)
        item.add_output_file(folder + "/apple.txt")
"""

WARNS = """
from pdgstore.engine import Graph
graph = Graph("warns")
nums = graph.range_generate("nums", 2)
graph.python_processor("work", upstream=nums, func=lambda item: None)

def noisy(event):
    if event.type == "work_item_state_change" and event.current_state == "cooked_success":
        raise RuntimeError("no luck with " + event.work_item_id)

graph.on("work_item_state_change", noisy)
"""


@pytest.mark.timeout(60)
def test_open_of_a_name_several_files_have_says_how_many_and_which(project):
    project.write("fruit.py", TWO_APPLES)
    assert project.pdg("cook", "fruit.py").exit_code == 0
    proc = project.pdg_process("open", "count_1", "apple.txt", "--print")
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    assert proc.stderr.strip() == (
        "pdg: work item count_1 has 2 files named apple.txt (a/apple.txt, b/apple.txt): give its path"
    )
    assert project.pdg("open", "count_1", "b/apple.txt", "--print").exit_code == 0  # as told


@pytest.mark.timeout(60)
def test_warnings_is_a_list_in_every_json_and_a_count_is_warning_count(project):
    project.write("warns.py", WARNS)
    cooked = json.loads(project.pdg("cook", "warns.py", "--json").stdout)
    assert isinstance(cooked["warnings"], list) and len(cooked["warnings"]) == 2
    listed = json.loads(project.pdg("history", "--json").stdout)
    row = listed["cooks"][0]
    assert "warnings" not in row and row["warning_count"] == 2
    detail = json.loads(project.pdg("history", "1", "--json").stdout)["cook"]
    assert isinstance(detail["warnings"], list)
    assert [w["message"] for w in detail["warnings"]] == cooked["warnings"]  # the same sentences, with seq and time
