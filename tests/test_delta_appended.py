"""A recook after files were added that sort after every recorded input, or the last ones were
removed, takes the delta walk (``delta.Scan.appended``, ``engine.cook.deltawalk``): only the new
items, their chains and the partitions that gain or lose members are made, and what it records is
what the full walk records, event for event; a match inserted among the recorded ones, or one
removed before others, still takes the full walk."""

from __future__ import annotations

import os
import shutil

import pytest
import test_delta
from conftest import cook_events
from pdgstore.engine.graph.loader import load_graph
from pdgstore.engine.incremental import delta, manifest
from pdgstore.engine.project import cook_graph

from pdgstore.log import EventLog

#: test_delta's graph of groups, with a wait-for-all beside the partition by attribute
GROUPS = test_delta.GROUPS + 'everything = graph.wait_for_all("everything", tag)\n'


def _cook(project, graph_file: str = "wide.py", *, full: bool = False):
    """``pdg cook``'s cook (the manifest's scan first, the manifest saved after): the cook, and
    how many items its state read from their rows. ``full``: the delta walk refused."""
    seen: list = []
    with pytest.MonkeyPatch.context() as m:
        if full:
            m.setattr(delta, "affected", lambda *a, **k: None)
        summary = cook_graph(
            load_graph(str(project.root / graph_file)), db=str(project.db), jobs=1, on_cook=seen.append
        )
    cook = seen[0]
    cook.summary = summary
    return cook, cook.state.items.rows_read


def _twins(project, tmp_path, graph_file: str = "wide.py"):
    cook_graph(load_graph(str(project.root / graph_file)), db=str(project.db), jobs=1)
    twin = type(project)(tmp_path / "twin")
    shutil.copytree(project.root, twin.root)
    return twin


def _same(a, b) -> None:
    """The two stores' last cooks recorded the same events (but times, and each file's mtime), and
    their tables hold what a replay of their logs gives."""

    def plain(value):
        if isinstance(value, list) and len(value) == 5 and isinstance(value[3], int):
            return [value[0], value[1], value[2], value[4]]  # a file's record, but its mtime
        if isinstance(value, list):
            return [plain(v) for v in value]
        if isinstance(value, dict):
            return {k: plain(v) for k, v in value.items() if k not in ("started_ns", "duration_ns", "cook_id")}
        return value

    def events(db):
        with EventLog.open(str(db)) as log:
            last = max(log.current_state().cooks)
            assert log.replay_all().to_plain() == log.current_state().to_plain()
        return [(kind, plain(fields)) for kind, fields in cook_events(db, last)]

    assert events(a.db) == events(b.db)


def test_an_input_added_last_decides_its_chain_alone_as_the_full_walk_would(wide, tmp_path, monkeypatch):
    wide.inputs(300)
    twin = _twins(wide, tmp_path)
    for p in (wide, twin):
        p.write("in/f0300.txt", "a new one\n")
    with EventLog.open(str(wide.db), writer=True) as log:
        scan = manifest.try_noop(log, load_graph(str(wide.root / "wide.py")))[1]
    assert scan is not None and not scan.patterns_same and scan.appended is not None
    assert scan.appended["files"] == (300, [str(wide.root / "in" / "f0300.txt")], [])
    patched: list = []
    real = manifest.patched
    monkeypatch.setattr(manifest, "patched", lambda *a: patched.append(real(*a)) or patched[-1])
    fast, read = _cook(wide)
    full, full_read = _cook(twin, full=True)
    assert fast.affected is not None and full.affected is None
    names = {fast.state.items[i].name for i in fast.walk.added["files"] + fast.walk.added["upper"]}
    assert names == {"files_301", "upper_301"}
    # of 602 items: the partition, concat, and upper_300 (whether the new member goes last)
    assert read <= 4 < full_read
    assert fast.summary.counts == full.summary.counts
    assert fast.summary.counts == {
        "ran": 2,
        "cached": 0,
        "updated": 2,
        "reused": 600,
        "failed": 0,
        "cancelled": 0,
        "removed": 0,
    }
    _same(wide, twin)
    assert (wide.root / "out2/all.txt").read_text() == (twin.root / "out2/all.txt").read_text()
    assert (wide.root / "out2/all.txt").read_text().endswith("A NEW ONE\n")
    assert patched and patched[-1] is not None  # the manifest patched with the new items' files
    explained = wide.pdg("explain", "files_301").output
    assert explained == "files_301 was updated in cook 2 because it is new\n", explained
    with EventLog.open(str(wide.db), writer=True) as log:  # and it proves the next cook a no-op
        assert manifest.try_noop(log, load_graph(str(wide.root / "wide.py")))[0] is not None


