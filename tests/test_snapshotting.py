"""When a cook asks for its snapshot (``engine.cook.snapshotting``): at its tail with an appender,
else at its end; never twice for the same events. The store is real; the cook's parts are stand-ins."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from pdgstore.engine.cook.snapshotting import TAIL_ITEMS, CookSnapshot
from pdgstore.log import EventLog


class Recorder:
    def __init__(self, seq: int, appender: bool, cook_id: int = 2) -> None:
        self.state = SimpleNamespace(seq=seq)
        self.cook_id = cook_id  # not the store's first cook (it has none): its events count
        self.log_process = object() if appender else None
        self.asked: list[int] = []

    def save_snapshot(self) -> None:
        self.asked.append(self.state.seq)


def runs(*generated: bool) -> dict:
    return {f"n{i}": SimpleNamespace(generated=g) for i, g in enumerate(generated)}


@pytest.fixture
def log(tmp_path):
    with EventLog.open(str(tmp_path / "pdg.db"), writer=True, create=True) as opened:
        yield opened  # no snapshot yet: one is due


def test_the_tail_is_every_node_generated_and_few_items_left(log):
    recorder = Recorder(500, appender=True)
    snapshot = CookSnapshot(log, recorder)
    assert not snapshot.tail_due(SimpleNamespace(total=1000, done=1000 - TAIL_ITEMS - 1), runs(True), 100)
    assert not snapshot.tail_due(SimpleNamespace(total=10, done=9), runs(True, False), 100)
    assert snapshot.at_tail  # not reached yet: asked again at the next turn
    assert snapshot.tail_due(SimpleNamespace(total=10, done=9), runs(True, True), 100)
    assert not snapshot.at_tail
    snapshot.ask()
    recorder.state.seq = 520
    snapshot.at_end(100)  # 20 events since the one asked for at the tail: not due again
    assert recorder.asked == [500]
    recorder.state.seq = 500 + 100
    snapshot.at_end(100)
    assert recorder.asked == [500, 600]


def test_a_cook_without_an_appender_asks_at_its_end_only(log):
    recorder = Recorder(400, appender=False)
    snapshot = CookSnapshot(log, recorder)
    assert not snapshot.tail_due(SimpleNamespace(total=3, done=2), runs(True), 100)
    assert not snapshot.at_tail and recorder.asked == []
    snapshot.at_end(100)
    assert recorder.asked == [400]


GRAPH = "from pdgstore.engine import Graph\ngraph = Graph('g')\ngraph.range_generate('count', int(graph.parm('n', 20)))\n"


@pytest.mark.timeout(120)
def test_the_stores_first_cook_writes_no_snapshot_and_its_events_do_not_count(project, monkeypatch):
    """A replay from zero folds the first (cold) cook's events about as fast as a snapshot of its
    end loads, and packing that snapshot cost the cold cook up to a fifth of its wall: the first
    cook writes none; the next cooks count the events after its end."""
    import pdgstore.engine.cook.loop as loop

    monkeypatch.setattr(loop, "SNAPSHOT_EVERY", 30)
    project.write("g.py", GRAPH)
    assert project.pdg("cook", "g.py", "--set", "n=200").exit_code == 0  # far more than 30 events
    with EventLog.open(str(project.db)) as opened:
        assert opened.snapshot_seq() == 0
        first_end = opened.cook_span(1)[1]
    assert project.pdg("cook", "g.py", "--set", "n=200").exit_code == 0  # a no-op: fewer than 30 events after it
    with EventLog.open(str(project.db)) as opened:
        assert opened.snapshot_seq() == 0 and opened.last_seq() - first_end < 30
    assert project.pdg("cook", "g.py", "--set", "n=260").exit_code == 0  # now more than 30 after it
    with EventLog.open(str(project.db)) as opened:
        assert opened.snapshot_seq() > first_end
        assert opened.load_state().to_plain() == opened.replay_all().to_plain()
    assert project.pdg_process("check").returncode == 0


def test_a_generate_only_cook_or_a_dry_run_never_asks_at_its_tail(log):
    assert not CookSnapshot(log, Recorder(5, appender=True), enabled=False).at_tail
    assert not CookSnapshot(None, Recorder(5, appender=True)).at_tail
