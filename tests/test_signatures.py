"""Signatures are recorded with every result and compared on the next cook: a change to how they
are computed reruns every item of every store once. These values pin them (they must only change
with a deliberate format change, said in the release notes)."""

from __future__ import annotations

from types import SimpleNamespace

import msgpack
import pytest
import xxhash
from hypothesis import given, settings
from hypothesis import strategies as st
from pdgstore.engine.incremental import signatures as incremental

A = ["in/a.txt", "file/text", 5, 1, "aa"]
B = ["in/b.txt", "file/text", 6, 2, "bb"]


def _member(i: int, attrs: dict) -> SimpleNamespace:
    return SimpleNamespace(
        item_id=f"id{i}",
        attrs=attrs,
        outputs=[[f"out1/f{i}.txt", "file/text", 61, 1_700_000_000_000_000_000 + i, f"{i:016x}"]],
    )


def test_item_signatures_are_stable():
    assert incremental.item_signature("fp", {"n": ["int", [1]]}, [A], [A]) == "6a6f81898a96efb9"
    assert incremental.item_signature("fp", {}, [A, B]) == "5ccf8440028e1495"


def test_partition_signatures_are_stable():
    members = [_member(1, {}), _member(2, {"w": ["int", [3]]})]
    assert incremental.partition_signature("fp", {"k": ["string", ["x"]]}, members) == "m3:61f5f7fda2b71f06"


def test_signatures_ignore_mtime_and_size_but_not_content():
    touched = [A[0], A[1], 99, 12345, A[4]]
    assert incremental.item_signature("fp", {}, [touched]) == incremental.item_signature("fp", {}, [A])
    assert incremental.item_signature("fp", {}, [[*A[:4], "ab"]]) != incremental.item_signature("fp", {}, [A])


def _members(count: int) -> list:
    return [
        SimpleNamespace(
            item_id=f"{i:016x}",
            outputs=[[f"out/{i}.txt", "file/text", 3, 4, f"{i:016x}"]] * (i % 3),
            attrs={"n": ["int", [i]]} if i % 2 else {},
        )
        for i in range(count)
    ]


@pytest.mark.parametrize("count", [0, 1, 2, 17, 1000])
def test_a_partition_signature_is_the_sum_of_its_terms(count):
    """A partition's signature: the 64-bit sum of the partition's term (node, own attributes, how
    many members) and each member's (its place, id, files and attributes), under its scheme's prefix."""
    members = _members(count)
    attrs = {"k": ["str", ["v"]]} if count % 2 else {}
    base = xxhash.xxh3_64_intdigest(
        msgpack.packb((incremental.PARTITION_SCHEME, "fp", sorted(attrs.items()), count), use_bin_type=True)
    )
    total = base + sum(
        xxhash.xxh3_64_intdigest(
            msgpack.packb(
                (i, m.item_id, [(r[0], r[1], r[4]) for r in m.outputs], sorted(m.attrs.items()) if m.attrs else []),
                use_bin_type=True,
            )
        )
        for i, m in enumerate(members)
    )
    assert incremental.partition_signature("fp", attrs, members) == f"m3:{total % 2**64:016x}"


@given(st.lists(st.tuples(st.integers(0, 29), st.integers(0, 3), st.booleans()), min_size=1, max_size=8))
@settings(max_examples=60, deadline=None)
def test_a_patched_partition_signature_is_the_signature_made_again(changes):
    """Members changed in place (their files, their attributes), one or several times each: the
    signature patched member by member equals the one made again from every member."""
    members = _members(30)
    signature = incremental.partition_signature("fp", {}, members)
    for index, files, attrs_changed in changes:
        before = members[index]
        after = SimpleNamespace(
            item_id=before.item_id,
            outputs=[[f"out/{index}.txt", "file/text", 3, 4, f"{files:016x}"]] * files,
            attrs={"changed": ["int", [index]]} if attrs_changed else before.attrs,
        )
        members[index] = after
        signature = incremental.patched_partition_signature(signature, [(index, before, after)])
    assert signature == incremental.partition_signature("fp", {}, members)


def test_a_signature_of_the_scheme_before_is_not_patched():
    member = _members(1)[0]
    assert incremental.patched_partition_signature("3fc25bdcde4c1325", [(0, member, member)]) is None
    assert incremental.patched_partition_signature("m2:not-hex", [(0, member, member)]) is None


@pytest.mark.parametrize("inputs", [0, 1, 15, 16, 1_023, 1_024, 65_535, 65_536])
@pytest.mark.parametrize("outputs", [0, 3, 2_000])
def test_an_item_signature_fed_a_file_at_a_time_is_the_digest_of_the_whole_list(inputs, outputs):
    """``item_signature`` of an item with a long list of files (a gather's, ``STREAM_FROM`` or
    more) hashes its packing a file at a time: the digest is that of the whole ``[node, attributes,
    inputs, outputs]`` list packed at once, at every msgpack array header size."""
    records = [[f"in/{i}.txt", "file/text", 3, 4, f"{i:016x}"] for i in range(max(inputs, outputs))]
    attrs = {"n": ["int", [inputs]]} if inputs % 2 else {}
    whole = [
        "fp",
        sorted(attrs.items()),
        [(r[0], r[1], r[4]) for r in records[:inputs]],
        [(r[0], r[1], r[4]) for r in records[:outputs]] if outputs else None,
    ]
    expected = xxhash.xxh3_64_hexdigest(msgpack.packb(whole, use_bin_type=True))
    assert incremental.item_signature("fp", attrs, records[:inputs], records[:outputs]) == expected
