"""``pdg check``'s proof: a replay of the log from zero gives exactly what the tables hold, and the
newest snapshot is the state at its seq. Streamed, so memory stays bounded on any store.

The replay folds the log into a scratch database (the same ``tables.fold_rows`` batches a cook
writes, ``tablefill.rebuild``), in a temporary folder; then the scratch tables and the store's are
read side by side in key order and compared row by row. The newest snapshot is read piece by
piece (SQLite's incremental blob I/O into a msgpack ``Unpacker``) and compared, item by item, with
the scratch tables at its seq. Nothing holds every item at once: the compaction base (a snapshot the
replay must start from, when the log was compacted) is written into them a chunk at a time.
"""

from __future__ import annotations

import sqlite3
import time
from dataclasses import dataclass
from itertools import zip_longest

import msgpack

from pdgstore import itembatch, itemlists, tablefill, tables
from pdgstore.log import EventLog
from pdgstore.snapshots import SNAPSHOT_VERSION
from pdgstore.state import Item, State, first_difference
from pdgstore.tablefill import Report

#: rows folded per transaction of the scratch replay
BATCH = 20_000
#: items or rows compared between two words to the caller's ``report``
REPORT_EVERY = 10_000


@dataclass
class Verdict:
    difference: str | None
    #: the events replayed: those the log holds after its compaction base (the base is the snapshot
    #: the replay starts from), a batch counted as the items it stands for, as pdg stats and pdg events count
    events: int
    replay_s: float


def check(log: EventLog, report: Report | None = None) -> Verdict:
    """Replay ``log`` from zero into scratch tables and compare them with the store's tables and
    its newest snapshot; the first difference as a sentence, or None. A stored event or snapshot
    that cannot be read is the store's error (``EventLog._errors``: one sentence). ``report``
    hears how far each part got, a chunk at a time (a minute at W(100,000) after ten cooks)."""
    with log.read_errors():
        return _check(log, report)


def _check(log: EventLog, report: Report | None) -> Verdict:
    base = log.base_seq()
    if base and not log.has_snapshot(base):
        return Verdict(f"its compaction base snapshot at seq {base} is missing", 0, 0.0)
    row = log.conn.execute(
        "SELECT max(seq) FROM snapshots WHERE v = ? AND seq > ?", (SNAPSHOT_VERSION, base)
    ).fetchone()
    snapshot_seq = row[0] or 0
    with tablefill.scratch("check") as scratch:
        t0 = time.perf_counter()
        events = tablefill.rebuild(scratch, log.conn, base, until=snapshot_seq or None, batch=BATCH, report=report)
        difference = None
        if snapshot_seq:
            difference = compare_snapshot(log, snapshot_seq, scratch, report)
        after = snapshot_seq or base
        if snapshot_seq:
            events += tablefill.fold_log(scratch, log.conn, after, None, batch=BATCH, report=report)
        replay_s = time.perf_counter() - t0
        rows, items = itembatch.batch_counts(log.conn, base)
        events += items - rows  # the events the log holds after its base, as pdg stats counts them
        if difference is None:
            difference = compare_tables(log.conn, scratch, ordered=not base, report=report)
    return Verdict(difference, events, replay_s)


def compare_tables(
    store: sqlite3.Connection, replayed: sqlite3.Connection, *, ordered: bool = True, report: Report | None = None
) -> str | None:
    """The first row in which the store's tables and the replayed ones differ, or None.
    ``ordered``: compare the items' and nodes' order numbers too (not after a compaction, which
    folds the history that numbered them). ``report``: hears the rows compared, per table."""
    for table, key in tables.TABLES.items():
        columns = "*"
        if table in ("items", "nodes") and not ordered:
            columns = tables.ITEM_COLUMNS.replace("ord, ", "") if table == "items" else "graph, node"
        sql = f"SELECT {columns} FROM {table} ORDER BY {key}"
        names = None
        for at, (mine, theirs) in enumerate(zip_longest(store.execute(sql), replayed.execute(sql)), 1):
            if report is not None and at % REPORT_EVERY == 0:
                report(f"comparing the {table} table", at, 0)
            if mine == theirs:
                continue
            if names is None:
                names = [d[0] for d in store.execute(sql + " LIMIT 0").description]
            return _row_difference(table, key, names, mine, theirs)
    return None


def _row_difference(table: str, key: str, names: list[str], mine, theirs) -> str:
    if mine is None or (theirs is not None and _key(names, theirs, key) < _key(names, mine, key)):
        return f"{table} {_key(names, theirs, key)} of the replay is missing from the tables"
    if theirs is None or _key(names, mine, key) < _key(names, theirs, key):
        return f"{table} {_key(names, mine, key)} is in the tables but not in the replay"
    for name, a, b in zip(names, mine, theirs):
        if a != b:
            if name in ("body", "detail"):
                a, b = tables.unpack(a), tables.unpack(b)
                if table == "items":
                    fields = tables.BODY if name == "body" else tables.DETAIL
                    a, b = dict(zip(fields, a)), dict(zip(fields, b))
                diff = first_difference(a, b, f"{table} {_key(names, mine, key)}")
                return f"{diff} (tables != replay)"
            return f"{table} {_key(names, mine, key)}: {name} is {a!r} in the tables, {b!r} in the replay"
    return f"{table} {_key(names, mine, key)} differs"


