"""An item's long lists in their own table (``pdgstore.itemlists``, schema 3): a state change of a
partition writes its small row, not its lists; reads print a head of a list with its length; and a
store of schema 2 (a golden file the schema 2 code wrote) is upgraded in place, losing nothing."""

from __future__ import annotations

import csv
import io
import json
import sqlite3

import pytest
from conftest import golden_store
from hypothesis import given, settings
from hypothesis import strategies as st

from pdgstore import itemlists, schema, tables
from pdgstore.errors import StoreRefused
from pdgstore.log import EventLog
from pdgstore.state import first_difference


def _tables_and_replay(db: str) -> tuple[dict, dict]:
    with EventLog.open(db) as log:
        return tables.read_state(log.conn, log.last_seq()).to_plain(), log.replay_all().to_plain()


@pytest.fixture
def schema2(project):
    """The golden schema 2 store in a project with its graph and inputs as they were."""
    return golden_store(project, "schema2-wide300")


def test_a_schema_2_store_is_upgraded_in_place_and_loses_nothing(schema2):
    db = str(schema2.db)
    assert schema.check_header(db, db) == 2
    raw = sqlite3.connect(db)
    events = raw.execute("SELECT count(*), max(seq), sum(length(payload)) FROM events").fetchone()
    snapshots = raw.execute("SELECT seq, length(state) FROM snapshots").fetchall()
    rows_before = raw.execute("SELECT item_id, state, cook_id FROM items ORDER BY ord").fetchall()
    raw.close()

    r = schema2.pdg("status", "--json")  # a read command opens it: upgraded, then answered
    assert r.exit_code == 0, r.output
    assert schema.check_header(db, db) == schema.SCHEMA_VERSION
    with EventLog.open(db) as log:
        conn = log.conn
        assert conn.execute("SELECT count(*), max(seq), sum(length(payload)) FROM events").fetchone() == events
        assert conn.execute("SELECT seq, length(state) FROM snapshots").fetchall() == snapshots
        assert conn.execute("SELECT item_id, state, cook_id FROM items ORDER BY ord").fetchall() == rows_before
        assert conn.execute("SELECT value FROM meta WHERE key = 'schema'").fetchone() == (str(schema.SCHEMA_VERSION),)
        assert conn.execute("SELECT count(*) FROM meta WHERE key = 'migrated:3'").fetchone() == (1,)
        # the gather item's parents and outputs, the concat item's inputs: 300 entries each, in chunks
        lists = conn.execute(
            "SELECT i.name, l.field, count(*) FROM lists l JOIN items i USING (item_id) GROUP BY i.name, l.field"
        ).fetchall()
        assert sorted(lists) == [("concat_1", "inputs", 1), ("gather_1", "outputs", 1), ("gather_1", "parents", 1)]
        (detail,) = conn.execute("SELECT detail FROM items WHERE name = 'gather_1'").fetchone()
        assert tables.unpack(detail)[0] == 300  # the row holds the length, not the list
    in_tables, replayed = _tables_and_replay(db)
    assert first_difference(in_tables, replayed) is None
    assert len(in_tables["items"][_item_id(db, "gather_1")][5]) == 300
    check = json.loads(schema2.pdg("check", "--json").output)
    assert check["ok"], check

    # a cook goes on from it (the inputs were written again here, so every item runs), then one
    # input changes: the partition's lists are patched against the table
    assert schema2.pdg("cook", "wide.py").exit_code == 0
    schema2.write("in/f0007.txt", "changed too\n")
    cooked = schema2.pdg("cook", "wide.py", "--json")
    assert cooked.exit_code == 0, cooked.output
    assert json.loads(cooked.output)["items"]["ran"] == 2  # upper_7, concat_1
    with EventLog.open(db) as log:
        patched = "SELECT count(*) FROM events WHERE seq > ? AND kind = 'WorkItemCooked' AND length(payload) < 2000"
        assert log.conn.execute(patched, (events[1],)).fetchone()[0] > 0
    in_tables, replayed = _tables_and_replay(db)
    assert first_difference(in_tables, replayed) is None
    assert json.loads(schema2.pdg("check", "--json").output)["ok"]


