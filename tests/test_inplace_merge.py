"""A wait-for-all merged in place (``engine.cook.inplace``): after a recook remade a few of its
members, the partition is merged from them alone, and records exactly what merging every member
records, event for event; its patched signature is the one made from every member.

Each case cooks the same project in two folders, then edits both the same way and recooks them,
once with the in-place merge and once with it turned off.
"""

from __future__ import annotations

import os
from pathlib import Path

import pdgstore.engine as engine
import pytest
from pdgstore.engine.cook import inplace
from pdgstore.engine.incremental import signatures
from test_bulk_ahead import _events

from pdgstore import EventLog

pytestmark = pytest.mark.timeout(120)

FILES = 40


def _graph(root: str, *, with_attrs: bool, merge_output_files: str = "all"):
    g = engine.Graph("g", root=root)
    files = g.file_pattern("files", "in/*.txt")

    def upper(item):
        source = item.input_files[0]
        text = source.path.read_text()
        out = "out1/" + os.path.basename(source.relpath)
        os.makedirs("out1", exist_ok=True)
        Path(out).write_text(text.upper())
        item.add_output_file(out)
        if with_attrs:
            item.set_attrib("length", len(text))

    up = g.python_processor("upper", files, upper)
    everything = g.wait_for_all("everything", up)
    everything.merge_output_files = merge_output_files  # PDG's "Merge Output Files" (the class's default: all)

    def concat(item):
        parts = [f.path.read_text() for f in sorted(item.input_files, key=lambda f: f.relpath)]
        os.makedirs("out2", exist_ok=True)
        Path("out2/all.txt").write_text("".join(parts))
        item.add_output_file("out2/all.txt")

    g.python_processor("concat", everything, concat)
    return g


def _project(folder: Path) -> str:
    (folder / "in").mkdir(parents=True)
    for i in range(FILES):
        (folder / "in" / f"f{i:03d}.txt").write_text(f"file {i}\n")
    return str(folder)


def _recook(folder: Path, edits: list, monkeypatch, *, use_in_place: bool, **kw) -> tuple:
    """Cook the project, apply ``edits`` (input index -> new text), recook: the recook's events,
    every item, how many partitions were merged in place, and whether the recorded partition's
    signature is the one made from every member."""
    root = _project(folder)
    db = str(folder / ".pdg" / "pdg.db")
    assert engine.cook_graph(_graph(root, **kw), db=db, jobs=2).status == "success"
    for i, text in edits:
        path = folder / "in" / f"f{i:03d}.txt"
        path.write_text(text)
        os.utime(path, ns=(2_000_000_000_000_000_000 + i, 2_000_000_000_000_000_000 + i))
    made: list = []
    real = inplace.merge

    def merge(items, node, item, prev):
        decision = real(items, node, item, prev) if use_in_place else None
        made.append(decision is not None)
        return decision

    monkeypatch.setattr(inplace, "merge", merge)
    summary = engine.cook_graph(_graph(root, **kw), db=db, jobs=2)
    monkeypatch.setattr(inplace, "merge", real)
    assert summary.status == "success", summary.message
    with EventLog.open(db) as log:
        state = log.load_state()
    items = {
        i.item_id: (i.node, i.name, i.state, i.attrs, [o[:3] for o in i.outputs], i.signature)
        for i in state.items.values()
    }
    partition = next(i for i in state.items.values() if i.node == "everything")
    members = [state.items[m] for m in partition.parents]
    signed = partition.signature == signatures.partition_signature(_node_fp(state, "everything"), {}, members)
    again = engine.cook_graph(_graph(root, **kw), db=db, jobs=2)
    assert again.counts["ran"] == 0 and again.counts["updated"] == 0  # and then nothing is left to do
    return _events(db, summary.cook_id, root), items, made, signed, dict(summary.counts)


def _node_fp(state, node: str) -> str:
    from pdgstore.engine.incremental.signatures import node_fingerprint

    described = next(d for d in state.graphs["g"].nodes if d["name"] == node)
    return node_fingerprint(described)


CASES = {
    "one changed": ([(7, "seven, changed\n")], {"with_attrs": False}),
    "three changed": ([(0, "first\n"), (19, "middle\n"), (39, "last\n")], {"with_attrs": False}),
    # its input changed, its output did not (upper-cased already): the partition is reused, its
    # files' records refreshed (early cutoff)
    "a member remade with the same files": ([(5, "FILE 5\n")], {"with_attrs": False}),
    "no files merged": ([(3, "three\n")], {"with_attrs": False, "merge_output_files": "none"}),
    # more than ``inplace.FEW``: the member and file lists are gone over once for all of them
    "twelve changed": ([(i, f"number {i}, changed\n") for i in range(1, 37, 3)], {"with_attrs": False}),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_a_partition_merged_in_place_records_what_merging_every_member_records(tmp_path, monkeypatch, case):
    edits, kw = CASES[case]
    full = _recook(tmp_path / "full", edits, monkeypatch, use_in_place=False, **kw)
    fast = _recook(tmp_path / "fast", edits, monkeypatch, use_in_place=True, **kw)
    assert full[2] in ([], [False])
    assert fast[2] == [True]  # merged in place
    assert fast[0] == full[0]  # the recook's events, one for one
    assert fast[1] == full[1]  # every item, its signature included
    assert fast[3] and full[3]  # the recorded signature is the one every member makes
    assert fast[4] == full[4]


def test_a_member_whose_attributes_changed_is_merged_from_every_member(tmp_path, monkeypatch):
    """The merged attributes may change anywhere when a member's do: the in-place merge declines."""
    edits = [(7, "seven, longer than it was\n")]
    full = _recook(tmp_path / "full", edits, monkeypatch, use_in_place=False, with_attrs=True)
    fast = _recook(tmp_path / "fast", edits, monkeypatch, use_in_place=True, with_attrs=True)
    assert fast[2] == [False]
    assert fast[0] == full[0] and fast[1] == full[1]


@pytest.mark.parametrize("few", [inplace.FEW, 0], ids=["looked up", "one pass"])
def test_two_files_with_the_same_path_in_a_partition_are_merged_from_every_member(monkeypatch, few):
    """Where a member's files sit in the partition's list is proven by their path occurring once:
    a list where it occurs twice is declined (looked up one by one, or in one pass for many)."""
    monkeypatch.setattr(inplace, "FEW", few)
    was = inplace.Was("a", [["x.txt", "file", 1, 2, "h"]], {})
    now = inplace.Was("a", [["x.txt", "file", 1, 3, "k"]], {})
    outputs = [["x.txt", "file", 1, 2, "h"], ["y.txt", "file", 1, 2, "h"], ["x.txt", "file", 1, 2, "h"]]
    assert inplace._files_in_place([list(o) for o in outputs], [(0, was, now)]) is None
    assert inplace._files_in_place([list(o) for o in outputs[:2]], [(0, was, now)]) == [now.outputs[0], outputs[1]]
    assert inplace._single_places(["m", "n", "m"], ["m", "n", "o"]) == {"m": -1, "n": 1}
