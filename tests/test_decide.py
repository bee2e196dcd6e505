"""The decisions (engine.incremental.decide), table by table: facts in, decision out, no disk, no clock.

Each row gives the facts a cook would gather about one item (its previous record, the signature it
would be made from, its node's cache mode and changes, its expected files, the cache check's
answer, the stat results of its files) and the decision expected: the action, the cause and cache
state of the reason, and the kinds of the events to append, in order. The end-to-end tests
(test_recook.py, test_cache_modes.py, test_delta.py) cook real graphs on disk; these pin the policy.
"""

from __future__ import annotations

import ast
from dataclasses import dataclass, field
from pathlib import Path
from types import SimpleNamespace

import pytest

from pdgstore.engine.files.cache import CacheCheck
from pdgstore.engine.incremental import decide
from pdgstore.state import ACCEPTED

ROOT = "/project"
IN = ["in/a.txt", "file", 5, 100, "h-in"]
OUT = ["out/a.txt", "file", 7, 200, "h-out"]


@dataclass
class Record:
    """A recorded work item: the fields of ``pdgstore.state.Item`` the decisions read."""

    item_id: str = "i1"
    node: str = "upper"
    name: str = "upper_1"
    index: int = 0
    state: str = "cooked_success"
    signature: str = "sig"
    reason: dict = field(default_factory=dict)
    parents: list = field(default_factory=lambda: ["p1"])
    attrs: dict = field(default_factory=dict)
    inputs: list = field(default_factory=lambda: [list(IN)])
    outputs: list = field(default_factory=lambda: [list(OUT)])
    started_ns: int = 1
    duration_ns: int = 2


def new(**changes) -> dict:
    """The ``WorkItemGenerated`` fields of the item as generated now."""
    fields = {
        "item_id": "i1",
        "node": "upper",
        "name": "upper_1",
        "index": 0,
        "parents": ["p1"],
        "attrs": {},
        "inputs": [list(IN)],
        "outputs": [],
    }
    fields.update(changes)
    return fields


def kinds(decision: decide.Decision) -> list[str]:
    return [cls.kind for cls, _fields in decision.events]


def cause(decision: decide.Decision) -> tuple:
    reason = decision.reason or {}
    return reason.get("cause"), reason.get("cache_state")


HIT = CacheCheck(True, [list(OUT)])
TOUCHED = CacheCheck(True, [["out/a.txt", "file", 7, 300, "h-out"]], touched=True)
MISSING = CacheCheck(False, reason={"cause": "output_missing", "cache_state": "dirty_missing", "path": "out/a.txt"})
REFUSED = CacheCheck(
    False, reason={"cause": "cache_miss", "cache_state": "dirty_missing", "path": "out/a.txt", "handler": "h"}
)
CHANGED_INPUT = [["in/a.txt", "file", 6, 101, "h-in-2"]]
PARM = {"cause": "parm", "node": "upper", "parm": "suffix", "old": 1, "new": 2, "cache_state": "dirty_stale"}
EXPECTED = [["out/a.txt", "file"]]
#: the node is not in the graph's last recorded definitions (added, or renamed: ``reasons.node_added``)
ADDED = {"cause": "new", "node": "upper", "cache_state": "dirty_new"}

