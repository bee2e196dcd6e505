"""WAL checkpoints off the cook's loop thread (``engine.cook.checkpointer``), on real SQLite files.

While a cook appends in-process its writer does not checkpoint in its commits; a thread does, on
its own connection; the writer gets SQLite's automatic checkpoints back when the cook ends; a
checkpoint that fails stops the cook with a sentence at its next flush, never silently.
"""

from __future__ import annotations

import os
import sqlite3
import threading
import time

import pytest

import pdgstore.engine as engine
from pdgstore import events as ev
from pdgstore.engine.cook.checkpointer import AUTOCHECKPOINT_PAGES, Checkpointer
from pdgstore.engine.cook.recorder import Recorder
from pdgstore.errors import StoreIOError
from pdgstore.log import EventLog

pytestmark = pytest.mark.timeout(60)

DEADLINE_S = 30.0


def _wait_for(condition, what: str) -> None:
    deadline = time.monotonic() + DEADLINE_S
    while not condition():
        assert time.monotonic() < deadline, f"not within {DEADLINE_S} s: {what}"
        time.sleep(0.01)


def _pages_in_db_file(path: str) -> int:
    """Pages in the database file itself (the WAL aside): what checkpoints have copied in."""
    return os.path.getsize(path) // 8192


def test_a_thread_checkpoints_what_the_writer_commits(tmp_path):
    path = str(tmp_path / "s.db")
    writer = sqlite3.connect(path, isolation_level=None)
    writer.execute("PRAGMA page_size = 8192")
    writer.execute("PRAGMA journal_mode = WAL")
    writer.execute("CREATE TABLE t (x BLOB)")
    checkpointer = Checkpointer(path, interval_s=0.01, from_bytes=0)  # after every commit
    checkpointer.start(writer)
    try:
        assert writer.execute("PRAGMA wal_autocheckpoint").fetchone()[0] == 0
        before = _pages_in_db_file(path)
        for _ in range(50):  # ~50 pages into the WAL, none checkpointed by the writer's commits
            writer.execute("BEGIN IMMEDIATE")
            writer.execute("INSERT INTO t VALUES (zeroblob(8000))")
            writer.execute("COMMIT")
            checkpointer.committed()
        _wait_for(lambda: checkpointer.through == 50, "a checkpoint after the last commit")
        assert _pages_in_db_file(path) >= before + 50  # copied into the file by the thread, not the writer
        assert checkpointer.checkpoints >= 1 and checkpointer.problem == ""
        idle = checkpointer.checkpoints
        time.sleep(0.1)  # ten intervals with no commit: nothing to checkpoint, none run
        assert checkpointer.checkpoints == idle
    finally:
        checkpointer.stop()
    assert writer.execute("PRAGMA wal_autocheckpoint").fetchone()[0] == AUTOCHECKPOINT_PAGES
    writer.close()


def test_a_checkpoint_is_due_once_the_commits_since_the_last_wrote_enough():
    """The thread checkpoints after commits that wrote about what SQLite's own threshold waits
    for, not after every commit: each checkpoint fsyncs twice, and a small cook's few commits need
    none before the store's close checkpoints them."""
    checkpointer = Checkpointer("unused.db", from_bytes=100_000)
    assert not checkpointer.due(0, 0)  # nothing committed
    checkpointer.committed(1_000)
    assert not checkpointer.due(0, 0)  # one small commit: far below the threshold
    while checkpointer.written < 100_000:
        checkpointer.committed(10_000)
    assert checkpointer.due(0, 0)
    seen, written = checkpointer.commits, checkpointer.written
    assert not checkpointer.due(seen, written)  # the checkpoint just taken covered them
    checkpointer.committed(200_000)  # one big commit is enough by itself
    assert checkpointer.due(seen, written)
    small = Checkpointer("unused.db")
    for _ in range(20):  # twenty commits of a few events, as a one-change recook makes
        small.committed(2_000)
    assert not small.due(0, 0)
    assert not small.due(0, 0, wal_grown_bytes=50_000)
    assert small.due(0, 0, wal_grown_bytes=small.from_bytes)  # the tables wrote more than the rows
    many = Checkpointer("unused.db")
    for _ in range(1_000):  # a job's many small reports each rewrite a few pages: they add up
        many.committed(300)
    assert many.due(0, 0)


