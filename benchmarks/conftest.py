"""Helpers the benchmarks share: W(N) folders, timed subprocesses (with the child's own peak RSS),
the plain loop's reference time, and reporting a figure with its ratio and target.

Every engine figure is a fresh ``pdg`` process (interpreter start-up and imports included), timed
from outside; the plain loop runs the same way (``python plain.py MODE FOLDER``), in the same
pytest run, so both see the same machine load.
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass

import pytest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import workload  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

#: the workload size of the issue's targets; PDG_BENCH_N makes a quicker, smaller run
N = int(os.environ.get("PDG_BENCH_N", "10000"))
#: timed rounds per figure (medians are quoted)
ROUNDS = int(os.environ.get("PDG_BENCH_ROUNDS", "3"))

BIN = os.path.dirname(sys.executable)
PDG = os.path.join(BIN, "pdg")
PLAIN = os.path.join(os.path.dirname(os.path.abspath(__file__)), "plain.py")


@dataclass
class Run:
    seconds: float
    stdout: str
    maxrss_kb: int  # the child's own peak resident set (Linux: KiB)
    cpu_s: float = 0.0  # user + system CPU of the child and the children it waited for

    def json(self) -> dict:
        return json.loads(self.stdout)


#: GNU time, which starts the command from its own small process and says its peak RSS (``%M``)
GNU_TIME = "/usr/bin/time" if os.access("/usr/bin/time", os.X_OK) else None


def run(args: list[str], cwd: str, check: bool = True) -> Run:
    """Run a command to completion; its wall time, CPU and its own peak RSS.

    The peak RSS is GNU time's ``%M`` for the command. ``wait4``'s ``ru_maxrss`` of a child this
    process starts is at least this process's own RSS: Linux counts the parent's pages, which a
    forked (or vforked) child maps until it execs, in the child's peak. So every figure read that way
    was pytest's RSS whenever the command used less (``pdg status``: 51.6 MB read, 18.6 MB its own).
    GNU time starts the command from a process of a few MB. Without GNU time, ``wait4``'s figure is
    kept, an upper bound."""
    out_path = os.path.join(cwd, ".bench-stdout")
    rss_path = os.path.join(cwd, ".bench-rss")
    command = [GNU_TIME, "-f", "%M", "-o", rss_path, *args] if GNU_TIME else args
    with open(out_path, "w+") as out:
        t0 = time.perf_counter()
        proc = subprocess.Popen(command, cwd=cwd, stdout=out, stderr=subprocess.PIPE)
        stderr = proc.stderr.read()
        _pid, status, usage = os.wait4(proc.pid, 0)  # its CPU includes the command's: time waits for it
        seconds = time.perf_counter() - t0
        proc.returncode = os.waitstatus_to_exitcode(status)
        proc.stderr.close()
        out.seek(0)
        stdout = out.read()
    os.remove(out_path)
    maxrss_kb = usage.ru_maxrss
    if GNU_TIME:
        with open(rss_path) as f:
            maxrss_kb = int(f.read().split()[-1])  # after "Command exited with non-zero status N", if it did
        os.remove(rss_path)
    if check and proc.returncode != 0:
        raise AssertionError(f"{args} exited {proc.returncode}: {stderr.decode(errors='replace')[-2000:]}")
    return Run(seconds, stdout, maxrss_kb, usage.ru_utime + usage.ru_stime)


#: how long a benchmark waits for the disk to go quiet before it starts timing (``PDG_BENCH_SETTLE_S``:
#: 0 for a run whose figures do not matter, as the suite's check that the benchmarks still run)
SETTLE_S = float(os.environ.get("PDG_BENCH_SETTLE_S", "120"))


@pytest.fixture(autouse=True)
def quiet_disk():
    """Start each benchmark on a quiet disk. Deleting many files (pytest removing an old run's
    W(10,000) folders, say) keeps a disk mounted with ``discard`` busy for minutes, and file
    creation, which both the engine and the plain loop do 10,000 times, then costs 2-5x: figures
    taken meanwhile mean nothing. Waits (up to ``SETTLE_S``) until Linux's I/O pressure
    (``/proc/pressure/io``, ``some avg10``) falls under 1%; elsewhere it only syncs."""
    settle()


def settle() -> None:
    """Write back what earlier runs left dirty and wait (up to ``SETTLE_S``) for the disk to go
    quiet: between two timed runs too, where the next would otherwise pay for the last one's
    writes (at W(1,000,000) a cold run leaves gigabytes for the kernel to write back)."""
    os.sync()
    deadline = time.monotonic() + SETTLE_S
    while time.monotonic() < deadline and io_pressure() >= 1.0:
        time.sleep(2)


def io_pressure() -> float:
    """The share of the last 10 s in which some task waited for I/O (%; 0 when Linux does not say)."""
    try:
        with open("/proc/pressure/io") as f:
            some = f.readline().split()
    except OSError:
        return 0.0
    return float(some[1].partition("=")[2]) if len(some) > 1 and some[1].startswith("avg10=") else 0.0


def pdg(*args: str, cwd: str) -> Run:
    return run([PDG, *args], cwd)


def plain(mode: str, folder: str) -> Run:
    return run([sys.executable, PLAIN, mode, folder], folder)


def median_seconds(fn, rounds: int = ROUNDS, setup=None) -> float:
    times = []
    for _ in range(rounds):
        if setup is not None:
            setup()
        times.append(fn().seconds)
    return statistics.median(times)


def report(benchmark, name: str, value: float, unit: str, *, plain_value: float | None = None,
           target: str = "", met: bool | None = None, **extra) -> None:
    """Record a figure in the benchmark's extra_info and print it (visible with ``-s``)."""
    info = {"figure": name, "value": round(value, 4), "unit": unit, **extra}
    line = f"{name}: {value:,.3f} {unit}"
    if plain_value is not None:
        ratio = value / plain_value
        info.update(plain=round(plain_value, 4), ratio=round(ratio, 2))
        line += f" | plain loop {plain_value:,.3f} {unit} | ratio {ratio:.2f}x"
    if target:
        info.update(target=target, met=met)
        line += f" | target {target}: {'met' if met else 'NOT met'}"
    if extra:
        line += " | " + ", ".join(f"{key} {value}" for key, value in extra.items())
    benchmark.extra_info.update(info)
    print(f"\n[pdg-bench] {line}", flush=True)


