"""A cancelled cook leaves the items below the work it stopped dirty, not as they were (for real: a
``pdg cook`` process, SIGINT or SIGTERM while a job runs; ``engine.cook.cancelmarks``).

A change reaches texts_2; the cook reruns slow_2 and is stopped while its job runs, before last_2 is
reached: last_2 keeps its result from the cook before but may be stale. ``pdg status``, ``pdg
items`` and ``pdg explain`` say so (from the log: ``pdg check`` replays it), and the next cook
reruns exactly the changed chain, or, when slow_2 makes what it made before, reuses last_2.
"""

from __future__ import annotations

import json
import signal
import time

import pytest

GRAPH = """
import os
from pdgstore.engine import Graph

graph = Graph("chain")
extra = os.environ.get("PDG_TEST_EXTRA", "")  # a new command for node slow: the full walk
texts = graph.file_pattern("texts", "texts/*.txt")
hold = "if [ -e hold_@pdg_name ]; then touch started.tmp && mv started.tmp started; while [ -e hold_@pdg_name ]; do sleep 0.05; done; fi"
graph.command(
    "slow",
    texts,
    ["sh", "-c", hold + "; mkdir -p mid; tr a-z A-Z < @pdg_input > mid/@pdg_name.txt" + extra],
    expected_outputs=["mid/@pdg_name.txt"],
)


@graph.python_processor("last", upstream="slow")
def last(item):
    os.makedirs("out", exist_ok=True)
    out = f"out/{item.name}.txt"
    with open(out, "w") as f:
        f.write(item.input_path.read_text() + "!")
    item.add_output_file(out)


everything = graph.wait_for_all("everything", "last")


@graph.python_processor("report", upstream=everything)
def report(item):
    with open("report.txt", "w") as f:
        f.write("".join(open(p).read() for p in sorted(i.relpath for i in item.input_files)))
    item.add_output_file("report.txt")
"""


@pytest.fixture
def chain(project):
    project.write("chain.py", GRAPH)
    for name in "abc":
        project.write(f"texts/{name}.txt", f"hello {name}\n")
    first = project.pdg("cook", "chain.py")
    assert first.exit_code == 0, first.output
    return project


def cancel_while_slow_2_runs(project, sig: int, extra_env: dict | None = None, others: int = 0) -> None:
    """``pdg cook`` in a process, stopped by ``sig`` while slow_2's job runs (and once ``others``
    items have cooked in it)."""
    (project.root / "hold_slow_2").touch()
    proc = project.popen("cook", "chain.py", "--jobs", "3", extra_env=extra_env)
    deadline = time.monotonic() + 60  # for a loaded machine, not a claim
    while not (project.root / "started").exists() or cooked(project, 2) < others:
        assert proc.poll() is None, proc.communicate()
        assert time.monotonic() < deadline, "slow_2 never started"
        time.sleep(0.05)
    proc.send_signal(sig)
    stdout, stderr = proc.communicate(timeout=60)
    assert proc.returncode == 130, (proc.returncode, stdout, stderr)
    (project.root / "hold_slow_2").unlink()
    (project.root / "started").unlink()


def cooked(project, cook_id: int) -> int:
    """How many items cook ``cook_id`` has recorded cooked so far."""
    result = project.pdg("events", "--cook", str(cook_id), "--kind", "WorkItemCooked", "--json")
    return len(result.stdout.splitlines()) if result.exit_code == 0 else 0


def states(project, node: str) -> dict[str, str]:
    result = project.pdg("items", node, "--json")
    assert result.exit_code == 0, result.output
    return {row["name"]: row["state"] for row in json.loads(result.stdout)["items"]}


def ran(project, cook_id: int) -> set[str]:
    return set(json.loads(project.pdg("history", str(cook_id), "--json").stdout)["cook"]["ran"])


def explained(project, item: str) -> str:
    result = project.pdg("explain", item)
    assert result.exit_code == 0, result.output
    return result.stdout


