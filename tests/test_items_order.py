"""``pdg items NODE`` lists a node's items in work item order after recooks, as after the first
cook: an item made again (its input removed, then back) or new among the others (an input added
between two) stands where its name's number puts it, not last. The order is read through an index
(``pdgstore.itemorder``), a row at a time, never sorted whole."""

from __future__ import annotations

import json

import pytest

from pdgstore import queries
from pdgstore.log import EventLog
from pdgstore.readmodel import TableState

GRAPH = """
import os
from pdgstore.engine import Graph

graph = Graph("g")
texts = graph.file_pattern("texts", "texts/*.txt")

@graph.python_processor("count", upstream=texts)
def count(item):
    os.makedirs("counts", exist_ok=True)
    out = f"counts/{item.input_path.stem}.txt"
    with open(out, "w") as f:
        f.write(str(len(item.input_path.read_text().split())))
    item.add_output_file(out)
"""


@pytest.fixture
def recooked(project):
    """g.py cooked over a, b, c, d, e; then bb added (between b and c); then c removed; then c back."""
    project.write("g.py", GRAPH)
    for stem in "abcde":
        project.write(f"texts/{stem}.txt", f"words of {stem}\n")
    assert project.pdg("cook", "g.py").exit_code == 0
    project.write("texts/bb.txt", "new words\n")
    assert project.pdg("cook", "g.py").exit_code == 0
    (project.root / "texts" / "c.txt").unlink()
    assert project.pdg("cook", "g.py").exit_code == 0
    project.write("texts/c.txt", "back again\n")
    assert project.pdg("cook", "g.py").exit_code == 0
    return project


ORDER = ["a", "b", "bb", "c", "d", "e"]


def _stems(rows: list[dict]) -> list[str]:
    return [r["outputs"][0]["path"].split("/")[1].removesuffix(".txt") for r in rows]


def test_items_after_recooks_are_in_work_item_order(recooked):
    result = recooked.pdg("items", "count")
    assert result.exit_code == 0, result.output
    lines = [line.split("\t") for line in result.output.splitlines()[1:]]
    assert [cells[1] for cells in lines] == [f"count_{n}" for n in range(1, 7)]
    assert [cells[5].split("/")[1].split(".")[0] for cells in lines] == ORDER
    for node in ("count", "texts"):
        data = json.loads(recooked.pdg("items", node, "--json").output)
        assert [r["name"] for r in data["items"]] == [f"{node}_{n}" for n in range(1, 7)]
        assert [r["index"] for r in data["items"]] == list(range(6))
    every = json.loads(recooked.pdg("items", "--json").output)["items"]
    assert [r["name"] for r in every] == [f"{node}_{n}" for node in ("texts", "count") for n in range(1, 7)]
    chosen = json.loads(recooked.pdg("items", "count", "--state", "cooked_success", "--json").output)
    assert _stems(chosen["items"]) == ORDER


def test_items_in_a_state_are_in_work_item_order(recooked):
    """A state holding most of the node walks the order's index; a rarer one's rows are found by
    state, then sorted: the same order either way."""
    for name in ("count_3", "count_4", "count_1"):  # bb (made last), c (made again), a
        assert recooked.pdg("dirty", name).exit_code == 0
    rare = json.loads(recooked.pdg("items", "count", "--state", "dirty", "--json").output)
    assert _stems(rare["items"]) == ["a", "bb", "c"]
    assert recooked.pdg("dirty", "count_6").exit_code == 0  # e: now 4 of the 6 are dirty
    most = json.loads(recooked.pdg("items", "count", "--state", "dirty", "--json").output)
    assert _stems(most["items"]) == ["a", "bb", "c", "e"]
    rest = json.loads(recooked.pdg("items", "count", "--state", "cooked_success", "--json").output)
    assert _stems(rest["items"]) == ["b", "d"]


