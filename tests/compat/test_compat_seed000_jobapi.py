"""Seed 000 (Job API): its two samples, as job scripts in a real cook on the local scheduler."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest


def test_pdgjson_sample_reads_and_sets_attributes_of_its_item(example):
    ex = example("seed000")
    summary = ex.cook()
    assert summary.status == "success", summary
    items = ex.items("pdgjson_job")
    assert len(items) == 2
    for item in items:
        # work_item.setStringAttrib('runtime_attrib', 'test value', 0) reached the running item
        assert item.attrs["runtime_attrib"] == ["string", ["test value"]]
        assert item.attrs["myintattrib"] == ["int", [item.index]]  # what attribValue('myintattrib') read


def test_pdgcmd_sample_sets_an_attribute_with_the_smallest_fix(example):
    ex = example("seed000")
    assert ex.cook().status == "success"
    for item in ex.items("pdgcmd_job"):
        assert item.attrs["runtime_attrib"] == ["string", ["test value"]]


@pytest.mark.timeout(120)
def test_a_job_script_run_standalone_prints_every_report_pdgjson_and_pdgcmd_alike(project):
    """docs/jobapi.md, "Standalone": a job script tried by hand once a cook ran it prints every report,
    ``WorkItem.addOutputFile`` / ``addOutputFiles`` as ``pdgcmd.addOutputFile`` does."""
    project.write("job.py", """
import pdgcmd
from pdgjson import WorkItem

item = WorkItem.fromJobEnvironment()
item.setIntAttrib("x", 1)
item.addOutputFile("out/a.txt", "file/text")
item.addOutputFiles(["out/b.txt", "out/c.txt"], "file/text")
pdgcmd.addOutputFile("out/d.txt", result_data_tag="file/text")
""")
    project.write("out/a.txt", "a\\n")
    for name in "bcd":
        project.write(f"out/{name}.txt", name + "\\n")
    project.write("g.py", """
from pdgstore.engine import Graph

graph = Graph("g")
graph.python_script("job", graph.range_generate("n", 1), "job.py")
""")
    cooked = project.pdg_process("cook", "g.py")
    assert cooked.returncode == 0, cooked.stderr
    env = {"PATH": os.environ["PATH"], "PYTHONPATH": str(project.root / ".pdg/jobs/g/scripts"),
           "PDG_TEMP": str(project.root / ".pdg/jobs/g"), "PDG_ITEM_NAME": "job_1", "PDG_DISABLE_TIMESTAMPS": "1"}
    done = subprocess.run([sys.executable, "job.py"], env=env, cwd=project.root, capture_output=True, text=True,
                          timeout=60)
    assert done.returncode == 0, done.stderr
    item_id = json.loads(project.pdg_process("show", "job_1", "--json").stdout)["item"]["item_id"]
    assert done.stdout.splitlines() == [  # the work item reports by its id, pdgcmd by $PDG_ITEM_NAME
        f"PDG_SET_ATTRIB: {item_id};-1;x;[1]",
        f"PDG_RESULT: {item_id};-1;{project.root}/out/a.txt;file/text;0",
        f"PDG_RESULT_ARRAY: {item_id};-1;[2 files];[1 tag(s)]",
        f"PDG_RESULT: job_1;-1;{project.root}/out/d.txt;file/text;0",
    ]
