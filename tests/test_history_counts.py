"""``pdg history`` and ``pdg diff`` count what the cook counted: a cook's per-node columns add up to
its summary, ``--node`` lists the cooks that did something to the node's items, ``--since`` a
time after the last event selects none, ``pdg diff`` says rerun and updated as the cook said ran
and updated; ``pdg cook`` never drops a warning without a word. On the bundled word count example,
cooked for real in the test's own folder."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pytest
from conftest import Project

from pdgstore.queries import COOK_COUNTS

EXAMPLE = Path(__file__).resolve().parent.parent / "examples" / "wordcount"
NODES = ["texts", "count", "by_letter", "letter_total", "everything", "report"]  # the graph's order


@pytest.fixture
def wc(project: Project) -> Project:
    shutil.copy(EXAMPLE / "wordcount.py", project.root)
    shutil.copytree(EXAMPLE / "texts", project.root / "texts")
    assert project.pdg("cook", "wordcount.py").exit_code == 0
    return project


def _json(result) -> dict:
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def _cook(project: Project, *args: str) -> dict:
    return _json(project.pdg("cook", "wordcount.py", *args, "--json"))


def _detail(project: Project, cook_id: int) -> dict:
    detail = _json(project.pdg("history", str(cook_id), "--json"))["cook"]
    # each column adds up to the cook's own count
    assert {k: sum(row[k] for row in detail["nodes"]) for k in COOK_COUNTS} == detail["items"]
    assert [row["node"] for row in detail["nodes"]] == NODES
    return detail


@pytest.mark.timeout(120)
def test_a_cooks_columns_add_up_to_its_summary_touched_and_dirtied(wc):
    for path in (wc.root / "texts").iterdir():  # touched: new mtimes, the same content
        stat = path.stat()
        os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns + 2_000_000_000))
    touched = _cook(wc)
    assert touched["items"]["reused"] == 22 and touched["items"]["updated"] == 0
    texts = {row["node"]: row for row in _detail(wc, 2)["nodes"]}["texts"]
    assert (texts["updated"], texts["reused"]) == (0, 6)
    listed = wc.pdg("history").stdout.splitlines()
    assert listed[0].split("\t")[6:13] == list(COOK_COUNTS)
    assert listed[2].split("\t")[6:13] == ["0", "0", "0", "22", "0", "0", "0"]
    text = wc.pdg("history", "2").stdout.splitlines()
    assert [line.split()[0] for line in text if line.split() and line.split()[0] in NODES] == NODES

    # a cook of one node: what it changed feeds a partition outside its scope, which it records
    # dirty for the next cook; it counts that neither updated nor reused
    with open(wc.root / "texts" / "rivers.txt", "a") as f:
        f.write("one more river\n")
    one = _cook(wc, "count")
    assert (one["items"]["ran"], one["items"]["updated"], one["items"]["reused"]) == (1, 1, 10)
    rows = {row["node"]: row for row in _detail(wc, 3)["nodes"]}
    assert not any(rows["by_letter"][k] for k in COOK_COUNTS)
    assert _json(wc.pdg("status", "--json"))["nodes"][2]["states"].get("dirty") == 1


@pytest.mark.timeout(120)
def test_the_node_filter_leaves_out_cooks_that_only_passed_the_node(wc):
    _cook(wc)  # 2: a no-op
    _cook(wc, "count")  # 3: a no-op of one node
    with open(wc.root / "texts" / "rivers.txt", "a") as f:
        f.write("one more river\n")
    _cook(wc, "count")  # 4: reruns count_6 and records the partition it feeds dirty

    def cooks(*args: str) -> list[int]:
        return [c["cook_id"] for c in _json(wc.pdg("history", *args, "--json"))["cooks"]]

    assert cooks("--node", "report") == cooks("--item", "report_1") == [1]
    assert cooks("--node", "count") == [1, 4]
    assert cooks("--node", "by_letter") == [1, 4]  # its item recorded dirty
    assert cooks("--node", "texts") == [1, 4]
    assert cooks() == [1, 2, 3, 4]


@pytest.mark.timeout(120)
def test_since_a_time_after_the_last_event_selects_no_cook(wc):
    _cook(wc)
    future = wc.pdg_process("history", "--since", "2099-01-01")
    assert future.returncode == 0, future.stderr
    assert future.stdout.splitlines()[1:] == [] and "no cook matched --since 2099-01-01" in future.stderr
    assert _json(wc.pdg("history", "--since", "2099-01-01", "--json"))["cooks"] == []
    assert [c["cook_id"] for c in _json(wc.pdg("history", "--since", "1h", "--json"))["cooks"]] == [1, 2]
    assert [c["cook_id"] for c in _json(wc.pdg("history", "--since", "cook:2", "--json"))["cooks"]] == [2]
    none = wc.pdg_process("history", "--node", "report", "--status", "failed")
    assert none.returncode == 0 and "no cook matched --node report --status failed" in none.stderr


@pytest.mark.timeout(120)
def test_diff_counts_what_the_cook_counted(wc):
    with open(wc.root / "texts" / "rivers.txt", "a") as f:
        f.write("one more river\n")
    cooked = _cook(wc)["items"]
    assert (cooked["ran"], cooked["updated"]) == (3, 3)
    d = _json(wc.pdg("diff", "cook~1", "--json"))
    assert d["counts"] == {"added": 0, "removed": 0, "rerun": 3, "updated": 3, "changed": 0}
    texts_6 = next(r for r in d["items"] if r["name"] == "texts_6")
    assert texts_6["change"] == "updated" and "texts/rivers.txt changed" in texts_6["why"]

    (wc.root / "texts" / "birds.txt").unlink()
    cooked = _cook(wc)["items"]
    d = _json(wc.pdg("diff", "cook~1", "--json"))["counts"]
    assert (
        (d["rerun"], d["updated"], d["removed"]) == (cooked["ran"], cooked["updated"], cooked["removed"]) == (2, 2, 2)
    )
    text = wc.pdg_process("diff", "cook~1")
    assert text.returncode == 0 and "None" not in text.stdout
    removed = [line.split("\t") for line in text.stdout.splitlines() if line.startswith("removed\t")]
    assert [row[3] for row in removed] == ["cooked_success -> -", "cooked_success -> -"]


WARNS = """
from pdgstore.engine import Graph
graph = Graph("w")
nums = graph.range_generate("nums", 20)
graph.attribute_promote("promoted", nums, "images")  # no item has an output file: 20 warnings
"""


@pytest.mark.timeout(120)
def test_the_cook_summary_says_how_many_warnings_it_left_out(project):
    project.write("w.py", WARNS)
    for args, where in (
        (("--dry-run",), "--json lists them all"),
        ((), "pdg history 1"),
        (("--generate-only",), "pdg history 1"),  # in a new store
    ):
        if os.path.exists(project.db):
            assert len(_json(project.pdg("history", "1", "--json"))["cook"]["warnings"]) == 20
            shutil.rmtree(project.db.parent)
        result = project.pdg_process("cook", "w.py", *args)
        assert result.returncode == 0, result.stderr
        assert result.stderr.count("  warning: attribute promote promoted") == 5, result.stderr
        assert f"  ... and 15 more warnings ({where})" in result.stderr
