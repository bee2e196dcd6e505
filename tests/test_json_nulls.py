"""The read commands' ``--json`` say "no value" as ``null``, never as an empty string: a script tests
``is None`` (jq ``== null``) for a cook with no message, an item with no error, a status with no
dead cook's error. The keys stay. Two texts are values even when empty and keep ``""``: ``pdg log
--json``'s ``text`` (the job printed nothing) and ``pdg events --json``'s payloads (each event's
fields as the log holds them)."""

from __future__ import annotations

import json
import os
import signal
import time

import pytest

GRAPH = """
import os, time
from pdgstore.engine import Graph

graph = Graph("g")
texts = graph.file_pattern("texts", "texts/*.txt")

@graph.python_processor("count", upstream=texts)
def count(item):
    if item.input_path.stem == "c" and os.path.exists("fail"):
        raise ValueError("no c please")
    if item.input_path.stem == "c" and os.path.exists("hang"):
        time.sleep(120)
    item.set_attrib("words", len(item.input_path.read_text().split()))

everything = graph.wait_for_all("everything", count)
"""


def _empty_strings(doc, path="") -> list[str]:
    """The paths in ``doc`` whose value is an empty string."""
    if isinstance(doc, dict):
        return [p for key, value in doc.items() for p in _empty_strings(value, f"{path}.{key}")]
    if isinstance(doc, list):
        return [p for value in doc for p in _empty_strings(value, f"{path}[]")]
    return [path] if doc == "" else []


def _json(project, *args: str):
    result = project.pdg(*args, "--json")
    assert result.exit_code in (0, 1), result.output
    return json.loads(result.output)


@pytest.fixture
def cooked(project):
    """Cook 1 fails (count_3); cook 2 of one node succeeds; cook 3 changes an input and succeeds."""
    project.write("g.py", GRAPH)
    for stem in "abc":
        project.write(f"texts/{stem}.txt", f"words of {stem}\n")
    project.write("fail", "")
    assert project.pdg("cook", "g.py").exit_code == 1
    os.remove(project.root / "fail")
    assert project.pdg("cook", "g.py", "count").exit_code == 0
    project.write("texts/a.txt", "more words of a\n")
    assert project.pdg("cook", "g.py").exit_code == 0
    return project


def test_no_read_command_says_no_value_with_an_empty_string(cooked):
    docs = {
        "status": _json(cooked, "status"),
        "history": _json(cooked, "history"),
        "items": _json(cooked, "items"),
        "stats": _json(cooked, "stats"),
    }
    for cook_id in ("1", "2", "3"):
        docs[f"history {cook_id}"] = _json(cooked, "history", cook_id)
    for name in ("texts_1", "count_1", "count_2", "count_3", "everything_1"):
        docs[f"show {name}"] = _json(cooked, "show", name)
        docs[f"explain {name}"] = _json(cooked, "explain", name)
    lines = cooked.pdg("events", "--json").output.splitlines()
    docs["events"] = [{k: v for k, v in json.loads(line).items() if k != "payload"} for line in lines]
    found = {what: paths for what, doc in docs.items() if (paths := _empty_strings(doc))}
    assert found == {}


def test_no_value_is_null_where_a_script_looks(cooked):
    cooks = _json(cooked, "history")["cooks"]
    assert [c["node"] for c in cooks] == [None, "count", None]  # a whole graph's cook names no node
    assert cooks[0]["message"] == "1 work item(s) failed" and cooks[2]["message"] is None
    failed = _json(cooked, "history", "1")["cook"]
    assert failed["node"] is None and failed["failures"][0]["error"] == "ValueError: no c please"
    shown = _json(cooked, "show", "count_1")["item"]
    assert shown["error"] is None and shown["traceback"] is None
    assert {h["message"] for h in shown["history"] if h["state"] == "cooking"} == {None}
    reused = _json(cooked, "explain", "count_2")["chain"][0]
    assert reused["action"] == "reuse"


def test_a_dead_cooks_status_has_no_error(cooked):
    """``pdg status --json``'s ``running_cook.error``: the write error a stopped cook noted, null for
    a cook killed without a word."""
    (cooked.root / "hang").write_text("")
    (cooked.root / "texts" / "c.txt").write_text("changed words\n")
    proc = cooked.popen("cook", "g.py")
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            running = _json(cooked, "status")["running_cook"]
            if running is not None and running["status"] == "running":
                break
            time.sleep(0.1)
        else:
            pytest.fail("the cook never showed running")
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.communicate(timeout=30)
    running = _json(cooked, "status")["running_cook"]
    assert running["status"] == "died" and running["error"] is None
