"""A request to the log appender (``pdgstore.appender.request``) is written in pieces: a long
payload of an appended row is sent as the very bytes object the row holds, never copied into the
header's buffer, and the pieces joined are the header packed whole, as the appender reads it."""

from __future__ import annotations

import io

import msgpack
from hypothesis import given, settings
from hypothesis import strategies as st

from pdgstore import appender

#: payload sizes around every msgpack bin header (bin 8, 16, 32) and the piece threshold
SIZES = st.sampled_from([0, 1, 255, 256, 65_535, 65_536, 70_000])


def _row(seq: int, size: int) -> tuple:
    return (seq, 1_700_000_000_000_000_000 + seq, 3, "wide", "WorkItemCooked", f"item{seq}", bytes([seq % 251]) * size)


@settings(max_examples=60, deadline=None)
@given(st.lists(SIZES, max_size=8), st.booleans(), st.sampled_from([0, 1, 300]))
def test_the_pieces_joined_are_the_request_packed_whole(sizes, extra, piece_from):
    rows = [_row(seq, size) for seq, size in enumerate(sizes, 1)]
    header = ["append", rows, [("prepared", 1)], [("batch", b"x" * 10)]] if extra else ["append", rows]
    tail = b""
    original = appender.PIECE_FROM
    appender.PIECE_FROM = piece_from or original
    try:
        pieces = appender.request(header, tail)
    finally:
        appender.PIECE_FROM = original
    whole = msgpack.packb(header, use_bin_type=True)
    assert b"".join(pieces) == appender.LENGTH.pack(len(whole)) + whole + appender.LENGTH.pack(0)
    header_read, tail_read = appender.read_request(io.BytesIO(b"".join(pieces)))
    assert header_read == msgpack.unpackb(whole, use_list=False) and tail_read == b""
    assert appender.header_of(pieces) == (header_read, tail_read)
    long_payloads = [row[-1] for row in rows if len(row[-1]) >= (piece_from or original)]
    sent_as_they_are = [piece for piece in pieces if any(piece is payload for payload in long_payloads)]
    assert len(sent_as_they_are) == len(long_payloads)  # not copied into the header's buffer


def test_a_snapshot_is_its_own_piece():
    snapshot = b"s" * 100_000
    pieces = appender.request(["snapshot", 7], snapshot)
    assert pieces[-1] is snapshot
    assert appender.header_of(pieces) == (("snapshot", 7), snapshot)
