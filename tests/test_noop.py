"""The no-op proof (engine.incremental.noop): when it says nothing changed, the cook records exactly what the
full item-by-item walk records; whenever anything did change, it steps aside."""

from __future__ import annotations

import os
import shutil

import pytest
from conftest import cook_events

from pdgstore.engine.incremental import manifest
from pdgstore.engine.incremental import noop
from pdgstore.engine.project import cook_file
from pdgstore.log import EventLog
from pdgstore.state import first_difference


@pytest.fixture
def proofs(monkeypatch):
    """Every verdict the proof gave, in order. The no-op manifest (tests/test_manifest.py), which
    answers before any proof is asked, is set aside: these cooks exercise the proof itself."""
    monkeypatch.setattr(manifest, "try_noop", lambda log, graph, **kwargs: (None, None))
    seen = []
    real = noop.nothing_to_do

    def spy(*args, **kwargs):
        verdict = real(*args, **kwargs)
        seen.append(verdict)
        return verdict

    monkeypatch.setattr(noop, "nothing_to_do", spy)
    return seen


def test_proven_no_op_records_what_the_full_walk_records(wide, proofs, monkeypatch, tmp_path_factory):
    graph = str(wide.root / "wide.py")
    assert cook_file(graph).counts["ran"] == 21
    copy = tmp_path_factory.mktemp("twin") / "copy"  # (the project's parent is shared by the worker's tests)
    shutil.copytree(wide.root, copy)
    summary = cook_file(graph)
    assert proofs == [False, True]
    assert summary.counts == {"ran": 0, "cached": 0, "reused": 42, "updated": 0, "failed": 0, "cancelled": 0, "removed": 0}
    assert summary.results == [os.path.join(str(wide.root), "out2", "all.txt")]
    monkeypatch.setattr(noop, "nothing_to_do", lambda *args, **kwargs: False)
    walked = cook_file(str(copy / "wide.py"))
    assert walked.counts == summary.counts
    assert cook_events(wide.db, 2) == cook_events(copy / ".pdg/pdg.db", 2)
    with EventLog.open(str(wide.db)) as log:
        assert first_difference(log.replay_all().to_plain(), log.load_state().to_plain()) is None


@pytest.mark.parametrize("change", ["touch", "new_file", "removed_file", "dirty", "parm", "output_gone"])
def test_any_change_falls_back_to_the_full_walk(wide, proofs, change):
    graph = str(wide.root / "wide.py")
    cook_file(graph)
    if change == "touch":
        path = wide.root / "in/f0003.txt"
        st = os.stat(path)
        os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns + 10**9))
    elif change == "new_file":
        wide.write("in/zz.txt", "new\n")
    elif change == "removed_file":
        os.remove(wide.root / "in/f0003.txt")
    elif change == "dirty":
        assert wide.pdg("dirty", "concat").exit_code == 0
    elif change == "parm":
        wide.write("wide.py", (wide.root / "wide.py").read_text().replace(".upper()", ".upper() + ''"))
    elif change == "output_gone":
        os.remove(wide.root / "out1/f0007.txt")
    summary = cook_file(graph)
    assert proofs[-1] is False
    expected_ran = {"touch": 0, "new_file": 2, "removed_file": 1, "dirty": 1, "parm": 20,  # the same outputs: concat is cut off
                     "output_gone": 1}[change]
    assert summary.counts["ran"] == expected_ran
    assert cook_file(graph).counts["ran"] == 0
    assert proofs[-1] is True


def test_a_node_changed_during_a_cook_of_another_node_still_reruns(wide, proofs):
    """A cook of one node records the whole graph's new definitions but cooks only its scope: the
    next whole cook must still rerun the changed node (neither the proof nor the per-item shortcut
    may trust the recorded definitions then)."""
    graph = str(wide.root / "wide.py")
    cook_file(graph)
    wide.write("wide.py", (wide.root / "wide.py").read_text().replace(
        'out.write(f.path.read_text())', 'out.write(f.path.read_text().lower())'))
    assert cook_file(graph, node="upper").counts["ran"] == 0
    summary = cook_file(graph)
    assert summary.counts["ran"] == 1  # concat, with its new code
    assert (wide.root / "out2/all.txt").read_text() == "".join(f"hello world {i}\n" for i in range(20))
    assert cook_file(graph).counts["ran"] == 0 and proofs[-1] is True


def test_shortcut_skips_signatures_only_below_unchanged_parents(wide, proofs):
    graph = str(wide.root / "wide.py")
    cook_file(graph)
    wide.write("in/f0004.txt", "changed text\n")
    summary = cook_file(graph)
    assert proofs[-1] is False
    assert summary.counts == {"ran": 2, "cached": 0, "reused": 38, "updated": 2, "failed": 0, "cancelled": 0, "removed": 0}
    assert "CHANGED TEXT\n" in (wide.root / "out2/all.txt").read_text()


def test_unsettled_items_end_both_proofs_before_any_file_is_looked_at(wide, proofs, monkeypatch):
    """After ``--generate-only`` every item with work is recorded to run: neither the no-op proof
    nor the delta walk's can hold, and both say so from the items alone, before statting a file or
    listing the file pattern's folder (the cook lists it once, to generate). The cook still runs
    exactly what the full walk runs."""
    from pdgstore.engine.graph.nodes import FilePattern
    from pdgstore.engine.incremental import delta

    graph = str(wide.root / "wide.py")
    assert cook_file(graph, generate_only=True).status == "success"
    proofs.clear()
    listed, affected = [], []
    real_matches, real_affected = FilePattern.matches, delta.affected
    monkeypatch.setattr(FilePattern, "matches", lambda self, *a: listed.append(self.name) or real_matches(self, *a))
    monkeypatch.setattr(delta, "affected", lambda *a, **k: affected.append(real_affected(*a, **k)) or affected[-1])
    summary = cook_file(graph)
    # the inputs' items reused, the upper items and the concat run, the wait-for-all merged
    assert summary.counts == {"ran": 21, "cached": 0, "reused": 20, "updated": 1, "failed": 0, "cancelled": 0, "removed": 0}
    assert proofs == [False] and affected == [None]
    assert listed == ["files"]  # the generation's listing alone
