"""The projection tables (``pdgstore.tables``): kept with the events, equal to the fold of the log,
and made for stores of schema 1 by an in-place migration that loses nothing."""

from __future__ import annotations

import sqlite3

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pdgstore import itemlists, schema, tables
from pdgstore.errors import StoreRefused
from pdgstore.log import EventLog
from pdgstore.state import Item, first_difference


def _tables_state(db: str) -> dict:
    with EventLog.open(db) as log:
        return tables.read_state(log.conn, log.last_seq()).to_plain()


def _replayed(db: str) -> dict:
    with EventLog.open(db) as log:
        return log.replay_all().to_plain()


def downgrade_to_schema_1(db: str) -> None:
    """Make the store what schema 1 wrote: the same log, snapshots and meta, no projection tables."""
    conn = sqlite3.connect(db, isolation_level=None)
    conn.execute("BEGIN")
    for table in tables.TABLES:
        conn.execute(f"DROP TABLE {table}")
    conn.execute("DROP INDEX events_global")
    conn.execute("UPDATE meta SET value = '1' WHERE key = 'schema'")
    conn.execute("PRAGMA user_version = 1")
    conn.execute("COMMIT")
    conn.close()


@pytest.fixture
def cooked(wide):
    assert wide.pdg("cook", "wide.py").exit_code == 0
    (wide.root / "in" / "f0003.txt").write_text("changed\n")
    (wide.root / "in" / "f0004.txt").unlink()
    wide.inputs(1, folder="in/more")
    assert wide.pdg("cook", "wide.py").exit_code == 0
    assert wide.pdg("dirty", "upper_2").exit_code == 0
    return wide


def test_tables_hold_the_fold_of_the_log(cooked):
    db = str(cooked.db)
    state = _tables_state(db)
    assert first_difference(state, _replayed(db)) is None
    with EventLog.open(db) as log:
        counts = dict(((node, s), c) for node, s, c in log.conn.execute("SELECT node, state, count FROM node_states"))
        by_items = dict(
            ((node, s), c)
            for node, s, c in log.conn.execute("SELECT node, state, count(*) FROM items GROUP BY node, state")
        )
        assert counts == by_items and counts[("upper", "dirty")] == 1
        (upper,) = log.conn.execute("SELECT item_id FROM items WHERE name = 'upper_1'").fetchone()
        (gather,) = log.conn.execute("SELECT child FROM links WHERE parent = ?", (upper,)).fetchone()
        assert log.conn.execute("SELECT node FROM items WHERE item_id = ?", (gather,)).fetchone() == ("gather",)
        assert (
            log.conn.execute("SELECT count(*) FROM links WHERE child = ?", (gather,)).fetchone()[0] == 19
        )  # 20 inputs, one deleted


def test_schema_1_store_is_upgraded_in_place_by_a_reader(cooked):
    db = str(cooked.db)
    before = _replayed(db)
    with EventLog.open(db) as log:
        events_before = log.conn.execute("SELECT count(*), max(seq) FROM events").fetchone()
        snapshots_before = log.conn.execute("SELECT count(*) FROM snapshots").fetchone()
    downgrade_to_schema_1(db)
    assert schema.check_header(db, db) == 1
    r = cooked.pdg("status", "--json")  # a read command opens it: upgraded, then answered
    assert r.exit_code == 0, r.output
    assert schema.check_header(db, db) == schema.SCHEMA_VERSION
    with EventLog.open(db) as log:
        assert log.conn.execute("SELECT count(*), max(seq) FROM events").fetchone() == events_before
        assert log.conn.execute("SELECT count(*) FROM snapshots").fetchone() == snapshots_before
        assert log.conn.execute("SELECT value FROM meta WHERE key = 'schema'").fetchone()[0] == str(schema.SCHEMA_VERSION)
        migrated = "SELECT count(*) FROM meta WHERE key IN ('migrated:2', 'migrated:3', 'migrated:4')"
        assert log.conn.execute(migrated).fetchone()[0] == 3
        assert log.integrity_problem() is None
    assert first_difference(_tables_state(db), before) is None
    assert first_difference(_replayed(db), before) is None
    assert cooked.pdg("cook", "wide.py").exit_code == 0  # and a cook goes on from it
    assert first_difference(_tables_state(db), _replayed(db)) is None


