"""Items of a compacted log's base snapshot, read one pass at a time, only those asked for.

Why: after ``pdg compact`` the log no longer holds the first events of the items generated before
its base (``EventLog.base_seq``); time travel (``pdgstore.timetravel``) folds an item at a point
after the base from its state there. The snapshot is one msgpack map (``State.pack``: the graphs,
cooks, registry and jobs, then the items in generation order); decoding it is the whole state in
memory. Read through SQLite's blob I/O with the unpacker skipping what is not asked for, a pass
holds only the items asked for (``skip`` is C: 200,000 items of W(100,000) in 0.1 s). Passes go
forward: asked for items in generation order, as time travel asks chunk after chunk, the reader
goes on from where it stopped; an item it has passed starts it again from the beginning.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterator
from typing import Any

import msgpack

from pdgstore.errors import StoreRefused
from pdgstore.snapshots import SNAPSHOT_VERSION
from pdgstore.state import Item, State

#: the ids seen before an item, kept to place one no longer in the tables (``BaseItems.items``)
BEHIND = 64


class BaseItems:
    """The items of the snapshot at ``seq`` (the compaction base) of ``conn``'s log."""

    def __init__(self, conn, seq: int) -> None:
        self.conn, self.seq = conn, seq
        row = conn.execute("SELECT rowid FROM snapshots WHERE seq = ? AND v = ?", (seq, SNAPSHOT_VERSION)).fetchone()
        self.rowid = row[0] if row else None
        self._blob: Any = None
        self._unpacker: Any = None
        self._left = 0
        self._behind: deque[str] = deque(maxlen=BEHIND)

    def _open(self):
        """The snapshot, open from its start (its blob read a piece at a time)."""
        self.close()
        if self.rowid is None:
            raise StoreRefused(f"the store's compaction base snapshot at seq {self.seq} is missing")
        self._blob = self.conn.blobopen("snapshots", "state", self.rowid, readonly=True)
        self._unpacker = msgpack.Unpacker(self._blob, raw=False, strict_map_key=False, max_buffer_size=1 << 30)
        self._behind.clear()
        return self._unpacker

    def _part(self, name: str) -> int:
        """Open the snapshot and read up to its part ``name`` (a map): how many entries it holds."""
        unpacker = self._open()
        for _ in range(unpacker.read_map_header()):
            if unpacker.unpack() == name:
                return unpacker.read_map_header()
            unpacker.skip()
        return 0

    def items(self, ids) -> tuple[dict[str, Item], dict[str, list[str]]]:
        """(id -> ``Item`` at the base, of those of ``ids`` it holds; id -> the ids the snapshot
        holds just before it, nearest last: where a caller places an item gone from the tables)."""
        need = set(ids)
        found: dict[str, Item] = {}
        before: dict[str, list[str]] = {}
        for attempt in range(2):
            unpacker = self._unpacker
            while need and self._left:
                self._left -= 1
                key = unpacker.unpack()
                if key in need:
                    found[key] = Item(*unpacker.unpack())
                    before[key] = list(self._behind)
                    need.discard(key)
                else:
                    unpacker.skip()
                self._behind.append(key)
            if not need or attempt or not ids:
                break
            self._left = self._part("items")  # some were passed: from the beginning
        return found, before

    def named(self, ids, name: str) -> set[str]:
        """Those of ``ids`` that the base names ``name`` (a pass of its own, keeping only them)."""
        items = self._entries("items", ids)
        return {key for key, values in items if values[3] == name}  # Item.PLAIN: item_id, graph, node, name

    def without_items(self) -> State:
        """The base's graphs, cooks and registry (the small parts), without its items or jobs."""
        unpacker = self._open()
        parts: dict = {"items": {}, "jobs": {}}
        for _ in range(unpacker.read_map_header()):
            name = unpacker.unpack()
            if name in parts:
                unpacker.skip()
            else:
                parts[name] = unpacker.unpack()
        self.close()
        return State.from_plain(parts)

    def jobs(self, ids) -> dict[str, list]:
        """id -> the item's job at the base, of those of ``ids`` that had one (a pass of its own)."""
        return dict(self._entries("jobs", ids))

    def _entries(self, part: str, ids) -> Iterator[tuple[str, Any]]:
        """(key, value) of the entries of map ``part`` keyed by one of ``ids``, one pass, the
        others skipped."""
        need = set(ids)
        count = self._part(part)
        unpacker = self._unpacker
        for _ in range(count):
            if not need:
                break
            key = unpacker.unpack()
            if key in need:
                need.discard(key)
                yield key, unpacker.unpack()
            else:
                unpacker.skip()
        self.close()

    def close(self) -> None:
        if self._blob is not None:
            self._blob.close()
        self._blob = self._unpacker = None
        self._left = 0