def _item_id(db: str, name: str) -> str:
    with EventLog.open(db) as log:
        return log.conn.execute("SELECT item_id FROM items WHERE name = ?", (name,)).fetchone()[0]


def test_a_store_of_a_newer_schema_is_refused_with_a_sentence(schema2):
    db = str(schema2.db)
    assert schema2.pdg("status").exit_code == 0
    conn = sqlite3.connect(db)
    conn.execute(f"PRAGMA user_version = {schema.SCHEMA_VERSION + 1}")
    conn.close()
    with pytest.raises(StoreRefused) as err:
        EventLog.open(db)
    assert f"newer pdgstore (schema {schema.SCHEMA_VERSION + 1}; this one reads up to {schema.SCHEMA_VERSION})" in str(err.value)


def test_a_state_change_of_a_partition_writes_its_row_not_its_lists(schema2):
    """After the upgrade, a state change of the gather item (``pdg dirty``) leaves its list rows as
    they were (the same rows, never rewritten), and its row stays small."""
    db = str(schema2.db)
    assert schema2.pdg("status").exit_code == 0  # upgraded
    sql = "SELECT l.rowid, l.body FROM lists l JOIN items i USING (item_id) WHERE i.name = 'gather_1'"
    with EventLog.open(db) as log:
        before = log.conn.execute(sql).fetchall()
    assert schema2.pdg("dirty", "gather_1").exit_code == 0
    with EventLog.open(db) as log:
        assert log.conn.execute(sql).fetchall() == before and len(before) == 2
        row = log.conn.execute("SELECT state, length(body) + length(detail) FROM items WHERE name = 'gather_1'")
        state, size = row.fetchone()
        assert state == "dirty" and size < 400


def test_show_prints_the_head_of_a_long_list_and_json_gives_it_whole(schema2):
    text = schema2.pdg("show", "concat_1")
    assert text.exit_code == 0, text.output
    assert "... and 290 more (300 input files)" in text.output
    assert text.output.count("f0") <= 12
    whole = json.loads(schema2.pdg("show", "concat_1", "--json").output)["item"]
    assert len(whole["inputs"]) == 300 and whole["inputs"][299]["path"].endswith("f0299.txt")
    gather = schema2.pdg("show", "gather_1")
    assert "... (300 items)" in gather.output and "... and 290 more (300 output files)" in gather.output


def test_a_stored_list_reads_only_the_chunks_a_head_needs(monkeypatch):
    conn = sqlite3.connect(":memory:")
    conn.executescript(itemlists.LISTS_SQL)
    values = [f"id{i:05d}" for i in range(2000)]
    itemlists.write(conn, "x", "parents", None, values)
    assert conn.execute("SELECT count(*) FROM lists").fetchone() == (4,)
    stored = itemlists.Stored(conn, "x", "parents", len(values))
    reads: list[str] = []
    conn.set_trace_callback(reads.append)
    assert stored[:10] == values[:10] and len(reads) == 1 and stored._values is None
    assert stored[1500] == values[1500] and list(stored) == values and stored == values
    # a change in one place rewrites one chunk; a shorter list drops the chunks past its end
    changed = values[:700] + ["new"] + values[701:]
    reads.clear()
    itemlists.write(conn, "x", "parents", stored, changed)
    assert sum(r.startswith("INSERT") for r in reads) == 1
    itemlists.write(conn, "x", "parents", itemlists.Stored(conn, "x", "parents", 2000), values[:600])
    assert itemlists.read_list(conn, "x", "parents") == values[:600]
    itemlists.write(conn, "x", "parents", itemlists.Stored(conn, "x", "parents", 600), values[:10])
    assert conn.execute("SELECT count(*) FROM lists").fetchone() == (0,)