# id, prev, new's changes, mode, signature, node reason, expected, check -> action, (cause, cache state), event kinds
WORK = [
    ("new item runs", None, {}, "automatic", "sig", None, [], None,
     "run", ("new", "dirty_new"), ["WorkItemGenerated"]),
    ("new item, expected files present: from the cache", None, {}, "automatic", "sig", None, EXPECTED, HIT,
     "cache", (None, None), ["WorkItemGenerated"]),
    ("new item, expected files missing: runs", None, {}, "automatic", "sig", None, EXPECTED, MISSING,
     "run", ("new", "dirty_new"), ["WorkItemGenerated"]),
    ("new item, always write: runs without a check", None, {}, "always_write", "sig", None, EXPECTED, None,
     "run", ("new", "dirty_new"), ["WorkItemGenerated"]),
    ("new item, always read, nothing expected: fails", None, {}, "always_read", "sig", None, [], None,
     "fail", (None, None), ["WorkItemGenerated"]),
    ("new item, always read, file missing: fails", None, {}, "always_read", "sig", None, EXPECTED, MISSING,
     "fail", (None, None), ["WorkItemGenerated"]),
    ("unchanged, files pass: reused", Record(), {}, "automatic", "sig", None, [], HIT,
     "reuse", (None, None), []),
    ("unchanged, a file only touched: reused, restatted", Record(), {}, "automatic", "sig", None, [], TOUCHED,
     "reuse", (None, None), ["WorkItemRestatted"]),
    ("unchanged, renumbered: reused, renumbered", Record(index=3, name="upper_4"), {}, "automatic", "sig", None,
     [], HIT, "reuse", (None, None), ["WorkItemRenumbered"]),
    ("unchanged, output gone: runs", Record(), {}, "automatic", "sig", None, [], MISSING,
     "run", ("output_missing", "dirty_missing"), ["WorkItemGenerated", "WorkItemDirtied"]),
    ("unchanged, a cache handler says miss: runs", Record(), {}, "automatic", "sig", None, [], REFUSED,
     "run", ("cache_miss", "dirty_missing"), ["WorkItemGenerated", "WorkItemDirtied"]),
    ("input changed: runs", Record(), {"inputs": CHANGED_INPUT}, "automatic", "sig2", None, None, None,
     "run", ("input", "dirty_stale"), ["WorkItemGenerated", "WorkItemDirtied"]),
    ("attribute changed: runs", Record(), {"attrs": {"n": ["int", [2]]}}, "automatic", "sig2", None, None, None,
     "run", ("attribute", "dirty_stale"), ["WorkItemGenerated", "WorkItemDirtied"]),
    ("node parameter changed: runs", Record(), {}, "automatic", "sig2", PARM, None, None,
     "run", ("parm", "dirty_stale"), ["WorkItemGenerated", "WorkItemDirtied"]),
    ("failed last time: runs", Record(state="cooked_fail"), {}, "automatic", "sig", None, None, None,
     "run", ("no_result", "dirty_empty"), ["WorkItemGenerated", "WorkItemDirtied"]),
    ("dirtied by hand: runs with that reason", Record(state="dirty", reason={"cause": "user", "cache_state":
     "dirty_always"}), {}, "automatic", "sig", None, None, None,
     "run", ("user", "dirty_always"), ["WorkItemGenerated", "WorkItemDirtied"]),
    ("always write: runs", Record(), {}, "always_write", "sig", None, None, None,
     "run", ("cache_mode", "dirty_always"), ["WorkItemGenerated", "WorkItemDirtied"]),
    ("accepted by hand, files pass: reused, confirmed", Record(signature=ACCEPTED), {}, "automatic", "sig", None,
     [], HIT, "reuse", (None, None), ["WorkItemCooked"]),
    ("automatic ignore: upstream changed, files pass: from the cache", Record(), {"inputs": CHANGED_INPUT},
     "automatic_ignore", "sig2", None, [], HIT, "cache", (None, None), ["WorkItemGenerated"]),
    ("always read, failed before, nothing expected: fails", Record(state="cooked_fail", outputs=[]), {},
     "always_read", "sig", None, [], None, "fail", (None, None), ["WorkItemGenerated"]),
    ("a new node's item runs", None, {}, "automatic", "sig", ADDED, [], None,
     "run", ("new", "dirty_new"), ["WorkItemGenerated"]),
    ("a node new to the last definitions, its item recorded, same signature: reused", Record(), {}, "automatic",
     "sig", ADDED, [], HIT, "reuse", (None, None), []),
    ("a node new to the last definitions, its item's input changed: runs for that", Record(),
     {"inputs": CHANGED_INPUT}, "automatic", "sig2", ADDED, None, None,
     "run", ("input", "dirty_stale"), ["WorkItemGenerated", "WorkItemDirtied"]),
]


@pytest.mark.parametrize(
    "prev, changes, mode, signature, node_reason, expected, check, action, reason, events",
    [row[1:] for row in WORK],
    ids=[row[0] for row in WORK],
)
def test_work_item_decisions(prev, changes, mode, signature, node_reason, expected, check, action, reason, events):
    facts = {"expected": expected, "check": check, "taken": ()}  # taken: a hit's files are nobody else's
    decision = decide.work(prev, new(**changes), mode=mode, signature=signature, node_reason=node_reason, **facts)
    assert (decision.action, cause(decision) if action in ("run", "update") else (None, None)) == (action, reason)
    assert kinds(decision) == events


