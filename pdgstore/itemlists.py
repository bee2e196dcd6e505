"""An item's long lists in a table of their own (schema 3): ``lists``, keyed by (item, list, chunk).

Why: a partition's parents and outputs, and the inputs of the item a gather makes, hold one entry
per member: 100,000 at W(100,000), a million at W(1,000,000). Kept in the item's row, they made
every state change of that item (scheduled, cooking, cooked, dirty) rewrite the whole row (SQLite
writes a row whole when any column changes: 5.5 MB through the WAL at W(100,000)), and every read
of the item (``pdg show``, ``pdg explain``, a listing of its node) decode them. Now a list of
``LISTED_FROM`` entries or more lives here, in chunks of ``CHUNK`` entries, and the item's row
holds only its length (an integer where the list would be). A state change writes the small row;
a list that changes rewrites only the chunks that differ; a read decodes what it shows.

Table::

    lists(item_id TEXT, field TEXT,     -- the item, and which list: parents, inputs or outputs
          chunk INTEGER,                -- entries [chunk * CHUNK, (chunk + 1) * CHUNK)
          body BLOB,                    -- msgpack array of those entries
          PRIMARY KEY (item_id, field, chunk))

The chunks of a list are a function of the list alone (cut every ``CHUNK`` entries from the
first), so the fold of the log from zero writes the same rows as the live fold, however the list
got there, and ``pdg check`` compares them row by row like any other table.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator

import msgpack

from pdgstore.codec import LazyList
from pdgstore.inserts import chunks

#: lists this long or longer live in ``lists``; shorter ones stay in the item's row
LISTED_FROM = 64
#: entries per row of ``lists``
CHUNK = 512
#: the lists an item may keep here: (field, which blob of the item's row, position in that blob)
FIELDS: dict[str, tuple[str, int]] = {"outputs": ("body", 1), "parents": ("detail", 0), "inputs": ("detail", 2)}

LISTS_SQL = """
CREATE TABLE lists (item_id TEXT NOT NULL, field TEXT NOT NULL, chunk INTEGER NOT NULL, body BLOB NOT NULL,
                    PRIMARY KEY (item_id, field, chunk));
