"""The delta walk (engine.incremental.delta): after a small change, only the items it can reach are decided;
the rest are registered as reused in bulk. What it records must equal what the full walk records."""

from __future__ import annotations

import os

import pytest
from pdgstore.engine.cook.loop import Cook
from pdgstore.engine.graph.loader import load_graph

from pdgstore.log import EventLog


def cook(project, **kwargs) -> Cook:
    graph = load_graph(str(project.root / "wide.py"))
    with EventLog.open(str(project.db), writer=True, create=True) as log:
        c = Cook(log, graph, jobs=1, **kwargs)
        c.summary = c.run()
    return c


def names(c: Cook) -> set[str]:
    return {c.state.items[i].name for i in c.affected}


def test_one_changed_input_decides_only_its_chain(wide):
    assert cook(wide).affected is None  # a cold cook walks everything
    wide.write("in/f0003.txt", "changed\n")
    c = cook(wide)
    assert names(c) == {"files_4", "upper_4", "gather_1", "concat_1"}
    assert c.summary.counts == {"ran": 2, "cached": 0, "reused": 38, "updated": 2, "failed": 0, "cancelled": 0, "removed": 0}
    assert (wide.root / "out2" / "all.txt").read_text().splitlines()[3] == "CHANGED"


def test_a_deleted_intermediate_output_brings_its_parent_back_to_regenerate_it(wide):
    cook(wide)
    os.remove(wide.root / "out1" / "f0007.txt")
    c = cook(wide)
    assert names(c) == {"files_8", "upper_8", "gather_1", "concat_1"}
    assert c.summary.counts["ran"] == 1  # upper_8 makes the same file again: concat is cut off
    assert (wide.root / "out1" / "f0007.txt").read_text() == "HELLO WORLD 7\n"


def test_the_full_walk_runs_when_files_are_added_or_most_items_are_affected(wide):
    cook(wide)
    wide.write("in/f0100.txt", "new\n")
    c = cook(wide)
    assert c.affected is None and c.summary.counts["ran"] == 2
    for i in range(15):
        wide.write(f"in/f{i:04d}.txt", f"changed {i}\n")
    c = cook(wide)
    assert c.affected is None and c.summary.counts["ran"] == 16


def test_delta_and_full_walks_record_the_same_state(wide, tmp_path):
    """The same change cooked twice, once by each walk: the same items, states, files and names."""
    import shutil

    from pdgstore.engine.incremental import delta

    cook(wide)
    twin = type(wide)(tmp_path / "twin")
    shutil.copytree(wide.root, twin.root)
    for p in (wide, twin):
        p.write("in/f0011.txt", "changed\n")
    fast = cook(wide)
    original = delta.affected
    delta.affected = lambda *args, **kwargs: None
    try:
        full = cook(twin)
    finally:
        delta.affected = original
    assert fast.affected and full.affected is None

    def picture(c):
        return {i.item_id: (i.name, i.index, i.state, i.outputs and [o[0] for o in i.outputs], i.attrs, i.signature)
                for i in c.state.items.values()}

    assert picture(fast) == picture(full)
    assert fast.summary.counts == full.summary.counts


GROUPS = '''
import os
from pdgstore.engine import Graph

graph = Graph("groups")
files = graph.file_pattern("files", "in/*.txt")

@graph.python_processor("tag", upstream=files)
def tag(item):
    text = item.input_path.read_text()
    item.set_attrib("group", text[0])
    os.makedirs("tags", exist_ok=True)
    with open("tags/" + item.input_path.name, "w") as f:
        f.write(text)
    item.add_output_file("tags/" + item.input_path.name)

by_group = graph.partition_by_attribute("by_group", tag, attribute="group")

@graph.python_processor("join", upstream=by_group)
def join(item):
    os.makedirs("joined", exist_ok=True)
    out = "joined/" + item.attrib_value("group") + ".txt"
    with open(out, "w") as f:
        f.write(",".join(sorted(p.path.name for p in item.input_files)))
    item.add_output_file(out)
'''


def test_a_member_moving_to_another_partition_remakes_that_partition_and_its_children(project):
    project.write("wide.py", GROUPS)
    for i, text in enumerate(["apple", "avocado", "banana", "blue", "cherry", "coconut", "date", "dill"]):
        project.write(f"in/f{i}.txt", text)
    cook(project)
    project.write("in/f0.txt", "banana split")
    c = cook(project)
    assert c.affected is not None and "by_group_2" not in names(c)  # b's partition was not foreseen
    assert c.summary.status == "success"
    joined = {p.name: p.read_text() for p in (project.root / "joined").iterdir()}
    assert joined == {"a.txt": "f1.txt", "b.txt": "f0.txt,f2.txt,f3.txt", "c.txt": "f4.txt,f5.txt",
                      "d.txt": "f6.txt,f7.txt"}
    with EventLog.open(str(project.db)) as log:
        assert log.replay_all().to_plain() == c.state.to_plain()