NO_RESULT_YET = [
    Record(state="cooked_cancel", outputs=[]),
    Record(state="cooked_fail", outputs=[]),
    Record(state="dirty", reason={"cause": "manual", "cache_state": "dirty_always"}),
    Record(state="uncooked", signature="", outputs=[]),  # only announced: decided as new
    Record(),  # its result stands: whether it runs is its parents' doing
    # dirtied, regenerated to run, cancelled: it runs, and why names what its parents made since
    Record(state="cooked_cancel", signature="", reason={"cause": "attribute", "name": "n", "old": 0, "new": 1}),
]


@pytest.mark.timeout(30)
@pytest.mark.parametrize("recorded", NO_RESULT_YET, ids=lambda r: r.state)
@pytest.mark.parametrize("mode", ["automatic", "automatic_ignore", "always_write", "always_read"])
@pytest.mark.parametrize("node_reason", [None, PARM], ids=["same_node", "node_changed"])
@pytest.mark.parametrize("expected", [[], EXPECTED], ids=["no_files", "files"])
def test_what_runs_anyway_runs_whatever_its_parents_make(recorded, mode, node_reason, expected):
    """``runs_anyway`` (a dry run's answer for an item whose parents would run first) names the
    reason ``work`` then runs it with, whatever its parents made (its inputs, attributes, signature)
    and whatever the cache check says; when it says None, it names nothing of the kind."""
    anyway = decide.runs_anyway(recorded, mode=mode, node_reason=node_reason, expects_files=bool(expected))
    decisions = [
        decide.work(
            decide.record_of(recorded),
            new(**changes),
            mode=mode,
            signature=signature,
            node_reason=node_reason,
            expected=expected,
            check=check,
        )
        for changes in ({}, {"inputs": CHANGED_INPUT}, {"attrs": {"n": ["int", [1]]}})
        for signature in ("sig", "sig2")
        for check in (HIT, MISSING)
    ]
    if anyway is not None and decide.attempted(recorded) and mode == "automatic" and node_reason is None:
        assert anyway["cause"] == "no_result" and {d.action for d in decisions} == {"run"}
    elif anyway is not None:
        assert {(d.action, str(d.reason)) for d in decisions} == {("run", str(anyway))}
    else:
        assert any(d.action != "run" for d in decisions) or recorded.state == "cooked_success"


def attempt(reason: dict, **changes) -> Record:
    """An item dirtied for ``reason``, regenerated to run (no signature) and cancelled."""
    return Record(state="cooked_cancel", signature="", reason=reason, **changes)


def attr(old, new) -> dict:
    return {"cause": "attribute", "name": "n", "old": old, "new": new, "cache_state": "dirty_stale"}


def parm(old, new) -> dict:
    return {**PARM, "old": old, "new": new}


