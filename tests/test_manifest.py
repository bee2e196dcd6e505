"""The no-op manifest (engine.incremental.manifest): an unchanged graph is recooked without loading the state,
recording exactly what the full no-op records; any change makes the cook run as usual."""

from __future__ import annotations

import json
import os
import shutil

import pytest
from conftest import cook_events
from hypothesis import given, settings
from hypothesis import strategies as st
from pdgstore.engine.files import records as files
from pdgstore.engine.incremental import manifest
from pdgstore.engine.project import cook_file

from pdgstore.log import EventLog


def events_of(project, cook_id: int) -> list[tuple]:
    """The cook's events, without what differs by nature from one run to the next."""
    with EventLog.open(str(project.db)) as log:
        out = []
        for e in log.events(cook_id=cook_id):
            payload = e.payload()
            payload.pop("pid", None)
            out.append((e.kind, e.subject, json.dumps(payload, sort_keys=True)))
        return out


def test_an_unchanged_graph_is_recooked_from_the_manifest_alone(wide, tmp_path, monkeypatch):
    graph = str(wide.root / "wide.py")
    assert cook_file(graph).status == "success"
    twin = type(wide)(tmp_path / "twin")
    shutil.copytree(wide.root, twin.root)
    for key in ("manifest:wide", "manifest_seq:wide"):  # the twin cooks its no-op the long way
        with EventLog.open(str(twin.db), writer=True) as log:
            log.write(lambda c: c.execute("DELETE FROM meta WHERE key = ?", (key,)))
    slow = cook_file(str(twin.root / "wide.py"))

    def refuse(self):
        raise AssertionError("the state was loaded")

    monkeypatch.setattr(EventLog, "load_state", refuse)
    monkeypatch.setattr(EventLog, "current_state", refuse)
    monkeypatch.setattr(EventLog, "cook_state", refuse)
    fast = cook_file(graph)
    monkeypatch.undo()
    assert (fast.status, fast.counts) == (slow.status, slow.counts) == (
        "success", {"ran": 0, "cached": 0, "reused": 42, "updated": 0, "failed": 0, "cancelled": 0, "removed": 0})
    assert [r.replace(str(wide.root), "") for r in fast.results] == \
        [r.replace(str(twin.root), "") for r in slow.results]
    assert events_of(wide, 2) == events_of(twin, 2)
    with EventLog.open(str(wide.db)) as log:
        assert log.replay_all().to_plain() == log.load_state().to_plain()
    assert wide.pdg_process("check").returncode == 0
    monkeypatch.setattr(EventLog, "load_state", refuse)
    monkeypatch.setattr(EventLog, "current_state", refuse)
    monkeypatch.setattr(EventLog, "cook_state", refuse)
    assert cook_file(graph).counts["reused"] == 42  # and again: the manifest moved to the new seq


@pytest.mark.parametrize("damage", ["extra_bytes", "not_a_map", "bad_compressed"])
def test_a_damaged_manifest_proves_nothing_and_is_written_anew(wide, damage, monkeypatch):
    """A manifest whose bytes are not one (a fuzzed store gave ``pdg cook`` msgpack's ExtraData, a
    traceback): the cook reuses every item the long way, and leaves a manifest that proves the next
    no-op again."""
    import msgpack

    graph = str(wide.root / "wide.py")
    assert cook_file(graph).status == "success"
    with EventLog.open(str(wide.db)) as log:
        _seq, blob = log.manifest("wide")
    bad = {
        "extra_bytes": bytes(blob) + b"\x00",
        "not_a_map": msgpack.packb([1, 2, 3]),
        "bad_compressed": msgpack.packb({"v": msgpack.unpackb(blob)["v"], "z": b"\x78\x9cnot zlib"}),
    }[damage]
    with EventLog.open(str(wide.db), writer=True) as log:
        log.write(lambda c: c.execute("UPDATE meta SET value = ? WHERE key = 'manifest:wide'", (bad,)))
    again = cook_file(graph)
    assert (again.status, again.counts["ran"], again.counts["reused"]) == ("success", 0, 42)
    with EventLog.open(str(wide.db)) as log:
        assert log.manifest("wide")[1] != bad
    monkeypatch.setattr(EventLog, "cook_state", lambda self: pytest.fail("the no-op was not proven by the manifest"))
    assert cook_file(graph).counts["reused"] == 42


