"""The web view of ``pdg serve`` in a real Chromium: the page a user opens, checked against what
``pdg status``, ``pdg items`` and ``pdg explain`` say of the same store, while a real ``pdg cook``
runs in another process. Screenshots of each view are kept (see conftest's ``screenshots``)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.timeout(180)
REPO = Path(__file__).resolve().parents[2]
DONE = ("cooked_success", "cooked_cache")


def cook_process(project, *args: str) -> subprocess.Popen:
    env = dict(os.environ, PYTHONPATH=str(REPO))
    env.pop("PDG_DB", None)
    return subprocess.Popen(
        [sys.executable, "-m", "pdgstore.cli.main", "cook", "web.py", *args],
        cwd=project.root, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, env=env,
    )  # fmt: skip


def open_view(page, server) -> None:
    page.goto(server.url)
    page.wait_for_function("window.pdgView && window.pdgView.ready && window.pdgView.connected", timeout=60_000)


def status(project, *args) -> dict:
    result = project.pdg("status", "--json", *args)
    assert result.exit_code == 0, result.output
    return {(r["graph"], r["node"]): r for r in json.loads(result.output)["nodes"]}


def page_counts(page) -> dict:
    """What the node boxes show: (graph, node) -> (total, {state: count})."""
    return page.evaluate(
        """() => Object.fromEntries([...document.querySelectorAll('.node')].map((box) => [
            box.dataset.key,
            [Number(box.dataset.total), Object.fromEntries([...box.querySelectorAll('.count')].map(
                (c) => [c.dataset.state, Number(c.querySelector('b').textContent)]))]]))"""
    )


def cell_states(page, key: str) -> list[str]:
    return page.evaluate(
        "(key) => { const n = pdgView.nodes.get(key); return Array.from(n.states.slice(0, n.count), (s) => pdgView.states[s]); }",
        key,
    )


def drawn(page, i: int) -> list[int]:
    """The colour the items canvas shows at cell ``i`` of the selected node."""
    point = page.evaluate("(i) => pdgView.cellPoint(i)", i)
    return page.evaluate("([x, y]) => pdgView.pixel(x, y)", [point["x"], point["y"]])


def hex_rgb(color: str) -> list[int]:
    return [int(color[i : i + 2], 16) for i in (1, 3, 5)]


def test_nodes_and_counts_match_pdg_status(webproject, serve, page, screenshots):
    assert webproject.pdg("cook", "web.py").exit_code == 0
    server = serve()
    open_view(page, server)
    expected = status(webproject)
    shown = page_counts(page)
    assert set(shown) == {f"{g}/{n}" for g, n in expected}
    for (graph, node), row in expected.items():
        total, counts = shown[f"{graph}/{node}"]
        assert (total, counts) == (row["total"], row["states"])
    # the nodes in dependency order, with their edges
    xs = page.evaluate(
        "() => Object.fromEntries([...document.querySelectorAll('.node')].map((b) => [b.dataset.node, b.offsetLeft]))"
    )
    assert xs["files"] < xs["work"] < xs["after"]
    edges = page.evaluate("() => [...document.querySelectorAll('svg path')].map((p) => [p.dataset.from, p.dataset.to])")
    assert sorted(edges) == [["files", "work"], ["work", "after"]]
    page.click(".node[data-node=work]")
    page.screenshot(path=str(screenshots / "graph.png"))


def test_a_cook_in_another_process_turns_cells_from_waiting_to_cooked_live(webproject, serve, page, screenshots):
    server = serve()  # before any store exists: the page must follow the store once a cook makes it
    open_view(page, server)
    (webproject.root / "hold").write_text("the work items wait while this file exists\n")
    cook = cook_process(webproject)
    try:
        # all 24 items shown, and the first of them on its way: generated items are uncooked until
        # their scheduled event reaches the page, a moment later
        page.wait_for_function(
            "() => { const n = pdgView.nodes.get('web/work'); return n && n.count === 24 && "
            "Array.from(n.states.slice(0, n.count)).some((s) => "
            "['waiting', 'scheduled', 'cooking'].includes(pdgView.states[s])); }",
            timeout=60_000,
        )
        page.click(".node[data-node=work]")
        before = cell_states(page, "web/work")
        assert not any(s in DONE for s in before), before
        assert "waiting" in before or "scheduled" in before or "cooking" in before, before
        page.screenshot(path=str(screenshots / "live-waiting.png"))
        (webproject.root / "hold").unlink()
        page.wait_for_function(
            "() => { const n = pdgView.nodes.get('web/after'); return n && n.count === 24 && "
            "Array.from(n.states.slice(0, n.count)).every((s) => pdgView.states[s] === 'cooked_success'); }",
            timeout=90_000,
        )
        assert cook.wait(60) == 0, cook.stderr.read()
    finally:
        if cook.poll() is None:
            cook.kill()
            cook.wait()
    page.wait_for_function(
        "() => Array.from(pdgView.nodes.get('web/work').states.slice(0, 24)).every((s) => pdgView.states[s] === 'cooked_success')",
        timeout=30_000,
    )
    # what the canvas shows, and the counts, are the store's
    green = hex_rgb("#43a047")
    assert all(drawn(page, i) == green for i in range(24))
    expected = status(webproject)
    shown = page_counts(page)
    for (graph, node), row in expected.items():
        assert shown[f"{graph}/{node}"] == [row["total"], row["states"]]
    page.screenshot(path=str(screenshots / "live-cooked.png"))


def test_a_recook_after_the_page_loaded_the_store_is_followed_live(webproject, serve, page):
    """The page's own answers open readers of the store in pdg serve beside the data layer's
    follower; none of them may cost the follower its view of later cooks (tests/test_store_locks)."""
    assert webproject.pdg("cook", "web.py").exit_code == 0
    server = serve()
    open_view(page, server)
    page.click(".node[data-node=work]")  # more answers: the node's items, on other threads
    first_seq = page.evaluate("() => pdgView.seq")
    assert webproject.pdg("dirty", "work").exit_code == 0  # a writer comes and goes
    page.wait_for_function(
        "() => Array.from(pdgView.nodes.get('web/work').states.slice(0, 24)).every((s) => pdgView.states[s] === 'dirty')",
        timeout=30_000,
    )
    cook = cook_process(webproject)  # and the next one is followed too
    try:
        assert cook.wait(90) == 0, cook.stderr.read()
    finally:
        if cook.poll() is None:
            cook.kill()
            cook.wait()
    page.wait_for_function(
        "() => Array.from(pdgView.nodes.get('web/work').states.slice(0, 24)).every((s) => pdgView.states[s] === 'cooked_success')",
        timeout=30_000,
    )
    assert page.evaluate("() => pdgView.seq") > first_seq
    for (graph, node), row in status(webproject).items():
        assert page_counts(page)[f"{graph}/{node}"] == [row["total"], row["states"]]


def test_a_click_shows_attributes_and_the_explain_chain(webproject, serve, page, screenshots):
    assert webproject.pdg("cook", "web.py").exit_code == 0
    server = serve()
    open_view(page, server)
    page.click(".node[data-node=work]")
    items = json.loads(webproject.pdg("items", "work", "--json").output)["items"]
    point = page.evaluate("() => pdgView.cellPoint(3)")
    page.mouse.move(point["x"], point["y"])
    assert page.inner_text("#tooltip").startswith(items[3]["name"] + " ")
    page.mouse.click(point["x"], point["y"])
    page.wait_for_selector("#detail-name")
    assert page.inner_text("#detail-name") == items[3]["name"]
    attrs = page.inner_text("#detail-attrs")
    assert "weight" in attrs and "int" in attrs
    chain = page.eval_on_selector_all("#detail-explain li", "(els) => els.map((e) => e.textContent)")
    answer = json.loads(webproject.pdg("explain", items[3]["item_id"], "--json").output)
    assert chain == [step["text"] for step in answer["chain"]] and chain
    assert items[3]["outputs"][0]["path"] in page.inner_text("#detail")
    # the files with their sizes, and the state history, as pdg show has them
    shown = json.loads(webproject.pdg("show", items[3]["item_id"], "--json").output)["item"]
    rows = page.eval_on_selector_all(
        "#detail table", "(ts) => ts.map((t) => [...t.querySelectorAll('tr')].map((r) => r.innerText.split('\\t')))"
    )
    file_rows = [r for table in rows for r in table if len(r) == 3 and r[0] != "file"]
    for f in shown["inputs"] + shown["outputs"]:
        assert [f["path"], f["tag"], str(f["size"])] in file_rows, (f, file_rows)
    history = [r[:2] for table in rows for r in table if len(r) >= 4 and r[0].isdigit()]
    assert history == [[str(h["seq"]), h["state"]] for h in shown["history"]]
    page.screenshot(path=str(screenshots / "detail.png"))


JOBS_GRAPH = """
from pdgstore.engine import Graph

