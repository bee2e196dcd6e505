"""Packed id lists (``packedids``): what a client that asks for them folds is what a plain client
folds, and ``IdList`` reads as the list of the same ids."""

from __future__ import annotations

import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pdgstore.engine.datalayer.messages import APPEND, REMOVE, SET, Message, apply_message, snapshot
from pdgstore.engine.datalayer.packedids import MIN_PACKED, IdList, interleaved, pack, packed_wire

pytestmark = pytest.mark.timeout(60)

ids = st.text("0123456789abcdef", min_size=4, max_size=4)


def ident(i: int) -> str:
    return f"{i:016x}"


def test_an_id_list_reads_as_the_list_of_its_ids():
    values = [ident(i * 7) for i in range(40)]
    view = IdList("".join(values), 16)
    assert len(view) == 40 and view == values and values == view and list(view) == values
    assert view[0] == values[0] and view[-1] == values[-1] and view[3:9] == values[3:9] and view[::-5] == values[::-5]
    assert ident(7 * 11) in view and ident(5) not in view and 5 not in view
    assert view.index(ident(7 * 11)) == 11 and view.count(values[2]) == 1
    assert view + ["x"] == [*values, "x"] and json.loads(Message(APPEND, 1, "work_items", view).toJson())["values"] == values
    with pytest.raises(IndexError):
        view[40]
    # an id found across two ids' boundary is not in the list
    assert IdList("ab" + "cd", 2) != ["bc"] and "bc" not in IdList("abcd", 2)


def test_appends_stay_packed_and_in_order():
    view, plain = IdList("", 16), []
    for step in range(300):
        more = [ident(step * 1000 + k) for k in range(step % 7 + 1)]
        view, plain = view.extended(IdList("".join(more), 16)), plain + more
        assert len(view._parts) <= 12
    assert view == plain and len(view) == len(plain)


def test_only_lists_of_many_strings_of_one_width_are_packed():
    assert pack([ident(i) for i in range(MIN_PACKED)]) == {"ids": "".join(ident(i) for i in range(MIN_PACKED)), "w": 16}
    assert pack([ident(i) for i in range(MIN_PACKED - 1)]) is None
    assert pack([ident(i) for i in range(MIN_PACKED)] + ["short"]) is None
    assert pack([ident(i) for i in range(MIN_PACKED)] + [["a", "b"]]) is None
    assert pack([""] * MIN_PACKED) is None


@pytest.mark.parametrize(
    "wire",
    [{"t": 1, "prop": "work_items", "ids": "abc", "w": 2}, {"t": 1, "prop": "work_items", "ids": "ab", "w": 0},
     {"t": 1, "prop": "work_items", "ids": 5, "w": 1}, {"t": 0, "props": {"work_items": {"ids": "abc", "w": "1"}}}],
)  # fmt: skip
def test_malformed_packed_lists_are_refused_with_a_value_error(wire):
    with pytest.raises(ValueError):
        Message.from_wire(wire)


@settings(max_examples=150, deadline=None)
@given(
    steps=st.lists(
        st.tuples(st.sampled_from([APPEND, APPEND, APPEND, REMOVE, SET, "snapshot"]), st.lists(ids, max_size=40)),
        max_size=12,
    )
)
def test_a_packed_client_folds_what_a_plain_client_folds(steps):
    """The same messages, sent plain and packed, each crossing the wire as JSON, folded into an
    object the client's way: the objects are equal after every message."""
    plain_obj: dict = {}
    packed_obj: dict = {}
    for seq, (kind, values) in enumerate(steps):
        if kind == "snapshot":
            message = snapshot({"work_items": values, "name": ["n"]}, seq)
        else:
            message = Message(kind, seq, "work_items", values)
        plain = Message.from_wire(json.loads(json.dumps(message.to_wire())))
        packed = Message.from_wire(json.loads(json.dumps(packed_wire([message.to_wire()])[0])))
        plain_obj = apply_message(plain_obj, plain)
        packed_obj = apply_message(packed_obj, packed)
        assert packed_obj == plain_obj


def test_ids_taken_in_turn_from_several_lists():
    a, b, c = ([ident(k * 3 + i) for k in range(50)] for i in range(3))
    assert interleaved(["".join(a), "".join(b), "".join(c)], 16) == "".join(ident(i) for i in range(150))
    assert interleaved(["éa", "bé"], 1) == "ébaé"  # not ASCII: id by id


def test_a_view_put_together_later_reads_only_when_read():
    made = []
    later = IdList.later(3, 2, lambda: made.append(1) or "aabbcc")
    grown = IdList("", 2).extended(later).extended(IdList("dd", 2)).extended(IdList("ee", 2))
    assert len(grown) == 5 and not made
    assert grown == ["aa", "bb", "cc", "dd", "ee"] and made == [1]