@pytest.mark.parametrize("thread", ["prompt", "late"])
def test_checkpoint_now_checkpoints_a_few_small_commits_at_once(tmp_path, thread):
    """Below the threshold nothing is due, but the cook's ask (its last commits are in) is done
    at once, on the thread, covering every commit made so far; asked again with nothing new
    committed, it has nothing to do. ``late``: the thread gets to run only after the commits (a
    busy machine), which still count as made after the hand-over."""
    from pdgstore.engine.cook import checkpointer as checkpointer_module

    path = str(tmp_path / "s.db")
    writer = sqlite3.connect(path, isolation_level=None)
    writer.execute("PRAGMA journal_mode = WAL")
    writer.execute("CREATE TABLE t (x BLOB)")
    committed = threading.Event()

    def connect(path: str) -> sqlite3.Connection:
        if thread == "late":
            committed.wait(DEADLINE_S)
        return checkpointer_module._connect(path)

    checkpointer = Checkpointer(path, interval_s=3600.0, connect=connect)  # it never looks by itself here
    checkpointer.start(writer)
    try:
        for _ in range(3):
            writer.execute("INSERT INTO t VALUES (zeroblob(100))")
            checkpointer.committed(100)
        committed.set()
        assert not checkpointer.due(0, 0)
        checkpointer.checkpoint_now()
        _wait_for(lambda: checkpointer.checkpoints == 1, "the asked checkpoint")
        assert checkpointer.through == 3 and checkpointer.problem == ""
        busy, frames, done = sqlite3.connect(path).execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()
        assert busy == 0 and frames == done  # nothing was left in the WAL to copy
    finally:
        checkpointer.stop()
    writer.close()


def test_a_cook_asks_for_its_last_checkpoint_before_it_ends(tmp_path, monkeypatch):
    """A cook appending in-process asks its checkpointer for a checkpoint once its last events
    are in, so its end does not leave them all to the store's close on its own thread."""
    asked = []
    monkeypatch.setattr(Checkpointer, "checkpoint_now", lambda self: asked.append(self.commits))
    (tmp_path / "in").mkdir()
    for i in range(3):
        (tmp_path / "in" / f"f{i}.txt").write_text(f"{i}\n")
    graph = engine.Graph("ask", root=str(tmp_path))
    graph.file_pattern("files", "in/*.txt")
    summary = engine.cook_graph(graph, db=str(tmp_path / ".pdg" / "pdg.db"), jobs=1)
    assert summary.status == "success"
    assert len(asked) == 1 and asked[0] >= 1  # once, after the cook's commits


class _FailingConnection:
    """A connection whose checkpoint fails as a full disk's would (sqlite3 cannot be made to)."""

    def execute(self, sql):
        raise sqlite3.OperationalError("database or disk is full")

    def close(self):
        pass


def test_a_failed_checkpoint_stops_the_cook_at_its_next_flush(tmp_path):
    log = EventLog.open(str(tmp_path / ".pdg" / "pdg.db"), writer=True, create=True)
    try:
        recorder = Recorder(log, log.load_state(), graph="g", offload=True)
        recorder.checkpointer = Checkpointer(
            log.path, interval_s=0.01, from_bytes=0, connect=lambda path: _FailingConnection()
        )
        recorder.emit(ev.CookWarning, about="g", message="first")
        recorder.flush()  # written; the thread starts and checkpoints after this commit
        checkpointer = recorder.checkpointer
        _wait_for(lambda: checkpointer.problem, "the checkpoint fails")
        recorder.emit(ev.CookWarning, about="g", message="second")
        with pytest.raises(StoreIOError, match="database or disk is full.*the cook stops here"):
            recorder.flush()
        recorder.abandon()
        assert log.conn.execute("PRAGMA wal_autocheckpoint").fetchone()[0] == AUTOCHECKPOINT_PAGES
        assert [e.message for e in log.events() if e.kind == "CookWarning"] == ["first"]
    finally:
        log.close()


def test_a_cook_gives_the_writer_its_checkpoints_back(tmp_path):
    """A real cook appending in-process: checkpoints ran beside it, none is left running after it,
    and the store's writer connection checkpoints by itself again."""
    root = tmp_path
    (root / "in").mkdir()
    for i in range(5):
        (root / "in" / f"f{i}.txt").write_text(f"{i}\n")
    graph = engine.Graph("ck", root=str(root))
    graph.file_pattern("files", "in/*.txt")
    seen = {}
    graph.on("cook_complete", lambda event: seen.setdefault("cook", event.cook))
    summary = engine.cook_graph(graph, db=str(root / ".pdg" / "pdg.db"), jobs=1)
    assert summary.status == "success"
    recorder = seen["cook"].recorder
    assert recorder.checkpointer is None  # stopped and dropped at the end
    assert not [t for t in threading.enumerate() if t.name == "pdg-checkpointer"]
    with EventLog.open(str(root / ".pdg" / "pdg.db")) as log:
        assert [e.status for e in log.events() if e.kind == "CookFinished"] == ["success"]
