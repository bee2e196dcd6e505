"""A real file-size limit (``ulimit -f``) under a real cook (issue 17, defects 1, 2 and 8): SQLite
gets EFBIG writing the WAL or checkpointing into the database file, in the cook or in its log
appender. The cook ends with one sentence and exit 1, or succeeds; either way the store opens again
(the header may run ahead of the file: not corruption), ``pdg check`` passes, and the next cook
without the limit is correct."""

from __future__ import annotations

import json
import resource
import subprocess
import sys

import pytest

from conftest import _env

pytestmark = pytest.mark.timeout(400)

GRAPH = """
import os
from pdgstore.engine import Graph

graph = Graph("big")
r = graph.range_generate("r", graph.parm("count", 2100))

@graph.python_processor("make", upstream=r)
def make(item):
    v = item.attrib_value("value")
    item.set_attrib("label", "x" * 40 + str(v))
"""


@pytest.mark.parametrize("limit_kb", [96, 400, 1200, 2400])
def test_a_cook_under_a_file_size_limit_leaves_a_sound_store(project, limit_kb):
    project.write("big.py", GRAPH)

    def limit():
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit_kb * 1024, limit_kb * 1024))

    r = subprocess.run(
        [sys.executable, "-m", "pdgstore.cli.main", "cook", "big.py", "--json"], cwd=project.root,
        capture_output=True, text=True, timeout=300, env=_env(), preexec_fn=limit,
    )
    assert "Traceback" not in r.stderr, r.stderr
    if r.returncode != 0:
        assert r.returncode == 1, (r.returncode, r.stdout, r.stderr)
        lines = r.stderr.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("pdg: "), r.stderr
        assert "no transaction" not in r.stderr  # the disk's error, not a failed rollback's
        assert json.loads(r.stdout)["status"] in ("error", "failed"), r.stdout
    if project.db.exists():
        for args in (["status"], ["check"]):
            again = project.pdg_process(*args)
            assert again.returncode == 0, (args, again.stdout, again.stderr)
            assert "corrupt" not in again.stderr
    again = project.pdg_process("cook", "big.py", "--json")
    assert again.returncode == 0, (again.stdout[-1500:], again.stderr)
    assert project.pdg_process("check").returncode == 0
    data = json.loads(project.pdg_process("status", "--json").stdout)
    assert data, data