def engine_median(benchmark) -> float:
    return benchmark.stats.stats.median


@pytest.fixture(scope="session", autouse=True)
def bytecode() -> None:
    """Byte-compile pdgstore, engine and cli once, as ``pip install`` does for an installed package.

    An editable install compiles a module on first import and keeps its bytecode, unless
    ``PYTHONDONTWRITEBYTECODE`` is set (it is on some machines, this one included): then every
    ``pdg`` process would compile ~50 modules from source (~45 ms) and the figures would measure
    the environment, not pdgstore. The plain loop is one small file; Python compiles it either way.
    """
    import compileall

    for package in ("pdgstore", "engine", "cli"):
        compileall.compile_dir(os.path.join(ROOT, package), quiet=1)


@pytest.fixture(scope="session")
def cooked(tmp_path_factory) -> str:
    """A W(N) folder cooked once by ``pdg cook`` (N work items per stage): a store to read."""
    folder = workload.make(str(tmp_path_factory.mktemp("cooked") / "w"), N)
    pdg("cook", "wide.py", "--json", cwd=folder)
    return folder


def pytest_collection_modifyitems(config, items):
    """Benchmarks are long on purpose (a quiet-disk wait, W(1,000,000) cooks): the suite's 120 s
    per-test timeout is for tests, so each benchmark gets an hour before it is called stuck, unless
    ``--timeout`` says otherwise (``--timeout 0``: never; a loaded machine's cold W(1,000,000) took
    over an hour, and the hour cut the module's fixture short)."""
    if config.getoption("timeout", None) is not None:
        return
    for item in items:
        if item.get_closest_marker("timeout") is None:
            item.add_marker(pytest.mark.timeout(3600))
