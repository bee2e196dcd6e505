"""A job's life as PDG's Job API page describes it, through real cooks of real jobs: a job that
cancels itself (``pdgcmd.workItemCancelled``), heartbeats (``pdgcmd.keepalive``) that keep a
silent job from being judged hung, and batch work items with their sub-items (``isBatch``,
``batchParent``, ``subindex`` reports, ``checkReady``/``waitUntilReady``, ``appendSubItem``).
The job scripts are written as a PDG user writes them (Job API page: ``import pdgcmd``,
``from pdgjson import WorkItem``)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from compat.jobscripts import HEARTBEATS, write_heartbeat_jobs

EXAMPLES = Path(__file__).resolve().parents[2] / "examples" / "pdg_api"

GRAPH_HEAD = """
import sys
from pdgstore.engine import Graph
graph = Graph("lifecycle")
"""

CANCEL_JOB = """
import sys
import pdgcmd
from pdgjson import WorkItem

work_item = WorkItem.fromJobEnvironment()
if work_item.attribValue('value') == 0:
    # the job finds it has nothing to do: it tells PDG it was cancelled, then exits (any code)
    pdgcmd.workItemCancelled(pdgcmd.getItemIdFromEnv())
    sys.exit(3)
"""


def items_by_name(project) -> dict:
    result = project.pdg("items", "--json")
    assert result.exit_code == 0, result.output
    return {i["name"]: i for i in json.loads(result.output)["items"]}


@pytest.mark.timeout(120)
def test_workItemCancelled_records_the_item_cancelled_and_its_dependents_do_not_cook(project):
    project.write(
        "graph.py",
        GRAPH_HEAD
        + """
graph.scheduler("local", slots=2, max_retries=3, tick_period=0.05)
numbers = graph.range_generate("numbers", 2)
graph.python_script("job", numbers, "job.py")
graph.command("after", "job", [sys.executable, "-c", "print('after')"])
""",
    )
    project.write("job.py", CANCEL_JOB)
    cooked = project.pdg("cook", "graph.py", "--json")
    summary = json.loads(cooked.output)
    assert summary["items"]["cancelled"] == 1 and summary["items"]["failed"] == 0, summary
    items = items_by_name(project)
    assert items["job_1"]["state"] == "cooked_cancel"  # not failed, not retried (max_retries=3)
    assert items["job_2"]["state"] == "cooked_success"
    assert items["after_2"]["state"] == "cooked_success"
    assert items.get("after_1", {"state": "uncooked"})["state"] == "uncooked"  # downstream not cooked

    shown = json.loads(project.pdg("show", "job_1", "--json").output)["item"]
    states = [(h["state"], h["message"]) for h in shown["history"]]
    assert ("job cancelled", "exit code 3: the job cancelled itself") in states
    assert states[-1] == ("cooked_cancel", "the job cancelled itself")
    assert shown["job"]["attempt"] == 1

    status = json.loads(project.pdg("status", "--json").output)
    job = next(n for n in status["nodes"] if n["node"] == "job")
    assert job["states"].get("cooked_cancel") == 1, job
    history = json.loads(project.pdg("history", "--json").output)
    assert history["cooks"][0]["items"]["cancelled"] == 1, history["cooks"][0]

    again = json.loads(project.pdg("cook", "graph.py", "--json").output)  # a cancelled item runs again
    assert again["items"]["cancelled"] == 1 and again["items"]["reused"] >= 3, again


@pytest.mark.timeout(120)
def test_keepalive_keeps_a_job_from_being_judged_hung(project):
    project.write(
        "graph.py",
        GRAPH_HEAD
        + """
