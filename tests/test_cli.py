"""The ``pdg`` command end to end on a real store: cook, the read commands, parameters, failures, help.

Most tests use the in-process runner (``project.pdg``); a few run the real entry point
(``project.pdg_process``) where the process's own exit code and output matter.
"""

from __future__ import annotations

import contextlib
import io
import json
import re
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pdgstore.cli.main import pdg as pdg_group
from conftest import CHATTY_WIDE_GRAPH, WIDE_GRAPH, copied, wide_in

COMMANDS = tuple(pdg_group.commands)  # every registered command must be listed by pdg --help
WIDE_NODES = ("files", "upper", "gather", "concat")


def run_json(project, *args, cwd=None, env=None, code=0) -> dict:
    result = project.pdg(*args, "--json", cwd=cwd, env=env)
    assert result.exit_code == code, (result.stdout, result.stderr)
    return json.loads(result.stdout)


def run_events(project, *args) -> list[dict]:
    """``pdg events --json``: one JSON object per line."""
    result = project.pdg("events", *args, "--json")
    assert result.exit_code == 0, (result.stdout, result.stderr)
    return [json.loads(line) for line in result.stdout.splitlines()]


def expected_all(n: int = 20) -> str:
    return "".join(f"HELLO WORLD {i}\n" for i in range(n))


def status_counts(project, **kwargs) -> dict[str, dict[str, int]]:
    data = run_json(project, "status", **kwargs)
    return {row["node"]: row["states"] for row in data["nodes"]}


@pytest.fixture(scope="module")
def cooked_once(tmp_path_factory):
    """The wide project after one successful cook, made once for the module."""
    wide = wide_in(tmp_path_factory.mktemp("cooked"))
    result = wide.pdg("cook", "wide.py")
    assert result.exit_code == 0, (result.stdout, result.stderr)
    return wide.root


@pytest.fixture
def cooked(cooked_once, tmp_path):
    """A copy of the cooked wide project for one test, which may change it."""
    return copied(cooked_once, tmp_path)


# -- pdg cook ---------------------------------------------------------------------------------------

def test_cook_json_summary(wide):
    result = wide.pdg("cook", "wide.py", "--json")
    assert result.exit_code == 0, result.stderr
    data = json.loads(result.stdout)  # exactly one JSON object on stdout
    assert {"cook_id", "status", "items", "seconds"} <= set(data)
    assert data["cook_id"] == 1
    assert data["status"] == "success"
    assert set(data["items"]) >= {"ran", "reused", "failed", "cancelled"}
    for key in ("ran", "reused", "failed", "cancelled"):
        assert type(data["items"][key]) is int
    # 20 upper items and 1 concat item ran their work; 20 file items and 1 partition were made
    # without work (updated); nothing was reused in a first cook
    assert data["items"]["ran"] == 21
    assert data["items"]["updated"] == 21
    assert data["items"]["reused"] == data["items"]["failed"] == data["items"]["cancelled"] == 0
    assert isinstance(data["seconds"], (int, float)) and data["seconds"] >= 0
    assert (wide.root / "out2" / "all.txt").read_text() == expected_all()
    assert (wide.root / "out1" / "f0007.txt").read_text() == "HELLO WORLD 7\n"
    assert wide.db.exists()


def test_cook_real_process_json_and_exit_code(wide):
    proc = wide.pdg_process("cook", "wide.py", "--json")
    assert proc.returncode == 0, proc.stderr
    data = json.loads(proc.stdout)
    assert data["status"] == "success" and data["cook_id"] == 1
    assert "Traceback" not in proc.stderr
    assert (wide.root / "out2" / "all.txt").read_text() == expected_all()


def test_what_the_graph_prints_goes_to_stderr_under_json(wide):
    """A graph file and its processors print (a user's debugging): with --json, stdout holds the
    JSON alone, for a script to parse (``pdg cook --json | jq``); the prints go to stderr. Without
    --json they stay on stdout, as the user's code wrote them."""
    wide.write("wide.py", CHATTY_WIDE_GRAPH)
    plan = wide.pdg_process("cook", "wide.py", "--dry-run", "--json")
    assert plan.returncode == 0, plan.stderr
    assert json.loads(plan.stdout)["graph"] == "wide" and "the graph file loads" in plan.stderr
    cooked = wide.pdg_process("cook", "wide.py", "--json")
    assert cooked.returncode == 0, cooked.stderr
    assert json.loads(cooked.stdout)["items"]["ran"] == 21
    assert cooked.stderr.count("upper made out1/") == 20 and "the graph file loads" in cooked.stderr
    (wide.root / "in" / "f0003.txt").write_text("changed\n")
    plain = wide.pdg_process("cook", "wide.py")
    assert plain.returncode == 0, plain.stderr
    assert plain.stdout.startswith("the graph file loads\n") and "upper made out1/f0003.txt" in plain.stdout


