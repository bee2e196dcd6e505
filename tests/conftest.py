"""Shared fixtures: a project directory with a graph file, and ways to run ``pdg`` for real."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import textwrap
import threading
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

#: the W(N) graph printing as a user's graph does, when it loads and from its processor: a command's
#: ``--json`` stdout must hold its JSON alone all the same (the prints go to stderr). The pool's
#: threads print at once: one string each, which ``print`` writes whole (the parts of
#: ``print('upper made', dst)`` are written one by one, and two threads' interleaved in one CI run)
CHATTY_WIDE_GRAPH = 'print("the graph file loads")\n' + WIDE_GRAPH.replace(
    "    item.add_output_file(dst)\n", "    print('upper made ' + dst)\n    item.add_output_file(dst)\n", 1
)


def golden_store(project: Project, name: str) -> Project:
    """``project`` holding the golden store ``tests/data/stores/<name>.db.gz`` (``wide`` over 300
    inputs, cooked by an older pdgstore, then ``in/f0003.txt`` changed and cooked again), with its
    graph and inputs as they were."""
    import gzip

    project.write("wide.py", WIDE_GRAPH)
    project.inputs(300)
    project.write("in/f0003.txt", "changed\n")
    project.db.parent.mkdir()
    with gzip.open(Path(__file__).resolve().parent / "data" / "stores" / f"{name}.db.gz") as src:
        with open(project.db, "wb") as dst:
            shutil.copyfileobj(src, dst)
    return project


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

    def popen(self, *args: str, extra_env: dict | None = None, **kwargs) -> subprocess.Popen:
        """``pdg ARGS`` started as a real process, SIGINT at its default as a terminal's Ctrl-C finds
        it: a test run started in the background (``cmd &`` without job control, nohup, some CI
        runners) hands its children SIGINT ignored, and a test's Ctrl-C would then do nothing."""
        kwargs.setdefault("preexec_fn", _sigint_default)
        return subprocess.Popen(
            [sys.executable, "-m", "pdgstore.cli.main", *args], cwd=self.root, stdout=subprocess.PIPE,
            stderr=subprocess.PIPE, text=True, env={**_env(), **(extra_env or {})}, **kwargs,
        )


def _sigint_default() -> None:
    signal.signal(signal.SIGINT, signal.SIG_DFL)


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


def cook_events(db, cook_id: int) -> list[tuple]:
    """A cook's events as (kind, payload), without what differs between two runs of the same cook
    (seq, time, pid): for comparing two stores' cooks event for event."""
    from pdgstore.log import EventLog

    with EventLog.open(str(db)) as log:
        return [
            (e.kind, {k: v for k, v in vars(e).items() if k not in ("seq", "time_ns", "pid")})
            for e in log.events(0, cook_id=cook_id)
        ]


def scans_of_events(conn, ask) -> tuple:
    """``ask()``'s answer, and the query plan lines of the statements it ran on ``conn`` that read
    the whole events table (``SCAN events``): a look-up meant to go through an index has none."""
    statements: list[str] = []
    conn.set_trace_callback(statements.append)
    try:
        answer = ask()
    finally:
        conn.set_trace_callback(None)
    selects = [sql for sql in statements if sql.lstrip().upper().startswith("SELECT")]
    assert selects, statements  # it read something: no plan at all proves nothing
    plans = [row[-1] for sql in selects for row in conn.execute("EXPLAIN QUERY PLAN " + sql)]
    return answer, [p for p in plans if p.startswith("SCAN events")]


@pytest.fixture
def wide(project: Project) -> Project:
    """A project holding the W(N) graph as ``wide.py`` and 20 inputs."""
    return wide_in(project.root)


class Serve:
    """A ``pdg serve --json`` process in a project, and its addresses from its first line.

    Its stderr is read as it comes (``stderr_text``), as a terminal would: a pipe nobody reads
    fills up and blocks the server's next write. If it does not stop after SIGTERM, ``stop`` makes
    it dump every thread's stack (faulthandler, on SIGABRT) and fails with that dump."""

    def __init__(self, project: Project, *extra: str) -> None:
        self.proc = project.popen("serve", "--json", *extra, extra_env={"PYTHONFAULTHANDLER": "1"})
        self._err: list[str] = []
        self._reader = threading.Thread(target=self._read_stderr, name="serve-stderr", daemon=True)
        line = self.proc.stdout.readline()
        self._reader.start()
        if not line:
            self._reader.join(10)
            raise AssertionError(f"pdg serve did not start: {self.stderr_text()}")
        self.info = json.loads(line)
        self.ws_port, self.tcp_port = self.info["ws_port"], self.info["tcp_port"]
        self.port = self.ws_port
        self.url = f"http://127.0.0.1:{self.port}/"

    def _read_stderr(self) -> None:
        for line in self.proc.stderr:
            self._err.append(line)

    def stderr_text(self) -> str:
        """What the server has written on stderr so far (all of it once it has exited)."""
        if self.proc.poll() is not None:
            self._reader.join(10)
        return "".join(self._err)

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(60)  # a loaded machine: closing the connections may take a while
            except subprocess.TimeoutExpired:
                self.proc.send_signal(signal.SIGABRT)  # faulthandler writes every thread's stack
                try:
                    self.proc.wait(10)
                except subprocess.TimeoutExpired:
                    self.proc.kill()
                    self.proc.wait()
                raise AssertionError(
                    f"pdg serve was still running 60 s after SIGTERM; its stderr:\n{self.stderr_text()[-20000:]}"
                ) from None
        self._reader.join(10)
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
