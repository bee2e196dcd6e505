"""Issue 16: a million work items. W(N) with N from ``PDG_BENCH_SCALE_N`` (default 100,000: 2N + 2
work items), against ``plain.py`` at the same N in the same run: reads from the store's tables,
the cold cook and its memory, the recooks, ``pdg check``, ``--at`` and the store's size.

Run: ``PDG_BENCH_SCALE_N=100000 pytest benchmarks/test_bench_scale.py -s --timeout 0``. The cold
cooks take ``PDG_BENCH_SCALE_ROUNDS`` rounds (3 by default; a round of W(1,000,000) takes minutes),
each the plain loop's cold run then the engine's, on folders reset between rounds; every other cook
runs once. Every figure prints with its target.
"""

from __future__ import annotations

import os
import shutil
import sqlite3
import statistics
import tempfile

import pytest
import workload
from conftest import Run, pdg, plain, report, run, settle

SCALE_N = int(os.environ.get("PDG_BENCH_SCALE_N", "100000"))
#: rounds of the cold cooks: a single cold run of each side is at the mercy of the file system (the
#: first run in a folder made seconds before can take twice as long as the next: write-back of the
#: inputs just made, inodes just freed), so the medians of same-run turns are compared
COLD_ROUNDS = int(os.environ.get("PDG_BENCH_SCALE_ROUNDS", "3"))
#: the small W(N) whose cold cook's peak RSS is the baseline of the growth per work item
SMALL_N = 10_000
READ_ROUNDS = 3
READ_S, READ_MB = 0.3, 80


@pytest.fixture(scope="module")
def scale(tmp_path_factory):
    """W(SCALE_N) cooked cold by the plain loop and by ``pdg cook`` in turns (``COLD_ROUNDS``, the
    folders reset between rounds; the last round's stores are what the other figures use), and the
    small W(10,000) cooked cold for the memory baseline."""
    base = tmp_path_factory.mktemp("scale")
    small = workload.make(str(base / "small"), SMALL_N)
    engine = workload.make(str(base / "engine"), SCALE_N)
    reference = workload.make(str(base / "plain"), SCALE_N)
    os.sync()
    small_run = pdg("cook", "wide.py", "--json", cwd=small)
    plain_runs: list[Run] = []
    cold_runs: list[Run] = []
    for turn in range(COLD_ROUNDS):
        if turn:
            workload.reset(reference)
            workload.reset(engine)
        # each after the disk went quiet: at W(1,000,000) the run before leaves gigabytes of dirty
        # pages, and whichever side ran second paid for the first one's write-back
        settle()
        plain_runs.append(plain("cold", reference))  # its turn just before the engine's: the same load
        settle()
        cold_runs.append(pdg("cook", "wide.py", "--json", cwd=engine))
        assert cold_runs[-1].json()["items"]["ran"] == SCALE_N + 1
    yield {"engine": engine, "plain": reference, "cold": cold_runs, "plain_cold": plain_runs, "small": small_run}
    for folder in (reference, engine):
        workload.empty_trash(folder)


def _median(runs: list[Run], value=lambda r: r.seconds) -> float:
    return statistics.median(value(r) for r in runs)


def _items(result: Run) -> int:
    return sum(result.json()["items"].values())


def test_cold_cook(benchmark, scale):
    """Wall time of the cold ``pdg cook`` of W(N) (a fresh process) against the plain loop's cold
    run: the medians of the rounds, and each round's ratio. Target: at most 2x."""
    colds, plains = scale["cold"], scale["plain_cold"]
    benchmark.pedantic(lambda: None, rounds=1, iterations=1)
    seconds, reference = _median(colds), _median(plains)
    cpu = lambda r: r.cpu_s  # noqa: E731
    report(benchmark, f"cold pdg cook W({SCALE_N:,})", seconds, "s", plain_value=reference,
           target="<= 2x plain", met=seconds <= 2 * reference,
           ratios=[round(c.seconds / p.seconds, 2) for c, p in zip(colds, plains, strict=True)],
           cpu_ratio=round(_median(colds, cpu) / _median(plains, cpu), 2), rounds=len(colds))


