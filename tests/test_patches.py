"""A partition's long lists written as changes to its item's last ones (``pdgstore.patches``):
the splices say the list exactly, a one-change recook writes small events, and every reader (the
fold, the tables, ``pdg check``, ``--at``, the data layer's follower) sees the lists whole."""

from __future__ import annotations

import json

import msgpack
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pdgstore import patches
from pdgstore.errors import StoreRefused
from pdgstore.log import EventLog
from pdgstore.state import first_difference
from pdgstore.timetravel import StateAt

entries = st.lists(st.integers(0, 6), max_size=40)


@settings(max_examples=300, deadline=None)
@given(old=entries, new=entries, short=st.booleans())
def test_splices_say_the_new_list_exactly(old, new, short):
    with pytest.MonkeyPatch.context() as mp:
        if short:
            mp.setattr(patches, "PATCH_FROM", 1)
        patch = patches.splices(old, new)
    if patch is not None:
        assert patches.apply(old, patch) == new
        changed = sum(len(entries) for _start, _stop, entries in patch)
        assert changed * 4 <= len(new)


def test_one_changed_entry_of_a_long_list_is_one_small_splice():
    old = [[f"out1/f{i:06d}.txt", "file/text", 57, i, f"{i:016x}"] for i in range(1000)]
    new = [list(r) for r in old]
    new[417][4] = "ffffffffffffffff"
    assert patches.splices(old, new) == [[417, 418, [new[417]]]]
    inserted = old[:500] + [["out1/new.txt", "file/text", 3, 0, "0"]] + old[500:]
    assert patches.splices(old, inserted) == [[500, 500, [inserted[500]]]]
    assert patches.apply(old, patches.splices(old, inserted)) == inserted
    assert patches.splices(old, old[:-1]) == [[999, 1000, []]]
    assert patches.splices(old, [list(r) for r in old]) == []
    assert patches.splices(old, list(reversed(old))) is None  # most of it changed: written whole
    assert patches.splices(old[:10], old[:10]) is None  # short: written whole


def test_a_splice_that_does_not_fit_its_base_is_refused_with_a_sentence():
    class Event:
        seq, kind, item_id = 12, "WorkItemCooked", "a1b2"
        patched = {"outputs": [[5, 9, []]]}

    class Item:
        outputs = [1, 2, 3]

    with pytest.raises(StoreRefused, match="event 12 .*a1b2.*outputs"):
        patches.resolve(Event(), Item())


@pytest.fixture
def patched(wide, monkeypatch):
    """W(20) with patches from 4 entries: cooked cold, one input changed (the gather's outputs
    and the concat's inputs written as patches), one input removed and one added."""
    monkeypatch.setattr(patches, "PATCH_FROM", 4)
    assert wide.pdg("cook", "wide.py").exit_code == 0
    (wide.root / "in" / "f0003.txt").write_text("changed\n")
    assert wide.pdg("cook", "wide.py").exit_code == 0
    (wide.root / "in" / "f0004.txt").unlink()
    (wide.root / "in" / "f0010a.txt").write_text("new\n")
    assert wide.pdg("cook", "wide.py").exit_code == 0
    return wide


def _payloads(log, cook_id: int) -> dict[tuple[str, str], dict]:
    rows = log.conn.execute("SELECT kind, subject, payload FROM events WHERE cook_id = ?", (cook_id,))
    return {(kind, subject): msgpack.unpackb(payload, raw=False) for kind, subject, payload in rows}


def test_a_one_change_recook_writes_the_partition_and_gather_lists_as_patches(patched):
    with EventLog.open(str(patched.db)) as log:
        state = log.replay_all()
        gather = state.items_named("gather_1")[0]
        concat = state.items_named("concat_1")[0]
        payloads = _payloads(log, 2)
        cooked = payloads[("WorkItemCooked", gather.item_id)]
        assert cooked["outputs"] == [] and list(cooked["patched"]) == ["outputs"]
        [[start, stop, [record]]] = cooked["patched"]["outputs"]
        assert (start, stop, record[0]) == (3, 4, "out1/f0003.txt")
        generated = payloads[("WorkItemGenerated", concat.item_id)]
        assert generated["inputs"] == [] and list(generated["patched"]) == ["inputs"]
        # cook 3: an input gone and one added
        assert ("WorkItemGenerated", gather.item_id) in _payloads(log, 3)
        names = [o[0] for o in gather.outputs]
        assert names == sorted(f"out1/{p.name}" for p in (patched.root / "in").glob("*.txt"))
        assert [o[0] for o in concat.inputs] == names
        # the tables hold what the replay holds
        from pdgstore import tables

        assert first_difference(tables.read_state(log.conn, log.last_seq()).to_plain(), state.to_plain()) is None


