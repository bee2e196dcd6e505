"""The no-op manifest (engine.incremental.manifest): an unchanged graph is recooked without loading the state,
recording exactly what the full no-op records; any change makes the cook run as usual."""

from __future__ import annotations

import json
import os
import shutil

import pytest

from pdgstore.engine.project import cook_file
from pdgstore.log import EventLog


def events_of(project, cook_id: int) -> list[tuple]:
    """The cook's events, without what differs by nature from one run to the next."""
    with EventLog.open(str(project.db)) as log:
        out = []
        for e in log.events(cook_id=cook_id):
            payload = e.payload()
            payload.pop("pid", None)
            out.append((e.kind, e.subject, json.dumps(payload, sort_keys=True)))
        return out


def test_an_unchanged_graph_is_recooked_from_the_manifest_alone(wide, tmp_path, monkeypatch):
    graph = str(wide.root / "wide.py")
    assert cook_file(graph).status == "success"
    twin = type(wide)(tmp_path / "twin")
    shutil.copytree(wide.root, twin.root)
    for key in ("manifest:wide", "manifest_seq:wide"):  # the twin cooks its no-op the long way
        with EventLog.open(str(twin.db), writer=True) as log:
            log.write(lambda c: c.execute("DELETE FROM meta WHERE key = ?", (key,)))
    slow = cook_file(str(twin.root / "wide.py"))

    def refuse(self):
        raise AssertionError("the state was loaded")

    monkeypatch.setattr(EventLog, "load_state", refuse)
    monkeypatch.setattr(EventLog, "current_state", refuse)
    fast = cook_file(graph)
    monkeypatch.undo()
    assert (fast.status, fast.counts) == (slow.status, slow.counts) == (
        "success", {"ran": 0, "reused": 42, "updated": 0, "failed": 0, "cancelled": 0})
    assert [r.replace(str(wide.root), "") for r in fast.results] == \
        [r.replace(str(twin.root), "") for r in slow.results]
    assert events_of(wide, 2) == events_of(twin, 2)
    with EventLog.open(str(wide.db)) as log:
        assert log.replay_all().to_plain() == log.load_state().to_plain()
    assert wide.pdg_process("check").returncode == 0
    monkeypatch.setattr(EventLog, "load_state", refuse)
    monkeypatch.setattr(EventLog, "current_state", refuse)
    assert cook_file(graph).counts["reused"] == 42  # and again: the manifest moved to the new seq


@pytest.mark.parametrize("change", ["edit", "touch_new_content", "add", "remove", "code", "dirty", "output"])
def test_any_change_cooks_the_usual_way(wide, change):
    graph = str(wide.root / "wide.py")
    cook_file(graph)
    if change == "edit":
        wide.write("in/f0001.txt", "changed\n")
    elif change == "touch_new_content":
        path = wide.root / "in/f0002.txt"
        st = os.stat(path)
        path.write_text("hello world 9\n")  # same size
        os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns + 1_000_000))
    elif change == "add":
        wide.write("in/f0100.txt", "new\n")
    elif change == "remove":
        os.remove(wide.root / "in/f0003.txt")
    elif change == "code":
        wide.write("wide.py", (wide.root / "wide.py").read_text().replace("upper()", "upper() + '!'"))
    elif change == "dirty":
        assert wide.pdg("dirty", "upper_5").exit_code == 0
    elif change == "output":
        os.remove(wide.root / "out1/f0004.txt")
    summary = cook_file(graph)
    assert summary.status == "success"
    assert summary.counts["ran"] + summary.counts["updated"] > 0, change


def test_a_target_node_or_event_handlers_cook_the_usual_way(wide, monkeypatch):
    graph = str(wide.root / "wide.py")
    cook_file(graph)

    def refuse(self):
        raise AssertionError("the state was loaded")

    monkeypatch.setattr(EventLog, "load_state", refuse)
    monkeypatch.setattr(EventLog, "current_state", refuse)
    with pytest.raises(AssertionError, match="state was loaded"):
        cook_file(graph, node="upper")
    wide.write("wide.py", (wide.root / "wide.py").read_text() + "\ngraph.on('cook_complete', print)\n")
    with pytest.raises(AssertionError, match="state was loaded"):
        cook_file(graph)


def test_a_change_cook_stats_the_recorded_files_once(wide, monkeypatch):
    """The manifest's stat scan found the change: the cook takes those stats instead of its own."""
    from pdgstore.engine.files import records as files

    graph = str(wide.root / "wide.py")
    cook_file(graph)
    wide.write("in/f0009.txt", "changed\n")
    scans = []
    real = files.stat_many
    monkeypatch.setattr(files, "stat_many", lambda paths, **kw: scans.append(len(paths)) or real(paths, **kw))
    summary = cook_file(graph)
    assert summary.counts["ran"] == 2
    assert scans == [41]  # 20 inputs, 20 outputs and all.txt: once
