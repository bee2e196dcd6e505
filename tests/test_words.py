"""Issue 23: what the commands say after a real session, each point through the real ``pdg``
process, with golden text where the text is the point (times and ids normalised)."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import Project

from pdgstore.log import EventLog

LETTERS = '''
import os
from pdgstore.engine import Graph

graph = Graph("letters")
texts = graph.file_pattern("texts", "texts/*.txt")

@graph.python_processor("count", upstream=texts)
def count(item):
    words = item.input_path.read_text().split()
    item.set_attrib("words", len(words))
    item.set_attrib("letter", item.input_path.stem[0])
    os.makedirs("counts", exist_ok=True)
    out = f"counts/{item.input_path.stem}.txt"
    with open(out, "w") as f:
        f.write(f"{len(words)}\\n")
    item.add_output_file(out)

by_letter = graph.partition_by_attribute("by_letter", count, attribute="letter")
everything = graph.wait_for_all("everything", count)
'''

FRAMES = Path(__file__).resolve().parent.parent / "examples" / "frames"


def normal(text: str) -> str:
    """Times and the like out of a command's text, so the rest can be compared whole."""
    text = re.sub(r"in \d+\.\d+ s", "in T s", text)
    text = re.sub(r"\b[0-9a-f]{16}\b", "ID", text)
    return "\n".join(line.rstrip() for line in text.splitlines()) + "\n"


def run(project, *args: str, code: int = 0) -> subprocess.CompletedProcess:
    """``pdg ARGS`` as a real process in the project, on a fixed-width terminal; its exit code checked."""
    env = {k: v for k, v in os.environ.items() if k != "PDG_DB"}
    env["COLUMNS"] = "160"
    result = subprocess.run([sys.executable, "-m", "pdgstore.cli.main", *args], cwd=project.root, env=env,
                            capture_output=True, text=True, timeout=110)
    assert result.returncode == code, (args, result.returncode, result.stdout, result.stderr)
    assert "Traceback" not in result.stderr
    return result


@pytest.fixture(scope="module")
def letters_once(tmp_path_factory) -> Path:
    """The letters project after its first cook (a real ``pdg`` process), made once for the module."""
    project = Project(tmp_path_factory.mktemp("letters"))
    project.write("letters.py", LETTERS)
    project.write("texts/apple.txt", "the quick brown fox\n")
    project.write("texts/avocado.txt", "an avocado\n")
    project.write("texts/banana.txt", "jumps over the lazy dog\n")
    run(project, "cook", "letters.py")
    return project.root


@pytest.fixture
def letters(letters_once, project):
    """That project copied into the test's own: the store's paths are relative to the project and
    ``copy2`` keeps every file's mtime to the nanosecond, so the copy is as the cook left it (a
    recook of it runs nothing, as ``test_dry_run_...`` holds)."""
    shutil.copytree(letters_once, project.root, dirs_exist_ok=True)
    return project


# -- pdg history COOK: jobs are "ran", and among the slowest ------------------------------------------
def test_history_of_a_cook_counts_out_of_process_jobs_as_ran(project):
    for name in ("frames.py", "render_frame.py", "png.py"):
        shutil.copy(FRAMES / name, project.root / name)
    run(project, "cook", "frames.py", "--set", "frames=2", "--set", "resolution=8")
    run(project, "cook", "frames.py", "--set", "frames=3", "--set", "resolution=8")
    detail = json.loads(run(project, "history", "2", "--json").stdout)["cook"]
    nodes = {row["node"]: row for row in detail["nodes"]}
    assert (nodes["render"]["ran"], nodes["render"]["updated"], nodes["render"]["reused"]) == (1, 0, 2)
    assert sum(row["ran"] for row in detail["nodes"]) == detail["items"]["ran"] == 3  # settings, render, sheet
    assert "render_3" in [s["name"] for s in detail["slowest"]]
    assert detail["slowest"][0]["name"] == "render_3"  # a job (a process start) outlasts in-process work
    text = normal(run(project, "history", "2").stdout)
    assert re.search(r"render\s+│ 3\s+│ 1\s+│", text), text  # the table's ran column


# -- pdg diff: what changed for a renumbered item ------------------------------------------------------
def test_diff_says_an_item_was_renumbered(letters):
    letters.write("texts/aardvark.txt", "a new first file\n")
    run(letters, "cook", "letters.py")
    diff = json.loads(run(letters, "diff", "cook~1", "last", "--json").stdout)
    changed = {r["name"]: r for r in diff["items"] if r["change"] == "changed"}
    assert changed["count_2"]["renumbered"] == {"name": "count_1", "index": 0}
    for row in diff["items"]:  # every row says something in "what changed"
        assert row["why"] or row["attrs"] or row["outputs"] or row["renumbered"], row
    text = run(letters, "diff", "cook~1", "last").stdout  # into a pipe: tab-separated rows
    assert "changed\tcount_2\tcount\tcooked_success\trenumbered: was count_1 (index 0)\n" in text


