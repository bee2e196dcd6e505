"""Paths stay inside the project: what a job reports (in-process or over the result server) and what
``pdg dirty --remove-outputs`` deletes is resolved, symlinks included (issue 17, defect 4)."""

from __future__ import annotations

import json
import xmlrpc.client
from pathlib import Path

import pytest
from pdgstore.engine.schedulers import reportcheck
from pdgstore.engine.schedulers.resultserver import ResultServer

from pdgstore.log import EventLog

from dask_cluster import dask_cluster  # noqa: F401 - a fixture

#: each case runs several pdg processes: room for a loaded machine
pytestmark = pytest.mark.timeout(300)


ESCAPING = """
import os
from pdgstore.engine import Graph

graph = Graph("esc")
r = graph.range_generate("r", 1)
where = graph.parm("where", "out/x.txt")

@graph.python_processor("make", upstream=r)
def make(item):
    os.makedirs(os.path.dirname(where) or ".", exist_ok=True)
    with open(where, "w") as f:
        f.write("made\\n")
    item.add_output_file(where)
"""


@pytest.fixture
def outside(tmp_path) -> Path:
    folder = tmp_path / "outside"
    folder.mkdir()
    (folder / "precious.txt").write_text("not yours\n")
    return folder


@pytest.fixture
def proj(project, outside):
    project.root = project.root / "proj"
    project.db = project.root / ".pdg" / "pdg.db"
    project.root.mkdir()
    project.write("esc.py", ESCAPING)
    (project.root / "escape").symlink_to(outside, target_is_directory=True)
    return project


@pytest.mark.parametrize("where", ["escape/made.txt", "../outside/made.txt", "ABS"])
def test_an_output_outside_the_project_fails_its_item_with_a_sentence(proj, outside, where):
    where = str(outside / "made.txt") if where == "ABS" else where
    r = proj.pdg_process("cook", "esc.py", "--set", f"where={where}", "--json")
    assert r.returncode == 1, (r.stdout, r.stderr)
    summary = json.loads(r.stdout)
    (failed,) = summary["failed_items"]
    assert "is outside the project" in failed["error"] and "PDG_ALLOW_OUTSIDE" in failed["error"], failed
    with EventLog.open(str(proj.db)) as log:
        state = log.load_state()
    assert all(not any("made.txt" in o[0] for o in i.outputs) for i in state.items.values())


def test_outside_outputs_are_allowed_only_by_the_explicit_switch(proj, outside, monkeypatch):
    import subprocess
    import sys

    from conftest import _env

    env = {**_env(), "PDG_ALLOW_OUTSIDE": "1"}
    r = subprocess.run(
        [sys.executable, "-m", "pdgstore.cli.main", "cook", "esc.py", "--set", f"where={outside / 'made.txt'}"],
        cwd=proj.root, capture_output=True, text=True, timeout=120, env=env,
    )
    assert r.returncode == 0, r.stderr
    # and dirty --remove-outputs still never deletes it
    before = (outside / "made.txt").read_text()
    r = proj.pdg_process("dirty", "make", "--remove-outputs")
    assert r.returncode == 2, (r.stdout, r.stderr)
    assert "refuses to delete" in r.stderr and "outside the project" in r.stderr and "Traceback" not in r.stderr
    assert (outside / "made.txt").read_text() == before
    r = proj.pdg_process("status", "--json")
    assert r.returncode == 0


def test_dirty_remove_outputs_never_deletes_through_a_symlink_out(proj, outside):
    r = proj.pdg_process("cook", "esc.py", "--set", "where=out/precious.txt")
    assert r.returncode == 0, r.stderr
    # the output folder becomes a link to a folder outside holding a file of that name
    out = proj.root / "out"
    (out / "precious.txt").unlink()
    out.rmdir()
    out.symlink_to(outside, target_is_directory=True)
    r = proj.pdg_process("dirty", "make", "--remove-outputs")
    assert r.returncode == 2, (r.stdout, r.stderr)
    assert "outside the project" in r.stderr and len(r.stderr.strip().splitlines()) == 1
    assert (outside / "precious.txt").read_text() == "not yours\n"
    # nothing was dirtied either
    with EventLog.open(str(proj.db)) as log:
        assert not [e for e in log.events() if e.kind == "WorkItemDirtied"]


