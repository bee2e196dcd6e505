"""Issue 20: the data layer served by ``pdg serve``, measured with real processes.

- **delta latency**: a writer process appends one event at a time to the store; a WebSocket client
  of ``pdg serve`` notes when the delta arrives. Median of the gaps between the writer's commit and
  the client's receipt; target < 50 ms. Baseline: the same writer seen by a bare SQLite reader that
  polls ``data_version`` every millisecond (how soon another process can know of a commit at all).
- **snapshot of a node with 100,000 work items** to a new WebSocket subscriber, from its subscribe
  request to the decoded frame; target < 1 s. Baseline: reading those 100,000 item ids from the store
  with plain SQLite and encoding them as JSON in the benchmark's own process.
- **50 subscribers during a cold W(N) cook**: the cook's wall time with ``pdg serve`` and 50
  WebSocket clients following the graph and its nodes, against the same cook with no server (same
  run, in pairs: alone and watched in turn, at least 3 pairs; the median of the per-pair ratios and
  their spread); target within 10%; and the server's peak RSS, target < 200 MB. On a shared
  2-core machine the wall-time ratio moves with the load more than with the server, so the figure
  also says what the server and the subscribers' process spent per cook in CPU seconds, as a share
  of the cook's own CPU (its processes included): that share is what they take from a machine
  whose cores are all busy.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import sqlite3
import statistics
import subprocess
import sys
import time

import pytest
import websockets
import workload
from conftest import PDG, ROUNDS, N, pdg, report

#: each waits for a quiet disk first (up to 2 min), then runs real cooks and servers
pytestmark = pytest.mark.timeout(1200)

HERE = os.path.dirname(os.path.abspath(__file__))
SUBSCRIBERS = int(os.environ.get("PDG_BENCH_SUBSCRIBERS", "50"))
#: PDG_BENCH_PAGE_JSON=1: the subscribers ask for no refs (every list as the page's plain JSON
#: values, what a client other than pdgd's gets) instead of what the pdgd client asks for
PAGE_JSON = os.environ.get("PDG_BENCH_PAGE_JSON") == "1"
#: PDG_BENCH_PACKED=0: the subscribers ask for refs but not for packed id lists (the pdgd client
#: before ``packedids``)
NO_PACKED = os.environ.get("PDG_BENCH_PACKED") == "0"
BIG_NODE = int(os.environ.get("PDG_BENCH_BIG_NODE", "100000"))
EVENTS = 40

#: a writer that appends one WorkItemStateChanged at a time and prints "seq time" after each commit
WRITER = r"""
import sys, time
from pdgstore.engine.cook.recorder import Recorder
from pdgstore import events as ev
from pdgstore.log import EventLog

path, item_id, count, pause = sys.argv[1], sys.argv[2], int(sys.argv[3]), float(sys.argv[4])
log = EventLog.open(path, writer=True)
recorder = Recorder(log, log.load_state(), graph="wide")
time.sleep(0.5)
for i in range(count):
    recorder.emit(ev.WorkItemStateChanged, item_id=item_id, state="cooking" if i % 2 else "scheduled")
    recorder.flush()
    committed = time.time()
    print(log.last_seq(), committed, flush=True)
    time.sleep(pause)
log.close()
"""

#: a WorkItemGenerated for each of N items of one node, appended in batches (no cook needed)
FILL = r"""
import sys
from pdgstore.engine.cook.recorder import Recorder
from pdgstore import events as ev
from pdgstore.log import EventLog

path, count = sys.argv[1], int(sys.argv[2])
log = EventLog.open(path, writer=True, create=True)
recorder = Recorder(log, log.load_state(), graph="big")
recorder.emit(ev.GraphLoaded, path="big.py", root=".", nodes=[{"name": "frames"}], parms={})
for i in range(count):
    recorder.emit(ev.WorkItemGenerated, item_id=f"{i:016x}", node="frames", name=f"frames_{i + 1}", index=i,
                  state="cooked_success")
    if i % 20000 == 0:
        recorder.flush()
recorder.flush()
log.close()
"""


def process_cpu_s(pid: int) -> float:
    """User + system CPU seconds of a running process (Linux ``/proc/PID/stat``)."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