@pytest.mark.timeout(180)
def test_sigint_leaves_the_item_below_dirty_and_the_next_cook_reruns_the_chain(chain):
    chain.write("texts/b.txt", "hello b, changed\n")
    cancel_while_slow_2_runs(chain, signal.SIGINT)
    assert states(chain, "slow") == {"slow_1": "cooked_success", "slow_2": "cooked_cancel", "slow_3": "cooked_success"}
    assert states(chain, "last") == {"last_1": "cooked_success", "last_2": "dirty", "last_3": "cooked_success"}
    status = json.loads(chain.pdg("status", "--json").stdout)
    assert {row["node"]: row["states"] for row in status["nodes"]}["last"] == {"cooked_success": 2, "dirty": 1}
    # the wait-for-all placed as recorded waited for slow_2's child: not merged, marked, and its child
    assert states(chain, "everything") == {"everything_1": "dirty"}
    assert states(chain, "report") == {"report_1": "dirty"}
    assert explained(chain, "report_1").splitlines()[1] == "  slow_2 was cancelled in cook 2"
    why = explained(chain, "last_2")
    assert why.splitlines()[:3] == [
        "last_2 was dirtied by cook 2 and is checked again at the next cook: "
        "cook 2 was cancelled before slow_2, upstream of it, ran again",
        "  slow_2 was cancelled in cook 2",
        "  texts_2 was updated in cook 2 because its file texts/b.txt changed: size 8 -> 17, hash "
        + why.splitlines()[2].split(", hash ")[1],
    ], why
    dirtied = [
        json.loads(line)["payload"]
        for line in chain.pdg("events", "--cook", "2", "--kind", "WorkItemDirtied", "--json").stdout.splitlines()
    ]
    causes = [d["reason"]["cause"] for d in dirtied]
    assert causes == ["file", "input", *["upstream_cancelled"] * 3], dirtied
    assert chain.pdg("check").exit_code == 0  # the tables are what replaying the log gives

    plan = json.loads(chain.pdg("cook", "chain.py", "--dry-run", "--json").stdout)
    # last_2 runs if slow_2 makes another file (early cutoff), not whatever it makes, as a dirtied item
    assert {row["name"]: row["action"] for row in plan["items"] if row["action"] != "reuse"} == {
        "slow_2": "run",
        "last_2": "pending",
        "everything_1": "pending",
        "report_1": "pending",
    }, plan["items"]
    again = chain.pdg("cook", "chain.py")
    assert again.exit_code == 0, again.output
    assert ran(chain, 3) == {"slow_2", "last_2", "report_1"}
    assert states(chain, "last")["last_2"] == "cooked_success"
    assert states(chain, "everything") == {"everything_1": "cooked_success"}
    assert explained(chain, "last_2").startswith("last_2 ran in cook 3 because its input mid/slow_2.txt changed")
    assert (chain.root / "out" / "last_2.txt").read_text() == "HELLO B, CHANGED\n!"


@pytest.mark.timeout(180)
def test_sigterm_then_the_change_undone_reuses_the_item_below(chain):
    """slow_2 reruns and makes what it made before the change: last_2 is reused (early cutoff), its
    mark gone, and the cook after that is a no-op."""
    chain.write("texts/b.txt", "hello b, changed\n")
    cancel_while_slow_2_runs(chain, signal.SIGTERM)
    assert states(chain, "last")["last_2"] == "dirty"
    chain.write("texts/b.txt", "hello b\n")
    again = chain.pdg("cook", "chain.py")
    assert again.exit_code == 0, again.output
    assert ran(chain, 3) == {"slow_2"}
    assert states(chain, "last")["last_2"] == "cooked_success"
    assert states(chain, "report") == {"report_1": "cooked_success"}
    assert explained(chain, "last_2").startswith(
        "last_2 was reused in cook 3: what it depends on came out as before once slow_2, which cook 2 was "
        "cancelled before, ran again"
    )
    assert chain.pdg("check").exit_code == 0
    assert chain.pdg("cook", "chain.py").exit_code == 0
    assert ran(chain, 4) == set()
    assert "0 ran" in chain.pdg("history", "4").output


@pytest.mark.timeout(180)
def test_a_cancelled_full_walk_marks_the_node_below_by_node(chain):
    """A new command for slow: every slow item reruns (the full walk, no delta). slow_2 is stopped;
    last_1 and last_3 were reused (the same files), last_2 was never reached: dirty, and reused by
    the next cook once slow_2 makes the same file."""
    env = {"PDG_TEST_EXTRA": "; true v2"}
    cancel_while_slow_2_runs(chain, signal.SIGINT, extra_env=env, others=2)
    assert states(chain, "last") == {"last_1": "cooked_success", "last_2": "dirty", "last_3": "cooked_success"}
    assert ran(chain, 2) == {"slow_1", "slow_3"}
    assert "cook 2 was cancelled before slow_2" in explained(chain, "last_2")
    again = chain.pdg("cook", "chain.py", env=env)
    assert again.exit_code == 0, again.output
    assert ran(chain, 3) == {"slow_2"}
    assert states(chain, "last")["last_2"] == "cooked_success"
    assert chain.pdg("check").exit_code == 0
