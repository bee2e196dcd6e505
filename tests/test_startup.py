"""Read commands start fast: they import the store and the command, not the cook engine.

A read command's wall time is mostly Python start-up (issue 16's W(100,000) reads). ``pdgstore.engine``
imports its parts when first asked for, so ``pdg status`` never loads the cook loop, the schedulers
or the graph library. Each command runs in a real ``pdg`` process that reports the modules it loaded.
"""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

PROBE = """
import json, sys
from pdgstore.cli.main import main
sys.argv = ["pdg", *sys.argv[1:]]
try:
    main()
except SystemExit:
    pass
print("\\nMODULES " + json.dumps(sorted(sys.modules)))
"""

#: packages a read command has no use for
COOK_PARTS = ("pdgstore.engine.cook", "pdgstore.engine.schedulers", "pdgstore.engine.graph", "pdgstore.engine.pdgapi")


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    from conftest import WIDE_GRAPH, Project

    project = Project(tmp_path_factory.mktemp("startup"))
    project.write("wide.py", WIDE_GRAPH)
    project.inputs(5)
    assert project.pdg("cook", "wide.py").exit_code == 0
    return project


@pytest.mark.parametrize(
    "args",
    [
        ("status",),
        ("status", "--json"),
        ("history", "--json"),
        ("items", "upper", "--json"),
        ("show", "upper_1", "--json"),
        ("explain", "upper_1"),
    ],
)
def test_read_commands_do_not_import_the_cook_engine(store, args):
    result = subprocess.run(
        [sys.executable, "-c", PROBE, *args], cwd=store.root, capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stderr
    modules = json.loads(result.stdout.rsplit("MODULES ", 1)[1])
    loaded = [m for m in modules if m.startswith(COOK_PARTS)]
    assert loaded == [], f"pdg {' '.join(args)} imported {loaded}"


@pytest.mark.parametrize(
    "args",
    [
        ("status", "--json"),
        ("history", "--json"),
        ("items", "upper", "--json"),
        ("items", "upper", "--state", "cooked_fail", "--json"),
        ("show", "upper_1", "--json"),
        ("explain", "upper_1", "--json"),
    ],
)
def test_json_answers_do_not_import_rich(store, args):
    """rich draws tables and colours; a ``--json`` answer has neither, and importing rich (about
    40 modules) was a third of such a read's start-up."""
    result = subprocess.run(
        [sys.executable, "-c", PROBE, *args], cwd=store.root, capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stderr
    modules = json.loads(result.stdout.rsplit("MODULES ", 1)[1])
    assert [m for m in modules if m == "rich" or m.startswith("rich.")] == [], f"pdg {' '.join(args)} imported rich"


COMMANDS_GRAPH = """
from pdgstore.engine import Graph

graph = Graph("startup_commands")
numbers = graph.range_generate("numbers", 3)
graph.command("run", numbers, "true")
"""


#: what no cook needs: the dask scheduler type (its module brings asyncio), compaction (only
#: ``--auto-compact``), PDG's own API (``import pdg``: its names load when a graph file uses them), pickle
#: (only pyobject attributes)
NEVER_COOKED = (
    "pdgstore.engine.schedulers.dask",
    "asyncio",
    "pdgstore.compact",
    "pdgstore.engine.pdgapi.scheduler",
    "pickle",
)
#: what only a cook that starts a job needs: the C library's posix_spawn (ctypes itself is loaded by
#: every ``pdg cook``, whose ``cli.memory`` sets glibc's mmap threshold through it)
JOBS_ONLY = ("pdgstore.engine.schedulers.spawnfree",)
#: what only a cook whose jobs call the result server needs: its HTTP and XML-RPC side (``true`` never calls)
CALLED_ONLY = ("pdgstore.engine.schedulers.rpchttp", "xmlrpc", "http.server")


def test_a_cook_imports_only_the_scheduler_types_it_uses(tmp_path):
    """A cook on the in-process and local schedulers does not import the dask scheduler type,
    whose module brings asyncio: a cost every W(N) and commands cook paid for nothing. Nor does it
    import what it does not use (``NEVER_COOKED``); a cook of in-process items starts no job, so it
    does not load the module that spawns jobs either (``JOBS_ONLY``), and jobs that never call the result
    server leave its HTTP side unloaded (``CALLED_ONLY``)."""
    from conftest import WIDE_GRAPH, Project

    project = Project(tmp_path)
    project.write("wide.py", WIDE_GRAPH)
    project.write("commands.py", COMMANDS_GRAPH)
    project.inputs(3)
    for graph in ("wide.py", "commands.py"):
        result = subprocess.run(
            [sys.executable, "-c", PROBE, "cook", graph, "--json"],
            cwd=project.root,
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert result.returncode == 0, result.stderr
        assert json.loads(result.stdout.rsplit("MODULES ", 1)[0])["items"]["ran"] >= 3
        modules = json.loads(result.stdout.rsplit("MODULES ", 1)[1])
        unused = [m for m in modules if m.startswith(NEVER_COOKED + CALLED_ONLY + (JOBS_ONLY if graph == "wide.py" else ()))]
        assert unused == [], f"pdg cook {graph} imported {unused}"