def test_a_watcher_session_starts_from_the_files_it_saw_change(wide, tmp_path, monkeypatch):
    """StoreSession.cook(changed=[...]) after a clean whole cook: only those files are stat'ed up
    front and the items they reach are found through the store's tables (the session holds no
    state); the outcome is what a cook with a full stat scan makes."""
    import shutil

    from pdgstore.engine.files import records as files_module
    from pdgstore.engine.live.writer import StoreSession

    graph = load_graph(str(wide.root / "wide.py"))
    session = StoreSession(str(wide.db))
    session.cook(graph)
    with EventLog.open(str(wide.db)) as log:
        assert session.clean_seq == log.last_seq()
    twin = type(wide)(tmp_path / "twin")
    shutil.copytree(wide.root, twin.root)
    changed = [str(wide.root / "in" / "f0006.txt")]
    wide.write("in/f0006.txt", "changed\n")
    twin.write("in/f0006.txt", "changed\n")
    scanned = []
    real = files_module.stat_many
    monkeypatch.setattr(files_module, "stat_many", lambda paths, **kw: scanned.append(len(paths)) or real(paths, **kw))
    seen = []
    summary = session.cook(graph, changed=changed, on_cook=seen.append)
    monkeypatch.undo()

    def told(cook):
        return cook.scan is not None and cook.scan.told and cook.scan.changed == set(changed)

    assert told(seen[0]) and names(seen[0]) == {"files_7", "upper_7", "gather_1", "concat_1"}
    assert scanned == [1]  # the changed file, not the 40 recorded ones
    full = cook(twin)
    assert summary.counts == full.summary.counts == {"ran": 2, "cached": 0, "reused": 38, "updated": 2, "failed": 0,
                                                      "cancelled": 0, "removed": 0}
    assert summary.results == []  # a watcher's cook lists none (its manifest does, later)
    assert (wide.root / "out2/all.txt").read_text() == (twin.root / "out2/all.txt").read_text()

    def picture(db):
        with EventLog.open(str(db)) as log:
            return {i.item_id: (i.name, i.state, [o[0] for o in i.outputs], i.attrs, i.signature)
                    for i in log.current_state().items.values()}

    assert picture(wide.db) == picture(twin.db)
    # the next change is taken the same way
    wide.write("in/f0006.txt", "changed again\n")
    seen.clear()
    session.cook(graph, changed=changed, on_cook=seen.append)
    assert told(seen[0]) and (wide.root / "out1/f0006.txt").read_text() == "CHANGED AGAIN\n"
    # a file the store does not list (a new input) takes the manifest's scan
    wide.write("in/f0200.txt", "new\n")
    seen.clear()
    session.cook(graph, changed=[str(wide.root / "in/f0200.txt")], on_cook=seen.append)
    assert not told(seen[0]) and "NEW" in (wide.root / "out2/all.txt").read_text()
    # so does a word given after another process wrote to the log
    wide.write("in/f0006.txt", "changed once more\n")
    assert cook(wide).summary.counts["ran"] == 2
    wide.write("in/f0006.txt", "and again\n")
    seen.clear()
    session.cook(graph, changed=changed, on_cook=seen.append)
    assert not told(seen[0]) and (wide.root / "out1/f0006.txt").read_text() == "AND AGAIN\n"
    with EventLog.open(str(wide.db)) as log:
        assert log.replay_all().to_plain() == log.current_state().to_plain()


def _scan(project):
    """The no-op manifest's scan of the store as it is (None when it proved a no-op). Files found
    only touched are left to the walk too (the touched cook, ``engine.incremental.restat``, turned
    off): these tests are the walk's."""
    from pdgstore.engine.incremental import manifest, restat

    graph = load_graph(str(project.root / "wide.py"))
    with EventLog.open(str(project.db), writer=True) as log, pytest.MonkeyPatch.context() as m:
        m.setattr(restat, "refresh", lambda *a, **kw: None)
        summary, scan = manifest.try_noop(log, graph)
    assert summary is None
    return scan


