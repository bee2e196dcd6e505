"""A cook after files were only touched (``engine.incremental.restat``): every item is reused
without the walk, and the cook records what the walk records, one ``WorkItemRestatted`` per item
listing a touched file, with the manifest refreshed in the same transaction. Anything that may
have changed a file's content leaves the cook to the walk.

Each case is cooked in two copies of one project: in one the walk is made to decide (the touched
cook refused), in the other the walk is refused. Their events (in any order: the walk interleaves
nodes), their items and their counts must be the same, and ``pdg check`` must find the tables to be
the log's fold.
"""

from __future__ import annotations

import json
import os
import shutil
from collections import Counter
from pathlib import Path

import pytest
from conftest import Project, wide_in
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pdgstore.engine.cook import loop
from pdgstore.engine.incremental import delta, restat
from pdgstore.engine.project import cook_file

from pdgstore.events import MTIME_NS
from pdgstore.log import EventLog
from pdgstore.state import Item

pytestmark = pytest.mark.timeout(120)

#: a time after every cook of the tests, the same in both copies (their mtimes must match)
LATER_NS = 4_000_000_000_000_000_000


def _files(project: Project, *patterns: str) -> list[Path]:
    return sorted(p for pattern in patterns for p in project.root.glob(pattern))


def _touch(project: Project, paths: list[str], ns: int = LATER_NS) -> None:
    for rel in paths:
        os.utime(project.root / rel, ns=(ns, ns))


def _events(project: Project, cook_id: int) -> Counter:
    with EventLog.open(str(project.db)) as log:
        out: Counter = Counter()
        for e in log.events(cook_id=cook_id):
            payload = {k: _masked(v) for k, v in e.payload().items() if k not in ("pid", *TIMES)}
            out[(e.kind, e.subject, json.dumps(payload, sort_keys=True))] += 1
        return out


def _items(project: Project) -> dict:
    """The items as the tables hold them (and replay gives them), without what two cooks of two
    copies cannot share: times, and the mtimes of files neither cook touched (each copy wrote its
    outputs when it first cooked)."""
    with EventLog.open(str(project.db)) as log:
        state = log.load_state()
        assert log.replay_all().to_plain()["items"] == state.to_plain()["items"]
        names = Item.PLAIN
        return {
            item_id: {
                name: _masked(value) for name, value in zip(names, plain, strict=True) if name not in TIMES
            }
            for item_id, plain in state.to_plain()["items"].items()
        }


TIMES = ("started_ns", "duration_ns")


def _masked(value):
    if isinstance(value, list) and value and all(isinstance(r, list) and len(r) == 5 for r in value):
        return [[*r[:MTIME_NS], r[MTIME_NS] if r[MTIME_NS] >= LATER_NS else None, *r[MTIME_NS + 1 :]] for r in value]
    return value


def _refuse(*args, **kwargs):
    raise AssertionError("the cook walked")


def _two(tmp_path: Path, change, monkeypatch) -> tuple:
    """The W(20) project cooked in two copies, ``change`` made to each, then cooked again: by the
    full walk in one copy (the touched cook and the delta walk turned off), and returned for the
    caller to cook the other. The copies, and the walk's summary."""
    walked, fast = wide_in(tmp_path / "walked"), wide_in(tmp_path / "fast")
    for project in (walked, fast):
        assert cook_file(str(project.root / "wide.py")).status == "success"
        change(project)
    with monkeypatch.context() as m:  # the full walk: what every item is, decided one by one
        m.setattr(restat, "refresh", lambda *a, **kw: None)
        m.setattr(delta, "affected", lambda *a, **kw: None)
        slow = cook_file(str(walked.root / "wide.py"))
    return walked, fast, slow


def _same(walked: Project, fast: Project, slow, quick, *, events: bool = True) -> None:
    """The two cooks ended the same: counts, items, a store ``pdg check`` finds sound, and (unless a
    file's content changed too: then an item the walk remakes may have been recorded restatted
    first) the same events."""
    assert (quick.status, quick.counts) == (slow.status, slow.counts)
    if events:
        assert _events(fast, 2) == _events(walked, 2)
    else:
        walk_only = _events(walked, 2) - _events(fast, 2)
        assert not walk_only, walk_only
    assert _items(fast) == _items(walked)
    assert fast.pdg_process("check").returncode == 0