LONG_READS = [
    ("status", "--json"),
    ("show", "concat_1"),
    ("show", "gather_1"),
    ("show", "gather_1", "--json"),
    ("items", "gather", "--json"),
    ("explain", "concat_1", "--json"),
    ("status", "--at", "cook~1", "--json"),
    ("show", "concat_1", "--at", "cook~1"),
    ("diff", "cook~1", "--json"),
]


@pytest.mark.parametrize("args", LONG_READS, ids=lambda a: " ".join(a))
def test_reads_of_long_lists_never_load_the_whole_state(schema2, monkeypatch, args):
    from test_readmodel import _forbid_loading

    expected = schema2.pdg(*args)  # upgrades the store, answers with nothing forbidden
    assert expected.exit_code == 0, expected.output
    _forbid_loading(monkeypatch)
    r = schema2.pdg(*args)
    assert r.exit_code == 0, r.output
    assert r.output == expected.output


#: answers about one item or one row that show a few entries of a long list, never all of them
ONE_ROW_READS = [
    ("items", "gather"),
    ("items",),
    ("open", "gather_1", "--print"),
    ("open", "concat_1", "--print", "--json"),
    ("open", "gather_1", "f0299.txt", "--print", "--json"),  # found by its name: the list read in chunks
    # an export writes every output of the partition, as it reads them: a chunk at a time
    ("export", "--format", "csv", "--what", "items", "-o", "-"),
    ("export", "--format", "jsonl", "--what", "items", "-o", "-"),
]


@pytest.mark.parametrize("args", ONE_ROW_READS, ids=lambda a: " ".join(a))
def test_a_row_that_shows_a_few_entries_never_reads_a_long_list_whole(schema2, monkeypatch, args):
    """A listing's row of a partition (its first files, and how many) reads the head of its
    outputs and its length from the row: at W(100,000) ``pdg items everything`` decoded 100,000
    file records to show three (95 MB against 21 MB)."""
    expected = schema2.pdg(*args)  # upgrades the store, answers with nothing forbidden
    assert expected.exit_code == 0, expected.output
    _forbid_whole_lists(monkeypatch, " ".join(args))
    r = schema2.pdg(*args)
    assert r.exit_code == 0, r.output
    assert r.output == expected.output
    if args[0] == "items":
        assert "... (300 files)" in r.output
    if "f0299.txt" in args:
        assert json.loads(r.output)["file"].endswith("f0299.txt")
    if args[0] == "export":  # the partition's row holds its 300 files, as pdg show --json gives them
        monkeypatch.undo()
        shown = json.loads(schema2.pdg("show", "gather_1", "--json").output)["item"]
        if "csv" in args:
            rows = {row["name"]: json.loads(row["outputs"]) for row in csv.DictReader(io.StringIO(r.output))}
        else:
            rows = {row["name"]: row["outputs"] for row in map(json.loads, r.output.splitlines())}
        files = [{k: v for k, v in f.items() if k != "viewer"} for f in shown["outputs"]]  # show's own key
        assert rows["gather_1"] == files and len(files) == 300


def _forbid_whole_lists(monkeypatch, what: str) -> None:
    """Make reading an item's long list whole (``itemlists.read_list`` without a limit: a
    ``Stored`` decoded, a row restored eagerly) fail the test; a head, or chunks, may be read."""
    whole = itemlists.read_list

    def head_only(conn, item_id, field, limit=None):
        assert limit is not None, f"{what} read the {field} of {item_id} whole"
        return whole(conn, item_id, field, limit)

    monkeypatch.setattr(itemlists, "read_list", head_only)