def test_inputs_added_last_with_one_changed_and_a_partition_by_attribute(project, tmp_path):
    """Two new inputs and a changed one at once, under a partition by attribute (made from every
    member, as the full walk makes it) and a wait-for-all (merged in place with its new members
    and the changed one): the same events as the full walk."""
    project.write("g.py", GROUPS)
    for i, text in enumerate(["apple", "avocado", "banana", "blue", "cherry", "date"]):
        project.write(f"in/f{i}.txt", text)
    twin = _twins(project, tmp_path, "g.py")
    for p in (project, twin):
        p.write("in/f1.txt", "beetroot")
        p.write("in/f7.txt", "cranberry")
        p.write("in/f8.txt", "elderberry")
    fast, _read = _cook(project, "g.py")
    full, _ = _cook(twin, "g.py", full=True)
    assert fast.affected is not None and full.affected is None
    assert fast.summary.counts == full.summary.counts and fast.summary.counts["ran"] == 7  # 3 tags, 4 joins
    _same(project, twin)
    joined = {p.name: p.read_text() for p in (project.root / "joined").iterdir()}
    assert joined == {p.name: p.read_text() for p in (twin.root / "joined").iterdir()}
    assert joined["e.txt"] == "f8.txt" and joined["c.txt"] == "f4.txt,f7.txt"


@pytest.mark.parametrize("change", ["inserted", "removed"])
def test_a_match_inserted_among_the_recorded_ones_or_removed_takes_the_full_walk(wide, tmp_path, change):
    """Every later item moves (the full walk renumbers them): no delta walk, and the outcome is
    the full walk's."""
    twin = _twins(wide, tmp_path)
    for p in (wide, twin):
        if change == "inserted":
            p.write("in/f0003a.txt", "between\n")
        else:
            os.remove(p.root / "in" / "f0005.txt")
    fast, _ = _cook(wide)
    full, _ = _cook(twin, full=True)
    assert fast.affected is None
    assert fast.summary.counts == full.summary.counts
    _same(wide, twin)


@pytest.mark.parametrize("change", ["last removed", "last two removed, one added"])
def test_the_last_inputs_removed_remove_their_chains_alone_as_the_full_walk_would(wide, tmp_path, change, monkeypatch):
    """No item before them moves: their items and chains are removed, the wait-for-all merged
    without them from its own record (the gone members' records kept by ``Items.removed``), the
    manifest patched without their files."""
    wide.inputs(300)
    twin = _twins(wide, tmp_path)
    patched: list = []
    real = manifest.patched
    monkeypatch.setattr(manifest, "patched", lambda *a: patched.append(real(*a)) or patched[-1])
    for p in (wide, twin):
        os.remove(p.root / "in" / "f0299.txt")
        if change != "last removed":
            os.remove(p.root / "in" / "f0298.txt")
            p.write("in/f0300.txt", "a new one\n")
    fast, read = _cook(wide)
    full, full_read = _cook(twin, full=True)
    assert fast.affected is not None and full.affected is None
    assert read <= 7 < full_read  # (the gone items, the partition, concat, the last member kept)
    assert fast.summary.counts == full.summary.counts
    assert fast.summary.counts["removed"] == (2 if change == "last removed" else 4)
    _same(wide, twin)
    # the partition's links to its members as a fold from zero makes them (only those that changed written)
    assert wide.pdg("check").exit_code == 0
    assert patched and patched[0] is not None
    assert (wide.root / "out2/all.txt").read_text() == (twin.root / "out2/all.txt").read_text()
    with EventLog.open(str(wide.db), writer=True) as log:  # the manifest proves the next cook a no-op
        assert manifest.try_noop(log, load_graph(str(wide.root / "wide.py")))[0] is not None


def test_a_file_pattern_that_matched_nothing_gains_a_file(wide, tmp_path):
    """The store holds no item (every input removed): the full walk, which records the wait-for-all
    and what follows it ahead (``Walk._announce``), as the delta walk does not. (Found by
    ``tests/test_incremental_property.py``, a delete then an add: a delta walk made nothing below
    the new item, a cook on a store of no item keeping no record of what it remade.)"""
    for name in os.listdir(wide.root / "in"):
        os.remove(wide.root / "in" / name)
    twin = _twins(wide, tmp_path)
    for p in (wide, twin):
        p.write("in/n0.txt", "apple\n")
    fast, _ = _cook(wide)
    full, _ = _cook(twin, full=True)
    assert fast.affected is None
    assert fast.summary.counts == full.summary.counts and fast.summary.counts["ran"] == 2
    _same(wide, twin)
    assert (wide.root / "out2/all.txt").read_text() == "APPLE\n"
