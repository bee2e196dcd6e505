"""Cook history (issue 7): time travel (--at), diff, history filters and per-cook detail, replay
into handlers, compaction, stats and export, on a real store made by real cooks."""

from __future__ import annotations

import copy
import csv
import json
import os
import shutil
import time
from collections import Counter

import pytest
from conftest import WIDE_GRAPH, Project, scans_of_events

from pdgstore import compact as compaction
from pdgstore.log import EventLog
from pdgstore.state import first_difference

HANDLER = """
import json, os

def record(event):
    with open(os.environ["SEEN_FILE"], "a") as f:
        f.write(json.dumps([event.type, event.node, event.work_item_id, event.last_state, event.current_state,
                            event.message, event.seq, event.cook_id]) + "\\n")

def broken(event):
    if event.type == "cook_complete":
        raise RuntimeError("no")
"""

GRAPH_WITH_HANDLER = (
    WIDE_GRAPH
    + """
import json

def live(event):
    with open("live.jsonl", "a") as f:
        f.write(json.dumps([event.type, event.node, event.work_item_id, event.last_state, event.current_state,
                            event.message, event.seq, event.cook_id]) + "\\n")

graph.on("*", live)
"""
)


def _json(result):
    assert result.exit_code == 0, result.output
    return json.loads(result.output)


@pytest.fixture(scope="module")
def cooked_once(tmp_path_factory):
    """Three cooks of the wide graph, made once for the module: cold; one input changed; one input
    removed and one added. Returns the project's folder and the live state after each cook."""
    wide = Project(tmp_path_factory.mktemp("cooked"))
    wide.write("wide.py", WIDE_GRAPH)
    wide.inputs(20)
    states = {}
    assert wide.pdg("cook", "wide.py").exit_code == 0
    states[1] = _live(wide)
    wide.write("in/f0003.txt", "changed\n")
    assert wide.pdg("cook", "wide.py").exit_code == 0
    states[2] = _live(wide)
    os.remove(wide.root / "in/f0005.txt")
    wide.write("in/f9999.txt", "new\n")
    assert wide.pdg("cook", "wide.py").exit_code == 0
    states[3] = _live(wide)
    return wide.root, states


@pytest.fixture
def cooked(cooked_once, tmp_path):
    """The three cooks' project, copied into the test's own folder (tests compact it, export from it):
    the store's paths are relative to the project, and ``copy2`` keeps every file's mtime to the
    nanosecond, so the copy is the cooked project as it was, not a stale one."""
    root, states = cooked_once
    shutil.copytree(root, tmp_path, dirs_exist_ok=True)
    project = Project(tmp_path)
    project.states = copy.deepcopy(states)
    return project


def _live(project) -> dict:
    with EventLog.open(str(project.db)) as log:
        return log.load_state().to_plain()


def _same_but_seq(a: dict, b: dict) -> bool:
    """Equal states, but for the log position (compaction appends its own event)."""
    return first_difference({**a, "seq": 0}, {**b, "seq": 0}) is None


def test_at_each_cook_end_equals_the_state_recorded_then(cooked):
    with EventLog.open(str(cooked.db)) as log:
        for cook_id, live in cooked.states.items():
            seq = log.conn.execute("SELECT max(seq) FROM events WHERE cook_id = ?", (cook_id,)).fetchone()[0]
            assert first_difference(log.state_at(seq).to_plain(), live) is None
    at1 = _json(cooked.pdg("items", "upper", "--at", "cook:1", "--json"))
    assert at1["at"]["cook_id"] == 1 and len(at1["items"]) == 20
    now = _json(cooked.pdg("items", "upper", "--json"))
    assert {i["name"] for i in now["items"]} == {i["name"] for i in at1["items"]}  # renumbered, same count
    assert {i["item_id"] for i in now["items"]} != {i["item_id"] for i in at1["items"]}
    assert _json(cooked.pdg("status", "--at", "cook~2", "--json"))["at"]["cook_id"] == 1
    assert _json(cooked.pdg("status", "--at", "last", "--json"))["at"]["cook_id"] == 3
    assert _json(cooked.pdg("status", "--at", "0", "--json"))["nodes"] == []
    shown = _json(cooked.pdg("show", "upper_4", "--at", "cook:1", "--json"))["item"]
    assert shown["cook_id"] == 1 and all(h["cook_id"] == 1 for h in shown["history"])


