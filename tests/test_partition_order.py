"""A partition's members are in work item order (PDG's): the upstream node's items in the order they
were created, which for items made from parents is the parents' order, then each parent's children
by index; never by index first, which interleaves the children of different parents. Seed 004's
wedge x frames network in small: a file per variant, three frames of each, a partition per frame
and one of everything. The first member's attribute wins a merge and the files follow member
order, so both are asserted, through real cooks (``pdg cook``): cold, a no-op, a recook of one
changed input (the delta walk), a store recorded before this order (the upgrade's one recook and
what ``pdg explain`` says of it); and the static plan (``--generate-only``), the full walk and the
delta walk give the same order."""

from __future__ import annotations

import shutil

import pytest
from pdgstore.engine.cook import as_generated
from pdgstore.engine.cook import static as static_plan
from pdgstore.engine.cook import walk as walk_module
from pdgstore.engine.incremental import manifest, signatures

from pdgstore.log import EventLog

pytestmark = pytest.mark.timeout(120)

GRAPH = """
import os
from pdgstore.engine import Graph

graph = Graph("wf")
src = graph.file_pattern("src", "in/*.txt")
sources = graph.wait_for_all("sources", src)
{fan_out}

@graph.python_processor("shade", upstream=frames)
def shade(item):
    path = item.input_files[0].relpath
    variant = os.path.basename(path)[:-4]
    os.makedirs("out", exist_ok=True)
    out = f"out/{{variant}}_w{{item.attrib_value('wedgeindex', default=0)}}_f{{item['frame']}}.txt"
    with open(path) as f, open(out, "w") as o:
        o.write(f.read().strip() + f" {{item['frame']}}\\n")
    item.add_output_file(out)
    item.set_attrib("variant", variant)

byframe = graph.partition_by_frame("byframe", shade)
everything = graph.wait_for_all("everything", shade)
"""

#: variants x frames (seed 004's wedge x frames), and variants x a wedge of 2 x frames
SHAPES = {
    "frames": 'frames = graph.frame_range("frames", src, start=1, end=3)',
    "wedge_frames": 'wedged = graph.wedge("wedged", src, count=2)\n'
    'frames = graph.frame_range("frames", wedged, start=1, end=2)',
}
VARIANTS = ("b", "a", "c", "d")  # in/a.txt first: the file pattern's order is its files' sorted order


def make(project, shape: str = "frames"):
    project.write("wf.py", GRAPH.format(fan_out=SHAPES[shape]))
    for v in VARIANTS:
        project.write(f"in/{v}.txt", f"variant {v}\n")
    return project


def cook(project, *args: str) -> None:
    result = project.pdg("cook", "wf.py", *args)
    assert result.exit_code == 0, result.output


def state_of(project):
    with EventLog.open(str(project.db)) as log:
        return log.load_state()


def pdg_order(state, item) -> tuple:
    """PDG's work item order, from the definition: the parents' order, then the item's index (a
    root item by its index alone)."""
    if not item.parents:
        return (item.index,)
    return (*pdg_order(state, state.items[item.parents[0]]), item.index)


def members(state, name: str) -> list:
    (partition,) = [i for i in state.items.values() if i.name == name]
    return [state.items[m] for m in partition.parents]


def partitions(state) -> dict[str, list[str]]:
    """Each partition's name -> its members' ids, in its order."""
    nodes = ("sources", "byframe", "everything")
    return {i.name: list(i.parents) for i in state.items.values() if i.node in nodes}


def value(item, name: str):
    values = item.attrs[name][1]
    return values[0] if len(values) == 1 else values


