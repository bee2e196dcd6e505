"""A python_script node's recorded definition does not depend on where the project is (review 6,
defect 4): it names its script as the graph does, relative to the graph's folder, so a project moved
or copied elsewhere reuses its items; the job still runs the script by its absolute path, in its new
place. A store an earlier pdgstore wrote named the script by its absolute path: the first cook signs
each item again under the definition as it is now, without running it, and ``pdg explain`` says so.

The cooks are real ``pdg`` processes. The old form is the definition the code before recorded: its
``command`` began with the script's absolute path (``os.path.join(root, script)``); the graph file
of the first cook writes it so (``OLD_FORM``).
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from conftest import Project
from pdgstore.engine.incremental import decide
from pdgstore.engine.incremental.signatures import item_signature, node_changes, node_fingerprint

pytestmark = pytest.mark.timeout(120)

GRAPH = """
from pdgstore.engine import Graph

graph = Graph("g")
files = graph.file_pattern("files", "in/*.txt")
up = graph.python_script("up", files, "job.py", args=["--tag", "x"])
"""
#: what the code before this fix recorded as the node's command: the script's absolute path first
OLD_FORM = "up.words[0] = up.script_path\n"

JOB = """
import os, sys
from pdgjson import WorkItem

item = WorkItem.fromJobEnvironment()
src = item.inputFiles[0].path
os.makedirs("out", exist_ok=True)
dst = os.path.join("out", item.name + ".txt")
with open(dst, "w") as f:
    f.write(open(src).read().upper() + __file__ + " " + " ".join(sys.argv[1:]) + "\\n")
