"""The log appender (``pdgstore.appender``, driven by ``engine.cook.logprocess``): real processes, real stores.

A cook hands its big batches to another process. Whatever that process does (confirms, fails a
batch, dies, outlives a killed cook), the log must hold whole batches in order, replay to the live
state, and nobody outside may hear of an event before it is in the log.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

import pdgstore.engine as engine
import pdgstore.engine.cook.recorder as recorder_module
from pdgstore.engine.cook import logprocess
from pdgstore.engine.cook.logprocess import LogProcess
from pdgstore import codec, tablecheck
from pdgstore import events as ev
from pdgstore.errors import StoreBusy, StoreError
from pdgstore.log import EventLog
from pdgstore.state import first_difference
from test_store import SLOW_GRAPH


@pytest.fixture
def always_offload(monkeypatch):
    """Every batch goes to an appender, however small; the appenders started are listed."""
    started: list[LogProcess] = []
    original = LogProcess.__init__

    def init(self, log):
        original(self, log)
        started.append(self)

    monkeypatch.setattr(recorder_module, "START_ROWS", 1)
    monkeypatch.setattr(LogProcess, "__init__", init)
    return started


def seqs(db: str) -> list[int]:
    with EventLog.open(db) as log:
        return [e.seq for e in log.events()]


def rows(first: int, n: int) -> list[tuple]:
    """``n`` encoded CookWarning events from seq ``first`` on."""
    return [codec.to_row(ev.CookWarning(seq=s, time_ns=s, cook_id=1, graph="g", about="g", message=f"m{s}"))
            for s in range(first, first + n)]


def writer(tmp_path: Path) -> EventLog:
    return EventLog.open(str(tmp_path / ".pdg" / "pdg.db"), writer=True, create=True)


def wide_graph(root: Path, n: int) -> engine.Graph:
    for i in range(n):
        (root / "in").mkdir(exist_ok=True)
        (root / "in" / f"f{i:03d}.txt").write_text(f"text {i}\n")
    graph = engine.Graph("wide", root=str(root))
    files = graph.file_pattern("files", "in/*.txt")

    def upper(item):
        source = item.input_files[0]
        out = root / "out" / Path(source.relpath).name
        out.parent.mkdir(exist_ok=True)
        out.write_text(Path(source).read_text().upper())
        item.add_output_file(str(out))

    graph.python_processor("upper", upstream=files, func=upper)
    graph.wait_for_all("everything", "upper")
    return graph


def cook_and_keep(graph: engine.Graph, db: str):
    """Cook ``graph`` into ``db``; (its summary, the cook's live state at its end)."""
    seen = {}
    graph.on("cook_complete", lambda event: seen.setdefault("cook", event.cook))
    summary = engine.cook_graph(graph, db=db, jobs=2)
    return summary, seen["cook"].state


def test_a_cook_through_the_appender_replays_to_its_live_state(tmp_path, always_offload):
    db = str(tmp_path / ".pdg" / "pdg.db")
    summary, live = cook_and_keep(wide_graph(tmp_path, 30), db)
    assert summary.status == "success" and summary.counts["ran"] == 30
    assert always_offload, "no appender was started: this test would prove nothing"
    assert all(p.proc.returncode == 0 and not p.problem for p in always_offload)
    with EventLog.open(db) as log:
        assert seqs(db) == list(range(1, log.last_seq() + 1))
        replayed = log.replay_all()
        assert log.integrity_problem() is None
    assert first_difference(replayed.to_plain(), live.to_plain()) is None
    # the writer lock is free again: the appender ended with the cook
    assert engine.cook_graph(wide_graph(tmp_path, 30), db=db, jobs=2).status == "success"


def test_the_snapshot_and_manifest_are_written_by_the_appender(tmp_path, always_offload, monkeypatch):
    """The snapshot is asked for at the cook's tail (``engine.cook.snapshotting``): the state at a
    batch's end before the cook's last events, equal to a replay up to its seq; the manifest at the
    end. (The store's first cook writes none: the second, 125 new inputs, is past the threshold.)"""
    import pdgstore.engine.cook.loop as loop

    monkeypatch.setattr(loop, "SNAPSHOT_EVERY", 200)  # the tail is past it; the end, 28 items later, not again
    db = str(tmp_path / ".pdg" / "pdg.db")
    assert cook_and_keep(wide_graph(tmp_path, 5), db)[0].status == "success"
    with EventLog.open(db) as log:
        assert log.snapshot_seq() == 0
    summary, live = cook_and_keep(wide_graph(tmp_path, 130), db)  # its tail: 64 items left of 125
    assert summary.status == "success" and always_offload
    with EventLog.open(db) as log:
        assert 0 < log.snapshot_seq() < log.last_seq() == live.seq
        snapshot = log.snapshot()
        assert snapshot is not None and snapshot.seq == log.snapshot_seq()
        replayed = log.state_at(snapshot.seq, from_base=True)
        assert first_difference(snapshot.to_plain(), replayed.to_plain()) is None
        assert first_difference(log.load_state().to_plain(), live.to_plain()) is None
        assert log.manifest("wide")[0] == live.seq
        assert tablecheck.check(log).difference is None
    again = engine.cook_graph(wide_graph(tmp_path, 130), db=db, jobs=2)  # the manifest proves a no-op
    assert again.counts["ran"] == 0 and again.counts["reused"] == 130 + 130 + 1


@pytest.mark.parametrize("executable", [sys.executable, "/bin/false"])
def test_requests_are_done_in_order_by_the_appender_or_by_the_cook(tmp_path, monkeypatch, executable):
    monkeypatch.setattr(sys, "executable", executable)
    with writer(tmp_path) as log:
        process = LogProcess(log)
        process.append(rows(1, 30), mark="a")
        process.write_snapshot(30, b"not a real snapshot")
        process.save_manifest("g", 30, b"a manifest")
        process.append(rows(31, 5))  # no mark: the last one stands
        process.close()
        assert bool(process.problem) == (executable == "/bin/false")
        assert process.confirmed == "a"
        assert seqs(log.path) == list(range(1, 36))
        assert log.snapshot_seq() == 30
        assert log.manifest("g") == (30, b"a manifest")


def test_handlers_hear_only_of_events_already_in_the_log(tmp_path, always_offload):
    graph = wide_graph(tmp_path, 12)
    db = str(tmp_path / ".pdg" / "pdg.db")
    heard: list[tuple[int, int]] = []

    def check(event):
        with EventLog.open(db) as log:
            heard.append((event.seq, log.last_seq()))

    graph.on("work_item_state_change", check)
    assert engine.cook_graph(graph, db=db, jobs=2).status == "success"
    assert always_offload and len(heard) >= 36
    late = [(seq, last) for seq, last in heard if seq > last]
    assert not late, f"handlers heard of events not yet in the log: {late[:3]}"


def test_progress_shows_only_confirmed_counts_and_ends_complete(tmp_path, always_offload):
    graph = wide_graph(tmp_path, 20)
    shown: list[tuple[int, int]] = []
    summary = engine.cook_graph(graph, db=str(tmp_path / ".pdg" / "pdg.db"), jobs=2,
                                progress=lambda done, total: shown.append((done, total)))
    assert summary.status == "success" and always_offload
    assert shown[-1][0] == shown[-1][1] == 20 + 20 + 1
    assert [d for d, _ in shown] == sorted(d for d, _ in shown)


def test_rows_handed_off_before_the_flush_are_announced_and_confirmed_as_flushed_ones(tmp_path, monkeypatch):
    """A turn that makes many events (a node's generation) hands them to the appender every
    ``HAND_OFF_ROWS`` (starting it, small as the cook is); handlers still hear only of events in
    the log, the progress bar ends complete, and the log replays to the live state."""
    started: list[LogProcess] = []
    original = LogProcess.__init__

    def init(self, log):
        original(self, log)
        started.append(self)

    monkeypatch.setattr(LogProcess, "__init__", init)
    monkeypatch.setattr(recorder_module, "HAND_OFF_ROWS", 7)
    graph = wide_graph(tmp_path, 24)
    db = str(tmp_path / ".pdg" / "pdg.db")
    heard: list[tuple[int, int]] = []

    def check(event):
        with EventLog.open(db) as log:
            heard.append((event.seq, log.last_seq()))

    graph.on("work_item_add", check)
    graph.on("work_item_state_change", check)
    seen = {}
    graph.on("cook_complete", lambda event: seen.setdefault("cook", event.cook))
    shown: list[tuple[int, int]] = []
    summary = engine.cook_graph(graph, db=db, jobs=2, progress=lambda done, total: shown.append((done, total)))
    assert summary.status == "success" and len(started) == 1
    assert len(heard) >= 24 * 3
    late = [(seq, last) for seq, last in heard if seq > last]
    assert not late, f"handlers heard of events not yet in the log: {late[:3]}"
    assert shown[-1][0] == shown[-1][1] == 24 + 24 + 1
    with EventLog.open(db) as log:
        assert seqs(db) == list(range(1, log.last_seq() + 1))
        assert first_difference(log.replay_all().to_plain(), seen["cook"].state.to_plain()) is None


def test_a_cook_whose_appender_cannot_start_appends_itself_and_says_so(tmp_path, always_offload, monkeypatch):
    monkeypatch.setattr(sys, "executable", "/bin/false")
    db = str(tmp_path / ".pdg" / "pdg.db")
    summary, live = cook_and_keep(wide_graph(tmp_path, 20), db)
    assert summary.status == "success" and summary.counts["ran"] == 20
    assert always_offload and "could not start" in always_offload[0].problem
    [warning] = [w for w in summary.warnings if "log appender" in w]
    assert "the cook appends its events itself" in warning
    with EventLog.open(db) as log:
        assert seqs(db) == list(range(1, log.last_seq() + 1))
        assert first_difference(log.replay_all().to_plain(), live.to_plain()) is None
        assert [e.message for e in log.events(kind="CookWarning")] == [warning]


def test_a_failed_batch_stops_the_appender_and_nothing_after_it_is_written(tmp_path):
    with writer(tmp_path) as log:
        process = LogProcess(log)
        process.append(rows(1, 100))
        process.append(rows(50, 10))  # seqs 50..59 exist: the batch is refused whole
        process.append(rows(101, 10))
        with pytest.raises(StoreError, match="was refused"):
            process.wait()
        with pytest.raises(StoreError, match="was refused"):  # and nothing more goes through it
            process.append(rows(101, 1))
        process.abandon()
        assert process.proc.returncode == 1
        assert seqs(log.path) == list(range(1, 101))
        log.append_rows(rows(101, 1))  # the store is the cook's alone again
        assert seqs(log.path)[-1] == 101


def test_an_appender_that_dies_leaves_its_batches_to_the_cook(tmp_path):
    with writer(tmp_path) as log:
        process = LogProcess(log)
        process.append(rows(1, 10))
        process.wait()
        os.kill(process.proc.pid, signal.SIGKILL)
        process.proc.wait()
        process.append(rows(11, 10))
        process.append(rows(21, 10))
        process.wait()
        assert "ended unexpectedly" in process.problem and not process.alive
        process.append(rows(31, 5))  # on its own from now on
        process.close()
        assert seqs(log.path) == list(range(1, 36))


def test_an_appender_that_cannot_start_leaves_every_batch_to_the_cook(tmp_path, monkeypatch):
    monkeypatch.setattr(sys, "executable", "/bin/false")
    with writer(tmp_path) as log:
        process = LogProcess(log)
        process.append(rows(1, 10))
        process.append(rows(11, 10))
        process.close()
        assert "could not start" in process.problem
        assert seqs(log.path) == list(range(1, 21))


def test_a_store_refused_to_the_appender_leaves_the_batches_to_the_cook(tmp_path, monkeypatch):
    with writer(tmp_path) as log:
        monkeypatch.setattr(log, "path", str(tmp_path / "missing.db"))
        process = LogProcess(log)
        monkeypatch.undo()
        process.append(rows(1, 5))
        process.close()
        assert "could not start (no pdgstore database at" in process.problem
        assert seqs(log.path) == list(range(1, 6))


def test_sigkill_of_a_cook_with_an_appender_keeps_whole_batches_and_the_next_cook_waits(project):
    """The appender outlives a killed cook by the batches it still has; the next writer waits for
    it instead of calling the dead cook running, then recovers the store."""
    project.write("slow.py", SLOW_GRAPH)  # 3,000 items: a batch big enough for an appender
    db = str(project.db)
    proc = project.popen("cook", "slow.py", "--jobs", "1", "--set", "count=3000", "--set", "sleep_s=0.002")
    deadline = time.monotonic() + 60
    while True:
        try:
            with EventLog.open(db) as log:
                if sum(1 for _ in log.events(kind="WorkItemCooked")) >= 5:
                    break
        except StoreError:
            pass
        assert proc.poll() is None and time.monotonic() < deadline, proc.communicate()
        time.sleep(0.05)
    # this cook's own appender (its child): another suite beside this one runs appenders of its own
    appenders = subprocess.run(["pgrep", "-P", str(proc.pid), "-f", "pdgstore.appender"], capture_output=True,
                               text=True).stdout.split()
    assert appenders, "the cook started no appender: this test would prove nothing"
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=10)
    with EventLog.open(db, writer=True) as log:  # waits for the appender's last batches, if any
        state = log.load_state()
        n = log.last_seq()
    assert seqs(db) == list(range(1, n + 1))
    assert state.cooks[1].status == "running"  # as the log left it: the next cook records it cancelled
    r = project.pdg_process("check")
    assert r.returncode == 0, (r.stdout, r.stderr)
    r = project.pdg_process("cook", "slow.py", "--set", "count=3000", "--set", "sleep_s=0", "--json")
    assert r.returncode == 0, (r.stdout, r.stderr)
    assert project.pdg_process("check").returncode == 0


