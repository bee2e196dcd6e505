"""Every refusal of the ``pdg`` command: one clear line on stderr naming the file (with its line),
node or item; the exit code cli/main.py assigns (2 for bad input: a graph file, an unknown node or
item, a bad ``--set``, a missing or refused store); no traceback; and no partial write.

Each case runs twice: in-process (click's runner, no exception may escape) and as a real process
(``python -m cli.main``), which proves that no traceback ever reaches the terminal.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field

import pytest

BAD_INPUT = 2  # cli/main.py: "2 bad input (usage, graph file, unknown node or item, refused store)"

GOOD_GRAPH = '''\
from pdgstore.engine import Graph
graph = Graph("good")
n = graph.parm("n", 3)
numbers = graph.range_generate("numbers", n)
'''


@dataclass
class Case:
    args: tuple[str, ...]
    needles: tuple[str, ...]
    files: dict[str, str] = field(default_factory=dict)
    code: int = BAD_INPUT
    needs_store: bool = False  # cook GOOD_GRAPH first (the error is about an existing store)


CASES = {
    "syntax_error": Case(
        ("cook", "bad.py"), ("bad.py:3", "syntax"),
        {"bad.py": "from pdgstore.engine import Graph\ngraph = Graph('x')\ndef oops(:\n    pass\n"},
    ),
    "exception_while_building": Case(
        ("cook", "bad.py"), ("bad.py:4", "ZeroDivisionError"),
        {"bad.py": "from pdgstore.engine import Graph\ngraph = Graph('x')\nn = graph.parm('n', 0)\nratio = 1 / n\n"},
    ),
    "exception_in_a_helper_names_the_raising_line": Case(
        ("cook", "bad.py"), ("bad.py:5", "ValueError", "no such shot"),
        {"bad.py": "from pdgstore.engine import Graph\ngraph = Graph('x')\n\ndef shot(name):\n"
                   "    raise ValueError('no such shot ' + name)\n\nshot('sh010')\n"},
    ),
    "engine_refuses_a_node_while_building": Case(
        ("cook", "bad.py"), ("bad.py:3", "numbers"),
        {"bad.py": "from pdgstore.engine import Graph\ngraph = Graph('x')\ngraph.range_generate('numbers')\n"},
    ),
    "no_graph_defined": Case(
        ("cook", "bad.py"), ("bad.py", "no graph"),
        {"bad.py": "import os\nx = 1\n"},
    ),
    "cycle": Case(
        ("cook", "bad.py"), ("bad.py", "cycle", "alpha", "beta"),
        {"bad.py": "from pdgstore.engine import Graph\ngraph = Graph('x')\n"
                   "graph.wait_for_all('alpha', 'beta')\ngraph.wait_for_all('beta', 'alpha')\n"},
    ),
    "duplicate_node_name": Case(
        ("cook", "bad.py"), ("bad.py:4", "twice"),
        {"bad.py": "from pdgstore.engine import Graph\ngraph = Graph('x')\n"
                   "graph.range_generate('twice', 2)\ngraph.range_generate('twice', 3)\n"},
    ),
    "connection_to_unknown_node": Case(
        ("cook", "bad.py"), ("bad.py", "gather", "nowhere"),
        {"bad.py": "from pdgstore.engine import Graph\ngraph = Graph('x')\n"
                   "graph.range_generate('numbers', 2)\ngraph.wait_for_all('gather', 'nowhere')\n"},
    ),
    "parameter_the_log_cannot_hold": Case(
        ("cook", "bad.py"), ("bad.py:4", "node p", "parms['x'][1]['y']", "set {1, 2}"),
        {"bad.py": "from pdgstore.engine import Graph\ngraph = Graph('x')\nr = graph.range_generate('r', 1)\n"
                   "graph.python_processor('p', r, lambda item: None, parms={'x': [1, {'y': {1, 2}}]})\n"},
    ),
    "unknown_node_argument": Case(("cook", "good.py", "nosuchnode"), ("nosuchnode",), {"good.py": GOOD_GRAPH}),
    "set_unknown_parameter": Case(
        ("cook", "good.py", "--set", "frames=3"), ("good.py", "frames"), {"good.py": GOOD_GRAPH},
    ),
    "set_wrong_type": Case(
        ("cook", "good.py", "--set", "n=abc"), ("good.py", "n", "abc"), {"good.py": GOOD_GRAPH},
    ),
    "set_wrong_type_float_for_int": Case(
        ("cook", "good.py", "--set", "n=2.5"), ("good.py", "2.5"), {"good.py": GOOD_GRAPH},
    ),
    "set_without_equals": Case(("cook", "good.py", "--set", "n"), ("--set", "NAME=VALUE"), {"good.py": GOOD_GRAPH}),
    "missing_graph_file": Case(("cook", "missing.py"), ("missing.py",)),
    "unknown_item": Case(("show", "nosuch_7"), ("nosuch_7",), needs_store=True),
    "empty_item_name": Case(("show", ""), ("no work item '' in the store",), needs_store=True),
    "events_of_an_unknown_cook": Case(("events", "--cook", "99"), ("has no cook 99",), needs_store=True),
    "export_of_an_unknown_cook": Case(
        ("export", "--format", "jsonl", "--cook", "99", "-o", "out.jsonl"), ("has no cook 99",), needs_store=True
    ),
    "unknown_item_for_events": Case(("events", "--item", "nosuch_7"), ("nosuch_7",), needs_store=True),
    "unknown_node_for_items": Case(("items", "nosuchnode"), ("nosuchnode",), needs_store=True),
    "bad_set_with_an_existing_store": Case(
        ("cook", "good.py", "--set", "n=abc"), ("good.py", "abc"), needs_store=True,
    ),
    "broken_graph_with_an_existing_store": Case(
        ("cook", "bad.py"), ("bad.py:2", "NameError"),
        {"bad.py": "from pdgstore.engine import Graph\ngraph = Graph(undefined_name)\n"}, needs_store=True,
    ),
    "missing_store_for_status": Case(("status",), ("no pdgstore database", ".pdg")),
    "missing_store_for_history": Case(("history",), ("no pdgstore database",)),
    "db_option_missing_file": Case(("status", "--db", "nothere.db"), ("nothere.db",)),
    "db_option_not_a_pdgstore": Case(("status", "--db", "notes.db"), ("notes.db",), {"notes.db": "hello\n"}),
    "cook_into_a_non_pdgstore": Case(
        ("cook", "good.py", "--db", "notes.db"), ("notes.db",), {"good.py": GOOD_GRAPH, "notes.db": "hello\n"},
    ),
    "db_option_a_foreign_sqlite_file": Case(("history", "--db", "other.db"), ("other.db",)),
    # usage: options that exclude each other, refused (never one of them silently ignored)
    "compact_keep_cooks_and_before": Case(
        ("compact", "--keep-cooks", "3", "--before", "cook:1"), ("--keep-cooks", "--before", "not both"),
        needs_store=True,
    ),
    "replay_cook_and_from": Case(
        ("replay", "--cook", "1", "--from", "3", "--handler", "x:y"), ("--cook", "--from/--to", "not both"),
        needs_store=True,
    ),
    "cook_dry_run_and_generate_only": Case(
        ("cook", "good.py", "--dry-run", "--generate-only"), ("--dry-run", "--generate-only", "not both"),
        {"good.py": GOOD_GRAPH},
    ),
    "cook_dry_run_and_auto_compact": Case(
        ("cook", "good.py", "--dry-run", "--auto-compact"), ("--dry-run", "--auto-compact", "not both"),
        {"good.py": GOOD_GRAPH},
    ),
    "export_to_stdout_with_json": Case(
        ("export", "--format", "csv", "-o", "-", "--json"), ("-o -", "--json"), needs_store=True,
    ),
    "history_of_a_cook_with_a_filter": Case(
        ("history", "1", "--node", "numbers"), ("--node", "COOK (1)"), needs_store=True,
    ),
    "history_of_a_cook_with_filters": Case(
        ("history", "1", "--status", "success", "--since", "2h"), ("--status and --since",), needs_store=True,
    ),
    # a question the store cannot answer, as an unknown item
    "log_of_an_in_process_item": Case(
        ("log", "numbers_1"), ("numbers_1", "no job log", "out-of-process"), needs_store=True,
    ),
    "item_id_prefix_too_short": Case(
        ("show", "abcde"), ("abcde", "at least 6 characters"), needs_store=True,
    ),
    # an explicit store in a folder that does not exist: refused, the folder not made
    "cook_into_a_missing_folder": Case(
        ("cook", "good.py", "--db", "nowhere/deeper/x.db"), ("nowhere/deeper/x.db", "nowhere/deeper", "does not exist"),
        {"good.py": GOOD_GRAPH},
    ),
    "dry_run_into_a_missing_folder": Case(
        ("cook", "good.py", "--dry-run", "--db", "nowhere/x.db"), ("nowhere", "does not exist"), {"good.py": GOOD_GRAPH},
    ),
    "watch_into_a_missing_folder": Case(
        ("watch", "good.py", "--db", "nowhere/x.db"), ("nowhere", "does not exist"), {"good.py": GOOD_GRAPH},
    ),
    "export_into_a_missing_folder": Case(
        ("export", "--format", "csv", "-o", "nodir/x.csv"), ("nodir/x.csv", "nodir does not exist"), needs_store=True,
    ),
    "export_into_a_file_as_folder": Case(
        ("export", "--format", "jsonl", "-o", "good.py/x.jsonl"), ("good.py/x.jsonl", "good.py is not a folder"),
        needs_store=True,
    ),
    "schedule_into_a_missing_folder": Case(
        ("schedule", "add", "good.py", "--every", "1h", "--db", "nowhere/x.db"), ("nowhere", "does not exist"),
        {"good.py": GOOD_GRAPH},
    ),
}


def _foreign_sqlite(path) -> bytes:
    import sqlite3

    con = sqlite3.connect(path)
    con.execute("create table notes (id integer primary key, text text)")
    con.execute("insert into notes (text) values ('mine')")
    con.commit()
    con.close()
    return path.read_bytes()


def _events(project) -> list:
    result = project.pdg("events", "--json", "--db", str(project.db))
    assert result.exit_code == 0, result.stderr
    return [json.loads(line) for line in result.stdout.splitlines()]


def _tree(project) -> set[str]:
    """Every file in the project (the store's own -wal/-shm files may come and go with readers)."""
    return {
        str(p.relative_to(project.root)) for p in project.root.rglob("*")
        if not p.name.endswith(("-wal", "-shm"))
    }


def _run(project, runner: str, args):
    if runner == "process":
        proc = project.pdg_process(*args)
        return proc.returncode, proc.stdout, proc.stderr
    result = project.pdg(*args, env={"PDG_DB": None})
    return result.exit_code, result.stdout, result.stderr


@pytest.mark.parametrize("runner", ["inprocess", "process"])
@pytest.mark.parametrize("case_name", list(CASES))
def test_refusal(project, case_name, runner):
    case = CASES[case_name]
    for relpath, text in case.files.items():
        project.write(relpath, text)
    foreign = None
    if case_name == "db_option_a_foreign_sqlite_file":
        foreign = _foreign_sqlite(project.root / "other.db")
    other_files = {p: (project.root / p).read_bytes() for p in case.files if p.endswith(".db")}

    events_before = None
    if case.needs_store:
        project.write("good.py", GOOD_GRAPH)
        cooked = project.pdg("cook", "good.py")
        assert cooked.exit_code == 0, cooked.stderr
        events_before = _events(project)
    else:
        assert not project.db.exists()

    files_before = _tree(project)
    code, stdout, stderr = _run(project, runner, case.args)

    assert code == case.code, (code, stdout, stderr)
    assert "Traceback" not in stdout and "Traceback" not in stderr, stderr
    lines = [line for line in stderr.splitlines() if line.strip()]
    assert len(lines) == 1, f"expected one line on stderr, got: {stderr!r}"
    for needle in case.needles:
        assert needle in lines[0], f"{needle!r} not in {lines[0]!r}"
    if "--json" in case.args:  # the failure told on stdout too, as one JSON object (test_json_errors)
        assert json.loads(stdout) == {"schema": 2, "status": "error", "error": lines[0][5:], "exit_code": code}
    else:
        assert not stdout.strip(), stdout

    # no partial write
    if events_before is None:
        assert not project.db.exists(), "a refused command created the store"
        assert not (project.root / ".pdg").exists(), "a refused command created .pdg/"
    else:
        assert _events(project) == events_before, "a refused command changed the store"
    for relpath, data in other_files.items():
        assert (project.root / relpath).read_bytes() == data, f"{relpath} was modified"
    assert _tree(project) == files_before, "a refused command left files behind"
    if foreign is not None:
        assert (project.root / "other.db").read_bytes() == foreign, "a foreign SQLite file was modified"


def test_a_current_folder_that_was_deleted_is_a_sentence(tmp_path):
    """A shell left in a folder that was deleted (a project rebuilt from scratch beside it): one
    line and exit code 2 from every command, not Python's traceback of ``os.getcwd``."""
    import subprocess
    import sys

    gone = tmp_path / "gone"
    gone.mkdir()
    pdg = os.path.join(os.path.dirname(sys.executable), "pdg")
    for args in (["status"], ["cook", "wide.py"]):
        done = subprocess.run(
            ["sh", "-c", 'cd "$1" && rmdir "$1" && shift && exec "$@"', "sh", str(gone), pdg, *args],
            capture_output=True, text=True, timeout=60,
        )
        assert done.returncode == BAD_INPUT, (done.stdout, done.stderr)
        assert "Traceback" not in done.stderr and done.stderr.count("\n") == 1, done.stderr
        assert "current folder no longer exists" in done.stderr
        gone.mkdir()


def test_unknown_item_json_mode_is_still_a_sentence(project):
    """--json does not turn an error into a traceback or into half a JSON document: the sentence on
    stderr, and on stdout the one JSON object every failure under --json is."""
    project.write("good.py", GOOD_GRAPH)
    assert project.pdg("cook", "good.py").exit_code == 0
    result = project.pdg("show", "nosuch_7", "--json")
    assert result.exit_code == BAD_INPUT
    assert json.loads(result.stdout)["status"] == "error"
    assert "nosuch_7" in result.stderr


def test_missing_store_from_a_subdirectory_of_an_empty_project(project):
    sub = project.root / "a" / "b"
    sub.mkdir(parents=True)
    result = project.pdg("status", cwd=sub, env={"PDG_DB": None})
    assert result.exit_code == BAD_INPUT
    assert "Traceback" not in result.output
    assert not (sub / ".pdg").exists() and not project.db.exists()


def test_pdg_db_env_pointing_at_a_non_pdgstore(project):
    path = project.write("notes.db", "hello\n")
    result = project.pdg("status", env={"PDG_DB": str(path)})
    assert result.exit_code == BAD_INPUT
    assert "notes.db" in result.stderr
    assert "Traceback" not in result.output
    assert path.read_text() == "hello\n"


def test_cook_usage_errors_exit_2(project):
    """click's own usage errors (no GRAPH, --jobs 0) are bad input too."""
    project.write("good.py", GOOD_GRAPH)
    for args in (("cook",), ("cook", "good.py", "--jobs", "0"), ("nosuchcommand",)):
        proc = project.pdg_process(*args)
        assert proc.returncode == BAD_INPUT, (args, proc.stderr)
        assert "Traceback" not in proc.stderr
    assert not project.db.exists()
