"""Names, REFs and the store's reading: a cook reference that names no cook, a reversed range, a
removed item looked up in its own history, damaged stored text, and what pdg check counts; on
real stores made by real cooks."""

from __future__ import annotations

import json
import re
import urllib.error
import urllib.request
from datetime import datetime

import pytest
from conftest import Project, scans_of_events, wide_in

from pdgstore.log import EventLog
from pdgstore.readmodel import TableState
from pdgstore.removed import find_removed


def _cooked(project: Project, cooks: int) -> Project:
    """The W(N) graph cooked ``cooks`` times, one input changed before each recook."""
    wide = wide_in(project.root)
    for n in range(cooks):
        if n:
            wide.write("in/f0003.txt", f"changed {n}\n")
        assert wide.pdg("cook", "wide.py").exit_code == 0
    return wide


def _refused(project: Project, *args: str) -> str:
    """The one sentence ``pdg ARGS`` is refused with (exit code 2, no traceback)."""
    result = project.pdg_process(*args)
    assert result.returncode == 2, (result.returncode, result.stdout, result.stderr)
    assert "Traceback" not in result.stderr and len(result.stderr.strip().splitlines()) == 1, result.stderr
    return result.stderr


@pytest.mark.timeout(180)
def test_a_cook_ref_says_which_cook_is_missing_and_why(project):
    wide = _cooked(project, 3)
    assert "there is no cook 0" in _refused(wide, "status", "--at", "cook:0")  # never compacted
    assert wide.pdg("compact", "--keep-cooks", "1").exit_code == 0
    assert [c["cook_id"] for c in json.loads(wide.pdg("history", "--json").output)["cooks"]] == [1, 2, 3]
    # cook~1 is cook 2, whose events compaction folded away: said so, not "does not hold 2 cooks"
    assert "the events of cook 2 were folded away by pdg compact" in _refused(wide, "status", "--at", "cook~1")
    assert "does not hold 4 cooks (it holds 3)" in _refused(wide, "status", "--at", "cook~3")
    assert "there is no cook 0" in _refused(wide, "status", "--at", "cook:0")
    assert json.loads(wide.pdg("status", "--at", "cook~0", "--json").output)["at"]["cook_id"] == 3


@pytest.fixture
def served(project):
    """The W(N) graph cooked three times, for ``serve`` (tests/conftest.py)."""
    return _cooked(project, 3)


@pytest.mark.timeout(180)
def test_a_range_given_backwards_is_refused(served, serve):
    wide = served
    said = _refused(wide, "diff", "cook:3", "cook:1")
    assert "REF1 cook:3 (seq" in said and "is after REF2 cook:1" in said
    assert json.loads(wide.pdg("diff", "cook:1", "cook:3", "--json").output)["counts"]["rerun"] > 0
    wide.write("talk.py", "def say(event):\n    print('heard', event.type)\n")
    said = _refused(wide, "replay", "--handler", "talk.py:say", "--from", "cook:3", "--to", "cook:2")
    assert "--from cook:3 (seq" in said and "is after --to cook:2" in said
    forwards = wide.pdg_process("replay", "--handler", "talk.py:say", "--from", "cook:2", "--to", "cook:3", "--json")
    assert forwards.returncode == 0 and json.loads(forwards.stdout)["events"] > 0, forwards.stderr
    server = serve()
    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(f"{server.url}api/diff?from=cook:3&to=cook:1", timeout=60)
    assert refused.value.code == 400
    assert "from cook:3 (seq" in json.loads(refused.value.read())["error"]
    with urllib.request.urlopen(f"{server.url}api/diff?from=cook:1&to=cook:3", timeout=60) as answer:
        assert json.loads(answer.read())["counts"]["rerun"] > 0


@pytest.mark.timeout(180)
def test_damaged_stored_text_is_corrupt_and_stops_the_next_cook(project):
    wide = _cooked(project, 1)
    data = bytearray(wide.db.read_bytes())
    assert not (wide.db.parent / "pdg.db-wal").exists() or not (wide.db.parent / "pdg.db-wal").stat().st_size
    at = re.search(rb"WorkItemGenerated[0-9a-f]{16}", data)  # an events row: its kind, then its subject
    assert at is not None
    data[at.start() + 13 : at.start() + 17] = b"\xc1" * 4  # WorkItemGener + bytes that are no UTF-8
    wide.db.write_bytes(bytes(data))
    for args in (("events",), ("events", "--json"), ("check",)):
        said = _refused(wide, *args)
        assert "is corrupt: a row's kind column holds bytes that are not text" in said and "\ufffd" not in said
    check = wide.pdg_process("check", "--json")
    assert check.returncode == 2 and json.loads(check.stdout)["exit_code"] == 2, check.stdout
    wide.write("in/f0003.txt", "changed after the damage\n")
    assert "is corrupt" in _refused(wide, "cook", "wide.py")  # the cook's start noticed: nothing appended
    assert bytes(data) == wide.db.read_bytes()


def _events_three_ways(project: Project) -> tuple[int, int, int]:
    """(pdg check's events replayed, pdg stats' events, the lines of pdg events --json)."""
    check = project.pdg_process("check", "--json")
    assert check.returncode == 0, check.stdout + check.stderr
    stats = json.loads(project.pdg("stats", "--json").output)
    lines = project.pdg("events", "--json").output.splitlines()
    return json.loads(check.stdout)["events"], stats["events"], len(lines)


