"""``pdg cook --dry-run`` reads the store as a cook does: within one reading of the log, its items
read as the walk reaches them, the manifest's scan proving an unchanged graph without reading any
(it loaded the whole state: 490 MB at W(100,000))."""

from __future__ import annotations

import json

from pdgstore.engine.cook import loop

from pdgstore.log import EventLog


def _planned(wide, monkeypatch) -> tuple[dict, loop.Cook]:
    cooks: list = []
    real = loop.Cook.plan.__func__

    def plan(cls, log, graph, **kwargs):
        cook, decisions = real(cls, log, graph, **kwargs)
        cooks.append(cook)
        return cook, decisions

    monkeypatch.setattr(loop.Cook, "plan", classmethod(plan))
    result = wide.pdg("cook", "wide.py", "--dry-run", "--json")
    assert result.exit_code == 0, result.output
    return json.loads(result.output), cooks[0]


def test_a_dry_run_of_an_unchanged_graph_reads_no_item(wide, monkeypatch):
    wide.inputs(200)
    assert wide.pdg("cook", "wide.py").exit_code == 0
    plan, cook = _planned(wide, monkeypatch)
    assert plan["counts"]["reuse"] == 402 and plan["items"] == []
    assert cook.scan is not None and cook.state.items.rows_read == 0


def test_a_dry_run_after_one_change_reads_what_it_reaches(wide, monkeypatch):
    wide.inputs(200)
    assert wide.pdg("cook", "wide.py").exit_code == 0
    (wide.root / "in" / "f0011.txt").write_text("changed\n")
    plan, cook = _planned(wide, monkeypatch)
    assert {(i["name"], i["action"]) for i in plan["items"]} == {
        ("files_12", "update"), ("upper_12", "run"), ("gather_1", "pending"), ("concat_1", "pending")
    }
    assert cook.affected is not None and cook.state.items.rows_read < 10, cook.state.items.rows_read
    with EventLog.open(str(wide.db)) as log:  # and wrote nothing
        assert [c.cook_id for c in log.load_state().cooks.values()] == [1]


def test_a_reading_inside_a_reading_is_the_same_reading(wide):
    assert wide.pdg("cook", "wide.py").exit_code == 0
    with EventLog.open(str(wide.db)) as log:
        with log.one_reading():
            with log.one_reading():
                assert log.conn.in_transaction
                seq = log.last_seq()
            assert log.conn.in_transaction and log.last_seq() == seq  # the inner one did not end it
        assert not log.conn.in_transaction
