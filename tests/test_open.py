"""``pdg open``: a work item's file opens with the viewer its tag (or a tag above it) was given by a
types plugin, else its folder with the system's opener; and ``pdg show`` names that viewer."""

from __future__ import annotations

import json
import shlex
import sys
import time

GRAPH = '''
import json
import os
from pdgstore.engine import Graph

graph = Graph("shapes")
files = graph.file_pattern("files", "in/*.txt")

@graph.python_processor("measure", upstream=files)
def measure(item):
    os.makedirs("out", exist_ok=True)
    out = "out/" + item.input_path.stem + ".json"
    with open(out, "w") as f:
        json.dump({"size": len(item.input_path.read_text())}, f)
    item.add_output_file(out)
'''

VIEWER = '''
import sys
with open(sys.argv[1], "w") as f:
    f.write("\\n".join(sys.argv[2:]))
'''


def _project(project, viewer: str | None = None):
    project.write("shapes.py", GRAPH)
    project.inputs(2)
    if viewer is not None:  # PDG's own names, as a PDG types plugin would call them
        project.write("pdg/types/viewers.py", f"def registerTypes(registry):\n"
                                              f"    registry.addTagViewer('file/text', {viewer!r})\n")
    assert project.pdg("cook", "shapes.py").exit_code == 0
    return project


def test_a_file_opens_with_the_viewer_of_its_tag_or_a_tag_above_it(project):
    _project(project, "myviewer --fast")
    result = project.pdg("open", "measure_1", "--print")  # out/f0000.json is file/text/json
    assert result.exit_code == 0, result.output
    assert shlex.split(result.stdout) == ["myviewer", "--fast", str(project.root / "out" / "f0000.json")]
    result = project.pdg("open", "measure_1", "f0000.txt", "--json", "--print")  # an input, by name
    got = json.loads(result.stdout)
    assert got["file"] == "in/f0000.txt" and got["tag"] == "file/text" and got["viewer"] == "myviewer --fast"
    assert got["command"][-1] == str(project.root / "in" / "f0000.txt") and got["opened"] is False


def test_without_a_viewer_the_folder_opens_with_the_systems_opener(project):
    _project(project)
    got = json.loads(project.pdg("open", "measure_2", "--json", "--print").stdout)
    opener = {"darwin": "open"}.get(sys.platform, "explorer" if sys.platform == "win32" else "xdg-open")
    assert got["viewer"] is None and got["command"] == [opener, str(project.root / "out")]


def test_the_viewer_really_starts_with_the_file(project, tmp_path):
    script = tmp_path / "viewer.py"
    script.write_text(VIEWER)
    marker = tmp_path / "opened.txt"
    _project(project, f"{shlex.quote(sys.executable)} {shlex.quote(str(script))} {shlex.quote(str(marker))}")
    result = project.pdg_process("open", "measure_1")
    assert result.returncode == 0, result.stderr
    assert "opened out/f0000.json with" in result.stderr
    deadline = time.monotonic() + 10
    while not marker.exists() or not marker.read_text():
        assert time.monotonic() < deadline, "the viewer did not start"
        time.sleep(0.05)
    assert marker.read_text() == str(project.root / "out" / "f0000.json")


def test_pdg_show_names_each_files_viewer(project):
    _project(project, "myviewer")
    item = json.loads(project.pdg("show", "measure_1", "--json").stdout)["item"]
    assert [f["viewer"] for f in item["outputs"]] == ["myviewer"]
    assert "viewer: myviewer" in project.pdg("show", "measure_1").stdout


def test_what_cannot_be_opened_is_one_sentence(project):
    _project(project, "no-such-viewer-anywhere")
    result = project.pdg_process("open", "measure_1", "nothing.png")
    assert result.returncode == 2
    assert result.stderr.strip() == ("pdg: work item measure_1 has no file nothing.png "
                                     "(its files: out/f0000.json, in/f0000.txt)")
    result = project.pdg_process("open", "measure_1")
    assert result.returncode == 1 and "Traceback" not in result.stderr
    assert result.stderr.startswith("pdg: cannot open out/f0000.json with viewer 'no-such-viewer-anywhere' "
                                    "(tag file/text/json): ")
    (project.root / "out" / "f0000.json").unlink()
    result = project.pdg_process("open", "measure_1")
    assert result.returncode == 1
    assert result.stderr.strip() == ("pdg: cannot open out/f0000.json: it does not exist "
                                     "(work item measure_1 recorded out/f0000.json)")
    assert project.pdg_process("open", "nobody").returncode == 2
