"""A cook's state reads the tables as its walk reaches them (pdgstore.cookstate): what it reads
equals what the whole state holds, in the fold's order, and a recook after one change reads only
the items that change reaches."""

from __future__ import annotations

from conftest import WIDE_GRAPH
from pdgstore.engine.cook.loop import Cook
from pdgstore.engine.graph.loader import load_graph
from pdgstore.engine.project import cook_file

from pdgstore.cookstate import CookState
from pdgstore.events import WorkItemGenerated, WorkItemRemoved
from pdgstore.log import EventLog
from pdgstore.projection import APPLY
from pdgstore.snapshots import pack_snapshot

#: W(N) without its wait-for-all: a file pattern and one processor (a change reaches one chain)
MAP_GRAPH = WIDE_GRAPH.split("gather =")[0]


def _read(state: CookState) -> int:
    """How many items the state has read so far (without reading the rest)."""
    return dict.__len__(state.items)


def test_an_item_asked_for_is_read_alone_and_the_whole_equals_the_tables(wide):
    cook_file(str(wide.root / "wide.py"))
    with EventLog.open(str(wide.db), writer=True) as log:
        whole = log.current_state()
        state = log.cook_state()
        assert isinstance(state, CookState) and _read(state) == 0
        some = next(i for i in whole.items.values() if i.node == "upper")
        assert state.items[some.item_id] == some and _read(state) == 1
        assert state.items.get("no such item") is None and "no such item" not in state.items
        assert [i.item_id for i in state.items_of("wide", "files")] == whole.item_ids_of("wide", "files")
        assert _read(state) == 21  # that node's 20 items, and the one asked for before
        assert state.outputs_of("wide", "upper") == whole.outputs_of("wide", "upper")
        assert _read(state) == 21  # outputs are read from the rows' bodies, no item made
        assert state.children_of(some.item_id) == whole.children(some.item_id)
        assert bytes(pack_snapshot(state)) == bytes(pack_snapshot(whole))  # all of it, in the fold's order


def test_removed_and_generated_again_items_keep_the_order_a_fold_gives(wide):
    cook_file(str(wide.root / "wide.py"))
    with EventLog.open(str(wide.db), writer=True) as log:
        whole, state = log.current_state(), log.cook_state()
        first = whole.item_ids_of("wide", "upper")[0]
        item = whole.items[first]
        fields = {n: getattr(item, n) for n in ("item_id", "node", "name", "index", "parents", "attrs", "inputs")}
        seq = whole.seq
        for each in (whole, state):
            removed = WorkItemRemoved(seq=seq + 1, cook_id=9, graph="wide", item_id=first, reason="gone")
            again = WorkItemGenerated(seq=seq + 2, cook_id=9, graph="wide", outputs=[], state="uncooked", **fields)
            for event in (removed, again):
                APPLY[event.kind](each, event)
        assert _read(state) == 1  # the item, read to be removed; the node's ids were read, not its items
        assert list(state.items)[-1] == first == list(whole.items)[-1]
        assert bytes(pack_snapshot(state)) == bytes(pack_snapshot(whole))


def test_a_recook_after_one_change_reads_only_what_the_change_reaches(project):
    project.write("map.py", MAP_GRAPH)
    project.inputs(40)
    cook_file(str(project.root / "map.py"))
    project.write("in/f0007.txt", "changed\n")
    graph = load_graph(str(project.root / "map.py"))
    with EventLog.open(str(project.db), writer=True) as log, graph.holding_description():
        from pdgstore.engine.incremental import manifest

        _, scan = manifest.try_noop(log, graph)
        cook = Cook(log, graph, jobs=1, scan=scan)
        summary = cook.run(after=lambda s: manifest.save(cook.recorder, graph, cook.state, s.results))
    assert summary.counts["ran"] == 1 and summary.counts["reused"] == 78  # and files_8 updated
    assert isinstance(cook.state, CookState) and _read(cook.state) == 2  # files_8 and upper_8, of 80
    assert (project.root / "out1" / "f0007.txt").read_text() == "CHANGED\n"
    assert cook_file(str(project.root / "map.py")).counts["ran"] == 0  # the manifest it wrote holds
