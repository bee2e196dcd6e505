"""Items rows made by the writer from its own fold, written as they are: new items', and the rows
of items only attribute and output events changed.

Why: a writer that generates many new items at once (``pdg cook --generate-only``:
``engine.cook.bulk``) has applied their ``WorkItemGenerated`` events to its state with the one fold
(``pdgstore.projection.APPLY``) already. ``new_item_row`` makes each new item's row from that
state right after its event, and ``EventLog.append_rows(prepared=...)`` writes those rows, their
links, nodes and counts (``write_prepared``) in the batch's transaction instead of decoding and
folding those events a second time (``tables.fold_rows`` folds the batch's other events, and any
later one that changes a prepared item reads its row back). ``pdg check`` compares the tables with
a replay of the log from zero, prepared rows included.

A node's batch of new items (``WorkItemsGenerated``, ``pdgstore.itembatch``) goes further: the
writer has the items' columns already (the batch's own lists), so ``batch_rows`` packs each item's
body and detail straight from them, without reading an ``Item`` back per item, and hands the batch
over as columns, not as a row tuple per item; ``write_batches`` inserts them with ``executemany``
over those columns (no Python step per item on the appender's side, and a request with no container
per item for the pipe to pack and unpack).

The same holds for a running item's reports: a job's attribute or output (``tables.ROW_KINDS``,
with a file's record refreshed by a restat) changes the item's body and detail only, and the cook
holds the item as it is after the event (a cook after touches, the row it read: ``engine.incremental.restat``).
Loading the row, decoding every attribute it has and folding the event again cost more than the
rest of the commit a job waits for, per call; ``updated_row`` hands the row over instead
(``write_updated``).
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Sequence
from itertools import repeat

import msgpack

from pdgstore import fileindex, itemlists
from pdgstore.inserts import insert_rows
from pdgstore.state import Item
from pdgstore.tables import (
    BATCH_KIND,
    ITEM_COLUMNS,
    ITEM_KINDS,
    LIST_FIELDS,
    ROW_KINDS,
    UNCHANGING,
    has_long_lists,
    item_body,
    item_detail,
    lists_of,
)

#: event kinds whose fold changes items their subject does not name
MANY_ITEMS = frozenset({"NodeDirtied", BATCH_KIND})
#: the kinds of ``ROW_KINDS`` whose fold changes the item's outputs
OUTPUT_KINDS = frozenset({"WorkItemOutputAdded", "WorkItemRestatted"})


def new_item_row(seq: int, item: Item) -> tuple:
    """The ``items`` row of ``item`` as the ``WorkItemGenerated`` at ``seq`` made it, when it was
    not in the state before: what ``fold_rows`` writes for that event, from the state the writer
    applied it to (``pdgstore.projection.APPLY``, the one fold). A writer that generates many new
    items at once hands these rows with its batch (``EventLog.append_rows(prepared=...)``), and the
    append writes them instead of decoding and folding those events a second time. Body and detail
    are packed by ``tables.item_body``/``item_detail``, the fold's own, so the two rows cannot differ.
    A tenth column, the item's parents, gives ``write_prepared`` its links, an eleventh its
    outputs' rows of ``files`` (``pdgstore.fileindex``); an item with a long list
    (``pdgstore.itemlists``: its row holds the length) gets a twelfth, its lists by name, for
    ``write_prepared`` to write into ``lists``."""
    row = (
        seq,
        item.item_id,
        item.graph,
        item.node,
        item.name,
        item.state,
        item.cook_id,
        item_body(item),
        item_detail(item),
        item.parents,  # beside the row, not in it: its links, without decoding the detail again
        fileindex.rows_of(item.item_id, item.outputs),
    )
    if has_long_lists(item):
        return (*row, dict(zip(LIST_FIELDS, lists_of(item))))
    return row


def write_prepared(conn: sqlite3.Connection, prepared: Sequence[tuple]) -> set:
    """Insert the rows ``new_item_row`` made (in ``ord`` order), their lists, links, nodes and
    counts; return the seqs of the events they stand for (``fold_rows`` skips those)."""
    rows = sorted(prepared, key=lambda row: row[0])
    insert_rows(conn, f"INSERT INTO items ({ITEM_COLUMNS})", 9, [row[:9] for row in rows])
    links = []
    paths = []
    counts: dict = {}
    firsts: dict = {}
    for row in rows:
        key = (row[2], row[3])
        firsts.setdefault(key, row[0])
        state_key = (row[2], row[3], row[5])
        counts[state_key] = counts.get(state_key, 0) + 1
        links += [(p, row[1]) for p in row[9]]
        paths += row[10]
        if len(row) > 11:  # an item with a long list
            for field, values in row[11].items():
                itemlists.write(conn, row[1], field, None, values)
    if links:
        insert_rows(conn, "INSERT OR IGNORE INTO links", 2, links)
    if paths:
        fileindex.insert(conn, paths)
    conn.executemany(
        "INSERT OR IGNORE INTO nodes (ord, graph, node) VALUES (?, ?, ?)", [(o, g, n) for (g, n), o in firsts.items()]
    )
    conn.executemany(
        "INSERT INTO node_states VALUES (?, ?, ?, ?) ON CONFLICT DO UPDATE SET count = count + excluded.count",
        [(*k, c) for k, c in counts.items()],
    )
    return {row[0] for row in rows}


_pack = msgpack.Packer(use_bin_type=True).pack


def batch_rows(seq: int, graph: str, node: str, state: str, cook_id: int, columns: dict) -> tuple | None:
    """The ``items`` rows of a batch of new items (``pdgstore.itembatch``: the ``WorkItemsGenerated``
    at ``seq``, its ``columns``), as columns: ``(first ord, graph, node, state, cook_id, ids, names,
    bodies, details, link parents, link children, files rows)``, for ``write_batches``. Each body and detail is
    the tuple ``tables.item_body``/``item_detail`` pack for the item the fold makes of it
    (``projection``: not started, no error, traceback or reason), so the rows cannot differ from the
    fold's (``pdg check`` replays the batch through the fold and compares). None when an item has a
    long list (``pdgstore.itemlists``): those go row by row (``new_item_row``)."""
    ids, parents, inputs, outputs = columns["ids"], columns["parents"], columns["inputs"], columns["outputs"]
    if not ids or max(max(map(len, parents)), max(map(len, inputs)), max(map(len, outputs))) >= itemlists.LISTED_FROM:
        return None
    # each body and detail packs the tuple zip makes of its columns: no Python step per item
    n = len(ids)
    bodies = list(
        map(
            _pack,
            zip(
                columns["indexes"],
                outputs,
                repeat(0, n),
                repeat(0, n),
                repeat("", n),
                columns["signatures"],
                map(len, parents),
                map(len, inputs),
                strict=True,
            ),
        )
    )
    details = list(map(_pack, zip(parents, columns["attrs"], inputs, repeat("", n), repeat({}, n), strict=True)))
    link_parents = [parent for ups in parents for parent in ups]
    link_children = [item_id for item_id, ups in zip(ids, parents) for _ in ups]
    files = [row for item_id, made in zip(ids, outputs) if made for row in fileindex.rows_of(item_id, made)]
    first = seq - len(ids) + 1
    return (
        first, graph, node, state, cook_id, ids, columns["names"], bodies, details, link_parents, link_children, files
    )  # fmt: skip


def write_batches(conn: sqlite3.Connection, batches: Sequence[tuple]) -> set:
    """Insert the rows ``batch_rows`` made, their links, nodes and counts; return the seqs of the
    batch events they stand for (``fold_rows`` skips those)."""
    done = set()
    for first, graph, node, state, cook_id, ids, names, bodies, details, link_parents, link_children, files in batches:
        n = len(ids)
        insert_rows(
            conn,
            f"INSERT INTO items ({ITEM_COLUMNS})",
            9,
            zip(
                range(first, first + n),
                ids,
                repeat(graph),
                repeat(node),
                names,
                repeat(state),
                repeat(cook_id),
                bodies,
                details,
                strict=False,
            ),
        )
        if link_parents:
            insert_rows(conn, "INSERT OR IGNORE INTO links", 2, zip(link_parents, link_children, strict=True))
        if files:
            fileindex.insert(conn, files)
        conn.execute("INSERT OR IGNORE INTO nodes (ord, graph, node) VALUES (?, ?, ?)", (first, graph, node))
        conn.execute(
            "INSERT INTO node_states VALUES (?, ?, ?, ?) ON CONFLICT DO UPDATE SET count = count + excluded.count",
            (graph, node, state, n),
        )
        done.add(first + n - 1)
    return done


def updated_row(item: Item, detail: Callable[[Item], bytes] = item_detail) -> tuple:
    """``(item_id, body, detail)`` of ``item`` as the writer's fold left it: what ``fold_rows`` would
    write for it after events of ``tables.ROW_KINDS`` alone (packed by the fold's own functions, or
    by ``detail``: ``repack.RowPacker.detail``, the same bytes).
    ``(item_id, None, None)`` for an item with a long list: its lists are in ``lists``, which
    only the fold brings up to date (``write_updated`` leaves it to the fold)."""
    if has_long_lists(item):
        return (item.item_id, None, None)
    return (item.item_id, item_body(item), detail(item))


def write_updated(conn: sqlite3.Connection, rows: Sequence[tuple], updated: Sequence[tuple]) -> list[tuple]:
    """Write the rows ``updated_row`` made over the items' rows; return the log rows still to fold
    (``fold_rows``): all but the ``ROW_KINDS`` events of those items. An item that another event
    of the batch changes too (its state, its job, its removal) is left to the fold, row and all;
    so is every item when the batch dirties a node or generates a batch of items (those folds read
    rows of items the events do not name as their subject)."""
    if any(r[4] in MANY_ITEMS for r in rows):
        return list(rows)
    folded = {r[5] for r in rows if r[4] in ITEM_KINDS and r[4] not in ROW_KINDS and r[4] not in UNCHANGING}
    writes = [
        (body, detail, item_id) for item_id, body, detail in updated if item_id not in folded and body is not None
    ]
    if not writes:
        return list(rows)
    before = conn.total_changes
    conn.executemany("UPDATE items SET body = ?, detail = ? WHERE item_id = ?", writes)
    if conn.total_changes - before != len(writes):  # the writer's item is not in the table: its fold is wrong
        raise sqlite3.IntegrityError("an updated item row is not in the items table")
    done = {item_id for _, _, item_id in writes}
    refiled = {r[5] for r in rows if r[4] in OUTPUT_KINDS and r[5] in done}
    if refiled:  # their outputs changed: so may the paths ``files`` holds for them, and a long list
        # they had (restatted to fewer files) is in their rows now
        fileindex.refile(
            conn, [(item_id, msgpack.unpackb(body)[1]) for body, _, item_id in writes if item_id in refiled]
        )
        itemlists.forget_field(conn, sorted(refiled), "outputs")
    return [r for r in rows if not (r[4] in ROW_KINDS and r[5] in done)]