def test_cook_human_mode_prints_results_relative_to_project_dir(wide):
    result = wide.pdg("cook", "wide.py")
    assert result.exit_code == 0, result.stderr
    assert "out2/all.txt" in result.stdout.split()
    assert "Traceback" not in result.output


def test_cook_human_mode_results_relative_to_parent_dir(project):
    project.write("sub/wide.py", WIDE_GRAPH)
    project.inputs(20, folder="sub/in")
    result = project.pdg("cook", "sub/wide.py")  # from the parent of the graph's folder
    assert result.exit_code == 0, result.stderr
    assert "sub/out2/all.txt" in result.stdout.split()
    assert (project.root / "sub" / "out2" / "all.txt").read_text() == expected_all()
    # the store went beside the graph file, not into the current directory
    assert (project.root / "sub" / ".pdg" / "pdg.db").exists()
    assert not (project.root / ".pdg").exists()


def test_cook_human_mode_results_relative_to_subdirectory(wide):
    sub = wide.root / "deeper" / "still"
    sub.mkdir(parents=True)
    result = wide.pdg("cook", "../../wide.py", cwd=sub)
    assert result.exit_code == 0, result.stderr
    assert "../../out2/all.txt" in result.stdout.split()
    # relative paths in the graph resolve against the graph file's folder, not the cwd
    assert (wide.root / "out2" / "all.txt").read_text() == expected_all()
    assert not (sub / "out2").exists()
    assert wide.db.exists()


def test_second_cook_records_a_new_cook_and_keeps_the_first(cooked):
    first_history = run_json(cooked, "history")["cooks"]
    first_events = run_events(cooked, "--cook", "1")
    assert [c["cook_id"] for c in first_history] == [1]

    data = run_json(cooked, "cook", "wide.py")
    assert data["cook_id"] == 2 and data["status"] == "success"

    cooks = run_json(cooked, "history")["cooks"]
    assert [c["cook_id"] for c in cooks] == [1, 2]
    assert cooks[0] == first_history[0]  # cook 1's record is untouched
    assert cooks[1]["status"] == "success"
    assert run_events(cooked, "--cook", "1") == first_events
    assert run_events(cooked, "--cook", "2")
    assert cooked.pdg("check").exit_code == 0


def test_cook_one_node_cooks_only_it_and_its_upstream(wide):
    data = run_json(wide, "cook", "wide.py", "upper")
    assert data["status"] == "success"
    assert data["items"]["ran"] == 20 and data["items"]["updated"] == 20
    counts = status_counts(wide)
    assert counts["files"] == {"cooked_success": 20}
    assert counts["upper"] == {"cooked_success": 20}
    for node in ("gather", "concat"):
        assert sum(counts.get(node, {}).values()) == 0, counts
    assert (wide.root / "out1" / "f0019.txt").exists()
    assert not (wide.root / "out2").exists()
    history = run_json(wide, "history")["cooks"]
    assert history[0]["node"] == "upper"


# -- the read commands ------------------------------------------------------------------------------

def test_status_json(cooked):
    data = run_json(cooked, "status")
    rows = data["nodes"]
    assert [r["node"] for r in rows] == list(WIDE_NODES)
    by_node = {r["node"]: r for r in rows}
    assert by_node["files"]["total"] == 20 and by_node["files"]["states"] == {"cooked_success": 20}
    assert by_node["upper"]["states"] == {"cooked_success": 20}
    assert by_node["gather"]["states"] == {"cooked_success": 1}
    assert by_node["concat"]["states"] == {"cooked_success": 1}
    for r in rows:
        assert r["graph"] == "wide"
        assert all(type(v) is int for v in r["states"].values())


