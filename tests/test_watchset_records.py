"""The watch set keeps each watched file's record small (``WatchSet._kept``) and counts the items
holding a file only beyond the first (``WatchSet.shared``): what it gives back must be what it took."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pdgstore.engine.live.watchset import WatchSet

pytestmark = pytest.mark.timeout(120)

ROOT = "/project"

values = st.one_of(st.integers(-(2**70), 2**70), st.text(max_size=20), st.none(), st.floats(allow_nan=False))
records = st.builds(
    lambda name, tag, size, mtime_ns, digest, more: [f"out/{name}.txt", tag, size, mtime_ns, digest, *more],
    st.text("abc", min_size=1, max_size=5),
    st.sampled_from(["file/text", "file/image", "file"]),
    st.one_of(st.integers(0, 2**63 - 1), values),
    st.one_of(st.integers(-(2**63), 2**63 - 1), values),
    st.one_of(st.text(max_size=70), values),
    st.lists(values, max_size=1),
)


@settings(max_examples=200, deadline=None)
@given(st.lists(records, max_size=8))
def test_a_kept_record_reads_back_as_the_store_gave_it(recs):
    ws = WatchSet(ROOT)
    for rec in recs:
        ws._hold(rec[0], ws._record([rec], [], has_parents=True))
    expected = {f"{ROOT}/{rec[0]}": rec for rec in recs}  # the last record of a path wins
    assert {path: ws.record(path) for path in ws.records} == expected
    assert ws.record(f"{ROOT}/none.txt") is None


def test_a_file_two_items_hold_stays_watched_until_both_let_go():
    ws = WatchSet(ROOT)
    rec = ["out/a.txt", "file/text", 3, 10, "abc"]
    other = ["out/b.txt", "file/text", 4, 11, "def"]
    ws._hold("one", ws._record([rec], [], has_parents=True))
    ws._hold("two", ws._record([rec, other], [], has_parents=True))
    assert ws.shared == {f"{ROOT}/out/a.txt": 1}
    assert not ws._release("one")
    assert ws.record(f"{ROOT}/out/a.txt") == rec and ws.shared == {}
    assert ws._release("two")  # the folder emptied
    assert ws.records == {} and ws.by_dir == {}


def test_a_record_kept_small_is_far_smaller_than_its_values():
    import sys

    ws = WatchSet(ROOT)
    kept = ws._kept(["out/a.txt", "file/text", 12_345, 1_733_000_000_123_456_789, "0123456789abcdef"])
    assert type(kept) is bytes and sys.getsizeof(kept) < 80
