"""``pdg cook --generate-only`` on fresh nodes (issue 19): the bulk path (``engine.cook.bulk``) records
exactly the items the item-by-item walk records, and the cook after it runs what it would have run.

Each graph is generated twice into two real stores, once with the bulk path and once with it turned
off; the tables (every item's id, name, index, parents, attributes, files, state and signature, and
the counts per node and state) must be the same, and so must what the next cook runs.
"""

from __future__ import annotations

from pathlib import Path

import pdgstore.engine as engine
import pytest
from pdgstore.engine import wedge_random, wedge_range, wedge_values
from pdgstore.engine.cook import bulk
from pdgstore.engine.cook import recorder as recorder_module
from pdgstore.engine.graph.nodes import NewItem, Processor, PythonProcessor

from pdgstore import EventLog, tablecheck
from pdgstore.state import first_difference

WEDGE = 500  # 1,000 items: with ``START_ROWS`` lowered below, the cook hands batches to the appender process


@pytest.fixture(autouse=True)
def _appender_from_few_rows(monkeypatch):
    """A cook of these graphs hands its batches to the log appender process, as a big cook does
    (``logprocess.START_ROWS`` rows start one), with items by the hundred, not by the thousand."""
    monkeypatch.setattr(recorder_module, "START_ROWS", 200)
    started: list = []
    real = recorder_module.LogProcess
    monkeypatch.setattr(recorder_module, "LogProcess", lambda log: started.append(log.path) or real(log))
    return started


def _wedge_work(root):
    g = engine.Graph("g", root=root)
    w = g.wedge("wedge", count=WEDGE, attributes=[wedge_range("seed", 0, 10), wedge_random("r", 0, 1, seed=3)])
    g.python_processor("work", w, lambda item: item.set_attrib("double", item["seed"] * 2))
    return g


def _page_example(root):
    g = engine.Graph("g", root=root)
    w = g.wedge("wedge", attributes=[wedge_values("pixelsamples", [1, 4, 9, 16])])
    r = g.frame_range("render", w, start=1, end=5)
    s = g.python_processor("shade", r, lambda item: item.set_attrib("shaded", item["frame"]))
    p = g.partition_by_frame("byframe", s)
    m = g.python_processor("sheet", p, lambda item: item.set_attrib("sheet", 1))
    g.wait_for_all("done", m)
    return g


def _born_chain_then_partition(root):
    g = engine.Graph("g", root=root)
    w = g.wedge("wedge", count=6, attributes=[wedge_values("shot", ["a", "b", "c", "d", "e", "f"])])
    r = g.frame_range("frames", w, start=1, end=3)
    c = g.attribute_create("made", r, {"quality": "high"})
    p = g.partition_by_frame("byframe", c)
    g.python_processor("after", p, lambda item: None)
    return g


def _files(root):
    for i in range(12):
        Path(root, f"in_{i:02d}.txt").write_text(f"file {i}\n")
    g = engine.Graph("g", root=root)
    f = g.file_pattern("inputs", "in_*.txt")
    g.python_processor("upper", f, lambda item: item.set_attrib("n", item.index))
    return g


def _many_partitions(root):
    """Partitions by the thousand, over born-cooked items (merged at once) and over items with work
    (placed waiting), and static items below work (recorded ahead of their parents' cook)."""
    g = engine.Graph("g", root=root)
    w = g.wedge("wedge", count=WEDGE, attributes=[wedge_range("seed", 0, 10)])
    by_index = g.partition_by_index("byindex", w)
    work = g.python_processor("work", w, lambda item: item.set_attrib("double", item["seed"] * 2))
    g.partition_by_range("pairs", work, range_type="size", size=2)
    g.python_processor("later", work, lambda item: None)  # static below work: announced ahead
    g.partition_by_node("both", [by_index, work], mode="tuple")
    return g


