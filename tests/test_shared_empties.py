"""The one empty dict and list that items made with none share (``pdgstore.state.EMPTY_MAP``,
``EMPTY_LIST``): a cook holds every item it made to run until it runs, and each one's own empty
``reason``, ``attrs`` and ``outputs`` were about 120 bytes of it. They refuse every change, and the
fold gives an item containers of its own when something is set on it; what the log says, the
tables hold and a replay gives are the same as with containers of each item's own.
"""

from __future__ import annotations

import msgpack
import pdgstore.engine as engine
import pytest
from pdgstore.engine.cook import bulk

from pdgstore import EventLog, codec, tablecheck
from pdgstore import events as ev
from pdgstore.projection import apply
from pdgstore.state import EMPTY_LIST, EMPTY_MAP, Item, State, first_difference


def test_the_shared_empties_refuse_every_change_and_read_as_plain_ones():
    for change in (
        lambda: EMPTY_MAP.__setitem__("a", 1),
        lambda: EMPTY_MAP.update(a=1),
        lambda: EMPTY_MAP.setdefault("a", 1),
        lambda: EMPTY_MAP.pop("a", None),
        lambda: EMPTY_MAP.clear(),
        lambda: EMPTY_LIST.append(1),
        lambda: EMPTY_LIST.extend([1]),
        lambda: EMPTY_LIST.insert(0, 1),
        lambda: EMPTY_LIST.__setitem__(slice(0, 0), [1]),
        lambda: EMPTY_LIST.__iadd__([1]),
    ):
        with pytest.raises(TypeError, match="shared by every item"):
            change()
    assert EMPTY_MAP == {} and EMPTY_LIST == [] and not EMPTY_MAP and not EMPTY_LIST
    assert msgpack.packb(EMPTY_MAP) == msgpack.packb({}) and msgpack.packb(EMPTY_LIST) == msgpack.packb([])
    assert EMPTY_LIST + [1] == [1] and type(EMPTY_LIST + [1]) is list
    assert Item("i", "g", "n", "n_1", 0, [], {}, [], [], "uncooked").reason is EMPTY_MAP
    # ``pdg check`` compares plain states type for type: a shared empty is a dict or a list there
    assert first_difference({"r": EMPTY_MAP, "o": EMPTY_LIST}, {"r": {}, "o": []}) is None
    assert first_difference({"r": EMPTY_MAP}, {"r": []}) is not None


def _event(kind, seq: int, **fields):
    return codec.new_event(kind, seq, 0, 1, "g", fields)[0]


def test_the_fold_gives_an_item_its_own_containers_when_something_is_set_on_it():
    state = State()
    ids = ["a", "b", "c", "d"]
    batch = {
        "node": "n",
        "state": "uncooked",
        "ids": ids,
        "names": [f"n_{i}" for i in range(1, 5)],
        "indexes": [0, 1, 2, 3],
        "parents": [[]] * 4,
        "attrs": [EMPTY_MAP] * 4,
        "inputs": [[]] * 4,
        "outputs": [EMPTY_LIST] * 4,
        "signatures": [""] * 4,
    }
    apply(state, _event(ev.WorkItemsGenerated, 4, **batch))
    items = state.items
    assert all(items[i].attrs is EMPTY_MAP and items[i].outputs is EMPTY_LIST for i in ids)
    attr = ["int", [1]]
    record = ["out/a.txt", "file", 1, 1, "h"]
    apply(state, _event(ev.WorkItemAttribSet, 5, item_id="a", name="x", attr=attr))
    apply(state, _event(ev.WorkItemOutputAdded, 6, item_id="b", outputs=[record]))
    apply(state, _event(ev.WorkItemCooked, 7, item_id="c", state="cooked_success", attrs={"y": attr}, outputs=[record]))
    assert items["a"].attrs == {"x": attr} and type(items["a"].attrs) is dict
    assert items["b"].outputs == [record] and type(items["b"].outputs) is list
    assert items["c"].attrs == {"y": attr} and items["c"].reason is EMPTY_MAP
    assert items["d"].attrs is EMPTY_MAP and items["d"].outputs is EMPTY_LIST
    assert EMPTY_MAP == {} and EMPTY_LIST == []


@pytest.mark.timeout(120)
def test_a_cook_shares_them_among_the_items_it_makes_and_its_store_is_sound(tmp_path, monkeypatch):
    """The bulk path makes 30 items to run with no attributes and no files yet: they share the
    empties; those the processor sets an attribute on get a dict of their own when they cook. The
    store then holds what a replay of its log gives (``pdg check``'s comparison)."""
    (tmp_path / "in").mkdir()
    for n in range(30):
        (tmp_path / "in" / f"{n:02d}.txt").write_text(f"{n}\n")
    g = engine.Graph("g", root=str(tmp_path))
    files = g.file_pattern("files", "in/*.txt")

    def work(item):
        source = item.input_files[0]
        n = int(source.path.read_text())
        if n % 3 == 0:
            item.set_attrib("third", n)
        out = tmp_path / "out" / f"{n:02d}.txt"
        out.parent.mkdir(exist_ok=True)
        out.write_text(str(n * 2))
        item.add_output_file(str(out))

    g.python_processor("work", files, work)
    made: dict[str, tuple] = {}
    states: list[State] = []
    real = bulk._record

    def spy(walk, run, out, to_run):
        ids = list(out["ids"])
        real(walk, run, out, to_run)
        if run.node.name == "work":
            states.append(walk.state)
            made.update({i: (walk.state.items[i].attrs, walk.state.items[i].outputs) for i in ids})

    monkeypatch.setattr(bulk, "_record", spy)
    db = str(tmp_path / ".pdg" / "pdg.db")
    summary = engine.cook_graph(g, db=db, jobs=2)
    assert summary.status == "success", summary.message
    assert len(made) == 30 and all(a is EMPTY_MAP and o is EMPTY_LIST for a, o in made.values())
    items = states[-1].items
    thirds = {i for i in made if "third" in items[i].attrs}
    assert len(thirds) == 10
    assert all(type(items[i].attrs) is dict for i in thirds)
    assert all(items[i].attrs is EMPTY_MAP for i in set(made) - thirds)
    assert all(type(items[i].outputs) is list and len(items[i].outputs) == 1 for i in made)
    assert EMPTY_MAP == {} and EMPTY_LIST == []
    with EventLog.open(db) as log:
        assert tablecheck.check(log).difference is None
        assert first_difference(log.replay_all().to_plain(), log.current_state().to_plain()) is None