@pytest.mark.parametrize("change", ["edit", "touch_new_content", "add", "remove", "code", "dirty", "output"])
def test_any_change_cooks_the_usual_way(wide, change):
    graph = str(wide.root / "wide.py")
    cook_file(graph)
    if change == "edit":
        wide.write("in/f0001.txt", "changed\n")
    elif change == "touch_new_content":
        path = wide.root / "in/f0002.txt"
        st = os.stat(path)
        path.write_text("hello world 9\n")  # same size
        os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns + 1_000_000))
    elif change == "add":
        wide.write("in/f0100.txt", "new\n")
    elif change == "remove":
        os.remove(wide.root / "in/f0003.txt")
    elif change == "code":
        wide.write("wide.py", (wide.root / "wide.py").read_text().replace("upper()", "upper() + '!'"))
    elif change == "dirty":
        assert wide.pdg("dirty", "upper_5").exit_code == 0
    elif change == "output":
        os.remove(wide.root / "out1/f0004.txt")
    summary = cook_file(graph)
    assert summary.status == "success"
    assert summary.counts["ran"] + summary.counts["updated"] > 0, change


def test_event_handlers_cook_the_usual_way(wide, monkeypatch):
    graph = str(wide.root / "wide.py")
    cook_file(graph)

    def refuse(self):
        raise AssertionError("the state was loaded")

    monkeypatch.setattr(EventLog, "load_state", refuse)
    monkeypatch.setattr(EventLog, "current_state", refuse)
    monkeypatch.setattr(EventLog, "cook_state", refuse)
    assert cook_file(graph, node="upper").counts["reused"] == 40  # a cook of one node: proven too (below)
    wide.write("wide.py", (wide.root / "wide.py").read_text() + "\ngraph.on('cook_complete', print)\n")
    with pytest.raises(AssertionError, match="state was loaded"):
        cook_file(graph)


@pytest.mark.parametrize("node", ["files", "upper", "gather", "concat"])
def test_a_cook_of_one_node_that_changes_nothing_is_proven_by_the_manifest_as_its_walk_records_it(
    wide, node, monkeypatch, tmp_path_factory
):
    """``pdg cook GRAPH NODE`` with nothing changed is recorded from the manifest alone (its scope's
    nodes, ``consistent``), with the events and results its walk gives a twin store that has no
    manifest; the manifest moves to its end, and the no-op of the graph after it is proven too."""
    wide.inputs(30)
    graph = str(wide.root / "wide.py")
    assert cook_file(graph).status == "success"
    copy = tmp_path_factory.mktemp("twin") / "copy"
    shutil.copytree(wide.root, copy)
    with EventLog.open(str(copy / ".pdg" / "pdg.db"), writer=True) as log:
        log.conn.execute("DELETE FROM meta WHERE key LIKE 'manifest%'")
    cooks: list = []
    summary = cook_file(graph, node=node, on_cook=cooks.append)
    assert cooks == []  # no cook loop: the manifest proved it
    twin = cook_file(str(copy / "wide.py"), node=node)
    assert summary.status == twin.status == "success" and summary.counts == twin.counts
    assert summary.results == [r.replace(str(copy), str(wide.root)) for r in twin.results] and summary.results
    assert cook_events(wide.db, 2) == cook_events(copy / ".pdg" / "pdg.db", 2)
    with EventLog.open(str(wide.db)) as log:
        assert log.manifest("wide")[0] == log.last_seq() and log.cook_state().cooks[2].consistent
    with monkeypatch.context() as m:
        for name in ("load_state", "current_state", "cook_state"):
            m.setattr(EventLog, name, lambda self: pytest.fail("the state was loaded"))
        assert cook_file(graph).counts["ran"] == 0


