"""``pdg watch``: real files, watchdog's real observer, a real store in a temporary folder."""

from __future__ import annotations

import errno
import itertools
import json
import os
import queue
import signal
import subprocess
import sys
import threading
import time

import pytest

from pdgstore.engine.live import watch as watch_module
from pdgstore.engine.live.watch import Watcher
from pdgstore.engine.live.watchset import WatchSet
from pdgstore.log import EventLog

from conftest import CHATTY_WIDE_GRAPH

SLOW_GRAPH = '''
import os, time
from pdgstore.engine import Graph

graph = Graph("slow")
files = graph.file_pattern("files", "in/*.txt")

@graph.python_processor("upper", upstream=files)
def upper(item):
    time.sleep(0.4)
    os.makedirs("out1", exist_ok=True)
    dst = os.path.join("out1", item.input_path.name)
    with open(dst, "w") as f:
        f.write(item.input_path.read_text().upper())
    item.add_output_file(dst)
'''

#: an item's body that waits for the file ``gate`` in the project (up to 60 s) instead of sleeping
GATE_WAIT = "waited = 0\n    while not os.path.exists('gate') and waited < 6000:\n        time.sleep(0.01)\n        waited += 1"


class Running:
    """A Watcher in a thread, with what it reported in a queue."""

    def __init__(self, project, graph="wide.py", **kwargs) -> None:
        self.reports: queue.SimpleQueue = queue.SimpleQueue()
        self.seen: list[tuple[str, dict]] = []
        self.watcher = Watcher(str(project.root / graph), report=lambda m: self.reports.put((m.kind, m.data())),
                               debounce_s=kwargs.pop("debounce_s", 0.05), **kwargs)
        self.error: BaseException | None = None
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()
        self.wait("started")

    def _run(self) -> None:
        try:
            self.watcher.run()
        except BaseException as exc:  # noqa: BLE001 - handed to the test
            self.error = exc
            self.reports.put(("crashed", {"error": exc}))

    def wait(self, kind: str, timeout: float = 60.0) -> dict:
        """The next report of ``kind``. The deadline is for a loaded machine, not a claim: 10 s ran out
        under a full suite beside others (a polled change's recook, in the fallback test)."""
        deadline = time.monotonic() + timeout
        while True:
            try:
                k, d = self.reports.get(timeout=max(0.01, deadline - time.monotonic()))
            except queue.Empty:
                raise AssertionError(f"no {kind} report within {timeout} s; saw {[k for k, _ in self.seen]}")
            self.seen.append((k, d))
            if k == "crashed":
                raise d["error"]
            if k == kind:
                return d

    def quiet(self, seconds: float) -> list[str]:
        """The kinds reported during ``seconds`` (a settled watcher reports nothing)."""
        end = time.monotonic() + seconds
        kinds = []
        while (left := end - time.monotonic()) > 0:
            try:
                k, d = self.reports.get(timeout=left)
            except queue.Empty:
                break
            self.seen.append((k, d))
            kinds.append(k)
        return kinds

    def stop(self) -> None:
        self.watcher.stop("test over")
        self.thread.join(60)
        assert not self.thread.is_alive()
        if self.error:
            raise self.error


@pytest.fixture
def running(wide):
    started = []

    def start(**kwargs):
        r = Running(wide, **kwargs)
        started.append(r)
        return r

    yield start
    for r in started:
        if r.thread.is_alive():
            r.stop()


def cooked_in(project, cook_id: int) -> set[str]:
    with EventLog.open(str(project.db)) as log:
        state = log.load_state()
        return {state.items[e.item_id].name for e in log.events(0, cook_id=cook_id, kind="WorkItemCooked")}


