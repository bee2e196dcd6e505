"""A cook of one node that leaves the whole graph consistent says so (``CookFinished.consistent``)
and moves the no-op manifest to its end: the next cook of the graph proves its no-op, or walks only
what changed, without reading every item (at W(1,000,000), 80 s and 5 GB after a cook of one node).
The items outside its scope that what it changed feeds, it records dirty, for the next cook to
rerun (a wait-for-all merged in place). A cook of one node that met a node changed outside its
scope does not vouch for the graph: the next cook walks every item. ``pdg dirty`` keeps the
manifest too, and ``pdg explain`` answers from the cook that covered the item."""

from __future__ import annotations

import collections
import shutil

import pytest
from conftest import cook_events
from pdgstore.engine.cook import inplace
from pdgstore.engine.incremental import manifest
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


def _untimed(events: list[tuple]) -> list[tuple]:
    """Events without when their items ran (the concatenation's start, duration and file's mtime)."""
    out = []
    for kind, payload in events:
        if kind == "WorkItemCooked":
            payload = {k: v for k, v in payload.items() if k not in ("started_ns", "duration_ns")}
            payload["outputs"] = [o[:3] + o[4:] if o[0] == "out2/all.txt" else o for o in payload["outputs"]]
        out.append((kind, payload))
    return out


def _replay_equals_the_tables(wide) -> None:
    with EventLog.open(str(wide.db)) as log:
        assert log.replay_all().to_plain() == log.load_state().to_plain()
    assert wide.pdg_process("check").returncode == 0


@pytest.mark.parametrize("node", ["concat", "upper", "files"])
def test_a_cook_of_one_node_that_changed_nothing_leaves_the_graph_a_noop(wide, node, monkeypatch):
    first = _cook(wide)
    with EventLog.open(str(wide.db)) as log:
        (seq, before), end = log.manifest("wide"), log.last_seq()
    assert seq == end
    with monkeypatch.context() as m:  # nothing changed: the manifest is not unpacked and packed again
        m.setattr(manifest, "patched", lambda *args: pytest.fail("the manifest was made again"))
        assert _cook(wide, node).counts["ran"] == 0
    assert _consistent(wide, 2)
    with EventLog.open(str(wide.db)) as log:
        (seq, after), end = log.manifest("wide"), log.last_seq()
    assert seq == end and after == before  # the same manifest, moved to the log's end
    with monkeypatch.context() as m:
        _refuse_loading_the_state(m)
        again = _cook(wide)  # proven by the manifest alone
    assert again.counts == {"ran": 0, "cached": 0, "reused": 42, "updated": 0, "failed": 0, "cancelled": 0, "removed": 0}
    assert again.results == first.results == [str(wide.root / "out2" / "all.txt")]  # the graph's, not the node's
    _replay_equals_the_tables(wide)


def test_explain_answers_from_the_last_cook_that_covered_the_item(wide):
    """A cook of ``upper`` says nothing of the concatenation outside its scope: ``pdg explain``
    answers from the cook before it, that did cook it."""
    _cook(wide)
    _cook(wide, "upper")
    assert wide.pdg("explain", "concat_1").output.splitlines()[0] == "concat_1 ran in cook 1 because it is new"
    assert wide.pdg("explain", "upper_3").output.splitlines()[0].startswith("upper_3 was reused in cook 2")


def test_explain_takes_a_cooks_scope_from_the_definitions_that_cook_recorded(wide):
    """A cook's scope is read from the graph it recorded, not the graph's latest definitions: after
    the graph file rewired ``gather`` to take ``side``, the earlier cook of ``concat`` still did not
    cover ``side``, and ``pdg explain side_1`` answers from the cook of the whole graph."""
    source = (wide.root / "wide.py").read_text()
    side = source.replace(
        "gather = ",
        "@graph.python_processor('side', upstream=files)\ndef side(item):\n    item.set_attrib('n', 1)\n\ngather = ",
    )
    wide.write("wide.py", side)
    _cook(wide)  # 1: every node
    _cook(wide, "concat")  # 2: files, upper, gather, concat
    wide.write("wide.py", side.replace('wait_for_all("gather", upper)', 'wait_for_all("gather", side)'))
    _cook(wide, "upper")  # 3: files, upper; records the rewired graph
    assert wide.pdg("explain", "side_1").output.splitlines()[0] == "side_1 ran in cook 1 because it is new"


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


