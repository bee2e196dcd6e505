"""``--at REF`` folds only what changed the shape of the state since the point (``pdgstore.timetravel``,
``pdgstore.pastitems``): a touch of every input, a deleted or added input (renumbering every later
item), an accept of a whole node leave most items to be folded when an answer reads them, and the
answers are a replay's. The classification of event kinds is checked against the fold itself."""

from __future__ import annotations

import json
import os
from itertools import product

import pytest
from conftest import copied, wide_in
from test_readmodel import _forbid_loading

from pdgstore import events as ev
from pdgstore import pastitems, projection, refs, tables, timetravel
from pdgstore.log import EventLog
from pdgstore.state import Item, State

STATES = ("uncooked", "dirty", "scheduled", "cooking", "cooked_success", "cooked_cache", "cooked_fail", "cooked_cancel")
_RECORD = ["out/a.txt", "file", 3, 5, "abc"]
#: candidate values per field type: each field of an event is varied alone over them
_VALUES = {
    str: ["", "x", "retry", "success", "other", *STATES],
    int: [0, 7],
    float: [0.0, 1.5],
    bool: [False, True],
    list: [[], [_RECORD], ["string", ["v"]]],
    dict: [{}, {"a": ["string", ["v"]]}],
}


def _variants(cls) -> list[dict]:
    """Payloads of ``cls`` with one field at a time set to each candidate value (``patched``, the
    fold's instructions for a list, stays empty; ``item_id`` names the item)."""
    fields = [f for f in cls.payload_fields if f not in ("item_id", "patched", "node")]
    out: list[dict] = [{}]
    for name in fields:
        default = cls._defaults.get(name)
        kind = type(default) if default is not None else (list if name in ("attr", "outputs", "parents") else dict)
        out += [{name: value} for value in _VALUES.get(kind, [])]
    return out


def _one_item(state_name: str) -> State:
    state = State()
    for item_id, index in (("a", 0), ("i", 1), ("z", 2)):
        item = Item(item_id, "g", "n", f"n_{index + 1}", index, ["p"], {"b": ["string", ["w"]]}, [_RECORD], [_RECORD],
                    state_name, 3, signature="s")
        state.items[item_id] = item
        state.node_items.setdefault(("g", "n"), {})[item_id] = None
    state.jobs["i"] = ["local", 1, 9, "", None]
    return state


def _shape(state: State) -> tuple:
    """Every field of every item but the detail fields, the node's order and the jobs."""
    fields = [f for f in Item.PLAIN if f not in pastitems.DETAIL_FIELDS]
    items = tuple(tuple(repr(getattr(i, f)) for f in fields) for i in state.items.values())
    order = tuple((key, tuple(ids)) for key, ids in state.node_items.items())
    return items, order, tuple((k, tuple(v)) for k, v in state.jobs.items())


def _details(state: State) -> dict:
    return {i.item_id: tuple(repr(getattr(i, f)) for f in pastitems.DETAIL_FIELDS) for i in state.items.values()}


def _changes(kind: str) -> tuple[bool, bool, bool]:
    """(whether some event of ``kind`` changes an item's shape, whether one changes its name,
    whether one changes a detail field), applied with ``projection.APPLY`` to items in every state."""
    cls = ev.REGISTRY[kind]
    shape = name = detail = False
    for state_name, payload in product(STATES, _variants(cls)):
        state = _one_item(state_name)
        item = state.items["i"]
        before, was, details = _shape(state), (item.name, item.index), _details(state)
        event = cls(seq=50, cook_id=4, graph="g", **{cls.subject_field: "i"}, **payload)
        if "node" in cls.payload_fields:
            object.__setattr__(event, "node", "n")
        try:
            projection.APPLY[kind](state, event)
        except (KeyError, TypeError, ValueError, IndexError):
            continue  # not an event a log can hold
        shape |= _shape(state) != before
        name |= "i" in state.items and (state.items["i"].name, state.items["i"].index) != was
        detail |= any(details[i] != d for i, d in _details(state).items() if i in details)  # removed: no detail
    return shape, name, detail


@pytest.mark.parametrize("kind", sorted(tables.ITEM_KINDS))
def test_detail_kinds_change_no_items_shape_and_shape_kinds_do(kind):
    """A kind wrongly called a detail (its fold moves an item to another state, removes it, starts
    a job...) would let ``--at`` count an item in its state now: every detail kind's fold, over
    items in every state and events with each field varied, leaves graph, node, state, cook id,
    parents, the node's order and the jobs alone; every shape kind changes one of them for some
    event (so the variation is strong enough to tell). Only the rename kinds change a name and an
    index among the details, and only ``NAME_WRITERS`` among all; a kind
    left out of ``DETAIL_WRITERS`` (the fold of an item no shape event followed) changes no detail."""
    shape, name, detail = _changes(kind)
    assert shape == (kind not in pastitems.DETAIL_KINDS), kind
    if kind in pastitems.DETAIL_KINDS:
        assert name == (kind in pastitems.RENAME_KINDS), kind
    if kind not in pastitems.NAME_WRITERS:  # an item only renamed since is read as its last name writer left it
        assert not name, kind
    if kind not in pastitems.DETAIL_WRITERS:
        assert not detail, kind
    assert pastitems.DETAIL_KINDS <= tables.ITEM_KINDS and pastitems.RENAME_KINDS <= pastitems.DETAIL_KINDS