#: where the in-memory pairs run (``test_cold_cook_in_memory``), and the room they need a work item
MEMORY_FS = "/dev/shm"
MEMORY_BYTES_PER_N = 16 << 10  # an input, its output and both stores, in 4 KiB pages, with room to spare


def _memory_room(n: int) -> str:
    """Why W(n) cannot run in ``MEMORY_FS`` on this machine, or '' when it can: the folder exists
    and is writable, and both it and the memory the system has free hold W(n) with room to spare."""
    if not os.path.isdir(MEMORY_FS) or not os.access(MEMORY_FS, os.W_OK):
        return f"{MEMORY_FS} is not a writable folder"
    need = n * MEMORY_BYTES_PER_N
    st = os.statvfs(MEMORY_FS)
    if st.f_bavail * st.f_frsize < need:
        return f"{MEMORY_FS} has less than {need >> 20:,} MB free"
    with open("/proc/meminfo") as f:
        available_kb = next((int(line.split()[1]) for line in f if line.startswith("MemAvailable:")), 0)
    if available_kb * 1024 < 2 * need:
        return f"the system has less than {2 * need >> 20:,} MB of memory available"
    return ""


def test_cold_cook_in_memory(benchmark):
    """The cold pair again with the disk taken out: W(N) in ``MEMORY_FS`` (tmpfs), the plain loop
    and ``pdg cook`` in turns, ``COLD_ROUNDS`` rounds, the outputs and stores removed between runs
    (tmpfs reuses freed inodes at once). On disk the pair moves with whatever else the shared disk
    does, by 1.7-3.5x in one hour of stop 38; in memory each side repeats within 2-3% (stop 37), so
    this ratio is the engine's own cost, and the one to compare from one day to the next. Reported
    beside the disk figure, whose target it is not."""
    why_not = _memory_room(SCALE_N)
    if why_not:
        pytest.skip(f"no in-memory pair at W({SCALE_N:,}): {why_not}")
    folder = tempfile.mkdtemp(prefix="pdg-bench-", dir=MEMORY_FS)
    try:
        workload.make(folder, SCALE_N)
        plains: list[Run] = []
        cooks: list[Run] = []
        for _ in range(COLD_ROUNDS):
            for side, runs in (("plain", plains), ("engine", cooks)):
                workload.clear(folder)
                runs.append(plain("cold", folder) if side == "plain" else pdg("cook", "wide.py", "--json", cwd=folder))
        assert cooks[-1].json()["items"]["ran"] == SCALE_N + 1
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    benchmark.pedantic(lambda: None, rounds=1, iterations=1)
    seconds, reference = _median(cooks), _median(plains)
    report(benchmark, f"cold pdg cook W({SCALE_N:,}) in memory ({MEMORY_FS})", seconds, "s", plain_value=reference,
           target="reported (the engine's own cost; the 2x target is the disk pair's)", met=True,
           ratios=[round(c.seconds / p.seconds, 2) for c, p in zip(cooks, plains, strict=True)], rounds=len(cooks))


def test_cold_cook_memory_per_item(benchmark, scale):
    """Peak RSS of the cold cook of W(N) against that of W(10,000): the growth per work item.
    Target: at most 1 KB per work item."""
    if SCALE_N <= SMALL_N:
        pytest.skip(f"the growth is measured from W({SMALL_N:,}) to a bigger W(N); PDG_BENCH_SCALE_N is {SCALE_N:,}")
    small, big = scale["small"], max(scale["cold"], key=lambda r: r.maxrss_kb)  # the highest of the rounds
    benchmark.pedantic(lambda: None, rounds=1, iterations=1)
    per_item_kb = (big.maxrss_kb - small.maxrss_kb) / (_items(big) - _items(small))
    report(benchmark, f"cold cook peak RSS growth per work item, W({SMALL_N:,}) -> W({SCALE_N:,})", per_item_kb,
           "KB/item", target="<= 1 KB/item", met=per_item_kb <= 1, rss_small_mb=round(small.maxrss_kb / 1024, 1),
           rss_big_mb=round(big.maxrss_kb / 1024, 1))


