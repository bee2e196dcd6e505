"""Ctrl-C during ``pdg cook``, for real: a subprocess gets SIGINT while items cook.

The rule (issue 3): stop scheduling, wait briefly for running items (a second Ctrl-C stops waiting),
record the rest as cooked_cancel, flush, and exit 130; nothing recorded is lost.
"""

from __future__ import annotations

import json
import signal
import time

import pytest

SLOW_GRAPH = """
import time
from pdgstore.engine import Graph

graph = Graph("slow")
count = graph.parm("count", 100)
nap = graph.parm("nap", 0.2)
numbers = graph.range_generate("numbers", count)

@graph.python_processor("nap", upstream=numbers)
def nap_item(item):
    time.sleep(nap)
    item.set_attrib("slept", nap)
"""

FINISHED = {"cooked_success", "cooked_cancel"}
GRACE_S = 2.0  # how long a first Ctrl-C waits for running items (Cook.grace_s)


def status(project) -> dict[str, dict[str, int]]:
    result = project.pdg("status", "--json", env={"PDG_DB": None})
    if result.exit_code != 0:
        return {}
    return {row["node"]: row["states"] for row in json.loads(result.stdout)["nodes"]}


def wait_for_cooked(project, proc, node: str, at_least: int, timeout_s: float = 30) -> int:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        done = status(project).get(node, {}).get("cooked_success", 0)
        if done >= at_least:
            return done
        assert proc.poll() is None, f"the cook ended early: {proc.communicate()}"
        time.sleep(0.05)
    proc.kill()
    pytest.fail(f"{node} never had {at_least} cooked items: {status(project)}")


def interrupt(proc, times: int = 1, gap_s: float = 0.2) -> tuple[str, str, float]:
    """SIGINT the process (``times`` times); its output and the seconds from the last signal to its end."""
    for i in range(times):
        if i:
            time.sleep(gap_s)
        proc.send_signal(signal.SIGINT)
    sent = time.monotonic()
    try:
        stdout, stderr = proc.communicate(timeout=60)  # a deadline for a loaded machine, not a claim
    except Exception:
        proc.kill()
        raise
    return stdout, stderr, time.monotonic() - sent


@pytest.fixture
def slow(project):
    project.write("slow.py", SLOW_GRAPH)
    return project


def test_sigint_cancels_the_cook_json(slow):
    proc = slow.popen("cook", "slow.py", "--json", "--jobs", "4")
    before = wait_for_cooked(slow, proc, "nap", 4)
    # the read commands work while the cook runs, and see it running
    running = json.loads(slow.pdg("status", "--json").stdout)["running_cook"]
    assert running and running["cook_id"] == 1 and running["status"] == "running"
    listed = json.loads(slow.pdg("history", "--json").stdout)["cooks"][0]
    assert listed["status"] == "running"
    assert listed["ended_ns"] is listed["seconds"] is listed["items"] is None  # not known yet
    assert json.loads(slow.pdg("history", "1", "--json").stdout)["cook"]["items"] is None
    assert "counted when it ends" in slow.pdg("history", "1").stdout
    stdout, stderr, seconds = interrupt(proc)

    assert proc.returncode == 130, (stdout, stderr)
    assert "Traceback" not in stderr + stdout
    summary = json.loads(stdout)
    assert summary["status"] == "cancelled"
    assert summary["items"]["cancelled"] > 0
    assert summary["items"]["failed"] == 0
    assert summary["items"]["ran"] < 200

    cooks = json.loads(slow.pdg("history", "--json").stdout)["cooks"]
    assert len(cooks) == 1
    assert cooks[0]["status"] == "cancelled"
    assert cooks[0]["ended_ns"] and cooks[0]["items"]["cancelled"] == summary["items"]["cancelled"]
    nodes = json.loads(slow.pdg("history", "1", "--json").stdout)["cook"]["nodes"]
    assert {k: sum(row[k] for row in nodes) for k in summary["items"]} == summary["items"]

    after = status(slow)
    nap = after["nap"]
    assert set(nap) <= FINISHED, f"items left unfinished after the cancel: {after}"
    assert nap.get("cooked_cancel", 0) > 0
    assert nap.get("cooked_success", 0) >= before  # nothing recorded was lost
    assert sum(nap.values()) == 100
    for node, states in after.items():
        assert not {"scheduled", "cooking", "waiting"} & set(states), (node, states)
    assert summary["items"]["cancelled"] == sum(s.get("cooked_cancel", 0) for s in after.values())

    check = slow.pdg_process("check")
    assert check.returncode == 0, check.stderr + check.stdout


def test_sigint_cancels_the_cook_human(slow):
    proc = slow.popen("cook", "slow.py", "--jobs", "2")
    wait_for_cooked(slow, proc, "nap", 2)
    stdout, stderr, seconds = interrupt(proc)
    assert proc.returncode == 130, (stdout, stderr)
    assert "Traceback" not in stderr + stdout
    assert "cancel" in stderr
    assert "KeyboardInterrupt" not in stderr

    # the store is usable again: the writer lock went with the cancelled cook
    again = slow.pdg("cook", "slow.py", "--set", "count=3", "--set", "nap=0.0", "--json")
    assert again.exit_code == 0, again.stderr
    data = json.loads(again.stdout)
    assert data["cook_id"] == 2 and data["status"] == "success"
    cooks = json.loads(slow.pdg("history", "--json").stdout)["cooks"]
    assert [c["status"] for c in cooks] == ["cancelled", "success"]
    assert slow.pdg("check").exit_code == 0