def test_the_manifest_scan_names_the_changed_files_and_the_walk_finds_the_same_items(wide, tmp_path):
    """A cook after ``pdg cook`` (which saved the manifest) takes the changed files from its stat
    scan instead of comparing every item's files: the same affected items, the same results."""
    import shutil

    from pdgstore.engine.project import cook_graph

    cook_graph(load_graph(str(wide.root / "wide.py")), db=str(wide.db), jobs=1)
    twin = type(wide)(tmp_path / "twin")
    shutil.copytree(wide.root, twin.root)
    for p in (wide, twin):
        p.write("in/f0003.txt", "changed\n")
        os.remove(p.root / "out1" / "f0007.txt")
    scan = _scan(wide)
    root = str(wide.root)
    assert scan.patterns_same and scan.changed == {f"{root}/in/f0003.txt", f"{root}/out1/f0007.txt"}
    with_scan = cook(wide, scan=scan)
    without = cook(twin)
    assert names(with_scan) == names(without) == {"files_4", "upper_4", "files_8", "upper_8", "gather_1", "concat_1"}
    assert with_scan.summary.counts == without.summary.counts
    assert (wide.root / "out2" / "all.txt").read_text() == (twin.root / "out2" / "all.txt").read_text()


def test_a_scan_that_saw_files_inserted_or_removed_leaves_the_walk_to_the_full_one(wide):
    """A match that sorts among the recorded ones, or one gone, renumbers every later item: the
    full walk (a new match that sorts last does not: ``tests/test_delta_appended.py``)."""
    from pdgstore.engine.project import cook_graph

    cook_graph(load_graph(str(wide.root / "wide.py")), db=str(wide.db), jobs=1)
    wide.write("in/f0005a.txt", "new\n")
    scan = _scan(wide)
    assert not scan.patterns_same and not scan.changed and scan.appended is None
    c = cook(wide, scan=scan)
    assert c.affected is None and c.summary.counts["ran"] == 2
    os.remove(wide.root / "in" / "f0019.txt")  # the last: no item moves, but the full walk removes it
    wide.write("in/f0100.txt", "new\n")
    scan = _scan(wide)
    assert not scan.patterns_same and scan.appended is None
    c = cook(wide, scan=scan)
    assert c.affected is None and c.summary.counts["removed"] == 2


def _touch(project, names: list[str]) -> None:
    """New mtimes for ``names`` (under in/), their content as it was."""
    for name in names:
        path = project.root / "in" / name
        st = path.stat()
        os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns + 1_000_000_000))


def test_many_files_touched_are_looked_up_not_found_by_reading_every_item(wide, monkeypatch):
    """More changed files than the long lists of outputs are searched for one by one: the items
    listing them are looked up by path (``pdgstore.fileindex``), the partition keeping a long list
    is a candidate as it is; the delta walk then reads only what they reach. Touched (new mtime,
    same content), they are reused."""
    from pdgstore.engine.project import cook_graph

    from pdgstore import fileindex

    cook_graph(load_graph(str(wide.root / "wide.py")), db=str(wide.db), jobs=1)
    monkeypatch.setattr(fileindex, "MAX_SEARCHED", 2)
    _touch(wide, ["f0002.txt", "f0005.txt", "f0011.txt"])
    seen = _reads_of_affected(monkeypatch)
    c = cook(wide, scan=_scan(wide))
    assert names(c) == {f"{n}_{i}" for n in ("files", "upper") for i in (3, 6, 12)} | {"gather_1", "concat_1"}
    assert c.summary.counts["ran"] == 0 and c.summary.status == "success"
    assert seen["read"] == 8  # of 42: the items the change reaches, not every item


def _reads_of_affected(monkeypatch) -> dict:
    """``delta.affected`` watched: how many items the cook's state had read when it answered."""
    from pdgstore.engine.incremental import delta

    seen: dict = {}
    original = delta.affected

    def affected(graph, state, *args, **kwargs):
        found = original(graph, state, *args, **kwargs)
        seen["read"] = state.items.rows_read
        return found

    monkeypatch.setattr(delta, "affected", affected)
    return seen


def test_most_files_touched_go_to_the_full_walk_before_any_item_is_read(wide, monkeypatch):
    """A touch of every input (a checkout, a copy that kept no times): the lookup finds more
    items holding them than ``delta.MAX_DIRTY_SHARE`` of the scope; the full walk runs, having
    read no item for the delta walk's sake, and reuses everything."""
    from pdgstore.engine.incremental import delta
    from pdgstore.engine.project import cook_graph

    cook_graph(load_graph(str(wide.root / "wide.py")), db=str(wide.db), jobs=1)
    _touch(wide, sorted(p.name for p in (wide.root / "in").iterdir()))
    scan = _scan(wide)
    assert len(scan.changed) == 20 and len(scan.changed) > delta.MAX_DIRTY_SHARE * 42
    seen = _reads_of_affected(monkeypatch)
    c = cook(wide, scan=scan)
    assert c.affected is None and seen["read"] == 0
    assert c.summary.counts["ran"] == 0 and c.summary.counts["reused"] == 42
