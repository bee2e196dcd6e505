"""Issue 21: the web view of ``pdg serve`` in a real Chromium (the distribution's, through Playwright).

- **first full paint of W(N)** (N = 10,000 by default): from navigation to every node box and its
  items drawn; target < 1.5 s. Baseline: the same page fetching the same JSON answers and nothing
  else (what the network and the store cost before any drawing).
- **a node of 100,000 items drawn** (its overview and the item panel, by state and by cook time);
  target < 2 s, and a scroll step or a hover under 50 ms a frame. Baseline: one ``fillRect`` per item
  on a canvas of the same page, a single colour (the least drawing could cost).
- **item state change in the store -> cell recoloured**: a writer process appends one state change
  at a time; the page notes when it recoloured with that seq; median gap, target < 100 ms. Baseline:
  a bare SQLite reader polling ``data_version`` every millisecond (how soon another process can
  know of a commit at all).
"""

from __future__ import annotations

import json
import os
import shutil
import statistics
import subprocess
import sys

import pytest
import workload
from conftest import ROUNDS, N, pdg, report
from test_bench_datalayer import EVENTS, FILL, WRITER, Serve, _bare_reader_gaps

pytestmark = pytest.mark.timeout(1500)  # each figure first waits for a quiet disk (conftest)
BIG_NODE = int(os.environ.get("PDG_BENCH_BIG_NODE", "100000"))
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
        "--disable-component-update", "--disable-sync", "--no-first-run"]  # fmt: skip


@pytest.fixture(scope="module")
def browser():
    path = shutil.which("chromium")
    if path is None:
        pytest.skip("no chromium on PATH (apt-get install chromium): the web view benchmarks need a real browser")
    os.environ.setdefault("PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD", "1")
    sync_api = pytest.importorskip("playwright.sync_api", reason="the playwright package is not installed")
    with sync_api.sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=path, args=ARGS, headless=True)
        yield browser
        browser.close()


def web_url(server: Serve) -> str:
    return f"http://127.0.0.1:{server.info['ws_port']}/"


def first_paint(browser, url: str) -> float:
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    try:
        page.goto(url)
        page.wait_for_function("window.pdgView && window.pdgView.ready", timeout=120_000)
        return page.evaluate("() => pdgView.paintedAt") / 1000
    finally:
        page.close()


def fetch_only(browser, url: str) -> float:
    page = browser.new_page()
    try:
        page.goto(url + "static/app.css")
        return page.evaluate(
            """async () => {
                const t0 = performance.now();
                await (await fetch('/static/app.js')).text();
                const g = await (await fetch('/api/graph')).json();
                await Promise.all(g.nodes.map(async (n) => (await fetch(
                    `/api/items?graph=${encodeURIComponent(n.graph)}&node=${encodeURIComponent(n.node)}`)).json()));
                return (performance.now() - t0) / 1000; }"""
        )
    finally:
        page.close()


def test_first_paint_of_a_wide_graph(benchmark, browser, tmp_path):
    folder = workload.make(str(tmp_path / "w"), N)
    pdg("cook", "wide.py", cwd=folder)
    server = Serve(folder)
    try:
        url = web_url(server)
        first_paint(browser, url)  # warm: the store's pages in the OS cache, the browser started
        times = [first_paint(browser, url) for _ in range(ROUNDS)]
        floors = [fetch_only(browser, url) for _ in range(ROUNDS)]
        benchmark.pedantic(lambda: None, rounds=1, iterations=1)
    finally:
        server.stop()
    median = statistics.median(times)
    report(benchmark, f"web view first full paint of W({N:,})", median, "s", plain_value=statistics.median(floors),
           target="< 1.5 s", met=median < 1.5)  # fmt: skip


