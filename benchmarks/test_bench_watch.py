"""Issue 6: ``pdg watch`` on W(N): change-to-recook-start latency, the watcher's own work per change
with 10,000 against 100 watched inputs, and the memory and start-up time of watching 10,000 files.

Unlike the other benchmarks these run the Watcher in this process (in a thread, with the real
watchdog observer): the figures are about the watcher's loop, not interpreter start-up. Edits are
real file writes; "recook start" is the moment the watcher hands the cook its trigger.
"""

from __future__ import annotations

import itertools
import os
import queue
import statistics
import threading
import time
import tracemalloc

import pytest
import workload
from conftest import N, pdg, report
from pdgstore.engine.live.watch import Watcher
from pdgstore.engine.live.watchset import WatchSet
from pdgstore.log import EventLog
from pdgstore.readmodel import TableState

EDITS = int(os.environ.get("PDG_BENCH_EDITS", "50"))
DEBOUNCE_S = 0.05
_VERSIONS = itertools.count(1)  # every edit writes new bytes (the same bytes again cook nothing)


def _rss_kb() -> int:
    with open("/proc/self/status") as f:
        return next(int(line.split()[1]) for line in f if line.startswith("VmRSS:"))


class Watching:
    """A Watcher on ``folder`` in a thread; what it reports, timestamped, in a queue."""

    def __init__(self, folder: str, debounce_s: float = DEBOUNCE_S) -> None:
        self.reports: queue.SimpleQueue = queue.SimpleQueue()
        self.watcher = Watcher(os.path.join(folder, "wide.py"), debounce_s=debounce_s, rescan_s=3600,
                               report=lambda m: self.reports.put((m.kind, time.perf_counter(), m.data())))
        self.thread = threading.Thread(target=self.watcher.run, daemon=True)
        self.t0 = time.perf_counter()
        self.thread.start()
        self.started_at, self.started = self.wait("started")

    def wait(self, kind: str, timeout: float = 120) -> tuple[float, dict]:
        deadline = time.monotonic() + timeout
        while True:
            k, at, data = self.reports.get(timeout=max(0.01, deadline - time.monotonic()))
            if k == kind:
                return at, data

    def stop(self) -> None:
        self.watcher.stop("benchmark over")
        self.thread.join(30)


def _own_work_s(db: str, cook_id: int) -> float:
    """The seconds the items a cook last changed spent in their own work, read from the store."""
    with EventLog.open(db) as log, log.one_reading():
        return sum(i.duration_ns for i in TableState(log).iter_items(cook_id)) / 1e9


def edits(folder: str, watching: Watching, count: int) -> dict:
    """Edit ``count`` inputs one after another; per edit: latency to the cook's start, the
    watcher's verification time, the cook's time and what ran."""
    latency, verify, update, cook, engine = [], [], [], [], []
    for k in range(count):
        t0 = time.perf_counter()
        workload.change_one(folder, (k * 37) % 100, next(_VERSIONS) * 10)
        _at, change = watching.wait("change")
        started, _ = watching.wait("cook_start")
        _done, data = watching.wait("cook")
        assert data["summary"].counts["ran"] == 2, data["summary"].counts
        _ready, ready = watching.wait("ready")
        latency.append(started - t0)
        verify.append(change["verify_s"])
        update.append(ready["update_s"])
        cook.append(data["summary"].seconds)
        own = _own_work_s(watching.watcher.db, data["summary"].cook_id)
        engine.append(data["summary"].seconds - own)  # the recook beyond its items' own work
    return {"latency": statistics.median(latency), "verify": statistics.median(verify),
            "engine": statistics.median(engine),
            "update": statistics.median(update), "work": statistics.median(v + u for v, u in zip(verify, update)),
            "cook": statistics.median(cook), "latency_max": max(latency)}


@pytest.fixture(scope="module")
def folders(tmp_path_factory):
    base = tmp_path_factory.mktemp("watch")
    big = workload.make(str(base / "big"), N)
    small = workload.make(str(base / "small"), 100)
    for folder in (big, small):
        pdg("cook", "wide.py", "--json", cwd=folder)
    return big, small