def _key(names: list[str], row: tuple, key: str) -> tuple:
    return tuple(row[names.index(k.strip())] for k in key.split(","))


def compare_snapshot(log: EventLog, seq: int, replayed: sqlite3.Connection, report: Report | None = None) -> str | None:
    """The first difference between the snapshot at ``seq`` and the replayed tables (at ``seq``),
    the snapshot read piece by piece, or None (``report``: hears the items compared)."""
    rowid = log.conn.execute("SELECT rowid FROM snapshots WHERE seq = ?", (seq,)).fetchone()[0]
    others = tables.read_state(replayed, seq, items=False).to_plain(named=True, items=False)
    with log.conn.blobopen("snapshots", "state", rowid, readonly=True) as blob:
        unpacker = msgpack.Unpacker(blob, raw=False, strict_map_key=False, max_buffer_size=1 << 30)
        for _ in range(unpacker.read_map_header()):
            part = unpacker.unpack()
            if part != "items":
                value = unpacker.unpack()
                if part in ("graphs", "cooks"):
                    value = State.from_plain({"seq": seq, "graphs": {}, "items": {}, "cooks": [], part: value})
                    value = value.to_plain(named=True, items=False)[part]
                diff = first_difference(value, others.get(part), f"snapshot state[{part!r}]")
                if diff:
                    return f"{diff} (snapshot != replay)"
                continue
            count = 0
            # the replay's rows in their order, which is the snapshot's as a rule: one pass, not a
            # query per item (an item met out of that order is looked up alone)
            in_order: sqlite3.Cursor | None = replayed.execute(f"SELECT {tables.ITEM_COLUMNS} FROM items ORDER BY ord")
            held = unpacker.read_map_header()
            for _ in range(held):
                item_id = unpacker.unpack()
                count += 1
                if report is not None and count % REPORT_EVERY == 0:
                    report(f"comparing the snapshot at seq {seq}", count, held)
                row = next(in_order, None) if in_order is not None else None
                if row is None or row[1] != item_id:
                    in_order = None
                    found = tables.load_items(replayed, [item_id])
                    row = found[0] if found else None
                diff = _compare_item(unpacker, item_id, row, replayed)
                if diff:
                    return f"{diff} (snapshot != replay)"
            total = replayed.execute("SELECT count(*) FROM items").fetchone()[0]
            if count != total:
                return f"the snapshot at seq {seq} holds {count} work items, the replay {total}"
    return None


def _compare_item(
    unpacker: msgpack.Unpacker, item_id: str, row: tuple | None, replayed: sqlite3.Connection
) -> str | None:
    """The first difference between the snapshot's next item (its values, ``Item.PLAIN``, read
    from ``unpacker`` one field at a time) and the replay's ``row`` of ``item_id`` (None: it has
    none), or None. A long list the replay keeps in ``lists`` is compared a stored chunk at a time
    against the snapshot's entries as they are read, so a wait-for-all's million outputs are never
    decoded whole, on either side."""
    where = f"snapshot state['items'][{item_id!r}]"
    if row is None:
        return f"{where} is not in the replay"
    theirs = tables.item_values(row, replayed, lazy=True)
    fields = unpacker.read_array_header()
    if fields != len(Item.PLAIN):
        return f"{where} has {fields} fields, not {len(Item.PLAIN)}"
    for name, value in zip(Item.PLAIN, theirs):
        if type(value) is itemlists.Stored:
            diff = _compare_list(unpacker, value, f"{where}[{name!r}]")
        else:
            mine = unpacker.unpack()
            diff = None if _same_bytes(mine, value) else first_difference(mine, value, f"{where}[{name!r}]")
        if diff:
            return diff
    return None


_pack = msgpack.Packer(use_bin_type=True).pack


def _same_bytes(a, b) -> bool:
    """Whether ``a`` and ``b`` pack to the same bytes: then they are the same value (msgpack writes
    a bool, an int, a float, a str and bytes apart, as ``first_difference`` tells them apart), and
    the check need not walk them (most of ``pdg check``'s time on a store that is sound). Other
    bytes (a dict in another order, say) are looked at value by value."""
    try:
        return _pack(a) == _pack(b)
    except (TypeError, ValueError, OverflowError):
        return False


def _compare_list(unpacker: msgpack.Unpacker, stored: itemlists.Stored, where: str) -> str | None:
    """The first difference between the snapshot's next value, a list read entry by entry, and
    ``stored``, read a chunk at a time; or None."""
    count = unpacker.read_array_header()
    at = 0
    for chunk in stored.chunks():
        for value in chunk:
            if at == count:
                return f"{where}: length {count} != {len(stored)}"
            diff = first_difference(unpacker.unpack(), value, f"{where}[{at}]")
            if diff:
                return diff
            at += 1
    if at != count:
        return f"{where}: length {count} != {at}"
    return None