# -- pdg cook --dry-run: only what an edit reaches; "nothing would run" --------------------------------
def test_dry_run_lists_only_what_an_edit_reaches_and_says_when_nothing_would_run(letters):
    nothing = run(letters, "cook", "letters.py", "--dry-run")
    assert nothing.stdout == "nothing would run: all 9 items are up to date\n"
    letters.write("texts/banana.txt", "jumps over the lazy dog twice\n")
    plan = json.loads(run(letters, "cook", "letters.py", "--dry-run", "--json").stdout)
    rows = sorted((r["action"], r["name"]) for r in plan["items"])
    assert rows == [("pending", "by_letter_2"), ("pending", "everything_1"), ("run", "count_3"), ("update", "texts_3")]
    assert plan["counts"]["reuse"] == 5  # by_letter_1 (the a's) is not waiting on a b


@pytest.mark.timeout(120)
def test_dry_run_lists_the_partitions_a_new_file_feeds_as_the_cook_then_changes_them(letters):
    # a new file: its items run, and the wait-for-all that takes every count item is merged anew;
    # which letter's partition takes it is known once it ran (each existing one may: pending)
    letters.write("texts/cherry.txt", "new file\n")
    plan = json.loads(run(letters, "cook", "letters.py", "--dry-run", "--json").stdout)
    listed = {r["name"]: r["action"] for r in plan["items"]}
    assert listed == {
        "texts_4": "update", "count_4": "run", "everything_1": "update", "by_letter_1": "pending", "by_letter_2": "pending"
    }, listed
    why = {r["name"]: r["why"] for r in plan["items"]}
    assert why["everything_1"] == "its members changed: added count_4", why
    assert "count_4" in why["by_letter_1"], why
    run(letters, "cook", "letters.py")
    cooked = json.loads(run(letters, "history", "2", "--json").stdout)["cook"]
    diff = {r["name"]: r["change"] for r in json.loads(run(letters, "diff", "cook:1", "cook:2", "--json").stdout)["items"]}
    # every item that existed and changed is listed; every item listed to run or update did
    assert {n for n, change in diff.items() if change != "added"} <= listed.keys(), (diff, listed)
    assert {n for n, a in listed.items() if a != "pending"} <= diff.keys(), (diff, listed)
    counts, items = plan["counts"], cooked["items"]
    assert counts["run"] == items["ran"] == 1
    # the new letter's partition cannot be named before count_4 ran: among the pending, counted
    assert counts["update"] <= items["updated"] <= counts["update"] + counts["pending"], (counts, items)


@pytest.mark.timeout(120)
def test_removed_items_are_counted_and_the_dry_run_names_them_and_why(letters):
    (letters.root / "texts" / "avocado.txt").unlink()
    plan = json.loads(run(letters, "cook", "letters.py", "--dry-run", "--json").stdout)
    removed = sorted((r["name"], r["node"], r["why"]) for r in plan["items"] if r["action"] == "remove")
    assert removed == [
        ("count_2", "count", "its parent texts_2 was removed"),
        ("texts_2", "texts", "its file texts/avocado.txt is gone"),
    ], plan["items"]
    assert plan["counts"]["remove"] == 2
    result = run(letters, "cook", "letters.py", "--json")
    assert json.loads(result.stdout)["items"]["removed"] == 2
    line = normal(run(letters, "cook", "letters.py").stderr).splitlines()[0]  # nothing left to remove
    assert line == "cook 3 succeeded: 0 ran, 0 cached, 0 updated, 7 reused, 0 failed, 0 cancelled, 0 removed in T s"
    detail = json.loads(run(letters, "history", "2", "--json").stdout)["cook"]
    assert detail["items"]["removed"] == sum(row["removed"] for row in detail["nodes"]) == 2
    assert "0 cancelled, 2 removed" in run(letters, "history", "2").stdout
    listed = json.loads(run(letters, "history", "--json").stdout)["cooks"]
    assert [c["items"]["removed"] for c in listed] == [0, 2, 0]