def check_order(state, shape: str = "frames") -> None:
    """Every partition lists its members in PDG's order; the merge kept the first member's
    attribute and the members' files in that order."""
    for name in partitions(state):
        found = members(state, name)
        assert found == sorted(found, key=lambda m: pdg_order(state, m)), name
    for frame in (1, 2):
        (partition,) = [i for i in state.items.values() if i.name == f"byframe_{frame}"]
        found = members(state, partition.name)
        assert [value(m, "variant") for m in found][:: len(found) // 4] == ["a", "b", "c", "d"]
        assert value(partition, "variant") == "a"  # the first member's: the first variant's
        assert [o[0] for o in partition.outputs] == [o[0] for m in found for o in m.outputs]
    everything = [(value(m, "variant"), value(m, "frame")) for m in members(state, "everything_1")]
    if shape == "frames":  # a variant's frames, then the next variant's
        assert everything[:4] == [("a", 1), ("a", 2), ("a", 3), ("b", 1)]
    else:  # a variant's first wedge's frames, its second wedge's, then the next variant's
        assert everything[:5] == [("a", 1), ("a", 2), ("a", 1), ("a", 2), ("b", 1)]


def test_a_partition_holds_its_members_in_work_item_order_through_recooks(project, monkeypatch):
    make(project)
    cook(project)
    before = state_of(project)
    check_order(before)

    cook(project)  # nothing changed: a no-op keeps every partition as it is
    assert partitions(state_of(project)) == partitions(before)

    deltas: list = []
    real = walk_module.Walk.walk_delta
    monkeypatch.setattr(walk_module.Walk, "walk_delta", lambda self, *a: (deltas.append(a), real(self, *a))[1])
    project.write("in/c.txt", "variant c, changed\n")
    cook(project)
    assert deltas, "one changed input: the delta walk"
    after = state_of(project)
    check_order(after)
    assert partitions(after) == partitions(before)
    assert (project.root / "out" / "c_w0_f2.txt").read_text() == "variant c, changed 2\n"


def _plain(state, ids: list[str]) -> list[str]:
    return [state.items[i].name for i in ids]


@pytest.mark.parametrize("changed", ["a", "c"])
@pytest.mark.parametrize("shape", sorted(SHAPES))
def test_the_static_plan_the_full_walk_and_the_delta_walk_agree_on_member_order(
    tmp_path, project, monkeypatch, shape, changed
):
    """The planned partitions (``--generate-only``), a cold cook's, a delta recook's after one
    input changed, and a cold cook's of the changed inputs: the same members in the same order,
    PDG's."""
    from conftest import Project

    make(project, shape)
    planned = Project(tmp_path / "planned")
    shutil.copytree(project.root, planned.root)
    cook(planned, "--generate-only")
    cook(project)
    assert partitions(state_of(planned)) == partitions(state_of(project))
    check_order(state_of(project), shape)

    deltas: list = []
    real = walk_module.Walk.walk_delta
    monkeypatch.setattr(walk_module.Walk, "walk_delta", lambda self, *a: (deltas.append(a), real(self, *a))[1])
    project.write(f"in/{changed}.txt", f"variant {changed}, changed\n")
    cold = Project(tmp_path / "cold")
    cold.root.mkdir()
    shutil.copytree(project.root / "in", cold.root / "in")
    shutil.copy(project.root / "wf.py", cold.root / "wf.py")
    cook(project)
    assert deltas, "one changed input: the delta walk"
    cook(cold)
    delta_state, cold_state = state_of(project), state_of(cold)
    assert partitions(delta_state) == partitions(cold_state)
    check_order(delta_state, shape)


def test_a_store_ordered_before_recooks_its_reordered_partitions_once_and_says_why(project, monkeypatch):
    """A store cooked when members were in (index, id) order (partitions signed ``m2:``, a manifest
    of version 4): the first cook after the upgrade merges each partition again, in work item order,
    and ``pdg explain`` says what changed; the next cook is a no-op."""
    make(project)
    with monkeypatch.context() as old:
        old.setattr(signatures, "PARTITION_SCHEME", "m2:")
        old.setattr(manifest, "VERSION", 4)
        for module in (as_generated, static_plan):  # (the walk's members: ``as_generated.members``)
            old.setattr(module, "work_item_order", lambda m: (m.index, m.item_id))
        cook(project)
    before = state_of(project)
    assert {i.signature[:3] for i in before.items.values() if i.node == "byframe"} == {"m2:"}
    reordered = [name for name, ids in partitions(before).items() if _reorders(before, ids)]
    assert "everything_1" in reordered and "sources_1" not in reordered  # (index, id) took frames first

    cook(project)
    after = state_of(project)
    check_order(after)
    for name in reordered:
        said = project.pdg("explain", name).output
        assert "because its members are the same, now in another order (work item order)" in said, said
    said = project.pdg("explain", "sources_1").output  # the same members, in the same order
    assert "it was merged by an earlier pdgstore (signed otherwise); its members and their order are the same" in said
    assert {i.signature[:3] for i in after.items.values() if i.node in ("byframe", "everything")} == {"m3:"}

    again = project.pdg("cook", "wf.py")
    assert " 0 ran, 0 cached, 0 updated," in again.output, again.output


def _reorders(state, ids: list[str]) -> bool:
    return ids != [m.item_id for m in sorted((state.items[i] for i in ids), key=lambda m: pdg_order(state, m))]