def test_refs_by_time_and_bad_refs(cooked):
    after = _json(
        cooked.pdg("status", "--at", time.strftime("%Y-%m-%dT%H:%M:%S", time.localtime(time.time() + 60)), "--json")
    )
    with EventLog.open(str(cooked.db)) as log:
        assert after["at"]["seq"] == log.last_seq()
    assert _json(cooked.pdg("status", "--at", "0", "--json"))["at"]["seq"] == 0  # seq 0: before the first event
    for ref, words in (
        ("1h", "held nothing yet at"),  # a time before the first event (tests/test_before_first_event.py)
        ("bogus", "cannot read 'bogus'"),
        ("999999", "past the end"),
        ("cook:42", "has no cook 42"),
        ("cook~9", "does not hold 10 cooks"),
    ):
        result = cooked.pdg_process("status", "--at", ref)
        assert result.returncode == 2, result.stderr
        assert words in result.stderr and "Traceback" not in result.stderr


def test_diff_names_added_removed_and_rerun_items_with_reasons(cooked):
    d = _json(cooked.pdg("diff", "cook:1", "cook:2", "--json"))
    assert d["counts"]["added"] == d["counts"]["removed"] == 0
    rerun = {r["name"]: r for r in d["items"] if r["change"] == "rerun"}
    assert set(rerun) == {"upper_4", "concat_1"}
    # made again without work: the file pattern's item of the changed file, the gather merged again
    assert [r["name"] for r in d["items"] if r["change"] == "updated"] == ["files_4", "gather_1"]
    assert "its members changed" in next(r["why"] for r in d["items"] if r["name"] == "gather_1")
    assert "in/f0003.txt changed" in rerun["upper_4"]["why"]
    assert [o["path"] for o in rerun["upper_4"]["outputs"]] == ["out1/f0003.txt"]
    d = _json(cooked.pdg("diff", "cook:2", "cook:3", "--json"))
    added = {(r["node"], r["name"]) for r in d["items"] if r["change"] == "added"}
    removed = {(r["node"], r["name"]) for r in d["items"] if r["change"] == "removed"}
    assert ("files", "files_20") in added and ("upper", "upper_20") in added
    assert ("files", "files_6") in removed and ("upper", "upper_6") in removed
    table = cooked.pdg("diff", "cook:1", "cook:2")
    assert "rerun" in table.output and "upper_4" in table.output


def test_history_filters_and_one_cooks_detail(cooked):
    assert [c["cook_id"] for c in _json(cooked.pdg("history", "--json"))["cooks"]] == [1, 2, 3]
    assert [c["cook_id"] for c in _json(cooked.pdg("history", "--since", "cook:2", "--json"))["cooks"]] == [2, 3]
    assert [c["cook_id"] for c in _json(cooked.pdg("history", "--item", "upper_4", "--json"))["cooks"]] == [1, 2]
    assert [c["cook_id"] for c in _json(cooked.pdg("history", "--node", "concat", "--json"))["cooks"]] == [1, 2, 3]
    assert _json(cooked.pdg("history", "--status", "failed", "--json"))["cooks"] == []
    detail = _json(cooked.pdg("history", "2", "--json"))["cook"]
    nodes = {r["node"]: r for r in detail["nodes"]}
    assert nodes["upper"]["ran"] == 1 and nodes["upper"]["reused"] == 19
    assert nodes["files"]["updated"] == 1 and nodes["concat"]["ran"] == 1
    assert sorted(detail["ran"]) == ["concat_1", "upper_4"]
    assert {s["name"] for s in detail["slowest"]} == {"concat_1", "upper_4"}
    assert "slowest items" in cooked.pdg("history", "1").output
    unknown = cooked.pdg_process("history", "--node", "nope")
    assert unknown.returncode == 2 and "no node nope" in unknown.stderr


def test_history_detail_lists_failures(project):
    project.write(
        "bad.py",
        """
        from pdgstore.engine import Graph
        graph = Graph("bad")
        nums = graph.range_generate("nums", 3)

        @graph.python_processor("div", upstream=nums)
        def div(item):
            item.set_attrib("x", 1 / item.index)
    """,
    )
    assert project.pdg("cook", "bad.py").exit_code == 1
    detail = _json(project.pdg("history", "1", "--json"))["cook"]
    assert [(f["name"], f["node"]) for f in detail["failures"]] == [("div_1", "div")]
    assert "ZeroDivisionError" in detail["failures"][0]["error"]
    assert [c["cook_id"] for c in _json(project.pdg("history", "--status", "failed", "--json"))["cooks"]] == [1]


