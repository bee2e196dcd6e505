"""What partitioners read of their members, and what they say (review 5).

A static partitioner (``use_dynamic_partitioning`` off) groups its members by the attributes they
were generated with, in every cook: before, a recook grouped reused members by their records, which
hold what their cook set too, so the same graph and inputs gave other partitions (or a failure
that alternated with success) depending on what the store held. Each test cooks with the real
``pdg``: cold, again with nothing changed, after one input changed (the delta walk, which keeps
members without generating them), and compares with a cook from scratch of the same files.
"""

from __future__ import annotations

import json
import shutil

import pytest
from pdgstore.engine.cook import walk as walk_module

from pdgstore.log import EventLog

pytestmark = pytest.mark.timeout(120)

STATIC_OVER_COOKED = """
from pdgstore.engine import Graph
graph = Graph("g")
r = graph.range_generate("r", 4)
@graph.python_processor("p", upstream=r)
def p(item):
    item.set_attrib("frame", item['value'] // {by})
pf = graph.partition_by_frame("pf", p{switch})
after = graph.python_processor("after", pf, lambda item: print(item.name))
"""


def test_a_static_partition_by_an_attribute_set_while_cooking_fails_in_every_cook_and_says_why(project):
    """Review 5's repro: the cold cook failed, an identical recook succeeded, and so on after every
    edit; the summary said "0 failed" and listed the failure as a warning. Now every cook fails,
    with the failure said as what failed and how to partition by what the cook sets."""
    project.write("g.py", STATIC_OVER_COOKED.format(by=2, switch=""))
    why = (
        "  failed: partitioner pf failed: ValueError: work item p_1 has no frame (missing_frame='error'); "
        "it partitions its members by the attributes they were generated with, before they cook "
        "(use_dynamic_partitioning=True partitions them once they cooked, by what their cook set)\n"
    )
    for edit in (None, None, 3, None):
        if edit is not None:
            project.write("g.py", STATIC_OVER_COOKED.format(by=edit, switch=""))
        result = project.pdg_process("cook", "g.py")
        assert result.returncode == 1, result.stderr
        assert why in result.stderr
        assert "warning: partitioner pf failed" not in result.stderr  # said once, as the failure
        assert "Traceback" not in result.stderr
    summary = json.loads(project.pdg_process("cook", "g.py", "--json").stdout)
    assert summary["status"] == "failed" and summary["message"] == why.strip()[len("failed: ") :]

    project.write("g.py", STATIC_OVER_COOKED.format(by=3, switch=", use_dynamic_partitioning=True"))
    result = project.pdg_process("cook", "g.py")
    assert result.returncode == 0, result.stderr
    state = state_of(project)
    assert sorted(groups(state, "pf")) == [("pf_1", 0, ["p_1", "p_2", "p_3"]), ("pf_2", 1, ["p_4"])]


GENERATED_LATER = """
from pdgstore.engine import Graph, NewItem, Processor
graph = Graph("g")
src = graph.file_pattern("src", "in/*.txt")
frames = graph.frame_range("frames", src, start=1, end=2)

@graph.python_processor("shift", upstream=frames)
def shift(item):
    item.set_attrib("frame", item["frame"] + 100)  # set while cooking: no static partition reads it
    item.set_attrib("label", "late")

byframe = graph.partition_by_frame("byframe", shift)
again = graph.partition_by_frame("again", byframe)  # partitions of partitions, merged once they cook
bylabel = graph.partition_by_attribute("bylabel", byframe, "label", use_dynamic_partitioning=False)
{more}
"""

#: a user's processor with work that makes two items per parent with attributes of its own
USER_PROCESSOR = """
class Pair(Processor):
    type_name = "pair"
    does_work = True

    def generate(self, ctx, parent):
        return [NewItem(key=k, index=k, attrs={"k": ["int", [k]]}) for k in range(2)]

    def cook(self, item):
        item.set_attrib("k", item["k"] + 10)

graph.add(Pair("pair", ["src"]))
byk = graph.partition_by_range("byk", "pair", attribute="k")
"""


@pytest.mark.parametrize("more", ["", USER_PROCESSOR], ids=["library", "user_processor"])
def test_a_static_partition_groups_by_generation_time_attributes_whatever_the_store_holds(
    project, tmp_path_factory, monkeypatch, more
):
    project.write("g.py", GENERATED_LATER.format(more=more))
    for name in "abcdef":  # (six: one changed file reaches few enough items for the delta walk)
        project.write(f"in/{name}.txt", f"{name}\n")
    cook(project)
    cold = snapshot(project)
    # grouped by the frames frame_range made (1, 2), not those shift set (101, 102)
    assert cold["byframe"] == [
        ("byframe_1", 1, sorted(f"shift_{n}" for n in range(1, 13, 2))),
        ("byframe_2", 2, sorted(f"shift_{n}" for n in range(2, 13, 2))),
    ]
    assert cold["again"] == [("again_1", 1, ["byframe_1"]), ("again_2", 2, ["byframe_2"])]
    assert cold["bylabel"] == []  # "label" is set while cooking
    if more:  # the k the user's generate gave (0, 1), not what its cook set (10, 11)
        assert [(name, len(members)) for name, _, members in cold["byk"]] == [("byk_1", 6), ("byk_2", 6)]

    cook(project)  # nothing changed
    assert snapshot(project) == cold

    deltas: list = []
    real = walk_module.Walk.walk_delta
    monkeypatch.setattr(walk_module.Walk, "walk_delta", lambda self, *a: (deltas.append(a), real(self, *a))[1])
    project.write("in/a.txt", "a, changed\n")  # a's items remade, b's kept
    cook(project)
    if not more:  # (a user's node may take the full walk: its items are then all generated again)
        assert deltas, "one changed input: the delta walk"
    assert snapshot(project) == cold

    fresh = tmp_path_factory.mktemp("fresh")
    shutil.copy(project.root / "g.py", fresh / "g.py")
    shutil.copytree(project.root / "in", fresh / "in")
    cook(type(project)(fresh))
    assert snapshot(type(project)(fresh)) == cold


