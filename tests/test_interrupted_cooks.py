"""What a cook that did not finish leaves for the next one, for real: a ``pdg cook`` process
cancelled with Ctrl-C, or killed.

- The next cook's reason for an item the cancelled cook did not finish names what changed since
  the item's last result, not what the cancelled attempt was for (``decide.since_result``).
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
