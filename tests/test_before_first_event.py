"""A time before a store's first event, given to a command that takes a point of the log: every
read shown ``--at`` it says the same sentence (the store held nothing yet then, and when its first
event is) with exit 2, as an unknown REF; ``pdg compact --before`` it says there is nothing before
it to fold, never that the history there "is already folded". Seq 0, the documented "before the
first event", still shows the empty store.
"""

from __future__ import annotations

import json
import re

import pytest

GRAPH = "from pdgstore.engine import Graph\ngraph = Graph('g')\ngraph.range_generate('count', 3)\n"

SENTENCE = re.compile(
    r"^pdg: \.pdg/pdg\.db held nothing yet at \d{4}-\d\d-\d\d \d\d:\d\d:\d\d "
    r"\(its first event is at \d{4}-\d\d-\d\d \d\d:\d\d:\d\d\)$"
)


@pytest.fixture
def cooked(project):
    project.write("g.py", GRAPH)
    assert project.pdg("cook", "g.py").exit_code == 0
    return project


@pytest.mark.timeout(120)
@pytest.mark.parametrize(
    "args",
    [
        ("items", "count", "--at", "2h"),  # the guide's own example
        ("items", "--at", "2h"),
        ("status", "--at", "2h"),
        ("status", "--at", "2h", "--json"),
        ("show", "count_1", "--at", "1d"),
        ("items", "--at", "2020-01-01T00:00"),
    ],
)
def test_every_read_at_a_time_before_the_first_event_says_the_store_held_nothing(cooked, args):
    proc = cooked.pdg_process(*args)
    assert proc.returncode == 2, (proc.stdout, proc.stderr)
    assert "Traceback" not in proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and SENTENCE.match(lines[0]), proc.stderr
    if proc.stdout.strip():  # under --json, at most the error object, with the same sentence
        assert "--json" in args and json.loads(proc.stdout)["error"] == lines[0].removeprefix("pdg: ")


@pytest.mark.timeout(60)
def test_seq_0_still_shows_the_empty_store(cooked):
    result = cooked.pdg("status", "--at", "0")
    assert result.exit_code == 0, result.output
    assert "no work items yet" in result.output


@pytest.mark.timeout(60)
def test_compact_before_the_first_event_has_nothing_to_fold_and_says_why(cooked):
    result = cooked.pdg("compact", "--before", "2h", "--dry-run")
    assert result.exit_code == 0, result.output
    said = result.stderr.strip()
    assert "already folded" not in said
    assert re.match(
        r"^\.pdg/pdg\.db: nothing to fold: it held nothing yet at [\d :-]+ \(its first event is at [\d :-]+\)$", said
    ), said
    result = cooked.pdg("compact", "--before", "0", "--dry-run")
    assert result.exit_code == 0
    assert result.stderr.strip() == ".pdg/pdg.db: nothing to fold: no event comes at or before seq 0 (the log begins at seq 1)"
    data = json.loads(cooked.pdg("compact", "--before", "2h", "--dry-run", "--json").stdout)
    assert data["plan"]["events"] == 0