def test_the_web_views_row_of_a_partition_sums_its_sizes_a_chunk_at_a_time(schema2, monkeypatch):
    """``/api/items`` of a partition node: its one row's size is the sum over its 300 outputs,
    read a chunk at a time (at W(100,000) the 100,000 records decoded at once took the server
    from 19 MB to 57 MB), and the node's items are made one at a time."""
    from pdgstore.engine.web.api import WebApi

    assert schema2.pdg("status").exit_code == 0  # upgraded
    web = WebApi(str(schema2.db))
    try:
        expected = web.items("wide", "gather")
        _forbid_whole_lists(monkeypatch, "/api/items")
        assert web.items("wide", "gather") == expected
        monkeypatch.undo()
    finally:
        web.close()
    with EventLog.open(str(schema2.db)) as log:
        (body,) = log.conn.execute("SELECT body FROM items WHERE name = 'gather_1'").fetchone()
        outputs = itemlists.read_list(log.conn, _item_id(str(schema2.db), "gather_1"), "outputs")
    assert tables.unpack(body)[1] == len(outputs) == 300
    assert expected["sizes"] == [sum(o[2] or 0 for o in outputs)] and expected["sizes"][0] > 0


def test_the_state_at_points_with_long_lists_matches_a_replay(schema2):
    """``--at`` folds the items touched since with their events' long lists left packed
    (``codec.PackedList``): its answers are the snapshot-and-replay state's, lists included."""
    from pdgstore import queries
    from pdgstore.timetravel import StateAt

    assert schema2.pdg("status").exit_code == 0  # upgraded
    with EventLog.open(str(schema2.db)) as log:
        last = log.last_seq()
        for seq in sorted({*range(1, last, 97), last - 1}):
            old, new = log.state_at(seq), StateAt(log, seq)
            assert queries.status(new) == queries.status(old), seq
            for name in ("gather_1", "concat_1", "upper_3"):
                if old.items_named(name):
                    assert queries.item_detail(log, new, name, seq) == queries.item_detail(log, old, name, seq), seq
            assert first_difference(new.materialise().to_plain(), old.to_plain()) is None, seq


def test_a_prepared_row_with_a_long_list_writes_it_to_lists():
    """A writer's prepared row (``pdgstore.prepared``) of a new item with long lists carries them
    to ``write_prepared``, which writes them as the fold would: the item reads back whole."""
    from pdgstore.prepared import new_item_row, write_prepared
    from pdgstore.state import Item

    conn = sqlite3.connect(":memory:")
    for statement in tables.statements():
        if "events" not in statement:
            conn.execute(statement)
    parents = [f"p{i:04d}" for i in range(100)]
    inputs = [[f"in/{i}.txt", "file", 1, 2, "ab"] for i in range(70)]
    item = Item("gather", "g", "all", "all_1", 0, parents, {}, inputs, [], "uncooked", 1)
    small = Item("one", "g", "up", "up_1", 0, ["p0000"], {}, [], [], "uncooked", 1)
    rows = [new_item_row(7, item), new_item_row(8, small)]
    assert len(rows[0]) == 12 and len(rows[1]) == 11
    assert write_prepared(conn, rows) == {7, 8}
    state = tables.read_state(conn, 8)
    assert state.items["gather"].parents == parents and state.items["gather"].inputs == inputs
    assert conn.execute("SELECT count(*) FROM links WHERE child = 'gather'").fetchone() == (100,)
    assert conn.execute("SELECT field FROM lists GROUP BY field").fetchall() == [("inputs",), ("parents",)]


def test_the_state_at_a_point_after_patches_reads_no_list_it_does_not_show(schema2):
    """Folding a partition's events up to a point after patched ones (two one-change recooks,
    ``--at`` the first) leaves its lists lazy (``patches.PatchedList`` over ``codec.PackedList``):
    nothing decodes them for a status; an answer that shows them is the replay's."""
    from pdgstore import patches, queries, refs

    assert schema2.pdg("cook", "wide.py").exit_code == 0
    for name in ("f0007", "f0009"):
        schema2.write(f"in/{name}.txt", f"{name} changed\n")
        assert schema2.pdg("cook", "wide.py").exit_code == 0
    with EventLog.open(str(schema2.db)) as log:
        state, point = refs.state_at(log, "cook~1")
        gather = state.item(_item_id(str(schema2.db), "gather_1"))  # folded up to the point
        assert type(gather.outputs) is patches.PatchedList and gather.outputs._values is None
        old = log.state_at(point.seq)
        assert queries.status(state) == queries.status(old)
        assert gather.outputs._values is None
        for name in ("gather_1", "concat_1"):
            assert queries.item_detail(log, state, name, point.seq) == queries.item_detail(log, old, name, point.seq)


