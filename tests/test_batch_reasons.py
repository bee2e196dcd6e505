"""A sub-item a batch's job appends (``appendSubItem``) is recorded with the reason its batch ran
for: ``pdg explain`` of it says which batch's job made it and goes on to the batch's first
sub-item, and from there to the root cause, as it does for a plain item, not "it is new" alone."""

from __future__ import annotations

import json

import pytest

GRAPH = """
from pdgstore.engine import Graph

graph = Graph("b")
frames = graph.range_generate("frames", 4)
graph.python_script("render", frames, "render.py", batch_size=2)
"""

JOB = """
import os
from pdgjson import WorkItem

batch = WorkItem.fromJobEnvironment()


def cook(sub):
    sub.startSubItem(wait=True)
    sub.setIntAttrib("squared", sub.attribValue("value") ** 2)
    sub.cookSubItem()


for sub in batch.batchItems:
    cook(sub)
if batch.attribValue("value") == 0:
    cook(batch.appendSubItem())
"""


def _explain(project, name: str) -> dict:
    result = project.pdg("explain", name, "--json")
    assert result.exit_code == 0, result.output
    return json.loads(result.output)


@pytest.mark.timeout(120)
def test_an_appended_sub_item_is_explained_by_its_batch(project):
    project.write("g.py", GRAPH)
    project.write("render.py", JOB)
    assert project.pdg("cook", "g.py").exit_code == 0
    names = [r["name"] for r in json.loads(project.pdg("items", "render", "--json").output)["items"]]
    [appended] = [n for n in names if n.count("_") == 2]  # render_2_5: beside the first batch's last
    first = _explain(project, appended)
    [step, batch_first] = first["chain"]
    assert step["action"] == "run" and step["reason"]["cause"] == "appended"
    assert step["reason"]["batch"] == "render_batch1" and batch_first["name"] == "render_1"
    assert "its batch render_batch1's job appended it" in step["text"], step["text"]
    assert batch_first["text"] == "render_1 ran in cook 1 because it is new"

    project.write("render.py", JOB + "# edited\n")  # every item runs again: the script changed
    assert project.pdg("cook", "g.py").exit_code == 0
    names = [r["name"] for r in json.loads(project.pdg("items", "render", "--json").output)["items"]]
    [appended] = [n for n in names if n.count("_") == 2]
    again = _explain(project, appended)
    plain = _explain(project, "render_1")
    assert [s["name"] for s in again["chain"]] == [appended, "render_1"]
    assert again["chain"][1] == plain["chain"][0]  # the reason the batch ran for, as render_1 says it
    assert plain["chain"][0]["reason"]["cause"] == "parm"
    shown = json.loads(project.pdg("show", appended, "--json").output)["item"]["history"]
    assert [h["state"] for h in shown][:3] == ["uncooked", "dirty", "scheduled"]
