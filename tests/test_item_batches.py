"""A node's static items recorded as one ``WorkItemsGenerated`` per batch (``pdgstore.itembatch``,
issue 19): the log holds batches, and every reader sees the ``WorkItemGenerated`` events they stand
for, with the seqs the item-by-item walk would have given them.

Each test generates the same graph (``pdg cook --generate-only``) into a real store with the bulk
path (several batches per node) and, where it compares, into another with the walk item by item.
"""

from __future__ import annotations

import json
import sqlite3
import subprocess
import sys
from pathlib import Path

import pdgstore.engine as engine
import pytest
from pdgstore.engine import wedge_range
from pdgstore.engine.cook import bulk
from pdgstore.engine.cook.recorder import Recorder

from pdgstore import EventLog, codec, itembatch, queries, tablecheck
from pdgstore import events as ev
from pdgstore.timetravel import state_at_seq

WEDGE = 900
CHUNK = 400  # each node in three batches (the wedge's from its one generate too)


def _graph(root):
    g = engine.Graph("g", root=root)
    w = g.wedge("wedge", count=WEDGE, attributes=[wedge_range("seed", 0, 10)])
    g.python_processor("work", w, lambda item: item.set_attrib("double", item["seed"] * 2))
    return g


def _generate(folder: Path, monkeypatch, *, use_bulk: bool) -> str:
    folder.mkdir(parents=True)
    db = str(folder / ".pdg" / "pdg.db")
    monkeypatch.setattr(bulk, "CHUNK", CHUNK)
    if not use_bulk:
        monkeypatch.setattr(bulk, "plan", lambda walk: [])
        monkeypatch.setattr(bulk, "in_bulk", lambda walk: False)
    summary = engine.cook_graph(_graph(str(folder)), db=db, jobs=2, generate_only=True)
    monkeypatch.undo()
    assert summary.status == "success", summary.message
    return db


@pytest.fixture
def stores(tmp_path, monkeypatch) -> tuple[str, str]:
    return (
        _generate(tmp_path / "bulk", monkeypatch, use_bulk=True),
        _generate(tmp_path / "walk", monkeypatch, use_bulk=False),
    )


def _generated(log: EventLog) -> dict[str, dict]:
    return {e.item_id: e.payload() for e in log.events(kind="WorkItemGenerated")}


@pytest.mark.timeout(120)
def test_the_log_holds_batches_that_stand_for_the_walks_events(stores):
    bulk_db, walk_db = stores
    with EventLog.open(bulk_db) as log, EventLog.open(walk_db) as walk:
        kinds = dict(log.conn.execute("SELECT kind, count(*) FROM events GROUP BY kind").fetchall())
        assert kinds[itembatch.KIND] == 6 and "WorkItemGenerated" not in kinds
        assert _generated(log) == _generated(walk)  # every item's event, field by field
        # each item's event has the seq of its row in the items table, the last the batch's own
        ords = dict(log.conn.execute("SELECT item_id, ord FROM items").fetchall())
        events = list(log.events(kind="WorkItemGenerated"))
        assert {e.item_id: e.seq for e in events} == ords
        batch_seqs = [r[0] for r in log.conn.execute("SELECT seq FROM events WHERE kind = ?", (itembatch.KIND,))]
        assert set(batch_seqs) <= set(ords.values())
        assert len({e.seq for e in events}) == 2 * WEDGE
        # the log goes on after the last batch's seq; replaying it gives the tables
        assert log.last_seq() > max(batch_seqs)
        assert tablecheck.check(log).difference is None
        assert log.replay_all().to_plain() == log.current_state().to_plain()


@pytest.mark.timeout(120)
def test_every_reader_of_one_item_finds_its_batch(stores):
    bulk_db, _walk_db = stores
    with EventLog.open(bulk_db) as log:
        item_id, ord_, node = log.conn.execute(
            "SELECT item_id, ord, node FROM items WHERE node = 'work' ORDER BY ord LIMIT 1 OFFSET 500"
        ).fetchone()
        own = list(log.events(subject=item_id))
        assert [(e.kind, e.seq, e.node) for e in own] == [("WorkItemGenerated", ord_, node)]
        assert list(log.events(subject=item_id, skip_kind="WorkItemGenerated")) == []
        assert log.first_seq_of(item_id) == ord_
        assert log.first_seq_of(item_id, kind="WorkItemGenerated") == ord_
        assert log.first_seq_of(item_id, kind="WorkItemCooked") is None
        assert (ord_, "WorkItemGenerated", item_id) in log.subjects_after(0, -1)
        last = log.last_seq()
        rows = queries.event_rows(log, 0, last, payloads=False, kinds=["WorkItemGenerated"], subjects=[])
        assert (ord_, item_id) in {(r[0], r[5]) for r in rows}
        assert len(rows) == 2 * WEDGE
        payload = queries.event_payloads(log, [ord_])[ord_]
        assert codec.build("WorkItemGenerated", ord_, own[0].time_ns, own[0].cook_id, "g", payload) == own[0]
        # the state between two batches: the first batch's items, not the second's
        first, second = [
            r[0]
            for r in log.conn.execute("SELECT seq FROM events WHERE kind = ? ORDER BY seq LIMIT 2", (itembatch.KIND,))
        ]
        early, late = [r[0] for r in log.conn.execute("SELECT item_id FROM items WHERE ord IN (?, ?)", (first, second))]
        then = state_at_seq(log, first)
        assert then.item(early) is not None and then.item(late) is None
        replayed = log.state_at(first)
        assert early in replayed.items and late not in replayed.items