def test_change_to_recook_latency(benchmark, folders):
    """Median over EDITS edits of one input of W(N): write -> the watcher starts the recook.
    Target: under 50 ms plus the debounce window."""
    big, _small = folders
    watching = Watching(big)
    try:
        edits(big, watching, 3)  # the first recooks of a process import and warm what the rest reuse
        rss_before = _rss_kb()
        figures = benchmark.pedantic(lambda: edits(big, watching, EDITS), rounds=1, iterations=1)
        rss_after = _rss_kb()
    finally:
        watching.stop()
    # a watcher that kept something of each recook grows with every edit (57 MB each at W(100,000)
    # when the store's frozen reads were kept): reported per recook
    report(benchmark, f"watcher memory growth per recook W({N}), over {EDITS} edits", (rss_after - rss_before) / EDITS,
           "KB", rss_before_mb=round(rss_before / 1024, 1), rss_after_mb=round(rss_after / 1024, 1))
    beyond = figures["latency"] - DEBOUNCE_S
    report(benchmark, f"change-to-recook-start latency W({N}), median of {EDITS} edits", figures["latency"] * 1e3,
           "ms", target=f"< 50 ms + debounce ({DEBOUNCE_S * 1e3:.0f} ms)", met=beyond < 0.050,
           beyond_debounce_ms=round(beyond * 1e3, 2), max_ms=round(figures["latency_max"] * 1e3, 1),
           cook_s=round(figures["cook"], 3))
    print(f"[pdg-bench]   beyond the debounce window: {beyond * 1e3:.1f} ms; the recook itself "
          f"(2 items run, W({N})): {figures['cook']:.3f} s", flush=True)


