"""The ``files`` table (``pdgstore.fileindex``, schema 4): the items holding a file are looked up by
its path. Its rows follow each item's outputs through every way the store writes an item (the fold,
a writer's new rows, batches of new items, rows handed over after reports), equal the fold of the
log from zero (``pdg check``), and a schema 3 store (a golden file the schema 3 code wrote) is
upgraded in place, losing nothing."""

from __future__ import annotations

import json
import sqlite3

import pytest
from conftest import golden_store
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pdgstore import codec, cookstate, fileindex, itemlists, schema, tablecheck, tables
from pdgstore import events as ev
from pdgstore.log import EventLog
from pdgstore.prepared import updated_row
from pdgstore.projection import APPLY
from pdgstore.state import State


def _expected(conn: sqlite3.Connection) -> list[tuple[str, str]]:
    """The rows ``files`` should hold: every item's inline outputs' paths, from its row."""
    rows = set()
    for item_id, body in conn.execute("SELECT item_id, body FROM items"):
        outputs = tables.unpack(body)[1]
        if type(outputs) is list:
            rows |= {(item_id, o[0]) for o in outputs}
    return sorted(rows)


def _files(conn: sqlite3.Connection) -> list[tuple[str, str]]:
    return conn.execute("SELECT item_id, path FROM files ORDER BY item_id, path").fetchall()


@pytest.fixture
def schema3(project):
    return golden_store(project, "schema3-wide300")


def test_a_schema_3_store_is_upgraded_in_place_and_loses_nothing(schema3):
    db = str(schema3.db)
    assert schema.check_header(db, db) == 3
    raw = sqlite3.connect(db)
    events = raw.execute("SELECT count(*), max(seq), sum(length(payload)) FROM events").fetchone()
    items = raw.execute(f"SELECT {tables.ITEM_COLUMNS} FROM items ORDER BY ord").fetchall()
    lists = raw.execute("SELECT * FROM lists ORDER BY item_id, field, chunk").fetchall()
    raw.close()

    r = schema3.pdg("status", "--json")  # a read command opens it: upgraded, then answered
    assert r.exit_code == 0, r.output
    assert schema.check_header(db, db) == schema.SCHEMA_VERSION
    with EventLog.open(db) as log:
        conn = log.conn
        assert conn.execute("SELECT count(*), max(seq), sum(length(payload)) FROM events").fetchone() == events
        assert conn.execute(f"SELECT {tables.ITEM_COLUMNS} FROM items ORDER BY ord").fetchall() == items
        assert conn.execute("SELECT * FROM lists ORDER BY item_id, field, chunk").fetchall() == lists
        assert conn.execute("SELECT count(*) FROM meta WHERE key = 'migrated:4'").fetchone() == (1,)
        # 300 inputs and 300 upper outputs and the concat's; the gather keeps its 300 in ``lists``
        assert _files(conn) == _expected(conn) and len(_files(conn)) == 601
        ids = dict(conn.execute("SELECT name, item_id FROM items WHERE name IN ('upper_4', 'gather_1')"))
        # the upper item by its row, the gather by its long list's bytes
        assert sorted(fileindex.holding(conn.execute, ["out1/f0003.txt"])) == sorted(ids.values())
    check = json.loads(schema3.pdg("check", "--json").output)
    assert check["ok"], check  # the table equals the fold of the log from zero

    # a cook goes on from it (the outputs are not in this project: every upper item runs), then one
    # input changes: the items holding it are looked up
    assert schema3.pdg("cook", "wide.py").exit_code == 0
    schema3.write("in/f0007.txt", "changed too\n")
    cooked = schema3.pdg("cook", "wide.py", "--json")
    assert cooked.exit_code == 0, cooked.output
    assert json.loads(cooked.output)["items"]["ran"] == 2  # upper_8, concat_1
    with EventLog.open(db) as log:
        assert _files(log.conn) == _expected(log.conn)
    assert json.loads(schema3.pdg("check", "--json").output)["ok"]


def test_check_names_a_row_of_files_that_is_not_the_fold(schema3):
    """A ``files`` row that no item's outputs give (or one missing) is a difference ``pdg check`` names."""
    assert schema3.pdg("status").exit_code == 0  # upgraded
    conn = sqlite3.connect(str(schema3.db))
    conn.execute("DELETE FROM files WHERE path = 'out1/f0009.txt'")
    conn.commit()
    conn.close()
    check = json.loads(schema3.pdg("check", "--json").output)
    assert not check["ok"] and "files" in check["difference"], check


def test_holding_looks_paths_up_and_finds_the_items_keeping_a_long_list(tmp_path, monkeypatch):
    """``holding``: the items whose rows list a path, by the index; an item keeping its outputs in
    ``lists`` is searched for the path's bytes (few paths) or taken as it is (many)."""
    conn = sqlite3.connect(":memory:")
    for statement in tables.statements():
        if "events" not in statement:
            conn.execute(statement)
    fileindex.insert(conn, [("a", "x.txt"), ("a", "y.txt"), ("b", "y.txt"), ("c", "z.txt")])
    long = [[f"out/{i}.txt", "file", 1, 2, "ff"] for i in range(itemlists.LISTED_FROM)]
    itemlists.write(conn, "part", "outputs", None, long)
    assert sorted(fileindex.holding(conn.execute, ["y.txt"])) == ["a", "b"]
    assert fileindex.holding(conn.execute, ["out/3.txt"]) == ["part"]
    assert fileindex.holding(conn.execute, ["nowhere.txt"]) == []
    assert fileindex.holding(conn.execute, []) == []
    monkeypatch.setattr(fileindex, "MAX_SEARCHED", 1)
    assert sorted(fileindex.holding(conn.execute, ["x.txt", "nowhere.txt"])) == ["a", "part"]
    plan = " ".join(str(r) for r in conn.execute("EXPLAIN QUERY PLAN SELECT item_id FROM files WHERE path IN (?)", ("x",)))
    assert "files_path" in plan  # a lookup, not a scan of the table