@pytest.mark.parametrize("again", [False, True])
def test_a_change_that_reaches_outside_the_scope_dirties_what_it_feeds(wide, again, monkeypatch, tmp_path_factory):
    """``upper`` remade one item that the gather outside its scope holds: the cook records the
    gather dirty, naming that item and what it was, and vouches for the rest; the next cook of the
    graph walks from the gather alone, merges it in place (the same events as a merge from every
    member, on a twin store) and reruns the concatenation. ``again``: a second cook of ``upper``,
    with nothing changed, leaves the gather dirty and still vouches."""
    _cook(wide)
    old = (wide.root / "out1" / "f0011.txt").stat()
    (wide.root / "in" / "f0011.txt").write_text("changed\n")
    assert _cook(wide, "upper").counts["ran"] == 1
    assert _consistent(wide, 2)
    if again:
        assert _cook(wide, "upper").counts["ran"] == 0
        assert _consistent(wide, 3)
    with EventLog.open(str(wide.db)) as log:
        dirty = {i.name: i.reason for i in log.cook_state().items_of("wide", "gather") if i.state == "dirty"}
        upper_12 = log.cook_state().items_of("wide", "upper")[11]
    assert list(dirty) == ["gather_1"]
    was = dirty["gather_1"].pop("was")
    assert dirty["gather_1"] == {"cause": "upstream", "cache_state": "dirty_stale", "from_item": upper_12.item_id}
    assert [(w[0], [o[:4] for o in w[1]], w[2]) for w in was] == [
        (upper_12.item_id, [["out1/f0011.txt", "file/text", old.st_size, old.st_mtime_ns]], {})
    ]
    twin = tmp_path_factory.mktemp("twin") / "wide"
    shutil.copytree(wide.root, twin)
    explained = wide.pdg("explain", "gather_1").output.splitlines()
    assert explained[0] == "gather_1 was dirtied by cook 2 and runs at the next cook: what it was made from changed"
    assert explained[1].startswith("  upper_12 ran in cook 2 because its input in/f0011.txt changed")
    assert "CHANGED" not in (wide.root / "out2" / "all.txt").read_text()
    cooks: list = []
    summary = cook_file(str(wide.root / "wide.py"), on_cook=cooks.append)
    assert summary.counts["ran"] == 1 and cooks[0].affected is not None  # the concatenation, from a delta walk
    read = collections.Counter(i.node for i in dict.values(cooks[0].state.items))
    assert read == {"gather": 1, "concat": 1, "upper": 1}  # the gather merged in place: its changed member
    with monkeypatch.context() as m:
        m.setattr(inplace, "merge", lambda *args: None)  # the twin merges the gather from every member
        assert cook_file(str(twin / "wide.py")).counts == summary.counts
    cook_id = 4 if again else 3
    assert _untimed(cook_events(wide.db, cook_id)) == _untimed(cook_events(twin / ".pdg" / "pdg.db", cook_id))
    assert "CHANGED" in (wide.root / "out2" / "all.txt").read_text()
    explained = wide.pdg("explain", "concat_1").output  # the chain goes back to the cook that made the change
    assert "gather_1 was merged again in cook" in explained and "upper_12 ran in cook 2 because" in explained
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
    """Consistency is inherited: after a cook of one node that met a node changed outside its
    scope, a cook of one node that changes nothing leaves that node's items as they were."""
    _cook(wide)
    graph = wide.root / "wide.py"
    graph.write_text(graph.read_text().replace('out.write(f.path.read_text())', 'out.write("> " + f.path.read_text())'))
    _cook(wide, "upper")
    assert _cook(wide, "upper").counts["ran"] == 0
    assert not _consistent(wide, 3)
    assert _cook(wide).counts["ran"] == 1
    assert (wide.root / "out2" / "all.txt").read_text().startswith("> HELLO WORLD 0")


