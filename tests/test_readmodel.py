"""Read commands answer from the store's tables (``pdgstore.readmodel``, ``pdgstore.timetravel``):
never through the full-state loader, and with the same answers it gives."""

from __future__ import annotations

import json

import pytest
from conftest import copied, wide_in

from pdgstore import projection, queries, tables
from pdgstore.errors import DamagedRow
from pdgstore.log import EventLog
from pdgstore.readmodel import TableState
from pdgstore.state import first_difference
from pdgstore.timetravel import StateAt, state_at_seq


@pytest.fixture(scope="module")
def cooked_once(tmp_path_factory):
    """Three cooks of W(20), made once for the module: cold, one input changed, one removed and one added."""
    wide = wide_in(tmp_path_factory.mktemp("cooked"))
    assert wide.pdg("cook", "wide.py").exit_code == 0
    (wide.root / "in" / "f0003.txt").write_text("changed\n")
    assert wide.pdg("cook", "wide.py").exit_code == 0
    (wide.root / "in" / "f0004.txt").unlink()
    wide.inputs(1, folder="in/more")
    (wide.root / "in" / "new.txt").write_text("new\n")
    assert wide.pdg("cook", "wide.py").exit_code == 0
    return wide.root


@pytest.fixture
def cooked(cooked_once, tmp_path):
    """A copy of the three cooks' project for one test, which may change it."""
    return copied(cooked_once, tmp_path)


def _forbid_loading(monkeypatch) -> None:
    def loader(*args, **kwargs):
        raise AssertionError("a read command called the full-state loader")

    for name in ("load_state", "state_at", "replay_all", "snapshot", "_replay"):
        monkeypatch.setattr(EventLog, name, loader)
    monkeypatch.setattr(projection, "replay_rows", loader)
    monkeypatch.setattr(projection, "replay", loader)


READS = [
    ("status", "--json"),
    ("items", "upper", "--json"),
    ("items", "--state", "cooked_success", "--json"),
    ("items", "concat", "--state", "cooked_fail", "--json"),
    ("show", "upper_3", "--json"),
    ("history", "--json"),
    ("history", "--node", "upper", "--json"),
    ("history", "--item", "upper_3", "--json"),
    ("history", "3", "--json"),
    ("history", "2", "--json"),  # an earlier cook: the tables overlaid back to its end
    ("explain", "concat_1", "--json"),
    ("events", "--item", "upper_3"),
    ("status", "--at", "cook~1", "--json"),
    ("items", "upper", "--at", "cook~1", "--json"),
    ("show", "upper_3", "--at", "cook~1", "--json"),
    ("status", "--at", "cook:1", "--json"),
    ("diff", "cook~1", "--json"),
    ("diff", "cook:1", "cook:3", "--json"),
    ("diff", "cook:2", "cook:3"),
    ("export", "--format", "jsonl", "--what", "items", "-o", "-"),
    ("export", "--format", "csv", "--what", "items", "--cook", "3", "-o", "-"),
    ("schedule", "list", "--json"),
]


@pytest.mark.parametrize("args", READS, ids=lambda a: " ".join(a))
def test_read_commands_never_load_the_whole_state(cooked, monkeypatch, args):
    expected = cooked.pdg(*args)  # as it answers with nothing forbidden
    assert expected.exit_code == 0, expected.output
    _forbid_loading(monkeypatch)
    r = cooked.pdg(*args)
    assert r.exit_code == 0, r.output
    assert r.output == expected.output


def test_the_web_views_answers_never_load_the_whole_state(cooked, monkeypatch):
    """The web view's JSON answers (``pdg serve``'s ``/api/``) read the tables as the commands
    do, and cut an item's long lists and a diff's rows to what the page shows, with how many
    more. (Its diff of W(100,000) loaded both states whole: over 10 s and 1.4 GB.)"""
    from pdgstore.engine.web import api as web_api

    monkeypatch.setattr(web_api, "DETAIL_ENTRIES", 5)
    monkeypatch.setattr(web_api, "DIFF_ROWS", 2)
    web = web_api.WebApi(str(cooked.db))
    with EventLog.open(str(cooked.db)) as log:
        gather = queries.find_item(TableState(log), "gather_1").item_id

    def answers() -> list:
        return [web.graph(), web.graph("cook~1"), web.items("wide", "upper"), web.items("wide", "upper", "cook:1"),
                web.changes(0), web.item("upper_3"), web.item(gather), web.item("upper_3", "cook~1"), web.cooks(),
                web.diff("cook~1", "now"), web.diff("cook:1", "cook:3")]

    try:
        expected = answers()
        _forbid_loading(monkeypatch)
        assert answers() == expected
    finally:
        web.close()
    detail = expected[6]
    assert len(detail["outputs"]) == len(detail["parents"]) == 5
    assert detail["counts"] == {"parents": 20, "inputs": 0, "outputs": 20}
    full = json.loads(cooked.pdg("diff", "cook:1", "cook:3", "--json").output)
    diff = expected[10]
    assert diff["counts"] == full["counts"] and diff["items"] == full["items"][:2]
    assert diff["more"] == len(full["items"]) - 2 > 0


