"""The follower reads a step's new work items apart, as one range of the item table
(``engine/datalayer/newitems.py``): its frames must be those the per-event walk makes, cut for cut.
"""

from __future__ import annotations

import pytest
from pdgstore.engine.datalayer.core import DataLayer

from pdgstore import EventLog, itembatch, queries

pytestmark = pytest.mark.timeout(120)

PATHS = [
    "pdg",
    "pdg/wide",
    "pdg/wide/node_files",
    "pdg/wide/node_upper",
    "pdg/wide/node_gather",
    "pdg/wide/node_concat",
]


class Recorder:
    """A visualizer that notes every frame it is handed, as plain data."""

    def __init__(self) -> None:
        self.frames: list[tuple] = []

    def processFrame(self, path: str, messages, seq: int) -> None:
        self.frames.append((seq, path, [(int(m.type), m.seq, m.prop, list(m.values)) for m in messages]))

    def processFrames(self, frames, seq: int) -> None:
        for path, messages in frames:
            self.processFrame(path, messages, seq)


def _frames(db: str, start: int, cuts: list[int], apart: bool) -> list[tuple]:
    """Every frame a layer following ``db`` from seq ``start`` delivers, stepping to each of ``cuts``
    (knowing no graph at first, so that the root object lists the graph anew)."""
    layer = DataLayer(db)
    recorder = Recorder()
    try:
        for path in PATHS:
            layer.subscribe(recorder, path)
        layer._stop.set()  # no follower thread: the steps below are the only ones
        view = layer.view
        view.seq, view.known_graphs = start, set()
        layer._interest().new_items_apart = apart
        for cut in cuts:
            view.end_seq = lambda cut=cut: cut  # type: ignore[method-assign]
            layer._stop.clear()
            with layer.lock:
                layer.step(force=True)
            layer._stop.set()
        return recorder.frames
    finally:
        layer.close()


def test_new_items_read_apart_make_the_frames_of_the_per_event_walk(wide):
    # a generate-only cook (each node's items as one batch), a cook, then a recook in which an
    # input is gone (its item removed), one is new, and the rest are generated again
    assert wide.pdg("cook", "wide.py", "--generate-only").exit_code == 0
    assert wide.pdg("cook", "wide.py").exit_code == 0
    (wide.root / "in" / "f0003.txt").unlink()
    wide.write("in/f0020.txt", "one more\n")
    assert wide.pdg("dirty", "files").exit_code == 0
    assert wide.pdg("cook", "wide.py").exit_code == 0
    with EventLog.open(str(wide.db)) as log:
        kinds = {r[0] for r in log.conn.execute("SELECT DISTINCT kind FROM events")}
        # a step ends where a commit did: at an event's row, never inside a batch's range
        seqs = [r[0] for r in log.conn.execute("SELECT seq FROM events ORDER BY seq")]
        first_item = log.conn.execute("SELECT min(ord) FROM items").fetchone()[0]
    assert {itembatch.KIND, "WorkItemRemoved", "WorkItemGenerated"} <= kinds
    for start, cuts in ((0, seqs[-1:]), (0, seqs[3::7] + seqs[-1:]), (0, seqs), (first_item - 1, seqs[-1:])):
        plain = _frames(str(wide.db), start, cuts, apart=False)
        apart = _frames(str(wide.db), start, cuts, apart=True)
        assert apart == plain
        assert any(path == "pdg" and m[2] == "graph_list" for _seq, path, messages in apart for m in messages)


def test_event_rows_leave_out_exactly_the_first_generations_the_item_table_holds(wide):
    assert wide.pdg("cook", "wide.py", "--generate-only").exit_code == 0
    assert wide.pdg("cook", "wide.py").exit_code == 0
    with EventLog.open(str(wide.db)) as log:
        last = log.last_seq()
        kinds = ["WorkItemGenerated", "GraphLoaded"]
        for after in (0, 5, 30):
            every = queries.event_rows(log, after, last, payloads=False, kinds=kinds, subjects=[])
            rest = queries.event_rows(log, after, last, payloads=False, kinds=kinds, subjects=[], new_items_apart=True)
            new = queries.new_items(log, after, last)
            assert new and rest
            firsts = {(seq, item_id) for seq, item_id, _graph, _node in new}
            assert sorted(rest + [r for r in every if (r[0], r[5]) in firsts]) == every
