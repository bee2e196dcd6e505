"""Issue 19: static work items. A static cook of W(N) whose items were generated up front
(``pdg cook --generate-only``, then ``pdg cook``) against the dynamic cook of the same work; and the
rate at which ``--generate-only`` records static items."""

from __future__ import annotations

import os
import resource
import shutil
import sqlite3
import statistics
import sys
import time
from types import SimpleNamespace

import pytest
import workload
from conftest import ROUNDS, N, engine_median, median_seconds, pdg, report, run

GRAPHS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "graphs")
WALK = os.path.join(os.path.dirname(os.path.abspath(__file__)), "walk_generate.py")
#: the wedge count of the generation benchmark (2 items each: the wedge's and its processor's)
WEDGE = int(os.environ.get("PDG_BENCH_WEDGE", "100000"))


@pytest.mark.timeout(1200)
def test_static_cook_after_generate_only_vs_dynamic(benchmark, tmp_path):
    """Wall time of ``pdg cook wide.py`` on W(N) after ``pdg cook wide.py --generate-only`` (every
    static item recorded first and flushed to disk, not timed here, as ``workload.reset`` flushes
    before the dynamic cook) against a cold cook of the same graph with every processor dynamic
    (``wide_dynamic.py``, the baseline, timed in turns with it: the medians of each, and each
    round's ratio). Target: at most 1.1x. The generate-only step's own time is reported beside it."""
    folder = workload.make(str(tmp_path / "w"), N)
    shutil.copy(os.path.join(GRAPHS, "wide_dynamic.py"), os.path.join(folder, "wide_dynamic.py"))

    def dynamic():
        result = pdg("cook", "wide_dynamic.py", "--json", cwd=folder)
        assert result.json()["items"]["ran"] == N + 1
        return result

    dynamic_times, generate_s = [], []

    def generate_first():
        """The dynamic cook's turn just before each static cook's (both under the same load), then
        the static items generated for the static cook."""
        workload.reset(folder)
        dynamic_times.append(dynamic().seconds)
        workload.reset(folder)
        t0 = time.perf_counter()
        generated = pdg("cook", "wide.py", "--generate-only", "--json", cwd=folder).json()["generated"]
        generate_s.append(time.perf_counter() - t0)
        assert generated["upper"]["items"] == N and generated["concat"]["items"] == 1
        os.sync()  # as ``workload.reset`` before the dynamic cook: the timed cook does not write back this one's pages

    def static_cook():
        result = pdg("cook", "wide.py", "--json", cwd=folder)
        assert result.json()["items"]["ran"] == N + 1
        return result

    benchmark.pedantic(static_cook, setup=generate_first, rounds=ROUNDS, iterations=1)
    seconds, dynamic_s = engine_median(benchmark), statistics.median(dynamic_times)
    generate = sorted(generate_s)[len(generate_s) // 2]
    report(benchmark, f"static cook of W({N}) after --generate-only", seconds, "s", plain_value=dynamic_s,
           target="<= 1.1x the dynamic cook", met=seconds <= 1.1 * dynamic_s,
           generate_only_s=round(generate, 3), generate_then_cook_ratio=round((generate + seconds) / dynamic_s, 2),
           ratios=[round(c / d, 2) for c, d in zip(benchmark.stats.stats.data, dynamic_times, strict=True)])


def _sqlite_rows(path: str, n: int) -> float:
    """The baseline: n rows of about an event's size into a fresh SQLite file, one transaction."""
    t0 = time.perf_counter()
    db = sqlite3.connect(path)
    db.execute("PRAGMA journal_mode=WAL")
    db.execute("CREATE TABLE t (seq INTEGER PRIMARY KEY, kind TEXT, subject TEXT, payload BLOB)")
    with db:
        db.executemany("INSERT INTO t (kind, subject, payload) VALUES (?, ?, ?)",
                       (("WorkItemGenerated", f"{i:016x}", b"x" * 120) for i in range(n)))
    db.close()
    return time.perf_counter() - t0


def _items_table_rows(path: str, n: int) -> float:
    """The floor under any design that keeps a row per item in the ``items`` table (``pdg status``
    reads it): n rows shaped as a static item's (id, names, packed body and detail) into a fresh
    SQLite file with that table's indexes (``pdgstore.tables.TABLES_SQL``), one transaction, no
    event and no pdgstore code on the way."""
    import msgpack

    from pdgstore import tables

    db = sqlite3.connect(path)
    db.execute("PRAGMA journal_mode=WAL")
    db.execute("PRAGMA synchronous=NORMAL")
    for statement in tables.TABLES_SQL.split(";"):
        if statement.strip() and "ON events" not in statement:
            db.execute(statement)
    body = msgpack.packb([0, [], 0, 0, "", "", 1, 0])
    detail = msgpack.packb([["0123456789abcdef"], {"seed": ["int", [5]], "wedgeindex": ["int", [3]]}, [], "", {}])
    rows = [(i, f"{(i * 2654435761) % 2**64:016x}", "g", "work", f"work_{i}", "uncooked", 1, body, detail)
            for i in range(n)]
    t0 = time.perf_counter()
    with db:
        db.executemany("INSERT INTO items VALUES (?,?,?,?,?,?,?,?,?)", rows)
    seconds = time.perf_counter() - t0
    db.close()
    return seconds


def _cpu_s(fn) -> float:
    """The CPU seconds (user + system) of the child processes ``fn`` waits for (the cook and its
    log appender): on a machine shared with others, the work done, whatever the wait for a core."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    fn()
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


@pytest.mark.timeout(1200)
def test_generate_static_items_rate(benchmark, tmp_path):
    """``pdg cook wedge_static.py --generate-only`` (a fresh process, start-up included) on a wedge
    of 100,000 variants and a static python processor under it: 200,000 work items generated and
    recorded, none run. The figure is items recorded per second; target: >= 100,000 items/s.

    Baselines in the same run: the same number of bare rows written to SQLite in one transaction
    (the figure's ``plain``), as many rows into a table shaped as ``items`` with its indexes (the
    floor of any design that keeps a row per item there: ``_items_table_rows``), and the
    item-by-item walk that made these items before the bulk path
    (``walk_generate.py``: ``engine.cook.bulk`` turned off), wall and CPU seconds of both."""
    folder = str(tmp_path / "g")
    os.makedirs(folder)
    shutil.copy(os.path.join(GRAPHS, "wedge_static.py"), os.path.join(folder, "wedge_static.py"))
    items = 2 * WEDGE

    def reset():
        shutil.rmtree(os.path.join(folder, ".pdg"), ignore_errors=True)
        os.sync()

    def generate():
        result = pdg("cook", "wedge_static.py", "--generate-only", "--set", f"count={WEDGE}", "--json", cwd=folder)
        generated = result.json()["generated"]
        assert generated["wedge"]["items"] == WEDGE and generated["work"]["items"] == WEDGE
        return result

    def walk():
        args = ["cook", "wedge_static.py", "--generate-only", "--set", f"count={WEDGE}", "--json"]
        result = run([sys.executable, WALK, *args], folder)
        assert result.json()["generated"]["work"]["items"] == WEDGE
        return result

    baseline_s = median_seconds(
        lambda: SimpleNamespace(seconds=_sqlite_rows(str(tmp_path / f"rows{time.monotonic_ns()}.db"), items)),
        rounds=ROUNDS)
    items_table_s = median_seconds(
        lambda: SimpleNamespace(seconds=_items_table_rows(str(tmp_path / f"items{time.monotonic_ns()}.db"), items)),
        rounds=ROUNDS)
    walk_s = median_seconds(walk, setup=reset)
    reset()
    walk_cpu = _cpu_s(walk)
    reset()
    bulk_cpu = _cpu_s(generate)
    benchmark.pedantic(generate, setup=reset, rounds=ROUNDS, iterations=1)
    seconds = engine_median(benchmark)
    rate = items / seconds
    report(benchmark, f"--generate-only of {items:,} static items", rate, "items/s",
           plain_value=items / baseline_s, target=">= 100,000 items/s", met=rate >= 100_000,
           seconds=round(seconds, 3), walk_items_per_s=round(items / walk_s), vs_walk=round(walk_s / seconds, 2),
           cpu_s=round(bulk_cpu, 2), walk_cpu_s=round(walk_cpu, 2), cpu_vs_walk=round(walk_cpu / bulk_cpu, 2),
           items_table_rows_per_s=round(items / items_table_s), vs_items_table=round(items_table_s / seconds, 3))
    print(f"[pdg-bench] the item-by-item walk, same run: {items / walk_s:,.0f} items/s (bulk {walk_s / seconds:.2f}x "
          f"faster); CPU {walk_cpu:.2f} s vs bulk {bulk_cpu:.2f} s ({walk_cpu / bulk_cpu:.2f}x)", flush=True)
    print(f"[pdg-bench] bare rows into a table shaped as items (its indexes), same run: {items / items_table_s:,.0f}"
          f" rows/s ({baseline_s / items_table_s:.2f}x the bare rows): the items rows alone, written this way, "
          f"{'fit' if items / items_table_s >= 100_000 else 'do not fit'} in the 100,000 items/s target", flush=True)
