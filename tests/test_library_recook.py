"""The recook shortcuts with the node library (issue 19): a graph built from wedges, frame ranges,
attribute nodes, filters, splits, merges, sorts, mappers and partitions takes the no-op proof (a
recook after no change records every item reused without deciding each) and the delta walk (one
changed file decides only what it reaches), and what they record equals the full walk's.

Each cook is a real cook of a graph file into a real store; what ran is read from a file the work
writes.
"""

from __future__ import annotations

import os
import shutil
import textwrap

import pytest

from pdgstore.engine import Graph
from pdgstore.engine.cook.loop import Cook
from pdgstore.engine.errors import GraphError
from pdgstore.engine.graph.loader import load_graph
from pdgstore.engine.incremental import delta, manifest, noop
from pdgstore.engine.project import cook_file
from pdgstore.log import EventLog
from pdgstore.state import first_difference

GRAPH = textwrap.dedent(
    """
    import os
    from pdgstore.engine import Graph, wedge_values

    graph = Graph("lib")
    threshold = graph.parm("threshold", 2)
    wedge = graph.wedge("wedge", attributes=[wedge_values("v", [1, 2, 3, 4])])
    frames = graph.frame_range("frames", wedge, start=1, end=3)
    made = graph.attribute_create("made", frames, {"label": "v@v"})
    renamed = graph.attribute_rename("renamed", made, {"label": "title"})
    big = graph.filter_by_expression("big", renamed, lambda item: item["v"] >= threshold)
    first, rest = graph.split("first", big, count=4)
    both = graph.merge("both", [first, rest])
    script = graph.python_script("script", both, code="work_item.setIntAttrib('twice', work_item.attribValue('v') * 2)")

    def note(what):
        with open("ran.log", "a") as f:
            f.write(what + "\\n")

    @graph.python_processor("work", upstream=script)
    def work(item):
        dst = "out/v%d_f%d.txt" % (item["v"], item["frame"])
        note("work|" + dst)
        os.makedirs("out", exist_ok=True)
        with open(dst, "w") as f:
            f.write("%s %s" % (item["title"], item["twice"]))
        item.add_output_file(dst)

    byframe = graph.partition_by_frame("byframe", work)
    ordered = graph.sort("ordered", byframe, attributes="frame", reverse=True)
    mapped = graph.map_by_index("mapped", ordered, byframe)

    @graph.python_processor("join", upstream=mapped)
    def join(item):
        note("join|" + item.name)
        os.makedirs("joined", exist_ok=True)
        dst = "joined/%s.txt" % item.name
        with open(dst, "w") as f:
            f.write(" ".join(sorted(open(x).read() for x in {i.path for i in item.input_files})))
        item.add_output_file(dst)
    """
)


@pytest.fixture
def lib(tmp_path):
    root = tmp_path / "lib"
    root.mkdir()
    (root / "g.py").write_text(GRAPH)
    return root


def cook(root, **overrides):
    log = root / "ran.log"
    if log.exists():
        log.unlink()
    summary = cook_file(str(root / "g.py"), overrides={k: str(v) for k, v in overrides.items()}, jobs=2)
    assert summary.status == "success", summary.message
    ran = log.read_text().splitlines() if log.exists() else []
    return summary, ran


def walk(root) -> Cook:
    """A cook made by hand (no manifest), so the test can ask which walk it took."""
    graph = load_graph(str(root / "g.py"))
    with EventLog.open(str(root / ".pdg" / "pdg.db"), writer=True, create=True) as log:
        c = Cook(log, graph, jobs=1)
        c.summary = c.run()
    return c


def test_a_mapper_refuses_its_target_among_its_sources():
    graph = Graph("g")
    a = graph.range_generate("a", 2)
    b = graph.range_generate("b", 2)
    with pytest.raises(GraphError, match="mapper m: node b is its target; it cannot be one of its sources too"):
        graph.map_by_index("m", [a, b], b)