def _chain(root):
    """Files, a processor, and processors below it (one dynamic by default, one explicitly static)."""
    for i in range(12):
        Path(root, f"in_{i:02d}.txt").write_text(f"file {i}\n")
    g = engine.Graph("g", root=root)
    f = g.file_pattern("inputs", "in_*.txt")
    up = g.python_processor("upper", f, lambda item: item.set_attrib("n", item.index))
    down = g.python_processor("double", up, lambda item: item.set_attrib("m", item["n"] * 2))
    g.python_processor("last", down, lambda item: item.set_attrib("k", item["m"] + 1))
    g.wait_for_all("all", down)
    return g


def _chain_static_below(root):
    g = engine.Graph("g", root=root)
    w = g.wedge("wedge", count=30, attributes=[wedge_range("seed", 0, 10)])
    work = g.python_processor("work", w, lambda item: item.set_attrib("double", item["seed"] * 2))
    g.python_processor("later", work, lambda item: None, generate_when="all_upstream_generated")
    return g


class _TwoEach(PythonProcessor):
    """A python processor whose own ``generate`` makes two items of each upstream item: the bulk
    path must ask it (``Processor.one_each`` is false), not lay out one each."""

    def generate(self, ctx, parent):
        return [NewItem(key=k, index=parent.index, attrs={"half": k}) for k in (0, 1)]


def _one_each_and_not(root):
    """Processors that make one item each (a python processor, a command, a script: laid out
    without a call per parent) beside one that overrides ``generate``."""
    g = engine.Graph("g", root=root)
    w = g.wedge("wedge", count=40, attributes=[wedge_range("seed", 0, 10)])
    g.python_processor("work", w, lambda item: item.set_attrib("double", item["seed"] * 2))
    g.command("cmd", w, ["true"])
    g.python_script("script", w, code="work_item.setIntAttrib('k', 1)")
    g.add(_TwoEach("two", ["wedge"], lambda item: None))
    return g


def test_which_processors_make_one_item_each():
    g = _one_each_and_not("/tmp")
    assert [g.nodes[n].one_each() for n in ("work", "cmd", "script", "two", "wedge")] == [
        True, True, True, False, False,
    ]  # fmt: skip
    work = g.nodes["work"]
    work.generate = lambda ctx, parent: []  # overridden on the instance: asked, not assumed
    assert not work.one_each()


GRAPHS = {
    "one_each_and_not": _one_each_and_not,
    "chain": _chain,
    "chain_static_below": _chain_static_below,
    "wedge_work": _wedge_work,
    "page": _page_example,
    "born_chain": _born_chain_then_partition,
    "files": _files,
    "many_partitions": _many_partitions,
}


def _files_of(records: list) -> list:
    """File records but their mtime (the two stores' projects were written at different times)."""
    return [[r[0], r[1], r[2], r[4]] for r in records]


def _tables(db: str) -> tuple[dict, list]:
    with EventLog.open(db) as log:
        state = log.load_state()
        replayed = log.replay_all()
        verdict = tablecheck.check(log)  # the tables (some rows written as prepared) are the log's fold
    assert first_difference(replayed.to_plain(), state.to_plain()) is None
    assert verdict.difference is None, verdict.difference
    items = {
        i.item_id: (
            i.node,
            i.name,
            i.index,
            i.parents,
            i.attrs,
            _files_of(i.inputs),
            _files_of(i.outputs),
            i.state,
            i.signature,
        )
        for i in state.items.values()
    }
    counts = sorted((i.node, i.state) for i in state.items.values())
    return items, counts