def test_editing_one_input_recooks_exactly_its_chain_and_outputs_do_not_loop(wide, running):
    r = running()
    first = r.seen[-2][1]["summary"] if r.seen[-2][0] == "cook" else None
    assert first is not None and first.counts["ran"] == 21
    assert r.quiet(0.6) == []  # the 21 outputs it wrote are recorded: no recook loop
    first_record = r.watcher.watchset.record(str(wide.root / "out1" / "f0003.txt"))[4]
    (wide.root / "in" / "f0003.txt").write_text("changed\n")
    change = r.wait("change")
    assert change["files"] == ["in/f0003.txt"]
    summary = r.wait("cook")["summary"]
    assert summary.counts["ran"] == 2 and summary.counts["reused"] == 38  # 42 items: the file and gather updated
    assert cooked_in(wide, summary.cook_id) == {"upper_4", "gather_1", "concat_1"}  # its chain, nothing else
    r.wait("ready")
    assert r.quiet(0.6) == []  # its own outputs (out1/f0003.txt, out2/all.txt) trigger nothing
    w = r.watcher
    with w.session.reading() as store:
        fresh = WatchSet.build(w.graph, store, w.graph.topological_order(), store_dir=str(wide.db.parent),
                               graph_files=w._graph_files)
    def records(ws):
        return {path: ws.record(path) for path in ws.records}

    assert records(w.watchset) == records(fresh) and w.watchset.dirs == fresh.dirs  # updated in place == built anew
    assert w.watchset.shared == fresh.shared and w.watchset.by_dir == fresh.by_dir
    assert w.watchset.record(str(wide.root / "out1" / "f0003.txt"))[4] != first_record
    r.stop()
    with EventLog.open(str(wide.db)) as log:
        state = log.load_state()
    assert state.cooks[summary.cook_id].trigger["files"] == ["in/f0003.txt"]
    watch = next(iter(state.watches.values()))
    assert watch["cooks"] == 2 and watch["ended_ns"] and watch["message"] == "test over"


def test_a_watcher_holds_nothing_of_the_store_and_recooks_from_what_it_saw_change(wide, running, monkeypatch):
    """The watcher never loads the store's state whole (it read every item: 7.4 GB at
    W(1,000,000)); after its first cook it gives its cooks its word about the files that changed
    (``delta.told``: no stat scan), and each cook is let go of once over (frozen by the store's
    reads, a cook's cycles were kept for good: 57 MB a recook of W(100,000))."""
    import weakref

    from pdgstore.logreader import LogReader

    for name in ("load_state", "current_state", "replay_all"):
        monkeypatch.setattr(LogReader, name, lambda self: pytest.fail("a watcher loaded the whole state"))
    cooks, told = [], []

    def running_cook(self, cook):
        cooks.append(weakref.ref(cook))
        told.append(cook.scan is not None and cook.scan.told)  # not the manifest's scan

    monkeypatch.setattr(Watcher, "_running", running_cook)
    r = running()
    for text in ("changed\n", "changed again\n"):
        (wide.root / "in" / "f0005.txt").write_text(text)
        summary = r.wait("cook")["summary"]
        assert summary.counts["ran"] == 2
        r.wait("ready")
    assert (wide.root / "out1" / "f0005.txt").read_text() == "CHANGED AGAIN\n"
    assert told == [False, True, True]
    assert len(cooks) == 3 and all(ref() is None for ref in cooks)  # none is kept
    r.stop()


def test_a_touch_or_the_same_bytes_cook_nothing(wide, running):
    r = running()
    path = wide.root / "in" / "f0004.txt"
    os.utime(path, ns=(time.time_ns(), time.time_ns() + 5_000_000_000))
    path.write_text(path.read_text())
    assert "cook_start" not in r.quiet(0.5)


def test_an_editor_save_by_rename_recooks(wide, running):
    r = running()
    tmp = wide.root / "in" / ".f0005.txt.swp"
    tmp.write_text("saved by an editor\n")
    os.replace(tmp, wide.root / "in" / "f0005.txt")
    summary = r.wait("cook")["summary"]
    assert summary.counts["ran"] == 2
    assert r.seen[-2][1]["files"] == ["in/f0005.txt"]


