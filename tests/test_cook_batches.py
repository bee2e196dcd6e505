"""The loop's batching: a cook that produces more events than one batch holds loses no result."""

from __future__ import annotations

import pdgstore.engine.cook.loop as cook_loop
from pdgstore.engine import Graph, cook_graph
from pdgstore import EventLog


def test_a_full_batch_mid_drain_loses_no_result(tmp_path, monkeypatch):
    # Regression: the loop once fetched a result and then broke out to flush, dropping that result,
    # so the cook waited forever for an item it had already been told about.
    monkeypatch.setattr(cook_loop, "MAX_PENDING", 5)
    graph = Graph("batches", root=str(tmp_path))
    numbers = graph.range_generate("numbers", 60)

    @graph.python_processor("double", upstream=numbers)
    def double(item):
        item.set_attrib("double", item["value"] * 2)

    db = str(tmp_path / ".pdg" / "pdg.db")
    summary = cook_graph(graph, db=db, jobs=2)
    assert summary.status == "success"
    assert summary.counts["ran"] + summary.counts["updated"] == 120
    with EventLog.open(db) as log:
        state = log.replay_all()
    doubles = sorted(i.attrs["double"][1][0] for i in state.items.values() if i.node == "double")
    assert doubles == [2 * v for v in range(60)]
