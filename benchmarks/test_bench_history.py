"""Issue 7: cook history on a store of 1,000,000 events: ``--at`` from the nearest snapshot, replay
into a no-op handler, and compaction keeping 10 cooks.

The store is made directly through pdgstore (a cook's worth of events per cook, appended in batches
and snapshotted every 20,000 events as the engine does): 50 cooks of a 5,000-item node, each
dirtying and rerunning every item, ~1,000,000 events in all. ``PDG_BENCH_EVENTS`` makes it smaller.
"""

from __future__ import annotations

import os
import shutil
import time

import pytest
from conftest import PDG, ROUNDS, engine_median, pdg, report, run

from pdgstore import events as ev
from pdgstore.log import EventLog
from pdgstore.projection import apply
from pdgstore.state import State

EVENTS = int(os.environ.get("PDG_BENCH_EVENTS", "1000000"))
ITEMS = 5_000
SNAPSHOT_EVERY = 20_000  # as engine.cook.loop.SNAPSHOT_EVERY
GRAPH = "hist"


def _cook_events(cook_id: int, seq: int, first: bool) -> list[ev.Event]:
    """One cook: every item (re)generated or dirtied, scheduled, cooking, cooked."""
    env = dict(cook_id=cook_id, graph=GRAPH)
    t = time.time_ns()
    out: list[ev.Event] = [ev.CookStarted(seq=seq, time_ns=t, node="", jobs=2, pid=1, **env)]
    for i in range(ITEMS):
        item_id = f"{i:016x}"
        record = [f"out/f{i:05d}.txt", "file/text", 60 + cook_id, t + i, f"{(i * 7919 + cook_id):016x}"]
        if first:
            out.append(ev.WorkItemGenerated(seq=0, time_ns=t, item_id=item_id, node="work", name=f"work_{i + 1}",
                                            index=i, inputs=[record], **env))
        else:
            out.append(ev.WorkItemDirtied(seq=0, time_ns=t, item_id=item_id,
                                          reason={"cause": "parm", "parm": "seed", "old": cook_id - 1,
                                                  "new": cook_id, "cache_state": "dirty_stale"}, **env))
        out.append(ev.WorkItemStateChanged(seq=0, time_ns=t, item_id=item_id, state="scheduled", **env))
        out.append(ev.WorkItemStateChanged(seq=0, time_ns=t, item_id=item_id, state="cooking", **env))
        out.append(ev.WorkItemCooked(seq=0, time_ns=t, item_id=item_id, outputs=[record], started_ns=t,
                                     duration_ns=1_000_000, attrs={"n": ["int", [cook_id]]},
                                     signature=f"{cook_id:08x}{i:08x}", **env))
    out.append(ev.CookFinished(seq=0, time_ns=t, status="success", counts={"ran": ITEMS}, **env))
    for k, e in enumerate(out):
        object.__setattr__(e, "seq", seq + k)
    return out


def make_store(path: str, n_events: int) -> int:
    """Append cooks until ``n_events``; snapshot as the engine does. Returns the number of cooks."""
    state = State()
    since = 0
    cook_id = 0
    with EventLog.open(path, writer=True, create=True) as log:
        log.append([ev.GraphLoaded(seq=1, time_ns=time.time_ns(), cook_id=0, graph=GRAPH, path="g.py", root=".",
                                   nodes=[{"name": "work", "type": "python_processor", "inputs": [], "parms": {}}])])
        apply(state, next(log.events(0)))
        seq = 2
        while seq <= n_events:
            cook_id += 1
            batch = _cook_events(cook_id, seq, first=cook_id == 1)
            for i in range(0, len(batch), 2_000):
                log.append(batch[i:i + 2_000])
            for e in batch:
                apply(state, e)
            seq += len(batch)
            since += len(batch)
            if since >= SNAPSHOT_EVERY:
                log.save_snapshot(state)
                since = 0
    return cook_id


@pytest.fixture(scope="module")
def big_store(tmp_path_factory) -> str:
    folder = tmp_path_factory.mktemp("history")
    path = str(folder / ".pdg" / "pdg.db")
    t0 = time.perf_counter()
    cooks = make_store(path, EVENTS)
    print(f"\n[pdg-bench] made a store of {EVENTS:,} events ({cooks} cooks) in {time.perf_counter() - t0:.1f} s")
    return path


