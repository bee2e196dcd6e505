"""Signatures are recorded with every result and compared on the next cook: a change to how they
are computed reruns every item of every store once. These values pin them (they must only change
with a deliberate format change, said in the release notes)."""

from __future__ import annotations

from types import SimpleNamespace

import msgpack
import pytest
import xxhash
from pdgstore.engine.incremental import signatures as incremental

A = ["in/a.txt", "file/text", 5, 1, "aa"]
B = ["in/b.txt", "file/text", 6, 2, "bb"]


def _member(i: int, attrs: dict) -> SimpleNamespace:
    return SimpleNamespace(item_id=f"id{i}", attrs=attrs,
                           outputs=[[f"out1/f{i}.txt", "file/text", 61, 1_700_000_000_000_000_000 + i, f"{i:016x}"]])


def test_item_signatures_are_stable():
    assert incremental.item_signature("fp", {"n": ["int", [1]]}, [A], [A]) == "6a6f81898a96efb9"
    assert incremental.item_signature("fp", {}, [A, B]) == "5ccf8440028e1495"


def test_partition_signatures_are_stable():
    members = [_member(1, {}), _member(2, {"w": ["int", [3]]})]
    assert incremental.partition_signature("fp", {"k": ["string", ["x"]]}, members) == "3fc25bdcde4c1325"


def test_signatures_ignore_mtime_and_size_but_not_content():
    touched = [A[0], A[1], 99, 12345, A[4]]
    assert incremental.item_signature("fp", {}, [touched]) == incremental.item_signature("fp", {}, [A])
    assert incremental.item_signature("fp", {}, [[*A[:4], "ab"]]) != incremental.item_signature("fp", {}, [A])


@pytest.mark.parametrize("count", [0, 1, 15, 16, 17, 65_535, 65_536])
def test_a_partition_signature_fed_a_member_at_a_time_is_the_digest_of_the_whole_list(count):
    """``partition_signature`` hashes its packing a member at a time: the digest is that of the
    whole ``[node, attributes, members]`` list packed at once, at every msgpack array header size
    (fixarray up to 15 members, array 16 up to 65,535, array 32 beyond)."""
    members = [
        SimpleNamespace(
            item_id=f"{i:016x}",
            outputs=[[f"out/{i}.txt", "file/text", 3, 4, f"{i:016x}"]] * (i % 3),
            attrs={"n": ["int", [i]]} if i % 2 else {},
        )
        for i in range(count)
    ]
    attrs = {"k": ["str", ["v"]]} if count % 2 else {}
    whole = [
        "fp",
        sorted(attrs.items()),
        [(m.item_id, [(r[0], r[1], r[4]) for r in m.outputs], sorted(m.attrs.items()) if m.attrs else []) for m in members],
    ]
    expected = xxhash.xxh3_64_hexdigest(msgpack.packb(whole, use_bin_type=True))
    assert incremental.partition_signature("fp", attrs, members) == expected


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