MIXED_FATES = """
import os
from pdgstore.engine import Graph
graph = Graph("mixed")
graph.scheduler("local", slots=2, max_retries=1, default=True)
nums = graph.range_generate("nums", 4)
graph.python_processor("div", upstream=nums, func=lambda item: item.set_attrib("x", 1 / item.index))
# fails its first attempt, then succeeds: a retry within the cook
graph.command("flaky", nums, ["sh", "-c", 'mkdir "tried_$PDG_ITEM_NAME" 2>/dev/null && exit 3 || true'])

@graph.python_processor("many", upstream=graph.range_generate("one", 1))
def many(item):  # 300 outputs: its cook event's payload is long, read from the store a piece at a time
    os.makedirs("many", exist_ok=True)
    for i in range(300):
        with open("many/%03d.txt" % i, "w") as f:
            f.write(str(i))
        item.add_output_file("many/%03d.txt" % i)

@graph.python_processor("kept", upstream=nums, cache_mode="automatic", expected_outputs=["out/@pdg_index.txt"])
def kept(item):
    os.makedirs("out", exist_ok=True)
    with open("out/%d.txt" % item.index, "w") as f:
        f.write("made")
    item.add_output_file("out/%d.txt" % item.index)
"""


def _detail_by_decoded_events(log, cook_id: int) -> dict:
    """What ``history.cook_detail`` answers, the plain way: every event of the cook decoded (a
    batch expanded into its items' events) and every item it touched read whole at the cook's end."""
    from collections import Counter, defaultdict

    from pdgstore.history import ITEM_KINDS, SLOWEST, _node_of_removed
    from pdgstore.naturalorder import natural_key
    from pdgstore.readmodel import TableState
    from pdgstore.timetravel import state_at_seq

    cook = TableState(log).cooks[cook_id]
    span = log.cook_span(cook_id)
    end = state_at_seq(log, span[1])
    fate, ran, nodes, visited = {}, {}, {}, set()
    for event in log.events(span[0] - 1, until=span[1], cook_id=cook_id):
        kind, item_id = event.kind, getattr(event, "item_id", None)
        if kind == "NodeGenerated":
            visited.add(event.node)
        if kind not in ITEM_KINDS:
            continue
        if kind == "WorkItemGenerated":
            nodes[item_id] = event.node
            fate[item_id] = "updated" if event.state == "cooked_success" else "pending"
        elif kind == "JobStarted" or (kind == "WorkItemStateChanged" and event.state == "cooking"):
            fate[item_id] = "ran"
        elif kind == "WorkItemStateChanged" and event.state == "cooked_cancel":
            fate[item_id] = "cancelled"
        elif kind == "WorkItemCooked":
            if fate.get(item_id) == "ran":
                ran[item_id] = (event.duration_ns, event.error)
            if event.state in ("cooked_cache", "cooked_fail"):
                fate[item_id] = {"cooked_cache": "cached", "cooked_fail": "failed"}[event.state]
            elif fate.get(item_id) != "ran":
                fate[item_id] = "reused" if event.reason.get("accepted") else "updated"
        elif kind == "WorkItemRemoved":
            fate[item_id] = "removed"
        elif kind in ("WorkItemRenumbered", "WorkItemRestatted"):
            fate.setdefault(item_id, "reused")
        else:
            fate.setdefault(item_id, "pending")
    at_end = end.items_many(list(fate))
    per_node: dict = defaultdict(Counter)
    changed = Counter(item.node for item in at_end.values() if fate[item.item_id] != "reused")
    for item_id, what in fate.items():
        node = at_end[item_id].node if item_id in at_end else nodes.get(item_id) or _node_of_removed(log, item_id)
        per_node[node][what] += 1
    for graph, node in end.node_keys():
        if graph == cook.graph:
            total = sum(end.node_counts(graph, node).values())
            per_node[node]["total"] = total
            if node in visited:
                per_node[node]["reused"] = total - changed[node]
    keys = ("total", "ran", "cached", "failed", "cancelled", "updated", "removed", "reused")
    name = {i: at_end[i].name if i in at_end else i for i in fate}
    slowest = sorted(ran.items(), key=lambda kv: -kv[1][0])[:SLOWEST]
    return {
        "nodes": {node: {k: counts[k] for k in keys} for node, counts in per_node.items()},
        "ran": sorted((name[i] for i, f in fate.items() if f == "ran"), key=natural_key),
        "failures": [(i, name[i], "failed") for i, f in fate.items() if f == "failed"],
        "slowest": [(i, name[i], round(d / 1e9, 6)) for i, (d, _) in slowest],
    }