def test_a_live_cook_is_still_refused_at_once(tmp_path):
    """Waiting is for a dead cook's appender only: a live writer's lock is refused at once."""
    db = str(tmp_path / ".pdg" / "pdg.db")
    with EventLog.open(db, writer=True, create=True):
        with pytest.raises(StoreBusy, match=f"pid {os.getpid()}"):  # refused, not a wait that timed out
            EventLog.open(db, writer=True)


def test_the_next_writer_waits_for_a_dead_cooks_appender(tmp_path):
    """The lock file names a cook that is gone while another process still holds the lock."""
    db = tmp_path / ".pdg" / "pdg.db"
    EventLog.open(str(db), writer=True, create=True).close()
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True,
                          text=True).stdout.strip()
    holder = subprocess.Popen([sys.executable, "-c", f"""
import fcntl, os, sys, time
fd = os.open({str(db) + '.lock'!r}, os.O_RDWR)
fcntl.flock(fd, fcntl.LOCK_EX)
os.ftruncate(fd, 0); os.pwrite(fd, b"{dead}", 0)
print("held", flush=True)
time.sleep(0.5)
print("releasing", flush=True)
"""], stdout=subprocess.PIPE, text=True)
    assert holder.stdout.readline().strip() == "held"
    with EventLog.open(str(db), writer=True) as log:  # waits for the holder instead of refusing
        assert log.writer_pid() == os.getpid()
        assert holder.stdout.readline().strip() == "releasing"  # printed just before it let go
    holder.wait()


