"""Incremental recooks on a real graph in a temporary directory: exactly which items run again.

Every processor appends "node:input-stem" to ``ran.log`` when its work executes, so each scenario
asserts both what the items themselves saw and what the store recorded (the ``--json`` counts,
``pdg explain``). The graph::

    src (in/*.txt) ──> upper (reads parameter `suffix`) ──> gather (wait for all) ──> concat
                  └──> count
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from pdgstore.log import EventLog

RECOOK_GRAPH = '''
import os
from pdgstore.engine import Graph

graph = Graph("recook")
suffix = graph.parm("suffix", "")

def note(item, what):
    with open("ran.log", "a") as f:
        f.write(what + "\\n")

src = graph.file_pattern("src", "in/*.txt")

@graph.python_processor("upper", upstream=src)
def upper(item):
    note(item, "upper:" + item.input_path.stem)
    os.makedirs("out1", exist_ok=True)
    dst = os.path.join("out1", item.input_path.name)
    with open(dst, "w") as f:
        f.write(item.input_path.read_text().upper() + suffix)
    item.add_output_file(dst)

@graph.python_processor("count", upstream=src)
def count(item):
    note(item, "count:" + item.input_path.stem)
    os.makedirs("counts", exist_ok=True)
    dst = os.path.join("counts", item.input_path.stem + ".n")
    with open(dst, "w") as f:
        f.write(str(len(item.input_path.read_text())))
    item.add_output_file(dst)

gather = graph.wait_for_all("gather", upper)

@graph.python_processor("concat", upstream=gather)
def concat(item):
    note(item, "concat")
    os.makedirs("out2", exist_ok=True)
    with open("out2/all.txt", "w") as out:
        for f in sorted(item.input_files, key=lambda f: f.relpath):
            out.write(f.path.read_text())
    item.add_output_file("out2/all.txt")
'''


class Recook:
    """The recook graph in a project, with a way to cook and see what ran."""

    def __init__(self, project) -> None:
        self.p = project
        project.write("recook.py", RECOOK_GRAPH)
        for stem in "abc":
            project.write(f"in/{stem}.txt", f"text of {stem}\n")

    def cook(self, *args: str) -> tuple[set[str], dict]:
        log = self.p.root / "ran.log"
        if log.exists():
            log.unlink()
        result = self.p.pdg("cook", "recook.py", "--json", *args)
        assert result.exit_code == 0, result.output
        summary = json.loads(result.stdout)
        ran = set(log.read_text().split()) if log.exists() else set()
        # the store agrees with the items: `ran` counts exactly the work that executed
        assert summary["items"]["ran"] == len(ran), (summary, ran)
        return ran, summary

    def explain(self, ref: str) -> str:
        result = self.p.pdg("explain", ref)
        assert result.exit_code == 0, result.output
        return result.stdout.strip()

    def item_name(self, node: str, stem: str) -> str:
        result = self.p.pdg("items", node, "--json")
        for row in json.loads(result.stdout)["items"]:
            if any(os.path.basename(o["path"]).startswith(stem + ".") for o in row["outputs"]):
                return row["name"]
        raise AssertionError(f"no {node} item for {stem}")


def later(path) -> None:
    """Give ``path`` a new mtime for sure (file systems with coarse timestamps included)."""
    st = os.stat(path)
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns + 2_000_000_000))


ALL = {"upper:a", "upper:b", "upper:c", "count:a", "count:b", "count:c", "concat"}


@pytest.fixture
def rc(project) -> Recook:
    r = Recook(project)
    ran, summary = r.cook()
    assert ran == ALL  # (1) the first cook runs everything
    assert summary["items"] == {"ran": 7, "cached": 0, "reused": 0, "updated": 4, "failed": 0, "cancelled": 0, "removed": 0}
    return r


def test_no_change_runs_nothing_and_records_a_cook(rc):
    ran, summary = rc.cook()
    assert ran == set()
    assert summary["items"]["ran"] == 0 and summary["items"]["updated"] == 0
    assert summary["items"]["reused"] == 11  # 3 src + 3 upper + 3 count + gather + concat
    assert summary["cook_id"] == 2
    history = json.loads(rc.p.pdg("history", "--json").stdout)
    assert [c["cook_id"] for c in history["cooks"]] == [1, 2]
    assert "was reused in cook 2: nothing it depends on changed since cook 1" in rc.explain(rc.item_name("upper", "a"))


def test_one_input_rewritten_reruns_its_chain_only(rc):
    (rc.p.root / "in/a.txt").write_text("new text of a, longer\n")
    ran, summary = rc.cook()
    assert ran == {"upper:a", "count:a", "concat"}
    assert summary["items"]["updated"] == 2  # src_a recorded again, gather merged again
    # golden: the chain back to the root cause, verbatim (hashes are xxhash of known bytes)
    golden = (Path(__file__).parent / "data/explain/one_input_changed.txt").read_text()
    assert rc.explain("concat_1") + "\n" == golden
    chain = json.loads(rc.p.pdg("explain", "concat_1", "--json").stdout)["chain"]
    assert [(s["name"], s["action"], s["cache_state"]) for s in chain] == [
        ("concat_1", "run", "dirty_stale"), ("gather_1", "update", "dirty_stale"),
        ("upper_1", "run", "dirty_stale"), ("src_1", "update", "dirty_stale")]
    assert chain[-1]["reason"]["path"] == "in/a.txt" and chain[-1]["reason"]["new_size"] == 22


def test_touch_or_same_content_reruns_nothing(rc):
    later(rc.p.root / "in/b.txt")
    ran, summary = rc.cook()
    assert ran == set() and summary["items"]["ran"] == 0
    (rc.p.root / "in/c.txt").write_text("text of c\n")  # rewritten, same bytes
    later(rc.p.root / "in/c.txt")
    ran, _ = rc.cook()
    assert ran == set()
    ran, _ = rc.cook()  # the new mtimes were recorded: the next scan reads nothing and runs nothing
    assert ran == set()


def test_deleted_intermediate_output_reruns_its_producer_and_early_cutoff_stops(rc):
    (rc.p.root / "out1/a.txt").unlink()
    ran, _ = rc.cook()
    assert ran == {"upper:a"}  # it makes the same file again: concat is not dirtied
    assert (rc.p.root / "out1/a.txt").read_text() == "TEXT OF A\n"
    assert "because its output out1/a.txt is missing" in rc.explain(rc.item_name("upper", "a"))
    assert "was reused in cook 2" in rc.explain("concat_1")


def test_modified_intermediate_or_final_output_reruns_its_producer(rc):
    (rc.p.root / "out1/b.txt").write_text("hand edited\n")
    ran, _ = rc.cook()
    assert ran == {"upper:b"}  # remade as it was recorded: concat's input is what concat used
    assert (rc.p.root / "out1/b.txt").read_text() == "TEXT OF B\n"
    assert "because its output out1/b.txt changed: size 10 -> 12" in rc.explain(rc.item_name("upper", "b"))
    (rc.p.root / "out2/all.txt").write_text("nope")
    ran, _ = rc.cook()
    assert ran == {"concat"}


def test_parameter_change_dirties_the_node_reading_it_and_downstream(rc):
    ran, _ = rc.cook("--set", "suffix=!")
    assert ran == {"upper:a", "upper:b", "upper:c", "concat"}
    assert (rc.p.root / "out2/all.txt").read_text() == "TEXT OF A\n!TEXT OF B\n!TEXT OF C\n!"
    assert "parameter suffix of upper changed: '' -> '!'" in rc.explain(rc.item_name("upper", "a"))
    ran, _ = rc.cook("--set", "suffix=!")
    assert ran == set()
    ran, _ = rc.cook()  # back to the default: a change again
    assert ran == {"upper:a", "upper:b", "upper:c", "concat"}


def test_code_change_dirties_the_node_and_downstream(rc):
    graph = rc.p.root / "recook.py"
    graph.write_text(graph.read_text().replace("str(len(item.input_path.read_text()))",
                                               "str(len(item.input_path.read_text().split()))"))
    ran, _ = rc.cook()
    assert ran == {"count:a", "count:b", "count:c"}
    assert "the code of" in rc.explain(rc.item_name("count", "a"))
    graph.write_text(graph.read_text().replace(".upper() + suffix", ".upper().strip() + suffix"))
    ran, _ = rc.cook()
    assert ran == {"upper:a", "upper:b", "upper:c", "concat"}
    # a comment or blank line outside the functions is not a change of any node's code
    graph.write_text("# a comment\n\n" + graph.read_text())
    ran, _ = rc.cook()
    assert ran == set()


def test_added_and_removed_inputs(rc):
    rc.p.write("in/d.txt", "text of d\n")
    (rc.p.root / "in/c.txt").unlink()
    ran, summary = rc.cook()
    assert ran == {"upper:d", "count:d", "concat"}
    assert (rc.p.root / "out2/all.txt").read_text() == "TEXT OF A\nTEXT OF B\nTEXT OF D\n"
    with EventLog.open(str(rc.p.db)) as log:
        removed = [e for e in log.events(0) if e.kind == "WorkItemRemoved"]
        assert len(removed) == 3  # src_c, upper_c, count_c: recorded, not forgotten
        dirtied = [e for e in log.events(0) if e.kind == "WorkItemDirtied" and e.cook_id == 2]
        members = [e.reason for e in dirtied if e.reason.get("cause") == "members"]
        assert len(members) == 1 and members[0]["added"] and members[0]["removed"]
    status = json.loads(rc.p.pdg("status", "--json").stdout)
    counts = {n["node"]: sum(n["states"].values()) for n in status["nodes"]}
    assert counts == {"src": 3, "upper": 3, "count": 3, "gather": 1, "concat": 1}


def test_reordering_nodes_and_files_keeps_identities(rc):
    before = {r["item_id"] for r in json.loads(rc.p.pdg("items", "--json").stdout)["items"]}
    graph = rc.p.root / "recook.py"
    text = graph.read_text()
    upper_block = text[text.index('@graph.python_processor("upper"'):text.index('@graph.python_processor("count"')]
    count_block = text[text.index('@graph.python_processor("count"'):text.index("gather = ")]
    graph.write_text(text.replace(upper_block + count_block, count_block + upper_block))
    ran, summary = rc.cook()
    assert ran == set() and summary["items"]["reused"] == 11
    after = {r["item_id"] for r in json.loads(rc.p.pdg("items", "--json").stdout)["items"]}
    assert after == before
    # a new file sorting first renumbers items but changes no identity of the others
    rc.p.write("in/0.txt", "zero\n")
    ran, _ = rc.cook()
    assert ran == {"upper:0", "count:0", "concat"}
    ids = {r["item_id"] for r in json.loads(rc.p.pdg("items", "--json").stdout)["items"]}
    assert before <= ids and len(ids - before) == 3  # src, upper and count items of in/0.txt


def test_dry_run_says_what_would_run_and_writes_nothing(rc):
    (rc.p.root / "in/b.txt").write_text("b is different now\n")
    (rc.p.root / "ran.log").unlink()
    before = rc.p.db.read_bytes(), (rc.p.root / ".pdg/pdg.db-wal").stat().st_size if (rc.p.root / ".pdg/pdg.db-wal").exists() else 0
    result = rc.p.pdg("cook", "recook.py", "--dry-run", "--json")
    assert result.exit_code == 0, result.output
    plan = json.loads(result.stdout)
    actions = {r["name"]: (r["action"], r["cache_state"]) for r in plan["items"]}
    upper_b, count_b = rc.item_name("upper", "b"), rc.item_name("count", "b")
    assert actions[upper_b] == ("run", "dirty_stale") and actions[count_b] == ("run", "dirty_stale")
    assert actions["gather_1"][0] == "pending" and actions["concat_1"] == ("pending", "clean_pending")
    assert plan["counts"] == {"run": 2, "update": 1, "cache": 0, "reuse": 6, "fail": 0, "remove": 0, "pending": 2}
    why = next(r["why"] for r in plan["items"] if r["name"] == upper_b)
    assert why.startswith("its input in/b.txt changed: size 10 -> 19, hash ")
    assert not (rc.p.root / "ran.log").exists()
    after = rc.p.db.read_bytes(), (rc.p.root / ".pdg/pdg.db-wal").stat().st_size if (rc.p.root / ".pdg/pdg.db-wal").exists() else 0
    assert before == after
    table = rc.p.pdg("cook", "recook.py", "--dry-run")
    assert upper_b in table.stdout and "would run 2, update 1" in table.stderr
    ran, _ = rc.cook()
    assert ran == {"upper:b", "count:b", "concat"}


def test_dirty_by_hand_reruns_and_says_so(rc):
    result = rc.p.pdg("dirty", "count", "--json")
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["count"] == 3
    ran, _ = rc.cook()
    assert ran == {"count:a", "count:b", "count:c"}  # same outputs: nothing downstream (there is none)
    assert "ran in cook 2 because it was dirtied by hand (pdg dirty)" in rc.explain(rc.item_name("count", "a"))
    upper_a = rc.item_name("upper", "a")
    result = rc.p.pdg("dirty", upper_a, "--remove-outputs")
    assert result.exit_code == 0 and "removed 1 output file" in result.stderr
    assert not (rc.p.root / "out1/a.txt").exists()
    assert (rc.p.root / "in/a.txt").exists()
    ran, _ = rc.cook()
    assert ran == {"upper:a"}  # remade identical: early cutoff keeps concat
    assert rc.p.pdg("dirty", "nosuch").exit_code == 2


def test_accept_keeps_a_harmless_change_from_rerunning(rc):
    (rc.p.root / "in/c.txt").write_text("text of c, harmless edit\n")
    src_c = rc.item_name("src", "c")
    result = rc.p.pdg("accept", src_c, "--json")
    assert result.exit_code == 0, result.output
    accepted = {i["node"] for i in json.loads(result.stdout)["items"]}
    assert accepted == {"src", "upper", "count", "gather", "concat"}  # the item and what is downstream
    ran, summary = rc.cook()
    assert ran == set() and summary["items"]["reused"] == 11
    assert "its files were accepted by hand" in rc.explain(rc.item_name("upper", "c"))
    ran, _ = rc.cook()
    assert ran == set()
    (rc.p.root / "out1/a.txt").unlink()
    result = rc.p.pdg("accept", rc.item_name("upper", "a"))
    assert result.exit_code == 1 and "out1/a.txt" in result.stderr and "missing" in result.stderr


def test_dirty_and_accept_of_many_chunks_are_one_change(rc, monkeypatch, tmp_path_factory):
    """``dirty`` and ``accept`` read and record their items a chunk at a time (a node of a million
    items never sits in memory whole), all in one transaction: a refusal met in the last chunk
    leaves nothing written, and ``--remove-outputs`` deletes nothing."""
    from pdgstore.engine.errors import MissingFiles, OutsideProject
    from pdgstore.engine.incremental import manual

    monkeypatch.setattr(manual, "CHUNK", 1)

    def last_seq() -> int:
        with EventLog.open(str(rc.p.db)) as log:
            return log.last_seq()

    before = last_seq()
    result = manual.dirty(str(rc.p.db), "count")
    assert len(result.items) == 3 and last_seq() == before + 3
    ran, _ = rc.cook()
    assert ran == {"count:a", "count:b", "count:c"}

    before = last_seq()
    (rc.p.root / "out1/c.txt").unlink()  # upper's third item: its file is gone
    with pytest.raises(MissingFiles, match="out1/c.txt"):
        manual.accept(str(rc.p.db), "src")  # src's 3 items, then all that is downstream of them
    assert last_seq() == before

    outside = tmp_path_factory.mktemp("elsewhere") / "outside.txt"
    outside.write_text("not the project's")
    (rc.p.root / "out1/c.txt").symlink_to(outside)
    with pytest.raises(OutsideProject, match="nothing was deleted or dirtied"):
        manual.dirty(str(rc.p.db), "upper", remove_outputs=True)
    assert last_seq() == before
    assert (rc.p.root / "out1/a.txt").exists() and (rc.p.root / "out1/b.txt").exists() and outside.exists()


def test_explain_errors_are_one_sentence(rc):
    result = rc.p.pdg("explain", "no_such_item")
    assert result.exit_code == 2
    assert result.stderr.startswith("pdg: no work item no_such_item in the store") and result.stderr.count("\n") == 1
    result = rc.p.pdg("accept", "nothing_here")
    assert result.exit_code == 2 and "no node or work item nothing_here" in result.stderr


JOBS_GRAPH = """
from pdgstore.engine import Graph