@pytest.mark.timeout(120)
def test_history_and_explain_of_a_batch_item_from_the_command_line(stores):
    bulk_db, _walk_db = stores
    folder = Path(bulk_db).parent.parent
    with EventLog.open(bulk_db) as log:
        name = log.conn.execute("SELECT name FROM items WHERE node = 'work' ORDER BY ord LIMIT 1 OFFSET 10").fetchone()[
            0
        ]
    pdg = str(Path(sys.executable).parent / "pdg")
    shown = subprocess.run([pdg, "show", name, "--json"], cwd=folder, capture_output=True, text=True, timeout=60)
    assert shown.returncode == 0, shown.stderr
    history = json.loads(shown.stdout)["item"]["history"]
    assert [h["state"] for h in history] == ["uncooked"] and history[0]["seq"] > 0
    listed = subprocess.run(
        [pdg, "events", "--item", name, "--json"], cwd=folder, capture_output=True, text=True, timeout=60
    )
    assert listed.returncode == 0, listed.stderr
    events = [json.loads(line) for line in listed.stdout.splitlines()]
    assert [(e["kind"], e["seq"], e["payload"]["name"]) for e in events] == [
        ("WorkItemGenerated", history[0]["seq"], name)
    ]


def _columns(ids: list[str], *, outputs: int = 0, parent: str = "") -> dict:
    """A batch's columns (``itembatch.COLUMNS``) for ``ids``, each with ``outputs`` output records
    and ``parent`` (if any) as its parent."""
    files = [[f"/out/{i}.txt", "file/text", 1, 0, ""] for i in range(outputs)]
    return {
        "ids": ids,
        "names": [f"n_{i}" for i in range(len(ids))],
        "indexes": list(range(len(ids))),
        "parents": [[parent] if parent else [] for _ in ids],
        "attrs": [{"seed": ["int", [i]], "tag": ["str", ["x"]]} for i in range(len(ids))],
        "inputs": [[] for _ in ids],
        "outputs": [list(files) for _ in ids],
        "signatures": [f"sig{i}" for i in range(len(ids))],
    }


@pytest.mark.timeout(60)
@pytest.mark.parametrize("offload", [False, True])
def test_a_batchs_rows_made_from_its_columns_are_the_folds_rows(tmp_path, offload):
    """The writer inserts a batch of new items from its columns (``prepared.batch_rows``,
    ``write_batches``), in-process and through the appender process; the tables are then exactly
    what the fold of the log makes (``pdg check``'s replay), links and counts included. A batch
    with an item's long list (64 outputs: ``pdgstore.itemlists``) goes row by row, and a batch
    that generates an id again is folded (it replaces the item)."""
    log = EventLog.open(str(tmp_path / "pdg.db"), writer=True, create=True)
    rec = Recorder(log, log.current_state(), graph="g", offload=offload)
    rec.cook_id = 1
    rec.emit(ev.CookStarted, node="", jobs=1, pid=1, overrides={})
    up = [f"u{i:05d}" for i in range(3000)]  # enough rows for an offloading recorder to start its appender
    rec.record_batch("up", "cooked_success", _columns(up))
    rec.record_batch("down", "uncooked", _columns(["d0", "d1"], parent=up[0]))
    rec.record_batch("wide", "cooked_success", _columns(["w0", "w1"], outputs=64))
    rec.flush()
    rec.record_batch("again", "uncooked", _columns(["d1", "a0"], parent=up[1]))  # d1 generated again
    rec.flush()
    process = rec.log_process
    rec.close()
    assert (process is not None and not process.problem) if offload else process is None
    assert tablecheck.check(log).difference is None
    rows = dict(log.conn.execute("SELECT item_id, node FROM items WHERE item_id IN ('d1', 'w0')").fetchall())
    assert rows == {"d1": "again", "w0": "wide"}
    links = log.conn.execute("SELECT parent, child FROM links WHERE child IN ('d0', 'd1') ORDER BY child").fetchall()
    assert links == [(up[0], "d0"), (up[1], "d1")]
    assert log.conn.execute("SELECT count(*) FROM lists WHERE item_id = 'w0'").fetchone()[0] > 0
    log.close()