def test_check_and_every_earlier_point_see_the_lists_whole(patched):
    r = patched.pdg("check", "--json")
    assert r.exit_code == 0 and json.loads(r.output)["ok"], r.output
    with EventLog.open(str(patched.db)) as log:
        last = log.last_seq()
        for seq in range(1, last, 3):
            then = StateAt(log, seq).materialise()
            assert first_difference(then.to_plain(), log.state_at(seq).to_plain()) is None, seq
    r = patched.pdg("show", "gather_1", "--at", "cook:1", "--json")
    outputs = json.loads(r.output)["item"]["outputs"]
    assert r.exit_code == 0 and len(outputs) == 20 and outputs[3]["size"] == len("HELLO WORLD 3\n")


def test_readers_of_single_events_get_the_lists_whole(patched):
    """The data layer's follower and the PDG events replayed to handlers see the gather's
    outputs as the fold made them, not the patch the log holds."""
    from pdgstore.engine.datalayer.storeview import StoreView

    with EventLog.open(str(patched.db)) as log:
        gather_id = log.replay_all().items_named("gather_1")[0].item_id
        expected = {}
        for e in log.events(0, subject=gather_id, kind="WorkItemCooked"):
            expected[e.seq] = log.state_at(e.seq).items[gather_id].outputs
    assert len(expected) == 3
    view = StoreView(str(patched.db))
    assert view.open()
    try:
        with view.reading():
            got = {e.seq: e.outputs for e in view.events_between(0, view.end_seq())
                   if e.kind == "WorkItemCooked" and e.item_id == gather_id}
    finally:
        view.close()
    assert got == expected
    r = patched.pdg("events", "--item", "gather_1", "--kind", "WorkItemCooked", "--json")
    assert r.exit_code == 0


def test_a_patch_whose_item_began_before_a_compaction_is_read_whole(patched, monkeypatch):
    """``pdg compact`` folds the gather's first events into the base snapshot; a patch written
    after it still resolves, in the fold, in ``pdg check`` and for the data layer's follower."""
    from pdgstore.engine.datalayer.storeview import StoreView

    (patched.root / "in" / "f0007.txt").write_text("changed again\n")
    assert patched.pdg("cook", "wide.py").exit_code == 0
    r = patched.pdg("compact", "--keep-cooks", "1", "--json")  # the patch's base (cook 3) is folded away
    assert r.exit_code == 0, r.output
    r = patched.pdg("check", "--json")
    assert r.exit_code == 0 and json.loads(r.output)["ok"], r.output
    with EventLog.open(str(patched.db)) as log:
        assert log.base_seq() > 0
        state = log.load_state()
        gather_id = state.items_named("gather_1")[0].item_id
        cook_id = state.last_cook_id()
        assert "outputs" in _payloads(log, cook_id)[("WorkItemCooked", gather_id)]["patched"]
    from_base = []
    state_at = EventLog.state_at
    monkeypatch.setattr(EventLog, "state_at", lambda log, seq, **kw: from_base.append(seq) or state_at(log, seq, **kw))
    view = StoreView(str(patched.db))
    assert view.open()
    try:
        with view.reading():
            got = [e.outputs for e in view.events_between(0, view.end_seq())
                   if e.kind == "WorkItemCooked" and e.item_id == gather_id and e.cook_id == cook_id]
    finally:
        view.close()
    assert got == [state.items[gather_id].outputs]
    assert from_base, "the item's base was not in the compaction base: this test proves nothing"
