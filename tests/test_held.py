"""The next cook's decisions about an item held dirty below a cancel (``engine.incremental.held``):
facts in, decision out, no disk, no clock (the end-to-end tests are in test_cancel_marks.py).

A held item is decided as the result it holds: reused when what it depends on came out as before
(its result recorded again, the mark gone), run when it changed (for that change), and a dry run
calls it pending on what its parents make, never "runs anyway" as an item dirtied by hand.
"""

from __future__ import annotations

from pdgstore.engine.incremental import decide, held

from pdgstore import reasons
from test_decide import CHANGED_INPUT, HIT, TOUCHED, Record, cause, kinds, member, new

MARK = reasons.upstream_cancelled("p1", 4, "cooked_success")


def held_record(**changes) -> Record:
    return Record(state="dirty", reason=dict(MARK), **changes)


def test_a_held_item_is_weighed_as_its_result_and_the_stored_record_is_left_as_it_is():
    stored = held_record()
    prev = decide.record_of(stored)
    assert held.is_held(stored) and prev is not stored
    assert (prev.state, prev.reason, prev.signature) == ("cooked_success", MARK, "sig")
    assert stored.state == "dirty"
    by_hand = Record(state="dirty", reason=reasons.user("pdg dirty"))
    assert decide.record_of(by_hand) is by_hand and not held.is_held(by_hand)
    assert not held.is_held(Record(state="dirty", reason={**MARK, "result_state": "cooked_fail"}))


def test_what_it_depends_on_the_same_reuses_it_and_records_its_result_again():
    prev = decide.record_of(held_record())
    decision = decide.work(prev, new(), mode="automatic", signature="sig", node_reason=None, expected=[], check=HIT)
    assert (decision.action, kinds(decision)) == ("reuse", ["WorkItemCooked"])
    fields = decision.events[0][1]
    assert (fields["state"], fields["signature"], fields["outputs"]) == ("cooked_success", "sig", prev.outputs)
    assert fields["reason"] == {**MARK, "kept": True}
    touched = decide.work(prev, new(), mode="automatic", signature="sig", node_reason=None, expected=[], check=TOUCHED)
    assert kinds(touched) == ["WorkItemCooked"] and touched.events[0][1]["outputs"] == TOUCHED.records


def test_an_input_changed_since_runs_it_for_that_change():
    prev = decide.record_of(held_record())
    changed = new(inputs=CHANGED_INPUT)
    decision = decide.work(prev, changed, mode="automatic", signature="sig2", node_reason=None)
    assert (decision.action, cause(decision)) == ("run", ("input", "dirty_stale"))
    assert kinds(decision) == ["WorkItemGenerated", "WorkItemDirtied"]


def test_a_dry_run_calls_it_pending_on_what_its_parents_make():
    assert decide.runs_anyway(held_record(), mode="automatic", node_reason=None, expects_files=False) is None
    by_hand = Record(state="dirty", reason=reasons.user("pdg dirty"))
    assert decide.runs_anyway(by_hand, mode="automatic", node_reason=None, expects_files=False) is not None


def test_a_held_partition_placed_as_it_was_is_reused_when_its_members_are_the_same():
    m1, m2 = member("m1", "out/1.txt"), member("m2", "out/2.txt")
    stored = held_record(item_id="part", parents=["m1", "m2"], signature="ps", outputs=[m1.outputs[0], m2.outputs[0]])
    prev = decide.record_of(stored)
    decision = decide.merged(stored, prev, [m1, m2], {}, "ps", None, set())
    assert (decision.action, kinds(decision)) == ("reuse", ["WorkItemCooked"])
    other = decide.merged(stored, prev, [m1, m2], {}, "ps2", None, {"m1"})
    assert (other.action, cause(other)) == ("update", ("members", "dirty_stale"))
