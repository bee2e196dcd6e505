"""One event for a node's batch of static work items: ``WorkItemsGenerated``, and its reading as
the ``WorkItemGenerated`` events it stands for.

Why: ``pdg cook --generate-only`` records a fresh node's items in bulk (``engine.cook.bulk``); an
event and an ``events`` row (with its two index entries) per item was most of what the log's writer
did for them (issue 19: 200,000 static items). One event per batch carries the same facts in
columns (ids, names, indexes, parents, attributes, inputs, outputs, signatures; one state).

Its seq is the *last* of a range: a batch of N items at seq S stands for the N ``WorkItemGenerated``
events S - N + 1 .. S, which the log does not hold as rows (the seqs in between are never used by
another event: the writer moves on from S + 1). So each item keeps the generation seq it would have
had (the ``items`` table's ``ord``), the log's last seq is still ``max(seq)``, and a reader that
resumes after seq S has seen the whole batch.

Folding (``projection``, ``tables``) applies the batch as it is. Every reader that looks at events
one item at a time (history, explain, time travel, the data layer, ``pdg events``) reads it through
``expand``/``expand_rows``: exactly the ``WorkItemGenerated`` events, with their seqs, that the
item-by-item walk would have written, so nothing downstream learns a new kind.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Iterator
from dataclasses import field

import msgpack

from pdgstore.events import Event, WorkItemGenerated, record, register

KIND = "WorkItemsGenerated"
ITEM_KIND = WorkItemGenerated.kind
#: the fields of the batch whose values are lists, one entry per item, in ``WorkItemGenerated`` order
COLUMNS = ("ids", "names", "indexes", "parents", "attrs", "inputs", "outputs", "signatures")


@register(KIND, subject="node")
@record
class WorkItemsGenerated(Event):
    """A node's batch of new work items was generated (v1): one event for what would be one
    ``WorkItemGenerated`` per item (``pdgstore.itembatch``).

    ``node``: the node of every item; ``state``: their first state (one for all); then one list per
    field, an entry per item in generation order: ``ids``, ``names``, ``indexes``, ``parents`` (a
    list of item ids each), ``attrs`` (``{name: [type, [values...]]}`` each), ``inputs`` and
    ``outputs`` (file records each), ``signatures``. The event's ``seq`` is that of its last item;
    item i of N has seq ``seq - N + 1 + i``. Never patched (``pdgstore.patches``): its items are new.
    """

    node: str = ""
    state: str = "uncooked"
    ids: list = field(default_factory=list)
    names: list = field(default_factory=list)
    indexes: list = field(default_factory=list)
    parents: list = field(default_factory=list)
    attrs: list = field(default_factory=list)
    inputs: list = field(default_factory=list)
    outputs: list = field(default_factory=list)
    signatures: list = field(default_factory=list)


_new = object.__new__
_setattr = object.__setattr__
_pack = msgpack.Packer(use_bin_type=True).pack
_ITEM_VERSION = WorkItemGenerated.version


def first_seq(event) -> int:
    """The seq of the batch's first item."""
    return event.seq - len(event.ids) + 1


def item_fields(
    item_id: str,
    node: str,
    name: str,
    index: int,
    parents: list,
    attrs: dict,
    inputs: list,
    outputs: list,
    state: str,
    signature: str,
) -> dict:
    """One item's ``WorkItemGenerated`` fields (its payload), in the kind's field order:
    ``codec.new_events`` takes such dicts as they are."""
    return {
        "item_id": item_id,
        "node": node,
        "name": name,
        "index": index,
        "parents": parents,
        "attrs": attrs,
        "inputs": inputs,
        "outputs": outputs,
        "state": state,
        "signature": signature,
        "patched": {},
    }


def item_values(node: str, state: str, columns: dict) -> Iterator[dict]:
    """The ``WorkItemGenerated`` fields (its payload) of each item of a batch's ``columns``."""
    for item_id, name, index, parents, attrs, inputs, outputs, signature in zip(
        *(columns[name] for name in COLUMNS), strict=True
    ):
        yield item_fields(item_id, node, name, index, parents, attrs, inputs, outputs, state, signature)


