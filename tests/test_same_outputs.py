"""Two work items that record one output file (``engine.cook.sameoutputs``): the cook says so, in
the log (a ``CookWarning`` naming both items and the path) and in its summary, and ``pdg explain``
of an item run again because the other overwrote its file names the other. Partitions (their
outputs are their members' files), born-cooked items that list their parents' files and a processor
that hands its input on as its output are not writers of those files: an ordinary graph gets no
warning. Every cook runs the real ``pdg``."""

from __future__ import annotations

import json
import re
import sqlite3

from pdgstore import fileindex

#: review 5's defect 4: ``@pdg_index`` repeats across the frame range's parents, so c_1 and c_3
#: both write o/0.txt (and c_2 and c_4 o/1.txt), each with its own text. One job at a time: two
#: jobs at once may both finish writing before either's file is recorded, and then neither reruns
#: (each job sleeps first: two writes of one file within a tick of the file system's clock leave the
#: same mtime and size, which a recook takes as unchanged without reading the file, as make would)
CLASH = """
from pdgstore.engine import Graph, wedge_values

graph = Graph("g")
graph.scheduler("local", slots=1)
w = graph.wedge("w", attributes=[wedge_values("ps", [1, 2])])
f = graph.frame_range("f", w, start=1, end=2)
c = graph.command("c", f, ["sh", "-c", "sleep 0.05; mkdir -p o && echo @ps @frame > o/@pdg_index.txt"],
                  expected_outputs=["o/@pdg_index.txt"])
"""

#: the same graph with a path per item, below it what lists files without writing them: a
#: born-cooked attribute node (its items list their parents' outputs), partitions, a wait for all
#: and a merge, and a processor that hands its input on as its own output
ORDINARY = """
import os
from pdgstore.engine import Graph, wedge_values

graph = Graph("ok")
w = graph.wedge("w", attributes=[wedge_values("ps", [1, 2])])
f = graph.frame_range("f", w, start=1, end=2)
c = graph.command("c", f, ["sh", "-c", "mkdir -p o && echo @ps @frame > o/@pdg_name.txt"],
                  expected_outputs=["o/@pdg_name.txt"])
a = graph.attribute_create("a", c, {"x": 1})
by = graph.partition_by_attribute("by", a, "ps")
everything = graph.wait_for_all("all", a)
m = graph.merge("m", [c, a])


@graph.python_processor("passon", upstream=c)
def passon(item):
    for source in item.input_files:
        item.add_output_file(source.relpath)


@graph.python_processor("concat", upstream=everything)
def concat(item):
    os.makedirs("out", exist_ok=True)
    with open("out/all.txt", "w") as out:
        for source in sorted(item.input_files, key=lambda s: s.relpath):
            out.write(open(source).read())
    item.add_output_file("out/all.txt")
"""

PAIR = re.compile(r"^work items (\S+) and (\S+) both record (\S+) as an output: ")


def _cook(project, graph: str) -> dict:
    r = project.pdg_process("cook", graph, "--json")
    assert r.returncode == 0, r.stderr
    return json.loads(r.stdout)


def _warning_events(project) -> list[dict]:
    r = project.pdg_process("events", "--kind", "CookWarning", "--json")
    assert r.returncode == 0, r.stderr
    return [json.loads(line) for line in r.stdout.splitlines()]


def _pairs(messages: list[str]) -> set[tuple[frozenset, str]]:
    found = set()
    for message in messages:
        match = PAIR.match(message)
        assert match is not None, message
        found.add((frozenset(match.group(1, 2)), match.group(3)))
    return found


