"""A cook of one node that leaves the whole graph consistent says so (``CookFinished.consistent``)
and moves the no-op manifest to its end: the next cook of the graph proves its no-op, or walks only
what changed, without reading every item (at W(1,000,000), 80 s and 5 GB after a cook of one node).
A cook of one node whose changes reach items outside its scope, or that met a node changed outside
it, does not vouch for the graph: the next cook walks every item, and reruns what that reached."""

from __future__ import annotations

import pytest
from pdgstore.engine.project import cook_file

from pdgstore.log import EventLog


def _refuse_loading_the_state(monkeypatch) -> None:
    def refuse(self):
        raise AssertionError("the state was loaded")

    for name in ("load_state", "current_state", "cook_state"):
        monkeypatch.setattr(EventLog, name, refuse)


def _cook(wide, node: str | None = None):
    summary = cook_file(str(wide.root / "wide.py"), node=node)
    assert summary.status == "success", summary
    return summary


def _consistent(wide, cook_id: int) -> bool:
    with EventLog.open(str(wide.db)) as log:
        return log.cook_state().cooks[cook_id].consistent


def _replay_equals_the_tables(wide) -> None:
    with EventLog.open(str(wide.db)) as log:
        assert log.replay_all().to_plain() == log.load_state().to_plain()
    assert wide.pdg_process("check").returncode == 0


@pytest.mark.parametrize("node", ["concat", "upper", "files"])
def test_a_cook_of_one_node_that_changed_nothing_leaves_the_graph_a_noop(wide, node, monkeypatch):
    first = _cook(wide)
    assert _cook(wide, node).counts["ran"] == 0
    assert _consistent(wide, 2)
    with monkeypatch.context() as m:
        _refuse_loading_the_state(m)
        again = _cook(wide)  # proven by the manifest alone
    assert again.counts == {"ran": 0, "reused": 42, "updated": 0, "failed": 0, "cancelled": 0}
    assert again.results == first.results == [str(wide.root / "out2" / "all.txt")]  # the graph's, not the node's
    _replay_equals_the_tables(wide)


def test_a_change_the_scope_holds_is_vouched_for(wide, monkeypatch):
    """``concat``'s scope is the whole chain: its one change reaches no item outside it."""
    _cook(wide)
    (wide.root / "in" / "f0011.txt").write_text("changed\n")
    assert _cook(wide, "concat").counts["ran"] == 2  # the input's upper item and the concatenation
    assert _consistent(wide, 2)
    with monkeypatch.context() as m:
        _refuse_loading_the_state(m)
        assert _cook(wide).counts["ran"] == 0
    assert "CHANGED" in (wide.root / "out2" / "all.txt").read_text()
    (wide.root / "in" / "f0012.txt").write_text("again\n")
    cooks: list = []
    summary = cook_file(str(wide.root / "wide.py"), on_cook=cooks.append)  # a delta walk, from the manifest's scan
    assert summary.counts["ran"] == 2 and cooks[0].affected is not None
    assert cooks[0].state.items.rows_read < 20, cooks[0].state.items.rows_read
    _replay_equals_the_tables(wide)


def test_a_change_that_reaches_outside_the_scope_is_cooked_by_the_next_cook(wide):
    """``upper`` remade one item the gather outside its scope holds: the gather and the
    concatenation are stale, so the cook does not vouch for the graph and the next one reruns them."""
    _cook(wide)
    (wide.root / "in" / "f0011.txt").write_text("changed\n")
    assert _cook(wide, "upper").counts["ran"] == 1
    assert not _consistent(wide, 2)
    assert "CHANGED" not in (wide.root / "out2" / "all.txt").read_text()
    cooks: list = []
    summary = cook_file(str(wide.root / "wide.py"), on_cook=cooks.append)
    assert summary.counts["ran"] == 1 and cooks[0].affected is None  # the concatenation, from a full walk
    assert "CHANGED" in (wide.root / "out2" / "all.txt").read_text()
    assert _cook(wide).counts["ran"] == 0
    _replay_equals_the_tables(wide)


def test_a_node_changed_outside_the_scope_is_cooked_by_the_next_cook(wide):
    """The graph file changed ``concat``; a cook of ``upper`` records the new definitions but makes
    no concatenation under them, so it does not vouch for the graph."""
    _cook(wide)
    graph = wide.root / "wide.py"
    graph.write_text(graph.read_text().replace('out.write(f.path.read_text())', 'out.write("> " + f.path.read_text())'))
    assert _cook(wide, "upper").counts["ran"] == 0
    assert not _consistent(wide, 2)
    assert _cook(wide).counts["ran"] == 1
    assert (wide.root / "out2" / "all.txt").read_text().startswith("> HELLO WORLD 0")
    _replay_equals_the_tables(wide)


def test_a_cook_of_one_node_after_one_that_did_not_vouch_does_not_vouch(wide):
    """Consistency is inherited: after a cook that left stale items outside its scope, a cook of
    one node that changes nothing still leaves them stale."""
    _cook(wide)
    (wide.root / "in" / "f0011.txt").write_text("changed\n")
    _cook(wide, "upper")
    assert _cook(wide, "upper").counts["ran"] == 0
    assert not _consistent(wide, 3)
    assert _cook(wide).counts["ran"] == 1
    assert "CHANGED" in (wide.root / "out2" / "all.txt").read_text()
