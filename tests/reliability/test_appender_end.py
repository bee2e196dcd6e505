"""The appender dying at the end of a cook loses nothing the snapshot or manifest claim (issue 17, defect 2)."""

from __future__ import annotations

import os
import signal
import threading
import time
from pathlib import Path

import pdgstore.engine as engine
import pdgstore.engine.cook.recorder as recorder_module
import pytest
from pdgstore.engine.cook.logprocess import LogProcess
from pdgstore.engine.cook.recorder import Recorder

from pdgstore import events as ev
from pdgstore.log import EventLog
from pdgstore.state import State, first_difference


def small_graph(root: Path, n: int) -> engine.Graph:
    graph = engine.Graph("ends", root=str(root))
    r = graph.range_generate("r", n)

    def double(item):
        item.set_attrib("twice", item.attrib_value("value") * 2)

    graph.python_processor("double", upstream=r, func=double)
    return graph


@pytest.mark.timeout(300)
def test_an_appender_killed_at_the_cooks_last_batch_loses_no_event_the_snapshot_claims(tmp_path, monkeypatch):
    """The appender dies (SIGKILL, as a file-size limit or the OOM killer would end it) just as the
    cook sends its last batch (the CookFinished). The cook appends that batch itself and records why
    as a cook warning: that warning must reach the log before the snapshot and manifest that count it."""
    monkeypatch.setattr(recorder_module, "START_ROWS", 1)
    original = LogProcess.append

    def append(self, rows, mark=None, prepared=None, batches=None):
        if any(row[4] == ev.CookFinished.kind for row in rows) and self.proc is not None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait()
        return original(self, rows, mark, prepared, batches)

    monkeypatch.setattr(LogProcess, "append", append)
    db = str(tmp_path / ".pdg" / "pdg.db")
    summary = engine.cook_graph(small_graph(tmp_path, 40), db=db, jobs=2)
    assert summary.status == "success"
    assert any("log appender" in w for w in summary.warnings), summary.warnings
    with EventLog.open(db) as log:
        last = log.last_seq()
        assert log.snapshot_seq() <= last
        assert log.manifest("ends")[0] <= last
        kinds = [e.kind for e in log.events(after=last - 3)]
        assert ev.CookWarning.kind in kinds
        assert log.integrity_problem() is None
        diff = first_difference(log.replay_all().to_plain(named=True), log.load_state().to_plain(named=True), "replay")
        assert diff is None, diff
    again = engine.cook_graph(small_graph(tmp_path, 40), db=db, jobs=2)
    assert again.status == "success"
    with EventLog.open(db) as log:
        assert log.events(after=last).__next__().seq == last + 1


def test_a_snapshot_never_claims_events_not_yet_flushed(tmp_path):
    db = str(tmp_path / "pdg.db")
    with EventLog.open(db, writer=True, create=True) as log:
        rec = Recorder(log, State(), graph="g")
        rec.emit(ev.CookWarning, about="g", message="one")
        rec.flush()
        rec.emit(ev.CookWarning, about="g", message="two, not flushed by the caller")
        rec.save_snapshot()
        rec.emit(ev.CookWarning, about="g", message="three")
        rec.save_manifest("g", rec.state.seq, b"manifest")
        rec.close()
    with EventLog.open(db) as log:
        assert log.last_seq() == 3
        assert log.snapshot_seq() == 2
        assert log.manifest("g")[0] == 3


def test_a_failed_idle_checkpoint_stops_the_cook_instead_of_killing_the_appender(tmp_path, monkeypatch):
    """A checkpoint the appender runs while idle that fails (full disk, file-size limit) is a write
    error like any other: reported as one, never a silent death the cook covers by appending itself."""
    import io

    from pdgstore import appender
    from pdgstore.errors import StoreIOError

    def checkpoint(self):
        raise StoreIOError("writing to pdg.db failed: database or disk is full; the cook stops here (not retried)")

    monkeypatch.setattr(EventLog, "checkpoint", checkpoint)
    db = str(tmp_path / "pdg.db")
    with EventLog.open(db, writer=True, create=True) as log:
        r, w = os.pipe()
        stdout = io.BytesIO()
        result = []
        thread = threading.Thread(
            target=lambda: result.append(appender.serve(db, os.dup(log.lock_fd), "NORMAL", os.fdopen(r, "rb"), stdout))
        )
        thread.start()
        os.write(w, b"".join(appender.request(["append", []])))  # then idle, input still open
        thread.join(timeout=30)
        os.close(w)
        thread.join(timeout=30)
    assert result == [1]
    assert stdout.getvalue()[:2] == appender.READY + appender.DONE
    assert stdout.getvalue()[2:3] == appender.FAILED


@pytest.mark.timeout(300)
def test_the_appender_outlives_the_stops_sent_to_the_cooks_process_group(tmp_path, monkeypatch):
    """A closed terminal (SIGHUP) or a service manager (SIGTERM) signals the whole process group: the
    cook cancels on them, and the appender, which still has the cook's last batches to write, ignores
    them and ends when its input does."""
    monkeypatch.setattr(recorder_module, "START_ROWS", 1)
    original = LogProcess.append
    signalled = []

    def append(self, rows, mark=None, prepared=None, batches=None):
        if self.proc is not None and not signalled:
            deadline = time.monotonic() + 60  # its start done: the stops are ignored from its first line on
            while not _ignores(self.proc.pid, signal.SIGHUP) and time.monotonic() < deadline:
                time.sleep(0.01)
            for stop in (signal.SIGHUP, signal.SIGTERM, signal.SIGINT):
                self.proc.send_signal(stop)
            signalled.append(self.proc.pid)
        return original(self, rows, mark, prepared, batches)

    monkeypatch.setattr(LogProcess, "append", append)
    db = str(tmp_path / ".pdg" / "pdg.db")
    summary = engine.cook_graph(small_graph(tmp_path, 40), db=db, jobs=2)
    assert signalled and summary.status == "success"
    assert not any("log appender" in w for w in summary.warnings), summary.warnings  # it never died


def _ignores(pid: int, sig: int) -> bool:
    """Whether the process ignores ``sig``, as the kernel has it (``SigIgn`` in /proc)."""
    with open(f"/proc/{pid}/status") as f:
        mask = next(int(line.split()[1], 16) for line in f if line.startswith("SigIgn"))
    return bool(mask & (1 << (sig - 1)))