@pytest.mark.timeout(120)
def test_history_shows_cooks_recorded_before_removed_was_counted(project):
    from conftest import golden_store

    golden_store(project, "schema2-wide300")
    listed = run(project, "history").stdout.splitlines()
    assert listed[0].split("\t")[6:13] == ["ran", "cached", "updated", "reused", "failed", "cancelled", "removed"]
    assert all(line.split("\t")[12] == "" for line in listed[1:]), listed  # no count: an empty cell
    assert "removed" not in run(project, "history", "1").stdout.splitlines()[1]


# -- the one-line summary: updated, and each result once ----------------------------------------------
def test_the_summary_line_counts_updated_and_lists_each_result_once(letters):
    letters.write("texts/banana.txt", "jumps over the lazy dog twice\n")
    result = run(letters, "cook", "letters.py")
    assert normal(result.stderr).splitlines()[0] == "cook 2 succeeded: 1 ran, 0 cached, 3 updated, 5 reused, 0 failed, 0 cancelled, 0 removed in T s"
    assert result.stdout == "results:\n  counts/apple.txt\n  counts/avocado.txt\n  counts/banana.txt\n"
    results = json.loads(run(letters, "cook", "letters.py", "--json").stdout)["results"]
    assert len(results) == len(set(results)) == 3


# -- pdg events --kind ---------------------------------------------------------------------------------
def test_event_kinds_match_in_any_case_and_a_wrong_one_lists_them(letters):
    lines = run(letters, "events", "--kind", "cookfinished", "--json").stdout.splitlines()
    assert [json.loads(line)["kind"] for line in lines] == ["CookFinished"]
    wrong = run(letters, "events", "--kind", "cookdone", code=2)
    assert "'cookdone' is not an event kind; the kinds are CookFinished, CookStarted," in wrong.stderr
    assert "WorkItemStateChanged" in wrong.stderr


# -- pdg compact with fewer cooks than it keeps --------------------------------------------------------
def test_compact_says_the_log_holds_fewer_cooks_than_it_keeps(letters):
    run(letters, "cook", "letters.py")
    result = run(letters, "compact", "--dry-run")
    assert result.stderr == ".pdg/pdg.db: nothing to fold: the log holds only 2 cooks, and --keep-cooks keeps 10\n"
    one = run(letters, "compact", "--dry-run", "--keep-cooks", "5")
    assert "only 2 cooks, and --keep-cooks keeps 5" in one.stderr


# -- a missing @attr -----------------------------------------------------------------------------------
def test_a_missing_attribute_names_node_item_and_attribute_not_the_engine(project):
    project.write("g.py", """
        from pdgstore.engine import Graph
        graph = Graph("g")
        graph.command("echo", graph.range_generate("numbers", 1), "echo @nope")
    """)
    result = run(project, "cook", "g.py", code=1)
    failed = [line for line in normal(result.stderr).splitlines() if line.startswith("  failed:")]
    assert failed == ["  failed: echo_1 (echo, ID): node echo, item echo_1, parameter command: no attribute 'nope'"
                      " (its attributes: value)"]
    assert ".py:" not in result.stderr and "ExpansionError" not in result.stderr


# -- exit codes: one rule ------------------------------------------------------------------------------
def test_exit_codes_follow_one_rule(letters):
    with EventLog.open(str(letters.db), writer=True):  # another cook, as the lock sees it
        busy = run(letters, "cook", "letters.py", code=1)  # right command, failed this time
    assert "a cook is already running on" in busy.stderr
    assert "unknown" not in busy.stderr
    run(letters, "cook", "letters.py", "nope", code=2)  # what was asked is wrong
    letters.write("not-a-store.db", "hello")
    run(letters, "status", "--db", "not-a-store.db", code=2)
    text = run(letters, "--help").stdout
    assert "1    the command was right but failed this time" in text and "2    what was asked is wrong" in text


# -- ids in --json -------------------------------------------------------------------------------------
def _ids(value, path=""):
    """Every (path, key, value) of a JSON value whose key names an id."""
    if isinstance(value, dict):
        for k, v in value.items():
            scalar = not isinstance(v, (dict, list))  # "cook": {...} is a cook, not an id
            if k.endswith("_id") or (scalar and k in ("schedule", "watch", "last_cook", "cook")):
                yield path, k, v
            yield from _ids(v, f"{path}.{k}")
    elif isinstance(value, list):
        for v in value:
            yield from _ids(v, path + "[]")


