"""A cook after ``pdg cook --generate-only`` (issue 19) makes its nodes in bulk and compares each
item with what the generate-only recorded (``engine.cook.ahead``): it must record exactly what the
item-by-item walk records, event for event, and run the same items.

Each graph is generated into two real stores, then cooked once with the bulk path and once with it
turned off (the walk decides every item); the cooks' events (times and file mtimes aside), the
tables and the counts must be the same. Variants change what was recorded between the two steps:
an input file touched or added (the root is left to the walk), a processor's items made otherwise.
"""

from __future__ import annotations

import os
from collections import Counter
from pathlib import Path

import pdgstore.engine as engine
import pytest
from pdgstore.engine.cook import ahead, bulk
from pdgstore.engine.graph.attribs import typed
from pdgstore.engine.graph.nodes import NewItem, PythonProcessor
from test_bulk_generate import GRAPHS, _tables

from pdgstore import EventLog
from pdgstore.events import MTIME_NS

pytestmark = pytest.mark.timeout(120)

#: event fields that are times, different in any two cooks
TIMES = ("time_ns", "started_ns", "duration_ns", "ended_ns", "pid", "seq")


def _plain(value, root: str):
    """An event field with the mtimes of its file records and the project's own folder left out
    (the two projects were written at different times, in two folders), lists and dicts made
    hashable."""
    if isinstance(value, dict):
        return tuple(sorted((k, _plain(v, root)) for k, v in value.items()))
    if isinstance(value, list | tuple):
        if len(value) == 5 and isinstance(value[0], str) and isinstance(value[MTIME_NS], int):
            value = [*value[:MTIME_NS], None, *value[MTIME_NS + 1 :]]  # a file record
        return tuple(_plain(v, root) for v in value)
    return value.replace(root, "ROOT") if isinstance(value, str) else value


def _events(db: str, cook_id: int, root: str) -> Counter:
    with EventLog.open(db) as log:
        return Counter(
            (type(e).__name__, _plain({k: v for k, v in vars(e).items() if k not in TIMES}, root))
            for e in log.events(0, cook_id=cook_id)
        )


def _two_steps(
    folder: Path, make, *, use_bulk: bool, monkeypatch, between=None, again: bool = False, after=None
) -> tuple:
    """``make``'s graph generated only (in bulk), ``between`` run on the project, then cooked (or,
    ``again``, generated only once more) with the bulk path or without it: the second cook's
    events, the tables, its counts, and what it compared. ``after``: the first step cooks, and the
    second cooks ``after``'s graph instead (the same graph with a processor changed)."""
    folder.mkdir(parents=True)
    root = str(folder)
    db = str(folder / ".pdg" / "pdg.db")
    assert engine.cook_graph(make(root), db=db, jobs=2, generate_only=after is None).status == "success"
    if between is not None:
        between(root)
    times = {p: os.stat(p).st_mtime_ns for p in map(str, folder.glob("*.txt"))}
    graph = (after or make)(root)
    for path, mtime in times.items():  # the maker writes its inputs again, with the same text
        os.utime(path, ns=(mtime, mtime))
    compared: list = []
    real_plan, real_compare = bulk.plan, bulk._compare

    def compare(walk, run, out, to_run):
        compared.append((run.node.name, len(out["ids"])))
        return real_compare(walk, run, out, to_run)

    monkeypatch.setattr(bulk, "plan", lambda walk: real_plan(walk) if use_bulk else [])
    monkeypatch.setattr(bulk, "_compare", compare)
    summary = engine.cook_graph(graph, db=db, jobs=2, generate_only=again)
    monkeypatch.setattr(bulk, "plan", real_plan)
    monkeypatch.setattr(bulk, "_compare", real_compare)
    assert summary.status == "success", summary.message
    items, counts = _tables(db)
    return _events(db, summary.cook_id, root), items, counts, dict(summary.counts), compared


def _both(tmp_path: Path, make, monkeypatch, between=None, again: bool = False, after=None) -> list:
    steps = {"between": between, "again": again, "after": after, "monkeypatch": monkeypatch}
    walk = _two_steps(tmp_path / "walk", make, use_bulk=False, **steps)
    fast = _two_steps(tmp_path / "bulk", make, use_bulk=True, **steps)
    assert walk[4] == []
    assert fast[0] == walk[0]  # the cook's events, one for one
    assert fast[1] == walk[1]  # every item, field by field
    assert fast[2] == walk[2]
    assert fast[3] == walk[3]  # the same items ran, were reused, updated
    return fast[4]


#: the graphs whose generate-only's items the cook compares in bulk, and the nodes it compares
COMPARED = {
    "one_each_and_not": {"wedge", "work", "cmd", "script", "two"},
    "chain": {"inputs", "upper"},
    "many_partitions": {"wedge", "work"},
    "wedge_work": {"wedge", "work"},
    "files": {"inputs", "upper"},
}  # not page nor born_chain: their born nodes below a root are left to the walk (``ahead.eligible``)


@pytest.mark.parametrize("name", sorted(GRAPHS))
def test_a_cook_after_generate_only_compares_in_bulk_what_the_walk_decides(tmp_path, monkeypatch, name):
    compared = _both(tmp_path, GRAPHS[name], monkeypatch)
    assert {node for node, _count in compared} == COMPARED.get(name, set())


@pytest.mark.parametrize("name", ["chain", "many_partitions", "one_each_and_not"])
def test_a_second_generate_only_compares_in_bulk_what_the_walk_decides(tmp_path, monkeypatch, name):
    """``--generate-only`` twice: the second finds every item recorded, runs none, and records what
    the walk records (nothing new)."""
    compared = _both(tmp_path, GRAPHS[name], monkeypatch, again=True)
    assert {node for node, _count in compared} == COMPARED[name]