N_AT = {1: {"n": ["int", [1]]}, 2: {"n": ["int", [2]]}, 0: {"n": ["int", [0]]}}
# id, the record of the attempt, new's changes, node reason -> the reason it runs with now
SINCE_RESULT = [
    ("the same attribute again: from its value at the last result to now", attempt(attr(0, 1), attrs=N_AT[1]),
     {"attrs": N_AT[2]}, None, {**attr(0, 2), "from_item": "p1"}),
    ("the attribute back at its last result's value: no result", attempt(attr(0, 1), attrs=N_AT[1]),
     {"attrs": N_AT[0]}, None, {"cause": "no_result", "state": "cooked_cancel", "cache_state": "dirty_empty"}),
    ("nothing new since the attempt: the attempt's reason", attempt(attr(0, 1), attrs=N_AT[1]),
     {"attrs": N_AT[1]}, None, attr(0, 1)),
    ("another fact since: that one", attempt(attr(0, 1), attrs=N_AT[1]),
     {"attrs": N_AT[1], "inputs": CHANGED_INPUT}, None,
     {"cause": "input", "path": "in/a.txt", "old_size": 5, "new_size": 6, "old_hash": "h-in",
      "new_hash": "h-in-2", "cache_state": "dirty_stale", "from_item": "p1"}),
    ("the same parameter again: from its value at the last result", attempt(parm(1, 2)), {}, parm(2, 3),
     parm(1, 3)),
    ("the same input file again: from its size and hash at the last result",
     attempt({"cause": "input", "path": "in/a.txt", "old_size": 4, "new_size": 5, "old_hash": "h-0",
              "new_hash": "h-in", "cache_state": "dirty_stale", "from_item": "p0"}),
     {"inputs": CHANGED_INPUT}, None,
     {"cause": "input", "path": "in/a.txt", "old_size": 4, "new_size": 6, "old_hash": "h-0",
      "new_hash": "h-in-2", "cache_state": "dirty_stale", "from_item": "p1"}),
    ("never had a result: no result", attempt({"cause": "no_result", "state": "cooked_fail"}), {"attrs": N_AT[2]},
     None, {"cause": "no_result", "state": "cooked_cancel", "cache_state": "dirty_empty"}),
    ("dirtied by hand (its record is its last result): that reason",
     Record(state="dirty", reason={"cause": "user", "cache_state": "dirty_always"}), {"attrs": N_AT[2]}, None,
     {"cause": "user", "cache_state": "dirty_always"}),
]


@pytest.mark.timeout(30)
@pytest.mark.parametrize(
    "prev, changes, node_reason, expected", [r[1:] for r in SINCE_RESULT], ids=[r[0] for r in SINCE_RESULT]
)
def test_an_item_that_did_not_finish_runs_for_what_changed_since_its_last_result(prev, changes, node_reason, expected):
    """A cancelled attempt's reason is not the next cook's: that one names what changed since the
    item's last result (the attempt's change brought up to date), not what the attempt was for."""
    decision = decide.work(prev, new(**changes), mode="automatic", signature="sig2", node_reason=node_reason)
    assert decision.action == "run"
    assert decision.reason == expected
    assert kinds(decision) == ["WorkItemGenerated", "WorkItemDirtied"]
    assert decision.events[1][1]["reason"] == expected


def test_a_work_decision_asks_for_the_facts_it_needs_in_turn():
    """Expected files are expanded only when the decision needs them, and the cache (the user's
    handlers) is asked only about the files it names."""
    asked = decide.work(None, new(), mode="automatic", signature="s", node_reason=None)
    assert asked.action == decide.NEED_EXPECTED
    asked = decide.work(None, new(), mode="automatic", signature="s", node_reason=None, expected=EXPECTED)
    assert (asked.action, asked.files) == (decide.NEED_CACHE_CHECK, EXPECTED)
    # a recorded item is checked on its recorded outputs, then on the expected files it does not record
    more = [["out/a.txt", "file"], ["out/b.txt", "file"]]
    asked = decide.work(Record(), new(), mode="automatic", signature="sig", node_reason=None, expected=more)
    assert asked.files == [OUT, ["out/b.txt", "file"]]
    # a changed signature decides without expanding anything
    ran = decide.work(Record(), new(inputs=CHANGED_INPUT), mode="automatic", signature="s2", node_reason=None)
    assert ran.action == decide.RUN


def test_a_changed_input_names_the_file_its_sizes_and_hashes_and_the_item_that_made_it():
    decision = decide.work(Record(), new(inputs=CHANGED_INPUT), mode="automatic", signature="s2", node_reason=None)
    assert decision.reason == {
        "cause": "input",
        "path": "in/a.txt",
        "old_size": 5,
        "new_size": 6,
        "old_hash": "h-in",
        "new_hash": "h-in-2",
        "cache_state": "dirty_stale",
        "from_item": "p1",
    }
    dirtied = dict(decision.events)[next(cls for cls, _ in decision.events if cls.kind == "WorkItemDirtied")]
    assert dirtied == {"item_id": "i1", "reason": decision.reason}