def test_status_table(cooked):
    result = cooked.pdg("status")
    assert result.exit_code == 0, result.stderr
    for node in WIDE_NODES:
        assert node in result.stdout
    assert "cooked_success" in result.stdout


def test_status_needs_no_graph_file(cooked):
    (cooked.root / "wide.py").unlink()
    assert status_counts(cooked)["concat"] == {"cooked_success": 1}


def test_items_json(cooked):
    items = run_json(cooked, "items")["items"]
    assert len(items) == 42
    for it in items:
        assert {"item_id", "name", "node", "index", "state", "outputs", "cook_seconds"} <= set(it)
        assert it["state"] == "cooked_success"
        assert isinstance(it["cook_seconds"], (int, float))
    upper = [it for it in items if it["node"] == "upper"]
    assert sorted(it["index"] for it in upper) == list(range(20))
    assert sorted(it["name"] for it in upper) == sorted(f"upper_{i}" for i in range(1, 21))
    one = next(it for it in upper if it["index"] == 3)
    assert len(one["outputs"]) == 1
    out = one["outputs"][0]
    assert out["tag"] == "file/text"
    assert out["path"] == "out1/f0003.txt"
    assert out["size"] == len("HELLO WORLD 3\n")
    concat = next(it for it in items if it["node"] == "concat")
    assert concat["name"] == "concat_1"
    assert [o["path"] for o in concat["outputs"]] == ["out2/all.txt"]
    assert len({it["item_id"] for it in items}) == 42


def test_items_json_is_written_as_the_items_come_in_the_same_text(cooked):
    """``pdg items --json`` writes each item as it is read (a node of 100,000 items: 24 MB, not
    518 MB), in exactly the text ``json.dumps(..., indent=2)`` gives the whole document."""
    out = cooked.pdg("items", "--json")
    assert out.exit_code == 0
    assert out.output == json.dumps(json.loads(out.output), indent=2) + "\n"
    empty = cooked.pdg("items", "upper", "--state", "cooked_fail", "--json")
    assert empty.output == json.dumps(json.loads(empty.output), indent=2) + "\n"


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner, max_size=3),
    max_leaves=8,
)


@settings(max_examples=60, deadline=None)
@given(head=st.dictionaries(st.text(max_size=5), json_values, max_size=3), rows=st.lists(
    st.dictionaries(st.text(max_size=5), json_values, max_size=4), max_size=4))
def test_a_listing_written_row_by_row_is_the_documents_text(head, rows):
    from pdgstore.cli import render

    head.pop("items", None)
    buffer = io.StringIO()
    with contextlib.redirect_stdout(buffer):
        render.emit_json_listing(head, "items", iter(rows))
    assert buffer.getvalue() == json.dumps({**head, "items": rows}, indent=2) + "\n"


@settings(max_examples=200, deadline=None)
@given(rows=st.lists(st.lists(st.text(alphabet="ab\t\n\r ", max_size=4), min_size=3, max_size=3), max_size=5))
def test_a_piped_listing_has_one_line_per_row_and_a_tab_between_cells(rows):
    """Into a pipe, ``render.listing`` writes a row's cells whole, but for their own tabs and line
    breaks (a space each), which would split a row in two or shift its columns."""
    from pdgstore.cli import render

    buffer = io.StringIO()
    with pytest.MonkeyPatch.context() as patch, contextlib.redirect_stdout(buffer):
        patch.setattr(render, "to_terminal", lambda: False)
        render.listing(("a", "b", "c"), iter(rows), what="rows", every="x | less")
    lines = buffer.getvalue().split("\n")
    assert lines[0] == "a\tb\tc" and lines[-1] == ""
    assert [line.split("\t") for line in lines[1:-1]] == [
        [cell.replace("\t", " ").replace("\n", " ") for cell in row] for row in rows
    ]


@settings(max_examples=300, deadline=None)
@given(value=st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(),
    lambda inner: st.lists(inner, max_size=4) | st.tuples(inner, inner) | st.dictionaries(
        st.text(max_size=5) | st.integers(), inner, max_size=4),
    max_leaves=20,
), pad=st.sampled_from(["", "  ", "    "]))
def test_the_fast_indented_json_is_the_standard_librarys_text(value, pad):
    """``render.indented`` writes what ``json.dumps(indent=2, default=str)`` writes (NaN and the
    infinities, keys that are not strings, tuples, values of other types through ``str``), each
    line after the first prefixed by ``pad``: every ``--json`` answer goes through it."""
    import datetime

    from pdgstore.cli import render

    assert render.indented(value, pad) == json.dumps(value, indent=2, default=str).replace("\n", "\n" + pad)
    odd = {"when": datetime.date(2026, 12, 7), "path": Path("a/b"), "value": value}
    assert render.indented(odd) == json.dumps(odd, indent=2, default=str)


