"""A real full disk under a real cook (issue 17, defect 1 and "faults below the store"): the store's
folder is a small tmpfs (a private mount namespace, so nothing outside the test sees it), the cook
fills it, and then the space comes back (the tmpfs is remounted larger).

Whatever size the disk has, the cook ends with exit 0, or exit 1 and one sentence; the store it
leaves is never called corrupt, SQLite's integrity check says ok, ``pdg status`` and ``pdg check``
pass, every state change an event handler heard is in the log, and once space is back the next cook
finishes with correct outputs."""

from __future__ import annotations

import shlex
import shutil
import sqlite3
import subprocess
import sys

import pytest
from conftest import _env

from pdgstore.log import EventLog

pytestmark = [
    pytest.mark.timeout(400),
    pytest.mark.skipif(not shutil.which("unshare"), reason="needs unshare for a private tmpfs"),
]

GRAPH = """
import os
from pdgstore.engine import Graph

graph = Graph("full")
r = graph.range_generate("r", 2100)

@graph.python_processor("make", upstream=r)
def make(item):
    v = item.attrib_value("value")
    item.set_attrib("label", "x" * 60 + str(v))
    os.makedirs("out", exist_ok=True)
    with open(f"out/{v}.txt", "w") as f:
        f.write(f"{v * 3}\\n")
    item.add_output_file(f"out/{v}.txt")

@graph.on("work_item_state_change")
def ack(event):  # a handler hears only of events already in the log
    fd = os.open("acks.txt", os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    os.write(fd, f"{event.work_item_id} {event.current_state}\\n".encode())
    os.close(fd)
"""


def in_a_small_disk(root, size_kb: int) -> subprocess.CompletedProcess:
    """Cook with ``.pdg`` on a tmpfs of ``size_kb``; status and check; a copy of the store as the full
    disk left it (``left/``, and the handler's acks as ``acks-left.txt``); the tmpfs grown to 64 MiB; cook and check again; the store copied out
    (``after/``). Each command's stdout, stderr and exit code go to files beside the graph."""
    pdg = f"{shlex.quote(sys.executable)} -m pdgstore.cli.main"

    def step(name: str, args: str) -> str:
        return f"{pdg} {args} > {name}.out 2> {name}.err; echo $? > {name}.rc"

    script = " && ".join([
        "mkdir -p .pdg",
        f"mount -t tmpfs -o size={size_kb}k tmpfs .pdg",
        "{ " + step("cook", "cook full.py --json") + "; }",
        "{ " + step("status", "status") + "; }",
        "{ " + step("check", "check") + "; }",
        "cp -a .pdg left",
        "{ cp acks.txt acks-left.txt 2>/dev/null || true; }",
        "mount -o remount,size=64m .pdg",
        "{ " + step("again", "cook full.py --json") + "; }",
        "{ " + step("recheck", "check") + "; }",
        "cp -a .pdg after",
    ])
    return subprocess.run(["unshare", "-m", "sh", "-c", script], cwd=root, capture_output=True, text=True,
                          timeout=380, env=_env())


def result(root, name: str) -> tuple[int, str, str]:
    return (int((root / f"{name}.rc").read_text()), (root / f"{name}.out").read_text(),
            (root / f"{name}.err").read_text())


@pytest.mark.parametrize("size_kb", [12, 96, 400, 1200, 2400])
def test_a_cook_on_a_full_disk_leaves_a_sound_store_and_cooks_once_space_is_back(project, size_kb):
    probe = subprocess.run(["unshare", "-m", "true"], capture_output=True)
    if probe.returncode:
        pytest.skip("no permission for a private mount namespace here")
    project.write("full.py", GRAPH)
    ran = in_a_small_disk(project.root, size_kb)
    assert ran.returncode == 0, (ran.stdout, ran.stderr)
    root = project.root

    code, out, err = result(root, "cook")
    assert "Traceback" not in err, err
    if code:
        assert code == 1, (code, out, err)
        lines = err.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("pdg: "), err
        assert "corrupt" not in err
    left = root / "left" / "pdg.db"
    if left.exists():
        for name in ("status", "check"):
            code, out, err = result(root, name)
            assert code == 0 and "corrupt" not in err, (name, out, err)
        conn = sqlite3.connect(f"file:{left}?mode=ro", uri=True)
        try:
            assert [row[0] for row in conn.execute("PRAGMA integrity_check")] == ["ok"]
        finally:
            conn.close()
        # every state change a handler heard was in the log the full disk left
        with EventLog.open(str(left)) as log:
            heard = {(e.work_item_id, e.current_state) for e in log.replay(0, types={"work_item_state_change"})}
        acks = root / "acks-left.txt"  # what the handler heard in the cook on the full disk
        told = {tuple(line.split()) for line in acks.read_text().splitlines()} if acks.exists() else set()
        assert not told - heard, sorted(told - heard)[:5]

    # space is back: the next cook is correct
    code, out, err = result(root, "again")
    assert code == 0, (out[-1500:], err)
    assert result(root, "recheck")[0] == 0, result(root, "recheck")
    assert sorted(int(p.stem) for p in (root / "out").iterdir()) == list(range(2100))
    assert all((root / "out" / f"{v}.txt").read_text() == f"{v * 3}\n" for v in range(2100))
    with EventLog.open(str(root / "after" / "pdg.db")) as log:
        state = log.load_state()
    assert sum(1 for i in state.items.values() if i.state == "cooked_success" and i.node == "make") == 2100


@pytest.mark.parametrize(
    ("mount_options", "fill", "why"),
    [
        ("size=4m,nr_inodes=8", "i=0; while touch small/f$i 2>/dev/null; do i=$((i+1)); done",
         "has no free inodes: no file can be made there"),
        ("size=1m", "dd if=/dev/zero of=small/fill bs=4k 2>/dev/null || true", "is full"),
    ],
    ids=["no-inodes", "no-space"],
)
def test_a_store_on_a_full_file_system_is_refused_saying_so(project, mount_options, fill, why):
    """SQLite says only "unable to open database file" or "disk I/O error" when it cannot make the
    -shm a reader of a WAL store needs beside it; the sentence says why: its file system is full."""
    probe = subprocess.run(["unshare", "-m", "true"], capture_output=True)
    if probe.returncode:
        pytest.skip("no permission for a private mount namespace here")
    project.write("full.py", GRAPH.replace("2100", "3"))
    assert project.pdg("cook", "full.py").exit_code == 0
    pdg = f"{shlex.quote(sys.executable)} -m pdgstore.cli.main"
    script = " && ".join([
        "mkdir small",
        f"mount -t tmpfs -o {mount_options} tmpfs small",
        "cp .pdg/pdg.db small/",
        "{ " + fill + "; }",
        f"{{ {pdg} status --db small/pdg.db > status.out 2> status.err; echo $? > status.rc; }}",
    ])
    ran = subprocess.run(["unshare", "-m", "sh", "-c", script], cwd=project.root, capture_output=True, text=True,
                         timeout=60, env=_env())
    assert ran.returncode == 0, (ran.stdout, ran.stderr)
    code, out, err = result(project.root, "status")
    assert code == 1 and "Traceback" not in err, (code, out, err)
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("pdg: cannot read small/pdg.db: "), err
    assert lines[0].endswith(f" (the file system that holds it {why})"), err