def test_an_input_touched_after_generate_only_leaves_its_root_to_the_walk(tmp_path, monkeypatch):
    """One input's text changed after the items were generated: the root's items are compared
    whole, one differs, and the walk decides the root's items (and generates the rest) itself."""
    left: list = []
    real = ahead.forget
    monkeypatch.setattr(ahead, "forget", lambda walk, run, out: left.append(run.node.name) or real(walk, run, out))

    def touch(root: str) -> None:
        path = os.path.join(root, "in_03.txt")
        Path(path).write_text("file 3, edited and longer\n")
        os.utime(path, ns=(2_000_000_000_000_000_000, 2_000_000_000_000_000_000))

    compared = _both(tmp_path, GRAPHS["chain"], monkeypatch, between=touch)
    assert compared == [("inputs", 12)]  # compared, and nothing below it
    assert left == ["inputs"]


def test_an_input_added_after_generate_only_leaves_its_root_to_the_walk(tmp_path, monkeypatch):
    def add(root: str) -> None:
        Path(root, "in_12.txt").write_text("file 12\n")

    assert _both(tmp_path, GRAPHS["files"], monkeypatch, between=add) == [("inputs", 13)]


class _Variant(PythonProcessor):
    """A processor whose items depend on a file of the project, ``variant`` (written between the
    generate-only and the cook): without it, one item of each parent; with it, the same first item
    with another attribute for every third parent, and a second item of each even parent."""

    def generate(self, ctx, parent):
        variant = os.path.exists(os.path.join(ctx.root, "variant"))
        first = {"v": typed(1)} if variant and parent.index % 3 == 0 else {}
        made = [NewItem(key=0, index=parent.index, attrs=first)]
        if variant and parent.index % 2 == 0:
            made.append(NewItem(key=1, index=parent.index, attrs={"second": typed(1)}))
        return made


def _variant_graph(root):
    g = engine.Graph("g", root=root)
    g.wedge("wedge", count=24, attributes=[engine.wedge_range("seed", 0, 10)])
    g.add(_Variant("work", ["wedge"], lambda item: item.set_attrib("done", 1)))
    g.wait_for_all("all", "work")
    return g


def test_a_processor_whose_items_changed_after_generate_only(tmp_path, monkeypatch):
    """The processor's items are compared a chunk at a time: those as announced run with no second
    generation, the new ones are recorded, and those announced otherwise (another attribute,
    another name) are decided by the walk (generated again and run)."""
    monkeypatch.setattr(bulk, "CHUNK", 7)
    sorted_out: list = []
    real = ahead.Comparison

    def comparison(walk, node, out):
        found = real(walk, node, out)
        sorted_out.append((node.name, len(found.same), len(found.fresh), len(found.other)))
        return found

    monkeypatch.setattr(ahead, "Comparison", comparison)
    compared = _both(tmp_path, _variant_graph, monkeypatch, between=lambda root: Path(root, "variant").write_text(""))
    assert {node for node, _count in compared} == {"wedge", "work"}
    work = [counts for counts in sorted_out if counts[0] == "work"]
    same, fresh, other = (sum(counts[k] for counts in work) for k in (1, 2, 3))
    assert fresh == 12 and same + other == 24  # (renumbered: a parent of two items numbers them anew)
    assert same >= 1 and other >= 8


# -- a recook after a processor's definition changed ---------------------------------------------
def _changed(make, node: str, func=None, parms: dict | None = None):
    """``make`` with ``node``'s code (``func``) or parameters (``parms``) changed."""

    def changed_graph(root):
        g = make(root)
        if func is not None:
            g.nodes[node].func = func
        if parms is not None:
            g.nodes[node].node_parms.update(parms)
        return g

    return changed_graph


RECOOKS = {
    "files_code": (GRAPHS["files"], "upper", lambda item: item.set_attrib("n", item.index + 100), None),
    "chain_code": (GRAPHS["chain"], "upper", lambda item: item.set_attrib("n", item.index + 100), None),
    "wedge_code": (GRAPHS["wedge_work"], "work", lambda item: item.set_attrib("double", 0), None),
    "partitions_code": (GRAPHS["many_partitions"], "work", lambda item: item.set_attrib("double", 1), None),
    "wedge_parm": (GRAPHS["wedge_work"], "work", None, {"extra": 1}),
    "two_each_parm": (GRAPHS["one_each_and_not"], "two", None, {"extra": 1}),
    "below_work_code": (GRAPHS["chain"], "double", lambda item: item.set_attrib("m", 0), None),
}
#: the nodes bulk makes when the processor changed: its root, and the processor if its input is that root
RECOOK_COMPARED = {
    "files_code": {"inputs", "upper"},
    "chain_code": {"inputs", "upper"},
    "wedge_code": {"wedge", "work"},
    "partitions_code": {"wedge", "work"},
    "wedge_parm": {"wedge", "work"},
    "two_each_parm": set(),  # beside processors that did not change: the walk's
    "below_work_code": set(),  # below a processor with work: the walk's, item by item
}


@pytest.mark.parametrize("name", sorted(RECOOKS))
def test_a_recook_after_a_processor_changed_makes_it_in_bulk_as_the_walk_would(tmp_path, monkeypatch, name):
    """A processor whose code or parameters changed runs every item again: bulk lays its items out
    from its root's a chunk at a time, and the walk's ``Items.work`` decides each (none is as
    recorded), so the recook records what the walk records, event for event."""
    make, node, func, parms = RECOOKS[name]
    compared = _both(tmp_path, make, monkeypatch, after=_changed(make, node, func, parms))
    assert {n for n, _count in compared} == RECOOK_COMPARED[name]