@pytest.mark.parametrize(
    ("touched", "restatted"),
    [
        (("in/*.txt",), 20),
        (("in/*.txt", "out1/*.txt", "out2/all.txt"), 42),  # the gather lists every out1 file too
        (("out1/f0003.txt",), 2),  # its item, and the gather listing it
        (("out2/all.txt",), 1),
    ],
    ids=["inputs", "every_file", "one_output", "the_gather"],
)
def test_touched_files_are_restatted_as_the_walk_would_without_walking(tmp_path, monkeypatch, touched, restatted):
    def change(project: Project) -> None:
        _touch(project, [str(p.relative_to(project.root)) for p in _files(project, *touched)])

    walked, fast, slow = _two(tmp_path, change, monkeypatch)
    with monkeypatch.context() as m:
        m.setattr(loop.Cook, "run", _refuse)
        quick = cook_file(str(fast.root / "wide.py"))
    _same(walked, fast, slow, quick)
    assert sum(n for (kind, _, _), n in _events(fast, 2).items() if kind == "WorkItemRestatted") == restatted
    # the manifest holds the new stats: the next cook is a no-op that records no restat
    with monkeypatch.context() as m:
        m.setattr(restat, "refresh", _refuse)
        m.setattr(loop.Cook, "run", _refuse)
        again = cook_file(str(fast.root / "wide.py"))
    assert again.counts == {"ran": 0, "cached": 0, "reused": 42, "updated": 0, "failed": 0, "cancelled": 0, "removed": 0}
    assert not any(kind == "WorkItemRestatted" for kind, _, _ in _events(fast, 3))


def _same_size_edit(project: Project) -> None:
    _touch(project, [f"in/f{i:04d}.txt" for i in range(20)])
    project.write("in/f0007.txt", "HELLO WORLD 7\n")  # the same size, another content
    _touch(project, ["in/f0007.txt"], LATER_NS + 1)  # (its upper item runs; its output is the same: concat does not)


def _resized(project: Project) -> None:
    _touch(project, [f"in/f{i:04d}.txt" for i in range(20)])
    project.write("in/f0004.txt", "a longer hello world 4\n")
    _touch(project, ["in/f0004.txt"], LATER_NS + 1)


def _output_removed(project: Project) -> None:
    _touch(project, [f"in/f{i:04d}.txt" for i in range(20)])
    os.remove(project.root / "out1/f0002.txt")


STAT_PLUGIN = """
def by_size(local_path, record, work_item):
    import os
    return os.path.getsize(local_path) or 1

def register_types(registry):
    registry.register_stat_handler("file/text", by_size)
"""


def _with_stat_handler(project: Project) -> None:
    project.write("pdg/types/sizes.py", STAT_PLUGIN)  # (the cook before had none: the graph's types changed)
    _touch(project, [f"in/f{i:04d}.txt" for i in range(20)])


@pytest.mark.parametrize(
    ("change", "ran"),
    [(_same_size_edit, 1), (_resized, 2), (_output_removed, 1), (_with_stat_handler, None)],
    ids=["same_size_edit", "resized", "output_removed", "stat_handler"],
)
def test_a_change_of_content_among_touches_is_left_to_the_walk(tmp_path, monkeypatch, change, ran):
    walked, fast, slow = _two(tmp_path, change, monkeypatch)
    quick = cook_file(str(fast.root / "wide.py"))
    _same(walked, fast, slow, quick, events=False)
    if ran is not None:
        assert quick.counts["ran"] == ran
    assert (fast.root / "out2/all.txt").read_text() == (walked.root / "out2/all.txt").read_text()