def test_small_cooks_start_no_appender(tmp_path, monkeypatch):
    started = []
    monkeypatch.setattr(logprocess.LogProcess, "__init__", lambda self, log: started.append(log))
    assert engine.cook_graph(wide_graph(tmp_path, 10), db=str(tmp_path / ".pdg" / "pdg.db")).status == "success"
    assert started == []


def test_the_queue_of_unconfirmed_batches_is_bounded(tmp_path, monkeypatch):
    """A cook that makes batches faster than the appender commits them waits for it once the
    batches sent and not confirmed pass ``MAX_UNCONFIRMED_BYTES``: what it holds is bounded."""
    monkeypatch.setattr(logprocess, "MAX_UNCONFIRMED_BYTES", 20_000)
    with writer(tmp_path) as log:
        process = LogProcess(log)
        most = 0
        for first in range(1, 4001, 100):
            process.append(rows(first, 100))  # about 6 KB a batch
            assert process.unconfirmed_bytes <= 20_000 or process.unconfirmed == 1
            most = max(most, process.unconfirmed_bytes)
        process.close()
        assert process.unconfirmed_bytes == 0 and most > 0
        assert seqs(log.path) == list(range(1, 4001))


def _append_request(batch: list[tuple]) -> tuple:
    from pdgstore import appender

    return appender.read_request(__import__("io").BytesIO(b"".join(appender.request(["append", batch]))))