def _generate(tmp_path: Path, make, *, use_bulk: bool, monkeypatch) -> tuple:
    tmp_path.mkdir(parents=True)
    root = str(tmp_path)
    graph = make(root)
    db = str(tmp_path / ".pdg" / "pdg.db")
    chosen: list = []
    real_plan, real_in_bulk = bulk.plan, bulk.in_bulk

    def plan(walk):
        names = real_plan(walk) if use_bulk else []
        chosen.extend(names)
        return names

    def in_bulk(walk):
        answer = real_in_bulk(walk) and use_bulk
        if answer:
            chosen.append("(in bulk)")
        return answer

    monkeypatch.setattr(bulk, "plan", plan)
    monkeypatch.setattr(bulk, "in_bulk", in_bulk)  # partitions and items recorded ahead, in bulk or not
    summary = engine.cook_graph(graph, db=db, jobs=2, generate_only=True)
    assert summary.status == "success", summary.message
    generated = summary.generated
    items, counts = _tables(db)
    monkeypatch.setattr(bulk, "plan", real_plan)
    monkeypatch.setattr(bulk, "in_bulk", real_in_bulk)
    after = engine.cook_graph(make(root), db=db, jobs=2)
    assert after.status == "success", after.message
    return items, counts, generated, dict(after.counts), chosen


@pytest.mark.parametrize("name", sorted(GRAPHS))
def test_bulk_generation_records_what_the_walk_records(tmp_path, monkeypatch, name, _appender_from_few_rows):
    make = GRAPHS[name]
    walk = _generate(tmp_path / "walk", make, use_bulk=False, monkeypatch=monkeypatch)
    fast = _generate(tmp_path / "bulk", make, use_bulk=True, monkeypatch=monkeypatch)
    assert fast[4], "the bulk path made nothing: the test proves nothing"
    assert walk[4] == []
    assert fast[0] == walk[0]  # every item, field by field
    assert fast[1] == walk[1]
    assert fast[2] == walk[2]  # --generate-only's per-node table
    assert fast[3] == walk[3]  # the cook after it ran the same
    if name in ("wedge_work", "many_partitions"):  # big enough: both went through an appender process
        assert {"walk", "bulk"} <= {Path(path).parent.parent.name for path in _appender_from_few_rows}


@pytest.mark.parametrize("name", ["page", "wedge_work", "born_chain", "chain"])
def test_bulk_generation_in_small_chunks_records_what_the_walk_records(tmp_path, monkeypatch, name):
    """With chunks of 7 items, a root's items, the children of one parent (5 frames a wedge item)
    and the one child of each of many parents are split across chunks: the items are still the
    walk's, and so is what the cook after them runs."""
    monkeypatch.setattr(bulk, "CHUNK", 7)
    recorded: list[int] = []
    real_record = bulk._record

    def record(walk, run, out, to_run):
        recorded.append(len(out["ids"]))
        real_record(walk, run, out, to_run)

    monkeypatch.setattr(bulk, "_record", record)
    make = GRAPHS[name]
    walk = _generate(tmp_path / "walk", make, use_bulk=False, monkeypatch=monkeypatch)
    fast = _generate(tmp_path / "bulk", make, use_bulk=True, monkeypatch=monkeypatch)
    assert max(recorded) == 7 and recorded.count(7) > 1  # split, and never over a chunk
    assert fast[:4] == walk[:4]


def test_child_identities_are_item_identity():
    from pdgstore.engine.graph.workitem import child_identities, item_identity

    parents, keys = ["00ab", "it's", "x" * 16], [0, (1, "a"), "key"]
    assert child_identities("g", "n", parents, keys) == [item_identity("g", "n", [p], k) for p, k in zip(parents, keys)]


def test_bulk_path_is_only_for_fresh_nodes(tmp_path, monkeypatch):
    """A node with recorded items is decided item by item (its items may be reused or dirtied)."""
    root = str(tmp_path)
    db = str(tmp_path / ".pdg" / "pdg.db")
    assert engine.cook_graph(_wedge_work(root), db=db, jobs=2).status == "success"
    chosen: list = []
    real_plan = bulk.plan
    monkeypatch.setattr(bulk, "plan", lambda walk: chosen.extend(real_plan(walk)) or chosen)
    summary = engine.cook_graph(_wedge_work(root), db=db, jobs=2, generate_only=True)
    assert summary.status == "success"
    assert chosen == []
    assert summary.generated["work"]["items"] == WEDGE