def expand(event, only: Collection[str] | None = None) -> list[Event]:
    """The ``WorkItemGenerated`` events the batch ``event`` stands for, with their own seqs (only
    those of the ids in ``only``, when given: a batch holds up to 10,000)."""
    envelope = {"time_ns": event.time_ns, "cook_id": event.cook_id, "graph": event.graph}
    values = item_values(event.node, event.state, vars(event))
    out: list[Event] = []
    for seq, fields in enumerate(values if only is None else _picked(event, only), first_seq(event)):
        if fields is None:
            continue
        one = _new(WorkItemGenerated)
        _setattr(one, "__dict__", {"seq": seq, **envelope, **fields})
        out.append(one)
    return out


def _picked(event, only: Collection[str]) -> Iterator[dict | None]:
    """``item_values`` of the batch ``event`` with None in place of each item not in ``only`` (the
    others' fields are never made)."""
    columns = vars(event)
    for i, item_id in enumerate(event.ids):
        if item_id in only:
            name, index, parents, attrs, inputs, outputs = (columns[column][i] for column in COLUMNS[1:-1])
            yield item_fields(
                item_id, event.node, name, index, parents, attrs, inputs, outputs, event.state, event.signatures[i]
            )
        else:
            yield None


def expand_events(events: Iterable[Event]) -> Iterator[Event]:
    """``events`` with each batch replaced by the events it stands for."""
    for event in events:
        if event.kind == KIND:
            yield from expand(event)
        else:
            yield event


def _decode(row: tuple):
    from pdgstore import codec  # codec imports the registry this module fills

    seq, time_ns, cook_id, graph, _kind, _subject, blob = row
    return codec.build(KIND, seq, time_ns, cook_id, graph, blob)


def expand_rows(rows: Iterable[tuple]) -> Iterator[tuple]:
    """Log rows ``(seq, time_ns, cook_id, graph, kind, subject, payload)`` with each batch row
    replaced by the rows of the ``WorkItemGenerated`` events it stands for (payloads encoded as
    that kind's current version): for readers that take rows, not events."""
    for row in rows:
        if row[4] != KIND:
            yield row
            continue
        for one in expand(_decode(row)):
            values = vars(one)
            payload = {"v": _ITEM_VERSION, **{name: values[name] for name in WorkItemGenerated.payload_fields}}
            yield (one.seq, one.time_ns, one.cook_id, one.graph, ITEM_KIND, one.item_id, _pack(payload))


def ids_of(blob: bytes) -> list[str]:
    """The item ids of a batch's payload, the rest of it left unread (``ids`` comes before the
    bulky columns)."""
    return ids_and_state(blob)[0]


def ids_and_state(blob: bytes) -> tuple[list[str], str]:
    """The item ids of a batch's payload and their first state (``state`` comes before ``ids``,
    which comes before the bulky columns: the rest is left unread)."""
    unpacker = msgpack.Unpacker(raw=False, max_buffer_size=len(blob) + 1)
    unpacker.feed(blob)
    state = "uncooked"  # the field's default
    for _ in range(unpacker.read_map_header()):
        key = unpacker.unpack()
        if key == "ids":
            return unpacker.unpack(), state
        if key == "state":
            state = unpacker.unpack()
        else:
            unpacker.skip()
    return [], state


def expand_subjects(rows: Iterable[tuple], payload_of) -> Iterator[tuple]:
    """Rows ``(seq, kind, subject, ...)`` (payloads left out) with each batch row replaced by one
    ``(seq, "WorkItemGenerated", item_id, ...)`` per item; ``payload_of(seq)`` reads a batch's
    payload (the few batch rows are the only ones read)."""
    for row in rows:
        if row[1] != KIND:
            yield row
            continue
        ids = ids_of(payload_of(row[0]))
        first = row[0] - len(ids) + 1
        rest = row[3:]
        for i, item_id in enumerate(ids):
            yield (first + i, ITEM_KIND, item_id, *rest)


def payload_of(conn, seq: int) -> bytes:
    return conn.execute("SELECT payload FROM events WHERE seq = ?", (seq,)).fetchone()[0]


def batch_at(conn, seq: int) -> tuple | None:
    """The batch row whose range covers ``seq`` when the log holds no row there (the next row
    after such a gap is that batch), or None."""
    row = conn.execute(f"SELECT {ROW} FROM events WHERE seq >= ? ORDER BY seq LIMIT 1", (seq,)).fetchone()
    return row if row is not None and row[4] == KIND else None