def test_a_change_cook_stats_the_recorded_files_once(wide, monkeypatch):
    """The manifest's stat scan found the change: the cook takes those stats instead of its own."""
    from pdgstore.engine.files import records as files

    graph = str(wide.root / "wide.py")
    cook_file(graph)
    wide.write("in/f0009.txt", "changed\n")
    scans, again = [], []
    real, real_many = files.stat_changed, files.stat_many
    monkeypatch.setattr(files, "stat_changed", lambda paths, *a, **kw: scans.append(len(paths)) or real(paths, *a, **kw))
    monkeypatch.setattr(files, "stat_many", lambda paths, **kw: again.append(len(paths)) or real_many(paths, **kw))
    summary = cook_file(graph)
    assert summary.counts["ran"] == 2
    assert scans == [41]  # 20 inputs, 20 outputs and all.txt: once
    assert again == []  # and the cook stats none of them again


@pytest.mark.parametrize("change", ["code", "renamed"])
def test_a_changed_graph_takes_the_scans_stats_rather_than_read_every_item(wide, monkeypatch, change):
    """The graph changed (a node's code, a node's name): no no-op can follow, but the manifest's
    scan still says which files changed, so the cook lists no item's files to stat them all
    (which read every item of the store up front) and stats each file only when it asks."""
    from pdgstore.engine.cook import loop

    graph = str(wide.root / "wide.py")
    cook_file(graph)
    text = (wide.root / "wide.py").read_text()
    if change == "code":
        wide.write("wide.py", text.replace("upper()", "upper() + '!'"))
    else:
        wide.write("wide.py", text.replace('"files"', '"inputs"'))
    monkeypatch.setattr(files, "stat_many", lambda paths, **kw: pytest.fail("every recorded file was stat'ed"))
    scans = []
    real_stats = loop.Cook._stats
    monkeypatch.setattr(loop.Cook, "_stats", lambda self: scans.append(self.scan) or real_stats(self))
    summary = cook_file(graph)
    assert summary.status == "success"
    assert scans[0] is not None and not scans[0].changed
    assert scans[0].patterns_same == (change == "code")  # a renamed pattern node vouches for nothing
    if change == "code":
        assert summary.counts["ran"] == 21  # every upper item and the concat
        assert (wide.root / "out1/f0001.txt").read_text().endswith("!")
    else:
        assert wide.pdg("items", "inputs").exit_code == 0
    monkeypatch.undo()
    assert cook_file(graph).counts["reused"] == 42  # and its manifest proves the next no-op


def test_a_changed_graph_keeps_no_stat_it_made_on_asking(wide, monkeypatch):
    """What the cook stats on asking is not kept (a full walk asks about every file: a stat result
    for each would cost W(100,000) 57 MB); each input is stat'ed when recorded and when decided."""
    from pdgstore.engine.cook import loop

    graph = str(wide.root / "wide.py")
    cook_file(graph)
    wide.write("wide.py", (wide.root / "wide.py").read_text().replace("upper()", "upper() + '?'"))
    asked: dict[str, int] = {}
    real = files.stat_or_none
    monkeypatch.setattr(files, "stat_or_none", lambda p: asked.__setitem__(p, asked.get(p, 0) + 1) or real(p))
    taken = []
    real_stats = loop.Cook._stats
    monkeypatch.setattr(loop.Cook, "_stats", lambda self: taken.append(real_stats(self)) or taken[-1])
    assert cook_file(graph).counts["ran"] == 21
    assert len(asked) == 21 and max(asked.values()) <= 2  # the inputs and out2/all.txt
    assert dict.__len__(taken[0]) == 0