def test_results_had_without_running_are_whole_but_for_the_time():
    cached = decide.work(
        None, new(), mode="automatic", signature="s", node_reason=None, expected=EXPECTED, check=HIT, taken=()
    )
    assert cached.result == {
        "item_id": "i1",
        "state": "cooked_cache",
        "outputs": [OUT],
        "duration_ns": 0,
        "signature": "s",
        "reason": {"cache_mode": "automatic", "files": ["out/a.txt"]},
    }
    failed = decide.work(None, new(), mode="always_read", signature="s", node_reason=None, expected=EXPECTED,
                         check=REFUSED)
    assert failed.result["state"] == "cooked_fail"
    assert failed.result["error"] == (
        "cache mode always read: expected output out/a.txt of work item upper_1 was refused by cache handler h"
    )
    assert "started_ns" not in cached.result and "started_ns" not in failed.result  # the cook's clock stamps it


#: the answer ``engine.cook.owners`` gives when another item records out/a.txt: (path, its id, its name)
TAKEN = ("out/a.txt", "i9", "upper_2")


def test_a_file_another_item_records_is_not_a_hit():
    """A cache hit on files the item did not record asks whose they are; another item's file makes it
    run (its reason recorded, even for a new item) or, in cache mode always read, fail."""
    asked = decide.work(None, new(), mode="automatic", signature="s", node_reason=None, expected=EXPECTED, check=HIT)
    assert (asked.action, asked.files) == (decide.NEED_OWNERS, EXPECTED)
    ran = decide.work(
        None, new(), mode="automatic", signature="s", node_reason=None, expected=EXPECTED, check=HIT, taken=TAKEN
    )
    assert (ran.action, kinds(ran)) == (decide.RUN, ["WorkItemGenerated", "WorkItemDirtied"])
    assert ran.reason == ran.events[1][1]["reason"] == {
        "cause": "output_taken",
        "cache_state": "dirty_missing",
        "path": "out/a.txt",
        "owner": "i9",
        "owner_name": "upper_2",
    }
    failed = decide.work(
        None, new(), mode="always_read", signature="s", node_reason=None, expected=EXPECTED, check=HIT, taken=TAKEN
    )
    assert failed.result["error"] == (
        "cache mode always read: expected output out/a.txt of work item upper_1 was recorded as the output of "
        "another work item (upper_2, id i9)"
    )
    # a recorded item asks about the expected files it did not record only (its name moved), not its own
    moved = [["out/b.txt", "file"]]
    kept = decide.work(Record(), new(), mode="automatic", signature="sig", node_reason=None, expected=EXPECTED, check=HIT)
    assert kept.action == decide.REUSE
    asked = decide.work(Record(), new(), mode="automatic", signature="sig", node_reason=None, expected=moved, check=HIT)
    assert (asked.action, asked.files) == (decide.NEED_OWNERS, moved)
    taken = ("out/b.txt", "i9", "upper_2")
    ran = decide.work(
        Record(), new(), mode="automatic", signature="sig", node_reason=None, expected=moved, check=HIT, taken=taken
    )
    assert (ran.action, cause(ran)) == (decide.RUN, ("output_taken", "dirty_missing"))
    mine = decide.work(
        Record(), new(), mode="automatic", signature="sig", node_reason=None, expected=moved, check=HIT, taken=()
    )
    assert mine.action == decide.REUSE  # nobody's file: taken as PDG takes it
    # a miss needs no owner
    missed = decide.work(None, new(), mode="automatic", signature="s", node_reason=None, expected=EXPECTED,
                         check=MISSING)
    assert (missed.action, cause(missed), kinds(missed)) == (decide.RUN, ("new", "dirty_new"), ["WorkItemGenerated"])


PATTERN_FILE = ["in/a.txt", "file", 5, 100, "h-in"]
BORN = [
    ("new file", None, PATTERN_FILE, "s", None, "update", ("new", "dirty_new"), ["WorkItemGenerated"]),
    ("same signature", Record(signature="s", outputs=[PATTERN_FILE]), PATTERN_FILE, "s", None,
     "reuse", (None, None), []),
    ("file edited", Record(signature="s", outputs=[PATTERN_FILE]), ["in/a.txt", "file", 9, 150, "h-2"], "s2", None,
     "update", ("file", "dirty_stale"), ["WorkItemDirtied", "WorkItemGenerated"]),
    ("node changed", Record(signature="s", outputs=[PATTERN_FILE]), PATTERN_FILE, "s2", PARM,
     "update", ("parm", "dirty_stale"), ["WorkItemDirtied", "WorkItemGenerated"]),
    ("only touched: same signature, new stats", Record(signature="s", outputs=[PATTERN_FILE]),
     ["in/a.txt", "file", 5, 999, "h-in"], "s", None, "reuse", (None, None), ["WorkItemRestatted"]),
]


