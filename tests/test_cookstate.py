"""A cook's state reads the tables as its walk reaches them (pdgstore.cookstate): what it reads
equals what the whole state holds, in the fold's order, and a recook after one change reads only
the items that change reaches."""

from __future__ import annotations

import subprocess

import pytest
from conftest import WIDE_GRAPH
from pdgstore.engine.cook.loop import Cook
from pdgstore.engine.cook.recorder import Recorder
from pdgstore.engine.graph.loader import load_graph
from pdgstore.engine.incremental import manifest
from pdgstore.engine.project import cook_file

from pdgstore import cookstate
from pdgstore import events as ev
from pdgstore.cookstate import CookState
from pdgstore.events import WorkItemGenerated, WorkItemRemoved
from pdgstore.lazyitems import LazyItems
from pdgstore.lazyjobs import LazyJobs
from pdgstore.log import EventLog
from pdgstore.projection import APPLY
from pdgstore.snapshots import pack_snapshot

_patched = manifest.patched
#: W(N) without its wait-for-all: a file pattern and one processor (a change reaches one chain)
MAP_GRAPH = WIDE_GRAPH.split("gather =")[0]


def _read(state: CookState) -> int:
    """How many items the state has read from the tables so far (without reading the rest; a cook
    lets go of the items it is done with, so they are not what it holds at its end)."""
    return state.items.rows_read


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
        assert list(state.outputs_of("wide", "upper")) == list(whole.outputs_of("wide", "upper"))
        assert _read(state) == 21  # outputs are read from the rows' bodies, no item made
        assert state.children_of(some.item_id) == whole.children(some.item_id)
        assert bytes(pack_snapshot(state)) == bytes(pack_snapshot(whole))  # all of it, in the fold's order


def test_a_node_is_counted_from_node_states_without_reading_its_ids(wide):
    """``item_count`` of a node whose ids were not read asks ``node_states`` (a delta cook sizes a
    node of a million items so); once read, it counts them. Both agree with the whole state."""
    from pdgstore import cookstate

    cook_file(str(wide.root / "wide.py"))
    with EventLog.open(str(wide.db), writer=True) as log:
        whole, state = log.current_state(), log.cook_state()
        for node in ("files", "upper", "gather", "concat", "no such node"):
            assert state.item_count("wide", node) == whole.item_count("wide", node)
        assert dict.get(state.node_items, ("wide", "upper")) is cookstate._UNREAD and _read(state) == 0
        state.items_of("wide", "upper")
        assert state.item_count("wide", "upper") == 20 == whole.item_count("wide", "upper")


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


def test_ids_generated_in_a_node_not_read_are_kept_aside_in_the_order_a_fold_gives(wide):
    """The fold's ``WorkItemGenerated`` in a node whose ids are unread keeps the id aside: counted,
    asked for and read back where the whole state's fold puts it (an item generated again keeps its
    place, a new one comes last), without the node's ids being read until something lists them."""
    cook_file(str(wide.root / "wide.py"))
    with EventLog.open(str(wide.db), writer=True) as log:
        whole, state = log.current_state(), log.cook_state()
        ids = whole.item_ids_of("wide", "upper")
        item = whole.items[ids[3]]
        fields = {n: getattr(item, n) for n in ("node", "parents", "attrs", "inputs")}
        seq = whole.seq
        for each in (whole, state):
            again = WorkItemGenerated(seq=seq + 1, cook_id=9, graph="wide", outputs=[], state="uncooked",
                                      item_id=ids[3], name=item.name, index=item.index, **fields)
            new = WorkItemGenerated(seq=seq + 2, cook_id=9, graph="wide", outputs=[], state="uncooked",
                                    item_id="a new item", name="upper_new", index=99, **fields)
            for event in (again, new):
                APPLY[event.kind](each, event)
        key = ("wide", "upper")
        assert dict.get(state.node_items, key) is cookstate._UNREAD
        assert state.item_count(*key) == 21 == whole.item_count(*key)
        asked = ["a new item", ids[5], "no such item", ids[3]]
        assert state.ids_in_node(*key, asked) == [ids[3], ids[5], "a new item"] == whole.ids_in_node(*key, asked)
        assert state.ids_in_node("wide", "files", asked) == []
        assert dict.get(state.node_items, key) is cookstate._UNREAD and _read(state) == 0
        assert list(state.node_items[key]) == list(whole.node_items[key]) == [*ids, "a new item"]
        assert bytes(pack_snapshot(state)) == bytes(pack_snapshot(whole))


