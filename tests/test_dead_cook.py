"""A ``pdg cook`` killed with SIGKILL records no end: the log shows it running until the next cook.
Every reader tells it by one rule (``pdgstore.liveness``: no process holds the writer lock), so
they all say it died: ``pdg status``, the data layer's snapshot (``pdg datalayer dump``), a pdgd
client that subscribed while it ran (the follower looks while the store is quiet), a client that
resumes its subscription afterwards, and ``pdg log --follow`` of one of its items, which stops
with a sentence instead of following a job nobody will record the end of."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import time

import pytest
import websockets
from datalayer_servers import fold

import pdgd
import pdgd.util

pytestmark = pytest.mark.timeout(120)

#: each job says it started on its log, then tells the test (a file written under a temporary name
#: and renamed: it is whole once it is there) with its pid, and sleeps until it is killed
GRAPH = """
from pdgstore.engine import Graph

graph = Graph("g2")
numbers = graph.range_generate("numbers", 3)
graph.command(
    "up",
    numbers,
    ["sh", "-c", "echo started @pdg_index; mkdir -p ready; echo $$ > ready/.t@pdg_index; "
     "mv ready/.t@pdg_index ready/@pdg_index; exec sleep 600"],
)
"""


@pytest.fixture
def served(project):
    project.write("g.py", GRAPH)
    return project  # what the shared ``serve`` fixture (tests/conftest.py) serves here


def wait_for(predicate, what: str, timeout_s: float = 60.0):
    deadline = time.monotonic() + timeout_s
    while not (value := predicate()):
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.05)
    return value


def kill_jobs(project) -> None:
    """The jobs of the killed cook live on in their own process groups (the next cook would stop
    them): the test stops those it started."""
    for ready in (project.root / "ready").glob("[0-9]*"):
        try:
            os.killpg(int(ready.read_text()), signal.SIGKILL)
        except (ProcessLookupError, ValueError):
            pass


@pytest.fixture
def killed_cook(served):
    """Start a real cook in its own session, wait until its first job has started, SIGKILL the
    cook's process group (its jobs live on in theirs); yields the project and the cook's pid."""
    cook = served.popen("cook", "g.py", "-j", "2", start_new_session=True)

    def kill():
        wait_for(lambda: (served.root / "ready" / "0").exists() or cook.poll() is not None, "the first job to start")
        wait_for(lambda: cooking(served, "up_1") or cook.poll() is not None, "the store to record it cooking")
        assert cook.poll() is None, cook.communicate()
        os.killpg(cook.pid, signal.SIGKILL)
        assert cook.wait(30) == -signal.SIGKILL
        cook.stdout.close()
        cook.stderr.close()
        return cook.pid

    try:
        yield served, kill
    finally:
        if cook.poll() is None:
            os.killpg(cook.pid, signal.SIGKILL)
            cook.wait(30)
        kill_jobs(served)


def cooking(project, name: str) -> bool:
    """Whether the store records work item ``name`` cooking (its job's start is in the log)."""
    r = project.pdg("items", "up", "--json")
    return r.exit_code == 0 and any(
        i["name"] == name and i["state"] == "cooking" for i in json.loads(r.output)["items"]
    )


def dump(project, path: str) -> dict:
    r = project.pdg_process("datalayer", "dump", path, "--json")
    assert r.returncode == 0, r.stderr
    return json.loads(r.stdout)["messages"][0]["properties"]


def test_a_killed_cook_is_told_died_by_the_data_layer(killed_cook, serve):
    project, kill = killed_cook
    server = serve()
    layer = pdgd.DataLayerInterfaceManager.Instance().createInterface(
        "DataLayerWSClient", f"ws://127.0.0.1:{server.ws_port}"
    )
    try:
        graph = pdgd.util.PDGDObject("pdg/g2", layer)
        assert graph.waitFor(lambda o: o.get("cook_status") == ["running"], 60)
        pid = kill()
        # a subscriber since before the kill hears it, with no event to carry it
        assert graph.waitFor(lambda o: o.get("cook_status") == ["died"], 30), graph.object
        assert graph.object["cook_id"] == [1]
    finally:
        layer.close()

    status = json.loads(project.pdg_process("status", "--json").stdout)["running_cook"]
    assert status["status"] == "died" and status["pid"] == pid
    # a snapshot says so too; the items stay as the cook left them, as pdg status counts them
    assert dump(project, "pdg/g2")["cook_status"] == ["died"]
    counts = dict(dump(project, "pdg/g2/node_up")["state_counts"])
    assert counts["cooking"] >= 1
    [up] = [row for row in json.loads(project.pdg_process("status", "--json").stdout)["nodes"] if row["node"] == "up"]
    assert up["states"] == counts


def test_a_resumed_subscription_hears_that_the_cook_died(killed_cook, serve):
    """A client that resumes after the kill (from the seq it saw before) gets deltas, not a
    snapshot, and they end with the death: no event of the log says it."""
    project, kill = killed_cook
    wait_for(lambda: project.db.exists(), "the store")
    kill()
    events = project.pdg_process("events", "--kind", "CookStarted", "--json")
    [started] = [json.loads(line) for line in events.stdout.splitlines()]
    server = serve()

    async def resume() -> tuple[dict, list]:
        async with websockets.connect(f"ws://127.0.0.1:{server.ws_port}/") as ws:
            assert json.loads(await ws.recv())["op"] == "welcome"
            await ws.send(json.dumps({"op": "subscribe", "path": "pdg/g2", "since": started["seq"] - 1}))
            mirror: dict = {"cook_status": []}
            kinds = []
            while mirror.get("cook_status") != ["died"]:
                frame = json.loads(await asyncio.wait_for(ws.recv(), 30))
                assert frame["op"] == "frame" and frame["path"] == "pdg/g2", frame
                kinds += [m["t"] for m in frame["messages"]]
                fold(mirror, frame["messages"])
            return mirror, kinds

    mirror, kinds = asyncio.run(resume())
    assert 0 not in kinds, "resumed with deltas, not a snapshot"
    assert mirror["cook_id"] == [1]


def test_log_follow_of_an_item_of_a_killed_cook_stops_and_says_why(killed_cook):
    project, kill = killed_cook
    pid = kill()
    try:
        r = project.pdg_process("log", "up_1", "--follow", timeout=60)
    except subprocess.TimeoutExpired:
        pytest.fail("pdg log --follow kept following an item of a dead cook")
    assert r.returncode == 1, r.stderr
    assert r.stdout == "started 0\n"  # what the job wrote before the kill, whole
    [line] = r.stderr.splitlines()
    assert line == (
        f"pdg: cook 1 of g2 died (pid {pid}) before work item up_1 finished: it stays cooking until the next "
        "cook records it cancelled"
    )
    # without --follow it prints the log as before, and succeeds
    plain = project.pdg_process("log", "up_1", timeout=60)
    assert plain.returncode == 0 and plain.stdout == "started 0\n"
