"""The local scheduler with a working directory of its own transfers each job's input files there
first (seed 003's transfer handlers), recording cache ids; a later cook skips what is cached."""

from __future__ import annotations

import os
from pathlib import Path

import pdgstore.engine as engine
from pdgstore.engine.files.filetypes import TransferPair
from pdgstore.log import EventLog
from pdgstore.state import first_difference

COMMAND = ["sh", "-c", "mkdir -p \"$PDG_DIR/out\" && pwd > \"$PDG_DIR/out/@pdg_name.where\" && "
           "tr a-z A-Z < @pdg_input > \"$PDG_DIR/out/@pdg_name.txt\""]


def build(root: Path, scratch: Path, handler=None) -> engine.Graph:
    graph = engine.Graph("transfer", root=str(root))
    graph.scheduler("local", slots=2, working_dir=str(scratch), default=True, tick_period=0.05, max_retries=0)
    if handler is not None:
        graph.types.register_transfer_handler("file/text", handler)
    graph.file_pattern("texts", "in/*.txt")
    graph.command("upper", "texts", COMMAND, expected_outputs=["out/@pdg_name.txt"])
    return graph


def cook(graph: engine.Graph, root: Path):
    db = str(root / ".pdg" / "pdg.db")
    summary = engine.cook_graph(graph, db=db, jobs=2)
    with EventLog.open(db) as log:
        state = log.load_state()
        assert first_difference(log.replay_all().to_plain(), state.to_plain()) is None
        events = [e for e in log.events(0) if e.cook_id == summary.cook_id]
    return summary, state, events


def logged(events, text: str) -> list[str]:
    return sorted(e.text for e in events if e.kind == "WorkItemLogged" and text in e.text)


def test_jobs_run_on_transferred_inputs_and_a_second_cook_skips_the_cached_ones(tmp_path):
    root, scratch = tmp_path / "project", tmp_path / "scratch"
    (root / "in").mkdir(parents=True)
    (root / "in/a.txt").write_text("alpha\n")
    (root / "in/b.txt").write_text("beta\n")
    summary, state, events = cook(build(root, scratch), root)
    assert summary.status == "success", summary.failed_items
    assert (scratch / "in/a.txt").read_text() == "alpha\n" and (scratch / "in/b.txt").read_text() == "beta\n"
    assert (root / "out/upper_1.txt").read_text() == "ALPHA\n" and (root / "out/upper_2.txt").read_text() == "BETA\n"
    assert (root / "out/upper_1.where").read_text().strip() == str(scratch)  # the job ran in the working dir
    moved = sorted((e.path, e.scheduler, e.cache_id) for e in events if e.kind == "FileTransferred")
    assert moved == [("in/a.txt", "local", os.stat(root / "in/a.txt").st_mtime_ns),
                     ("in/b.txt", "local", os.stat(root / "in/b.txt").st_mtime_ns)]
    assert state.transfers["local"] == {"in/a.txt": moved[0][2], "in/b.txt": moved[1][2]}
    assert logged(events, "transferred") == [f"transferred 1 input file(s) to {scratch}: 1 success"] * 2

    # both jobs run again (their outputs are gone), their inputs unchanged: b's copy is current and
    # skipped; a's copy was damaged (another size), so it is copied again under the same id
    for out in (root / "out").iterdir():
        out.unlink()
    (scratch / "in/a.txt").write_text("damaged copy")
    summary, state, events = cook(build(root, scratch), root)
    assert summary.counts["ran"] == 2, summary
    assert [e.path for e in events if e.kind == "FileTransferred"] == []  # ids unchanged: nothing new recorded
    assert (scratch / "in/a.txt").read_text() == "alpha\n"
    assert logged(events, "transferred") == [f"transferred 1 input file(s) to {scratch}: 1 cached",
                                             f"transferred 1 input file(s) to {scratch}: 1 success"]

    # an input that changed is copied again and its new id recorded
    os.utime(root / "in/b.txt", ns=(1_800_000_000_000_000_000, 1_800_000_000_000_000_000))
    (root / "in/b.txt").write_text("beta 2\n")
    summary, state, events = cook(build(root, scratch), root)
    assert summary.counts["ran"] == 1 and (root / "out/upper_2.txt").read_text() == "BETA 2\n"
    assert [(e.path, e.cache_id) for e in events if e.kind == "FileTransferred"] == [
        ("in/b.txt", os.stat(root / "in/b.txt").st_mtime_ns)]


def test_a_failing_transfer_handler_fails_the_item_with_its_name(tmp_path):
    root, scratch = tmp_path / "project", tmp_path / "scratch"
    (root / "in").mkdir(parents=True)
    (root / "in/a.txt").write_text("alpha\n")

    def refuse(src, dst, file, work_item, scheduler, cache_id):
        return TransferPair.failure()

    summary, state, events = cook(build(root, scratch, refuse), root)
    assert summary.status == "failed"
    (item,) = [i for i in state.items.values() if i.node == "upper"]
    assert item.state == "cooked_fail"
    assert "transfer handler" in item.error and "refuse" in item.error and "in/a.txt" in item.error
    assert not any(e.kind == "JobStarted" for e in events)  # the job never started
