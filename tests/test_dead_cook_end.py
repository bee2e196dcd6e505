"""A cook killed without a word (``kill -9``) ends, in ``pdg history`` and ``pdg history COOK``,
at its last recorded event, and is told ``died`` (``pdgstore.liveness``): not at the moment the
next cook recorded its end for it, nor as cancelled, which is what a cook that stopped on a
cancel says."""

from __future__ import annotations

import json
import os
import signal

from test_interrupted_cooks import wait_for_state

GRAPH = """
import os, time
from pdgstore.engine import Graph

graph = Graph("g")
numbers = graph.range_generate("numbers", 4)

@graph.python_processor("work", upstream=numbers)
def work(item):
    if item.index == 3 and os.path.exists("hang"):
        time.sleep(120)
    item.set_attrib("done", 1)
"""

DEAD_WORDS = "ended before it recorded its end"


def _killed_then_recooked(project) -> None:
    project.write("g.py", GRAPH)
    project.write("hang", "")
    proc = project.popen("cook", "g.py", "--jobs", "1")
    wait_for_state(project, proc, "work", "cooked_success", 3)
    proc.send_signal(signal.SIGKILL)
    proc.communicate(timeout=60)
    os.remove(project.root / "hang")
    assert project.pdg("cook", "g.py").exit_code == 0


def _last_own_event(project) -> dict:
    """The dead cook's last event of its own: not one the next cook recorded for it (its end, and
    the cancels of its unfinished items, in the words of ``DEAD_WORDS``)."""
    lines = project.pdg("events", "--cook", "1", "--json").output.splitlines()
    events = [json.loads(line) for line in lines]
    own = [e for e in events if e["kind"] != "CookFinished" and DEAD_WORDS not in e["payload"].get("message", "")]
    assert len(own) < len(events) - 1  # the next cook cancelled its unfinished item and recorded its end
    return own[-1]


def test_a_killed_cook_ends_at_its_last_recorded_event(project):
    _killed_then_recooked(project)
    last = _last_own_event(project)
    [dead, after] = json.loads(project.pdg("history", "--json").output)["cooks"]
    assert dead["status"] == "died" and DEAD_WORDS in dead["message"]
    assert dead["ended_ns"] == last["time_ns"] < after["started_ns"]
    assert dead["seconds"] == round((last["time_ns"] - dead["started_ns"]) / 1e9, 3)
    assert after["status"] == "success"
    detail = json.loads(project.pdg("history", "1", "--json").output)["cook"]
    assert (detail["status"], detail["ended_ns"], detail["seconds"]) == ("died", dead["ended_ns"], dead["seconds"])
    assert detail["items"] == dead["items"] and detail["items"]["cancelled"] == 1
    assert [c["cook_id"] for c in json.loads(project.pdg("history", "--status", "died", "--json").output)["cooks"]] == [
        1
    ]
    assert json.loads(project.pdg("history", "--status", "cancelled", "--json").output)["cooks"] == []
    rows = [line.split("\t") for line in project.pdg("history").output.splitlines()[1:]]
    assert [(r[0], r[5]) for r in rows] == [("1", "died"), ("2", "success")]
    text = project.pdg("history", "1").output
    assert text.startswith(f"cook 1 of g: died, {dead['seconds']:.2f} s,"), text