def test_a_cooks_detail_read_from_its_rows_is_the_fold_of_its_decoded_events(cooked, tmp_path_factory):
    """``pdg history COOK`` reads the cook's event rows and decodes only what decides each item's
    fate (a cook of 100,000 items took 3.7 s and 507 MB decoding every event and item, 1.7 s and
    121 MB so). Its answer must be the plain fold's: for ran, reused, updated, added and removed
    items (the three cooks of the wide graph), and for failed, retried and cached ones."""
    from pdgstore import codec, history
    from pdgstore.readmodel import TableState

    project = Project(tmp_path_factory.mktemp("mixed"))
    project.write("mixed.py", MIXED_FATES)
    os.makedirs(project.root / "out")
    for i in (1, 2):  # two of the cached node's outputs exist already: cache hits
        (project.root / "out" / f"{i}.txt").write_text("made")
    assert project.pdg("cook", "mixed.py").exit_code == 1  # div_1 divides by zero
    checked = set()
    for store, cooks in ((cooked.db, (1, 2, 3)), (project.db, (1,))):
        with EventLog.open(str(store)) as log:
            for cook_id in cooks:
                detail = history.cook_detail(log, cook_id, TableState(log))
                plain = _detail_by_decoded_events(log, cook_id)
                assert {r.pop("node"): r for r in copy.deepcopy(detail["nodes"])} == plain["nodes"]
                summary = TableState(log).cooks[cook_id].counts  # each column adds up to the cook's count
                assert {k: sum(r[k] for r in detail["nodes"]) for k in summary} == summary
                assert detail["ran"] == plain["ran"]
                assert [(f["item_id"], f["name"], "failed") for f in detail["failures"]] == plain["failures"]
                assert [(s["item_id"], s["name"], s["seconds"]) for s in detail["slowest"]] == plain["slowest"]
                assert history.cook_detail(log, cook_id, TableState(log), ran_names=False)["ran"] is None
                checked |= {k for row in detail["nodes"] for k, v in row.items() if v and k != "node"}
    assert checked >= {"ran", "cached", "failed", "updated", "removed", "reused"}  # every fate but cancelled met
    with EventLog.open(str(project.db)) as log:  # the long payload was there to be read lazily
        sizes = log.conn.execute("SELECT max(length(payload)) FROM events WHERE kind = 'WorkItemCooked'").fetchone()
    assert sizes[0] >= codec.LAZY_FROM
    flaky = {r["node"]: r for r in _json(project.pdg("history", "1", "--json"))["cook"]["nodes"]}["flaky"]
    assert flaky["ran"] == 4 and flaky["failed"] == 0  # each failed once, then ran on its retry


def test_history_detail_lists_the_cooks_warnings(project):
    """``pdg history COOK`` shows the cook's CookWarning events (what ``pdg events --kind
    CookWarning`` lists): all of them in ``--json``, the first few in the text with a count of the rest."""
    project.write(
        "warns.py",
        """
        from pdgstore.engine import Graph
        graph = Graph("warns")
        nums = graph.range_generate("nums", 25)
        graph.python_processor("work", upstream=nums, func=lambda item: None)

        def noisy(event):
            if event.type == "work_item_state_change" and event.node == "work" and event.current_state == "cooked_success":
                raise RuntimeError("no luck with " + event.work_item_id)

        graph.on("work_item_state_change", noisy)
    """,
    )
    assert project.pdg("cook", "warns.py").exit_code == 0
    logged = [
        json.loads(line)
        for line in project.pdg("events", "--cook", "1", "--kind", "CookWarning", "--json").output.splitlines()
    ]
    assert len(logged) > 20  # more than the text shows
    detail = _json(project.pdg("history", "1", "--json"))["cook"]
    assert [(w["seq"], w["message"]) for w in detail["warnings"]] == [
        (e["seq"], e["payload"]["message"]) for e in logged
    ]
    assert all("noisy" in w["message"] and "no luck with" in w["message"] for w in detail["warnings"])
    assert all(w["time"] and w["time_ns"] > 0 for w in detail["warnings"])
    assert {"failures", "slowest", "nodes", "items"} <= set(detail)  # the old keys stay
    text = project.pdg("history", "1").output
    assert f"warnings ({len(logged)}):" in text
    assert text.count("no luck with") == 20
    assert f"and {len(logged) - 20} more" in text and "pdg events --cook 1 --kind CookWarning" in text
    assert project.pdg("cook", "warns.py").exit_code == 0  # a no-op recook: nothing to warn about
    assert _json(project.pdg("history", "2", "--json"))["cook"]["warnings"] == []
    assert "warnings" not in project.pdg("history", "2").output


