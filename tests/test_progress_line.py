"""A long command tells a terminal how far it got, and nothing else hears of it: ``pdg check`` run
for real with its stderr on a pseudo-terminal draws its progress line there; with stderr piped,
not a byte of it, and its answer on stdout is the same either way. A cook tells what it is
generating before it has any share to show (it showed "0/1" for 9 s of a 19 s recook)."""

from __future__ import annotations

import os
import pty
import select
import subprocess
import sys
import time

import pdgstore.engine as engine
from conftest import REPO
from pdgstore.engine.cook.settle import PHASE_EVERY

#: the line's first words, before the replay reports a count (``cli.check``)
FIRST_WORDS = "checking the file's integrity"


def _env() -> dict:
    env = dict(os.environ, TERM="xterm", COLUMNS="120", LINES="40")
    env["PYTHONPATH"] = str(REPO) + os.pathsep + env.get("PYTHONPATH", "")
    env.pop("PDG_DB", None)
    return env


def _on_a_terminal(args: list[str], cwd, timeout: float = 60) -> tuple[int, str, str]:
    """Run ``pdg ARGS`` with stderr on a pseudo-terminal and stdout on a pipe: (exit code, what
    the terminal received, stdout)."""
    master, slave = pty.openpty()
    proc = subprocess.Popen(
        [sys.executable, "-m", "pdgstore.cli.main", *args],
        cwd=cwd,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=slave,
        env=_env(),
    )
    os.close(slave)  # the child holds it: once it exits, reading the master ends
    seen = b""
    deadline = time.monotonic() + timeout
    try:
        while time.monotonic() < deadline:
            ready, _, _ = select.select([master], [], [], 0.2)
            if not ready:
                if proc.poll() is not None:
                    break
                continue
            try:
                chunk = os.read(master, 65536)
            except OSError:  # EIO: the terminal's other end is closed, the child is gone
                break
            if not chunk:
                break
            seen += chunk
        assert proc.stdout is not None
        out = proc.stdout.read().decode()
        code = proc.wait(timeout=max(1.0, deadline - time.monotonic()))
    finally:
        os.close(master)
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    return code, seen.decode(errors="replace"), out


def test_check_shows_progress_on_a_terminal_and_none_into_a_pipe(wide):
    assert wide.pdg("cook", "wide.py").exit_code == 0

    code, terminal, out = _on_a_terminal(["check"], wide.root)
    assert code == 0, terminal
    assert FIRST_WORDS in terminal  # drawn on stderr, where the person is
    assert "ok (" in out and FIRST_WORDS not in out  # the answer on stdout, nothing else

    piped = wide.pdg_process("check")
    assert piped.returncode == 0, piped.stderr
    assert piped.stdout.split(" in ")[0] == out.split(" in ")[0]  # the same answer: "...: ok (N events replayed"
    assert piped.stderr == ""  # no line, no escape codes

    code, terminal, out = _on_a_terminal(["check", "--json"], wide.root)
    assert code == 0, terminal
    assert FIRST_WORDS not in terminal and '"ok": true' in out  # --json: a script reads it, not a person


def _told_before_a_share(graph, db: str) -> list[tuple[str, int]]:
    """What a cook of ``graph`` told its phase hook (as ``pdg cook``'s line hears it) before its
    first count with a total."""
    heard: list[tuple] = []

    def on_cook(cook) -> None:
        cook.settle.phase = lambda what, known: heard.append(("phase", what, known))

    summary = engine.cook_graph(
        graph, db=db, progress=lambda done, total: heard.append(("count", done, total)), on_cook=on_cook
    )
    assert summary.status == "success", summary.message
    first_share = next(i for i, (kind, _, total) in enumerate(heard) if kind == "count" and total > 0)
    return [(what, known) for kind, what, known in heard[:first_share] if kind == "phase"]


def test_a_cook_says_what_it_generates_before_it_has_a_share_to_show(tmp_path):
    db = str(tmp_path / ".pdg" / "pdg.db")
    for count in (2 * PHASE_EVERY, 2 * PHASE_EVERY + 1):  # cold (generated in bulk), then the full walk
        g = engine.Graph("g", root=str(tmp_path))
        g.wedge("wedge", count=count)
        assert _told_before_a_share(g, db) == [
            ("generating work items (wedge)", PHASE_EVERY),
            ("generating work items (wedge)", 2 * PHASE_EVERY),
        ]
