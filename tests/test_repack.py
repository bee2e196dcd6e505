"""An item's row detail packed again from its last packing (``pdgstore.repack``) is byte for byte
what ``tables.item_detail`` packs, whatever changed between two packings; and a cook's tables stay
the fold of its log when a job reports hundreds of attributes one flush each."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from test_report_rows import _record, _tables_equal_the_replay

from pdgstore import events as ev
from pdgstore import repack, tables
from pdgstore.state import Item

pytestmark = pytest.mark.timeout(60)


def _item(attrs: dict) -> Item:
    return Item("i1", "g", "n", "n_1", 0, ["p"], attrs, [], [], "cooking", traceback="", reason={})


def _attr(value):
    kind = {int: "int", float: "float", str: "string"}[type(value)]
    return [kind, [value]]


values = st.one_of(st.integers(-(2**40), 2**40), st.floats(allow_nan=False), st.text(max_size=8))
#: one change between two packings: set an attribute (new or existing), remove one, or several new
changes = st.lists(
    st.tuples(st.sampled_from(["set", "remove", "many"]), st.integers(0, 200), values), min_size=1, max_size=30
)


@settings(max_examples=30, deadline=None)
@given(start=st.integers(0, 150), steps=changes)
def test_a_repacked_detail_is_the_packed_detail(start, steps):
    packer = repack.RowPacker()
    attrs = {f"a{i}": _attr(i) for i in range(start)}
    item = _item(attrs)
    assert packer.detail(item) == tables.item_detail(item)
    for what, n, value in steps:
        if what == "set":
            attrs[f"a{n}"] = _attr(value)  # a new name at the end, or a value replaced in place of the old
        elif what == "remove":
            attrs.pop(f"a{n}", None)
        else:
            for i in range(n % 7):
                attrs[f"b{n}_{i}"] = _attr(value)
        assert packer.detail(item) == tables.item_detail(item)


@settings(max_examples=30, deadline=None)
@given(start=st.integers(0, 150), steps=changes, told=st.lists(st.booleans(), min_size=30, max_size=30))
def test_a_detail_repacked_from_notes_is_the_packed_detail(start, steps, told):
    """As the cook's recorder tells it: ``note`` for an attribute set, ``forget`` for anything else
    (here a removal, or a set it did not note); the dict replaced by another is found out alone."""
    packer = repack.RowPacker(told=True)
    item = _item({f"a{i}": _attr(i) for i in range(start)})
    assert packer.detail(item) == tables.item_detail(item)
    for (what, n, value), noted in zip(steps, told, strict=False):
        attrs = item.attrs
        if what == "set":
            attrs[f"a{n}"] = _attr(value)
            packer.note("i1", f"a{n}") if noted else packer.forget("i1")
        elif what == "remove":
            if attrs.pop(f"a{n}", None) is not None:
                packer.forget("i1")
        elif noted:
            for i in range(n % 7):
                attrs[f"b{n}_{i}"] = _attr(value)
                packer.note("i1", f"b{n}_{i}")
        else:  # the item made again: a new dict, the same names and more
            item.attrs = {**attrs, f"c{n}": _attr(value)}
        assert packer.detail(item) == tables.item_detail(item)


def test_only_the_last_packed_items_are_remembered(monkeypatch):
    monkeypatch.setattr(repack, "MAX_ITEMS", 3)
    packer = repack.RowPacker()
    for k in range(5):
        item = Item(f"i{k}", "g", "n", f"n_{k}", k, [], {f"a{i}": _attr(i) for i in range(100)}, [], [], "cooking")
        assert packer.detail(item) == tables.item_detail(item)
    assert list(packer._packed) == ["i2", "i3", "i4"]


def test_one_report_per_flush_keeps_the_tables_the_fold_of_the_log(tmp_path):
    """A job's 300 attributes, one flush each, some set again, beside a second item's."""
    log, rec = _record(tmp_path)
    for n in range(300):
        rec.emit(ev.WorkItemAttribSet, item_id="i0", name=f"a{n}", attr=["int", [n]])
        if n % 7 == 0:
            rec.emit(ev.WorkItemAttribSet, item_id="i0", name=f"a{n // 2}", attr=["string", [f"again {n}"]])
        if n % 3 == 0:
            rec.emit(ev.WorkItemAttribSet, item_id="i1", name=f"b{n}", attr=["float", [n / 3]])
        rec.flush()
    _tables_equal_the_replay(log)
    log.close()
