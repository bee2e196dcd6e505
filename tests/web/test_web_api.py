"""The web view's JSON answers read by a client other than the page (``curl``, a script): a real
``pdg serve`` of a real store, asked over HTTP on 127.0.0.1. An item asked for at a point in the
log is the item then, as ``pdg show --at`` says it; a request missing a parameter or giving one
wrong is refused in one sentence naming it; every answer carries ``schema`` (and each of the
store's answers its ``seq``); the cooks carry ``pdg history --json``'s ISO times."""

from __future__ import annotations

import json
import signal
import sqlite3
import time

import pytest

from web.test_web_serve import answer

pytestmark = pytest.mark.timeout(180)


def node_states(project, node: str) -> dict[str, int]:
    result = project.pdg("status", "--json", env={"PDG_DB": None})
    if result.exit_code != 0:
        return {}
    return {row["node"]: row["states"] for row in json.loads(result.stdout)["nodes"]}.get(node, {})


def cancelled_then_cooked(project) -> None:
    """Cook 1 cancelled (Ctrl-C while the work items wait for ``hold``), then cook 2 to the end."""
    (project.root / "hold").write_text("the work items wait while this file exists\n")
    cook = project.popen("cook", "web.py")
    try:
        deadline = time.monotonic() + 60
        while not node_states(project, "work").get("cooking"):
            assert cook.poll() is None and time.monotonic() < deadline, cook.communicate()
            time.sleep(0.05)
        cook.send_signal(signal.SIGINT)
        time.sleep(0.2)
        cook.send_signal(signal.SIGINT)  # stop waiting for the held items
        _, stderr = cook.communicate(timeout=60)
    finally:
        if cook.poll() is None:
            cook.kill()
            cook.wait()
    assert cook.returncode == 130, stderr
    (project.root / "hold").unlink()
    assert project.pdg("cook", "web.py").exit_code == 0


def test_an_item_at_a_point_is_the_item_then(webproject, serve):
    """/api/item?at=REF answers what ``pdg show --at REF`` says: the item cancelled in cook 1, not
    as it is after cook 2; at a point before it existed, a 404 in ``pdg show --at``'s words."""
    cancelled_then_cooked(webproject)
    server = serve()
    base = f"http://127.0.0.1:{server.port}/api/"
    cancelled = [name for name, state in zip(*_columns(base, "cook:1")) if state == "cooked_cancel"]
    assert cancelled, "cook 1 cancelled nothing"
    name = cancelled[-1]
    code, then = answer(base + f"item?id={name}&at=cook:1")
    shown = json.loads(webproject.pdg("show", name, "--at", "cook:1", "--json").stdout)
    assert code == 200 and then["state"] == shown["item"]["state"] == "cooked_cancel", then
    assert then["cook_id"] == shown["item"]["cook_id"] == 1
    assert then["outputs"] == shown["item"]["outputs"] == []
    assert then["history"] == shown["item"]["history"]  # with pdg show --json's ISO times
    assert then["at"] == shown["at"] and then["seq"] == shown["at"]["seq"]
    assert then["explain"]["text"] == f"{name} was cancelled in cook 1"
    code, now = answer(base + f"item?id={name}")
    assert code == 200 and now["state"] == "cooked_success" and now["cook_id"] == 2 and now["at"] is None

    code, before = answer(base + f"item?id={name}&at=0")
    said = webproject.pdg("show", name, "--at", "0")
    assert code == 404 and said.exit_code == 2 and f"pdg: {before['error']}\n" in said.output, before
    assert before["error"].endswith(" at 0 (seq 0)")


def _columns(base: str, at: str) -> tuple[list[str], list[str]]:
    """(names, states) of the node ``work`` at ``at``."""
    code, body = answer(base + f"items?graph=web&node=work&at={at}")
    assert code == 200, body
    code, graph = answer(base + "graph")
    return body["names"], [graph["states"][s] for s in body["states"]]


@pytest.mark.parametrize(
    ("query", "said"),
    [
        ("items?node=work", "/api/items needs graph=..., a graph's name"),
        ("items?graph=web", "/api/items needs node=..., a node's name"),
        ("item", "/api/item needs id=..., an item id, id prefix of 6 or more characters, or name (or GRAPH/ITEM)"),
        ("changes", "/api/changes needs since=..., a seq (a whole number, 0 or more)"),
        ("changes?since=abc", "/api/changes cannot read since='abc': it takes a seq (a whole number, 0 or more)"),
        ("changes?since=-3", "/api/changes cannot read since='-3': it takes a seq (a whole number, 0 or more)"),
        ("diff?to=now", "/api/diff needs from=..., a point in the log: a seq (123), a cook (cook:7), cook~N, "
                        "a time (2026-11-30T14:05) or a span ago (2h)"),
    ],
)  # fmt: skip
def test_a_malformed_request_is_told_what_the_parameter_takes(webproject, serve, query, said):
    assert webproject.pdg("cook", "web.py").exit_code == 0
    server = serve()
    code, body = answer(f"http://127.0.0.1:{server.port}/api/{query}")
    assert (code, body) == (400, {"schema": 2, "error": said})


def test_every_answer_carries_the_schema_and_the_store_answers_their_seq(webproject, serve):
    assert webproject.pdg("cook", "web.py").exit_code == 0
    assert webproject.pdg("dirty", "work_3").exit_code == 0
    assert webproject.pdg("cook", "web.py").exit_code == 0
    server = serve()
    base = f"http://127.0.0.1:{server.port}/api/"
    with sqlite3.connect(webproject.root / ".pdg" / "pdg.db") as db:
        last_seq = db.execute("SELECT max(seq) FROM events").fetchone()[0]
    cook1 = json.loads(webproject.pdg("history", "1", "--json").stdout)["cook"]["last_seq"]
    seqs = {
        "graph": last_seq,
        "graph?at=cook:1": cook1,
        "items?graph=web&node=work": last_seq,
        "changes?since=0": last_seq,
        "item?id=work_3": last_seq,
        "item?id=work_3&at=cook:1": cook1,
        "cooks": last_seq,
        "diff?from=cook:1": last_seq,
        "diff?from=0&to=cook:1": cook1,
    }
    for query, seq in seqs.items():
        code, body = answer(base + query)
        assert code == 200 and body["schema"] == 2 and body["seq"] == seq, (query, body)
    for query in ("config", "nope", "item?id=zzz"):
        assert answer(base + query)[1]["schema"] == 2, query


def test_the_cooks_carry_the_iso_times_of_pdg_history(webproject, serve):
    assert webproject.pdg("cook", "web.py").exit_code == 0
    assert webproject.pdg("cook", "web.py").exit_code == 0
    server = serve()
    code, body = answer(f"http://127.0.0.1:{server.port}/api/cooks")
    history = json.loads(webproject.pdg("history", "--json").stdout)["cooks"]
    assert code == 200 and len(body["cooks"]) == len(history) == 2
    for served, listed in zip(body["cooks"], history):
        assert served["started"] == listed["started"] and served["ended"] == listed["ended"], served
        assert served["started"].endswith("Z") and served["ended"] >= served["started"]
