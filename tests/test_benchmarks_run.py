"""The benchmarks still run as benchmarks: one of them, at a tiny N, through pytest-benchmark in a
pytest of its own, times its rounds and prints its figure. (A project-wide pytest option once made
pytest-benchmark think xdist was active, which turns every benchmark off, and nothing else failed.)"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def test_a_benchmark_runs_and_prints_its_figure(tmp_path):
    # a pytest of its own: not an xdist worker of this one (``PYTEST_XDIST_WORKER`` turns benchmarks off)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTEST_XDIST", "PYTEST_CURRENT"))}
    env.update(PDG_BENCH_N="20", PDG_BENCH_ROUNDS="1", PDG_BENCH_SETTLE_S="0")
    run = subprocess.run(
        [sys.executable, "-m", "pytest", "benchmarks/test_bench_store.py::test_status", "-q", "-s",
         "-p", "no:cacheprovider", "-p", "no:randomly", f"--basetemp={tmp_path / 'base'}"],
        cwd=REPO, env=env, capture_output=True, text=True, timeout=110,
    )  # fmt: skip
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    assert "[pdg-bench] pdg status (20-item store):" in run.stdout, run.stdout[-3000:]
    assert "Benchmarks are automatically disabled" not in run.stdout + run.stderr