def test_log_dirty_and_accept_never_load_the_whole_state(cooked, monkeypatch):
    _forbid_loading(monkeypatch)
    r = cooked.pdg("log", "upper_3")
    assert r.exit_code == 2 and "has no job log" in r.output
    r = cooked.pdg("dirty", "upper_2", "--json")
    assert r.exit_code == 0 and json.loads(r.output)["count"] == 1
    r = cooked.pdg("accept", "upper_2", "--json")
    names = [i["name"] for i in json.loads(r.output)["items"]]
    assert r.exit_code == 0 and names == ["upper_2", "gather_1", "concat_1"]
    monkeypatch.undo()
    with EventLog.open(str(cooked.db)) as log:
        assert first_difference(tables.read_state(log.conn, log.last_seq()).to_plain(),
                                log.replay_all().to_plain()) is None


def test_the_state_at_every_point_matches_a_replay(cooked):
    """``StateAt`` (tables overlaid with the items touched since) answers every read as the
    snapshot-and-replay state does, at every seq of the log."""
    with EventLog.open(str(cooked.db)) as log:
        last = log.last_seq()
        for seq in range(0, last + 1):
            old = log.state_at(seq)
            new = StateAt(log, seq) if seq < last else TableState(log)
            where = f"at seq {seq}"
            if isinstance(new, StateAt):
                assert first_difference(new.materialise().to_plain(), old.to_plain()) is None, where
            assert queries.status(new) == queries.status(old), where
            assert list(queries.items(log, new)) == list(queries.items(log, old)), where
            for state in ("cooked_success", "dirty", "uncooked"):
                assert list(queries.items(log, new, None, state)) == list(queries.items(log, old, None, state)), where
            assert queries.cooks(new) == queries.cooks(old), where
            assert new.running_cook() == old.running_cook(), where
            for item in list(old.items.values())[::7]:
                assert queries.item_detail(log, new, item.item_id, seq) == queries.item_detail(
                    log, old, item.item_id, seq), where
                assert sorted(new.children(item.item_id)) == sorted(old.children(item.item_id)), where
                assert new.items_named(item.name) == old.items_named(item.name), where


def test_far_points_and_compacted_logs_overlay_the_tables(cooked):
    """However many events follow a point, the tables are overlaid (never the whole state); in a
    compacted log, the items generated before its base start from the base snapshot, read a pass
    at a time (``pdgstore.baseitems``): at every point from the base on, the answers are a replay's."""
    with EventLog.open(str(cooked.db)) as log:
        assert isinstance(state_at_seq(log, log.last_seq()), TableState)
        assert isinstance(state_at_seq(log, 5), StateAt)
    assert cooked.pdg("compact", "--keep-cooks", "2").exit_code == 0  # cook 3 removes an item and renumbers
    with EventLog.open(str(cooked.db)) as log:
        for seq in range(log.base_seq(), log.last_seq()):
            new, old = state_at_seq(log, seq), log.state_at(seq)
            assert isinstance(new, StateAt), seq
            assert first_difference(new.materialise().to_plain(), old.to_plain()) is None, seq
            assert queries.status(new) == queries.status(old), seq
            assert list(queries.items(log, new)) == list(queries.items(log, old)), seq
            for item in list(old.items.values())[::5]:
                assert queries.item_detail(log, new, item.item_id, seq) == queries.item_detail(log, old, item.item_id, seq)
                assert new.items_named(item.name) == old.items_named(item.name), seq
                assert new.job(item.item_id) == old.job(item.item_id), seq


def test_check_replays_into_scratch_tables_without_the_loader(cooked, monkeypatch):
    _forbid_loading(monkeypatch)
    r = cooked.pdg("check", "--json")
    data = json.loads(r.output)
    assert r.exit_code == 0 and data["ok"] and data["difference"] is None, r.output