def _manifest_of(project) -> dict:
    import zlib

    import msgpack

    with EventLog.open(str(project.db)) as log:
        _seq, blob = log.manifest("wide")
    return msgpack.unpackb(zlib.decompress(msgpack.unpackb(blob)["z"]), strict_map_key=False)


def _no_listing(*args, **kwargs):
    raise AssertionError("the folder was listed")


def test_a_file_patterns_folder_stamp_proves_its_matches_without_a_listing(wide, monkeypatch):
    """A folder that changed before the cook listed it is stamped; while the stamp holds, a no-op
    lists nothing; adding a file changes the stamp, and the cook finds it."""
    from pdgstore.engine.graph import nodes
    from pdgstore.engine.incremental import manifest

    monkeypatch.setattr(manifest, "RACY_NS", 0)  # the inputs were written just now; trust them at once
    graph = str(wide.root / "wide.py")
    cook_file(graph)
    folder = _manifest_of(wide)["patterns"]["files"]["folder"]
    assert folder[0] == "in" and folder[1] == os.stat(wide.root / "in").st_mtime_ns
    with monkeypatch.context() as m:
        m.setattr(nodes, "_glob", _no_listing)
        assert cook_file(graph).counts["reused"] == 42
    wide.write("in/f0100.txt", "new\n")
    summary = cook_file(graph)
    assert summary.counts["ran"] == 2  # the new file's upper item, and the concat
    with EventLog.open(str(wide.db)) as log:
        assert len(log.current_state().items_of("wide", "files")) == 21


@pytest.mark.timeout(120)
def test_a_moved_project_is_a_no_op_that_prints_its_results_where_they_are_now(wide, tmp_path_factory, monkeypatch):
    """The manifest keeps every path relative to the graph's root (its files, results and stamped
    folders): a project folder moved whole is still proven unchanged from the manifest alone, with
    no listing, and its no-op prints the results in the folder it is in now, never the old one."""
    from pdgstore.engine.graph import nodes
    from pdgstore.engine.incremental import manifest

    monkeypatch.setattr(manifest, "RACY_NS", 0)  # the inputs were written just now; trust them at once
    first = wide.pdg("cook", "wide.py")
    assert first.exit_code == 0 and "out2/all.txt" in first.stdout, first.output
    assert _manifest_of(wide)["results"] == ["out2/all.txt"]
    above = tmp_path_factory.mktemp("elsewhere")
    moved = type(wide)(above / "moved")
    os.rename(wide.root, moved.root)

    def refuse(self):
        raise AssertionError("the state was loaded")

    with monkeypatch.context() as m:
        for name in ("load_state", "current_state", "cook_state"):
            m.setattr(EventLog, name, refuse)
        m.setattr(nodes, "_glob", _no_listing)  # the folder's stamp holds where it is now
        again = moved.pdg("cook", "wide.py")
    assert again.exit_code == 0, again.output
    assert "0 ran, 0 cached, 0 updated, 42 reused" in again.stderr, again.output
    assert again.stdout.split("results:")[1].split() == ["out2/all.txt"]
    assert str(wide.root) not in again.output
    shown = moved.pdg("cook", "moved/wide.py", cwd=above)  # shown from where the user stands
    assert shown.stdout.split("results:")[1].split() == ["moved/out2/all.txt"], shown.stdout
    moved.write("in/f0003.txt", "changed after the move\n")  # and a change is still found
    changed = moved.pdg("cook", "wide.py", "--json")
    assert json.loads(changed.stdout)["items"]["ran"] == 2, changed.stdout
    assert moved.pdg_process("check").returncode == 0