def test_replay_feeds_a_handler_what_it_saw_live(wide, tmp_path):
    wide.write("live_graph.py", GRAPH_WITH_HANDLER)
    wide.write("handlers.py", HANDLER)
    assert wide.pdg("cook", "live_graph.py").exit_code == 0
    wide.write("in/f0001.txt", "changed\n")
    assert wide.pdg("cook", "live_graph.py").exit_code == 0
    live = (wide.root / "live.jsonl").read_text().splitlines()
    seen = tmp_path / "seen.jsonl"
    os.environ["SEEN_FILE"] = str(seen)  # the subprocesses' environment is built from ours
    result = wide.pdg_process("replay", "--handler", "handlers:record")
    assert result.returncode == 0, result.stderr
    assert seen.read_text().splitlines() == live
    seen.unlink()
    result = wide.pdg_process(
        "replay", "--cook", "2", "--handler", "handlers.py:record", "--type", "work_item_state_change", "--json"
    )
    assert result.returncode == 0, result.stderr
    wanted = [line for line in live if json.loads(line)[7] == 2 and json.loads(line)[0] == "work_item_state_change"]
    assert seen.read_text().splitlines() == wanted and wanted
    assert json.loads(result.stdout)["delivered"] == len(wanted)
    # the library API streams the same events
    with EventLog.open(str(wide.db)) as log:
        assert [
            json.dumps([e.type, e.node, e.work_item_id, e.last_state, e.current_state, e.message, e.seq, e.cook_id])
            for e in log.replay()
        ] == live
    # a handler that raises is reported and the exit code says so; the store is untouched
    before = wide.db.read_bytes()
    broken = wide.pdg_process("replay", "--handler", "handlers:broken")
    assert broken.returncode == 1 and "RuntimeError: no" in broken.stderr
    assert wide.db.read_bytes() == before
    for spec, words in (
        ("handlers:nope", "has no function nope"),
        ("missing_mod:f", "no module missing_mod"),
        ("nocolon", "must be module:function"),
    ):
        bad = wide.pdg_process("replay", "--handler", spec)
        assert bad.returncode == 2 and words in bad.stderr and "Traceback" not in bad.stderr
    # a handler that prints: on stdout as it wrote it, or on stderr when stdout carries --json
    wide.write("talk.py", "def say(event):\n    print('heard', event.type)\n")
    said = wide.pdg_process("replay", "--cook", "2", "--handler", "talk.py:say")
    assert said.returncode == 0 and said.stdout.splitlines()[0] == "heard cook_start", said.stderr
    quiet = wide.pdg_process("replay", "--cook", "2", "--handler", "talk.py:say", "--json")
    assert quiet.returncode == 0 and json.loads(quiet.stdout)["delivered"] == len(said.stdout.splitlines())
    assert quiet.stderr.splitlines()[: len(said.stdout.splitlines())] == said.stdout.splitlines()


def test_compaction_keeps_the_current_state_and_the_kept_cooks(cooked):
    wide = cooked
    assert wide.pdg("cook", "wide.py").exit_code == 0  # cook 4: a no-op
    before = _live(wide)
    dry = _json(wide.pdg("compact", "--keep-cooks", "2", "--dry-run", "--json"))
    assert dry["result"] is None and dry["plan"]["cooks_folded"] == 2 and dry["plan"]["events"] > 0
    with EventLog.open(str(wide.db)) as log:
        assert log.base_seq() == 0  # the dry run changed nothing
        cook3_end = log.conn.execute("SELECT max(seq) FROM events WHERE cook_id = 3").fetchone()[0]
        at3 = log.state_at(cook3_end).to_plain()
    done = _json(wide.pdg("compact", "--keep-cooks", "2", "--json"))
    assert done["result"]["events_removed"] == dry["plan"]["events"]
    assert done["result"]["bytes_after"] <= done["result"]["bytes_before"]
    assert _same_but_seq(_live(wide), before)
    check = wide.pdg_process("check", "--json")
    assert check.returncode == 0 and json.loads(check.stdout)["ok"], check.stdout
    with EventLog.open(str(wide.db)) as log:
        assert first_difference(log.state_at(cook3_end).to_plain(), at3) is None
    # what was folded is gone, with a sentence; what was kept still answers
    gone = wide.pdg_process("status", "--at", "cook:1")
    assert gone.returncode == 2 and "folded away by pdg compact" in gone.stderr
    assert _json(wide.pdg("history", "3", "--json"))["cook"]["cook_id"] == 3
    assert [c["cook_id"] for c in _json(wide.pdg("history", "--json"))["cooks"]] == [1, 2, 3, 4]
    # cooking goes on after compaction, and a recook after no change still does nothing
    wide.write("in/f0002.txt", "again\n")
    summary = json.loads(wide.pdg("cook", "wide.py", "--json").output)
    assert summary["items"]["ran"] == 2  # upper_3 and concat_1
    assert wide.pdg_process("check").returncode == 0
    stats = _json(wide.pdg("stats", "--json"))
    assert stats["base_seq"] == done["plan"]["cut"]
    assert any(k["kind"] == "LogCompacted" for k in stats["kinds"])