def test_a_burst_of_500_new_files_is_one_recook(wide, running):
    # a window wider than any pause a loaded machine puts between the writer's saves (the default,
    # 0.15 s, was once outlasted under load and the burst became two recooks): what is held here is
    # that a burst is one recook, not how wide the default window is
    r = running(debounce_s=2.0)
    script = "import sys\nfor i in range(500):\n    open(f'in/burst{i:03d}.txt', 'w').write(f'burst {i}\\n')\n"
    subprocess.run([sys.executable, "-c", script], cwd=wide.root, check=True)  # another program saves 500 files
    summary = r.wait("cook", timeout=60)["summary"]
    assert r.seen[-2][1]["files"] and len(r.seen[-2][1]["files"]) == 500
    assert summary.counts["ran"] == 501
    assert "cook_start" not in r.quiet(0.6)


def test_a_broken_graph_is_reported_and_a_fixed_one_recooks(wide, running):
    r = running()
    graph = wide.root / "wide.py"
    good = graph.read_text()
    graph.write_text(good + "\ndef broken(:\n")
    assert "syntax error" in r.wait("graph_error")["message"]
    (wide.root / "in" / "f0001.txt").write_text("edited while broken\n")
    assert "cook_start" not in r.quiet(0.4)  # the previous results stay as they were
    graph.write_text(good.replace(".upper()", ".upper() + '!'"))
    r.wait("graph_reloaded")
    summary = r.wait("cook")["summary"]
    assert summary.status == "success" and summary.counts["ran"] == 21  # new code for upper: all of it


def test_a_change_during_a_cook_is_one_more_cook_after_it(project):
    """The edits come while the cook runs for sure: its item waits for a gate the test opens after
    them (a sleep would guess how long a loaded machine takes to reach the item)."""
    project.write("slow.py", SLOW_GRAPH.replace("time.sleep(0.4)", GATE_WAIT))
    project.inputs(3)
    (project.root / "gate").touch()  # the first cook of all runs through
    r = Running(project, graph="slow.py", jobs=4)
    (project.root / "gate").unlink()
    (project.root / "in" / "f0000.txt").write_text("a\n")
    r.wait("cook_start")
    (project.root / "in" / "f0001.txt").write_text("b\n")
    (project.root / "in" / "f0002.txt").write_text("c\n")
    (project.root / "gate").touch()
    first = r.wait("cook")
    assert first["files"] == ["in/f0000.txt"]
    second = r.wait("cook")
    assert second["files"] == ["in/f0001.txt", "in/f0002.txt"] and second["summary"].counts["ran"] == 2
    assert "cook_start" not in r.quiet(0.6)
    r.stop()


def test_polling_takes_over_when_the_native_observer_cannot_start(wide, running, monkeypatch):
    monkeypatch.setattr(watch_module, "FALLBACK_POLL_S", 0.1)

    def exhausted():
        raise OSError(errno.ENOSPC, "inotify watch limit reached")

    r = running(observer_factory=exhausted)
    assert "watch limit reached" in next(d["message"] for k, d in r.seen if k == "fallback")
    assert r.seen[-1][1]["mode"] == "poll"
    (wide.root / "in" / "f0002.txt").write_text("polled\n")
    assert r.wait("cook")["summary"].counts["ran"] == 2
    (wide.root / "in" / "new.txt").write_text("a new match\n")
    assert r.wait("cook")["files"] == ["in/new.txt"]
    assert [k for k, _ in r.seen].count("fallback") == 1
    r.stop()
    with EventLog.open(str(wide.db)) as log:
        assert next(iter(log.load_state().watches.values()))["mode"] == "poll"


