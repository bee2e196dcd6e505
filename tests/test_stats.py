"""``pdg stats`` counts the cooks the store remembers, folded or not, and lists kinds by events."""

from __future__ import annotations

import json

import pytest

GRAPH = "from pdgstore.engine import Graph\ngraph = Graph('g')\ngraph.range_generate('count', int(graph.parm('n', 3)))\n"


@pytest.mark.timeout(120)
def test_stats_after_compaction_counts_every_cook_history_lists(project):
    project.write("g.py", GRAPH)
    for n in (3, 4, 5, 6, 7):
        assert project.pdg("cook", "g.py", "--set", f"n={n}").exit_code == 0
    assert project.pdg("compact", "--keep-cooks", "2").exit_code == 0
    listed = json.loads(project.pdg("history", "--json").output)["cooks"]
    stats = json.loads(project.pdg("stats", "--json").output)
    assert stats["cooks"] == len(listed) == 5
    assert stats["cooks_with_events"] == 2
    events = [k["events"] for k in stats["kinds"]]
    assert events == sorted(events, reverse=True)  # by events, a batch of new items counting each
    text = project.pdg_process("stats").stdout
    assert "5 cooks (2 with their events; history before seq" in text
    # what pdg check goes through, in events and bytes, never a time (review 7: the old estimate
    # said 8 s for a check that took 60 s)
    check = project.pdg_process("check", "--json")
    assert check.returncode == 0, check.stderr
    reads = stats["check_reads"]
    assert reads["events"] == json.loads(check.stdout)["events"] == stats["events"]
    assert reads["payload_bytes"] == sum(k["payload_bytes"] for k in stats["kinds"]) > 0
    (base,) = [s for s in stats["snapshots"] if s["seq"] == stats["base_seq"]]  # the compaction's
    assert reads["snapshots"] == 1 and reads["snapshot_bytes"] == base["bytes"] > 0
    # a compacted log is read --at any point it holds from the tables, its items from before the
    # base from the base snapshot; a replay goes from a snapshot, the base at worst
    held = stats["last_seq"] - stats["base_seq"]
    assert stats["time_travel"] == {"overlay_events": held, "replay_at_most": held}
    assert "replay_estimate_s" not in stats
    assert f"pdg check replays {reads['events']:,} events (" in text and " s " not in text
    assert f"--at a point within the last {held:,} events (every one held) folds back" in text


@pytest.mark.timeout(120)
def test_stats_time_travel_counts_the_stretch_before_the_first_snapshot(project):
    """``--at`` a point before the first snapshot replays from the log's start: that stretch is one
    of the gaps (it was left out, so a snapshot near the end made a long log look covered)."""
    from pdgstore.log import EventLog

    project.write("g.py", GRAPH)
    for n in (30, 40):
        assert project.pdg("cook", "g.py", "--set", f"n={n}").exit_code == 0
    with EventLog.open(str(project.db), writer=True) as log:
        log.save_snapshot(log.load_state())
        snapshot = log.last_seq()
    assert project.pdg("cook", "g.py", "--set", "n=3").exit_code == 0
    stats = json.loads(project.pdg_process("stats", "--json").stdout)
    after = stats["last_seq"] - snapshot
    assert 0 < after < snapshot  # the stretch from the start is the longer one
    assert stats["snapshot_coverage"] == {"events_after_newest": after, "largest_gap": snapshot}
    assert stats["time_travel"] == {"overlay_events": stats["last_seq"], "replay_at_most": snapshot}
    # pdg check replays every event and compares the replay with that snapshot, which it reads
    assert stats["check_reads"]["snapshots"] == 1 and stats["check_reads"]["snapshot_bytes"] == (
        stats["snapshots"][0]["bytes"]
    )
    assert json.loads(project.pdg_process("check", "--json").stdout)["events"] == stats["check_reads"]["events"]
    text = project.pdg_process("stats").stdout
    assert "pdg check replays" in text and "and 1 snapshot (" in text
    assert f"a replay goes at most {snapshot:,} events" in text
