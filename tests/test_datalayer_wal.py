"""The data layer never holds the store's WAL between its steps: a reader that keeps a read
transaction open (or a SELECT not stepped to its end) across polls keeps SQLite from checkpointing
the frames after its snapshot and from starting the WAL over, so a watched cook's WAL grows and its
checkpoints cost more. Checked as SQLite sees it, from another connection: a TRUNCATE checkpoint
(which fails while any reader holds a snapshot) empties the WAL whenever the data layer waits."""

from __future__ import annotations

import os
import sqlite3

import pytest
from pdgstore.engine.datalayer.core import DataLayer
from pdgstore.engine.datalayer.storeobjects import ITEM_PREFIX
from pdgstore.engine.datalayer.storeview import StoreView

import pdgd.util

pytestmark = pytest.mark.timeout(60)


def truncate(db) -> tuple[int, int, int]:
    """(busy, WAL frames, frames checkpointed) of a TRUNCATE checkpoint that waits for nobody."""
    conn = sqlite3.connect(str(db), isolation_level=None)
    try:
        conn.execute("PRAGMA busy_timeout = 0")
        return conn.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()
    finally:
        conn.close()


def assert_wal_free(db) -> None:
    assert truncate(db) == (0, 0, 0)
    assert os.path.getsize(str(db) + "-wal") == 0


def test_the_follower_holds_no_read_between_steps(wide):
    assert wide.pdg("cook", "wide.py").exit_code == 0
    layer = DataLayer(str(wide.db))
    try:
        paths = ["pdg", "pdg/wide", "pdg/wide/node_files", "pdg/wide/node_upper", "pdg/wide/node_concat"]
        objects = [pdgd.util.PDGDObject(path, layer) for path in paths]
        files = objects[2]
        assert files.waitFor(lambda o: len(o.get("work_items", [])) == 20, 30)
        item = pdgd.util.PDGDObject("pdg/wide/" + ITEM_PREFIX + files.object["work_items"][0], layer)
        assert item.waitFor(lambda o: bool(o), 30)  # an item's object too, until the recook removes it
        wide.write("in/f0020.txt", "one more\n")
        assert wide.pdg("dirty", "files").exit_code == 0
        assert wide.pdg("cook", "wide.py").exit_code == 0
        assert files.waitFor(lambda o: len(o.get("work_items", [])) == 21, 30), files.object
        with layer.lock:  # between two steps: where the follower waits
            assert_wal_free(wide.db)
    finally:
        layer.close()


def test_questions_asked_outside_a_read_leave_no_read_open(wide):
    """A ``TableState`` made outside ``reading()`` (the follower's deltas, a resumed subscription)
    and the log reads that stop at their first row end their reads as they return."""
    assert wide.pdg("cook", "wide.py").exit_code == 0
    view = StoreView(str(wide.db))
    assert view.open()
    try:
        ids = view.item_ids("wide", "files")
        assert view.item(ids[0]) is not None
        assert view.node_of(ids[0]) == ("wide", "files")
        assert view.node_counts("wide", "files")
        view.first_generation(ids[0])
        view.item_state_at(ids[0], "wide", "files", view.seq)
        view.last_cook("wide")
        view.running_cook()
        assert_wal_free(wide.db)
        with view.reading():
            view.item(ids[1])
        assert_wal_free(wide.db)
    finally:
        view.close()
