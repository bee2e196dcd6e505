"""What a cook that did not finish leaves for the next one, for real: a ``pdg cook`` process
cancelled with Ctrl-C, or killed.

- The next cook's reason for an item the cancelled cook did not finish names what changed since
  the item's last result, not what the cancelled attempt was for (``decide.since_result``).
- A killed cook, its end recorded by the next one (told died), is summed up by what its events say it did
  (``engine.cook.summary.counted``): its summary, its ``CookFinished`` and ``pdg history COOK``'s
  node rows agree, and replay gives the same.
"""

from __future__ import annotations

import json
import signal
import time

import pytest

ATTEMPT_GRAPH = """
from pdgstore.engine import Graph

graph = Graph("ex")
sleep = graph.parm("sleep", 0.0)
numbers = graph.range_generate("numbers", 2)

@graph.python_processor("tag", upstream=numbers)
def tag(item):
    item.set_attrib("sleep", sleep)

graph.python_script("up", tag, "job.py")
"""

JOB = """
import time, pdgjson
item = pdgjson.WorkItem.fromJobEnvironment()
time.sleep(item.floatAttribValue("sleep"))
"""


def wait_for_state(project, proc, node: str, state: str, count: int) -> None:
    """Until ``count`` items of ``node`` are in ``state`` (a deadline for a loaded machine)."""
    deadline = time.monotonic() + 60
    while True:
        result = project.pdg("status", "--json")
        if result.exit_code == 0:
            nodes = {row["node"]: row["states"] for row in json.loads(result.stdout)["nodes"]}
            if nodes.get(node, {}).get(state, 0) >= count:
                return
        if proc.poll() is not None or time.monotonic() > deadline:
            proc.kill()
            pytest.fail(f"{node} never had {count} items {state}: {proc.communicate()}")
        time.sleep(0.05)


def cancel_cook_of(project, *args: str) -> None:
    """``pdg cook ARGS`` started, cancelled (twice Ctrl-C: no grace) once both ``up`` jobs run."""
    proc = project.popen("cook", *args)
    wait_for_state(project, proc, "up", "cooking", 2)
    proc.send_signal(signal.SIGINT)
    time.sleep(0.2)
    proc.send_signal(signal.SIGINT)
    stdout, stderr = proc.communicate(timeout=60)
    assert proc.returncode == 130, (stdout, stderr)


def explained(project, item: str) -> list[dict]:
    result = project.pdg("explain", item, "--json")
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)["chain"]


@pytest.mark.timeout(180)
def test_a_recook_after_a_cancelled_cook_says_what_changed_since_the_last_result(project):
    project.write("g.py", ATTEMPT_GRAPH)
    project.write("job.py", JOB)
    assert project.pdg("cook", "g.py", "--set", "sleep=0.5").exit_code == 0
    cancel_cook_of(project, "g.py", "--set", "sleep=60")  # cook 2: up_1 dirtied for 0.5 -> 60.0, cancelled

    assert project.pdg("cook", "g.py", "--set", "sleep=0.2").exit_code == 0
    up, tag = explained(project, "up_1")
    assert (up["cook_id"], up["action"]) == (3, "run")
    assert {k: up["reason"][k] for k in ("cause", "name", "old", "new")} == {
        "cause": "attribute",
        "name": "sleep",
        "old": 0.5,
        "new": 0.2,
    }
    assert up["text"] == "up_1 ran in cook 3 because its attribute sleep changed: 0.5 -> 0.2"
    # the chain goes on to the change of this cook that handed it down
    assert tag["text"] == "tag_1 ran in cook 3 because parameter sleep of tag changed: 60.0 -> 0.2"
    show = json.loads(project.pdg("show", "up_1", "--json").stdout)
    assert show["item"]["attrs"]["sleep"]["values"] == [0.2]

    # cancelled again, then back at the value of its last result: what remains is that it has none
    cancel_cook_of(project, "g.py", "--set", "sleep=60")
    assert project.pdg("cook", "g.py", "--set", "sleep=0.2").exit_code == 0
    (up,) = explained(project, "up_1")
    assert up["text"] == "up_1 ran in cook 5 because it has no result to reuse (it was cooked_cancel)"
    assert project.pdg_process("check").returncode == 0