def test_appends_waiting_together_are_committed_in_one_transaction(tmp_path, monkeypatch):
    """An appender that fell behind commits the appends waiting in its queue together: one
    transaction (one commit) for three batches, and the log holds them all, in order."""
    from pdgstore import appender

    with writer(tmp_path) as log:
        commits = []
        original = log._write
        monkeypatch.setattr(log, "_write", lambda body, what="batch": (commits.append(what), original(body, what)))
        appender.perform_merged(log, [_append_request(rows(1, 10)), _append_request(rows(11, 5)),
                                      _append_request(rows(16, 5))])
        assert commits == ["batch"]
        assert seqs(log.path) == list(range(1, 21))


def test_a_refused_batch_among_merged_ones_leaves_the_batches_before_it(tmp_path):
    """Merged appends whose transaction is refused (one batch repeats seqs) are done again one by
    one: the log holds the batches before the refused one, as if they had never been merged."""
    from pdgstore import appender

    with writer(tmp_path) as log:
        merged = [_append_request(rows(1, 100)), _append_request(rows(50, 10)), _append_request(rows(101, 10))]
        with pytest.raises(StoreError, match="was refused"):
            appender.perform_merged(log, merged)
        assert seqs(log.path) == list(range(1, 101))


@pytest.mark.timeout(60)
def test_the_end_of_the_requests_taken_while_merging_ends_the_appender(tmp_path):
    """A cook that gives up (``LogProcess.abandon``) closes the appender's input right behind its
    last appends: the end of the requests may be taken from the queue while those are merged. It
    must still end the appender, after the appends are committed (it once was lost there, and the
    failing cook waited for its appender forever)."""
    import io
    import queue

    from pdgstore import appender

    requests: queue.SimpleQueue = queue.SimpleQueue()
    for request in (_append_request(rows(1, 10)), _append_request(rows(11, 5)), appender.END):
        requests.put(request)
    replies = io.BytesIO()
    with writer(tmp_path) as log:
        assert appender.drain(log, requests, replies) == 0
        assert replies.getvalue() == appender.DONE * 2
        assert seqs(log.path) == list(range(1, 16))