graph = Graph("jobs")
files = graph.file_pattern("files", "in/*.txt")
graph.command("say", files, ["sh", "-c", "for i in 1 2 3 4 5; do echo job line $i; done"])
"""


def test_an_out_of_process_items_detail_shows_its_jobs_log_tail(webproject, serve, page):
    webproject.write("jobs.py", JOBS_GRAPH)
    assert webproject.pdg("cook", "jobs.py").exit_code == 0
    server = serve()
    open_view(page, server)
    page.click(".node[data-key='jobs/say']")
    point = page.evaluate("() => pdgView.cellPoint(0)")
    page.mouse.click(point["x"], point["y"])
    page.wait_for_selector("#detail-log")
    tail = page.inner_text("#detail-log")
    assert tail.splitlines()[-5:] == [f"job line {i}" for i in range(1, 6)], tail


def test_performance_colouring_orders_cells_by_cook_time(webproject, serve, page, screenshots):
    assert webproject.pdg("cook", "web.py").exit_code == 0
    server = serve()
    open_view(page, server)
    page.click(".node[data-node=work]")
    page.select_option("#color-mode", "time")
    items = json.loads(webproject.pdg("items", "work", "--json").output)["items"]
    times = [i["cook_seconds"] for i in items]
    reds = [drawn(page, i)[0] for i in range(len(items))]
    order = sorted(range(len(items)), key=lambda i: times[i])
    assert [reds[i] for i in order] == sorted(reds), (times, reds)  # the ramp rises with cook time
    assert reds[order[0]] < reds[order[-1]]
    legend = page.inner_text("#legend")
    assert "min" in legend and "max" in legend
    page.screenshot(path=str(screenshots / "perf-time.png"))
    # by output size: the ramp rises with the bytes each item wrote
    page.select_option("#color-mode", "size")
    sizes = [sum(o["size"] for o in i["outputs"]) for i in items]
    reds = [drawn(page, i)[0] for i in range(len(items))]
    order = sorted(range(len(items)), key=lambda i: sizes[i])
    assert [reds[i] for i in order] == sorted(reds), (sizes, reds)
    assert reds[order[0]] < reds[order[-1]]
    legend = page.inner_text("#legend")
    assert f"min {min(sizes)} B" in legend and "max" in legend
    page.screenshot(path=str(screenshots / "perf-size.png"))


def test_history_shows_the_first_cooks_state(webproject, serve, page, screenshots):
    assert webproject.pdg("cook", "web.py").exit_code == 0
    webproject.inputs(30)  # six more files: the second cook adds their items
    assert webproject.pdg("cook", "web.py").exit_code == 0
    server = serve()
    open_view(page, server)
    page.wait_for_function("() => pdgView.cooks.length === 2", timeout=30_000)
    first = status(webproject, "--at", "cook:1")
    assert page_counts(page)["web/work"][0] == 30
    page.eval_on_selector("#history-slider", "(s) => { s.value = '0'; s.dispatchEvent(new Event('input')); }")
    page.wait_for_function("() => pdgView.at === 'cook:1' && pdgView.ready", timeout=30_000)
    shown = page_counts(page)
    for (graph, node), row in first.items():
        assert shown[f"{graph}/{node}"] == [row["total"], row["states"]]
    assert page.evaluate("() => pdgView.nodes.get('web/work').count") == 24
    page.select_option("#diff-from", "cook:1")
    page.select_option("#diff-to", "cook:2")
    page.click("#diff-run")
    page.wait_for_selector("#diff-panel h2")
    assert "18 added" in page.inner_text("#diff-panel h2")  # six new items in each of three nodes
    page.screenshot(path=str(screenshots / "history.png"))
    # the cook picker goes to the same points: now (live), then the first cook again
    page.select_option("#cook-picker", "")
    page.wait_for_function("() => pdgView.at === null && pdgView.ready", timeout=30_000)
    assert page.evaluate("() => pdgView.nodes.get('web/work').count") == 30
    page.select_option("#cook-picker", "cook:1")
    page.wait_for_function("() => pdgView.at === 'cook:1' && pdgView.ready", timeout=30_000)
    assert page_counts(page)["web/work"] == [first[("web", "work")]["total"], first[("web", "work")]["states"]]


def test_the_page_reconnects_by_itself_and_resumes_from_the_last_seq(webproject, serve, page):
    assert webproject.pdg("cook", "web.py").exit_code == 0
    first = serve()
    open_view(page, first)
    seen = page.evaluate("() => pdgView.seq")
    first.stop()
    page.wait_for_function("() => document.getElementById('conn').dataset.state === 'reconnecting'", timeout=30_000)
    assert webproject.pdg("dirty", "work").exit_code == 0  # while nobody serves the store
    second = serve("--port", str(first.port))
    page.wait_for_function("() => pdgView.connected", timeout=60_000)
    page.wait_for_function(
        "() => Array.from(pdgView.nodes.get('web/work').states.slice(0, 24)).every((s) => pdgView.states[s] === 'dirty')",
        timeout=30_000,
    )
    assert page.evaluate("() => pdgView.seq") > seen
    assert page_counts(page)["web/work"] == [24, status(webproject)[("web", "work")]["states"]]
    assert second.port == first.port