@pytest.mark.parametrize(
    "prev, output, signature, node_reason, action, reason, events", [r[1:] for r in BORN], ids=[r[0] for r in BORN]
)
def test_born_item_decisions(prev, output, signature, node_reason, action, reason, events):
    decision = decide.born(prev, new(inputs=[], parents=[], outputs=[output]), signature, node_reason)
    assert (decision.action, cause(decision) if action == "update" else (None, None)) == (action, reason)
    assert kinds(decision) == events


def stat(mtime_ns: int, size: int):
    return SimpleNamespace(st_mtime_ns=mtime_ns, st_size=size)


CLEAN = [
    ("files as recorded", Record(), {f"{ROOT}/out/a.txt": stat(200, 7)}, set(), True),
    ("mtime differs", Record(), {f"{ROOT}/out/a.txt": stat(201, 7)}, set(), False),
    ("size differs", Record(), {f"{ROOT}/out/a.txt": stat(200, 8)}, set(), False),
    ("file missing", Record(), {f"{ROOT}/out/a.txt": None}, set(), False),
    ("parent remade", Record(), {f"{ROOT}/out/a.txt": stat(200, 7)}, {"p1"}, False),
    ("never cooked", Record(state="uncooked"), {f"{ROOT}/out/a.txt": stat(200, 7)}, set(), False),
    ("accepted by hand", Record(signature=ACCEPTED), {f"{ROOT}/out/a.txt": stat(200, 7)}, set(), False),
    ("dirtied by hand", Record(reason={"cause": "user"}), {f"{ROOT}/out/a.txt": stat(200, 7)}, set(), False),
]


@pytest.mark.parametrize("prev, stats, remade, expected", [r[1:] for r in CLEAN], ids=[r[0] for r in CLEAN])
def test_clean_items_are_reused_without_a_signature(prev, stats, remade, expected):
    assert decide.clean(prev, ["p1"], stats, ROOT, remade) is expected


def test_clean_needs_the_same_parents():
    assert not decide.clean(Record(), ["p2"], {f"{ROOT}/out/a.txt": stat(200, 7)}, ROOT, set())


ANNOUNCED = Record(state="uncooked", signature="", outputs=[])
AS_ANNOUNCED = [
    ("generated now as announced", ANNOUNCED, new(), True),
    ("no record", None, new(), False),
    ("another name", ANNOUNCED, new(name="upper_2"), False),
    ("another index", ANNOUNCED, new(index=1), False),
    ("other parents", ANNOUNCED, new(parents=["p2"]), False),
    ("other attributes", ANNOUNCED, new(attrs={"k": ["int", [1]]}), False),
    ("other inputs", ANNOUNCED, new(inputs=[["in/b.txt", "file", 5, 100, "h-b"]]), False),
    ("cooked since", Record(), new(), False),
    ("failed since", Record(state="cooked_fail", signature="", outputs=[]), new(), False),
    ("dirtied by hand", Record(state="uncooked", signature="", outputs=[], reason={"cause": "user"}), new(), False),
]


@pytest.mark.parametrize("recorded, fields, expected", [r[1:] for r in AS_ANNOUNCED], ids=[r[0] for r in AS_ANNOUNCED])
def test_an_item_generated_as_it_was_announced_is_not_generated_again(recorded, fields, expected):
    assert decide.announced_as(recorded, fields) is expected
    if expected:
        run = decide.work(None, fields, mode="automatic", signature="s", node_reason=None, expected=[])
        assert (run.action, [cls.__name__ for cls, _ in run.events]) == (decide.RUN, ["WorkItemGenerated"])
        assert decide.without_generation(run) == run._replace(events=())


def member(item_id: str, path: str, attrs: dict | None = None):
    return Record(item_id=item_id, outputs=[[path, "file", 1, 1, "h-" + item_id]], attrs=attrs or {})