@pytest.mark.parametrize("tamper, words", [
    ("UPDATE items SET state = 'cooked_fail' WHERE name = 'upper_5'", ["items", "state", "cooked_fail"]),
    ("DELETE FROM items WHERE name = 'upper_6'", ["is missing from the tables"]),
    ("UPDATE node_states SET count = count + 1 WHERE node = 'upper' AND state = 'cooked_success'",
     ["node_states", "count"]),
    ("DELETE FROM links WHERE child IN (SELECT item_id FROM items WHERE name = 'upper_7')", ["links"]),
])
def test_check_names_a_table_row_that_is_not_the_fold(cooked, tamper, words):
    import sqlite3

    conn = sqlite3.connect(str(cooked.db))
    conn.execute(tamper)
    conn.commit()
    conn.close()
    r = cooked.pdg_process("check", "--json")
    data = json.loads(r.stdout)
    assert r.returncode == 1 and not data["ok"], r.stdout
    for word in words:
        assert word in data["difference"], data["difference"]


@pytest.mark.parametrize("refs", [("cook:1", "cook:2"), ("cook:1", "now"), ("cook:3", "cook:1"), ("cook:2", "cook:2")])
def test_diff_reads_only_what_changed_and_says_what_the_full_states_say(cooked, refs):
    """``pdg diff`` reads the items the events between its points touched; its answer is the one
    the two whole states give (``history.diff`` of ``EventLog.state_at`` at both points)."""
    from pdgstore import history, refs as refs_module

    with EventLog.open(str(cooked.db)) as log:
        a, b = (refs_module.resolve(log, r).seq for r in refs)
        whole = history.diff(log, log.state_at(a), log.state_at(b))
        assert history.diff_at(log, a, b) == whole
        if a != b:
            assert whole["items"]


def test_export_of_items_streams_the_tables_and_writes_what_the_whole_state_holds(cooked):
    """``pdg export --what items`` reads the items table one row at a time; its lines are the
    items of the replayed state, in their order."""
    from pdgstore.engine.export import rows

    with EventLog.open(str(cooked.db)) as log:
        state = log.load_state()
        exported = list(rows(log, "items"))
        assert [r["item_id"] for r in exported] == list(state.items)
        assert [r["item_id"] for r in rows(log, "items", 3)] == [i for i, item in state.items.items() if item.cook_id == 3]


def test_the_files_of_a_nodes_items_are_what_their_rows_hold(cooked, tmp_path):
    """``TableState.iter_files_of`` (what a watcher keeps of each item) gives each item's outputs,
    its inputs when it has no parents, whether it has parents, in generation order: as the whole
    item says. The wait-for-all of 20 members holds no long list; a second project's, of 70
    members, keeps its outputs in ``lists`` (``itemlists``), read when iterated. A damaged row
    names its item."""
    big = wide_in(tmp_path / "big")
    big.inputs(70)
    assert big.pdg("cook", "wide.py").exit_code == 0
    for project in (cooked, big):
        with EventLog.open(str(project.db)) as log, log.one_reading():
            store = TableState(log)
            for node in ("files", "upper", "gather", "concat"):
                items = store.items_of("wide", node)
                files = list(store.iter_files_of("wide", node))
                assert [f[0] for f in files] == [i.item_id for i in items]
                for (_id, outputs, inputs, has_parents), item in zip(files, items, strict=True):
                    assert list(outputs) == list(item.outputs) and has_parents == bool(item.parents)
                    assert list(inputs) == ([] if item.parents else list(item.inputs))
    with EventLog.open(str(cooked.db), writer=True) as log:
        damaged = TableState(log).items_named("upper_3")[0].item_id
        log.conn.execute("UPDATE items SET body = x'93' WHERE item_id = ?", (damaged,))
        log.conn.commit()
    with EventLog.open(str(cooked.db)) as log, pytest.raises(DamagedRow, match=f"work item '{damaged}'"):
        list(TableState(log).iter_files_of("wide", "upper"))


def test_labels_of_many_ids_from_one_pass_equal_those_found_by_id(cooked, monkeypatch):
    """A quarter of the items or more are labelled from one pass over the table, fewer by id: the
    same labels either way, the ids that are no item left out, and the latest cook's detail (``pdg
    history COOK``, which names every item it touched at once, removed ones included) the same."""
    from pdgstore import history

    with EventLog.open(str(cooked.db)) as log:
        state = TableState(log)
        every = [row[0] for row in log.conn.execute("SELECT item_id FROM items")]
        asked = [*every, "no-such-item"]
        by_pass = sorted(state.labels(asked))
        detail = history.cook_detail(log, 3, state)
        assert len(by_pass) == len(every)
        monkeypatch.setattr(TableState, "_last_ord", lambda self: 10**9)  # by id, a chunk at a time
        assert sorted(state.labels(asked)) == by_pass
        assert history.cook_detail(log, 3, state) == detail
        assert any(row["removed"] for row in detail["nodes"])