def test_a_stat_handler_keeps_the_touched_cook_out(project, monkeypatch):
    """With a stat handler for a file's type, whether its content changed is the handler's to say,
    and PDG hands it the item: the cook walks (no touched cook is tried)."""
    wide = wide_in(project.root)
    wide.write("pdg/types/sizes.py", STAT_PLUGIN)
    assert cook_file(str(wide.root / "wide.py")).status == "success"
    _touch(wide, [f"in/f{i:04d}.txt" for i in range(20)])
    tried = []
    real = restat.refresh
    monkeypatch.setattr(restat, "refresh", lambda *a, **kw: tried.append(1) or real(*a, **kw))
    summary = cook_file(str(wide.root / "wide.py"))
    assert summary.counts["ran"] == 0 and summary.counts["reused"] == 42
    assert tried == [1]  # asked, and it declined: the walk did the work
    assert wide.pdg_process("check").returncode == 0


@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    touched=st.sets(st.sampled_from([f"in/f{i:04d}.txt" for i in range(20)] + [f"out1/f{i:04d}.txt" for i in range(20)]
                                    + ["out2/all.txt"]), min_size=1),
    edited=st.one_of(st.none(), st.integers(0, 19)),
)
def test_any_touches_give_what_the_walk_gives(tmp_path_factory, monkeypatch, touched, edited):
    """Property: whichever files are touched (and maybe one input edited, keeping its size), the
    cook records the same events and leaves the same items as the walk, and the tables are the
    log's fold."""
    tmp_path = tmp_path_factory.mktemp("touches")

    def change(project: Project) -> None:
        _touch(project, sorted(touched))
        if edited is not None:
            rel = f"in/f{edited:04d}.txt"
            project.write(rel, (project.root / rel).read_text().upper())
            _touch(project, [rel], LATER_NS + 1)

    walked, fast, slow = _two(tmp_path, change, monkeypatch)
    quick = cook_file(str(fast.root / "wide.py"))
    _same(walked, fast, slow, quick, events=edited is None)
    shutil.rmtree(tmp_path)


@pytest.mark.parametrize("appender", [False, True], ids=["in_process", "appender"])
def test_touched_files_beside_an_edit_are_restatted_and_the_walk_reaches_only_the_edit(wide, monkeypatch, appender):
    """Every input touched and one edited (a copy that kept no times, then one change): the touched
    items are recorded restatted up front, written without being read (by the cook, or by its log
    appender), and the delta walk decides what the edit reaches, not every item."""
    from pdgstore.engine.cook import recorder
    from pdgstore.engine.graph.loader import load_graph
    from pdgstore.engine.project import cook_graph

    if appender:
        monkeypatch.setattr(recorder, "START_ROWS", 1)  # the appender from the cook's first flush
        monkeypatch.setattr(recorder, "HAND_OFF_ROWS", 4)  # and the restats in several requests
    through: list[bool] = []
    real = recorder.Recorder.restatted

    def restatted(self, refresh):
        through.append(self.log_process is not None)
        return real(self, refresh)

    monkeypatch.setattr(recorder.Recorder, "restatted", restatted)
    graph = str(wide.root / "wide.py")
    assert cook_file(graph).status == "success"
    _touch(wide, [f"in/f{i:04d}.txt" for i in range(20)])
    wide.write("in/f0011.txt", "a longer hello world 11\n")
    _touch(wide, ["in/f0011.txt"], LATER_NS + 1)
    seen: list = []
    summary = cook_graph(load_graph(graph), db=str(wide.db), on_cook=seen.append)
    cook = seen[0]
    assert summary.counts["ran"] == 2 and summary.status == "success"
    assert cook.affected is not None and len(cook.affected) == 4  # files_12, upper_12, the gather, concat
    assert cook.state.items.rows_read <= 8  # of 42
    kinds = Counter(kind for kind, _, _ in _events(wide, 2).elements())
    assert kinds["WorkItemRestatted"] == 19  # the other inputs (the edited one is the walk's)
    assert through == [appender]
    assert wide.pdg_process("check").returncode == 0
    assert (wide.root / "out2/all.txt").read_text().count("A LONGER HELLO WORLD 11") == 1
    with monkeypatch.context() as m:  # the manifest holds every new stat: a no-op next
        m.setattr(loop.Cook, "run", _refuse)
        assert cook_file(graph).counts["ran"] == 0