item.addOutputFile(os.path.abspath(dst))
"""


def made(root: Path, old_form: bool = False) -> Project:
    project = Project(root)
    project.write("g.py", GRAPH + (OLD_FORM if old_form else ""))
    project.write("job.py", JOB)
    for i in range(3):
        project.write(f"in/f{i}.txt", f"text {i}\n")
    return project


def cook(project: Project, *extra: str) -> dict:
    done = project.pdg_process("cook", "g.py", "--json", *extra)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)["items"]


def explain(project: Project, name: str) -> str:
    done = project.pdg_process("explain", name)
    assert done.returncode == 0, done.stderr
    return done.stdout.strip()


@pytest.mark.parametrize("how", ["move", "copy"])
def test_a_moved_or_copied_project_reuses_its_script_items_and_runs_the_script_where_it_is(tmp_path, how):
    first = made(tmp_path / "first")
    assert cook(first)["ran"] == 3
    assert (first.root / "out" / "up_1.txt").read_text() == f"TEXT 0\n{first.root / 'job.py'} --tag x\n"
    there = tmp_path / "elsewhere" / "moved"
    there.parent.mkdir()
    if how == "move":
        shutil.move(first.root, there)
    else:
        shutil.copytree(first.root, there, symlinks=True)  # copy2: the files keep their mtimes
    moved = Project(there)
    counts = cook(moved)
    assert (counts["ran"], counts["updated"], counts["reused"]) == (0, 0, 6), counts
    assert explain(moved, "up_1") == "up_1 was reused in cook 2: nothing it depends on changed since cook 1"
    assert moved.pdg_process("dirty", "up_2").returncode == 0  # forced: its job runs the script here
    counts = cook(moved)
    assert (counts["ran"], counts["reused"]) == (1, 5), counts
    assert (there / "out" / "up_2.txt").read_text() == f"TEXT 1\n{there / 'job.py'} --tag x\n"
    assert explain(moved, "up_2") == "up_2 ran in cook 3 because it was dirtied by hand (pdg dirty)"


def resigned(name: str, was: Path) -> str:
    return (
        f"{name} was recorded again in cook 2 without running: node up names its script job.py relative to"
        f" the graph's folder, where an earlier pdgstore recorded {was}: the same script, so its results stand"
    )


def test_a_store_that_recorded_the_absolute_path_signs_its_items_again_without_running_them(tmp_path):
    old = made(tmp_path / "p", old_form=True)
    assert cook(old)["ran"] == 3
    old.write("g.py", GRAPH)  # this pdgstore's definition, the same script
    old.write("in/f1.txt", "changed\n")  # and one input changed meanwhile: that item runs for it
    dry = old.pdg_process("cook", "g.py", "--dry-run")
    assert dry.returncode == 0, dry.stderr
    assert "update\tup_1\tup\tclean\tnode up names its script job.py relative" in dry.stdout, dry.stdout
    counts = cook(old)
    assert (counts["ran"], counts["updated"]) == (1, 3), counts  # up_2 ran; up_1, up_3 and files_2 updated
    assert explain(old, "up_1") == resigned("up_1", old.root / "job.py")
    assert explain(old, "up_3") == resigned("up_3", old.root / "job.py")
    assert explain(old, "up_2").startswith("up_2 ran in cook 2 because its input in/f1.txt changed")
    assert (old.root / "out" / "up_1.txt").read_text() == f"TEXT 0\n{old.root / 'job.py'} --tag x\n"  # kept
    chain = json.loads(old.pdg_process("explain", "up_1", "--json").stdout)["chain"]
    assert [(s["action"], s["reason"]["cause"]) for s in chain] == [("update", "script_named")]
    counts = cook(old)  # signed under the definition as it is now: nothing left to do
    assert (counts["ran"], counts["updated"], counts["reused"]) == (0, 0, 6), counts
    assert old.pdg_process("check").returncode == 0


def test_an_old_store_moved_elsewhere_is_signed_again_too(tmp_path):
    old = made(tmp_path / "was", old_form=True)
    assert cook(old)["ran"] == 3
    shutil.move(old.root, tmp_path / "now")
    moved = Project(tmp_path / "now")
    moved.write("g.py", GRAPH)
    counts = cook(moved)
    assert (counts["ran"], counts["updated"], counts["reused"]) == (0, 3, 3), counts
    assert explain(moved, "up_2") == resigned("up_2", tmp_path / "was" / "job.py")
    assert cook(moved)["reused"] == 6


def test_an_old_store_whose_script_changed_too_reruns_for_the_script(tmp_path):
    """The definition changed beyond how it names its script: the items run, for that change (not
    for the path, which is no change)."""
    old = made(tmp_path / "p", old_form=True)
    assert cook(old)["ran"] == 3
    old.write("g.py", GRAPH)
    old.write("job.py", JOB + "# edited\n")
    assert cook(old)["ran"] == 3
    assert explain(old, "up_1").startswith("up_1 ran in cook 2 because parameter script_hash of up changed")


# -- the rule, without a cook ------------------------------------------------------------------------
def node(command: list, script: str = "job.py", script_hash: str = "h1", type_name: str = "python_script") -> dict:
    parms = {"command": command, "expected_outputs": [], "env_attribs": [], "env": {}}
    if type_name == "python_script":
        parms.update(script=script, script_hash=script_hash)
    return {"name": "up", "type": type_name, "inputs": ["files"], "parms": parms}


def test_only_a_script_named_by_its_absolute_path_under_a_folder_is_no_change():
    old = node(["/old/project/job.py", "--tag", "x"])
    reason = node_changes([old], [node(["job.py", "--tag", "x"])])["up"]
    assert reason["cause"] == "script_named" and reason["recorded_fp"] == node_fingerprint(old)
    assert (reason["old"], reason["new"]) == ("/old/project/job.py", "job.py")
    assert not decide.redefines(reason) and decide.stale_reason(_Done("s"), reason) is None

    def change(before: dict, after: dict) -> tuple:
        r = node_changes([before], [after])["up"]
        return r["cause"], r.get("parm"), r.get("old"), r.get("new")

    # anything else changed is named, as the definition names its script now
    assert change(old, node(["job.py", "--tag", "y"])) == (
        "parm",
        "command",
        ["job.py", "--tag", "x"],
        ["job.py", "--tag", "y"],
    )
    assert change(old, node(["job.py", "--tag", "x"], script_hash="h2")) == ("parm", "script_hash", "h1", "h2")
    # another script of the same name, or a path the graph named itself, now another: a change
    assert change(node(["/old/project/myjob.py"]), node(["job.py"]))[:2] == ("parm", "command")
    assert change(node(["/old/job.py"], script="/old/job.py"), node(["job.py"]))[:2] == ("parm", "script")
    # a command node's words are the user's
    assert change(node(["/p/job.py"], type_name="command"), node(["job.py"], type_name="command"))[:2] == (
        "parm",
        "command",
    )
    assert node_changes([node(["job.py"])], [node(["job.py"])]) == {}


class _Done:
    """A finished record, as ``decide`` reads one."""

    def __init__(self, signature: str, state: str = "cooked_success") -> None:
        self.item_id, self.name, self.index, self.signature, self.state = "i", "up_1", 1, signature, state
        self.reason, self.outputs, self.duration_ns, self.started_ns = {}, [["out/up_1.txt", "file"]], 5, 1
        self.attrs, self.inputs, self.parents = {}, [], []


class _Hit:
    hit, reason, records = True, None, [["out/up_1.txt", "file", 4, 9, "h"]]


def test_an_item_signed_under_the_recorded_definition_is_signed_again_else_it_runs():
    old = node(["/old/project/job.py"])
    reason = node_changes([old], [node(["job.py"])])["up"]
    new = {"item_id": "i", "name": "up_1", "index": 1, "attrs": {}, "inputs": [], "parents": []}
    as_recorded = item_signature(node_fingerprint(old), {}, [])
    decision = decide.work(
        _Done(as_recorded), new, mode="automatic", signature="now", node_reason=reason, expected=[], check=_Hit()
    )
    assert decision.action == decide.UPDATE and decision.result is not None
    assert decision.result["signature"] == "now" and decision.result["state"] == "cooked_success"
    assert decision.result["reason"] == {k: v for k, v in reason.items() if k != "recorded_fp"}
    # made from other inputs (or under another definition): it runs, for what changed
    other = decide.work(_Done("other"), new, mode="automatic", signature="now", node_reason=reason, expected=[])
    assert other.action == decide.RUN and other.reason["cause"] == "upstream"