def test_one_items_lazy_events_leave_its_long_payloads_in_the_store(schema2):
    """An item's history (``pdg show``, ``pdg explain``) reads its events lazily: a long payload of a
    partition or a gather stays in the store (``codec.StoredPayload``), its lists read only when
    decoded (``codec.StoredList``), so showing a gather of a million files does not hold its
    payload twice; what they decode to is what the whole payload gives."""
    from pdgstore import codec

    assert schema2.pdg("cook", "wide.py").exit_code == 0
    with EventLog.open(str(schema2.db)) as log:
        for name in ("gather_1", "concat_1"):
            item_id = _item_id(str(schema2.db), name)
            whole = list(log.events(0, subject=item_id))
            lazy = list(log.events(0, subject=item_id, lazy=True))
            assert [e.seq for e in lazy] == [e.seq for e in whole]
            stored = [v for e in lazy for v in vars(e).values() if isinstance(v, codec.StoredList)]
            assert stored and all(v._values is None for v in stored), name
            for got, want in zip(lazy, whole, strict=True):
                assert type(got) is type(want)
                for key, value in vars(want).items():
                    mine = getattr(got, key)
                    assert (mine.decode() if isinstance(mine, codec.LazyList) else mine) == value, (name, key)


def _list_rows(conn: sqlite3.Connection) -> list:
    return conn.execute("SELECT item_id, field, chunk, body FROM lists ORDER BY item_id, field, chunk").fetchall()


@settings(max_examples=60, deadline=None)
@given(
    length=st.integers(itemlists.LISTED_FROM, 3 * itemlists.CHUNK + 10),
    changes=st.lists(st.tuples(st.floats(0, 1, exclude_max=True), st.integers(1, 40)), max_size=4),
)
def test_a_long_list_with_entries_replaced_is_written_a_chunk_at_a_time(length, changes):
    """A patched event's fold over a list left in ``lists`` (``patches.apply`` of same-length
    splices) keeps it unread (``itemlists.Spliced``), and ``write`` reads and rewrites the chunks the
    splices touch, nothing else: its rows are those of the whole new list written as before."""
    from pdgstore import patches

    base = [f"out/{i}.txt" for i in range(length)]
    splices, pos = [], 0
    for where, size in sorted(changes):
        start = max(pos, int(where * length))
        stop = min(length, start + size)
        if start < stop:
            splices.append([start, stop, [f"new/{i}.txt" for i in range(start, stop)]])
            pos = stop
    rows = {}
    for spliced in (False, True):
        conn = sqlite3.connect(":memory:")
        conn.executescript(itemlists.LISTS_SQL)
        itemlists.write(conn, "item", "outputs", None, base)
        stored = itemlists.Stored(conn, "item", "outputs", length)
        new = patches.apply(stored, splices)
        if spliced:
            assert type(new) is itemlists.Spliced and len(new) == length
            asked: list[str] = []
            conn.set_trace_callback(asked.append)
            itemlists.write(conn, "item", "outputs", stored, new)
            conn.set_trace_callback(None)
            reads = [s for s in asked if s.startswith("SELECT")]
            touched = {
                c
                for start, stop, _ in splices
                for c in range(start // itemlists.CHUNK, (stop - 1) // itemlists.CHUNK + 1)
            }
            assert len(reads) == len(touched) and all("chunk = " in s for s in reads), asked
            assert new == patches.apply(base, splices)  # read whole only when asked
        else:
            itemlists.write(conn, "item", "outputs", stored, patches.apply(base, splices))
        rows[spliced] = _list_rows(conn)
        conn.close()
    assert rows[True] == rows[False]