def test_items_of_one_node_in_one_state(cooked):
    items = run_json(cooked, "items", "upper", "--state", "cooked_success")["items"]
    assert len(items) == 20 and {it["node"] for it in items} == {"upper"}
    assert run_json(cooked, "items", "upper", "--state", "cooked_fail")["items"] == []
    table = cooked.pdg("items", "upper", "--state", "cooked_success")
    assert table.exit_code == 0, table.stderr
    assert "upper_1" in table.stdout and "files_1" not in table.stdout


def test_items_into_a_pipe_are_every_row_as_tab_separated_text(cooked):
    listed = cooked.pdg("items")
    assert listed.exit_code == 0, listed.stderr
    lines = listed.stdout.splitlines()
    assert lines[0].split("\t") == ["item_id", "name", "node", "index", "state", "outputs", "seconds"]
    by_json = run_json(cooked, "items")["items"]
    assert [line.split("\t")[:5] for line in lines[1:]] == [
        [r["item_id"], r["name"], r["node"], str(r["index"]), r["state"]] for r in by_json
    ]
    assert lines[1 + [r["name"] for r in by_json].index("upper_3")].split("\t")[5] == "out1/f0002.txt [file/text]"


def test_items_on_a_terminal_show_the_first_rows_and_how_many_more(cooked, monkeypatch):
    """A table of 100,000 rows took rich a minute and 600 MB: a terminal gets the first
    ``MAX_TABLE_ROWS`` and a count of the rest (from the store's counts, no item read)."""
    from pdgstore.cli import render

    monkeypatch.setattr(render, "to_terminal", lambda: True)
    monkeypatch.setattr(render, "MAX_TABLE_ROWS", 5)
    shown = cooked.pdg("items", "upper")
    assert shown.exit_code == 0, shown.stderr
    assert "upper_5" in shown.stdout and "upper_6" not in shown.stdout
    assert "... and 15 more work items (all of them: pipe them, as in pdg items upper | less; or --json)" in shown.stdout
    everything = cooked.pdg("items", "--state", "cooked_success")
    assert "... and 37 more work items" in everything.stdout  # 42 items, every one cooked
    assert "more work items" not in cooked.pdg("items", "concat").stdout
    events = cooked.pdg("events")
    assert "... and more events (all of them: pipe them, as in pdg events | less; or --json)" in events.stdout
    assert "more events" not in cooked.pdg("events", "--kind", "cookfinished").stdout


def test_history_on_a_terminal_shows_the_latest_cooks_and_how_many_came_before(cooked, monkeypatch):
    from pdgstore.cli import render

    for _ in range(3):
        assert cooked.pdg("cook", "wide.py").exit_code == 0
    monkeypatch.setattr(render, "to_terminal", lambda: True)
    monkeypatch.setattr(render, "MAX_TABLE_ROWS", 2)
    shown = cooked.pdg("history")
    assert shown.exit_code == 0, shown.stderr
    assert "... 2 earlier cooks before these (all of them: pipe them, as in pdg history | less; or --json)" in (
        shown.stdout
    )
    listed = [line.split("│")[0].strip() for line in shown.stdout.splitlines() if "│" in line]
    assert listed == ["3", "4"], shown.stdout  # the last two cooks
    monkeypatch.setattr(render, "to_terminal", lambda: False)
    piped = cooked.pdg("history")
    assert [line.split("\t")[0] for line in piped.stdout.splitlines()] == ["cook_id", "1", "2", "3", "4"]


def test_events_into_a_pipe_are_every_event_as_tab_separated_text(cooked):
    lines = cooked.pdg("events").stdout.splitlines()
    assert lines[0].split("\t") == ["seq", "time", "cook_id", "kind", "subject", "payload"]
    assert [int(line.split("\t")[0]) for line in lines[1:]] == [e["seq"] for e in run_events(cooked)]


