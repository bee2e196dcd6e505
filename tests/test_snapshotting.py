"""When a cook asks for its snapshot (``engine.cook.snapshotting``): at its tail with an appender,
else at its end; never twice for the same events. The store is real; the cook's parts are stand-ins."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from pdgstore.engine.cook.snapshotting import TAIL_ITEMS, CookSnapshot
from pdgstore.log import EventLog


class Recorder:
    def __init__(self, seq: int, appender: bool) -> None:
        self.state = SimpleNamespace(seq=seq)
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
    assert not snapshot.tail_due(SimpleNamespace(total=1000, done=1000 - TAIL_ITEMS - 1), runs(True), 20_000)
    assert not snapshot.tail_due(SimpleNamespace(total=10, done=9), runs(True, False), 20_000)
    assert snapshot.at_tail  # not reached yet: asked again at the next turn
    assert snapshot.tail_due(SimpleNamespace(total=10, done=9), runs(True, True), 20_000)
    assert not snapshot.at_tail
    snapshot.ask()
    recorder.state.seq = 520
    snapshot.at_end(20_000)  # 20 events since the one asked for at the tail: not due again
    assert recorder.asked == [500]
    recorder.state.seq = 500 + 20_000
    snapshot.at_end(20_000)
    assert recorder.asked == [500, 20_500]


def test_a_cook_without_an_appender_asks_at_its_end_only(log):
    recorder = Recorder(40, appender=False)
    snapshot = CookSnapshot(log, recorder)
    assert not snapshot.tail_due(SimpleNamespace(total=3, done=2), runs(True), 20_000)
    assert not snapshot.at_tail and recorder.asked == []
    snapshot.at_end(20_000)
    assert recorder.asked == [40]


def test_a_generate_only_cook_or_a_dry_run_never_asks_at_its_tail(log):
    assert not CookSnapshot(log, Recorder(5, appender=True), enabled=False).at_tail
    assert not CookSnapshot(None, Recorder(5, appender=True)).at_tail