def batch_counts(conn, base_seq: int) -> tuple[int, int]:
    """(rows, events) of the log's batches: how many ``WorkItemsGenerated`` rows it holds, and the
    ``WorkItemGenerated`` events they stand for (a batch at seq S takes the seqs after the row
    before it, or after ``base_seq``, the compaction base), so ``pdg stats`` and ``pdg check`` count
    what ``pdg events`` prints. One pass over the events, one index step per batch, no payload read."""
    rows, events = conn.execute(
        "SELECT count(*), sum(b.seq - coalesce((SELECT max(e.seq) FROM events e WHERE e.seq < b.seq), ?)) "
        "FROM events b WHERE b.kind = ?",
        (base_seq, KIND),
    ).fetchone()
    return int(rows), int(events or 0)


def batches_with(conn, item_id: str, *, until: int | None = None) -> list[tuple]:
    """The batch rows (``ROW``'s columns) that generated ``item_id`` (``batches_of``)."""
    return batches_of(conn, [item_id], until=until)


def batches_of(conn, item_ids: list[str], *, until: int | None = None) -> list[tuple]:
    """The batch rows (``ROW``'s columns), in seq order, that generated any of ``item_ids``; none
    at all in a log without batches.

    An item never removed was made by a batch only as it was first generated (a batch makes a
    fresh node's items): at its ``ord``, and the batch's row is the first at or after that seq
    (it takes the last seq of its range). So one row per such item is looked at, through the
    primary key, not every batch of its node (100 batches of 10,000 ids at W(1,000,000)). For an
    item removed since (another life) or gone, every batch of its node (of every node, when gone)
    is read through the subject index and its ids checked."""
    from pdgstore.tables import chunks  # (tables' fold imports this module's registry)

    found: dict[str, tuple] = {}
    removed: set[str] = set()
    for chunk in chunks(item_ids):
        marks = ",".join("?" * len(chunk))
        found.update(
            (r[0], r[1:])
            for r in conn.execute(f"SELECT item_id, node, ord FROM items WHERE item_id IN ({marks})", chunk)
        )
        removed.update(
            r[0]
            for r in conn.execute(
                f"SELECT DISTINCT subject FROM events WHERE subject IN ({marks}) AND kind = 'WorkItemRemoved'", chunk
            )
        )
    rows: dict[int, tuple] = {}
    ids_at: dict[int, list[str]] = {}
    slow: list[str] = []
    for item_id in item_ids:
        now = found.get(item_id)
        if now is None or item_id in removed:
            slow.append(item_id)
            continue
        seq = conn.execute("SELECT seq FROM events WHERE seq >= ? ORDER BY seq LIMIT 1", (now[1],)).fetchone()
        if seq is not None and (until is None or seq[0] <= until):
            ids_at.setdefault(seq[0], []).append(item_id)
    for seq, wanted in ids_at.items():
        row = conn.execute(f"SELECT {ROW} FROM events WHERE seq = ?", (seq,)).fetchone()
        if row[4] == KIND and not set(wanted).isdisjoint(ids_of(row[6])):
            rows[seq] = row
    if slow:
        nodes = {found[i][0] for i in slow if i in found}
        gone = any(i not in found for i in slow)  # an item removed now: its node is not known
        where = "subject IN (SELECT node FROM nodes)" if gone else f"subject IN ({','.join('?' * len(nodes))})"
        sql = f"SELECT {ROW} FROM events WHERE {where} AND kind = ?"
        args: list = [KIND] if gone else [*sorted(nodes), KIND]
        if until is not None:
            sql, args = sql + " AND seq <= ?", [*args, until]
        wanted_slow = set(slow)
        for row in conn.execute(sql, args):
            if not wanted_slow.isdisjoint(ids_of(row[6])):
                rows[row[0]] = row
    return [rows[seq] for seq in sorted(rows)]


def item_seq(row: tuple, item_id: str) -> int:
    """The seq of ``item_id``'s own event within the batch ``row``."""
    ids = ids_of(row[6])
    return row[0] - len(ids) + 1 + ids.index(item_id)


#: the events table's columns, in the order ``codec.to_row`` makes them
ROW = "seq, time_ns, cook_id, graph, kind, subject, payload"