def test_pdg_watch_process_polls_prints_json_and_exits_0_on_ctrl_c(wide):
    wide.write("wide.py", CHATTY_WIDE_GRAPH)  # what the graph prints goes to stderr, not between the lines
    proc = wide.popen("watch", "wide.py", "--poll", "0.1", "--json", "--debounce", "20")
    try:
        first = json.loads(proc.stdout.readline())
        assert first["status"] == "success" and first["items"]["ran"] == 21
        # each line is pdg cook --json's summary (its store and results too) plus the trigger
        assert first["store"] == ".pdg/pdg.db" and first["results"] == ["out2/all.txt"]
        (wide.root / "in" / "f0007.txt").write_text("from a script\n")
        second = json.loads(proc.stdout.readline())
        assert second["trigger"]["files"] == ["in/f0007.txt"] and second["items"]["ran"] == 2
        proc.send_signal(signal.SIGINT)
        assert proc.wait(60) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
    history = json.loads(wide.pdg("history", "--json").output)["cooks"]
    assert history[-1]["trigger"]["files"] == ["in/f0007.txt"] and history[-1]["trigger"]["by"] == "watch"
    explained = json.loads(wide.pdg("explain", "concat_1", "--json").output)
    assert "in/f0007.txt" in explained["text"]
    assert wide.pdg("check").exit_code == 0


def test_a_local_module_of_the_graph_is_watched_too(project):
    project.write("settings.py", 'PATTERN = "in/*.txt"\n')
    project.write("g.py", """
        import settings
        from pdgstore.engine import Graph

        graph = Graph("g")
        graph.file_pattern("files", settings.PATTERN)
    """)
    project.inputs(4)
    r = Running(project, graph="g.py")
    assert any(p.endswith("settings.py") for p in r.watcher.watchset.graph_files)
    project.write("settings.py", 'PATTERN = "in/f000[01].txt"\n')
    r.wait("graph_reloaded")
    summary = r.wait("cook")["summary"]
    assert summary.status == "success"
    r.stop()
    with EventLog.open(str(project.db)) as log:
        assert len(log.load_state().node_items[("g", "files")]) == 2  # the new pattern, from the new module


def test_an_edited_local_module_reruns_what_uses_it_and_is_named(project):
    """A processor calling a function of a module beside the graph file reruns when that module is
    edited (its code is part of the processor's), and the watcher names the module it saw change."""
    project.write("helper.py", "def scale(n):\n    return n * 1\n")
    project.write("g.py", """
        import helper
        from pdgstore.engine import Graph

        graph = Graph("g")
        files = graph.file_pattern("files", "in/*.txt")

        @graph.python_processor("count", upstream=files)
        def count(item):
            item.set_attrib("words", helper.scale(len(item.input_path.read_text().split())))
    """)
    project.inputs(2)
    r = Running(project, graph="g.py")
    project.write("helper.py", "def scale(n):\n    return n * 2\n")
    change = r.wait("change")
    assert change["modules"] == ["helper.py"] and not change["graph_file"], change
    summary = r.wait("cook")["summary"]
    assert summary.counts["ran"] == 2, summary.counts
    r.stop()
    with EventLog.open(str(project.db)) as log:
        words = sorted(i.attrs["words"][1][0] for i in log.load_state().items.values() if i.node == "count")
    assert words == [6, 6]  # "hello world N": 3 words, doubled


def test_a_deleted_output_folder_is_remade_and_watched_again(wide, running):
    import shutil

    r = running()
    shutil.rmtree(wide.root / "out1")
    summary = r.wait("cook")["summary"]
    assert summary.counts["ran"] == 20  # every upper item reran to remake its output (concat: same bytes)
    r.wait("ready")
    assert r.quiet(0.3) == []
    (wide.root / "out1" / "f0002.txt").write_text("an output edited by hand\n")
    assert r.wait("cook")["summary"].counts["ran"] == 1  # its producer reran and remade it
    assert (wide.root / "out1" / "f0002.txt").read_text() == "HELLO WORLD 2\n"
    assert r.watcher.mode == "native" and "fallback" not in [k for k, _ in r.seen]


def test_pdg_watch_refuses_a_graph_that_does_not_load_or_an_unknown_node(wide):
    wide.write("bad.py", "def broken(:\n")
    result = wide.pdg_process("watch", "bad.py")
    assert result.returncode == 2 and "syntax error" in result.stderr and "Traceback" not in result.stderr
    result = wide.pdg_process("watch", "wide.py", "nope")
    assert result.returncode == 2 and "has no node nope" in result.stderr
    assert not wide.db.exists()  # refused before the store was touched