def test_the_result_server_refuses_a_path_through_a_symlink_out(tmp_path, outside):
    project = tmp_path / "p"
    project.mkdir()
    (project / "escape").symlink_to(outside, target_is_directory=True)
    calls = []

    class Sink:
        def add_output_files(self, item_id, files):
            calls.append(files)

        def warning(self, item_id, message, refusal=False):
            pass

    server = ResultServer(Sink(), project)
    server.start()
    try:
        server.allow("id1", "item_1")
        proxy = xmlrpc.client.ServerProxy(f"http://{server.address}/RPC2/{server.secret}")
        with pytest.raises(xmlrpc.client.Fault) as info:
            proxy.add_output_files(["id1", 0, "k1"], [["escape/precious.txt", "file", ""]])
        assert info.value.faultCode == reportcheck.FAULT_INVALID
        assert "resolves to" in info.value.faultString and "outside the project" in info.value.faultString
        (project / "fine.txt").write_text("ok")
        assert proxy.add_output_files(["id1", 0, "k2"], [["fine.txt", "file", ""]]) is True
    finally:
        server.stop()
    assert [[f[0] for f in files] for files in calls] == [["fine.txt"]]


SCRATCH = """
import os
from pdgstore.engine import Graph

graph = Graph("scr")
graph.scheduler("local", working_dir=graph.parm("scratch", ""), default=True, max_retries=0)
r = graph.range_generate("r", 1)
graph.python_script("job", r, "job.py")

@graph.python_processor("make", upstream=r, scheduler="inprocess")
def make(item):
    where = os.path.join(graph.parms["scratch"], "made.txt")
    with open(where, "w") as f:
        f.write("in-process\\n")
    item.add_output_file(where)
"""

SCRATCH_JOB = """
import os, pdgcmd
where = os.environ.get("WHERE") or "job.txt"
with open(where, "w") as f:
    f.write("job\\n")
pdgcmd.addOutputFile(where)  # a relative name: the job runs in the scheduler's working folder
"""


def test_outputs_in_a_scheduler_working_folder_are_recorded_and_removable(project, tmp_path):
    """A scheduler's declared working folder is inside the bounds: the job's output written there
    (reported over the result server) and an in-process item's are recorded by absolute path, and
    ``pdg dirty --remove-outputs`` may delete them (the log knows the folder: GraphLoaded v2)."""
    scratch = tmp_path / "scratch"
    project.root = tmp_path / "proj"
    project.db = project.root / ".pdg" / "pdg.db"
    project.write("scr.py", SCRATCH)
    project.write("job.py", SCRATCH_JOB)
    r = project.pdg_process("cook", "scr.py", "--set", f"scratch={scratch}", "--json")
    assert r.returncode == 0, (r.stdout, r.stderr)
    with EventLog.open(str(project.db)) as log:
        state = log.load_state()
        (loaded,) = [e for e in log.events() if e.kind == "GraphLoaded"]
    assert loaded.working_dirs == [str(scratch)]
    outputs = {i.name: [o[0] for o in i.outputs] for i in state.items.values()}
    assert outputs["job_1"] == [str(scratch / "job.txt")] and outputs["make_1"] == [str(scratch / "made.txt")]
    r = project.pdg_process("dirty", "job", "--remove-outputs")
    assert r.returncode == 0, (r.stdout, r.stderr)
    assert not (scratch / "job.txt").exists() and (scratch / "made.txt").exists()
    r = project.pdg_process("check")
    assert r.returncode == 0, (r.stdout, r.stderr)


def test_a_working_folder_does_not_open_the_rest_of_the_disk(project, tmp_path, outside):
    scratch = tmp_path / "scratch"
    scratch.mkdir()
    (scratch / "escape").symlink_to(outside, target_is_directory=True)
    project.root = tmp_path / "proj"
    project.db = project.root / ".pdg" / "pdg.db"
    alone = SCRATCH.replace('graph.python_script("job", r, "job.py")', "")  # the in-process item only
    for where in ("escape/made.txt", str(outside / "made.txt"), "../outside/made.txt"):
        project.write("scr.py", alone.replace('"made.txt"', repr(where)))
        r = project.pdg_process("cook", "scr.py", "--set", f"scratch={scratch}", "--json")
        assert r.returncode == 1, (where, r.stdout, r.stderr)
        assert [f["name"] for f in json.loads(r.stdout)["failed_items"]] == ["make_1"]
        with EventLog.open(str(project.db)) as log:
            (error,) = [e.error for e in log.events(kind="WorkItemCooked")][-1:]
        assert "is outside the project" in error and f"scheduler working folder {scratch}" in error, error
    assert (outside / "precious.txt").read_text() == "not yours\n"