def test_every_library_node_is_in_the_shortcut(lib):
    graph = load_graph(str(lib / "g.py"))
    assert all(type(node) in noop.PURE_NODES for node in graph.nodes.values())


def test_a_recook_after_no_change_is_proven_a_no_op(lib, monkeypatch):
    first, ran = cook(lib)
    assert first.counts["ran"] >= len(ran) > 0  # the python script runs too, and notes nothing
    answered = []
    real = manifest.try_noop
    monkeypatch.setattr(manifest, "try_noop", lambda *a, **k: answered.append(real(*a, **k)) or answered[-1])
    summary, ran = cook(lib)
    assert ran == [] and summary.counts["ran"] == 0
    assert answered[0][0] is not None  # the manifest proved it: no item was decided
    # and, with the manifest set aside, the no-op proof of engine.incremental.noop proves it too
    proofs = []
    real_proof = noop.nothing_to_do
    monkeypatch.setattr(manifest, "try_noop", lambda *a, **k: (None, None))
    monkeypatch.setattr(noop, "nothing_to_do", lambda *a, **k: proofs.append(real_proof(*a, **k)) or proofs[-1])
    summary, ran = cook(lib)
    assert proofs == [True] and ran == []


def test_one_changed_file_decides_only_what_it_reaches(lib, tmp_path):
    cook(lib)
    copy = tmp_path / "copy"
    shutil.copytree(lib, copy)
    (lib / "out" / "v3_f2.txt").write_text("edited by hand")
    (lib / "ran.log").unlink()
    c = walk(lib)
    assert c.affected is not None  # the delta walk, not the full one
    # the chain of the one item (up to its wedge item, which hands it on again) and what holds it
    per_node: dict = {}
    for i in c.affected:
        item = c.state.items[i]
        per_node.setdefault(item.node, []).append(item.name)
    assert {"wedge", "frames", "work", "byframe", "join"} <= set(per_node)
    assert per_node["wedge"] == ["wedge_3"], per_node  # one wedge item of four: its frames are decided again
    assert len(per_node["work"]) <= 3 and len(c.affected) < len(c.state.items) // 2, per_node
    reran = (lib / "ran.log").read_text().splitlines()
    assert reran == ["work|out/v3_f2.txt"]  # it makes the same file again: the join is cut off
    assert (lib / "out" / "v3_f2.txt").read_text() == "v3 6"
    # the same change through the full walk records the same state
    (copy / "out" / "v3_f2.txt").write_text("edited by hand")
    real = delta.affected
    try:
        delta.affected = lambda *a, **k: None
        full = walk(copy)
    finally:
        delta.affected = real
    assert full.affected is None
    assert full.summary.counts == c.summary.counts
    mine = {i.name: (i.state, i.attrs, [o[0] for o in i.outputs]) for i in c.state.items.values()}
    theirs = {i.name: (i.state, i.attrs, [o[0] for o in i.outputs]) for i in full.state.items.values()}
    assert mine == theirs
    with EventLog.open(str(lib / ".pdg" / "pdg.db")) as log:
        assert first_difference(log.replay_all().to_plain(), log.load_state().to_plain()) is None


def test_a_graph_parameter_a_filter_reads_is_part_of_its_definition(lib):
    """The filter's function reads ``threshold``: changing it changes the filter's definition, so
    the shortcuts step aside and the filter decides again (without it, it would keep its items)."""
    cook(lib)
    summary, ran = cook(lib, threshold=4)
    work = sorted(line for line in ran if line.startswith("work|"))
    assert work == []  # items of v >= 4 existed already; the others are removed
    with EventLog.open(str(lib / ".pdg" / "pdg.db")) as log:
        state = log.load_state()
    values = sorted({i.attrs["v"][1][0] for i in state.items.values() if i.node == "work"})
    assert values == [4]
    summary, ran = cook(lib, threshold=1)
    assert sorted({line.split("_")[0] for line in ran if line.startswith("work|")}) == ["work|out/v1", "work|out/v2", "work|out/v3"]
    assert os.path.exists(lib / "out" / "v1_f3.txt")