READS = {
    "status": ("status", "--json"),
    "show": ("show", "upper_7", "--json"),
    "items_none": ("items", "upper", "--state", "cooked_fail", "--json"),
    "history": ("history", "--json"),
    # the cooks that touched a node: each cook's end names its nodes (CookFinished v3)
    "history_node": ("history", "--node", "upper", "--json"),
    "explain": ("explain", "concat_1", "--json"),
    "items_concat": ("items", "concat", "--json"),
    # not a target of the issue: the item with a list of N entries, shown as a head and a count
    "show_long": ("show", "concat_1"),
}


def _timed_read(benchmark, args: tuple, folder: str) -> tuple[float, float, list[Run]]:
    """``pdg ARGS`` in ``folder``, a fresh process each of ``READ_ROUNDS`` rounds: (the median
    seconds, the largest peak RSS in MB, the runs)."""
    runs: list[Run] = []

    def read():
        result = pdg(*args, cwd=folder)
        runs.append(result)
        return result

    benchmark.pedantic(read, rounds=READ_ROUNDS, iterations=1)
    return benchmark.stats.stats.median, max(r.maxrss_kb for r in runs) / 1024, runs


@pytest.mark.parametrize("name", list(READS))
def test_read(benchmark, scale, name):
    """Wall time and peak RSS of one read command (a fresh ``pdg`` process, start-up included) on
    the store of W(N). Target: under 0.3 s and 80 MB, the same at every N."""
    args = READS[name]
    seconds, rss_mb, runs = _timed_read(benchmark, args, scale["engine"])
    # the CPU time beside the wall time: on a loaded machine the wall time is mostly waiting for a core
    cpu_s = statistics.median(r.cpu_s for r in runs)
    report(benchmark, f"pdg {' '.join(args)} W({SCALE_N:,})", seconds, "s", target=f"< {READ_S} s and < {READ_MB} MB",
           met=seconds < READ_S and rss_mb < READ_MB, peak_rss_mb=round(rss_mb, 1), cpu_s=round(cpu_s, 3))


#: reads whose answer covers every item of a node or of a cook: they cost what they return, so
#: their figures are per item (reported, no target)
WHOLE_READS = {
    "cold_cook_detail": lambda cook_id: ("history", str(cook_id)),
    "node_listing": lambda cook_id: ("items", "upper", "--json"),
}


@pytest.mark.parametrize("name", list(WHOLE_READS))
def test_whole_read(benchmark, scale, name):
    """``pdg history COOK`` of the cold cook (what it did to its 2N + 2 items, summed per node) and
    ``pdg items upper --json`` (N items): wall time (and per item read) and peak RSS."""
    cook_id = scale["cold"][-1].json()["cook_id"]
    args = WHOLE_READS[name](cook_id)
    items = 2 * SCALE_N + 2 if name == "cold_cook_detail" else SCALE_N
    seconds, rss_mb, _ = _timed_read(benchmark, args, scale["engine"])
    report(benchmark, f"pdg {' '.join(args)} W({SCALE_N:,})", seconds, "s", target="reported", met=True,
           peak_rss_mb=round(rss_mb, 1), us_per_item=round(seconds / items * 1e6, 2))


def _ready(folder: str) -> None:
    """Just before a timed recook: ``folder``'s files read into the page cache, the disk quiet."""
    workload.warm(folder)
    settle()


def test_noop_recook(benchmark, scale):
    """A no-op ``pdg cook`` of W(N) against the plain loop's no-op, each with its folder's files
    in the page cache (``workload.warm``), as after a user's last cook. Target: at most 1.5x."""
    _ready(scale["plain"])
    reference = plain("noop", scale["plain"])
    _ready(scale["engine"])
    result = benchmark.pedantic(lambda: pdg("cook", "wide.py", "--json", cwd=scale["engine"]), rounds=1, iterations=1)
    assert result.json()["items"]["ran"] == 0
    seconds = benchmark.stats.stats.median
    report(benchmark, f"no-op recook W({SCALE_N:,})", seconds, "s", plain_value=reference.seconds,
           target="<= 1.5x plain", met=seconds <= 1.5 * reference.seconds, peak_rss_mb=round(result.maxrss_kb / 1024),
           cpu_ratio=round(result.cpu_s / reference.cpu_s, 2))


