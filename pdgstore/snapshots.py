"""Snapshots of the state: how one is packed, written in pieces, and which old ones are kept.

A snapshot is the folded state at one seq, so that loading the state replays only the events after
it. Packing and thinning are decisions about the snapshot format, apart from the log that stores the
bytes; ``pdgstore.compact`` writes its base snapshot with the same ``write_blob``.
"""

from __future__ import annotations

import sqlite3

import msgpack

from pdgstore import tables
from pdgstore.state import State

SNAPSHOT_VERSION = 2  # 2: items carry signature and reason; transfers
#: older snapshots are thinned to at most one per this many events, so the state at any point of a
#: long log is one snapshot plus at most this many events of replay away (``state_at``)
SNAPSHOT_SPACING = 100_000


def pack_snapshot(state: State) -> memoryview:
    """The snapshot of ``state``: msgpack of ``State.to_plain()``, packed item by item (a view of
    the packer's buffer, not a copy: a snapshot of 20,000 items is 5 MB)."""
    packer = msgpack.Packer(use_bin_type=True, autoreset=False)
    state.pack(packer)
    return packer.getbuffer()


def pack_from_tables(conn: sqlite3.Connection, seq: int) -> memoryview:
    """The snapshot of the state the projection tables of ``conn`` hold (the log's end, ``seq``):
    byte for byte what ``pack_snapshot`` makes of that state, packed item by item as the rows come,
    so no ``State`` of every item is ever made. The log appender writes a cook's snapshot this way,
    in its own process: the cook never holds a second copy of its state for a snapshot."""
    state = tables.read_state(conn, seq, items=False)
    plain = state.to_plain(items=False)
    packer = msgpack.Packer(use_bin_type=True, autoreset=False)
    packer.pack_map_header(len(plain) + 1)
    for key, value in plain.items():
        packer.pack(key)
        packer.pack(value)
    packer.pack("items")
    packer.pack_map_header(conn.execute("SELECT count(*) FROM items").fetchone()[0])
    pack, values = packer.pack, tables.item_values
    for row in conn.execute(f"SELECT {tables.ITEM_COLUMNS} FROM items ORDER BY ord"):
        pack(row[1])
        pack(values(row, conn))  # ``Item.PLAIN``'s values, as ``State.pack`` packs each item
    return packer.getbuffer()


def write_blob(conn: sqlite3.Connection, table: str, column: str, rowid: int, data, insert: str, args: tuple) -> None:
    """Insert a row whose ``column`` is ``zeroblob(len(data))`` and fill it in 1 MiB pieces through
    SQLite's incremental blob I/O: binding a large blob makes SQLite copy it whole (a snapshot of
    20,000 items cost 15 MB of peak memory that way), writing it in pieces does not."""
    conn.execute(insert, args)
    view = memoryview(data)
    with conn.blobopen(table, column, rowid) as blob:
        for start in range(0, len(view), 1 << 20):
            blob.write(view[start : start + (1 << 20)])


def kept_snapshots(seqs: list[int], keep: int, base: int) -> set[int]:
    """Which of the snapshots at ``seqs`` (ascending) to keep: the ``keep`` newest, the compaction
    base, and older ones thinned to one per ``SNAPSHOT_SPACING`` events (time travel starts from them)."""
    kept = set(seqs[-keep:]) | {base}
    last = None
    for seq in seqs:
        if last is None or seq - last >= SNAPSHOT_SPACING:
            kept.add(seq)
            last = seq
    return kept