def test_cost_per_change_10000_vs_100_watched(benchmark, folders):
    """The watcher's own work per change (verifying the hinted file with the stat cascade, then
    updating the watch set from the recook) with N watched inputs against 100. Target: no more than
    with 100 (beyond the recook itself)."""
    big, small = folders
    rounds = max(10, EDITS // 2)
    results = {}
    for name, folder in (("small", small), ("big", big)):
        watching = Watching(folder)
        try:
            results[name] = edits(folder, watching, rounds)
        finally:
            watching.stop()
    benchmark.pedantic(lambda: None, rounds=1, iterations=1)
    big_r, small_r = results["big"], results["small"]
    ratio = big_r["work"] / small_r["work"]
    report(benchmark, f"watcher work per change, {N} vs 100 watched inputs", big_r["work"] * 1e6, "us",
           target="no more than with 100 (within noise: < 2x)", met=ratio < 2.0,
           small_us=round(small_r["work"] * 1e6, 1), ratio=round(ratio, 2),
           verify_us=[round(small_r["verify"] * 1e6, 1), round(big_r["verify"] * 1e6, 1)],
           update_us=[round(small_r["update"] * 1e6, 1), round(big_r["update"] * 1e6, 1)],
           latency_big_ms=round(results["big"]["latency"] * 1e3, 1),
           latency_small_ms=round(results["small"]["latency"] * 1e3, 1),
           cook_big_s=round(results["big"]["cook"], 3), cook_small_s=round(results["small"]["cook"], 3),
           engine_big_s=round(results["big"]["engine"], 4), engine_small_s=round(results["small"]["engine"], 4))
    print(f"[pdg-bench]   per change, 100 vs {N} inputs: verify {small_r['verify'] * 1e6:.0f} vs "
          f"{big_r['verify'] * 1e6:.0f} us, watch set update {small_r['update'] * 1e6:.0f} vs "
          f"{big_r['update'] * 1e6:.0f} us (the items the recook touched), total {ratio:.2f}x; change-to-recook-start "
          f"{results['small']['latency'] * 1e3:.1f} ms vs {results['big']['latency'] * 1e3:.1f} ms; the recook "
          f"itself {results['small']['cook']:.3f} s vs {results['big']['cook']:.3f} s, of which the engine's "
          f"(beyond the items' own work) {results['small']['engine'] * 1e3:.1f} ms vs "
          f"{results['big']['engine'] * 1e3:.1f} ms", flush=True)


def test_memory_and_startup_of_watching(benchmark, folders):
    """Start-up of a watch on an already-cooked W(N) (load the graph and store, the no-op first
    cook, build the watch set, start the observer) and what the watch set costs in memory."""
    big, _small = folders
    rss_before = _rss_kb()
    watching = Watching(big)
    startup = watching.started_at - watching.t0
    rss_after = _rss_kb()
    watcher = watching.watcher
    try:
        graph = watcher.graph
        scope = graph.topological_order()
        t0 = time.perf_counter()
        tracemalloc.start()
        with watcher.session.reading() as store:
            ws = WatchSet.build(graph, store, scope, store_dir=os.path.dirname(watcher.db),
                                graph_files=watcher._graph_files)
        size, _peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
        build_s = time.perf_counter() - t0
        t1 = time.perf_counter()
        ws.scan()
        scan_s = time.perf_counter() - t1
    finally:
        watching.stop()
    benchmark.pedantic(lambda: None, rounds=1, iterations=1)
    report(benchmark, f"watch start-up W({N}) ({len(ws):,} watched files, {len(ws.dirs)} folder watches)", startup,
           "s", rss_growth_mb=round((rss_after - rss_before) / 1024, 1), watchset_mb=round(size / 2**20, 2),
           watchset_build_s=round(build_s, 4), full_scan_s=round(scan_s, 4))
    print(f"[pdg-bench]   watch set: {size / 2**20:.2f} MB, built in {build_s * 1e3:.1f} ms; process RSS grew "
          f"{(rss_after - rss_before) / 1024:.1f} MB (the watch set; no store state is kept); one full stat scan (polling, "
          f"rescan): {scan_s * 1e3:.1f} ms", flush=True)


MAP_GRAPH = '''
import os
from pdgstore.engine import Graph

graph = Graph("map")
files = graph.file_pattern("files", "in/*.txt")

@graph.python_processor("upper", upstream=files)
def upper(item):
    os.makedirs("out1", exist_ok=True)
    dst = os.path.join("out1", item.input_path.name)
    with open(dst, "w") as f:
        f.write(item.input_path.read_text().upper())
    item.add_output_file(dst)
'''


def _map_recook_engine_s(folder: str, n: int, edits_count: int = 15) -> float:
    """Median engine time (the recook minus its item's own work) of a watcher's recook after one
    input of an N-input map graph changed, through the session the watcher uses."""
    import random

    from pdgstore.engine.graph.loader import load_graph
    from pdgstore.engine.live.writer import StoreSession

    os.makedirs(os.path.join(folder, "in"))
    with open(os.path.join(folder, "map.py"), "w") as f:
        f.write(MAP_GRAPH)
    for i in range(n):
        with open(os.path.join(folder, "in", f"f{i:06d}.txt"), "w") as f:
            f.write(f"hello {i}\n")
    graph = load_graph(os.path.join(folder, "map.py"))
    session = StoreSession(os.path.join(folder, ".pdg", "pdg.db"))
    session.cook(graph)
    engine = []
    for k in range(edits_count):
        path = os.path.join(folder, "in", f"f{(k * 37) % n:06d}.txt")
        with open(path, "w") as f:
            f.write(f"changed {random.random()}\n")
        summary = session.cook(graph, changed=[path])
        assert summary.counts["ran"] == 1, summary.counts
        own = _own_work_s(session.db, summary.cook_id)
        engine.append(summary.seconds - own)
    return statistics.median(engine)


def test_recook_engine_time_10000_vs_100_on_a_map_graph(benchmark, tmp_path):
    """A watcher's recook after one change on a graph whose change reaches one item (a file
    pattern and one processor): the engine's time beyond that item's own work, N inputs against
    100. Target (issue 6): no more than with 100."""
    small = _map_recook_engine_s(str(tmp_path / "small"), 100)
    big = benchmark.pedantic(lambda: _map_recook_engine_s(str(tmp_path / "big"), N), rounds=1, iterations=1)
    report(benchmark, f"watcher recook engine time, map graph, {N} inputs ({small * 1e3:.2f} ms with 100)", big * 1e3,
           "ms",
           target="no more than with 100 (within noise: < 2x)", met=big < 2 * small, small_ms=round(small * 1e3, 2))
