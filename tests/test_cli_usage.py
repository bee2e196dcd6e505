"""What a user review found the ``pdg`` command answering wrongly, run for real on a real store: a
cook whose events ``pdg compact`` folded, a job that printed nothing, an item id prefix too short to
look up, and a ``$PDG_DB`` in a folder that does not exist. (Refusals that need no more than a
cooked store are cases of ``test_cli_errors.py``.)"""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest
from conftest import REPO

from pdgstore import queries

pytestmark = pytest.mark.timeout(120)

GRAPH = """\
from pdgstore.engine import Graph
graph = Graph("quiet")
numbers = graph.range_generate("numbers", 2)
graph.command("run", numbers, "true")
"""


def _one_line(stderr: str) -> str:
    lines = [line for line in stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and "Traceback" not in stderr, stderr
    return lines[0]


def test_events_of_a_folded_cook_say_so_as_history_does(project):
    project.write("quiet.py", GRAPH)
    for _ in range(3):
        project.write("quiet.py", GRAPH + "# an edit\n" * (_ + 1))  # the code changed: each cook is its own
        assert project.pdg_process("cook", "quiet.py").returncode == 0
    assert project.pdg_process("compact", "--keep-cooks", "2").returncode == 0

    history = project.pdg_process("history", "1")
    assert history.returncode == 2
    for args in (("events", "--cook", "1"), ("events", "--cook", "1", "--json")):
        events = project.pdg_process(*args)
        assert events.returncode == 2
        if "--json" in args:  # the error object every --json command prints (docs/guide.md)
            answer = json.loads(events.stdout)
            assert answer["status"] == "error" and "pdg compact folded them" in answer["error"]
        else:
            assert not events.stdout, events.stdout
        assert _one_line(events.stderr) == _one_line(history.stderr)
        assert "cook 1" in events.stderr and "pdg compact folded them" in events.stderr
    exported = project.pdg_process("export", "--format", "jsonl", "--cook", "1", "-o", "out.jsonl")
    assert exported.returncode == 2 and "pdg compact folded them" in _one_line(exported.stderr)
    assert not (project.root / "out.jsonl").exists()
    unknown = project.pdg_process("events", "--cook", "99")
    assert unknown.returncode == 2 and "has no cook 99" in _one_line(unknown.stderr)
    kept = project.pdg_process("events", "--cook", "3", "--json")
    assert kept.returncode == 0 and {json.loads(line)["cook_id"] for line in kept.stdout.splitlines()} == {3}


def test_a_job_that_printed_nothing_is_said_on_stderr_and_show_lists_no_log_file(project):
    project.write("quiet.py", GRAPH)
    assert project.pdg_process("cook", "quiet.py").returncode == 0

    result = project.pdg_process("log", "run_1")
    assert result.returncode == 0 and result.stdout == "", result.stdout  # a pipe gets the job's output alone
    line = _one_line(result.stderr)
    assert "run_1 printed nothing" in line and "no log file at .pdg/jobs/quiet/logs/run_1.log" in line
    follow = project.pdg_process("log", "run_1", "--follow")
    assert follow.returncode == 0 and follow.stdout == "" and "printed nothing" in follow.stderr
    as_json = project.pdg_process("log", "run_1", "--json")
    assert as_json.returncode == 0 and json.loads(as_json.stdout)["text"] == "" and not as_json.stderr

    shown = project.pdg_process("show", "run_1")
    assert shown.returncode == 0
    log_lines = [line for line in shown.stdout.splitlines() if line.startswith("log:")]
    assert log_lines == ["log: none (the job printed nothing: no log file at .pdg/jobs/quiet/logs/run_1.log)"]


def test_an_item_id_prefix_shorter_than_the_minimum_is_told_the_minimum(project):
    project.write("quiet.py", GRAPH)
    assert project.pdg_process("cook", "quiet.py").returncode == 0
    item_id = json.loads(project.pdg_process("show", "run_1", "--json").stdout)["item"]["item_id"]
    n = queries.MIN_ID_PREFIX

    short = project.pdg_process("show", item_id[: n - 1])
    assert short.returncode == 2 and not short.stdout
    assert f"no work item {item_id[: n - 1]} in the store" in _one_line(short.stderr)
    assert f"an item id prefix needs at least {n} characters" in short.stderr
    enough = project.pdg_process("show", item_id[:n], "--json")
    assert enough.returncode == 0 and json.loads(enough.stdout)["item"]["name"] == "run_1"
    not_hex = project.pdg_process("show", "nosuch")
    assert not_hex.returncode == 2 and "at least" not in not_hex.stderr  # a name, not a prefix


@pytest.mark.parametrize(
    "args",
    [("show",), ("open",), ("explain",), ("log",), ("dirty",), ("accept",), ("events",), ("history",)],
)
def test_every_command_taking_an_item_says_how_long_a_prefix_must_be(project, args):
    helped = project.pdg(*args, "--help")
    assert helped.exit_code == 0
    text = " ".join(helped.output.split())
    assert f"id prefix of {queries.MIN_ID_PREFIX}" in text, text


@pytest.mark.parametrize("args", [("cook", "quiet.py"), ("schedule", "add", "quiet.py", "--every", "1h")])
def test_a_pdg_db_in_a_folder_that_does_not_exist_is_refused_and_not_made(project, args):
    project.write("quiet.py", GRAPH)
    env = {**os.environ, "PDG_DB": str(project.root / "nowhere" / "x.db")}
    env["PYTHONPATH"] = str(REPO) + os.pathsep + env.get("PYTHONPATH", "")
    done = subprocess.run(
        [sys.executable, "-m", "pdgstore.cli.main", *args], cwd=project.root, capture_output=True, text=True,
        timeout=60, env=env,
    )
    assert done.returncode == 2, done.stderr
    assert "nowhere" in _one_line(done.stderr) and "does not exist" in done.stderr
    assert not (project.root / "nowhere").exists() and not (project.root / ".pdg").exists()
    # the default store's folder is still made
    assert project.pdg_process(*args).returncode == 0 and project.db.exists()


def test_pdg_auto_compact_in_the_environment_does_not_refuse_a_dry_run(project):
    """$PDG_AUTO_COMPACT is a standing wish, not a --auto-compact typed beside --dry-run."""
    project.write("quiet.py", GRAPH)
    env = {**os.environ, "PDG_AUTO_COMPACT": "1", "PYTHONPATH": str(REPO) + os.pathsep + os.environ.get("PYTHONPATH", "")}
    env.pop("PDG_DB", None)
    done = subprocess.run(
        [sys.executable, "-m", "pdgstore.cli.main", "cook", "quiet.py", "--dry-run", "--json"],
        cwd=project.root, capture_output=True, text=True, timeout=60, env=env,
    )
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["counts"]["run"] == 2 and not project.db.exists()  # run_1, run_2


def test_a_change_made_outside_a_cook_has_no_cook_id(project):
    """``pdg dirty`` changes an item outside any cook: ``--json`` says ``"cook_id": null`` (the id
    rule: an id that is not there is null; there is no cook 0), and the text says so in words."""
    project.write("quiet.py", GRAPH)
    assert project.pdg_process("cook", "quiet.py").returncode == 0
    assert project.pdg_process("dirty", "run_1").returncode == 0
    shown = json.loads(project.pdg_process("show", "run_1", "--json").stdout)["item"]
    assert shown["cook_id"] is None and shown["history"][-1]["cook_id"] is None
    assert shown["history"][0]["cook_id"] == 1
    events = [json.loads(line) for line in project.pdg_process("events", "--json").stdout.splitlines()]
    assert events[-1]["kind"] == "WorkItemDirtied" and events[-1]["cook_id"] is None
    assert {e["cook_id"] for e in events[:-1]} == {1}
    text = project.pdg_process("show", "run_1").stdout
    assert "state dirty, outside a cook" in text and "cook 0" not in text


FIRST = """\
import os
from pdgstore.engine import Graph
graph = Graph("first")
texts = graph.file_pattern("texts", "texts/*.txt")

@graph.python_processor("count", upstream=texts)
def count(item):
    os.makedirs("counts", exist_ok=True)
    out = "counts/" + item.input_path.name
    with open(out, "w") as f:
        f.write(str(len(item.input_path.read_text().split())))
    item.add_output_file(out)
"""


def test_reasons_name_files_from_where_the_user_stands(project):
    """A reason's file is named as every other path a command prints: relative to the folder the
    user stands in (here the project's parent), in explain, diff, show and the dry run; from inside
    the project, as recorded. ``--json``'s structured ``reason`` keeps the recorded path."""
    project.write("first/first.py", FIRST)
    project.write("first/texts/apple.txt", "the quick\n")
    project.write("first/texts/banana.txt", "jumps over\n")

    def pdg(*args: str, cwd=project.root) -> str:
        env = {k: v for k, v in os.environ.items() if k != "PDG_DB"}
        env["PYTHONPATH"] = str(REPO) + os.pathsep + env.get("PYTHONPATH", "")
        done = subprocess.run([sys.executable, "-m", "pdgstore.cli.main", *args], cwd=cwd, env=env,
                              capture_output=True, text=True, timeout=60)
        assert done.returncode == 0, (args, done.stdout, done.stderr)
        return done.stdout

    db = ("--db", "first/.pdg/pdg.db")
    pdg("cook", "first/first.py")
    project.write("first/texts/banana.txt", "jumps over twice\n")
    said = "its input first/texts/banana.txt changed"
    assert said in pdg("cook", "first/first.py", "--dry-run", *db)
    pdg("cook", "first/first.py")
    assert said in pdg("explain", "count_2", *db)
    assert said in pdg("diff", "cook~1", *db)
    assert "its file first/texts/banana.txt changed" in pdg("show", "texts_2", *db)
    chain = json.loads(pdg("explain", "count_2", "--json", *db))["chain"]
    assert said in chain[0]["text"] and chain[0]["reason"]["path"] == "texts/banana.txt"
    inside = pdg("explain", "count_2", cwd=project.root / "first")
    assert "its input texts/banana.txt changed" in inside
