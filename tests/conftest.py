"""Shared fixtures: a project directory with a graph file, and ways to run ``pdg`` for real."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from click.testing import CliRunner
from pdgstore.cli.main import pdg

REPO = Path(__file__).resolve().parent.parent

WIDE_GRAPH = '''
import os
from pdgstore.engine import Graph

graph = Graph("wide")
files = graph.file_pattern("files", "in/*.txt")

@graph.python_processor("upper", upstream=files)
def upper(item):
    os.makedirs("out1", exist_ok=True)
    dst = os.path.join("out1", item.input_path.name)
    with open(dst, "w") as f:
        f.write(item.input_path.read_text().upper())
    item.add_output_file(dst)

gather = graph.wait_for_all("gather", upper)

@graph.python_processor("concat", upstream=gather)
def concat(item):
    os.makedirs("out2", exist_ok=True)
    with open("out2/all.txt", "w") as out:
        for f in sorted(item.input_files, key=lambda f: f.relpath):
            out.write(f.path.read_text())
    item.add_output_file("out2/all.txt")
'''


class Project:
    """A temporary project directory: write a graph file and inputs, run ``pdg`` on it."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.db = root / ".pdg" / "pdg.db"

    def write(self, relpath: str, text: str) -> Path:
        path = self.root / relpath
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text))
        return path

    def inputs(self, n: int, folder: str = "in") -> None:
        for i in range(n):
            self.write(f"{folder}/f{i:04d}.txt", f"hello world {i}\n")

    def pdg(self, *args: str, cwd: Path | None = None, env: dict | None = None):
        """Run the ``pdg`` command in-process (click's runner) from ``cwd`` (default: the project)."""
        runner = CliRunner()
        old = os.getcwd()
        os.chdir(cwd or self.root)
        try:
            return runner.invoke(pdg, list(args), env=env, catch_exceptions=False)
        finally:
            os.chdir(old)

    def pdg_process(self, *args: str, cwd: Path | None = None, timeout: float = 120, **kwargs):
        """Run ``pdg`` as a real subprocess (for signals, exit codes and tracebacks)."""
        return subprocess.run(
            [sys.executable, "-m", "pdgstore.cli.main", *args], cwd=cwd or self.root, capture_output=True, text=True,
            timeout=timeout, env=_env(), **kwargs,
        )

    def popen(self, *args: str, **kwargs) -> subprocess.Popen:
        return subprocess.Popen(
            [sys.executable, "-m", "pdgstore.cli.main", *args], cwd=self.root, stdout=subprocess.PIPE,
            stderr=subprocess.PIPE, text=True, env=_env(), **kwargs,
        )


def _env() -> dict:
    env = dict(os.environ)
    env["PYTHONPATH"] = str(REPO) + os.pathsep + env.get("PYTHONPATH", "")
    env.pop("PDG_DB", None)
    return env


@pytest.fixture
def project(tmp_path: Path) -> Project:
    return Project(tmp_path)


def copied(template: Path, root: Path) -> Project:
    """A project in ``root`` holding a copy of ``template``'s folder. A module-scoped fixture cooks a
    project once and each test gets its own copy to read or change: a store lives in its project's
    folder and moves with it, so the copy answers as the original does."""
    shutil.copytree(template, root, dirs_exist_ok=True)
    return Project(root)


def wide_in(root: Path) -> Project:
    """A project in ``root`` holding the W(N) graph as ``wide.py`` and 20 inputs."""
    project = Project(root)
    project.write("wide.py", WIDE_GRAPH)
    project.inputs(20)
    return project


@pytest.fixture
def wide(project: Project) -> Project:
    """A project holding the W(N) graph as ``wide.py`` and 20 inputs."""
    return wide_in(project.root)


class Serve:
    """A ``pdg serve --json`` process in a project, and its addresses from its first line."""

    def __init__(self, project: Project, *extra: str) -> None:
        self.proc = project.popen("serve", "--json", *extra)
        line = self.proc.stdout.readline()
        if not line:
            raise AssertionError(f"pdg serve did not start: {self.proc.stderr.read()}")
        self.info = json.loads(line)
        self.ws_port, self.tcp_port = self.info["ws_port"], self.info["tcp_port"]
        self.port = self.ws_port
        self.url = f"http://127.0.0.1:{self.port}/"

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            self.proc.wait(60)  # a loaded machine: closing the connections may take a while
        self.proc.stdout.close()
        self.proc.stderr.close()


@pytest.fixture
def served(project: Project) -> Project:
    """The project ``serve`` serves: a test module or folder overrides it with a project of its own."""
    return project


@pytest.fixture
def serve(served: Project):
    """``serve(*flags)`` starts a ``pdg serve`` in the ``served`` project; all stop after the test."""
    servers: list[Serve] = []

    def start(*extra: str) -> Serve:
        server = Serve(served, *extra)
        servers.append(server)
        return server

    yield start
    for server in servers:
        server.stop()
