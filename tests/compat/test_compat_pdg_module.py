"""``import pdg`` is the engine's own objects under PDG's names, and what jobs get on every
scheduler: item JSON, a result server, ``__PDG_*__`` tokens, the path map."""

from __future__ import annotations

import json
import sys

import pdg
import pdgstore.engine as engine
from pdgstore.engine.files.filetypes import CacheResult, TypeRegistry
from pdgstore.engine.graph.attribs import File
from pdgstore.engine.schedulers.contract import AcceptResult, ScheduleResult, TickResult
from pdgstore.log import EventLog


def test_pdg_names_are_the_engines_objects():
    assert pdg.scheduleResult is ScheduleResult and pdg.scheduleResult.Succeeded is ScheduleResult.SUCCEEDED
    assert pdg.scheduleResult.FullDeferred is ScheduleResult.FULL_DEFERRED
    assert pdg.tickResult.SchedulerCancelCook is TickResult.CANCEL_COOK
    assert pdg.acceptResult.Accept is AcceptResult.ACCEPT
    assert pdg.cacheResult is CacheResult and pdg.TypeRegistry is TypeRegistry and pdg.File is File
    assert pdg.TransferPair.success(7).cache_id == 7
    assert pdg.attribType.Int == 0 and pdg.workItemState.CookedSuccess == 6 and pdg.workItemType.Partition == 2
    assert pdg.attribFlag.EnvExport == 2


def cook(graph, root):
    db = str(root / ".pdg" / "pdg.db")
    summary = engine.cook_graph(graph, db=db, jobs=2)
    with EventLog.open(db) as log:
        return summary, log.load_state()


def test_event_handlers_get_pdgs_camel_case_fields(tmp_path):
    graph = engine.Graph("events", root=str(tmp_path))
    numbers = graph.range_generate("numbers", 2)
    graph.python_processor("touch", numbers, lambda item: item.set_attrib("t", 1))
    seen = []
    graph.on("work_item_state_change", lambda e: seen.append((e.workItemId, e.lastState, e.currentState)))
    cook(graph, tmp_path)
    assert seen and all(w and c for w, _, c in seen)


def test_every_scheduler_gives_jobs_their_json_a_server_tokens_and_the_path_map(tmp_path, monkeypatch):
    """A command node on the in-process scheduler (which ran jobs without a server before): the job
    reads its item with pdgjson, reports through pdgcmd, gets its tokens expanded and maps a path."""
    monkeypatch.setenv("PDG_PATHMAP", json.dumps({"paths": [{"/farm/share/": {"zone": "*", "path": str(tmp_path) + "/"}}]}))
    (tmp_path / "job.py").write_text(
        "import sys, pdgcmd\n"
        "from pdgjson import WorkItem\n"
        "item = WorkItem.fromJobEnvironment()\n"
        "item.setStringAttrib('argv', sys.argv[1:])\n"
        "item.setStringAttrib('mapped', pdgcmd.localizePath('/farm/share/in.txt'))\n"
        "item.setIntAttrib('twice', item.intAttribValue('value') * 2)\n"
    )
    graph = engine.Graph("tokens", root=str(tmp_path))
    numbers = graph.range_generate("numbers", 2)
    graph.command("run", numbers, [sys.executable, "job.py", "__PDG_ITEM_NAME__", "__PDG_INDEX__", "__PDG_DIR__"],
                  scheduler="inprocess")
    summary, state = cook(graph, tmp_path)
    assert summary.status == "success", summary
    runs = sorted((i for i in state.items.values() if i.node == "run"), key=lambda i: i.index)
    for item in runs:
        assert item.attrs["argv"] == ["string", [item.name, str(item.index), str(tmp_path)]]
        assert item.attrs["mapped"] == ["string", [f"{tmp_path}/in.txt"]]
        assert item.attrs["twice"] == ["int", [item.index * 2]]


def test_a_graph_path_map_reaches_the_jobs(tmp_path):
    (tmp_path / "job.py").write_text(
        "import pdgcmd\npdgcmd.setStringAttrib('mapped', pdgcmd.localizePath('S:/assets/tree.bgeo'), 0)\n")
    graph = engine.Graph("pathmap", root=str(tmp_path))
    graph.path_map = {"paths": [{"S:/": {"zone": "*", "path": "/mnt/studio/"}}]}
    numbers = graph.range_generate("numbers", 1)
    graph.python_script("run", numbers, "job.py")
    summary, state = cook(graph, tmp_path)
    assert summary.status == "success", summary
    (item,) = [i for i in state.items.values() if i.node == "run"]
    assert item.attrs["mapped"] == ["string", ["/mnt/studio/assets/tree.bgeo"]]