def test_schema_1_store_after_compaction_is_upgraded_from_its_base(cooked):
    db = str(cooked.db)
    assert cooked.pdg("compact", "--keep-cooks", "1").exit_code == 0
    before = _replayed(db)
    downgrade_to_schema_1(db)
    with EventLog.open(db, writer=True) as log:
        assert log.base_seq() > 0
    tables_now = _tables_state(db)
    # order numbers of items folded into the base are made again; the state is the same
    assert first_difference(tables_now, before) is None


def test_a_compaction_base_is_written_a_chunk_at_a_time_as_the_whole_state_is(cooked, monkeypatch, tmp_path):
    """``pdg check`` and a migration start from the compaction base: read a piece at a time and
    written ``BASE_CHUNK`` items at a time (W(100,000) compacted: ``pdg check`` held 589 MB with the
    base decoded whole, 136 MB so), the tables are those the whole state gives."""
    from pdgstore import tablefill

    assert cooked.pdg("compact", "--keep-cooks", "1").exit_code == 0
    monkeypatch.setattr(tablefill, "BASE_CHUNK", 3)
    with EventLog.open(str(cooked.db)) as log:
        base = log.base_seq()
        whole = log.snapshot(base)
        assert base and whole is not None and len(whole.items) > 3 * 2
        written = []
        for name, fill in (
            ("chunked", lambda c: tablefill.write_snapshot(c, log.conn, base)),
            ("whole", lambda c: tables.write_state(c, whole)),
        ):
            scratch = sqlite3.connect(str(tmp_path / f"{name}.db"), isolation_level=None)
            schema.create_tables(scratch)
            fill(scratch)
            written.append(
                (
                    tables.read_state(scratch, base).to_plain(),
                    scratch.execute("SELECT graph, node, state, count FROM node_states ORDER BY 1, 2, 3").fetchall(),
                    scratch.execute("SELECT ord, graph, node FROM nodes ORDER BY ord").fetchall(),
                    scratch.execute("SELECT ord, item_id FROM items ORDER BY ord").fetchall(),
                )
            )
            scratch.close()
    assert first_difference(written[0][0], written[1][0]) is None
    assert written[0][1:] == written[1][1:]
    assert first_difference(written[0][0], whole.to_plain()) is None
    check = cooked.pdg_process("check", "--json")
    assert check.returncode == 0, check.stdout


def test_schema_1_store_held_by_a_cook_is_refused_with_a_sentence(cooked, monkeypatch):
    from pdgstore import writerlock
    from pdgstore.errors import StoreBusy

    def busy(path, display):
        raise StoreBusy(f"a cook is already running on {display} (pid 4242)")

    db = str(cooked.db)
    downgrade_to_schema_1(db)
    monkeypatch.setattr(writerlock, "take_writer_lock", busy)
    with pytest.raises(StoreRefused) as err:
        EventLog.open(db)
    assert "older pdgstore (schema 1)" in str(err.value) and "pid 4242" in str(err.value)
    assert schema.check_header(db, db) == 1  # untouched


def _fold_in_batches(batches: list[list]) -> tuple[dict, dict]:
    """Fold ``batches`` of events (one transaction each) into fresh tables, and replay them all:
    (the tables' state, the replayed state), both as plain dicts."""
    from pdgstore import codec, projection, state as state_mod

    conn = sqlite3.connect(":memory:", isolation_level=None)
    conn.execute("CREATE TABLE events (seq INTEGER PRIMARY KEY, time_ns, cook_id, graph, kind, subject, payload)")
    for statement in tables.statements():
        conn.execute(statement)
    events = []
    for batch in batches:
        conn.execute("BEGIN")
        tables.fold_rows(conn, [codec.to_row(e) for e in batch])
        conn.execute("COMMIT")
        events += batch
    seq = events[-1].seq
    return tables.read_state(conn, seq).to_plain(), projection.replay(events, state_mod.State()).to_plain()


