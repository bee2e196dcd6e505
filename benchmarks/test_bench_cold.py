"""Issue 3: a cold ``pdg cook`` of W(N) against the plain loop, and its memory per work item."""

from __future__ import annotations

import os
import shutil
import statistics

import workload
from conftest import PDG, ROUNDS, N, engine_median, pdg, plain, report, run


def test_cold_cook_vs_plain(benchmark, tmp_path):
    """Wall time of a cold ``pdg cook wide.py`` on W(10,000) (a fresh process, start-up included,
    nothing recorded yet) against the plain loop doing the same work cold, the two in turns (the
    medians of each, and each round's ratio). Target: at most 2x."""
    folder = workload.make(str(tmp_path / "w"), N)
    plains = []

    def plain_first():
        """The plain loop's turn just before each cook's: both under the same load (this machine's
        drifts by tens of percent within a minute)."""
        workload.reset(folder)
        plains.append(plain("cold", folder).seconds)
        workload.reset(folder)

    def cold_cook():
        result = pdg("cook", "wide.py", "--json", cwd=folder)
        assert result.json()["items"]["ran"] == N + 1
        return result

    benchmark.pedantic(cold_cook, setup=plain_first, rounds=ROUNDS, iterations=1)
    seconds, plain_s = engine_median(benchmark), statistics.median(plains)
    report(benchmark, f"cold cook W({N})", seconds, "s", plain_value=plain_s, target="<= 2x plain",
           met=seconds <= 2 * plain_s, per_item_overhead_us=round((seconds - plain_s) / N * 1e6, 1),
           ratios=[round(c / p, 2) for c, p in zip(benchmark.stats.stats.data, plains, strict=True)])


def test_cold_cook_whose_items_all_fail(benchmark, tmp_path):
    """A cold cook of W(N) whose processor raises on every item (``graphs/wide_failing.py``), against
    the cold cook of ``wide.py``, which succeeds, in turns. Each failure records its traceback:
    formatted from scratch each time, that took most of such a cook (stop 44:
    ``engine.schedulers.tracebacks``). Target (ours): at most 1.2x the cook that succeeds."""
    good = workload.make(str(tmp_path / "good"), N)
    bad = workload.make(str(tmp_path / "bad"), N)
    shutil.copy(os.path.join(os.path.dirname(workload.GRAPH), "wide_failing.py"), os.path.join(bad, "wide.py"))
    goods = []

    def good_first():
        workload.reset(good)
        result = pdg("cook", "wide.py", "--json", cwd=good)
        assert result.json()["items"]["ran"] == N + 1
        goods.append(result.seconds)
        workload.reset(bad)

    def failing_cook():
        result = run([PDG, "cook", "wide.py", "--json"], bad, check=False)
        summary = result.json()
        assert summary["status"] == "failed" and summary["items"]["failed"] == N, summary["items"]
        return result

    benchmark.pedantic(failing_cook, setup=good_first, rounds=ROUNDS, iterations=1)
    seconds, good_s = engine_median(benchmark), statistics.median(goods)
    report(benchmark, f"cold cook W({N}), every item failing", seconds, "s", target="<= 1.2x the cook that succeeds",
           met=seconds <= 1.2 * good_s, succeeding_s=round(good_s, 3), ratio=round(seconds / good_s, 2),
           ratios=[round(f / g, 2) for f, g in zip(benchmark.stats.stats.data, goods, strict=True)])


def _items(result) -> int:
    """The work items a cook's ``--json`` summary counts (W(N) has 2N + 2: N file items, N upper
    items, the wait-for-all partition and the concat item)."""
    return sum(result.json()["items"].values())


def test_peak_memory_per_item(benchmark, tmp_path):
    """Peak RSS of a cold ``pdg cook`` (its own, ``conftest.run``) at N=1,000 and
    N=10,000: the growth per work item between them (W(N) holds 2N + 2 work items; the growth per
    input file, twice that, is reported beside it). Target: under 3 KB per work item. The timed part
    is the N=10,000 cook."""
    small = workload.make(str(tmp_path / "small"), N // 10)
    big = workload.make(str(tmp_path / "big"), N)
    first = pdg("cook", "wide.py", "--json", cwd=small)
    rss_small, items_small = first.maxrss_kb, _items(first)
    peaks = []

    def cold_cook():
        result = pdg("cook", "wide.py", "--json", cwd=big)
        peaks.append((result.maxrss_kb, _items(result)))
        return result

    benchmark.pedantic(cold_cook, setup=lambda: workload.reset(big), rounds=1, iterations=1)
    rss_big, items_big = min(peaks)
    per_item_kb = (rss_big - rss_small) / (items_big - items_small)
    report(benchmark, "peak RSS growth per work item", per_item_kb, "KB/item", target="< 3 KB/item",
           met=per_item_kb < 3, per_input_file_kb=round((rss_big - rss_small) / (N - N // 10), 2),
           rss_small_mb=round(rss_small / 1024, 1), rss_big_mb=round(rss_big / 1024, 1),
           items_small=items_small, items_big=items_big)
