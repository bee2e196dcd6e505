"""``pdg check`` compares a long list of an item (a wait-for-all's parents, kept in the ``lists``
table) with the snapshot's a stored chunk at a time: it names the first entry that differs, or a
length that differs, and never decodes the list whole on the replay's side."""

from __future__ import annotations

import pdgstore.engine as engine
import pytest

from pdgstore import EventLog, itemlists, tablecheck

MEMBERS = 1_100  # three chunks of ``itemlists.CHUNK`` (512) parents


@pytest.fixture
def gathered(tmp_path) -> str:
    g = engine.Graph("g", root=str(tmp_path))
    wedge = g.wedge("wedge", count=MEMBERS)
    g.wait_for_all("everything", wedge)
    db = str(tmp_path / ".pdg" / "pdg.db")
    summary = engine.cook_graph(g, db=db, jobs=2)
    assert summary.status == "success", summary.message
    return db


def _tamper(db: str, change) -> str:
    """Write a snapshot of the current state with ``change`` made to the partition; its id."""
    with EventLog.open(db, writer=True) as log:
        state = log.load_state()
        partition = next(i for i in state.items.values() if i.node == "everything")
        assert len(partition.parents) == MEMBERS
        change(partition)
        log.save_snapshot(state)
        return partition.item_id


def _check_without_decoding_lists(db: str, monkeypatch) -> str | None:
    """``tablecheck.check``, with any whole read of a stored list during the snapshot's
    comparison made an error."""
    compare = tablecheck.compare_snapshot

    def whole_read_refused(*args, **kwargs):
        raise AssertionError("the comparison decoded a stored list whole")

    def compare_chunk_by_chunk(log, seq, replayed, report=None):
        with monkeypatch.context() as m:
            m.setattr(itemlists, "read_list", whole_read_refused)
            return compare(log, seq, replayed, report)

    monkeypatch.setattr(tablecheck, "compare_snapshot", compare_chunk_by_chunk)
    with EventLog.open(db) as log:
        return tablecheck.check(log).difference


def test_a_sound_store_passes_without_decoding_its_long_lists(gathered, monkeypatch):
    with EventLog.open(gathered) as log:
        rows = log.conn.execute("SELECT count(*) FROM lists WHERE field = 'parents'").fetchone()[0]
    assert rows == 3  # the partition's parents live in ``lists``, in chunks
    _tamper(gathered, lambda partition: None)  # a snapshot at the log's end, as the store has it
    assert _check_without_decoding_lists(gathered, monkeypatch) is None


def test_the_first_entry_that_differs_in_a_later_chunk_is_named(gathered, monkeypatch):
    def swap(partition):
        partition.parents = list(partition.parents)
        partition.parents[700] = partition.parents[0]

    item_id = _tamper(gathered, swap)
    difference = _check_without_decoding_lists(gathered, monkeypatch)
    assert difference is not None
    assert difference.startswith(f"snapshot state['items'][{item_id!r}]['parents'][700]: ")
    assert difference.endswith("(snapshot != replay)")


@pytest.mark.parametrize("cut", [1, -1])
def test_a_list_of_another_length_is_named(gathered, monkeypatch, cut):
    def resize(partition):
        parents = list(partition.parents)
        partition.parents = parents[:-1] if cut > 0 else parents + [parents[0]]

    item_id = _tamper(gathered, resize)
    difference = _check_without_decoding_lists(gathered, monkeypatch)
    shorter, longer = (MEMBERS - 1, MEMBERS) if cut > 0 else (MEMBERS + 1, MEMBERS)
    assert difference == (
        f"snapshot state['items'][{item_id!r}]['parents']: length {shorter} != {longer} (snapshot != replay)"
    )


@pytest.mark.parametrize("value", [True, 1.0, "1", [1]])
def test_a_value_of_another_type_in_a_snapshot_item_is_named(gathered, value):
    """The comparison skips a field whose bytes are the snapshot's (msgpack writes a bool, an int, a
    float and a str apart); a value only ``==`` the replay's (``True == 1``) is still a difference."""
    with EventLog.open(gathered, writer=True) as log:
        state = log.load_state()
        member = next(i for i in state.items.values() if i.node == "wedge" and i.attrs["wedgeindex"] == ["int", [1]])
        member.attrs = {**member.attrs, "wedgeindex": ["int", [value]]}
        log.save_snapshot(state)
    with EventLog.open(gathered) as log:
        difference = tablecheck.check(log).difference
    assert difference is not None and difference.startswith(
        f"snapshot state['items'][{member.item_id!r}]['attrs']['wedgeindex'][1][0]: "
    ), difference


def test_a_snapshot_whose_items_come_in_another_order_is_sound(gathered):
    """The replay's rows are read in their order; an item met out of it is looked up alone."""
    with EventLog.open(gathered, writer=True) as log:
        state = log.load_state()
        state.items = dict(reversed(list(state.items.items())))
        log.save_snapshot(state)
    with EventLog.open(gathered) as log:
        assert tablecheck.check(log).difference is None