def test_compact_before_a_ref_and_nothing_to_do(cooked):
    assert _json(cooked.pdg("compact", "--keep-cooks", "5", "--json"))["plan"]["events"] == 0
    done = _json(cooked.pdg("compact", "--before", "cook:2", "--json"))
    with EventLog.open(str(cooked.db)) as log:
        assert log.base_seq() == done["plan"]["cut"]
        assert _same_but_seq(log.load_state().to_plain(), cooked.states[3])
        assert _same_but_seq(log.replay_all().to_plain(), cooked.states[3])
    again = _json(cooked.pdg("compact", "--before", str(done["plan"]["cut"]), "--json"))
    assert again["plan"]["events"] == 0 and again["result"]["events_removed"] == 0
    gone = cooked.pdg_process("compact", "--before", "cook:2")
    assert gone.returncode == 2 and "folded away" in gone.stderr


def test_automatic_compaction_rule():
    class Log:
        def __init__(self, last, base):
            self._last, self._base = last, base

        def last_seq(self):
            return self._last

        def base_seq(self):
            return self._base

    assert not compaction.should_compact(Log(100_000, 0), 1_000)  # small log
    assert not compaction.should_compact(Log(300_000, 0), 100_000)  # under 4x the live records
    assert compaction.should_compact(Log(300_000, 0), 10_000)
    assert not compaction.should_compact(Log(300_000, 200_000), 10_000)  # already compacted


def test_stats_events_stream_and_export(cooked, tmp_path):
    stats = _json(cooked.pdg("stats", "--json"))
    with EventLog.open(str(cooked.db)) as log:
        last = log.last_seq()
    assert stats["events"] == last and stats["cooks"] == 3
    assert sum(k["events"] for k in stats["kinds"]) == last
    assert stats["snapshots"] == []  # the first cook writes none, and the next two made few events
    assert stats["check_reads"]["events"] == last and stats["time_travel"]["replay_at_most"] == last
    lines = cooked.pdg("events", "--json").output.splitlines()
    assert len(lines) == last and json.loads(lines[0])["seq"] == 1 and json.loads(lines[-1])["kind"] == "CookFinished"
    out = tmp_path / "events.csv"
    assert cooked.pdg("export", "--format", "csv", "-o", str(out)).exit_code == 0
    rows = list(csv.DictReader(out.open()))
    assert len(rows) == last and json.loads(rows[0]["payload"])["path"] == "../wide.py"
    items = tmp_path / "items.jsonl"
    assert cooked.pdg("export", "--format", "jsonl", "--what", "items", "-o", str(items)).exit_code == 0
    exported = [json.loads(line) for line in items.read_text().splitlines()]
    assert len(exported) == 20 + 20 + 1 + 1 and {"attrs", "outputs", "state"} <= set(exported[0])
    bad = cooked.pdg_process("export", "--format", "csv", "-o", str(tmp_path / "nope" / "x.csv"))
    assert bad.returncode == 2 and "does not exist; nothing was written" in bad.stderr  # a usage mistake
    assert not list(tmp_path.glob(".pdg-export-*"))


def test_old_snapshots_are_thinned_not_all_dropped(tmp_path, monkeypatch):
    from pdgstore import snapshots
    from pdgstore.state import State

    monkeypatch.setattr(snapshots, "SNAPSHOT_SPACING", 100)
    with EventLog.open(str(tmp_path / "s.db"), writer=True, create=True) as log:
        for seq in range(20, 1001, 20):
            state = State()
            state.seq = seq
            log.save_snapshot(state)
        seqs = [r[0] for r in log.conn.execute("SELECT seq FROM snapshots ORDER BY seq")]
    assert seqs[-2:] == [980, 1000]
    assert all(b - a >= 100 for a, b in zip(seqs[:-2], seqs[1:-2]))
    assert len(seqs) <= 12 and seqs[0] == 20


def test_cook_auto_compact_folds_history_when_the_rule_says_so(wide, monkeypatch):
    monkeypatch.setattr(compaction, "AUTO_MIN_EVENTS", 100)
    monkeypatch.setattr(compaction, "AUTO_KEEP_COOKS", 1)
    monkeypatch.setattr(compaction, "AUTO_RATIO", 2)  # three cooks of 42 items: ~170 events
    first = json.loads(wide.pdg("cook", "wide.py", "--auto-compact", "--json").output)
    assert first["compacted"] is None  # one cook: nothing before the kept one
    wide.write("in/f0001.txt", "changed\n")
    assert json.loads(wide.pdg("cook", "wide.py", "--json").output)["compacted"] is None  # not asked
    wide.write("in/f0002.txt", "changed\n")
    third = json.loads(wide.pdg("cook", "wide.py", "--json", env={"PDG_AUTO_COMPACT": "1"}).output)
    assert third["compacted"]["events_removed"] > 0
    with EventLog.open(str(wide.db)) as log:
        assert log.conn.execute("SELECT min(cook_id) FROM events WHERE cook_id > 0").fetchone()[0] == 3
    assert wide.pdg_process("check").returncode == 0