def test_a_recook_after_one_change_reads_only_what_the_change_reaches(project):
    project.write("map.py", MAP_GRAPH)
    project.inputs(40)
    cook_file(str(project.root / "map.py"))
    project.write("in/f0007.txt", "changed\n")
    graph = load_graph(str(project.root / "map.py"))
    with EventLog.open(str(project.db), writer=True) as log, graph.holding_description():
        _, scan = manifest.try_noop(log, graph)
        cook = Cook(log, graph, jobs=1, scan=scan)
        unread = []

        def after(summary) -> None:  # the walk is over; the results (upper's outputs) were listed
            unread.append(dict.get(cook.state.node_items, ("wide", "files")) is cookstate._UNREAD)
            manifest.save(cook.recorder, graph, cook.state, summary.results)

        summary = cook.run(after=after)
    assert summary.counts["ran"] == 1 and summary.counts["reused"] == 78  # and files_8 updated
    assert isinstance(cook.state, CookState) and _read(cook.state) == 2  # files_8 and upper_8, of 80
    assert unread == [True]  # files_8 generated again in its node without reading the node's ids
    assert (project.root / "out1" / "f0007.txt").read_text() == "CHANGED\n"
    assert cook_file(str(project.root / "map.py")).counts["ran"] == 0  # the manifest it wrote holds


def _manifest(blob: bytes) -> dict:
    import zlib

    import msgpack

    outer = msgpack.unpackb(blob, raw=False, strict_map_key=False)
    return msgpack.unpackb(zlib.decompress(outer["z"]), raw=False, strict_map_key=False)


def test_a_recook_after_one_change_of_a_wide_graph_makes_no_item_of_the_members_it_did_not_reach(project, monkeypatch):
    """W(270): the wait-for-all is placed with its recorded members and merged from their rows
    without an ``Item`` each (270 members: more than ``cookstate.MAX_MISSES`` read one by one), and
    the manifest is patched, not listed again. What it records is what a merge of whole items gives,
    and the patched manifest is the one a full listing writes."""
    from pdgstore.engine.graph.nodes import merged_outputs
    from pdgstore.engine.incremental import signatures

    project.write("wide.py", WIDE_GRAPH)
    project.inputs(270)
    cook_file(str(project.root / "wide.py"), jobs=1)
    project.write("in/f0150.txt", "changed, and longer\n")
    patched: list = []
    monkeypatch.setattr(manifest, "patched", lambda *a: patched.append(_patched(*a)) or patched[-1])
    cooks: list[Cook] = []
    summary = cook_file(str(project.root / "wide.py"), jobs=1, on_cook=cooks.append)
    assert summary.counts["ran"] == 2 and summary.counts["updated"] == 2  # upper_151, concat; files_151, gather
    state = cooks[0].state
    assert isinstance(state, CookState) and not state.items._complete
    assert _read(state) == 4  # files_151, upper_151, the gather and concat_1, of 542
    assert patched and patched[0] is not None  # the manifest was patched
    graph = load_graph(str(project.root / "wide.py"))
    with EventLog.open(str(project.db)) as log:
        whole = log.current_state()
        _, stored = log.manifest("wide")
    gather = whole.items_of("wide", "gather")[0]
    members = [whole.items[m] for m in gather.parents]
    node_fp = signatures.node_fingerprint(next(d for d in graph.describe() if d["name"] == "gather"))
    assert gather.signature == signatures.partition_signature(node_fp, {}, members)
    assert list(gather.outputs) == merged_outputs(members)
    assert "CHANGED, AND LONGER" in (project.root / "out2" / "all.txt").read_text()

    class Written:
        def save_manifest(self, graph_name, seq, blob):
            self.blob = blob

    full = Written()
    manifest.save(full, graph, whole, _manifest(stored)["results"])
    assert _manifest(stored) == _manifest(full.blob)
    assert cook_file(str(project.root / "wide.py")).counts["ran"] == 0  # the patched manifest proves a no-op