def test_items_at_a_point_are_in_work_item_order(recooked):
    data = json.loads(recooked.pdg("items", "count", "--json", "--at", "cook:3").output)
    assert [r["name"] for r in data["items"]] == [f"count_{n}" for n in range(1, 6)]
    assert _stems(data["items"]) == ["a", "b", "bb", "d", "e"]


def test_the_listing_reads_through_an_index_without_sorting(recooked):
    """The plan of a node's listing walks an index in the listed order: no temporary B-tree sorts
    the node's rows (a million of them, before the first is written)."""
    with EventLog.open(str(recooked.db)) as log:
        statements: list[str] = []
        log.conn.set_trace_callback(statements.append)
        try:
            rows = list(queries.items(log, TableState(log), "count"))
        finally:
            log.conn.set_trace_callback(None)
        assert _stems(rows) == ORDER
        listing = [sql for sql in statements if "FROM items " in sql and "node = " in sql]
        assert listing, statements
        plans = [row[-1] for sql in listing for row in log.conn.execute("EXPLAIN QUERY PLAN " + sql)]
    assert not [p for p in plans if "TEMP B-TREE" in p], plans
    assert any("USING INDEX items_place" in p for p in plans), plans


def test_a_schema_4_store_is_upgraded_with_the_index(recooked):
    """A store of schema 4 (no ``items_place``) gains the index when a read command opens it, and
    lists in work item order; ``pdg check`` finds its tables whole."""
    import sqlite3

    from pdgstore import schema

    conn = sqlite3.connect(recooked.db)
    with conn:
        conn.execute("DROP INDEX items_place")
        conn.execute("UPDATE meta SET value = '4' WHERE key = 'schema'")
    conn.execute("PRAGMA user_version = 4")
    conn.close()
    db = str(recooked.db)
    assert schema.check_header(db, db) == 4
    data = json.loads(recooked.pdg("items", "count", "--json").output)
    assert _stems(data["items"]) == ORDER
    assert schema.check_header(db, db) == schema.SCHEMA_VERSION
    with EventLog.open(db) as log:
        assert log.conn.execute("SELECT count(*) FROM meta WHERE key = 'migrated:5'").fetchone() == (1,)
    check = json.loads(recooked.pdg("check", "--json").output)
    assert check["ok"], check


def test_an_overlay_merges_its_items_into_the_order(recooked):
    """``merged_in_order``: the tables' rows in work item order, less those an overlay (``--at``'s
    ``StateAt``) replaces, merged with its own items: the order the tables alone give."""
    from pdgstore.readmodel import merged_in_order

    with EventLog.open(str(recooked.db)) as log:
        state = TableState(log)
        whole = list(state.iter_items_in_order("g", "count", summary=True))
        ords = dict(log.conn.execute("SELECT item_id, ord FROM items WHERE node = 'count'").fetchall())
        for taken in ({whole[0].item_id}, {whole[2].item_id, whole[3].item_id}, {i.item_id for i in whole}):
            rows = (r for r in state._place_rows("g", "count", None, True) if r[1] not in taken)
            own = [i for i in reversed(whole) if i.item_id in taken]
            merged = list(merged_in_order(log.conn, "count", rows, own, ords))
            assert [i.item_id for i in merged] == [i.item_id for i in whole]



def test_the_web_views_items_are_in_work_item_order(recooked):
    """The web view's node listing (``/api/items``) lists as ``pdg items`` does, now and at a point."""
    from pdgstore.engine.web.api import WebApi

    web = WebApi(str(recooked.db))
    for at, names in ((None, range(1, 7)), ("cook:3", range(1, 6))):
        listed = web.items("g", "count", at=at)
        assert listed["names"] == [f"count_{n}" for n in names]
        args = ["items", "count", "--json"] + (["--at", at] if at else [])
        assert listed["ids"] == [r["item_id"] for r in json.loads(recooked.pdg(*args).output)["items"]]