def test_the_result_server_takes_a_declared_working_folder_and_nothing_beyond(tmp_path, outside):
    project, scratch = tmp_path / "p", tmp_path / "scratch"
    project.mkdir()
    scratch.mkdir()
    (scratch / "escape").symlink_to(outside, target_is_directory=True)
    calls = []

    class Sink:
        def add_output_files(self, item_id, files):
            calls.append(files)

        def warning(self, item_id, message, refusal=False):
            pass

    server = ResultServer(Sink(), project, working_dirs=(str(scratch),))
    server.start()
    try:
        server.allow("id1", "item_1")
        proxy = xmlrpc.client.ServerProxy(f"http://{server.address}/RPC2/{server.secret}")
        assert proxy.add_output_files(["id1", 0, "k1"], [[str(scratch / "x.txt"), "file", ""]]) is True
        for n, bad in enumerate((str(scratch / "escape" / "precious.txt"), str(outside / "precious.txt"),
                                 str(scratch / ".." / "outside" / "precious.txt"))):
            with pytest.raises(xmlrpc.client.Fault) as info:
                proxy.add_output_files(["id1", 0, f"bad{n}"], [[bad, "file", ""]])
            assert info.value.faultCode == reportcheck.FAULT_INVALID
            assert "outside the project" in info.value.faultString and str(scratch) in info.value.faultString
    finally:
        server.stop()
    assert [[f[0] for f in files] for files in calls] == [[str(scratch / "x.txt")]]


def test_an_output_a_scheduler_adds_in_on_schedule_stays_inside_too(tmp_path, outside):
    """PDG's API lets a scheduler add output files in ``onSchedule`` (seed 002): the same bounds hold.
    One outside (absolute, ``..``, or through a symlink) is not recorded, and the item's log says
    why; one inside is recorded."""
    import shutil

    from compat.conftest import EXAMPLES, Example

    root = tmp_path / "seed002"
    shutil.copytree(EXAMPLES / "seed002", root)
    (root / "escape").symlink_to(outside, target_is_directory=True)
    (root / "mine.txt").write_text("inside\n")
    ex = Example(root)
    graph = ex.graph()
    farm = graph.schedulers["farm"]
    schedule = farm.onSchedule

    def onSchedule(work_item):  # noqa: N802 - PDG's name
        for path in (str(outside / "precious.txt"), "../outside/precious.txt", "escape/precious.txt", "mine.txt"):
            work_item.addOutputFile(path if path.startswith("/") else str(root / path), "file")
        return schedule(work_item)

    farm.onSchedule = onSchedule
    summary = ex.cook(graph)
    assert summary.status == "success", summary
    for job in ex.items("job"):
        paths = [o[0] for o in job.outputs]
        assert "mine.txt" in paths and not any("precious" in p for p in paths), paths
        refused = [t for t in ex.logs(job.item_id) if "its scheduler added output file" in t]
        assert len(refused) == 3 and all("is outside the project" in t for t in refused), refused
    assert (outside / "precious.txt").read_text() == "not yours\n"


def test_an_outside_output_from_a_schedulers_own_run_fails_its_item(tmp_path, outside):
    """A scheduler that runs items itself (a dask worker's Python processor, a custom one) hands the
    cook a result whose outputs it recorded on its own: the cook holds them to the same bounds."""
    from pdgstore.engine import Graph, cook_graph
    from pdgstore.engine.schedulers.contract import JobResult, ScheduleResult
    from pdgstore.engine.schedulers.inprocess import InProcessScheduler

    class Rogue(InProcessScheduler):
        def on_schedule(self, item):
            where = {"rogue_1": str(outside / "precious.txt"), "rogue_2": "../outside/precious.txt"}
            path = where.get(item.name, "fine.txt")
            self.reporter.finished(item.id, JobResult("cooked_success", {}, [[path, "file", 10, 1, "abc"]], 0, 0))
            return ScheduleResult.SUCCEEDED

    root = tmp_path / "proj"
    root.mkdir()
    graph = Graph("rogue", root=str(root))
    graph.scheduler("rogue", Rogue)
    r = graph.range_generate("r", 3)
    graph.python_processor("rogue", upstream=r, func=lambda item: None, scheduler="rogue")
    db = str(root / ".pdg" / "pdg.db")
    summary = cook_graph(graph, db=db)
    failed = {f["name"]: f["error"] for f in summary.failed_items}
    assert sorted(failed) == ["rogue_1", "rogue_2"], summary.failed_items
    assert all("is outside the project" in e and e.startswith("OutsideProject: ") for e in failed.values()), failed
    with EventLog.open(db) as log:
        outputs = {i.name: [o[0] for o in i.outputs] for i in log.load_state().items.values() if i.node == "rogue"}
    assert outputs == {"rogue_1": [], "rogue_2": [], "rogue_3": ["fine.txt"]}, outputs


REPORTER = """
import os, pdgcmd, pdgjson
item = pdgjson.WorkItem.fromJobEnvironment()
where = {"report_1": "escape/precious.txt", "report_2": "fine.txt"}[item.name]
if where == "fine.txt":
    open(where, "w").write("made on the worker\\n")
pdgcmd.addOutputFile(where)  # relative to the job's folder: the project as its worker sees it
"""