@pytest.mark.timeout(180)
def test_check_counts_the_events_stats_and_events_count(project):
    wide = wide_in(project.root)
    assert wide.pdg("cook", "wide.py", "--generate-only").exit_code == 0  # batches: a row stands for many events
    with EventLog.open(str(wide.db)) as log:
        assert log.conn.execute("SELECT count(*) FROM events WHERE kind = 'WorkItemsGenerated'").fetchone()[0]
    for n in range(3):
        wide.write("in/f0003.txt", f"changed {n}\n")
        assert wide.pdg("cook", "wide.py").exit_code == 0
    checked, counted, printed = _events_three_ways(wide)
    assert checked == counted == printed
    assert wide.pdg("compact", "--keep-cooks", "1").exit_code == 0
    checked, counted, printed = _events_three_ways(wide)
    assert checked == counted == printed  # the events still in the log, not the base's seq added
    said = wide.pdg_process("check")
    assert f"ok ({counted} events replayed from the compaction base at seq" in said.stdout, said.stdout


RENAMED_GRAPH = """
from pdgstore.engine import Graph

graph = Graph("g")
texts = graph.file_pattern("texts", "in/*.txt")

@graph.python_processor("upper", upstream=texts)
def upper(item):
    item.set_attrib("u", item.input_path.read_text().upper())

@graph.python_processor("tail", upstream=upper)
def tail(item):
    item.set_attrib("t", 1)
"""


@pytest.mark.timeout(180)
def test_a_removed_item_is_found_in_its_own_history(project):
    project.inputs(3)
    project.write("g.py", RENAMED_GRAPH)
    assert project.pdg("cook", "g.py").exit_code == 0
    upper_1 = json.loads(project.pdg("show", "upper_1", "--json").output)["item"]["item_id"]
    project.write("g.py", RENAMED_GRAPH.replace('"upper"', '"shout"'))
    assert project.pdg("cook", "g.py").exit_code == 0  # cook 2 removes upper's items
    for ref in ("upper_1", upper_1, upper_1[:8], "g/upper_1"):
        result = project.pdg_process("events", "--item", ref, "--json")
        assert result.returncode == 0, result.stderr
        events = [json.loads(line) for line in result.stdout.splitlines()]
        assert {e["subject"] for e in events} == {upper_1}
        assert [e["kind"] for e in events][0] == "WorkItemGenerated" and events[-1]["kind"] == "WorkItemRemoved"
        history = json.loads(project.pdg("history", "--item", ref, "--json").output)
        assert [c["cook_id"] for c in history["cooks"]] == [1, 2]
    why = json.loads(project.pdg("explain", "upper_1", "--json").output)
    assert why["item_id"] == upper_1 and why["cook_id"] == 2 and why["chain"][0]["action"] == "removed"
    assert why["chain"][0]["node"] == "upper"
    said = project.pdg_process("explain", "upper_1")
    assert (
        said.returncode == 0
        and said.stdout.strip() == "upper_1 was removed in cook 2: node upper is no longer in the graph"
    )
    assert "no work item upper_9 in the store" in _refused(project, "events", "--item", "upper_9")
    assert "no work item upper_9 in the store" in _refused(project, "explain", "upper_9")
    # by name and by id prefix, the look-up reads the events it needs through an index: no statement
    # scans the log
    with EventLog.open(str(project.db)) as log:
        by_name, scans = scans_of_events(log.conn, lambda: find_removed(log, TableState(log), "upper_2"))
        assert by_name.name == "upper_2" and not scans, scans  # a SEARCH, by an index
        by_id, scans = scans_of_events(log.conn, lambda: find_removed(log, TableState(log), upper_1[:8]))
        assert not scans, scans
        assert (by_id.item_id, by_id.name, by_id.node, by_id.cook_id) == (upper_1, "upper_1", "upper", 2)


@pytest.mark.timeout(120)
def test_store_and_time_messages_say_what_they_mean(project):
    wide = _cooked(project, 1)
    first_ns = json.loads(wide.pdg("events", "--json").output.splitlines()[0])["time_ns"]
    just_before = datetime.fromtimestamp((first_ns - 2_000) / 1e9).isoformat()  # the same second
    said = re.search(
        r"held nothing yet at (.+) \(its first event is at (.+)\)", _refused(wide, "status", "--at", just_before)
    )
    assert said is not None and said.group(1) < said.group(2), said  # told apart, to the microsecond
    assert "no pdgstore database at nope.db" in _refused(wide, "status", "--db", str(wide.root / "nope.db"))
    (wide.root / "empty.db").write_bytes(b"")
    assert "empty.db is empty (0 bytes), not a pdgstore database" in _refused(wide, "status", "--db", "empty.db")
    assert (wide.root / "empty.db").read_bytes() == b""


@pytest.mark.timeout(180)
def test_a_removed_renumbered_item_keeps_its_node_and_its_last_name(project):
    """A renumbering names no node: the removed item's node is its generation's, its name the
    renumbering's, read in one pass over its events."""
    project.inputs(2)
    project.write("g.py", RENAMED_GRAPH)
    assert project.pdg("cook", "g.py").exit_code == 0
    first = json.loads(project.pdg("show", "upper_1", "--json").stdout)["item"]["item_id"]
    project.write("in/a.txt", "sorts before the others\n")  # the others' items move up one
    assert project.pdg("cook", "g.py").exit_code == 0
    project.write("g.py", RENAMED_GRAPH.replace('"upper"', '"shout"'))
    assert project.pdg("cook", "g.py").exit_code == 0  # cook 3 removes upper's items
    with EventLog.open(str(project.db)) as log:
        kinds = [e.kind for e in log.events(0, subject=first)]
        assert kinds.count("WorkItemRenumbered") == 1 and kinds[-1] == "WorkItemRemoved", kinds
        gone = find_removed(log, TableState(log), first)
    assert (gone.item_id, gone.name, gone.node, gone.cook_id) == (first, "upper_2", "upper", 3)
