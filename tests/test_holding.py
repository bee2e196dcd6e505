"""A cook lets go of the items it is done with once their events are written (engine.cook.holding),
reads them back from their rows when asked, and what it holds then equals a replay of the log."""

from __future__ import annotations

import pytest
from pdgstore.engine.cook import bulk, holding, recorder, walk
from pdgstore.engine.cook.holding import Holding
from pdgstore.engine.project import cook_file

from pdgstore.cookstate import CookState, LazyItems
from pdgstore.log import EventLog
from pdgstore.snapshots import pack_snapshot


@pytest.mark.parametrize("appender", [False, True])
def test_a_cold_cook_lets_go_of_what_it_is_done_with_and_reads_it_back_as_the_log_says(wide, monkeypatch, appender):
    inputs = 200
    wide.inputs(inputs)
    monkeypatch.setattr(holding, "HOLD_ITEMS", 50)  # (a cook of fewer items holds them all)
    if appender:  # through the log appender process (else appended in-process: under START_ROWS a flush)
        monkeypatch.setattr(recorder, "START_ROWS", 50)
    cooks = []
    summary = cook_file(str(wide.root / "wide.py"), on_cook=cooks.append)
    assert summary.status == "success" and summary.counts["ran"] == inputs + 1
    state = cooks[0].state
    assert isinstance(state, CookState)
    assert dict.__len__(state.items) < inputs  # of 2 * inputs + 2 items made
    with EventLog.open(str(wide.db)) as log:
        replayed = log.replay_all()
    assert bytes(pack_snapshot(state)) == bytes(pack_snapshot(replayed))  # read back, in the fold's order
    assert cook_file(str(wide.root / "wide.py")).counts["ran"] == 0  # the manifest it wrote holds


def test_a_cold_cook_lets_go_of_born_parents_while_it_makes_their_children(wide, monkeypatch):
    """Made in bulk, a born-cooked node's items (the files) are done once their children (the
    upper items) are made from them, a chunk at a time: the cook lets go of them while it makes
    the rest, never holding both nodes whole, and reads none back to make them (no row is read
    during the start, and no check of the new ids reads every row)."""
    inputs = 300
    wide.inputs(inputs)
    monkeypatch.setattr(holding, "HOLD_ITEMS", 20)
    monkeypatch.setattr(bulk, "CHUNK", 40)
    held_after_batch: list[int] = []
    record_batch = recorder.Recorder.record_batch

    def counted(self, node, item_state, columns):
        record_batch(self, node, item_state, columns)
        held_after_batch.append(dict.__len__(self.state.items))

    monkeypatch.setattr(recorder.Recorder, "record_batch", counted)
    rows_read_at_start = []
    start = walk.Walk.start

    def started(self, *args, **kwargs):
        result = start(self, *args, **kwargs)
        rows_read_at_start.append(self.state.items.rows_read)
        return result

    monkeypatch.setattr(walk.Walk, "start", started)
    cooks = []
    summary = cook_file(str(wide.root / "wide.py"), on_cook=cooks.append)
    assert summary.status == "success" and summary.counts["ran"] == inputs + 1
    assert rows_read_at_start == [0]
    assert len(held_after_batch) == 2 * 8, held_after_batch  # each node in chunks of 40 (300 = 7 * 40 + 20)
    assert max(held_after_batch) < 1.5 * inputs, held_after_batch  # never both nodes whole at once
    with EventLog.open(str(wide.db)) as log:
        replayed = log.replay_all()
    assert bytes(pack_snapshot(cooks[0].state)) == bytes(pack_snapshot(replayed))
    assert cook_file(str(wide.root / "wide.py")).counts["ran"] == 0


