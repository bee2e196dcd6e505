"""The live services leave a no-op manifest behind, and their own records do not spoil one.

A watcher or a schedule service cooks from the state it holds in memory (``StoreSession``); after a
cook that leaves the graph consistent it writes the graph's manifest, as ``pdg cook`` does, so the
``pdg cook`` after it proves its no-op without reading every item (without it, 3.7 s at W(100,000)).
A manifest followed only by the live services' records (a watch's start and end, a schedule added
or fired) still describes the log's end; anything else after it (another process's cook, a dirty
item) does not. The watcher's and the schedule service's own parts are in ``test_watch.py`` and
``test_schedules.py``."""

from __future__ import annotations

import pytest

from pdgstore.engine.graph.loader import load_graph
from pdgstore.engine.incremental.manual import dirty
from pdgstore.engine.live import schedules
from pdgstore.engine.live.writer import StoreSession
from pdgstore.engine.project import cook_file
from pdgstore.log import EventLog

pytestmark = pytest.mark.timeout(120)


def refuse_loading_the_state(monkeypatch) -> None:
    """A cook proven a no-op by the manifest alone never reads the store's state."""

    def refuse(self):
        raise AssertionError("the state was loaded")

    for name in ("load_state", "current_state", "cook_state"):
        monkeypatch.setattr(EventLog, name, refuse)


def manifest_seq(wide) -> int | None:
    with EventLog.open(str(wide.db)) as log:
        found = log.manifest("wide")
    return None if found is None else found[0]


def last_seq(wide) -> int:
    with EventLog.open(str(wide.db)) as log:
        return log.last_seq()


def session_cook(wide, node: str | None = None) -> StoreSession:
    session = StoreSession(str(wide.db))
    summary = session.cook(load_graph(str(wide.root / "wide.py")), node=node)
    assert summary.status == "success", summary
    return session


def test_a_sessions_cook_leaves_a_manifest_that_live_records_after_it_do_not_spoil(wide, monkeypatch):
    session = session_cook(wide)
    assert session.manifest_due
    assert session.save_manifest()
    assert manifest_seq(wide) == last_seq(wide) and not session.manifest_due
    schedules.add(str(wide.db), str(wide.root / "wide.py"), None, cron=None, every="1h", overrides={})
    assert manifest_seq(wide) < last_seq(wide)  # a ScheduleAdded after it
    with monkeypatch.context() as m:
        refuse_loading_the_state(m)
        summary = cook_file(str(wide.root / "wide.py"))
    assert summary.status == "success" and summary.counts["ran"] == 0
    assert manifest_seq(wide) == last_seq(wide)  # the no-op moved it to its own end


def test_a_cook_of_one_node_that_vouches_for_the_graph_leaves_one_too(wide, monkeypatch):
    session_cook(wide)
    session = session_cook(wide, node="upper")
    assert session.save_manifest()
    with monkeypatch.context() as m:
        refuse_loading_the_state(m)
        assert cook_file(str(wide.root / "wide.py")).counts["ran"] == 0


def test_no_manifest_is_written_for_a_log_another_process_appended_to(wide):
    session = session_cook(wide)
    (wide.root / "in" / "f0003.txt").write_text("changed\n")
    assert cook_file(str(wide.root / "wide.py")).counts["ran"] == 2  # another process (upper_3, concat): its own manifest
    written = manifest_seq(wide)
    assert written == last_seq(wide)
    assert not session.save_manifest()  # the session's would describe the state before that cook
    assert manifest_seq(wide) == written


def test_a_failed_cook_leaves_none_due(wide):
    session = StoreSession(str(wide.db))
    (wide.root / "wide.py").write_text(
        (wide.root / "wide.py").read_text().replace("def upper(item):", "def upper(item):\n    raise ValueError('no')")
    )
    summary = session.cook(load_graph(str(wide.root / "wide.py")))
    assert summary.status == "failed"
    assert not session.manifest_due and not session.save_manifest()
    assert manifest_seq(wide) is None


def test_pdg_dirty_moves_a_manifest_that_live_records_follow(wide):
    """``pdg dirty`` moves the manifest when only live records lie between it and the log's end;
    the next cook then walks from the dirty item, not from every item."""
    session = session_cook(wide)
    assert session.save_manifest()
    schedules.add(str(wide.db), str(wide.root / "wide.py"), None, cron=None, every="1h", overrides={})
    dirty(str(wide.db), "upper_5")
    assert manifest_seq(wide) == last_seq(wide)
    cooks: list = []
    summary = cook_file(str(wide.root / "wide.py"), on_cook=cooks.append)
    assert summary.counts["ran"] == 1
    assert cooks[0].affected is not None and cooks[0].state.items.rows_read < 10, cooks[0].state.items.rows_read


def test_a_manifest_followed_by_more_than_live_records_is_not_used(wide, monkeypatch):
    session = session_cook(wide)
    assert session.save_manifest()
    with EventLog.open(str(wide.db), writer=True) as log:
        log.save_manifest("wide", log.last_seq() - 1, log.manifest("wide")[1])  # as if an event came after it
        assert log.manifest_at_end("wide") is None
    loaded = []
    real = EventLog.cook_state
    monkeypatch.setattr(EventLog, "cook_state", lambda self: loaded.append(1) or real(self))
    assert cook_file(str(wide.root / "wide.py")).counts["ran"] == 0
    assert loaded  # the cook read the store, as without a manifest