def test_range_generate_refuses_a_negative_count_as_a_wedge_does(project):
    """Review 5, nit 1: a negative count was accepted with a warning (exit 0)."""
    project.write("g.py", 'from pdgstore.engine import Graph\ngraph = Graph("g")\nr = graph.range_generate("r", -3)\n')
    result = project.pdg_process("cook", "g.py")
    assert result.returncode == 2
    assert result.stderr == "pdg: g.py:3: range generator r: count is a whole number >= 0, not -3\n"
    assert not (project.root / ".pdg").exists()
    project.write("g.py", 'from pdgstore.engine import Graph\ngraph = Graph("g")\nw = graph.wedge("w", count=-2)\n')
    assert "the wedge count is a whole number >= 0, not -2" in project.pdg_process("cook", "g.py").stderr


def test_partition_by_range_sets_range_as_documented_for_each_kind(project):
    """Review 5, nit 2: ``range`` is a custom partition's window of values, and a counted
    partition's place and the number of partitions (docs/nodes.md)."""
    project.write(
        "g.py",
        """
        from pdgstore.engine import Graph
        graph = Graph("g")
        items = graph.range_generate("items", 5, start=10)
        graph.partition_by_range("windows", items, size=4, step=2, attribute="value")
        graph.partition_by_range("thirds", items, range_type="count", count=3)
        graph.partition_by_range("ends", items, range_type="first_last")
        """,
    )
    cook(project)
    state = state_of(project)
    windows = groups(state, "windows", "range", "items")
    assert windows == [
        ("windows_1", [10, 14], [0, 1, 2, 3]),
        ("windows_2", [12, 16], [2, 3, 4]),
        ("windows_3", [14, 18], [4]),
    ]
    assert groups(state, "thirds", "range", "items") == [
        ("thirds_1", [0, 3], [0, 1]),
        ("thirds_2", [1, 3], [2, 3]),
        ("thirds_3", [2, 3], [4]),
    ]
    assert groups(state, "ends", "range", "items") == [("ends_1", [0, 2], [0]), ("ends_2", [1, 2], [4])]


def test_partitioners_say_which_items_they_leave_out(project):
    """Review 5, nit 3: ``partition_by_attribute`` left out items without the attribute in
    silence (it warned only when no item had it). Now it says how many and names the first, as
    the other partitioners now do for what they group by."""
    project.write(
        "g.py",
        """
        from pdgstore.engine import Graph
        graph = Graph("g")
        r = graph.range_generate("r", 8)

        @graph.python_processor("p", upstream=r)
        def p(item):
            if item["value"] not in (5, 6):
                item.set_attrib("shot", "s%d" % (item["value"] % 2))
            if item["value"] != 2:
                item.set_attrib("t", float(item["value"]))

        by = graph.partition_by_attribute("by", p, "shot")
        none = graph.partition_by_attribute("none", p, "look")
        ranges = graph.partition_by_range("ranges", p, size=4, attribute="t", use_dynamic_partitioning=True)
        """,
    )
    result = project.pdg_process("cook", "g.py", "--json")
    assert result.returncode == 0, result.stderr
    warnings = json.loads(result.stdout)["warnings"]
    assert warnings == [
        "partition by attribute by: 2 input items lack the attribute 'shot' and are left out (the first: p_6)",
        "node none made no work items: none of its 8 upstream items has the attribute 'look'",
        "partition by range ranges: input item p_3 lacks a number in the attribute 't' and is left out",
    ]
    state = state_of(project)
    assert [len(members) for _, _, members in groups(state, "by")] == [3, 3]


# -- helpers --------------------------------------------------------------------------------------
def cook(project) -> None:
    result = project.pdg("cook", "g.py")
    assert result.exit_code == 0, result.output


def state_of(project):
    with EventLog.open(str(project.db)) as log:
        return log.load_state()


def groups(state, node: str, attribute: str = "frame", members: str = "names") -> list[tuple]:
    """Each partition of ``node`` by name: its ``attribute`` (the first value, or all of a longer
    array) and its members (their names, or with ``members="items"`` their indices)."""
    out = []
    for item in sorted((i for i in state.items.values() if i.node == node), key=lambda i: i.name):
        values = item.attrs.get(attribute, [None, [None]])[1]
        held = [state.items[m] for m in item.parents]
        out.append(
            (
                item.name,
                values[0] if len(values) == 1 else values,
                sorted(m.name for m in held) if members == "names" else [m.index for m in held],
            )
        )
    return out


def snapshot(project) -> dict:
    """Every partition of the graph's partitioners: name, grouping attribute and members."""
    state = state_of(project)
    return {
        "byframe": groups(state, "byframe"),
        "again": groups(state, "again"),
        "bylabel": groups(state, "bylabel", "label"),
        "byk": groups(state, "byk", "range"),
    }