SLOW_GRAPH = """
import os, time
from pdgstore.engine import Graph

graph = Graph("slow")
n = graph.parm("n", 200)
delay = graph.parm("delay", 0.03)
r = graph.range_generate("r", count=n)

@graph.python_processor("work", upstream=r)
def work(item):
    time.sleep(delay)
    os.makedirs("out", exist_ok=True)
    path = f"out/{item.name}.txt"
    with open(path, "w") as f:
        f.write("x")
    item.add_output_file(path)

@graph.python_processor("post", upstream=work)
def post(item):
    item.set_attrib("done", 1)
"""


@pytest.mark.timeout(180)
def test_a_killed_cook_is_summed_up_by_what_its_events_say_it_did(project):
    project.write("s.py", SLOW_GRAPH)
    proc = project.popen("cook", "s.py", "--set", "delay=0.5", "--jobs", "2")  # long enough to be killed
    wait_for_state(project, proc, "work", "cooked_success", 4)
    proc.send_signal(signal.SIGKILL)
    proc.communicate(timeout=60)
    assert proc.returncode == -signal.SIGKILL

    again = project.pdg("cook", "s.py", "--set", "delay=0", "--json")
    assert again.exit_code == 0, again.output
    [dead, _] = json.loads(project.pdg("history", "--json").stdout)["cooks"]
    assert dead["status"] == "died" and "ended before it recorded its end" in dead["message"]  # liveness.died_end
    cooked = project.pdg("events", "--cook", "1", "--kind", "WorkItemCooked", "--json").stdout.splitlines()
    ran = sum(json.loads(line)["payload"]["state"] == "cooked_success" for line in cooked)
    assert ran >= 4
    nodes = {row["node"]: row for row in json.loads(project.pdg("history", "1", "--json").stdout)["cook"]["nodes"]}
    sums = {key: sum(row[key] for row in nodes.values()) for key in dead["items"]}
    assert dead["items"] == sums
    assert (dead["items"]["ran"], dead["items"]["updated"]) == (ran, 200)
    assert dead["items"]["cancelled"] == 400 - ran  # the rest of work's and every post item
    finished = project.pdg("events", "--cook", "1", "--kind", "CookFinished", "--json").stdout.splitlines()
    assert [json.loads(line)["payload"]["counts"] for line in finished] == [dead["items"]]
    check = project.pdg_process("check")  # replayed from the log, the cooks table says the same
    assert check.returncode == 0, check.stdout + check.stderr


@pytest.mark.timeout(180)
def test_explain_of_an_item_its_cook_has_not_finished_says_so(project):
    """During a cook, and after it died, an item still scheduled "was scheduled to run" and one
    cooking "started running": neither "was updated" nor "ran" (the cook never recorded its end)."""
    project.write("s.py", SLOW_GRAPH)
    proc = project.popen("cook", "s.py", "--set", "delay=1", "--jobs", "2")
    try:
        wait_for_state(project, proc, "work", "cooking", 2)
        for moment in ("cooking", "dead"):
            items = json.loads(project.pdg("items", "work", "--json").stdout)["items"]
            by_state = {i["state"]: i["name"] for i in items}
            [pending] = explained(project, by_state["scheduled"])
            assert (pending["action"], pending["cook_id"]) == ("pending", 1), moment
            assert " was scheduled to run in cook 1 because " in pending["text"], moment
            [running] = explained(project, by_state["cooking"])
            assert running["action"] == "run" and " started running in cook 1 because " in running["text"], moment
            if moment == "cooking":
                proc.send_signal(signal.SIGKILL)
                proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate(timeout=60)