def test_show_at_a_point_before_the_item_existed(cooked):
    files = _json(cooked.pdg("items", "files", "--json"))["items"]
    [new] = [i["item_id"] for i in files if i["outputs"][0]["path"] == "in/f9999.txt"]
    result = cooked.pdg_process("show", new, "--at", "cook:1")
    assert result.returncode == 2 and "at cook:1 (seq" in result.stderr and "Traceback" not in result.stderr


def test_many_small_cooks_add_up_to_a_snapshot(wide, monkeypatch):
    """A snapshot follows SNAPSHOT_EVERY events since the newest one, however many cooks wrote them."""
    from pdgstore.engine.cook import loop as cook_module

    assert wide.pdg("cook", "wide.py").exit_code == 0
    monkeypatch.setattr(cook_module, "SNAPSHOT_EVERY", 60)
    with EventLog.open(str(wide.db)) as log:
        first = log.snapshot_seq()
    for i in range(4):  # each change cook writes ~20 events
        wide.write("in/f0001.txt", f"change {i}\n")
        assert wide.pdg("cook", "wide.py").exit_code == 0
    with EventLog.open(str(wide.db)) as log:
        assert log.snapshot_seq() > first
        assert log.last_seq() - log.snapshot_seq() < 60


def test_a_cancelled_cook_leaves_its_snapshot_to_the_next(wide, monkeypatch):
    """A cook cancelled writes no snapshot at its end (the user waits for it to end); ``--at`` its
    end still answers, and the next cook writes the snapshot that is due."""
    from pdgstore.engine.cook import loop as cook_module

    monkeypatch.setattr(cook_module, "SNAPSHOT_EVERY", 10)
    plain = (wide.root / "wide.py").read_text()
    stopping = plain + (
        "\n\ndef _stop(event):\n"
        "    if event.node == 'upper' and event.current_state == 'cooked_success':\n"
        "        event.cook.cancel('enough')\n\n\n"
        "graph.on('work_item_state_change', _stop)\n"
    )
    wide.write("wide.py", stopping)
    assert wide.pdg("cook", "wide.py").exit_code != 0
    with EventLog.open(str(wide.db)) as log:
        assert log.snapshot_seq() == 0  # none
        cancelled_end = log.last_seq()
        at_end = log.state_at(cancelled_end)
    assert at_end.cooks[1].status == "cancelled"
    wide.write("wide.py", plain)
    assert wide.pdg("cook", "wide.py").exit_code == 0
    with EventLog.open(str(wide.db)) as log:
        assert log.snapshot_seq() > cancelled_end
    before = _json(wide.pdg("status", "--at", "cook~1", "--json"))
    assert before["at"]["seq"] == cancelled_end
    counts = {(n["node"], s): c for n in before["nodes"] for s, c in n["states"].items()}
    assert counts == Counter((i.node, i.state) for i in at_end.items.values())


def test_history_node_filter_finds_cooks_of_items_since_removed(cooked):
    """Cook 3 removed files_6 (and upper_6); cook 2 touched only upper_4's chain: --node files lists
    the cooks that generated, changed or removed its items, including the removed one's."""
    with EventLog.open(str(cooked.db)) as log:
        from pdgstore import history

        removed, scans = scans_of_events(log.conn, lambda: history.removed_items_of(log, "files"))
    assert len(removed) == 1
    assert not scans, scans  # the removing cooks' rows, through the cook index
    cooks = [c["cook_id"] for c in _json(cooked.pdg("history", "--node", "files", "--json"))["cooks"]]
    assert cooks == [1, 2, 3]


def test_the_node_filter_finds_what_the_events_of_every_item_of_the_node_find(cooked):
    """``history --node`` asks the node's batches, then each other cook through its events; its
    answer is the one every item's events give (the items the node has, and those it had)."""
    from pdgstore import history
    from pdgstore.readmodel import TableState

    cooked.write("in/f0007.txt", "changed again\n")
    assert cooked.pdg("cook", "wide.py", "upper").exit_code == 0  # a cook of upstream nodes only
    with EventLog.open(str(cooked.db)) as log:
        state = TableState(log)
        for node in ("files", "upper", "gather", "concat"):
            ids = [i for g, n in state.node_keys() if n == node for i in state.item_ids_of(g, n)]
            by_items = history.cooks_touching(log, [*ids, *history.removed_items_of(log, node)])
            assert history.cooks_touching_node(log, node) == by_items, node
        assert history.cooks_touching_node(log, "concat") == {1, 2, 3}  # cook 4 did not reach it
        assert history.cooks_touching_node(log, "upper") == {1, 2, 3, 4}