def test_one_change(benchmark, scale):
    """One input rewritten, then ``pdg cook`` (2 items run) against the plain loop's change run.
    Each side's files are in the page cache first (``workload.warm``). Target: at most 2x."""
    workload.change_one(scale["plain"], SCALE_N // 2, 1)
    _ready(scale["plain"])
    reference = plain("change", scale["plain"])
    assert reference.stdout.strip() == "2"
    workload.change_one(scale["engine"], SCALE_N // 2, 1)
    _ready(scale["engine"])
    result = benchmark.pedantic(lambda: pdg("cook", "wide.py", "--json", cwd=scale["engine"]), rounds=1, iterations=1)
    assert result.json()["items"]["ran"] == 2
    seconds = benchmark.stats.stats.median
    report(benchmark, f"one input changed W({SCALE_N:,})", seconds, "s", plain_value=reference.seconds,
           target="<= 2x plain", met=seconds <= 2 * reference.seconds, peak_rss_mb=round(result.maxrss_kb / 1024),
           cpu_ratio=round(result.cpu_s / reference.cpu_s, 2))


#: inputs rewritten by ``test_many_changes``
MANY = 1_000


def test_many_changes(benchmark, scale):
    """``MANY`` inputs rewritten (spread over the folder), then ``pdg cook`` (their chains and the
    concat run) against the plain loop's change run. Reported; no target in the issue (one change
    has one: at most 2x). The items holding the changed files are looked up (``pdgstore.fileindex``),
    the wait-for-all merged in place, the rest of the store left unread."""
    step = SCALE_N // MANY
    for i in range(0, SCALE_N, step):
        workload.change_one(scale["plain"], i, 2)
    _ready(scale["plain"])
    reference = plain("change", scale["plain"])
    assert reference.stdout.strip() == str(MANY + 1)
    for i in range(0, SCALE_N, step):
        workload.change_one(scale["engine"], i, 2)
    _ready(scale["engine"])
    result = benchmark.pedantic(lambda: pdg("cook", "wide.py", "--json", cwd=scale["engine"]), rounds=1, iterations=1)
    assert result.json()["items"]["ran"] == MANY + 1
    seconds = benchmark.stats.stats.median
    report(benchmark, f"{MANY:,} inputs changed W({SCALE_N:,})", seconds, "s", plain_value=reference.seconds,
           target="reported", met=True, peak_rss_mb=round(result.maxrss_kb / 1024),
           cpu_ratio=round(result.cpu_s / reference.cpu_s, 2))


def test_status_at_the_cook_before(benchmark, scale):
    """``pdg status --at cook~1 --json`` after the recooks (the tables overlaid back to the cook
    before the last). Target: under 2 s."""
    seconds, rss_mb, _ = _timed_read(benchmark, ("status", "--at", "cook~1", "--json"), scale["engine"])
    report(benchmark, f"pdg status --at cook~1 W({SCALE_N:,})", seconds, "s", target="< 2 s", met=seconds < 2,
           peak_rss_mb=round(rss_mb, 1))


def test_check(benchmark, scale):
    """``pdg check`` of the store of W(N): a replay from zero into scratch tables, compared row by
    row. Target: completes; time and peak RSS reported."""
    result = benchmark.pedantic(lambda: run([os.path.join(os.path.dirname(__import__("sys").executable), "pdg"),
                                              "check", "--json"], scale["engine"]), rounds=1, iterations=1)
    data = result.json()
    assert data["ok"], data
    report(benchmark, f"pdg check W({SCALE_N:,})", benchmark.stats.stats.median, "s", target="completes",
           met=True, peak_rss_mb=round(result.maxrss_kb / 1024, 1), events=data["events"],
           replay_events_per_s=data["replay_events_per_s"])


def test_store_size(benchmark, scale):
    """The store's size on disk per work item, and where the bytes go (SQLite's dbstat: bytes per
    table and index). Reported, no target."""
    db = os.path.join(scale["engine"], ".pdg", "pdg.db")
    benchmark.pedantic(lambda: None, rounds=1, iterations=1)
    conn = sqlite3.connect(db)
    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    items = conn.execute("SELECT count(*) FROM items").fetchone()[0]
    events = conn.execute("SELECT count(*) FROM events").fetchone()[0]
    parts = conn.execute("SELECT name, sum(pgsize) FROM dbstat GROUP BY name ORDER BY 2 DESC").fetchall()
    conn.close()
    size = os.path.getsize(db)
    where = {name: round(b / items, 1) for name, b in parts if b / items >= 0.5}
    report(benchmark, f"store size per work item W({SCALE_N:,})", size / items, "bytes/item", target="reported",
           met=True, store_mb=round(size / 2**20, 1), items=items, events=events, bytes_per_item_by_table=where)
    print("[pdg-bench] where the bytes go (bytes per work item): "
          + ", ".join(f"{name} {b}" for name, b in where.items()), flush=True)


def test_every_input_touched(benchmark, scale):
    """Every input touched (a new mtime, the same content), then ``pdg cook``: nothing runs, each
    file item is recorded restatted (``engine.incremental.restat``), against the plain loop's change
    run after the same touch (it hashes every file whose stat changed and reruns none). Last in the
    file: its 100,000 events would weigh on the store's figures above. Reported; no target in the
    issue (the walk it replaces took 5x the plain loop and 2x the cold cook's memory)."""
    workload.touch_inputs(scale["plain"])
    _ready(scale["plain"])
    reference = plain("change", scale["plain"])
    workload.touch_inputs(scale["engine"])
    _ready(scale["engine"])
    result = benchmark.pedantic(lambda: pdg("cook", "wide.py", "--json", cwd=scale["engine"]), rounds=1, iterations=1)
    assert result.json()["items"]["ran"] == 0
    seconds = benchmark.stats.stats.median
    report(benchmark, f"every input touched W({SCALE_N:,})", seconds, "s", plain_value=reference.seconds,
           target="reported", met=True, peak_rss_mb=round(result.maxrss_kb / 1024),
           cpu_ratio=round(result.cpu_s / reference.cpu_s, 2))


def test_processor_code_changed(benchmark, scale):
    """The processor's code changed (``upper`` of ``wide.py`` edited to write the same bytes), then
    ``pdg cook``: every ``upper`` item runs again; the inputs' items are reused, and so is the
    concatenation (its inputs came out the same: early cutoff). Against the plain loop's ``rerun``
    (every upper item again, each output written over the one there: on this machine's disk that
    overwriting alone costs several times what writing new files does) and the engine's cold cook
    of the same run. Last: its half million events would weigh on every figure above. Reported, no
    target (stop 44 found it at 14.2 s and 525 MB in memory, against 9.5 s and 223 MB cold)."""
    _ready(scale["plain"])
    reference = plain("rerun", scale["plain"])
    assert reference.stdout.strip() == str(SCALE_N + 1)
    path = os.path.join(scale["engine"], "wide.py")
    with open(path) as f:
        text = f.read()
    assert "text.upper().encode()" in text
    with open(path + ".tmp", "w") as f:
        f.write(text.replace("text.upper().encode()", 'text.upper().encode("utf-8")'))
    os.replace(path + ".tmp", path)
    _ready(scale["engine"])
    result = benchmark.pedantic(lambda: pdg("cook", "wide.py", "--json", cwd=scale["engine"]), rounds=1, iterations=1)
    assert result.json()["items"]["ran"] == SCALE_N
    seconds = benchmark.stats.stats.median
    cold = _median(scale["cold"])
    report(benchmark, f"processor's code changed W({SCALE_N:,})", seconds, "s",
           plain_value=reference.seconds, target="reported", met=True,
           vs_engine_cold=round(seconds / cold, 2), peak_rss_mb=round(result.maxrss_kb / 1024),
           cold_peak_rss_mb=round(_median(scale["cold"], lambda r: r.maxrss_kb) / 1024))