def _worst_ref(path: str) -> int:
    """The seq farthest from the snapshot before it: the slowest point to travel to."""
    with EventLog.open(path) as log:
        seqs = [r[0] for r in log.conn.execute("SELECT seq FROM snapshots ORDER BY seq")] + [log.last_seq() + 1]
    worst = max(zip(seqs, seqs[1:]), key=lambda pair: pair[1] - pair[0])
    return worst[1] - 1


def test_at_on_a_million_events(benchmark, big_store):
    """Wall time of ``pdg status --at SEQ --json`` (a fresh process) for the point farthest from any
    snapshot in a store of 1,000,000 events. Target: under 1 s."""
    seq = _worst_ref(big_store)
    folder = os.path.dirname(os.path.dirname(big_store))

    def at():
        result = pdg("status", "--at", str(seq), "--json", cwd=folder)
        assert result.json()["at"]["seq"] == seq
        return result

    benchmark.pedantic(at, rounds=ROUNDS + 2, iterations=1)
    seconds = engine_median(benchmark)
    with EventLog.open(big_store) as log:
        gap = seq - log.conn.execute("SELECT max(seq) FROM snapshots WHERE seq <= ?", (seq,)).fetchone()[0]
        t0 = time.perf_counter()
        log.state_at(seq)
        library_s = time.perf_counter() - t0
    report(benchmark, f"pdg status --at (worst point, {EVENTS:,} events, {gap:,} replayed)", seconds, "s",
           target="< 1 s", met=seconds < 1.0, library_state_at_s=round(library_s, 3))


def test_replay_to_a_noop_handler(benchmark, big_store):
    """Events per second that ``EventLog.replay`` feeds a handler that does nothing, over the whole
    store (the library path of ``pdg replay``). Target: at least 200,000 events/s."""
    calls = [0]

    def noop(event):
        calls[0] += 1

    def replay_all():
        with EventLog.open(big_store) as log:
            for event in log.replay(0):
                noop(event)

    benchmark.pedantic(replay_all, rounds=max(1, ROUNDS - 2), iterations=1)
    rate = EVENTS / engine_median(benchmark)
    report(benchmark, f"replay into a no-op handler ({EVENTS:,} events)", rate, "events/s",
           target=">= 200,000 events/s", met=rate >= 200_000, handler_calls=calls[0])


def test_compaction_keeping_ten_cooks(benchmark, big_store, tmp_path):
    """Time of ``pdg compact --keep-cooks 10`` on a copy of the 1,000,000-event store, and its size
    before and after (the figure is the whole command: fold, delete, vacuum)."""
    copies = iter(range(100))
    results = []

    def setup():
        folder = tmp_path / f"c{next(copies)}"
        shutil.copytree(os.path.dirname(os.path.dirname(big_store)), folder)
        return (str(folder),), {}

    def compact(folder):
        result = pdg("compact", "--keep-cooks", "10", "--json", cwd=folder)
        results.append(result.json()["result"])
        shutil.rmtree(folder)
        return result

    benchmark.pedantic(compact, setup=setup, rounds=1, iterations=1)
    done = results[-1]
    report(benchmark, f"pdg compact --keep-cooks 10 ({EVENTS:,} events)", engine_median(benchmark), "s",
           events_removed=done["events_removed"], bytes_before=done["bytes_before"],
           bytes_after=done["bytes_after"])
    print(f"[pdg-bench] compaction: {done['events_removed']:,} events folded; "
          f"{done['bytes_before'] / 1e6:.1f} MB -> {done['bytes_after'] / 1e6:.1f} MB", flush=True)
    assert done["bytes_after"] < done["bytes_before"]


def test_events_json_streams_in_constant_memory(benchmark, big_store):
    """``pdg events --json`` over the 1,000,000-event store: wall time and the process's own peak
    RSS (``conftest.run``: GNU time's), which must not grow with the log (target: under 100 MB; the
    store itself is ~225 MB)."""
    folder = os.path.dirname(os.path.dirname(big_store))
    with EventLog.open(big_store) as log:
        total = log.last_seq()
    peaks = []

    def stream():
        result = run([PDG, "events", "--json"], folder)
        assert result.stdout.count("\n") == total
        peaks.append(result.maxrss_kb)
        return result

    benchmark.pedantic(stream, rounds=1, iterations=1)
    peak_mb = max(peaks) / 1024
    report(benchmark, f"pdg events --json ({total:,} events) peak RSS", peak_mb, "MB", target="< 100 MB",
           met=peak_mb < 100, seconds=round(engine_median(benchmark), 2))