graph = Graph("jobs")
graph.scheduler("local", max_retries=1)
n = graph.range_generate("n", 3)
# the job of item 1 fails its first attempt (the retry succeeds); a job whose fail_<index> exists fails
graph.command("cmd", n, ["sh", "-c", "mkdir -p out; test -e tried_@pdg_index || { touch tried_@pdg_index; "
              "[ @pdg_index != 1 ] || exit 3; }; test ! -e fail_@pdg_index && echo ok > out/@pdg_index.txt"],
              expected_outputs=["out/@pdg_index.txt"])
graph.python_script("script", n, "job.py")

@graph.python_processor("inproc", upstream=n)
def inproc(item):
    pass
"""


@pytest.mark.timeout(120)
def test_explain_says_what_out_of_process_jobs_did(project, tmp_path_factory):
    """A command's and a python script's items run as jobs (a ``JobStarted``, no cooking state):
    explain says they ran, retried or not, failed, or came from the cache, as it says of an
    in-process processor's items."""
    project.write("jobs.py", JOBS_GRAPH)
    project.write("job.py", "print('the job ran')\n")
    result = project.pdg("cook", "jobs.py", "--json")
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["items"]["ran"] == 9

    def explain(ref: str) -> str:
        result = project.pdg("explain", ref)
        assert result.exit_code == 0, result.output
        return result.stdout.strip()

    assert explain("cmd_1") == "cmd_1 ran in cook 1 because it is new"
    assert "attempt 2" in project.pdg("show", "cmd_2").stdout  # its first job failed, the retry succeeded
    assert explain("cmd_2") == "cmd_2 ran in cook 1 (its job started 2 times) because it is new"
    assert explain("script_3") == "script_3 ran in cook 1 because it is new"
    assert explain("inproc_1") == "inproc_1 ran in cook 1 because it is new"
    assert explain("n_1") == "n_1 was updated in cook 1 because it is new"
    chain = json.loads(project.pdg("explain", "script_1", "--json").stdout)["chain"]
    assert [(s["action"], s["cache_state"]) for s in chain] == [("run", "dirty_new")]

    project.write("fail_2", "")
    assert project.pdg("dirty", "cmd").exit_code == 0
    assert project.pdg("cook", "jobs.py").exit_code == 1
    assert explain("cmd_1") == "cmd_1 ran in cook 2 because it was dirtied by hand (pdg dirty)"
    assert explain("cmd_3").startswith("cmd_3 failed in cook 2: work item cmd_3: its job exited with code 1")
    assert json.loads(project.pdg("explain", "cmd_3", "--json").stdout)["chain"][0]["action"] == "failed"

    cached = project.__class__(tmp_path_factory.mktemp("cached"))  # the files are there: no job runs
    cached.write("jobs.py", JOBS_GRAPH)
    cached.write("job.py", "print('the job ran')\n")
    for i in range(3):
        cached.write(f"out/{i}.txt", "ok\n")
    assert cached.pdg("cook", "jobs.py").exit_code == 0
    result = cached.pdg("explain", "cmd_2")
    assert result.stdout.startswith("cmd_2 was cooked from cache in cook 1 (cache mode automatic)"), result.output