def test_a_symlink_out_on_a_path_mapped_workers_own_disk_is_refused_there(tmp_path, outside, dask_cluster):
    """``shared_storage=False``: the workers' disks are their own, the path map names the project's
    place there. A link that leads out of the project on a worker's disk only (``escape ->`` a folder
    outside) is invisible to the cook, which sees ``escape/precious.txt`` inside the project: the
    worker resolves each file before it sends it and refuses, so neither a reported output nor an
    expected one brings the outside file back, and the items fail saying why."""
    cluster, _ = dask_cluster
    project, theirs = tmp_path / "project", tmp_path / "worker_disk"
    project.mkdir()
    theirs.mkdir()
    (theirs / "escape").symlink_to(outside, target_is_directory=True)  # on the worker's disk only
    (project / "report.py").write_text(REPORTER)
    from pdgstore.engine import Graph, cook_graph

    graph = Graph("own", root=str(project))
    graph.scheduler(
        "farm", "dask", address=cluster.scheduler_address, default=True, tick_period=0.05, max_retries=0,
        path_map={str(project): str(theirs)}, shared_storage=False, work_item_data_source="file",
    )
    numbers = graph.range_generate("numbers", 2)
    graph.python_script("report", numbers, "report.py")
    graph.command("expect", numbers, ["sh", "-c", "echo expect ran"],
                  expected_outputs=["escape/precious.txt"])
    db = str(project / ".pdg" / "pdg.db")
    summary = cook_graph(graph, db=db, jobs=2)
    failed = {f["name"]: f["error"] for f in summary.failed_items}
    assert sorted(failed) == ["expect_1", "expect_2", "report_1"], summary.failed_items
    for name in ("expect_1", "expect_2"):
        assert f"{theirs / 'escape' / 'precious.txt'}, which resolves to {outside / 'precious.txt'}," in failed[name]
        assert f"is outside the project {theirs} on worker " in failed[name] and "PDG_ALLOW_OUTSIDE" in failed[name]
    with EventLog.open(db) as log:
        state = log.load_state()
        warned = [e.text for e in log.events(kind="WorkItemLogged") if "outside the project" in e.text]
    outputs = {i.name: [o[0] for o in i.outputs] for i in state.items.values() if i.node != "numbers"}
    assert outputs == {"report_1": [], "report_2": ["fine.txt"], "expect_1": [], "expect_2": []}, outputs
    assert any("resolves to" in w and "on worker" in w for w in warned), warned
    assert not (project / "escape").exists()  # the outside file never came back into the project
    assert (project / "fine.txt").read_text() == "made on the worker\n"
    assert (outside / "precious.txt").read_text() == "not yours\n"


def test_a_python_item_on_a_path_mapped_worker_is_held_to_the_bounds_there(tmp_path, outside, dask_cluster):
    """A Python processor run on a worker records its outputs there, against the project as that
    worker mounts it (the path map): a link out of the project that exists only on the worker's
    side (here ``mount`` holds ``escape ->`` outside; the cook's project does not) fails the item
    on the worker with OutsideProject's sentence; an output inside is recorded."""
    cluster, _ = dask_cluster
    project, mount = tmp_path / "project", tmp_path / "mount"
    project.mkdir()
    mount.mkdir()
    (mount / "escape").symlink_to(outside, target_is_directory=True)
    from pdgstore.engine import Graph, cook_graph

    graph = Graph("mapped", root=str(project))
    graph.scheduler(
        "farm", "dask", address=cluster.scheduler_address, default=True, tick_period=0.05, max_retries=0,
        path_map={str(project): str(mount)},
    )
    numbers = graph.range_generate("numbers", 2)

    @graph.python_processor("py", upstream=numbers)
    def py(item):
        where = "escape/made.txt" if item.name == "py_1" else "fine.txt"
        item.path(where).write_text("made on the worker\n")
        item.add_output_file(where)

    db = str(project / ".pdg" / "pdg.db")
    summary = cook_graph(graph, db=db, jobs=2)
    failed = {f["name"]: f["error"] for f in summary.failed_items}
    assert list(failed) == ["py_1"], summary.failed_items
    assert failed["py_1"].startswith("OutsideProject: work item py_1 reported output file "), failed
    assert f"which resolves to {outside / 'made.txt'}, is outside the project {mount} on its worker" in failed["py_1"]
    with EventLog.open(db) as log:
        outputs = {i.name: [o[0] for o in i.outputs] for i in log.load_state().items.values() if i.node == "py"}
    assert outputs == {"py_1": [], "py_2": ["fine.txt"]}, outputs