def test_compaction_packs_the_state_at_its_cut_from_scratch_tables_byte_for_byte(cooked):
    """``pdg compact`` builds the state at its cut in scratch tables (the snapshot before it written
    a chunk at a time, the events folded in batches) and packs it from them: W(100,000) held 574 MB
    with the state made whole. The snapshot is the one the whole state packs to, byte for byte, at
    every point: before any compaction and after one (from its base)."""
    from pdgstore import compact as compaction_module
    from pdgstore.snapshots import pack_snapshot

    def same_at_every_point(step: int) -> int:
        with EventLog.open(str(cooked.db)) as log:
            points = range(log.base_seq() + 1, log.last_seq() + 1, step)
            for cut in points:
                assert bytes(compaction_module.state_at_packed(log, cut)) == bytes(pack_snapshot(log.state_at(cut))), (
                    cut
                )
            return len(points)

    assert same_at_every_point(3) > 50
    assert cooked.pdg("compact", "--keep-cooks", "1").exit_code == 0
    cooked.write("in/f0002.txt", "changed after the compaction\n")
    assert cooked.pdg("cook", "wide.py").exit_code == 0
    assert same_at_every_point(1) > 20
    check = cooked.pdg_process("check", "--json")
    assert check.returncode == 0 and json.loads(check.stdout)["ok"], check.stdout


def test_a_cooks_snapshot_follows_the_count_of_events_not_their_weight(wide):
    """Events carrying big lists (a partition's 20 outputs, the concat's 20 inputs) add up to more
    bytes than the snapshot long before 20,000 events. That no longer calls for a snapshot at the
    end of a cook: the next cook reads its state from the tables, not from the snapshot and the
    events after it (``EventLog.current_state``); ``snapshot_due`` still weighs for other callers."""
    assert wide.pdg("cook", "wide.py").exit_code == 0
    with EventLog.open(str(wide.db)) as log:
        first = log.snapshot_seq()
    for i in range(12):
        wide.write("in/f0001.txt", f"change {i}\n")
        assert wide.pdg("cook", "wide.py").exit_code == 0
    with EventLog.open(str(wide.db)) as log:
        assert log.snapshot_seq() == first
        assert log.snapshot_due(20_000)  # by weight: the events after it outweigh it
        assert not log.snapshot_due(20_000, weigh=False)
        assert first_difference(log.current_state().to_plain(), log.load_state().to_plain()) is None


def test_the_nodes_a_cook_recorded_are_those_its_events_name(cooked, tmp_path):
    """Each cook's end records the nodes whose items it touched (``CookFinished.nodes``), so
    ``history --node`` asks no cook's events; the answer is the one its events give, which a store
    whose cooks recorded no nodes (before v3) still computes."""
    import shutil
    import sqlite3

    from pdgstore import history, tables

    cooked.write("in/f0007.txt", "changed again\n")
    assert cooked.pdg("cook", "wide.py", "upper").exit_code == 0
    assert cooked.pdg("cook", "wide.py").exit_code == 0  # the rest of the graph
    assert cooked.pdg("cook", "wide.py").exit_code == 0  # and a no-op
    old = tmp_path / "old.db"
    shutil.copy(cooked.db, old)
    with sqlite3.connect(old) as conn:  # the same store, as if its cooks had recorded nothing
        for cook_id, body in conn.execute("SELECT cook_id, body FROM cooks").fetchall():
            cook = tables.cook_from_body(body)
            assert cook.nodes is not None, cook_id
            cook.nodes = None
            conn.execute("UPDATE cooks SET body = ? WHERE cook_id = ?", (tables.cook_body(cook), cook_id))
    with EventLog.open(str(cooked.db)) as log, EventLog.open(str(old)) as scanned:
        assert log.load_state().cooks == log.cook_state().cooks  # replay gives the recorded nodes
        assert log.cook_state().cooks[5].nodes == ["concat", "gather"]
        assert log.cook_state().cooks[6].nodes == []  # the no-op touched no item
        for node in ("files", "upper", "gather", "concat", "nothing"):
            assert history.cooks_touching_node(log, node) == history.cooks_touching_node(scanned, node), node