def _show(project, ref, **kwargs) -> dict:
    return run_json(project, "show", ref, **kwargs)["item"]


def test_show_by_name_id_and_prefix(cooked):
    by_name = _show(cooked, "concat_1")
    assert by_name["name"] == "concat_1" and by_name["node"] == "concat"
    item_id = by_name["item_id"]
    assert _show(cooked, item_id) == by_name
    assert _show(cooked, item_id[:8]) == by_name

    for key in ("attrs", "inputs", "outputs", "history", "error", "traceback"):
        assert key in by_name, key
    assert sorted(f["path"] for f in by_name["inputs"]) == [f"out1/f{i:04d}.txt" for i in range(20)]
    assert all(f["tag"] == "file/text" for f in by_name["inputs"])
    assert [f["path"] for f in by_name["outputs"]] == ["out2/all.txt"]
    assert by_name["outputs"][0]["size"] == len(expected_all())
    assert not by_name["error"] and not by_name["traceback"]
    states = [h["state"] for h in by_name["history"]]
    assert states[-1] == "cooked_success"
    assert "cooking" in states
    seqs = [h["seq"] for h in by_name["history"]]
    assert seqs == sorted(seqs)
    for h in by_name["history"]:
        assert h["time_ns"] > 0 and h["cook_id"] == 1
        assert h.get("time")  # a readable time beside the raw one


def test_show_attributes(cooked):
    item = _show(cooked, "upper_4")
    assert item["node"] == "upper"
    assert item["inputs"] and item["inputs"][0]["path"] == f"in/f{item['index']:04d}.txt"
    assert isinstance(item["attrs"], dict)


def test_show_human(cooked):
    result = cooked.pdg("show", "concat_1")
    assert result.exit_code == 0, result.stderr
    assert "concat_1" in result.stdout
    assert "out2/all.txt" in result.stdout
    assert "cooked_success" in result.stdout


def test_history_json(cooked):
    cooks = run_json(cooked, "history")["cooks"]
    assert len(cooks) == 1
    c = cooks[0]
    assert c["cook_id"] == 1 and c["status"] == "success"
    assert c["started"] and c["ended"]
    assert c["ended_ns"] >= c["started_ns"] > 0
    assert c["items"]["ran"] == 21 and c["items"]["updated"] == 21
    assert c["items"]["failed"] == 0 and c["items"]["cancelled"] == 0
    table = cooked.pdg("history")
    assert table.exit_code == 0 and "success" in table.stdout


def test_events_json_and_filters(cooked):
    run_json(cooked, "cook", "wide.py")
    everything = run_events(cooked)
    seqs = [e["seq"] for e in everything]
    assert seqs == sorted(seqs) and len(set(seqs)) == len(seqs)
    for e in everything:
        assert {"seq", "time_ns", "cook_id", "graph", "kind", "subject", "payload"} <= set(e)
    assert {e["cook_id"] for e in everything} >= {1, 2}

    cook2 = run_events(cooked, "--cook", "2")
    assert cook2 and {e["cook_id"] for e in cook2} == {2}
    assert cook2 == [e for e in everything if e["cook_id"] == 2]

    item_id = _show(cooked, "concat_1")["item_id"]
    about = run_events(cooked, "--item", "concat_1")
    assert about and {e["subject"] for e in about} == {item_id}
    assert about == [e for e in everything if e["subject"] == item_id]
    assert run_events(cooked, "--item", item_id) == about

    started = run_events(cooked, "--kind", "CookStarted")
    assert [e["cook_id"] for e in started] == [1, 2]
    assert {e["kind"] for e in started} == {"CookStarted"}

    both = run_events(cooked, "--cook", "1", "--kind", "CookStarted")
    assert len(both) == 1 and both[0]["cook_id"] == 1

    table = cooked.pdg("events", "--cook", "1")
    assert table.exit_code == 0 and "CookStarted" in table.stdout


def test_check_passes(cooked):
    result = cooked.pdg("check")
    assert result.exit_code == 0, result.stderr
    proc = cooked.pdg_process("check")
    assert proc.returncode == 0, proc.stderr