ATTRIB_GRAPH = """
from pdgstore.engine import Graph

graph = Graph("attrib")
src = graph.file_pattern("src", "in/*.txt")

@graph.python_processor("read", upstream=src)
def read(item):
    item.set_attrib("n", len(item.input_path.read_text().split()))

@graph.python_processor("use", upstream=read)
def use(item):
    item.set_attrib("double", item["n"] * 2)
"""


@pytest.mark.timeout(120)
def test_explain_follows_a_changed_attribute_to_the_item_that_handed_it_down(project):
    """An item that ran because an attribute it was handed changed: the chain goes on to the parent
    that handed it down, and from there to the file that changed."""
    project.write("attrib.py", ATTRIB_GRAPH)
    project.write("in/a.txt", "one two\n")
    assert project.pdg("cook", "attrib.py").exit_code == 0
    project.write("in/a.txt", "one two three\n")
    assert project.pdg("cook", "attrib.py").exit_code == 0
    result = project.pdg("explain", "use_1")
    assert result.exit_code == 0, result.output
    assert result.stdout.splitlines() == [
        "use_1 ran in cook 2 because its attribute n changed: 2 -> 3",
        "  read_1 ran in cook 2 because its input in/a.txt changed: size 8 -> 14, "
        + result.stdout.split("size 8 -> 14, ")[1].splitlines()[0],
        "  src_1 was updated in cook 2 because its file in/a.txt changed: size 8 -> 14, "
        + result.stdout.split("size 8 -> 14, ")[2].splitlines()[0],
    ]
    chain = json.loads(project.pdg("explain", "use_1", "--json").stdout)["chain"]
    causes = [(s["name"], s["reason"]["cause"]) for s in chain]
    assert causes == [("use_1", "attribute"), ("read_1", "input"), ("src_1", "file")]
    assert chain[0]["reason"]["from_item"] == chain[1]["item_id"]