def test_a_folder_changed_as_the_cook_listed_it_is_listed_again(wide, monkeypatch):
    """Git's racy rule for folders: a folder that changed within RACY_NS of the cook's start gets
    no stamp (an entry added in the same tick of the file system's clock may not move it)."""
    from pdgstore.engine.graph import nodes
    from pdgstore.engine.incremental import manifest

    monkeypatch.setattr(manifest, "RACY_NS", 10**18)
    graph = str(wide.root / "wide.py")
    cook_file(graph)
    assert _manifest_of(wide)["patterns"]["files"]["folder"] == []
    listed = []
    real = nodes._glob
    monkeypatch.setattr(nodes, "_glob", lambda pattern: listed.append(pattern) or real(pattern))
    assert cook_file(graph).counts["reused"] == 42
    assert listed == [str(wide.root / "in" / "*.txt")]


def test_a_matched_symlink_whose_file_is_gone_is_not_vouched_for_by_the_stamp(wide, monkeypatch):
    """Removing a symlink's target changes no entry of the pattern's folder, yet the pattern no
    longer matches it: the folder is listed, and its item removed, as a cook without a stamp would."""
    from pdgstore.engine.incremental import manifest

    monkeypatch.setattr(manifest, "RACY_NS", 0)
    wide.write("data/elsewhere.txt", "hello from elsewhere\n")
    os.symlink(wide.root / "data" / "elsewhere.txt", wide.root / "in" / "f0050.txt")
    graph = str(wide.root / "wide.py")
    cook_file(graph)
    assert _manifest_of(wide)["patterns"]["files"]["folder"]
    os.remove(wide.root / "data" / "elsewhere.txt")
    summary = cook_file(graph)
    assert summary.status == "success"
    with EventLog.open(str(wide.db)) as log:
        assert len(log.current_state().items_of("wide", "files")) == 20