@pytest.mark.parametrize("command", [
    ("status",), ("items",), ("items", "upper"), ("show", "concat_1"), ("history",), ("events",), ("check",),
])
def test_read_commands_work_from_a_subdirectory(cooked, command):
    sub = cooked.root / "a" / "b"
    sub.mkdir(parents=True)
    at_root = cooked.pdg(*command, *(() if command == ("check",) else ("--json",)))
    below = cooked.pdg(*command, *(() if command == ("check",) else ("--json",)), cwd=sub)
    assert below.exit_code == 0, below.stderr
    if command == ("check",):
        return
    if command == ("events",):  # JSON lines
        assert at_root.stdout == below.stdout and at_root.stdout.count("\n") > 10
        return
    a, b = json.loads(at_root.stdout), json.loads(below.stdout)
    a.pop("store", None)
    b.pop("store", None)
    assert a == b


def test_read_commands_with_db_option_and_env(cooked, tmp_path_factory):
    elsewhere = tmp_path_factory.mktemp("elsewhere")
    db = str(cooked.db)
    expected = status_counts(cooked)
    result = cooked.pdg("status", "--json", "--db", db, cwd=elsewhere)
    assert result.exit_code == 0, result.stderr
    assert {r["node"]: r["states"] for r in json.loads(result.stdout)["nodes"]} == expected
    result = cooked.pdg("status", "--json", cwd=elsewhere, env={"PDG_DB": db})
    assert result.exit_code == 0, result.stderr
    assert {r["node"]: r["states"] for r in json.loads(result.stdout)["nodes"]} == expected
    for command in (("history",), ("items", "concat"), ("show", "concat_1"), ("events", "--cook", "1")):
        result = cooked.pdg(*command, "--json", "--db", db, cwd=elsewhere)
        assert result.exit_code == 0, (command, result.stderr)
        result = cooked.pdg(*command, "--json", cwd=elsewhere, env={"PDG_DB": db})
        assert result.exit_code == 0, (command, result.stderr)
    assert cooked.pdg("check", "--db", db, cwd=elsewhere).exit_code == 0


def test_cook_into_an_explicit_db(wide):
    (wide.root / "elsewhere").mkdir()  # an explicit store's folder is the user's to make (test_cli_errors)
    data = run_json(wide, "cook", "wide.py", "--db", "elsewhere/store.db")
    assert data["status"] == "success"
    assert (wide.root / "elsewhere" / "store.db").exists()
    assert not wide.db.exists()
    result = wide.pdg("history", "--json", "--db", "elsewhere/store.db")
    assert result.exit_code == 0 and json.loads(result.stdout)["cooks"][0]["cook_id"] == 1


# -- graph parameters -------------------------------------------------------------------------------

PARM_GRAPH = '''
from pdgstore.engine import Graph

graph = Graph("parms")
count = graph.parm("count", 3)
scale = graph.parm("scale", 1.5)
label = graph.parm("label", "v")
loud = graph.parm("loud", False)

numbers = graph.range_generate("numbers", count)

@graph.python_processor("fmt", upstream=numbers)
def fmt(item):
    text = f"{label}{item.attrib_value('value') * scale}"
    item.set_attrib("text", text.upper() if loud else text)
'''


def _texts(project) -> list[str]:
    items = run_json(project, "items", "fmt")["items"]
    out = []
    for it in sorted(items, key=lambda it: it["index"]):
        attrs = _show(project, it["item_id"])["attrs"]
        out.append(attrs["text"]["values"][0])
    return out


def test_default_parameters(project):
    project.write("parms.py", PARM_GRAPH)
    assert run_json(project, "cook", "parms.py")["status"] == "success"
    assert _texts(project) == ["v0.0", "v1.5", "v3.0"]


def test_set_overrides_each_parameter_type(project):
    project.write("parms.py", PARM_GRAPH)
    data = run_json(project, "cook", "parms.py", "--set", "count=4", "--set", "scale=2.5",
                    "--set", "label=w", "--set", "loud=true")
    assert data["status"] == "success"
    assert _texts(project) == ["W0.0", "W2.5", "W5.0", "W7.5"]
    counts = status_counts(project)
    assert counts["numbers"] == {"cooked_success": 4}


def test_set_through_the_real_entry_point(project):
    project.write("parms.py", PARM_GRAPH)
    proc = project.pdg_process("cook", "parms.py", "--set", "count=2", "--set", "loud=no", "--json")
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)["status"] == "success"
    assert _texts(project) == ["v0.0", "v1.5"]