def test_ids_of_one_node_read_one_by_one_past_the_limit_read_that_node_only(project):
    """After ``MAX_MISSES`` items of a node read by their ids, the rest of that node is read in one
    pass; the other nodes' items stay unread."""
    from pdgstore import cookstate

    project.write("map.py", MAP_GRAPH)
    count = cookstate.MAX_MISSES + 20
    project.inputs(count)
    cook_file(str(project.root / "map.py"))
    with EventLog.open(str(project.db), writer=True) as log:
        whole, state = log.current_state(), log.cook_state()
        upper = whole.item_ids_of("wide", "upper")
        for item_id in upper[: cookstate.MAX_MISSES]:
            assert state.items[item_id] == whole.items[item_id]
        assert _read(state) == cookstate.MAX_MISSES
        assert state.items[upper[-1]] == whole.items[upper[-1]]  # one more: the rest of the node
        assert _read(state) == count
        assert all(state.items.is_read(i) for i in upper)
        assert not any(state.items.is_read(i) for i in whole.item_ids_of("wide", "files"))
        assert bytes(pack_snapshot(state)) == bytes(pack_snapshot(whole))  # all of it, in the fold's order


def test_ids_of_a_big_node_are_read_one_by_one_up_to_a_share_of_it(project, monkeypatch):
    """A walk that reaches a few of a big node's items (the chains of a thousand changed files in a
    node of a hundred thousand) reads them by id: the node is read at once only when they are
    ``SCAN_SHARE``-th of it."""
    from pdgstore import lazyitems

    monkeypatch.setattr(lazyitems, "MAX_MISSES", 4)
    monkeypatch.setattr(lazyitems, "SCAN_SHARE", 4)
    project.write("map.py", MAP_GRAPH)
    project.inputs(40)
    cook_file(str(project.root / "map.py"))
    with EventLog.open(str(project.db), writer=True) as log:
        whole, state = log.current_state(), log.cook_state()
        upper = whole.item_ids_of("wide", "upper")
        for item_id in upper[:10]:  # past MAX_MISSES, short of a quarter of the node
            assert state.items[item_id] == whole.items[item_id]
        assert _read(state) == 10
        assert state.items[upper[10]] == whole.items[upper[10]]  # a quarter: the rest of the node
        assert _read(state) == 40 and all(state.items.is_read(i) for i in upper)


@pytest.mark.parametrize("why", ["target", "ended early"])
def test_a_cook_without_the_manifest_scan_reads_no_item_to_stat_the_files(wide, monkeypatch, why):
    """With no manifest scan to vouch for the files (a cook of one node and what it needs, a cook
    after one that ended early), each file is stat'ed when a decision asks about it: nothing of
    the store is read for them before the walk starts (it read and held every item of the scope to list
    their files). The changed input is still found, and only its chain runs."""
    wide.inputs(40)
    assert cook_file(str(wide.root / "wide.py")).status == "success"
    if why == "ended early":
        with EventLog.open(str(wide.db), writer=True) as log:  # the manifest of the log's end: gone
            log.conn.execute("DELETE FROM meta WHERE key LIKE 'manifest%'")
    (wide.root / "in" / "f0007.txt").write_text("changed\n")
    read_at_start: list[int] = []
    stats = Cook._stats

    def stated(self):
        found = stats(self)
        read_at_start.append(self.state.items.rows_read)
        return found

    monkeypatch.setattr(Cook, "_stats", stated)
    node = "concat" if why == "target" else None
    summary = cook_file(str(wide.root / "wide.py"), node=node)
    assert summary.status == "success" and summary.counts["ran"] == 2, summary.counts  # its upper item, concat
    assert read_at_start == [0]
    assert cook_file(str(wide.root / "wide.py")).counts["ran"] == 0