def test_a_node_of_100000_items(benchmark, browser, tmp_path):
    folder = str(tmp_path / "big")
    os.makedirs(folder)
    subprocess.run([sys.executable, "-c", FILL, os.path.join(folder, ".pdg", "pdg.db"), str(BIG_NODE)], check=True)
    server = Serve(folder)
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    try:
        page.goto(web_url(server))
        page.wait_for_function("window.pdgView && window.pdgView.ready", timeout=120_000)
        assert page.evaluate("() => pdgView.nodes.get('big/frames').count") == BIG_NODE
        loaded = page.evaluate("() => pdgView.paintedAt") / 1000  # navigation -> the 100,000 items fetched and drawn
        figures = page.evaluate(
            """(rounds) => {
                const v = pdgView, med = (a) => a.sort((x, y) => x - y)[Math.floor(a.length / 2)];
                const time = (fn) => { const t0 = performance.now(); fn(); return performance.now() - t0; };
                const draw = [], perf = [], scroll = [], hover = [], floor = [];
                const el = document.getElementById('color-mode');
                for (let r = 0; r < rounds; r++) {
                    v.mode = 'state'; el.value = 'state';
                    draw.push(time(() => { v.select('big/frames'); v.redrawAll(); }));
                    v.mode = 'time'; el.value = 'time';
                    perf.push(time(() => v.redrawAll()));
                }
                v.mode = 'state'; el.value = 'state'; v.redrawAll();
                const box = document.getElementById('items-scroll'), canvas = document.getElementById('items-canvas');
                const rect = canvas.getBoundingClientRect();
                for (let r = 0; r < 20; r++) {
                    box.scrollTop = (r * 997) % (box.scrollHeight - box.clientHeight);
                    scroll.push(time(() => v.drawPanel()));
                    hover.push(time(() => canvas.dispatchEvent(new MouseEvent('mousemove',
                        { clientX: rect.left + 50 + r * 7, clientY: rect.top + 30 + r * 3, bubbles: true }))));
                }
                const c = document.createElement('canvas'); c.width = 1250; c.height = 1000;
                const ctx = c.getContext('2d');
                for (let r = 0; r < rounds; r++) floor.push(time(() => {
                    ctx.fillStyle = '#43a047';
                    for (let i = 0; i < v.nodes.get('big/frames').count; i++) ctx.fillRect((i % 125) * 10, Math.floor(i / 125) % 100 * 10, 9, 9);
                    ctx.getImageData(0, 0, 1, 1);
                }));
                return { draw: med(draw), perf: med(perf), scroll: Math.max(...scroll), hover: Math.max(...hover), floor: med(floor) };
            }""",
            ROUNDS,
        )
        benchmark.pedantic(lambda: None, rounds=1, iterations=1)
    finally:
        page.close()
        server.stop()
    draw = figures["draw"] / 1000
    report(benchmark, f"a node of {BIG_NODE:,} work items drawn (overview and panel)", draw, "s",
           plain_value=figures["floor"] / 1000, target="< 2 s", met=draw < 2.0,
           by_cook_time_s=round(figures["perf"] / 1000, 4), page_load_to_drawn_s=round(loaded, 3), worst_scroll_frame_ms=round(figures["scroll"], 2),
           worst_hover_ms=round(figures["hover"], 2),
           scroll_and_hover_met=figures["scroll"] < 50 and figures["hover"] < 50)  # fmt: skip
    print(
        f"  page load to the node drawn {loaded:.3f} s; scroll step worst {figures['scroll']:.2f} ms, "
        f"hover worst {figures['hover']:.2f} ms (target < 50 ms)"
    )


def test_state_change_to_recolour(benchmark, browser, tmp_path):
    folder = workload.make(str(tmp_path / "w"), 20)
    pdg("cook", "wide.py", cwd=folder)
    store = os.path.join(folder, ".pdg", "pdg.db")
    item_id = json.loads(pdg("items", "upper", "--json", cwd=folder).stdout)["items"][0]["item_id"]
    writer = [sys.executable, "-c", WRITER, store, item_id, str(EVENTS), "0.03"]
    server = Serve(folder)
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    try:
        page.goto(web_url(server))
        page.wait_for_function("window.pdgView && window.pdgView.ready && window.pdgView.connected", timeout=60_000)
        page.evaluate("() => { pdgView.recolorLog = []; }")
        out = subprocess.run(writer, capture_output=True, text=True, check=True).stdout
        commits = {int(s): float(t) * 1000 for s, t in (line.split() for line in out.splitlines())}
        last = max(commits)
        page.wait_for_function(f"() => pdgView.seq >= {last}", timeout=30_000)
        shown = page.evaluate("() => pdgView.recolorLog")
        benchmark.pedantic(lambda: None, rounds=1, iterations=1)
    finally:
        page.close()
        server.stop()
    gaps = []
    for seq, at in sorted(commits.items()):
        after = [t for s, t in shown if s >= seq]
        if after:
            gaps.append((min(after) - at) / 1000)
    floor = statistics.median(_bare_reader_gaps(store, writer))
    median = statistics.median(gaps)
    report(benchmark, "store state change -> cell recoloured in the browser, median", median * 1000, "ms",
           plain_value=floor * 1000, target="< 100 ms", met=median < 0.100, events=len(gaps),
           p90_ms=round(sorted(gaps)[int(len(gaps) * 0.9)] * 1000, 1))  # fmt: skip