@pytest.fixture(scope="module")
def cooked_once(tmp_path_factory):
    """W(20) cooked once (cook 1)."""
    wide = wide_in(tmp_path_factory.mktemp("w20"))
    assert wide.pdg("cook", "wide.py").exit_code == 0
    return wide.root


def _touch_all(wide) -> None:
    for name in os.listdir(wide.root / "in"):
        os.utime(wide.root / "in" / name, ns=(2_000_000_000_000_000_000, 2_000_000_000_000_000_000))
    assert wide.pdg("cook", "wide.py").exit_code == 0


def _delete_one(wide) -> None:
    (wide.root / "in" / "f0000.txt").unlink()  # every later input's items are renumbered
    assert wide.pdg("cook", "wide.py").exit_code == 0


def _delete_late(wide) -> None:
    (wide.root / "in" / "f0015.txt").unlink()  # 4 of 20 renumbered: a listing merges the rest in order
    assert wide.pdg("cook", "wide.py").exit_code == 0


def _add_one(wide) -> None:
    (wide.root / "in" / "a0000.txt").write_text("first by name\n")  # before every other: renumbers them
    assert wide.pdg("cook", "wide.py").exit_code == 0


def _accept_node(wide) -> None:
    (wide.root / "in" / "f0005.txt").write_text("changed\n")
    assert wide.pdg("cook", "wide.py").exit_code == 0
    assert wide.pdg("accept", "upper").exit_code == 0


READS = [
    ("status", "--at", "cook~1", "--json"),
    ("show", "upper_7", "--at", "cook~1", "--json"),
    ("show", "upper_1", "--at", "cook~1", "--json"),
    ("items", "upper", "--at", "cook~1", "--json"),
    ("items", "files", "--at", "cook~1", "--json"),
    ("diff", "cook~1", "--json"),
    ("history", "cook~1", "--json"),  # (its number, below)
]


@pytest.mark.parametrize("compacted", [False, True], ids=["", "compacted"])
@pytest.mark.parametrize(
    "change, most",
    [(_touch_all, 5), (_delete_one, 5), (_delete_late, 5), (_add_one, 5), (_accept_node, 23)],
    ids=["touch_all", "delete_one", "delete_late", "add_one", "accept_node"],
)
def test_reads_at_the_cook_before_are_a_replays_and_fold_only_what_moved(
    cooked_once, tmp_path, monkeypatch, change, most, compacted
):
    """``most``: the items a status folds. What moved since cook~1: the gather and the concat made
    again, an input's items added or removed, the changed one; never the 20 inputs restatted or
    renumbered. An accept moves what it accepts (an item not cooked then is cooked after it):
    the 20 of upper and those downstream, not the 20 inputs upstream. ``compacted``: one more
    cook first, and the history before cook~1 folded into the base snapshot (``pdg compact``):
    the items start from their state in it."""
    wide = copied(cooked_once, tmp_path)
    if compacted:
        (wide.root / "in" / "f0010.txt").write_text("changed first\n")
        assert wide.pdg("cook", "wide.py").exit_code == 0
    change(wide)
    if compacted:
        assert wide.pdg("compact", "--keep-cooks", "2").exit_code == 0
        with EventLog.open(str(wide.db)) as log:
            assert 0 < log.base_seq() < refs.resolve(log, "cook~1").seq
    with monkeypatch.context() as m:  # the answers of the snapshot and a replay of the events up to the point
        m.setattr(refs, "state_at_seq", lambda log, seq: log.state_at(seq))
        m.setattr(timetravel, "state_at_seq", lambda log, seq: log.state_at(seq))
        reads = [("history", "2" if compacted else "1", "--json") if a[0] == "history" else a for a in READS]
        expected = {args: wide.pdg(*args) for args in reads}
    folded: list[str] = []
    fold = pastitems.Folder.fold
    monkeypatch.setattr(
        pastitems.Folder, "fold", lambda self, ids, ords=None, **kw: folded.extend(ids) or fold(self, ids, ords, **kw)
    )
    _forbid_loading(monkeypatch)
    for args in reads:
        folded.clear()
        r = wide.pdg(*args)
        assert r.exit_code == 0 and expected[args].exit_code == 0, r.output
        assert r.output == expected[args].output, args
        if args[0] == "status":
            assert len(set(folded)) <= most, sorted(set(folded))
    monkeypatch.undo()
    with EventLog.open(str(wide.db)) as log:
        seq = refs.resolve(log, "cook~1").seq
        at = timetravel.StateAt(log, seq)
        assert at.materialise().to_plain() == log.state_at(seq).to_plain()


def test_a_name_given_away_since_finds_the_item_it_named_then(cooked_once, tmp_path):
    """After an input is deleted, every later item is renumbered: upper_7 now is the item that was
    upper_8. At cook~1, upper_7 is the one named so then, found by its events up to the point."""
    wide = copied(cooked_once, tmp_path)
    before = json.loads(wide.pdg("show", "upper_7", "--json").output)["item"]["item_id"]
    _delete_one(wide)
    now = json.loads(wide.pdg("show", "upper_7", "--json").output)["item"]["item_id"]
    then = json.loads(wide.pdg("show", "upper_7", "--at", "cook~1", "--json").output)["item"]
    assert now != before and then["item_id"] == before and then["name"] == "upper_7"