def test_accept_leaves_an_item_with_no_result_to_the_next_cook(project):
    """A failed item (or one that never ran) has no files to vouch for: ``pdg accept NODE`` leaves
    it as it is and says so; ``pdg accept ITEM`` of one is refused (exit 2), nothing written."""
    project.write("f.py", """
        import os
        from pdgstore.engine import Graph
        graph = Graph("f")

        @graph.python_processor("p", upstream=graph.range_generate("r", 3))
        def p(item):
            if item["value"] == 1:
                raise ValueError("no")
            os.makedirs("out", exist_ok=True)
            with open(f"out/{item.name}.txt", "w") as f:
                f.write(item.name)
            item.add_output_file(f"out/{item.name}.txt")

        graph.wait_for_all("w", "p")
    """)
    assert project.pdg("cook", "f.py").exit_code == 1
    states = {i["name"]: i["state"] for n in ("p", "w") for i in json.loads(project.pdg("items", n, "--json").stdout)["items"]}
    assert states["p_2"] == "cooked_fail" and states["w_1"] != "cooked_success"
    refused = project.pdg("accept", "p_2")
    assert refused.exit_code == 2
    assert "cannot accept p_2: it has no result to accept (it is cooked_fail); pdg cook runs it again" in refused.stderr
    done = project.pdg("accept", "p", "--json")
    assert done.exit_code == 0, done.output
    answer = json.loads(done.stdout)
    assert sorted(i["name"] for i in answer["items"]) == ["p_1", "p_3"]
    assert sorted(i["name"] for i in answer["skipped"]) == ["p_2", "w_1"]
    after = {i["name"]: i["state"] for n in ("p", "w") for i in json.loads(project.pdg("items", n, "--json").stdout)["items"]}
    assert after == states  # nothing became a success it never was