graph.scheduler("local", slots=2, max_retries=0, heartbeat_timeout=5, tick_period=0.05)
one = graph.range_generate("one", 1)
graph.python_script("alive", one, "alive.py")
graph.python_script("silent", one, "silent.py")
""",
    )
    write_heartbeat_jobs(project.root)
    summary = json.loads(project.pdg("cook", "graph.py", "--json").output)
    assert summary["items"]["failed"] == 1, summary
    items = items_by_name(project)
    assert items["alive_1"]["state"] == "cooked_success"  # 5.5 s of work, never 5 s without a heartbeat
    assert items["silent_1"]["state"] == "cooked_fail"
    silent = json.loads(project.pdg("show", "silent_1", "--json").output)["item"]
    assert "judged hung and killed: no heartbeat (pdgcmd.keepalive) or report for 5 s" in silent["error"]
    assert silent["job"]["exit_code"] < 0  # killed by a signal
    alive = json.loads(project.pdg("show", "alive_1", "--json").output)["item"]
    beats = [h for h in alive["history"] if h["message"] == "keepalive"]
    assert len(beats) == HEARTBEATS and {h["state"] for h in beats} == {"debug"}  # each heartbeat is an event


@pytest.mark.timeout(120)
def test_a_batch_work_item_cooks_its_sub_items_in_one_job(project):
    """examples/pdg_api/batches: five frames, three to a batch job; the first batch appends one."""
    for name in ("graph.py", "render.py"):
        shutil.copy(EXAMPLES / "batches" / name, project.root / name)
    cooked = project.pdg("cook", "graph.py", "--json")
    summary = json.loads(cooked.output)
    assert summary["status"] == "success", summary
    items = items_by_name(project)
    renders = sorted((i for i in items.values() if i["node"] == "render"), key=lambda i: i["name"])
    assert len(renders) == 6 and {i["state"] for i in renders} == {"cooked_success"}  # 5 + 1 appended
    afters = [i for i in items.values() if i["node"] == "after"]
    assert len(afters) == 6 and {i["state"] for i in afters} == {"cooked_success"}
    jobs = set()
    for item in renders:
        shown = json.loads(project.pdg("show", item["item_id"], "--json").output)["item"]
        value = shown["attrs"]["value"]["values"][0]
        assert shown["attrs"]["squared"]["values"] == [value * value], shown["attrs"]
        assert shown["attrs"]["__pdg_cookpercent"]["values"] == [100.0]
        assert [o["path"] for o in shown["outputs"]] == [f"out/frame{value}.txt"]
        messages = [h["message"] or "" for h in shown["history"]]  # null: a state without one
        assert any(m.startswith("in batch render_batch") for m in messages), messages
        jobs.add(shown["job"]["pid"])
        if not any("appended by its job" in m for m in messages):
            assert shown["attrs"]["__pdg_state"]["values"] == ["rendering"], shown["attrs"]
    assert len(jobs) == 2  # two batch jobs (3 + 2 sub-items, and the one appended to the first)
    assert (project.root / ".pdg" / "jobs" / "batches" / "data" / "render_batch1.json").exists()
    data = json.loads((project.root / ".pdg" / "jobs" / "batches" / "data" / "render_batch1.json").read_text())
    assert data["type"] == 1 and len(data["subItems"]) == 3  # pdgjson.workItemType.Batch

    again = json.loads(project.pdg("cook", "graph.py", "--json").output)  # nothing changed: nothing runs
    assert again["items"]["ran"] == 0 and again["items"]["failed"] == 0, again


def write_batch_project(project, job: str, *, max_retries: int) -> None:
    """``graph.py``: three frames rendered by the job script ``job`` (``render.py``) as one batch,
    on a one-slot local scheduler that retries a failed job ``max_retries`` times."""
    project.write(
        "graph.py",
        GRAPH_HEAD
        + f"""
graph.scheduler("local", slots=1, max_retries={max_retries}, tick_period=0.05)
frames = graph.range_generate("frames", 3)
graph.python_script("render", frames, "render.py", batch_size=3)
""",
    )
    project.write("render.py", job)


RETRIED_BATCH_JOB = """
import os, sys
from pdgjson import WorkItem

batch = WorkItem.fromJobEnvironment()
for sub in batch.batchItems:
    sub.setIntAttrib('attempt', int(os.environ['PDG_ITEM_ATTEMPT']))
    sub.cookSubItem()
    if os.environ['PDG_ITEM_ATTEMPT'] == '1':
        sys.exit(1)  # the first attempt dies after its first sub-item: the scheduler retries the batch
"""


@pytest.mark.timeout(120)
def test_a_retried_batch_job_resumes_its_sub_items(project):
    write_batch_project(project, RETRIED_BATCH_JOB, max_retries=1)
    summary = json.loads(project.pdg("cook", "graph.py", "--json").output)
    assert summary["status"] == "success" and summary["items"]["failed"] == 0, summary
    items = items_by_name(project)
    attempts = {}
    for name in ("render_1", "render_2", "render_3"):
        shown = json.loads(project.pdg("show", name, "--json").output)["item"]
        assert shown["state"] == "cooked_success"
        attempts[name] = shown["attrs"]["attempt"]["values"][0]
    # render_1 cooked in attempt 1; attempt 2 ran it again in vain (said once), then cooked the rest
    assert attempts == {"render_1": 1, "render_2": 2, "render_3": 2}, attempts
    assert items["render_1"]["state"] == "cooked_success"
    lines = project.pdg("events", "--json", "--kind", "CookWarning").output.splitlines()
    texts = [json.loads(line)["payload"]["message"] for line in lines]
    said = "work item render_1 ({}): attempt 2 of its batch's job reported it again: ignored, it cooked in attempt 1"
    assert texts == [said.format(items["render_1"]["item_id"])], texts


LONG_BATCH_JOB = """
import os, time
from pdgjson import WorkItem

batch = WorkItem.fromJobEnvironment()
batch.batchItems[0].cookSubItem()
with open("started.tmp", "w") as f:
    f.write(str(os.getpid()))
os.replace("started.tmp", "started")  # renamed into place: the test polls for it
time.sleep(60)
"""


@pytest.mark.timeout(120)
def test_cancelling_the_cook_cancels_a_running_batch_and_its_job(project):
    import os
    import threading
    import time

    from pdgstore.engine import cook_graph
    from pdgstore.engine.graph.loader import load_graph

    write_batch_project(project, LONG_BATCH_JOB, max_retries=0)
    cooks = []

    def cancel_once_started():
        deadline = time.monotonic() + 60
        while not (project.root / "started").exists() and time.monotonic() < deadline:
            time.sleep(0.02)
        cooks[0].cancel("cancelled by the test")

    threading.Thread(target=cancel_once_started, daemon=True).start()
    graph = load_graph(str(project.root / "graph.py"))
    summary = cook_graph(graph, db=str(project.db), on_cook=cooks.append)
    assert summary.status == "cancelled", summary
    items = items_by_name(project)
    assert items["render_1"]["state"] == "cooked_success"  # settled by the job before the cancel
    assert items["render_2"]["state"] == items["render_3"]["state"] == "cooked_cancel"
    pid = int((project.root / "started").read_text())
    try:
        os.kill(pid, 0)
        alive = True
    except ProcessLookupError:
        alive = False
    assert not alive  # the batch's job was killed with the cook