def test_a_cold_cook_keeps_no_book_of_the_ids_it_let_go_of_nor_of_what_it_remade(wide, monkeypatch):
    """On a store that held no item, what the cook let go of is found through its state's ids per
    node (``LazyItems``' ``known``), not a set of its own, and it keeps no ``remade`` (no item had a
    record before it, so no decision asks). It reads an item it let go of back when asked, and
    never asks the tables about an id it did not make. The next cook, on a store with items,
    keeps ``remade`` again and runs exactly what changed."""
    inputs = 200
    wide.inputs(inputs)
    monkeypatch.setattr(holding, "HOLD_ITEMS", 50)
    cooks: list = []
    assert cook_file(str(wide.root / "wide.py"), on_cook=cooks.append).status == "success"
    cook = cooks[0]
    state, items = cook.state, cook.state.items
    assert not cook.settle.keeps_remade and not cook.settle.remade
    made = [i for ids in state.node_items.values() for i in ids]
    let_go = [i for i in made if not items.is_read(i)]
    assert len(made) == 2 * inputs + 2 and len(let_go) > inputs
    assert not any(isinstance(v, set) and len(v) >= len(let_go) for v in vars(items).values())
    statements: list[str] = []
    items._reader.conn.set_trace_callback(statements.append)
    assert "0123456789abcdef" not in items and items.get("fedcba9876543210") is None
    assert statements == []  # an id it did not make: not looked for
    assert items[let_go[0]].item_id == let_go[0] and any("FROM items WHERE item_id" in s for s in statements)
    assert not items.holds_none(let_go[:3]) and items.holds_none(["0123456789abcdef"])
    node = next(key for key, ids in state.node_items.items() if let_go[-1] in ids)  # (let_go[0] is read back)
    other = next(key for key in state.node_items if key != node)
    assert not items.holds_none(let_go[-1:], node) and items.holds_none(let_go[-1:], other)  # its node's ids alone
    with EventLog.open(str(wide.db)) as log:
        replayed = log.replay_all()
    assert bytes(pack_snapshot(state)) == bytes(pack_snapshot(replayed))

    (wide.root / "in" / "f0005.txt").write_text("changed\n")
    cooks.clear()
    summary = cook_file(str(wide.root / "wide.py"), on_cook=cooks.append)
    assert summary.counts["ran"] == 2, summary.counts  # its upper item and the concatenation
    assert cooks[0].settle.keeps_remade and cooks[0].settle.remade


class _Items(dict):
    def __init__(self) -> None:
        super().__init__()
        self.gone: list[str] = []

    def let_go(self, ids) -> None:
        self.gone.extend(ids)


def test_an_item_waits_for_every_event_about_it_and_a_node_event_holds_every_item(monkeypatch):
    monkeypatch.setattr(holding, "HOLD_ITEMS", -1)
    items = _Items()
    held = Holding(items)  # type: ignore[arg-type]
    held.done("a", 5)
    held.done("b", 6)
    held.touched("a", "WorkItemAttribSet", 9)  # about a, after it was handed on
    held.release(6)
    assert items.gone == ["b"]
    held.release(8)
    assert items.gone == ["b"]
    held.release(9)
    assert items.gone == ["b", "a"]
    held.done("c", 10)
    held.touched(None, "NodeDirtied", 12)
    held.release(11)
    assert items.gone == ["b", "a"]
    held.release(12)
    assert items.gone == ["b", "a", "c"]


SPLIT_GRAPH = """
import time

from pdgstore.engine import Graph

graph = Graph("split")
files = graph.file_pattern("files", "in/*.txt")


@graph.python_processor("work", upstream=files)
def work(item):
    if item.index >= 300:  # the second cook's new items take a while: it is cancelled halfway
        time.sleep(0.01)
    item.set_attrib("half", item.index % 2)


@graph.python_processor("check", upstream=files)
def check(item):
    if item.index == 7:
        raise ValueError("seven")


halves = graph.partition_by_attribute("halves", work, "half")


@graph.python_processor("after", upstream=halves)
def after(item):
    pass
"""