def test_a_no_op_proven_by_the_manifest_imports_no_cook_loop(wide):
    """The no-op a manifest proves needs none of the cook's machinery: a fresh process that cooks
    an unchanged graph imports neither the cook loop nor a scheduler."""
    import subprocess
    import sys

    cook_file(str(wide.root / "wide.py"))
    script = (
        "import sys\n"
        "from pdgstore.engine.project import cook_file\n"
        "summary = cook_file('wide.py')\n"
        "print(summary.counts['reused'], sorted(m for m in sys.modules if m.startswith("
        "('pdgstore.engine.cook.loop', 'pdgstore.engine.cook.dispatch', 'pdgstore.engine.schedulers.local'))))\n"
    )
    env = {k: v for k, v in os.environ.items() if k != "PDG_DB"}
    done = subprocess.run([sys.executable, "-c", script], cwd=wide.root, env=env, capture_output=True, text=True,
                          timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.split(maxsplit=1) == ["42", "[]\n"]


@settings(max_examples=200, deadline=None)
@given(
    st.lists(
        st.tuples(st.sampled_from(["a.txt", "b/c.txt", "/abs/x.txt", "/abs/a.txt", "z.txt"]),
                  st.integers(0, 2), st.integers(0, 2)),
        max_size=30,
    ),
    st.lists(st.integers(0, 29), max_size=10),
)
def test_the_listing_is_the_ordered_set_of_records_and_orders_a_pattern_by_absolute_path(records, picked):
    """``_Listing`` (three lists and a place per path) gives every (path, mtime_ns, size) the
    place an ordered set of those tuples gives it, and orders a file pattern's places as sorting
    (absolute path, place) pairs does."""
    listing = manifest._Listing()
    places = [listing.place(*record) for record in records]
    seen: dict[tuple, int] = {}
    for record in records:
        seen.setdefault(record, len(seen))
    assert places == [seen[record] for record in records]
    assert list(zip(listing.paths, listing.mtimes, listing.sizes)) == list(seen)
    chosen = [places[i] for i in picked if i < len(places)]
    root = "/root/project"
    expected = [at for _path, at in sorted((files.absolute(listing.paths[at], root), at) for at in chosen)]
    assert listing.by_absolute_path(chosen, root) == expected


@settings(max_examples=200, deadline=None)
@given(
    st.lists(
        st.tuples(st.sampled_from(["a.txt", "b/c.txt", "/abs/x.txt", "z.txt"] + [f"in/f{i}.txt" for i in range(20)]),
                  st.integers(0, 2), st.integers(0, 2)),
        max_size=30,
    ),
    st.lists(st.integers(0, 29), max_size=10),
)
def test_a_listing_made_at_once_is_the_one_placed_record_by_record(records, picked):
    """``_Listing.of`` (the records as three lists, taken as they are when no path repeats) gives
    the listing, and the places of a pattern's records, that placing each record in turn gives."""
    placed = manifest._Listing()
    places = [placed.place(*record) for record in records]
    indexes = [i for i in picked if i < len(records)]
    made = {"files": list(indexes)}
    paths, mtimes, sizes = (list(column) for column in zip(*records)) if records else ([], [], [])
    listing = manifest._Listing.of(paths, mtimes, sizes, made)
    assert (listing.paths, listing.mtimes, listing.sizes) == (placed.paths, placed.mtimes, placed.sizes)
    assert made["files"] == [places[i] for i in indexes]


def test_a_cook_of_one_node_takes_the_scan_and_reads_only_what_changed(wide, monkeypatch):
    """``pdg cook GRAPH NODE`` that finds an input changed takes the manifest's scan: its delta walk
    runs that chain and reads little more (it read every item of its scope, 4.4 GB at
    W(1,000,000)). With nothing changed, the manifest proves it (the test above)."""
    from pdgstore.engine.cook import loop

    wide.inputs(200)
    graph = str(wide.root / "wide.py")
    assert cook_file(graph).status == "success"
    cooks: list = []
    assert cook_file(graph, node="concat", on_cook=cooks.append).counts["ran"] == 0 and cooks == []
    monkeypatch.setattr(loop, "SNAPSHOT_EVERY", 1 << 30)  # (a snapshot due would read every item to pack it)
    assert cook_file(graph).counts["reused"] == 402  # the manifest moved to the cook of one node: a no-op
    (wide.root / "in" / "f0011.txt").write_text("changed\n")
    cooks.clear()
    summary = cook_file(graph, node="concat", on_cook=cooks.append)
    assert summary.counts["ran"] == 2, summary.counts  # its upper item and the concatenation
    assert cooks[0].scan is not None and cooks[0].scan.changed
    assert cooks[0].state.items.rows_read < 20, cooks[0].state.items.rows_read



def test_a_no_op_stamps_a_folder_the_cook_before_could_not(wide, monkeypatch):
    """Inputs written just before a cook leave its manifest without the folder's stamp (the racy
    rule), so every no-op after it listed the folder again. The first no-op once the folder is old
    enough stamps it, and the no-ops after it list nothing."""
    from pdgstore.engine.graph import nodes
    from pdgstore.engine.incremental import manifest

    graph = str(wide.root / "wide.py")
    with monkeypatch.context() as m:
        m.setattr(manifest, "RACY_NS", 10**18)  # the folder changed "just now"
        cook_file(graph)
    assert _manifest_of(wide)["patterns"]["files"]["folder"] == []
    monkeypatch.setattr(manifest, "RACY_NS", 0)  # and is old enough now
    assert cook_file(graph).counts["reused"] == 42  # listed once more, and stamped
    with EventLog.open(str(wide.db)) as log:
        assert log.manifest("wide")[0] == log.last_seq()
    folder = _manifest_of(wide)["patterns"]["files"]["folder"]
    assert folder[0] == "in" and folder[1] == os.stat(wide.root / "in").st_mtime_ns
    with monkeypatch.context() as m:
        m.setattr(nodes, "_glob", _no_listing)
        assert cook_file(graph).counts["reused"] == 42
    wide.write("in/f0100.txt", "new\n")  # the stamp no longer holds: the folder is listed, the file found
    assert cook_file(graph).counts["ran"] == 2