# -- failures ---------------------------------------------------------------------------------------

FAIL_GRAPH = '''
from pdgstore.engine import Graph

graph = Graph("fails")
numbers = graph.range_generate("numbers", 4)

@graph.python_processor("work", upstream=numbers)
def work(item):
    if item.attrib_value("value") == 2:
        raise RuntimeError("value two is cursed")
    item.set_attrib("doubled", item.attrib_value("value") * 2)

@graph.python_processor("after", upstream=work)
def after(item):
    item.set_attrib("seen", 1)

@graph.python_processor("independent", upstream=numbers)
def independent(item):
    item.set_attrib("ok", 1)
'''


@pytest.fixture
def failing(project):
    project.write("fails.py", FAIL_GRAPH)
    return project


def test_failed_item_exit_code_and_summary(failing):
    result = failing.pdg("cook", "fails.py")
    assert result.exit_code == 1
    assert "work_3" in result.stderr  # the failed item is named
    assert "value two is cursed" in result.stderr
    assert "Traceback" not in result.output


def test_failed_item_json_summary(failing):
    data = run_json(failing, "cook", "fails.py", code=1)
    assert data["status"] == "failed"
    assert data["items"]["failed"] == 1
    counts = status_counts(failing)
    assert counts["work"] == {"cooked_success": 3, "cooked_fail": 1}
    assert counts["independent"] == {"cooked_success": 4}  # an independent branch finishes
    # the failed item's downstream never cooks: only the three good items' children succeed
    assert counts.get("after", {}).get("cooked_success", 0) == 3, counts
    assert run_json(failing, "history")["cooks"][0]["status"] == "failed"


def test_failed_item_real_process(failing):
    proc = failing.pdg_process("cook", "fails.py")
    assert proc.returncode == 1
    assert "work_3" in proc.stderr
    assert "Traceback" not in proc.stderr + proc.stdout


def test_show_failed_item_has_error_and_traceback(failing):
    failing.pdg("cook", "fails.py")
    item = _show(failing, "work_3")
    assert item["state"] == "cooked_fail"
    assert "value two is cursed" in item["error"]
    assert "RuntimeError" in item["error"]
    assert "Traceback" in item["traceback"]
    assert re.search(r"fails\.py\", line 10", item["traceback"]), item["traceback"]
    assert [h["state"] for h in item["history"]][-1] == "cooked_fail"
    human = failing.pdg("show", "work_3")
    assert human.exit_code == 0
    assert "value two is cursed" in human.stdout
    assert "Traceback" in human.stdout  # the item's own traceback, shown on purpose
    failed = run_json(failing, "items", "--state", "cooked_fail")["items"]
    assert [it["name"] for it in failed] == ["work_3"]


# -- help -------------------------------------------------------------------------------------------

def test_help_lists_every_command(wide):
    result = wide.pdg("--help")
    assert result.exit_code == 0
    listed = {}
    in_commands = False
    for line in result.stdout.splitlines():
        if line.strip() == "Commands:":
            in_commands = True
            continue
        if in_commands and line.strip():
            name, _, description = line.strip().partition(" ")
            listed[name] = description.strip()
    assert set(listed) == set(COMMANDS)
    for name, description in listed.items():
        assert description, f"{name} has no description in pdg --help"


def test_help_descriptions_are_whole_sentences(wide):
    """The one-line descriptions in `pdg --help` read well: not cut off mid-sentence with '...'."""
    result = wide.pdg("--help")
    for name in COMMANDS:
        line = next(l for l in result.stdout.splitlines() if l.strip().startswith(name + " "))
        assert not line.rstrip().endswith("..."), f"pdg --help cuts off the description of {name}: {line!r}"


@pytest.mark.parametrize("command", COMMANDS)
def test_each_command_help(wide, command):
    result = wide.pdg(command, "--help")
    assert result.exit_code == 0
    assert f"Usage: pdg {command}" in result.stdout
    assert "--json" in result.stdout
    body = result.stdout.split("\n", 2)[-1]
    assert len(body.strip()) > 20
    assert command in pdg_group.commands


def test_help_through_the_real_entry_point(wide):
    proc = wide.pdg_process("--help")
    assert proc.returncode == 0
    for command in COMMANDS:
        assert re.search(rf"^\s+{command}\s+\S", proc.stdout, re.M), command