def test_a_batch_whose_columns_differ_in_length_is_refused_by_the_fold():
    """The fold maps the columns together (no step per item); a column shorter than the ids (a
    damaged event) is refused, never cut short in silence."""
    from pdgstore.projection import APPLY
    from pdgstore.state import State

    columns = _columns(["a", "b", "c"])
    columns["names"] = columns["names"][:2]
    event, _row = codec.new_event(
        itembatch.WorkItemsGenerated, 3, 1, 1, "g", {"node": "n", "state": "uncooked", **columns}
    )
    with pytest.raises(ValueError, match="batch of 3 work items of node n"):
        APPLY[itembatch.KIND](State(), event)


@pytest.mark.timeout(120)
def test_one_items_batch_is_found_by_its_ord_and_a_second_life_by_every_batch(tmp_path, monkeypatch):
    """An item never removed was generated in a batch only as it was first generated: its batch is
    the row at or after its ord, one batch's ids read, not every batch of its node. An item removed
    and made again in bulk (its node emptied, then fresh again) has both batches in its history."""
    folder = tmp_path / "p"
    (folder / "in").mkdir(parents=True)
    for i in range(900):
        (folder / "in" / f"f{i:03d}.txt").write_text(f"{i}\n")
    graph = folder / "files.py"
    graph.write_text('from pdgstore.engine import Graph\ngraph = Graph("f")\ngraph.file_pattern("files", "in/*.txt")\n')
    monkeypatch.setattr(bulk, "CHUNK", CHUNK)
    assert engine.cook_file(str(graph)).status == "success"
    db = str(folder / ".pdg" / "pdg.db")
    read = []
    ids_of = itembatch.ids_of
    monkeypatch.setattr(itembatch, "ids_of", lambda blob: read.append(1) or ids_of(blob))
    with EventLog.open(db) as log:
        item_id, ord_ = log.conn.execute("SELECT item_id, ord FROM items ORDER BY ord LIMIT 1 OFFSET 850").fetchone()
        assert log.conn.execute("SELECT count(*) FROM events WHERE kind = ?", (itembatch.KIND,)).fetchone()[0] == 3
        assert [(e.kind, e.seq) for e in log.events(subject=item_id)] == [("WorkItemGenerated", ord_)]
        assert len(read) == 1
    moved = tmp_path / "away"
    (folder / "in").rename(moved)
    (folder / "in").mkdir()
    assert engine.cook_file(str(graph)).status == "success"  # every item removed
    (folder / "in").rmdir()
    moved.rename(folder / "in")
    assert engine.cook_file(str(graph)).status == "success"  # the node fresh again: made in bulk
    with EventLog.open(db) as log:
        kinds = [e.kind for e in log.events(subject=item_id)]
        assert kinds == ["WorkItemGenerated", "WorkItemRemoved", "WorkItemGenerated"], kinds
        assert log.conn.execute("SELECT count(*) FROM events WHERE kind = ?", (itembatch.KIND,)).fetchone()[0] == 6


@pytest.mark.timeout(120)
def test_a_replay_into_the_tables_is_cut_by_the_seqs_its_rows_stand_for(stores, tmp_path, monkeypatch):
    """``pdg check``'s replay (``tablefill.fold_log``) folds the log a bounded number of seqs at a
    time: a batch row stands for hundreds of items, so a fold of 500 rows could hold a whole store's
    items; each fold holds at most 500 seqs' worth (or one row alone), and the tables come out the
    same as the store's."""
    from pdgstore import tablefill, tables

    bulk_db, _walk_db = stores
    spans = []
    fold_rows = tables.fold_rows

    def counted(conn, rows):
        spans.append((rows[0][0], rows[-1][0], len(rows)))
        return fold_rows(conn, rows)

    monkeypatch.setattr(tablefill, "fold_rows", counted)
    scratch = sqlite3.connect(str(tmp_path / "scratch.db"))
    for statement in tables.TABLES_SQL.split(";"):
        if statement.strip() and "ON events" not in statement:
            scratch.execute(statement)
    with EventLog.open(bulk_db) as log:
        folded = tablefill.rebuild(scratch, log.conn, batch=500)
        assert folded == log.conn.execute("SELECT count(*) FROM events").fetchone()[0]
        previous = 0
        for first, last, count in spans:
            assert last - previous <= 500 or count == 1, spans
            previous = last
        ours = scratch.execute("SELECT item_id, state, body, detail FROM items ORDER BY ord").fetchall()
        theirs = log.conn.execute("SELECT item_id, state, body, detail FROM items ORDER BY ord").fetchall()
        assert ours == theirs and len(ours) == 2 * WEDGE
