"""``pdg watch`` watches the files that items' file attributes name, as it does their inputs and
outputs (real files, watchdog's real observer, a real store; ``engine.live.watchset``).

A file attribute's file is recorded and checked at the next cook (``engine.files.attrfiles``), so
its edit reruns the items holding it; the watcher must see that edit itself, and see the files
that items made by a later cook name, and one named before it was there once it appears.
"""

from __future__ import annotations

import json

from pdgstore.log import EventLog
from test_watch import Running, cooked_in

GRAPH = """
import json
from pdgstore.engine import Graph, File

graph = Graph("g")
files = graph.file_pattern("files", "in/*.txt")

@graph.python_processor("setf", upstream=files)
def setf(item):
    item.set_attrib("cfg", File(f"cfg/{item.input_path.stem}.json"))

@graph.python_processor("use", upstream=setf)
def use(item):
    try:
        item.set_attrib("a", json.load(open(item["cfg"].path))["a"])
    except FileNotFoundError:
        item.set_attrib("a", -1)
"""


def _project(project, names=("a", "b")):
    project.write("g.py", GRAPH)
    for name in names:
        project.write(f"in/{name}.txt", f"{name}\n")
        project.write(f"cfg/{name}.json", json.dumps({"a": name}))
    return project


def _a(project, name: str):
    with EventLog.open(str(project.db)) as log:
        items = log.load_state().items.values()
    return next(i.attrs["a"][1][0] for i in items if i.name == name)


def test_an_edited_file_attributes_file_recooks_the_items_holding_it(project):
    _project(project)
    r = Running(project, graph="g.py", rescan_s=3600)  # no rescan: the file system's event alone
    assert str(project.root / "cfg" / "b.json") in r.watcher.watchset.records
    project.write("cfg/b.json", json.dumps({"a": "b2"}))
    change = r.wait("change", timeout=30)
    assert change["files"] == ["cfg/b.json"], change
    summary = r.wait("cook")["summary"]
    assert summary.status == "success"
    assert cooked_in(project, summary.cook_id) == {"setf_2", "use_2"}  # its holders, nothing else
    r.wait("ready")
    assert r.quiet(0.6) == []  # their records refreshed: no recook loop
    r.stop()
    assert _a(project, "use_2") == "b2"


def test_the_files_that_a_cooks_new_items_name_are_watched_after_it(project):
    _project(project)
    r = Running(project, graph="g.py", rescan_s=3600)
    project.write("cfg/c.json", json.dumps({"a": "c"}))
    project.write("in/c.txt", "c\n")  # a new match: a new item naming cfg/c.json
    r.wait("cook", timeout=30)
    r.wait("ready")
    assert str(project.root / "cfg" / "c.json") in r.watcher.watchset.records
    project.write("cfg/c.json", json.dumps({"a": "c2"}))
    change = r.wait("change", timeout=30)
    assert change["files"] == ["cfg/c.json"], change
    summary = r.wait("cook")["summary"]
    assert cooked_in(project, summary.cook_id) == {"setf_3", "use_3"}
    r.stop()
    assert _a(project, "use_3") == "c2"


def test_a_file_attributes_file_that_appears_recooks_its_holders(project):
    """Named before it was there (recorded with no size or hash): its creation is the change."""
    _project(project)
    project.write("in/d.txt", "d\n")
    r = Running(project, graph="g.py", rescan_s=3600)
    assert _a(project, "use_3") == -1
    project.write("cfg/d.json", json.dumps({"a": "d"}))
    change = r.wait("change", timeout=30)
    assert change["files"] == ["cfg/d.json"], change
    summary = r.wait("cook")["summary"]
    assert cooked_in(project, summary.cook_id) == {"setf_3", "use_3"}
    r.wait("ready")
    assert r.quiet(0.6) == []
    r.stop()
    assert _a(project, "use_3") == "d"