def test_two_items_writing_one_file_are_named_in_every_cook_and_in_explain(project):
    project.write("g.py", CLASH)
    want = {(frozenset({"c_1", "c_3"}), "o/0.txt"), (frozenset({"c_2", "c_4"}), "o/1.txt")}
    for cook_id in (1, 2, 3):
        summary = _cook(project, "g.py")
        assert summary["cook_id"] == cook_id
        # one of each pair overwrote the other's file: every cook runs one of them again, and says why
        assert cook_id == 1 or summary["items"]["ran"] == 2, summary
        assert _pairs(summary["warnings"]) == want, summary["warnings"]
        assert "@pdg_name" in summary["warnings"][0]

    events = _warning_events(project)  # the truth is in the log, about the item that recorded the clash
    assert [e["cook_id"] for e in events] == [1, 1, 2, 2, 3, 3]
    assert _pairs([e["payload"]["message"] for e in events]) == want
    ids = {row.split("\t")[1]: row.split("\t")[0] for row in project.pdg_process("items", "c").stdout.splitlines()[1:]}
    for e in events:
        named = PAIR.match(e["payload"]["message"]).group(1)
        assert e["subject"] == ids[named]

    partner = {"c_1": "c_3", "c_3": "c_1", "c_2": "c_4", "c_4": "c_2"}
    told = 0
    for name, other in partner.items():
        r = project.pdg_process("explain", name, "--json")
        assert r.returncode == 0, r.stderr
        step = json.loads(r.stdout)["chain"][0]
        if step["action"] == "run":  # run again in cook 3, because the other overwrote its file
            told += 1
            assert step["reason"]["cause"] == "output_modified"
            assert step["reason"]["written_by"] == ids[other]
            assert step["text"].endswith(f"; work item {other} writes the same file"), step["text"]
    assert told == 2


def test_partitions_and_files_handed_on_are_no_clash(project):
    project.write("ok.py", ORDINARY)
    first = _cook(project, "ok.py")
    assert first["status"] == "success" and first["items"]["ran"] == 9, first
    with open(project.root / "o" / "c_1.txt", "a") as f:  # an output edited: its item runs again
        f.write("edited\n")
    again = _cook(project, "ok.py")
    assert again["items"]["ran"] >= 1, again
    assert first["warnings"] == again["warnings"] == []
    assert _warning_events(project) == []
    # the partitions do list their members' files: the same paths as the commands' items
    r = project.pdg_process("items", "by")
    assert "o/c_1.txt" in r.stdout and "o/c_3.txt" in r.stdout


def test_many_items_writing_one_file_are_told_in_a_few_warnings(project):
    # 1,500 items, one path: enough events that the cook hands them to its log appender, whose
    # rows may lag behind the check (the cook keeps the paths not written yet)
    project.write(
        "many.py",
        """
        from pdgstore.engine import Graph

        graph = Graph("many")
        r = graph.range_generate("r", values=list(range(1500)), attribute="v")


        @graph.python_processor("p", upstream=r)
        def p(item):
            with open("same.txt", "w") as f:
                f.write(str(item.attrib("v")))
            item.add_output_file("same.txt")
        """,
    )
    summary = _cook(project, "many.py")
    *named, rest = summary["warnings"]
    assert len(named) == 20, summary["warnings"]  # (``sameoutputs.MAX_TOLD``)
    assert {path for _pair, path in _pairs(named)} == {"same.txt"}
    count = re.match(r"^(\d+) more pairs of work items record the same output file ", rest)
    assert count is not None and int(count.group(1)) > 1000, rest
    assert len(_warning_events(project)) == 21


def test_the_look_up_of_other_holders_goes_through_the_path_index(project):
    project.write("g.py", CLASH)
    _cook(project, "g.py")
    conn = sqlite3.connect(project.db)
    statements: list[str] = []
    conn.set_trace_callback(statements.append)
    pairs = [("o/0.txt", "nobody"), ("o/1.txt", "nobody"), ("o/9.txt", "nobody")]
    found = fileindex.others_holding(conn.execute, "g", ["c"], pairs)
    conn.set_trace_callback(None)
    assert (
        sorted((path, item) for path, item, _other in found)
        == [("o/0.txt", "nobody")] * 2 + [("o/1.txt", "nobody")] * 2
    )
    plans = [row[-1] for sql in statements for row in conn.execute("EXPLAIN QUERY PLAN " + sql)]
    assert any("files_path" in p for p in plans), plans
    # the store's tables are searched by index only (the pairs' JSON and the 8 ids found are scanned)
    assert not [p for p in plans if p.startswith("SCAN") and p.split()[1] in ("f", "i", "files", "items")], plans