def test_a_new_partition_merges_its_members_first_value_first_its_own_over_all():
    m1 = member("m1", "out/1.txt", {"a": ["int", [1]], "b": ["int", [1]]})
    m2 = member("m2", "out/2.txt", {"a": ["int", [2]], "c": ["int", [2]]})
    item = Record(item_id="part", parents=["m1", "m2"], state="waiting")
    decision = decide.merged(item, None, [m1, m2], {"b": ["int", [9]]}, "ps", None, set())
    assert (decision.action, cause(decision), kinds(decision)) == ("update", ("new", "dirty_new"), [])
    assert decision.result["attrs"] == {"a": ["int", [1]], "b": ["int", [9]], "c": ["int", [2]]}
    assert decision.result["outputs"] == [m1.outputs[0], m2.outputs[0]]


def test_the_new_items_of_a_new_node_name_it():
    """Items with no record of a node the graph's last definitions lack are new because their node
    is: the dry run and ``pdg explain`` say so (``reasons.node_added``)."""
    assert decide.work(None, new(), mode="automatic", signature="s", node_reason=ADDED, expected=[]).reason == ADDED
    assert decide.born(None, new(inputs=[], outputs=[PATTERN_FILE]), "s", ADDED).reason == ADDED
    item = Record(item_id="part", parents=["m1"], state="waiting")
    assert decide.merged(item, None, [member("m1", "out/1.txt")], {}, "ps", ADDED, set()).reason == ADDED
    assert decide.runs_anyway(None, mode="automatic", node_reason=ADDED, expects_files=False) == ADDED
    assert decide.work(None, new(), mode="automatic", signature="s", node_reason=PARM, expected=[]).reason == {
        "cause": "new",
        "cache_state": "dirty_new",
    }


def test_a_partition_of_the_same_members_is_reused_else_names_what_changed():
    m1, m2, m3 = member("m1", "out/1.txt"), member("m2", "out/2.txt"), member("m3", "out/3.txt")
    prev = Record(item_id="part", parents=["m1", "m2"], signature="ps", outputs=[m1.outputs[0], m2.outputs[0]])
    assert decide.merged(prev, prev, [m1, m2], {}, "ps", None, set()).action == "reuse"
    item = Record(item_id="part", parents=["m1", "m3"], state="waiting")  # placed anew: not the record
    decision = decide.merged(item, prev, [m1, m3], {}, "ps2", None, {"m1"})
    assert decision.reason == {
        "cause": "members",
        "cache_state": "dirty_stale",
        "added": ["m3"],
        "removed": ["m2"],
        "changed": ["m1"],
        "from_item": "m1",
    }
    assert kinds(decision) == ["WorkItemDirtied"]


PLACED = [
    ("same members: nothing to record", Record(item_id="part", parents=["m1"], name="gather_1"),
     {"parents": ["m1"], "attrs": {}}, []),
    ("same members, new position: renumbered", Record(item_id="part", parents=["m1"], name="gather_2", index=1),
     {"parents": ["m1"], "attrs": {}}, ["WorkItemRenumbered"]),
    ("other members: generated, waiting", Record(item_id="part", parents=["m1"], name="gather_1"),
     {"parents": ["m1", "m2"], "attrs": {}}, ["WorkItemGenerated"]),
    ("new", None, {"parents": ["m1"], "attrs": {}}, ["WorkItemGenerated"]),
]


@pytest.mark.parametrize("prev, changes, events", [r[1:] for r in PLACED], ids=[r[0] for r in PLACED])
def test_placing_a_partition(prev, changes, events):
    fields = {"item_id": "part", "node": "gather", "name": "gather_1", "index": 0, **changes}
    placed = decide.placed(prev, fields)
    assert [cls.kind for cls, _ in placed] == events
    if events == ["WorkItemGenerated"]:
        assert placed[0][1]["state"] == "waiting"


def test_the_decisions_are_pure():
    """No clock, no file system, no processes: the module imports none of them."""
    source = Path(decide.__file__).read_text()
    imported = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            imported.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            imported.add(node.module.split(".")[0])
    assert not imported & {"os", "time", "subprocess", "threading", "sqlite3", "shutil", "pathlib"}