def test_generate_only_records_items_before_anything_runs(tmp_path):
    """When: in the bulk path every static item is in the log before the first item cooks, and the
    cook after it generates none of them again."""
    root = str(tmp_path)
    db = str(tmp_path / ".pdg" / "pdg.db")
    engine.cook_graph(_page_example(root), db=db, jobs=2, generate_only=True)
    engine.cook_graph(_page_example(root), db=db, jobs=2)
    with EventLog.open(db) as log:
        events = list(log.events())
    first = {}
    for e in events:
        if e.kind == "WorkItemGenerated":
            first.setdefault(e.item_id, (e.cook_id, e.seq))
    ran = [e.seq for e in events if e.kind == "WorkItemStateChanged" and e.state == "cooking"]
    ran += [e.seq for e in events if e.kind == "WorkItemCooked" and e.cook_id == 2]
    static_nodes = {"wedge", "render", "shade", "byframe", "sheet", "done"}
    assert {e.node for e in events if e.kind == "WorkItemGenerated" and e.cook_id == 1} == static_nodes
    assert all(cook == 1 for cook, _ in first.values())  # nothing new in the cook after it
    assert max(seq for _, seq in first.values()) < min(ran)


def test_new_events_make_the_events_and_rows_new_event_makes():
    """``codec.new_events`` (the bulk path's encoder) gives byte for byte what ``new_event`` gives."""
    from pdgstore import codec
    from pdgstore.events import WorkItemGenerated

    many = [
        {
            "item_id": f"{i:016x}",
            "node": "w",
            "name": f"w_{i + 1}",
            "index": i,
            "parents": [],
            "attrs": {"seed": ["float", [i / 3]]},
            "inputs": [],
            "outputs": [],
            "state": "cooked_success",
            "signature": "abc",
        }
        for i in range(3)
    ]
    many.append({"item_id": "f" * 16, "node": "w", "name": "w_9", "index": 8})  # defaults filled in: the slow way
    fast = codec.new_events(WorkItemGenerated, 10, 123, 2, "g", many)
    slow = [codec.new_event(WorkItemGenerated, 10 + i, 123, 2, "g", f) for i, f in enumerate(many)]
    assert [row for _, row in fast] == [row for _, row in slow]
    assert [vars(e) for e, _ in fast] == [vars(e) for e, _ in slow]


def test_partitions_and_items_recorded_ahead_go_in_bulk(tmp_path, monkeypatch):
    """``--generate-only`` records the partitions of a fresh partitioner and the static items below
    items with work with ``Recorder.record_many`` (not an event at a time), whole nodes at once."""
    from pdgstore.engine.cook.recorder import Recorder

    in_bulk: dict[str, int] = {}
    real = Recorder.record_many

    def record_many(self, cls, many):
        for fields in many:
            in_bulk[fields["node"]] = in_bulk.get(fields["node"], 0) + 1
        return real(self, cls, many)

    monkeypatch.setattr(Recorder, "record_many", record_many)
    root = str(tmp_path)
    db = str(tmp_path / ".pdg" / "pdg.db")
    summary = engine.cook_graph(_many_partitions(root), db=db, jobs=2, generate_only=True)
    assert summary.status == "success", summary.message
    # wedge and work are made by ``bulk.plan``'s path (one batch each, not ``record_many``)
    assert in_bulk == {
        "byindex": WEDGE,  # merged at once: their members were born cooked
        "pairs": WEDGE // 2,  # placed waiting for their members
        "later": WEDGE,  # recorded ahead of their parents' cook
        "both": WEDGE,
    }
    items, _counts = _tables(db)
    states = {}
    for node, _name, *_rest, state, _signature in items.values():
        states.setdefault(node, set()).add(state)
    assert states["byindex"] == {"cooked_success"} and states["pairs"] == {"waiting"}