def test_every_json_output_names_ids_by_one_rule(letters):
    run(letters, "schedule", "add", "letters.py", "--every", "1h")
    outputs = {
        args: json.loads(run(letters, *args.split(), "--json").stdout)
        for args in ("cook letters.py", "status", "items", "show count_1", "history", "history 1",
                     "diff cook~1", "explain count_1", "schedule list", "schedule add letters.py --every 2h",
                     "cook letters.py --dry-run", "stats")
    }
    outputs["schedule remove 1"] = json.loads(run(letters, "schedule", "remove", "1", "--json").stdout)
    for args, out in outputs.items():
        assert out["schema"] == 2, args
        for path, key, value in _ids(out):
            assert key.endswith("_id"), f"pdg {args} --json: {path}.{key} holds an id but is not named *_id"
            if key == "item_id":
                assert isinstance(value, str) and re.fullmatch(r"[0-9a-f]{16}", value), (args, path, value)
            else:
                assert value is None or (isinstance(value, int) and not isinstance(value, bool)), (args, path, key, value)
    assert outputs["schedule add letters.py --every 2h"]["schedule_id"] == 1
    assert outputs["schedule list"]["schedules"][0]["schedule_id"] == 1


# -- a node that makes nothing says so -----------------------------------------------------------------
def test_a_node_that_makes_nothing_is_a_recorded_warning(project):
    project.write("g.py", """
        from pdgstore.engine import Graph
        graph = Graph("g")
        n = graph.parm("n", 2)
        numbers = graph.range_generate("numbers", n)
        graph.partition_by_attribute("by_colour", numbers, attribute="colour")
    """)
    first = run(project, "cook", "g.py")
    no_colour = "node by_colour made no work items: none of its 2 upstream items has the attribute 'colour'"
    assert f"  warning: {no_colour}\n" in first.stderr
    second = run(project, "cook", "g.py", "--set", "n=0", "--json")
    no_numbers = "node numbers made no work items: its count is 0"
    assert json.loads(second.stdout)["warnings"] == [no_numbers]  # said once, and nothing for by_colour
    project.write("h.py", """
        from pdgstore.engine import Graph
        graph = Graph("h")
        graph.file_pattern("inputs", "in/*.txt")
    """)
    third = run(project, "cook", "h.py")
    assert "  warning: node inputs made no work items: its pattern in/*.txt matches no file\n" in third.stderr
    recorded = [json.loads(line)["payload"]["message"]
                for line in run(project, "events", "--kind", "CookWarning", "--json").stdout.splitlines()]
    assert recorded == [no_colour, no_numbers, "node inputs made no work items: its pattern in/*.txt matches no file"]


@pytest.mark.timeout(120)
def test_a_cook_of_one_node_records_dirty_what_it_feeds_outside_its_scope(project):
    """README's first graph: ``pdg cook letters.py count`` (a Python processor: the full walk, no
    delta) remade count_1, which both partitions hold: they are recorded dirty naming it, ``pdg
    status`` and ``pdg explain`` say so (the guide's "A cook of one node"), and the next cook of the
    graph merges them again. What it ran and made again the same (banana's count) dirties nothing."""
    project.write("letters.py", LETTERS)
    project.write("texts/apple.txt", "a b\n")
    project.write("texts/banana.txt", "c d\n")
    run(project, "cook", "letters.py")
    (project.root / "texts" / "apple.txt").write_text("a b\nx y z\n")
    run(project, "cook", "letters.py", "count")
    status = json.loads(run(project, "status", "--json").stdout)
    dirty = {n["node"]: n["states"].get("dirty", 0) for n in status["nodes"]}
    assert dirty == {"texts": 0, "count": 0, "by_letter": 1, "everything": 1}, status
    with EventLog.open(str(project.db)) as log:
        count_1 = next(i for i in log.cook_state().items_of("letters", "count") if i.name == "count_1")
        dirtied = [e.payload() for e in log.events(0) if e.kind == "WorkItemDirtied" and e.cook_id == 2]
    from_items = [d["reason"].get("from_item") for d in dirtied if d["reason"]["cause"] == "upstream"]
    assert from_items == [count_1.item_id, count_1.item_id]  # by_letter_1 and everything_1, not by_letter_2
    explained = run(project, "explain", "everything_1").stdout.splitlines()
    assert explained[0] == "everything_1 was dirtied by cook 2 and runs at the next cook: what it was made from changed"
    assert explained[1].startswith("  count_1 ran in cook 2 because its input texts/apple.txt changed")
    summary = json.loads(run(project, "cook", "letters.py", "--json").stdout)
    assert summary["items"]["updated"] == 2 and summary["items"]["ran"] == 0, summary
    assert "was merged again in cook 3" in run(project, "explain", "everything_1").stdout
    assert json.loads(run(project, "cook", "letters.py", "--json").stdout)["items"]["updated"] == 0
