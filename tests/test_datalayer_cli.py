"""``pdg datalayer dump``: the data layer's contents from the store alone."""

from __future__ import annotations

import json

import pytest

pytestmark = pytest.mark.timeout(60)


def test_dump_json_is_a_change_log_of_every_object(wide):
    assert wide.pdg("cook", "wide.py").exit_code == 0
    result = wide.pdg("datalayer", "dump", "--json")
    assert result.exit_code == 0, result.output
    doc = json.loads(result.output)
    assert doc["schema"] == 2 and doc["seq"] > 0
    paths = [m["path"] for m in doc["messages"]]
    assert paths[:3] == ["pdg", "pdg/wide", "pdg/wide/node_files"]
    assert len(paths) == 1 + 1 + 4 + 42 and len(set(paths)) == len(paths)
    assert {m["type"] for m in doc["messages"]} == {"eMessageTypeObjectSnapshot"}
    upper = next(m for m in doc["messages"] if m["path"] == "pdg/wide/node_upper")
    assert upper["properties"]["state_counts"] == [["cooked_success", 20]]


def test_dump_of_one_node_and_plain_text(wide):
    assert wide.pdg("cook", "wide.py").exit_code == 0
    doc = json.loads(wide.pdg("datalayer", "dump", "pdg/wide/node_concat", "--json").output)
    assert [m["path"] for m in doc["messages"]][0] == "pdg/wide/node_concat" and len(doc["messages"]) == 2
    text = wide.pdg("datalayer", "dump", "pdg/wide/node_concat").output
    assert text.startswith('path\tproperty\tvalue\npdg/wide/node_concat\tname\t["concat"]\n')


def test_dump_into_a_pipe_is_every_property_as_it_is_read(wide):
    """Into a pipe (a real process): a row per property of every object, whole and tab-separated,
    the same values as --json (it held the whole walk before its first line: 312 MB at W(100,000))."""
    assert wide.pdg("cook", "wide.py").exit_code == 0
    for path in ("pdg", "pdg/wide/node_upper"):
        piped = wide.pdg_process("datalayer", "dump", path)
        assert piped.returncode == 0, piped.stderr
        lines = piped.stdout.splitlines()
        assert lines[0] == "path\tproperty\tvalue" and "more properties" not in piped.stdout
        doc = json.loads(wide.pdg_process("datalayer", "dump", path, "--json").stdout)
        rows = [[m["path"], k, json.dumps(v)] for m in doc["messages"] for k, v in m["properties"].items()]
        assert [line.split("\t") for line in lines[1:]] == rows
        assert len(rows) > 20 * 10  # every item's properties, its node's list of 20 ids whole
    graph = next(line for line in lines if line.startswith("pdg/wide/node_upper\twork_items\t"))
    assert len(json.loads(graph.split("\t")[2])) == 20


def test_dump_on_a_terminal_shows_the_first_rows_and_how_to_see_them_all(wide, monkeypatch):
    """On a terminal, as ``pdg items`` (``render.listing``): the first ``MAX_TABLE_ROWS`` rows and
    how to see every one, values cut (W(100,000)'s node_upper printed 1.4 million lines in 125 s,
    its graph's work_items one line of 100,000 ids)."""
    from pdgstore.cli import render

    assert wide.pdg("cook", "wide.py").exit_code == 0
    monkeypatch.setattr(render, "to_terminal", lambda: True)
    monkeypatch.setattr(render, "MAX_TABLE_ROWS", 5)
    shown = wide.pdg("datalayer", "dump", "pdg/wide/node_upper")
    assert shown.exit_code == 0, shown.stderr
    rows = [line.split("│") for line in shown.stdout.splitlines() if "│" in line]
    assert [r[0].strip() for r in rows] == ["pdg/wide/node_upper"] * 5, shown.stdout
    hint = "... and more properties (all of them: pipe them, as in pdg datalayer dump pdg/wide/node_upper | less; or --json)"
    assert hint in shown.stdout
    monkeypatch.setattr(render, "MAX_TABLE_ROWS", 1000)
    everything = wide.pdg("datalayer", "dump").stdout
    assert "more properties" not in everything
    (ids,) = [line.split("│") for line in everything.splitlines() if line.split()[:3] == ["pdg/wide", "│", "work_items"]]
    assert ids[2].strip().endswith("...") and len(ids[2].strip()) == 160  # 42 ids, cut


def test_dump_refuses_a_bad_path_with_a_sentence(wide):
    assert wide.pdg("cook", "wide.py").exit_code == 0
    result = wide.pdg_process("datalayer", "dump", "graphs/wide")
    assert result.returncode == 2 and result.stdout == ""
    assert result.stderr.startswith("pdg: graphs/wide is not a path of the store's data layer")
    result = wide.pdg_process("datalayer", "dump", "pdg/nope/node_x", "--json")
    assert result.stderr == "pdg: the store has no object at pdg/nope/node_x\n"


def test_serve_json_carries_the_schema_and_the_store_where_the_user_stands(wide):
    """``pdg serve --json`` follows every ``--json``'s rules: the schema version of them all, the store
    relative to the current folder (``serve.json`` beside the store keeps its whole path)."""
    from conftest import Serve

    assert wide.pdg("cook", "wide.py").exit_code == 0
    serve = Serve(wide)
    try:
        assert serve.info["schema"] == 2 and serve.info["store"] == ".pdg/pdg.db", serve.info
        with open(wide.root / ".pdg" / "serve.json") as f:
            assert json.load(f)["store"] == str(wide.root / ".pdg" / "pdg.db")
    finally:
        serve.stop()


def test_an_attribute_with_flags_is_dumped_and_exported(project):
    """An attribute with flags is ``[type, values, flags]``: the data layer and ``pdg export --what
    items`` read its values (they unpacked two and gave a traceback), the export keeps the flags."""
    project.write("flags.py", """
        from pdgstore.engine import Graph
        graph = Graph("flags")

        @graph.python_processor("p", upstream=graph.range_generate("r", 1))
        def p(item):
            item.set_attrib("shot", "sh010", flags=["EnvExport"])
    """)
    assert project.pdg("cook", "flags.py").exit_code == 0
    dump = project.pdg_process("datalayer", "dump", "pdg/flags/node_p", "--json")
    assert dump.returncode == 0, dump.stderr
    item = [m for m in json.loads(dump.stdout)["messages"] if m["path"].startswith("pdg/flags/work_item_")]
    assert item and item[0]["properties"]["attribute/shot"] == ["sh010"]
    exported = project.pdg_process("export", "--what", "items", "--format", "jsonl", "-o", "items.jsonl")
    assert exported.returncode == 0, exported.stderr
    rows = [json.loads(line) for line in (project.root / "items.jsonl").read_text().splitlines()]
    (p_1,) = [r for r in rows if r["name"] == "p_1"]
    assert p_1["attrs"]["shot"] == {"type": "string", "values": ["sh010"], "flags": ["EnvExport"]}
