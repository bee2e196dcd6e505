"""A job's reports written cheaply and still right: the rows of items only attribute and output
events changed are handed over by the cook's recorder (``pdgstore.prepared.write_updated``), a log
line rewrites no item row, and the tables stay the fold of the log whatever a batch mixes."""

from __future__ import annotations

import sqlite3

import pytest
from pdgstore.engine.cook.recorder import Recorder

from pdgstore import events as ev
from pdgstore import prepared, tables
from pdgstore.log import EventLog
from pdgstore.state import first_difference


def _record(tmp_path):
    log = EventLog.open(str(tmp_path / "pdg.db"), writer=True, create=True)
    rec = Recorder(log, log.current_state(), graph="g")
    rec.cook_id = 1
    rec.emit(ev.CookStarted, node="", jobs=1, pid=1, overrides={})
    for i in range(3):
        rec.emit(ev.WorkItemGenerated, item_id=f"i{i}", node="n", name=f"n_{i}", index=i)
    rec.flush()
    return log, rec


def _tables_equal_the_replay(log: EventLog) -> None:
    in_tables = tables.read_state(log.conn, log.last_seq()).to_plain()
    assert first_difference(in_tables, log.replay_all().to_plain()) is None
    counts = dict(((node, s), c) for node, s, c in log.conn.execute("SELECT node, state, count FROM node_states"))
    by_items = dict(
        ((node, s), c)
        for node, s, c in log.conn.execute("SELECT node, state, count(*) FROM items GROUP BY node, state")
    )
    assert counts == by_items


def _regenerated(item_id: str, index: int) -> dict:
    """The columns of a ``WorkItemsGenerated`` making ``item_id`` again, without attributes."""
    return {
        "ids": [item_id],
        "names": [f"n_{index}"],
        "indexes": [index],
        "parents": [[]],
        "attrs": [{}],
        "inputs": [[]],
        "outputs": [[]],
        "signatures": [""],
    }


def test_reports_mixed_with_every_other_change_leave_the_tables_the_fold_of_the_log(tmp_path):
    """Batches as a cook makes them: reports alone (handed over), reports beside a state change
    or a job of the same item (folded), beside a node dirtied or a batch of items generated again
    (folded), a removal, log lines."""
    log, rec = _record(tmp_path)

    def attr(item, name, value):
        rec.emit(ev.WorkItemAttribSet, item_id=item, name=name, attr=["int", [value]])

    batches = [
        lambda: attr("i0", "a", 1),
        lambda: (attr("i0", "b", 2), attr("i1", "a", 3), rec.emit(ev.WorkItemLogged, item_id="i2", text="x")),
        lambda: rec.emit(ev.WorkItemOutputAdded, item_id="i1", outputs=[["out/a.txt", "file", 1, 2, "ff"]]),
        lambda: (rec.emit(ev.JobStarted, item_id="i0", scheduler="local", pid=7), attr("i0", "c", 4)),
        lambda: (attr("i1", "d", 5), rec.emit(ev.WorkItemStateChanged, item_id="i1", state="cooking")),
        lambda: (attr("i2", "e", 6), rec.emit(ev.NodeDirtied, node="n", reason="changed")),
        lambda: (attr("i1", "g", 8), rec.record_batch("n", "uncooked", _regenerated("i1", 1)), attr("i1", "h", 9)),
        lambda: (attr("i2", "f", 7), rec.emit(ev.WorkItemRemoved, item_id="i2", reason="gone")),
        lambda: rec.emit(ev.WorkItemLogged, item_id="i0", text="only a line"),
    ]
    for make in batches:
        make()
        rec.flush()
        _tables_equal_the_replay(log)
    assert tables.unpack(log.conn.execute("SELECT detail FROM items WHERE item_id = 'i1'").fetchone()[0])[1] == {
        "h": ["int", [9]]
    }
    row = log.conn.execute("SELECT detail FROM items WHERE item_id = 'i0'").fetchone()[0]
    assert tables.unpack(row)[1] == {"a": ["int", [1]], "b": ["int", [2]], "c": ["int", [4]]}
    log.close()


def test_a_batch_of_reports_loads_no_item_row_and_a_log_line_rewrites_none(tmp_path, monkeypatch):
    log, rec = _record(tmp_path)
    loaded = []
    real = tables.load_items
    monkeypatch.setattr(tables, "load_items", lambda conn, ids: loaded.extend(ids) or real(conn, ids))
    for i in range(5):
        rec.emit(ev.WorkItemAttribSet, item_id="i0", name=f"a{i}", attr=["int", [i]])
        rec.emit(ev.WorkItemLogged, item_id="i1", text=f"line {i}")
        rec.flush()
    assert loaded == []
    _tables_equal_the_replay(log)
    log.close()


def test_an_updated_row_of_an_item_the_table_lacks_writes_nothing(tmp_path):
    """The writer's fold and the tables disagree: the batch is refused whole (a sentence, no partial write)."""
    from pdgstore.errors import StoreError

    log, rec = _record(tmp_path)
    rec.emit(ev.WorkItemAttribSet, item_id="i0", name="a", attr=["int", [1]])
    ghost = prepared.updated_row(rec.state.items["i0"])
    before = log.last_seq()
    rows = list(rec._rows)
    with pytest.raises(StoreError, match="refused"):
        log.append_rows(rows, updated=[("nobody", *ghost[1:])])
    assert log.last_seq() == before
    log.close()


def test_write_updated_leaves_an_item_another_event_changes_to_the_fold():
    conn = sqlite3.connect(":memory:", isolation_level=None)
    conn.execute("CREATE TABLE items (item_id TEXT, body BLOB, detail BLOB)")
    conn.execute("INSERT INTO items VALUES ('a', x'00', x'00'), ('b', x'00', x'00')")
    rows = [
        (1, 0, 1, "g", "WorkItemAttribSet", "a", b""),
        (2, 0, 1, "g", "WorkItemAttribSet", "b", b""),
        (3, 0, 1, "g", "WorkItemStateChanged", "b", b""),
        (4, 0, 1, "g", "WorkItemLogged", "a", b""),
    ]
    left = prepared.write_updated(conn, rows, [("a", b"A", b"A"), ("b", b"B", b"B")])
    assert [r[0] for r in left] == [2, 3, 4]
    assert conn.execute("SELECT item_id, body FROM items ORDER BY item_id").fetchall() == [("a", b"A"), ("b", b"\x00")]