def test_a_cook_that_let_go_of_items_never_reads_every_row_back(project, monkeypatch):
    """With items let go of as they cooked, the parts of a cook that ask about many of them read
    only what they need, never every row of the store: a dynamic partition's members (read in
    one pass of their node), the failures the summary lists (only the failed item), and what a
    cancel records cancelled (an item let go of is settled)."""
    inputs = 300
    project.write("split.py", SPLIT_GRAPH)
    project.inputs(inputs)
    monkeypatch.setattr(holding, "HOLD_ITEMS", 20)

    def read_all(self):
        raise AssertionError("the cook read every item back")

    monkeypatch.setattr(LazyItems, "read_all", read_all)
    summary = cook_file(str(project.root / "split.py"))
    assert summary.counts["failed"] == 1 and summary.counts["ran"] == 2 * inputs - 1 + 2, summary.counts
    assert [f["name"] for f in summary.failed_items] == ["check_8"]

    project.inputs(inputs + 300)  # 300 new inputs: their chain runs; cancelled once 100 of them settled
    cooks: list = []

    def progress(done: int, total: int) -> None:
        if cooks and total - done < 200:
            cooks[0].cancel("enough")

    summary = cook_file(str(project.root / "split.py"), on_cook=cooks.append, progress=progress)
    assert summary.status == "cancelled" and summary.counts["cancelled"] > 0, summary


def test_a_recook_after_a_code_change_holds_neither_node_whole(wide, monkeypatch):
    """The processor's code changed, so every upper item runs again, made in bulk from the files
    kept as recorded (``engine.cook.ahead``). The records of each chunk of upper items are read by
    their ids, not by a pass over the whole node; the files, which no event of this cook is about,
    are handed over as soon as their children are made (the seq recorded at their comparison, not
    the chunk's last); the cook then holds neither node whole, and its state equals the replay."""
    inputs = 300
    wide.inputs(inputs)
    assert cook_file(str(wide.root / "wide.py")).status == "success"
    wide.write("wide.py", (wide.root / "wide.py").read_text().replace(".upper())", ".upper() + '!')"))
    monkeypatch.setattr(holding, "HOLD_ITEMS", 20)
    monkeypatch.setattr(bulk, "CHUNK", 40)
    scanned: list[str] = []
    scan = LazyItems._scan_node

    def scanning(self, graph, node, wanted):
        scanned.append(node)
        return scan(self, graph, node, wanted)

    monkeypatch.setattr(LazyItems, "_scan_node", scanning)
    done: dict[str, int] = {}  # item id -> the seq it was first handed over with
    hand_over = Holding.done

    def handed_over(self, item_id, seq):
        done.setdefault(item_id, seq)
        return hand_over(self, item_id, seq)

    monkeypatch.setattr(Holding, "done", handed_over)
    held: list[int] = []
    compare = bulk._compare

    def compared(walk_, run, out, to_run):
        kept = compare(walk_, run, out, to_run)
        held.append(dict.__len__(walk_.state.items))
        return kept

    monkeypatch.setattr(bulk, "_compare", compared)
    cooks: list = []
    summary = cook_file(str(wide.root / "wide.py"), on_cook=cooks.append)
    assert summary.status == "success" and summary.counts["ran"] == inputs + 1, summary.counts
    assert "upper" not in scanned, scanned
    state = cooks[0].state
    files = list(state.node_items[("wide", "files")])
    with EventLog.open(str(wide.db)) as log:
        first_upper = log.conn.execute(
            "SELECT min(seq) FROM events WHERE cook_id = ? AND kind = 'WorkItemGenerated'", (cooks[0].cook_id,)
        ).fetchone()[0]
        replayed = log.replay_all()
    assert first_upper is not None and all(done[i] < first_upper for i in files)
    assert len(held) == 1 + 8 and max(held[1:]) < 1.5 * inputs, held  # the files whole, then upper's 8 chunks
    assert bytes(pack_snapshot(state)) == bytes(pack_snapshot(replayed))
    assert cook_file(str(wide.root / "wide.py")).counts["ran"] == 0
