"""An engine work item written as job JSON reads back identically in a real job process (pdgjson)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from pdgstore.engine.schedulers import jobdata
from pdgstore.engine.graph.attribs import File, typed
from pdgstore.engine.graph.workitem import WorkItem

READER = r'''
import json, sys
from pdgjson import WorkItem
w = WorkItem.fromJobEnvironment()
out = {"id": w.id, "name": w.name, "index": w.index, "frame": w.frame, "hasFrame": w.hasFrame, "node": w.node,
       "names": w.attribNames()}
for n in w.attribNames():
    out["arr:" + n] = [[f.path, f.tag] if hasattr(f, "tag") else f for f in w.attribArray(n)]
out["s"] = w.stringAttribValue("label")
out["s_wrong_type"] = w.intAttribValue("label")
out["i1"] = w.intAttribValue("ints", 1)
out["f"] = w.floatAttribValue("frame")
fa = w.fileAttribValue("tex")
out["file"] = [fa.path, fa.tag]
out["d"] = w.attribValue("meta")
out["missing"] = w.attribValue("nope")
out["out_of_range"] = w.attribValue("ints", 9)
out["inputs"] = [[f.path, f.tag, f.size, f.hash] for f in w.inputFiles]
out["outputs"] = [[f.path, f.tag, f.size, f.hash] for f in w.outputFiles]
json.dump(out, sys.stdout)
'''


def make_item(root: Path) -> WorkItem:
    attrs = {
        "label": typed("héllo wörld"),
        "ints": typed([1, 2, 3_000_000_000_000]),
        "frame": typed(12.5),
        "tex": typed(File("tex/a.png", "file/image")),
        "absfile": typed([File("/elsewhere/b.exr", "file/image/exr"), File("c.txt", "file/text")]),
        "meta": typed({"k": [1, 2], "nested": {"x": "y"}}),
        "empty": ["string", []],
    }
    inputs = [["in/a.txt", "file/text", 11, 1234, "h-a"], ["/abs/b.bin", "file", 7, 99, "h-b"]]
    outputs = [["out/proc_3.txt", "file/text", 5, 3, "h3"]]
    return WorkItem(item_id="abc123", name="proc_3", index=3, node="proc", attrs=attrs, inputs=inputs,
                    outputs=outputs, root=str(root))


def run_job(tmp_path: Path, code: str, env: dict | None = None) -> subprocess.CompletedProcess:
    scripts = jobdata.install_job_modules(tmp_path / "temp")
    full_env = {"PATH": os.environ["PATH"], "PYTHONPATH": str(scripts), "PDG_TEMP": str(tmp_path / "temp"),
                "PDG_ITEM_NAME": "proc_3", "PDG_ITEM_ID": "abc123", **(env or {})}
    return subprocess.run([sys.executable, "-c", code], env=full_env, capture_output=True, text=True, timeout=30,
                          cwd=tmp_path)


def test_item_round_trips_through_a_job_process(tmp_path):
    root = tmp_path / "project"
    item = make_item(root)
    path = jobdata.item_json_path(tmp_path / "temp", item.name)
    assert path == str(tmp_path / "temp" / "data" / "proc_3.json")
    jobdata.write_item_json(item, path)
    assert os.listdir(tmp_path / "temp" / "data") == ["proc_3.json"]  # no temp file left behind

    done = run_job(tmp_path, READER)
    assert done.returncode == 0, done.stderr
    got = json.loads(done.stdout)
    assert (got["id"], got["name"], got["index"], got["node"]) == ("abc123", "proc_3", 3, "proc")
    assert got["frame"] == 12.5 and got["hasFrame"] is True
    assert got["names"] == ["absfile", "empty", "frame", "ints", "label", "meta", "tex"]
    assert got["arr:label"] == ["héllo wörld"] and got["s"] == "héllo wörld" and got["s_wrong_type"] is None
    assert got["arr:ints"] == [1, 2, 3_000_000_000_000] and got["i1"] == 2
    assert got["f"] == 12.5
    assert got["file"] == [str(root / "tex/a.png"), "file/image"]
    assert got["arr:absfile"] == [["/elsewhere/b.exr", "file/image/exr"], [str(root / "c.txt"), "file/text"]]
    assert got["d"] == {"k": [1, 2], "nested": {"x": "y"}}
    assert got["arr:empty"] == []
    assert got["missing"] is None and got["out_of_range"] is None
    assert got["inputs"] == [[str(root / "in/a.txt"), "file/text", 11, "h-a"], ["/abs/b.bin", "file", 7, "h-b"]]
    assert got["outputs"] == [[str(root / "out/proc_3.txt"), "file/text", 5, "h3"]]


def test_item_without_frame_has_frame_zero(tmp_path):
    item = WorkItem(item_id="i0", name="gen_0", index=0, node="gen", attrs={}, inputs=[], outputs=[],
                    root=str(tmp_path))
    jobdata.write_item_json(item, jobdata.item_json_path(tmp_path / "temp", "gen_0"))
    code = "from pdgjson import WorkItem; w = WorkItem.fromJobEnvironment(); print(w.frame, w.hasFrame, w.inputFiles)"
    done = run_job(tmp_path, code, {"PDG_ITEM_NAME": "gen_0"})
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["0.0", "False", "[]"]


def test_missing_item_file_names_the_path(tmp_path):
    done = run_job(tmp_path, "from pdgjson import WorkItem; WorkItem.fromJobEnvironment()", {"PDG_ITEM_NAME": "nope_1"})
    assert done.returncode != 0
    assert str(tmp_path / "temp" / "data" / "nope_1.json") in done.stderr


def test_install_replaces_stale_modules(tmp_path):
    scripts = jobdata.install_job_modules(tmp_path)
    (scripts / "pdgcmd.py").write_text("stale")
    assert jobdata.install_job_modules(tmp_path) == scripts
    assert (scripts / "pdgcmd.py").read_bytes() == (jobdata.JOBAPI_DIR / "pdgcmd.py").read_bytes()
    assert sorted(p.name for p in scripts.iterdir()) == sorted(jobdata.JOB_MODULES)