"""

_pack = msgpack.Packer(use_bin_type=True).pack


def _unpack(blob: bytes):
    return msgpack.unpackb(blob, raw=False, strict_map_key=False)


def read_chunks(conn: sqlite3.Connection, item_id: str, field: str, limit: int | None = None) -> Iterator[list]:
    """The item's list ``field`` from ``lists``, a stored chunk at a time, in order (only the
    chunks that hold its first ``limit`` entries, when ``limit`` is given)."""
    sql = "SELECT body FROM lists WHERE item_id = ? AND field = ?"
    args: list = [item_id, field]
    if limit is not None:
        sql += " AND chunk < ?"
        args.append(-(-limit // CHUNK))
    for (body,) in conn.execute(sql + " ORDER BY chunk", args):
        yield _unpack(body)


def read_list(conn: sqlite3.Connection, item_id: str, field: str, limit: int | None = None) -> list:
    """The item's list ``field`` from ``lists`` (its first ``limit`` entries, reading only the
    chunks that hold them, when ``limit`` is given)."""
    values: list = []
    for chunk in read_chunks(conn, item_id, field, limit):
        values += chunk
    return values if limit is None else values[:limit]


class Stored:
    """A long list of an item, left in ``lists`` until something reads it: the fold (which reads
    a list only to resolve a patch or add an output) and the read model (``pdg explain`` never
    reads one; ``pdg show`` reads the head it prints) hold these instead of the entries.

    A read-only sequence: ``len`` is known from the row; indexing, slicing and iterating read the
    chunks from ``conn`` (a slice from the start reads only the chunks it needs). It is read
    through the connection it came from, so it is used inside the read (or write) it was made in."""

    __slots__ = ("conn", "item_id", "field", "count", "_values")

    def __init__(self, conn: sqlite3.Connection, item_id: str, field: str, count: int) -> None:
        self.conn, self.item_id, self.field, self.count = conn, item_id, field, count
        self._values: list | None = None

    def chunks(self) -> Iterator[list]:
        """The entries a stored chunk at a time, in order, none of them kept: a reader that looks
        at each entry once (``pdg check``'s comparison) holds a chunk, not a million entries."""
        if self._values is not None:
            yield self._values
            return
        yield from read_chunks(self.conn, self.item_id, self.field)

    def decode(self) -> list:
        """Every entry, as a list (read once)."""
        if self._values is None:
            self._values = read_list(self.conn, self.item_id, self.field)
        return self._values

    def __len__(self) -> int:
        return self.count

    def __iter__(self) -> Iterator:
        return iter(self.decode())

    def __getitem__(self, index):
        if type(index) is slice and self._values is None and index.start in (None, 0) and index.step in (None, 1):
            stop = self.count if index.stop is None else index.stop
            if 0 <= stop < self.count:
                return read_list(self.conn, self.item_id, self.field, stop)
        return self.decode()[index]

    def __eq__(self, other) -> bool:
        if type(other) is Stored:
            return self is other or self.decode() == other.decode()
        return self.decode() == other

    __hash__ = None  # type: ignore[assignment]  # a list's: unhashable

    def __repr__(self) -> str:
        return f"Stored({self.item_id!r}, {self.field!r}, {self.count} entries)"


class Spliced(LazyList):
    """A long list left in ``lists`` with entries replaced, as a patched event's fold leaves it
    (``pdgstore.patches``: a partition whose one member changed): a sequence read whole only when
    something reads it, and ``write`` rewrites only the chunks the replacements touch, not every
    chunk of a million entries. Replacing entries by the same entries twice gives the same list,
    so it reads right whether its base's rows still hold the list before the change or after it."""

    __slots__ = ("base", "patch")

    def __init__(self, base: Stored, patch: list) -> None:
        super().__init__(len(base))
        self.base, self.patch = base, patch  # patch: [[start, stop, entries], ...], each stop - start long

    def _make(self) -> list:
        values = list(self.base.decode())  # a copy: the base's own list stays as it was read
        for start, stop, entries in self.patch:
            values[start:stop] = entries
        return values


def as_list(values) -> list:
    """A list, or one left where it was (a ``Stored`` one, or an event's ``codec.PackedList``), as a list."""
    return values if isinstance(values, list) else values.decode()


def entries(values) -> Iterator:
    """Each entry of a list, or of a ``Stored`` one a chunk at a time, none of them kept: a reader
    that looks at each entry once (a sum of sizes, an export's row) holds a chunk, not a million
    entries."""
    if type(values) is Stored:
        for chunk in values.chunks():
            yield from chunk
    else:
        yield from values


def inline(values):
    """What an item's row holds for a list: the list when it is short, else its length."""
    return len(values) if len(values) >= LISTED_FROM else values


def restored(conn: sqlite3.Connection, item_id: str, field: str, held, *, lazy: bool):
    """A list as the item's row held it (``inline``): the list, or, for a length, the list from
    ``lists`` (``lazy``: a ``Stored`` that reads it when asked)."""
    if type(held) is not int:
        return held
    return Stored(conn, item_id, field, held) if lazy else read_list(conn, item_id, field)


def chunk_bodies(values: list) -> list[bytes]:
    return [_pack(values[at : at + CHUNK]) for at in range(0, len(values), CHUNK)]


def write(conn: sqlite3.Connection, item_id: str, field: str, old, new) -> None:
    """Bring the rows of the item's list ``field`` from ``old`` (as the fold loaded it: a list, a
    ``Stored`` or None for a new item) to ``new``. A ``Stored`` left as it was loaded is the list
    unchanged; a changed list rewrites only the chunks that differ from those stored."""
    if type(new) is Stored:
        return  # the row's own list, never read for a change
    if type(new) is Spliced and new.base is old and new._values is None and _write_spliced(conn, item_id, field, new):
        return
    stored = type(old) is Stored
    if len(new) < LISTED_FROM:
        if stored:
            conn.execute("DELETE FROM lists WHERE item_id = ? AND field = ?", (item_id, field))
        return
    bodies = chunk_bodies(new)
    have: dict[int, bytes] = {}
    if stored:
        sql = "SELECT chunk, body FROM lists WHERE item_id = ? AND field = ?"
        have = dict(conn.execute(sql, (item_id, field)).fetchall())
    conn.executemany(
        "INSERT OR REPLACE INTO lists VALUES (?, ?, ?, ?)",
        [(item_id, field, i, body) for i, body in enumerate(bodies) if have.get(i) != body],
    )
    if len(have) > len(bodies):
        conn.execute("DELETE FROM lists WHERE item_id = ? AND field = ? AND chunk >= ?", (item_id, field, len(bodies)))


def _write_spliced(conn: sqlite3.Connection, item_id: str, field: str, new: Spliced) -> bool:
    """Rewrite the chunks of the item's list ``field`` that ``new``'s replacements touch, from
    their rows (which hold ``new.base``); False, with nothing written, when a row is missing."""
    touched: dict[int, list] = {}
    for start, stop, _entries in new.patch:
        for chunk in range(start // CHUNK, (stop - 1) // CHUNK + 1):
            touched.setdefault(chunk, [])
    sql = "SELECT body FROM lists WHERE item_id = ? AND field = ? AND chunk = ?"
    for chunk in touched:
        row = conn.execute(sql, (item_id, field, chunk)).fetchone()
        if row is None:
            return False
        touched[chunk] = _unpack(row[0])
    for start, stop, entries in new.patch:
        for at in range(start, stop):
            touched[at // CHUNK][at % CHUNK] = entries[at - start]
    conn.executemany(
        "UPDATE lists SET body = ? WHERE item_id = ? AND field = ? AND chunk = ?",
        [(_pack(values), item_id, field, chunk) for chunk, values in touched.items()],
    )
    return True


def forget(conn: sqlite3.Connection, item_id: str) -> None:
    """Delete the lists of an item that is gone."""
    conn.execute("DELETE FROM lists WHERE item_id = ?", (item_id,))


def forget_field(conn: sqlite3.Connection, item_ids: list[str], field: str) -> None:
    """Delete the list ``field`` of each of ``item_ids`` from ``lists`` (the items' rows hold it
    now, or nothing), looking for those that have one a chunk of ids a query: most have none."""
    for chunk in chunks(item_ids):
        sql = f"SELECT DISTINCT item_id FROM lists WHERE field = ? AND item_id IN ({','.join('?' * len(chunk))})"
        listed = conn.execute(sql, (field, *chunk)).fetchall()
        if listed:
            conn.executemany("DELETE FROM lists WHERE item_id = ? AND field = ?", [(i, field) for (i,) in listed])


def move_long_lists(conn: sqlite3.Connection) -> int:
    """Schema 2 -> 3, in place: move every list of ``LISTED_FROM`` entries or more out of the
    ``items`` rows into ``lists``, leaving its length in the row. Rows too short to hold such a
    list (every msgpack value takes a byte at least) are not decoded. Returns the items changed."""
    sql = (
        "SELECT ord, item_id, body, detail FROM items WHERE ord > ? AND (length(body) >= ? OR length(detail) >= ?)"
        " ORDER BY ord LIMIT 1000"
    )
    moved, last = 0, -1
    while rows := conn.execute(sql, (last, LISTED_FROM, LISTED_FROM)).fetchall():  # a page at a time
        last = rows[-1][0]
        for ord_, item_id, body_blob, detail_blob in rows:
            blobs = {"body": _unpack(body_blob), "detail": _unpack(detail_blob)}
            changed = False
            for field, (blob, position) in FIELDS.items():
                values = blobs[blob][position]
                if type(values) is list and len(values) >= LISTED_FROM:
                    write(conn, item_id, field, None, values)
                    blobs[blob][position] = len(values)
                    changed = True
            if changed:
                moved += 1
                conn.execute(
                    "UPDATE items SET body = ?, detail = ? WHERE ord = ?",
                    (_pack(blobs["body"]), _pack(blobs["detail"]), ord_),
                )
    return moved