def test_a_partition_dirtied_by_two_cooks_is_merged_from_every_member(wide):
    """Two cooks of ``upper``, each remaking another member of the gather: the second drops the
    records it kept from the first (they no longer say what the gather merged), and the next cook
    merges the gather from every member, recording each one's files as they are now."""
    _cook(wide)
    (wide.root / "in" / "f0011.txt").write_text("changed\n")
    _cook(wide, "upper")
    (wide.root / "in" / "f0012.txt").write_text("again\n")
    _cook(wide, "upper")
    with EventLog.open(str(wide.db)) as log:
        gather = log.cook_state().items_of("wide", "gather")[0]
    assert gather.state == "dirty" and "was" not in gather.reason
    cooks: list = []
    assert cook_file(str(wide.root / "wide.py"), on_cook=cooks.append).counts["ran"] == 1
    with EventLog.open(str(wide.db)) as log:
        state = log.cook_state()
        gather = state.items_of("wide", "gather")[0]
        assert gather.outputs == [o for item in state.items_of("wide", "upper") for o in item.outputs]
    assert "CHANGED" in (wide.root / "out2" / "all.txt").read_text()
    assert "AGAIN" in (wide.root / "out2" / "all.txt").read_text()
    assert _cook(wide).counts["ran"] == 0
    _replay_equals_the_tables(wide)


@pytest.mark.parametrize("remove", [False, True])
def test_pdg_dirty_keeps_the_manifest_and_the_next_cook_walks_from_the_dirty_item(wide, remove):
    """``pdg dirty`` changes no file record, so it moves the graph's manifest to the log's new end;
    the next cook finds the dirty item by the store's index and walks from it (it read every item).
    ``--remove-outputs``: the removed file is one the manifest's scan finds changed."""
    _cook(wide)
    args = ["dirty", "upper_5", *(["--remove-outputs"] if remove else [])]
    assert wide.pdg(*args).exit_code == 0
    assert (wide.root / "out1" / "f0004.txt").exists() is not remove
    with EventLog.open(str(wide.db)) as log:
        assert log.manifest("wide")[0] == log.last_seq()
    cooks: list = []
    summary = cook_file(str(wide.root / "wide.py"), on_cook=cooks.append)
    assert summary.counts["ran"] == 1  # upper_5 (the same file again: the concatenation is cut off)
    assert cooks[0].affected is not None and cooks[0].state.items.rows_read < 10, cooks[0].state.items.rows_read
    assert (wide.root / "out1" / "f0004.txt").read_text() == "HELLO WORLD 4\n"
    assert _cook(wide).counts["ran"] == 0
    _replay_equals_the_tables(wide)


def test_a_watcher_or_schedule_cooking_one_node_from_its_state_in_memory_vouches_too(wide):
    """``pdg watch NODE`` and a schedule of a node cook from the state they hold in memory (a
    ``State``, not the store's tables): the children outside the scope are found in it."""
    from pdgstore.engine.graph.loader import load_graph
    from pdgstore.engine.live.writer import StoreSession

    graph = str(wide.root / "wide.py")
    session = StoreSession(str(wide.db))
    session.cook(load_graph(graph))
    (wide.root / "in" / "f0011.txt").write_text("changed\n")
    assert session.cook(load_graph(graph), node="upper").counts["ran"] == 1
    assert _consistent(wide, 2)
    with EventLog.open(str(wide.db)) as log:
        assert [i.state for i in log.cook_state().items_of("wide", "gather")] == ["dirty"]
    assert session.cook(load_graph(graph)).counts["ran"] == 1
    assert "CHANGED" in (wide.root / "out2" / "all.txt").read_text()
    _replay_equals_the_tables(wide)