COMMANDS_GRAPH = '''
from pdgstore.engine import Graph

graph = Graph("commands")
files = graph.file_pattern("files", "in/*.txt")
graph.command("copy", files, ["sh", "-c", "mkdir -p out && cp @pdg_input out/@pdg_name.txt"],
              expected_outputs=["out/@pdg_name.txt"])
'''


def test_a_recook_reads_the_jobs_of_the_items_it_runs_and_no_other(project):
    """Each command item keeps its last job (``jobs``); a cook read every row up front (a million
    at W(1,000,000) of commands). ``LazyJobs`` reads the ones the cook asks about; going over them
    reads the rest, and the cook's state still equals the fold from zero."""
    project.write("commands.py", COMMANDS_GRAPH)
    project.inputs(12)
    assert cook_file(str(project.root / "commands.py")).counts["ran"] == 12
    project.write("in/f0004.txt", "changed\n")
    graph = load_graph(str(project.root / "commands.py"))
    with EventLog.open(str(project.db), writer=True) as log, graph.holding_description():
        _, scan = manifest.try_noop(log, graph)
        cook = Cook(log, graph, jobs=1, scan=scan)
        summary = cook.run()
        jobs = cook.state.jobs
        assert summary.counts["ran"] == 1 and summary.status == "success"
        assert dict.__len__(jobs) == 1  # the job of the one item it ran, read when its job started
        ran = next(iter(dict.keys(jobs)))
        assert cook.state.items[ran].name == "copy_5" and jobs[ran][4] == 0  # ended, exit code 0
        assert len(jobs) == 12  # going over them reads the rest
        assert cook.state.to_plain() == log.replay_all().to_plain()
    assert (project.root / "out" / "copy_5.txt").read_text() == "changed\n"


def test_a_dead_cooks_recovery_reads_what_it_left_unfinished_and_no_other_item_or_job(project, monkeypatch):
    """The next cook records a dead cook's unfinished items cancelled and looks for its jobs still
    running: it finds them by the (graph, node, state) index and the dead cook's ``JobStarted``
    events, never by reading every item and job of the store (a million of each at W(1,000,000))."""
    project.write("commands.py", COMMANDS_GRAPH)
    project.inputs(12)
    assert cook_file(str(project.root / "commands.py")).counts["ran"] == 12
    gone = subprocess.Popen(["true"])
    gone.wait(timeout=30)
    with EventLog.open(str(project.db), writer=True) as log:  # a cook 2 that died mid-way, as its log left it
        by_name = {i.name: i.item_id for i in log.current_state().items.values()}
        rec = Recorder(log, log.cook_state(), graph="commands")
        rec.cook_id = 2
        rec.emit(ev.CookStarted, node="", jobs=2, pid=gone.pid, overrides={})
        for name in ("copy_1", "copy_2", "copy_3", "copy_4"):
            rec.emit(ev.WorkItemStateChanged, item_id=by_name[name], state="scheduled")
        rec.emit(ev.JobStarted, item_id=by_name["copy_2"], scheduler="local", attempt=1, pid=gone.pid)
        rec.emit(ev.WorkItemStateChanged, item_id=by_name["copy_4"], state="dirty")  # waits: not cancelled
        rec.flush()
        assert log.jobs_started(2) == [by_name["copy_2"]]

    def read_all(self):
        raise AssertionError("the recovery read every row of a table")

    monkeypatch.setattr(LazyItems, "read_all", read_all)
    monkeypatch.setattr(LazyJobs, "read_all", read_all)
    graph = load_graph(str(project.root / "commands.py"))
    with EventLog.open(str(project.db), writer=True) as log, graph.holding_description():
        cook = Cook(log, graph, jobs=1)
        summary = cook.run()
        assert summary.status == "success" and summary.counts["ran"] == 4, summary.counts
        monkeypatch.undo()
        cancels = [e for e in log.events(cook_id=2) if e.kind == "WorkItemStateChanged" and e.state == "cooked_cancel"]
        assert sorted(e.item_id for e in cancels) == sorted(by_name[n] for n in ("copy_1", "copy_2", "copy_3"))
        assert log.load_state().cooks[2].status == "cancelled"
        assert cook.state.to_plain() == log.replay_all().to_plain()