def test_a_store_busy_with_another_cook_is_waited_for(wide, running):
    r = running()
    holder = EventLog.open(str(wide.db), writer=True)  # another process cooking, as far as the lock says
    try:
        (wide.root / "in" / "f0006.txt").write_text("while another cook runs\n")
        assert "already running" in r.wait("busy")["message"]
        assert "cook" not in r.quiet(0.3)
    finally:
        holder.close()
    assert r.wait("cook")["summary"].counts["ran"] == 2


def test_an_hourly_poll_scans_when_its_clock_says_the_hour_passed(wide, running):
    """The watcher reads time from its clock: one that runs an hour ahead at each reading makes
    every pass of a one-hour poll due, so the edit is found without an hour's (or any) sleep."""
    ahead = itertools.count(1)
    r = running(poll_s=3600, clock=lambda: time.monotonic() + 3600 * next(ahead))
    assert r.watcher.mode == "poll"
    (wide.root / "in" / "f0005.txt").write_text("found by the poll\n")
    change = r.wait("change")
    assert change["files"] == ["in/f0005.txt"]
    assert r.wait("cook")["summary"].counts["ran"] == 2
    r.stop()


def _manifest_written_after_cook(project) -> bool:
    """The graph's no-op manifest is at or after the end of the last cook."""
    with EventLog.open(str(project.db)) as log:
        found = log.manifest("wide")
        ends = [e.seq for e in log.events(0, kind="CookFinished")]
    return found is not None and bool(ends) and found[0] >= ends[-1]


def test_the_pdg_cook_after_a_watcher_proves_its_noop_from_the_manifest_the_watcher_left(wide, running, monkeypatch):
    """A watcher writes the no-op manifest once no change came for a moment after its cook (and
    when it stops): its own end (WatchStopped) after it does not spoil it, and the ``pdg cook``
    after the watch reads no item of the store (without it, every item: 3.7 s at W(100,000))."""
    from pdgstore.engine.project import cook_file

    r = running()
    deadline = time.monotonic() + 60
    while not _manifest_written_after_cook(wide):
        assert time.monotonic() < deadline, "the watcher wrote no manifest after its first cook"
        time.sleep(0.05)
    (wide.root / "in" / "f0003.txt").write_text("changed\n")
    assert r.wait("cook")["summary"].counts["ran"] == 2
    r.stop()  # maybe before its idle moment: it writes the manifest as it stops then
    assert _manifest_written_after_cook(wide)
    with EventLog.open(str(wide.db)) as log:
        assert log.manifest_at_end("wide") is not None  # before or after the watch's end (WatchStopped)
    for name in ("load_state", "current_state", "cook_state"):
        monkeypatch.setattr(EventLog, name, lambda self: pytest.fail("the state was loaded"))
    summary = cook_file(str(wide.root / "wide.py"))
    assert summary.status == "success" and summary.counts["ran"] == 0


def test_a_watch_of_a_cooked_graph_starts_with_the_manifests_noop_and_records_its_trigger(wide, running):
    """The watch's first cook of a graph cooked before is the no-op the manifest proves (as ``pdg
    cook``'s), recorded with what started it; the recook after an edit takes the watcher's word."""
    from pdgstore.engine.project import cook_file

    assert cook_file(str(wide.root / "wide.py")).counts["ran"] == 21
    r = running()
    first = next(d["summary"] for k, d in r.seen if k == "cook")
    assert first.counts["ran"] == 0 and first.counts["reused"] == 42
    (wide.root / "in" / "f0002.txt").write_text("changed\n")
    assert r.wait("cook")["summary"].counts["ran"] == 2
    r.stop()
    with EventLog.open(str(wide.db)) as log:
        cooks = log.current_state().cooks
    assert cooks[first.cook_id].trigger["by"] == "watch" and cooks[first.cook_id].trigger["message"] == "the watch started"
    assert (wide.root / "out1" / "f0002.txt").read_text() == "CHANGED\n"