class Serve:
    def __init__(self, folder: str) -> None:
        self.proc = subprocess.Popen(
            [PDG, "serve", "--json"], cwd=folder, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
        )
        self.info = json.loads(self.proc.stdout.readline())
        self.url = f"ws://127.0.0.1:{self.info['ws_port']}/"

    def cpu_s(self) -> float:
        return process_cpu_s(self.proc.pid)

    def peak_rss_mb(self) -> float:
        with open(f"/proc/{self.proc.pid}/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
        return 0.0

    def stop(self) -> None:
        self.proc.send_signal(signal.SIGTERM)
        self.proc.wait(30)
        self.proc.stdout.close()
        self.proc.stderr.close()


def test_delta_latency(benchmark, tmp_path):
    folder = workload.make(str(tmp_path / "w"), 20)
    pdg("cook", "wide.py", cwd=folder)
    store = os.path.join(folder, ".pdg", "pdg.db")
    item_id = json.loads(pdg("items", "upper", "--json", cwd=folder).stdout)["items"][0]["item_id"]
    writer = [sys.executable, "-c", WRITER, store, item_id, str(EVENTS), "0.03"]
    server = Serve(folder)
    try:

        async def follow() -> list[float]:
            received: dict[int, float] = {}
            async with websockets.connect(server.url) as ws:
                await ws.recv()
                await ws.send(json.dumps({"op": "subscribe", "path": f"pdg/wide/work_item_{item_id}"}))
                await ws.recv()  # the snapshot
                proc = await asyncio.create_subprocess_exec(*writer, stdout=asyncio.subprocess.PIPE)
                commits: dict[int, float] = {}

                async def read_writer():
                    async for line in proc.stdout:
                        seq, at = line.split()
                        commits[int(seq)] = float(at)

                reader = asyncio.create_task(read_writer())
                deadline = time.monotonic() + 120
                while time.monotonic() < deadline:
                    if reader.done() and commits and max(received, default=0) >= max(commits):
                        break
                    try:
                        frame = json.loads(await asyncio.wait_for(ws.recv(), 0.5))
                    except TimeoutError:
                        continue
                    if frame["op"] == "frame":
                        received[frame["seq"]] = time.time()
                await proc.wait()
                await reader
            return [received[s] - commits[s] for s in commits if s in received]

        gaps = benchmark.pedantic(lambda: asyncio.run(follow()), rounds=1, iterations=1)
    finally:
        server.stop()
    floor = statistics.median(_bare_reader_gaps(store, writer))
    median = statistics.median(gaps)
    report(benchmark, "store event -> WebSocket delta, median", median * 1000, "ms", plain_value=floor * 1000,
           target="< 50 ms", met=median < 0.050, events=len(gaps), p90_ms=round(sorted(gaps)[int(len(gaps) * 0.9)] * 1000, 1))


def _bare_reader_gaps(store: str, writer: list[str]) -> list[float]:
    """Gaps between the writer's commits and a bare SQLite reader (polling every 1 ms) seeing them."""
    conn = sqlite3.connect(store)
    proc = subprocess.Popen(writer, stdout=subprocess.PIPE, text=True)
    seen: dict[int, float] = {}
    version = None
    while proc.poll() is None or len(seen) < EVENTS:
        now_version = conn.execute("PRAGMA data_version").fetchone()[0]
        if now_version != version:
            version = now_version
            last = conn.execute("SELECT max(seq) FROM events").fetchone()[0]
            seen.setdefault(last, time.time())
        if proc.poll() is not None and len(seen) >= EVENTS:
            break
        time.sleep(0.001)
        if len(seen) > EVENTS + 5:
            break
    commits = dict((int(s), float(t)) for s, t in (line.split() for line in proc.stdout.read().splitlines()))
    proc.wait()
    conn.close()
    return [seen[s] - commits[s] for s in commits if s in seen] or [0.001]


def test_snapshot_of_a_big_node(benchmark, tmp_path):
    folder = str(tmp_path / "big")
    os.makedirs(folder)
    store = os.path.join(folder, ".pdg", "pdg.db")
    subprocess.run([sys.executable, "-c", FILL, store, str(BIG_NODE)], check=True)
    server = Serve(folder)
    try:

        async def subscribe() -> int:
            async with websockets.connect(server.url, max_size=1 << 30) as ws:
                await ws.recv()
                await ws.send(json.dumps({"op": "subscribe", "path": "pdg/big/node_frames"}))
                frame = json.loads(await ws.recv())
                return len(frame["messages"][0]["props"]["work_items"])

        def once() -> float:
            t0 = time.perf_counter()
            assert asyncio.run(subscribe()) == BIG_NODE
            return time.perf_counter() - t0

        times = [once() for _ in range(ROUNDS)]
        benchmark.pedantic(lambda: None, rounds=1, iterations=1)
        rss = server.peak_rss_mb()
    finally:
        server.stop()
    t0 = time.perf_counter()
    conn = sqlite3.connect(store)
    ids = [r[0] for r in conn.execute("SELECT subject FROM events WHERE kind = 'WorkItemGenerated' ORDER BY seq")]
    json.loads(json.dumps({"work_items": ids}))
    floor = time.perf_counter() - t0
    conn.close()
    median = statistics.median(times)
    report(benchmark, f"snapshot of a node of {BIG_NODE:,} work items", median, "s", plain_value=floor,
           target="< 1 s", met=median < 1.0, server_rss_mb=round(rss, 1))


#: pairs of cooks (one alone, one watched) for the fifty-subscribers figure: 5 unless
#: PDG_BENCH_PAIRS says (at least 3), so that one noisy round cannot decide it (a pair of cold
#: W(10,000) cooks takes ~7 s on a quiet machine; single pairs on a loaded one ranged 0.77-1.20x)
PAIRS = max(3, int(os.environ.get("PDG_BENCH_PAIRS", str(max(5, ROUNDS)))))


def _watched_cook(folder: str) -> dict:
    """One cold cook of ``folder`` with ``pdg serve`` and ``SUBSCRIBERS`` WebSocket subscribers (in
    another process) following it: its wall and CPU seconds, what the server and the subscribers
    spent in CPU while it ran until every subscriber saw its end, and the server's peak RSS."""
    os.makedirs(os.path.join(folder, ".pdg"))
    server = Serve(folder)
    clients = subprocess.Popen(
        [sys.executable, os.path.join(HERE, "datalayer_subscribers.py"), server.url, str(SUBSCRIBERS)]
        + (["--page-json"] if PAGE_JSON else []) + (["--no-packed"] if NO_PACKED else []),
        stdout=subprocess.PIPE, stdin=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        assert clients.stdout.readline().strip() == "subscribed"
        server_at, clients_at = server.cpu_s(), process_cpu_s(clients.pid)
        cook = pdg("cook", "wide.py", "--json", cwd=folder)
        clients.stdin.write("wait\n")
        clients.stdin.flush()
        counts = json.loads(clients.stdout.readline())
        assert counts["done"] == SUBSCRIBERS, counts  # every subscriber saw the whole cook
        return {
            "wall": cook.seconds,
            "cook_cpu": cook.cpu_s,
            "server_cpu": server.cpu_s() - server_at,
            "clients_cpu": process_cpu_s(clients.pid) - clients_at,
            "rss": server.peak_rss_mb(),
        }
    finally:
        clients.stdin.close()
        clients.wait(30)
        clients.stdout.close()
        server.stop()


def test_fifty_subscribers_during_a_cold_cook(benchmark, tmp_path):
    """``PAIRS`` pairs of cold cooks, one alone and one watched, in turn (alone first in even pairs,
    watched first in odd ones, so a drift of the machine's load favours neither): the figure is the
    median of the per-pair ratios, with their spread, beside the CPU share of the server and the
    subscribers (what a cook on a machine whose cores are all busy loses to them)."""
    folder = workload.make(str(tmp_path / "w"), N)
    ratios, watched, alone, alone_cpu = [], [], [], []

    def cook_alone() -> float:
        workload.reset(folder)
        cook = pdg("cook", "wide.py", "--json", cwd=folder)
        alone_cpu.append(cook.cpu_s)
        return cook.seconds

    for i in range(PAIRS):
        if i % 2 == 0:
            alone.append(cook_alone())
        workload.reset(folder)
        watched.append(_watched_cook(folder))
        if i % 2 == 1:
            alone.append(cook_alone())
        ratios.append(watched[-1]["wall"] / alone[-1])
    benchmark.pedantic(lambda: None, rounds=1, iterations=1)
    ratio = statistics.median(ratios)
    server_s, clients_s, cook_s = (statistics.median(w[k] for w in watched) for k in ("server_cpu", "clients_cpu", "cook_cpu"))
    shares = [(w["server_cpu"] + w["clients_cpu"]) / w["cook_cpu"] for w in watched]
    rss = max(w["rss"] for w in watched)
    kind = "page-JSON" if PAGE_JSON else "pdgd-like (refs)" if NO_PACKED else "pdgd-like (packed ids)"
    report(benchmark, f"cold cook W({N}) with {SUBSCRIBERS} {kind} subscribers", statistics.median(w["wall"] for w in watched),
           "s", plain_value=statistics.median(alone), target="<= 1.10x the cook alone (median of per-pair ratios)",
           met=ratio <= 1.10, pairs=PAIRS, pair_ratio_median=round(ratio, 3),
           pair_ratios=[round(r, 3) for r in ratios], server_rss_mb=round(rss, 1), server_rss_met=rss < 200,
           server_cpu_s=round(server_s, 3), subscribers_cpu_s=round(clients_s, 3), cook_cpu_s=round(cook_s, 3),
           cook_cpu_alone_s=round(statistics.median(alone_cpu), 3),
           cpu_share=round(statistics.median(shares), 3))  # fmt: skip
    print(f"[pdg-bench] per-pair wall ratio (watched / alone), {PAIRS} pairs: median {ratio:.3f}x, spread "
          f"{min(ratios):.3f}-{max(ratios):.3f}x | target <= 1.10x: {'met' if ratio <= 1.10 else 'NOT met'}", flush=True)
    print(f"[pdg-bench] CPU per watched cook: pdg serve {server_s:.2f} s + {SUBSCRIBERS} subscribers {clients_s:.2f} s"
          f" = {statistics.median(shares):.3f}x the cook's own {cook_s:.2f} s (median of {PAIRS}; spread "
          f"{min(shares):.3f}-{max(shares):.3f}x); the cook alone used {statistics.median(alone_cpu):.2f} s", flush=True)
    print(f"[pdg-bench] pdg serve peak RSS during it: {rss:.1f} MB | target < 200 MB: "
          f"{'met' if rss < 200 else 'NOT met'}", flush=True)