@pytest.mark.parametrize("listed_from", [0, itemlists.LISTED_FROM])
def test_fold_of_long_lists_keeps_them_in_their_table_and_right(monkeypatch, listed_from):
    """An item with long lists (a partition of 3,000 members) keeps them in ``lists`` through the
    fold's state changes, and the tables still equal the replay: after state changes, an output
    added (the one fold that reads a list), a regeneration with other parents, and a removal.
    ``listed_from=0`` sends every list of the test through the lists table."""
    from pdgstore import events as ev

    monkeypatch.setattr(itemlists, "LISTED_FROM", listed_from)
    seq = iter(range(1, 10_000))

    def e(cls, **fields):
        return cls(seq=next(seq), time_ns=1, cook_id=1, graph="g", **fields)

    members = [f"m{i:05d}" for i in range(3000)]
    outputs = [[f"out/{m}.txt", "file", 60, 123456789, "abcdef0123456789"] for m in members]
    batches = [
        [e(ev.CookStarted, node="", jobs=1, pid=1, overrides={})]
        + [e(ev.WorkItemGenerated, item_id=m, node="upper", name=m, index=i) for i, m in enumerate(members)]
        + [e(ev.WorkItemGenerated, item_id="part", node="all", name="all_1", parents=members, inputs=outputs)],
        [e(ev.WorkItemStateChanged, item_id="part", state="scheduled")],
        [e(ev.WorkItemStateChanged, item_id="part", state="cooking")],
        [e(ev.WorkItemCooked, item_id="part", outputs=outputs, attrs={"n": 3000}, signature="s1")],
        [e(ev.WorkItemDirtied, item_id="part", reason={"cache_state": "dirty"})],
        [e(ev.WorkItemOutputAdded, item_id="part", outputs=[["extra.txt", "file", 1, 2, "ff"]])],
        [e(ev.WorkItemAttribSet, item_id="part", name="m", attr=["int", [1]])],
        [e(ev.WorkItemGenerated, item_id="part", node="all", name="all_1", parents=members[:-1], inputs=outputs)],
        [e(ev.WorkItemStateChanged, item_id="part", state="cooking")],
        [e(ev.WorkItemRemoved, item_id="part", reason="gone")],
    ]
    in_tables, replayed = _fold_in_batches(batches)
    assert first_difference(in_tables, replayed) is None
    in_tables, replayed = _fold_in_batches(batches[:-1])
    assert first_difference(in_tables, replayed) is None
    assert len(in_tables["items"]["part"][Item.PLAIN.index("parents")]) == 2999


def test_cooks_fold_the_same_tables_with_every_list_in_its_table(wide, monkeypatch):
    """The cooks of ``cooked`` (an edit, a deletion, new inputs, ``pdg dirty``) with every list of
    every item kept in ``lists``: the tables still equal the replay, and the snapshot packed from
    them is the state's."""
    monkeypatch.setattr(itemlists, "LISTED_FROM", 0)
    assert wide.pdg("cook", "wide.py").exit_code == 0
    (wide.root / "in" / "f0003.txt").write_text("changed\n")
    (wide.root / "in" / "f0004.txt").unlink()
    wide.inputs(1, folder="in/more")
    assert wide.pdg("cook", "wide.py").exit_code == 0
    assert wide.pdg("dirty", "upper_2").exit_code == 0
    assert wide.pdg("cook", "wide.py").exit_code == 0
    assert first_difference(_tables_state(str(wide.db)), _replayed(str(wide.db))) is None
    from pdgstore.snapshots import pack_from_tables, pack_snapshot

    with EventLog.open(str(wide.db)) as log:  # a snapshot from rows whose lists are all in ``lists``
        assert bytes(pack_from_tables(log.conn, log.last_seq())) == bytes(pack_snapshot(log.load_state()))