# -- every way an item is written keeps its rows ----------------------------------------------------
PATHS = [f"p{i}.txt" for i in range(6)]
_records = st.lists(st.sampled_from(PATHS), max_size=4).map(lambda ps: [[p, "file", 1, 2, "ff"] for p in ps])
_long = st.just([[f"long/{i}.txt", "file", 1, 2, "ff"] for i in range(itemlists.LISTED_FROM)] + [["p0.txt", "f", 1, 2, "a"]])
_outputs = st.one_of(_records, _long)
_step = st.one_of(
    st.tuples(st.just("generate"), st.sampled_from("abc"), _outputs),
    st.tuples(st.just("add"), st.sampled_from("abc"), _records),
    st.tuples(st.just("cooked"), st.sampled_from("abc"), _outputs),
    st.tuples(st.just("restat"), st.sampled_from("abc"), _outputs),
    st.tuples(st.just("attrib"), st.sampled_from("abc"), st.just([])),
    st.tuples(st.just("remove"), st.sampled_from("abc"), st.just([])),
    st.tuples(st.just("commit"), st.just(""), st.just([])),
)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(steps=st.lists(_step, min_size=1, max_size=25), hand_over=st.booleans())
def test_files_follow_every_write_and_equal_the_fold_from_zero(tmp_path_factory, steps, hand_over):
    """Items generated, given outputs, cooked with others, restatted and removed, in transactions
    of any size; ``hand_over``: rows of report-only items handed over as a cook's recorder does
    (``prepared.write_updated``). After each transaction ``files`` is what the items' rows give,
    and at the end ``pdg check``'s fold from zero agrees."""
    db = str(tmp_path_factory.mktemp("files") / "pdg.db")
    with EventLog.open(db, writer=True, create=True) as log:
        state = State()
        seq = [0]
        pending: list = []

        def emit(cls, **fields):
            seq[0] += 1
            event = cls(seq=seq[0], time_ns=seq[0], cook_id=1, graph="g", **fields)
            pending.append(event)
            APPLY[event.kind](state, event)

        def commit():
            if not pending:
                return
            rows = [codec.to_row(e) for e in pending]
            touched = {e.item_id for e in pending if e.kind in tables.ROW_KINDS}
            updated = [updated_row(state.items[i]) for i in touched if i in state.items] if hand_over else []
            log.append_rows(rows, updated=updated)
            pending.clear()
            assert _files(log.conn) == _expected(log.conn)

        emit(ev.CookStarted, node="", jobs=1, pid=1, overrides={})
        for action, item_id, outputs in steps:
            there = item_id in state.items
            if action == "commit":
                commit()
            elif action == "generate" or not there:
                if action != "remove":
                    emit(ev.WorkItemGenerated, item_id=item_id, node="n", name=f"n_{item_id}", outputs=outputs)
            elif action == "add":
                emit(ev.WorkItemOutputAdded, item_id=item_id, outputs=outputs)
            elif action == "cooked":
                emit(ev.WorkItemCooked, item_id=item_id, outputs=outputs, signature="s")
            elif action == "restat":
                emit(ev.WorkItemRestatted, item_id=item_id, outputs=outputs)
            elif action == "attrib":
                emit(ev.WorkItemAttribSet, item_id=item_id, name="x", attr=["int", [1]])
            else:
                emit(ev.WorkItemRemoved, item_id=item_id, reason="gone")
        commit()
        assert tablecheck.check(log).difference is None


def test_a_delta_cook_finds_many_changed_files_by_lookup(wide, monkeypatch):
    """A recook after more files changed than the long lists are searched for: the items holding
    them come from ``files`` (``CookState.items_holding``), and exactly the changed chains run."""
    assert wide.pdg("cook", "wide.py").exit_code == 0
    monkeypatch.setattr(fileindex, "MAX_SEARCHED", 1)
    looked_up: list = []
    original = cookstate.CookState.items_holding

    def items_holding(self, graph, paths):
        found = original(self, graph, paths)
        looked_up.append((sorted(paths), sorted(found)))
        return found

    monkeypatch.setattr(cookstate.CookState, "items_holding", items_holding)
    for name in ("f0002", "f0005", "f0011"):
        (wide.root / "in" / f"{name}.txt").write_text(f"{name} changed\n")
    r = wide.pdg("cook", "wide.py", "--json")
    assert r.exit_code == 0, r.output
    assert json.loads(r.output)["items"]["ran"] == 4  # three upper items and the concat
    paths, found = looked_up[0]
    assert paths == ["in/f0002.txt", "in/f0005.txt", "in/f0011.txt"]
    with EventLog.open(str(wide.db)) as log:
        sql = "SELECT item_id FROM items WHERE name IN ('files_3', 'files_6', 'files_12')"
        assert found == sorted(r[0] for r in log.conn.execute(sql))