def _cold(tmp_path: Path, make, *, use_bulk: bool, monkeypatch) -> tuple:
    """A cold ``pdg cook`` (nothing recorded) of ``make``'s graph, with the bulk path or without it;
    then the same graph cooked again, which must find nothing to do."""
    tmp_path.mkdir(parents=True)
    root = str(tmp_path)
    db = str(tmp_path / ".pdg" / "pdg.db")
    chosen: list = []
    real_plan, real_in_bulk = bulk.plan, bulk.in_bulk
    monkeypatch.setattr(bulk, "plan", lambda walk: chosen.extend(real_plan(walk) if use_bulk else []) or chosen)
    monkeypatch.setattr(bulk, "in_bulk", lambda walk: real_in_bulk(walk) and use_bulk)
    summary = engine.cook_graph(make(root), db=db, jobs=2)
    assert summary.status == "success", summary.message
    monkeypatch.setattr(bulk, "plan", real_plan)
    monkeypatch.setattr(bulk, "in_bulk", real_in_bulk)
    items, counts = _tables(db)
    again = engine.cook_graph(make(root), db=db, jobs=2)
    assert again.status == "success" and again.counts["ran"] == 0 and again.counts["updated"] == 0
    return items, counts, dict(summary.counts), chosen


#: the graphs whose fresh nodes a cold cook makes in bulk, and which (``bulk.plan``: the others
#: have a processor that records its items ahead of their parents' cook below items that run)
COLD_IN_BULK = {
    "one_each_and_not": ["wedge", "work", "cmd", "script", "two"],
    "chain": ["inputs", "upper"],
    "many_partitions": ["wedge", "work"],
    "wedge_work": ["wedge", "work"],
    "page": ["wedge", "render", "shade"],
    "files": ["inputs", "upper"],
    "born_chain": ["wedge", "frames", "made"],
}


@pytest.mark.parametrize("name", sorted(GRAPHS))
def test_a_cold_cook_in_bulk_records_and_runs_what_the_walk_does(tmp_path, monkeypatch, name, _appender_from_few_rows):
    """A cold cook makes fresh nodes' items in bulk and queues those with work to run: every item
    ends as the walk leaves it (cooked, with the same signature and files), the same items ran, and
    the next cook reuses everything."""
    make = GRAPHS[name]
    walk = _cold(tmp_path / "walk", make, use_bulk=False, monkeypatch=monkeypatch)
    fast = _cold(tmp_path / "bulk", make, use_bulk=True, monkeypatch=monkeypatch)
    assert walk[3] == [] and fast[3] == COLD_IN_BULK.get(name, [])
    assert fast[0] == walk[0]
    assert fast[1] == walk[1]
    assert fast[2] == walk[2]
    if name in ("wedge_work", "many_partitions"):  # big enough: both went through an appender process
        assert {"walk", "bulk"} <= {Path(path).parent.parent.name for path in _appender_from_few_rows}


class _Failing(Processor):
    """A root processor whose generation raises (a licence server down, say)."""

    type_name = "failing"

    def parms(self) -> dict:
        return {}

    def generate(self, ctx, parent):
        raise RuntimeError("the licence server is down")


def test_a_root_that_fails_to_generate_in_bulk_fails_the_cook_and_records_none_of_it(tmp_path):
    """Generating in bulk, a root's items come a part at a time (``generate_parts``): a generation
    that raises fails the cook with the node's sentence, and none of its items is recorded."""
    graph = engine.Graph("failing", root=str(tmp_path))
    graph.add(_Failing("boom", []))
    graph.range_generate("fine", 3)
    db = str(tmp_path / ".pdg" / "pdg.db")
    summary = engine.cook_graph(graph, db=db, generate_only=True)
    assert summary.status != "success"
    assert "node boom failed to generate work items: RuntimeError: the licence server is down" in summary.message
    with EventLog.open(db) as log:
        state = log.load_state()
    assert not [i for i in state.items.values() if i.node == "boom"]