def test_a_cook_reads_its_state_from_the_tables_as_the_snapshot_and_replay_give_it(cooked):
    """``EventLog.current_state`` (a cook's start) is ``load_state`` (the snapshot and the events
    after it): the same items, in the same order, per node too."""
    with EventLog.open(str(cooked.db)) as log:
        from_tables, folded = log.current_state(), log.load_state()
    assert first_difference(from_tables.to_plain(), folded.to_plain()) is None
    assert list(from_tables.items) == list(folded.items)
    assert {k: list(v) for k, v in from_tables.node_items.items()} == {k: list(v) for k, v in folded.node_items.items()}
    assert from_tables.seq == folded.seq


def test_a_snapshot_packed_from_the_tables_is_the_snapshot_of_the_state(cooked):
    """``snapshots.pack_from_tables`` (what the appender writes for a cook) is byte for byte
    ``pack_snapshot`` of the state."""
    from pdgstore.snapshots import pack_from_tables, pack_snapshot

    with EventLog.open(str(cooked.db)) as log:
        state = log.load_state()
        assert bytes(pack_from_tables(log.conn, log.last_seq())) == bytes(pack_snapshot(state))


# -- moves: items whose every event of a batch only changes their state ----------------------------
_MOVES = ["scheduled", "cooking", "cooked_cancel", "dirty", "uncooked"]


@pytest.fixture(scope="module")
def cooked_once(tmp_path_factory):
    """A cooked W(20) store, made once for the property below (each example works on a copy)."""
    from tests.conftest import Project, wide_in

    root = tmp_path_factory.mktemp("moves")
    project = wide_in(Project(root).root)
    assert project.pdg("cook", "wide.py").exit_code == 0
    return project


@given(data=st.data())
@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
def test_a_batch_of_moves_folds_as_the_replay_does(cooked_once, tmp_path_factory, data):
    """``fold_rows`` writes the items a batch only moves to another state without decoding their
    rows (``tables._moves``): mixed in one batch with an item's other events (a cook's end, a log
    line, a move to cooking), over one batch or several, the tables stay what a replay gives and the
    counts per state stay the items'."""
    from pdgstore import events as ev

    db = str(tmp_path_factory.mktemp("copy") / "pdg.db")
    with EventLog.open(str(cooked_once.db)) as log:
        log.conn.execute("VACUUM INTO ?", (db,))
        ids = [row[0] for row in log.conn.execute("SELECT item_id FROM items ORDER BY ord")]
    chosen = data.draw(st.lists(st.sampled_from(ids), min_size=1, max_size=12, unique=True))
    kinds = st.sampled_from(["move", "move", "move", "cooked", "logged"])
    plan = data.draw(
        st.lists(st.tuples(st.sampled_from(chosen), kinds, st.sampled_from(_MOVES)), min_size=1, max_size=40)
    )
    cuts = data.draw(st.integers(1, 3))
    with EventLog.open(db, writer=True) as log:
        seq, cook_id = log.last_seq() + 1, 99
        events = []
        for item_id, kind, state in plan:
            envelope = {"seq": seq, "time_ns": seq, "cook_id": cook_id, "graph": "wide"}
            if kind == "move":
                events.append(ev.WorkItemStateChanged(item_id=item_id, state=state, **envelope))
            elif kind == "cooked":
                events.append(ev.WorkItemCooked(item_id=item_id, state="cooked_success", **envelope))
            else:
                events.append(ev.WorkItemLogged(item_id=item_id, text="a line", **envelope))
            seq += 1
        size = -(-len(events) // cuts)
        for start in range(0, len(events), size):
            log.append(events[start : start + size])
    assert first_difference(_tables_state(db), _replayed(db)) is None
    with EventLog.open(db) as log:
        counts = dict(((n, s), c) for n, s, c in log.conn.execute("SELECT node, state, count FROM node_states"))
        by_items = dict(
            ((n, s), c) for n, s, c in log.conn.execute("SELECT node, state, count(*) FROM items GROUP BY node, state")
        )
    assert counts == by_items