@pytest.mark.timeout(60)
def test_a_request_that_cannot_be_read_ends_the_requests(monkeypatch):
    """The reader thread ends the queue whatever stops it, so the appender never waits for it."""
    import io
    import queue

    from pdgstore import appender

    def unreadable(stream):
        raise ValueError("not a request")

    monkeypatch.setattr(appender, "read_request", unreadable)
    requests: queue.SimpleQueue = queue.SimpleQueue()
    with pytest.raises(ValueError):
        appender.read_requests(io.BytesIO(b"junk"), requests)
    assert requests.get_nowait() is appender.END


@pytest.mark.timeout(60)
@pytest.mark.parametrize("blocked", [False, True], ids=["idle", "pipe-full"])
def test_an_appender_that_never_ends_is_stopped_and_the_cook_goes_on(tmp_path, monkeypatch, blocked):
    """An appender that neither reads nor ends (a bug, a stalled disk) once held a failing cook
    forever in ``abandon``. It is killed ``STOP_WAIT_S`` after its input closed, even with the
    sender thread blocked on a full pipe, and the store is the cook's again."""
    stuck = tmp_path / "stuck.sh"
    stuck.write_text("#!/bin/sh\nexec sleep 600\n")
    stuck.chmod(0o755)
    monkeypatch.setattr(sys, "executable", str(stuck))
    monkeypatch.setattr(logprocess, "STOP_WAIT_S", 1.0)
    with writer(tmp_path) as log:
        process = LogProcess(log)
        if blocked:  # more than the pipe holds: the sender waits for a reader that never comes
            process.append(rows(1, 20_000))
        process.abandon()  # (returns: the test's timeout holds it to that)
        assert process.proc.returncode == -signal.SIGKILL
        assert "was stopped" in process.problem
        log.append_rows(rows(1, 3))  # the writer appends again
        assert seqs(log.path) == [1, 2, 3]