def test_second_sigint_stops_waiting_for_running_items(slow):
    """Items that run for a long time: the first Ctrl-C waits up to the grace period (2 s), a
    second one stops waiting at once."""
    proc = slow.popen("cook", "slow.py", "--set", "count=4", "--set", "nap=30.0", "--jobs", "2", "--json")
    deadline = time.monotonic() + 20
    while status(slow).get("nap", {}).get("cooking", 0) < 2:
        assert time.monotonic() < deadline, status(slow)
        assert proc.poll() is None, proc.communicate()
        time.sleep(0.05)
    stdout, stderr, seconds = interrupt(proc, times=2, gap_s=0.2)
    assert proc.returncode == 130, (stdout, stderr)
    assert json.loads(stdout)["status"] == "cancelled"
    # the cook did not wait out its grace: it says so in its warnings and in the log (a clock would
    # tell the same only on a quiet machine)
    given_up = "2 running work item(s) given up on: a second signal stopped the wait"
    assert given_up in json.loads(stdout)["warnings"], stdout
    logged = slow.pdg("events", "--cook", "1", "--kind", "CookWarning", "--json").stdout.splitlines()
    assert [json.loads(line)["payload"]["message"] for line in logged] == [given_up]
    after = status(slow)
    assert after["nap"] == {"cooked_cancel": 4}, after
    assert slow.pdg("check").exit_code == 0


def test_sigint_while_the_graph_file_loads(project):
    """Ctrl-C before the cook starts (a graph file that is slow to build): exit 130 like any
    cancelled cook, no traceback, and nothing written."""
    project.write(
        "slowload.py",
        """
        import time
        from pdgstore.engine import Graph

        graph = Graph("slowload")
        open("loading", "w").close()
        deadline = time.monotonic() + 60  # loads until the test's Ctrl-C, however late that arrives
        while time.monotonic() < deadline:
            time.sleep(0.02)
        graph.range_generate("numbers", 2)
    """,
    )
    # (``popen`` starts it with SIGINT at its default, as a terminal's Ctrl-C finds it)
    proc = project.popen("cook", "slowload.py")
    deadline = time.monotonic() + 20
    while not (project.root / "loading").exists():
        assert time.monotonic() < deadline and proc.poll() is None, "the graph file never started loading"
        time.sleep(0.02)
    stdout, stderr, _ = interrupt(proc)
    assert "Traceback" not in stderr + stdout
    assert proc.returncode == 130, (proc.returncode, stdout, stderr)
    assert not project.db.exists()


CHAIN_GRAPH = """
import os, time
from pdgstore.engine import Graph

graph = Graph("chain")
numbers = graph.range_generate("numbers", 12)

@graph.python_processor("work", upstream=numbers)
def work(item):
    time.sleep(0.3)
    os.makedirs("out", exist_ok=True)
    path = f"out/{item.index}.txt"
    with open(path, "w") as f:
        f.write("x\\n")
    item.add_output_file(path)

graph.command("shell", work, ["sh", "-c", "sleep 0.2; echo done @pdg_index"])
"""


@pytest.mark.timeout(120)
def test_dry_run_after_a_cancel_lists_what_the_next_cook_runs(project):
    """After a Ctrl-C, an item recorded cancelled has no result to reuse: the dry run lists it as
    running (not pending on what its parent makes), even when its parent would run first, and it
    lists exactly the items the next cook then runs."""
    project.write("chain.py", CHAIN_GRAPH)
    proc = project.popen("cook", "chain.py", "--jobs", "2")
    wait_for_cooked(project, proc, "work", 2)
    stdout, stderr, _ = interrupt(proc)
    assert proc.returncode == 130, (stdout, stderr)
    states = status(project)
    assert states["work"].get("cooked_cancel", 0) >= 1 and states["shell"].get("cooked_cancel", 0) >= 1, states

    result = project.pdg("cook", "chain.py", "--dry-run", "--json")
    assert result.exit_code == 0, result.output
    plan = json.loads(result.stdout)
    would_run = {row["name"] for row in plan["items"] if row["action"] == "run"}
    assert plan["counts"]["pending"] == 0 and plan["counts"]["run"] == len(would_run), plan["counts"]
    shell = [row for row in plan["items"] if row["node"] == "shell"]
    assert len(shell) == states["shell"]["cooked_cancel"]
    assert {row["why"] for row in shell} == {"it has no result to reuse (it was cooked_cancel)"}, shell
    table = project.pdg("cook", "chain.py", "--dry-run")
    assert f"would run {len(would_run)}," in table.stderr and "; 0 pending" in table.stderr, table.stderr

    again = project.pdg("cook", "chain.py", "--jobs", "2", "--json")
    assert again.exit_code == 0, again.output
    assert json.loads(again.stdout)["items"]["ran"] == len(would_run)
    assert set(json.loads(project.pdg("history", "2", "--json").stdout)["cook"]["ran"]) == would_run
