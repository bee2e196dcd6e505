"""Values that once broke a store for good (issue 17, defect 5): an int beyond msgpack's range, a NaN,
a file name that is not UTF-8. Each is refused with a sentence where it enters, or held as it is;
no later cook or ``pdg check`` is broken by it."""

from __future__ import annotations

import json
import os
import sys

import pytest

from pdgstore.state import first_difference

#: each case runs several pdg processes: room for a loaded machine
pytestmark = pytest.mark.timeout(300)


SETTER = """
from pdgstore.engine import Graph

graph = Graph("vals")
r = graph.range_generate("r", 2)
what = graph.parm("what", "ok")

@graph.python_processor("setter", upstream=r)
def setter(item):
    value = {"ok": 1, "huge": 2 ** 64, "tiny": -2 ** 63 - 1, "edge": 2 ** 64 - 1, "nan": float("nan"),
             "inf": float("-inf"), "nanlist": [float("nan"), 1.0], "surrogate": "a\\udcffb",
             "dict_huge": {"n": 2 ** 70}, "dict_nan": {"n": float("nan")}}[what]
    item.set_attrib("v", value)
"""


@pytest.mark.parametrize("what", ["huge", "tiny", "surrogate", "dict_huge"])
def test_a_value_the_log_cannot_hold_fails_its_item_and_breaks_nothing(project, what):
    project.write("vals.py", SETTER)
    r = project.pdg_process("cook", "vals.py", "--set", f"what={what}", "--json")
    assert r.returncode == 1, (r.stdout, r.stderr)
    assert "Traceback" not in r.stderr
    errors = [f["error"] for f in json.loads(r.stdout)["failed_items"]]
    assert len(errors) == 2 and all(("log can hold" in e or "UTF-8" in e or "cannot be recorded" in e) for e in errors)
    # the store is whole, later cooks work
    assert project.pdg_process("check").returncode == 0
    r = project.pdg_process("cook", "vals.py", "--set", "what=ok")
    assert r.returncode == 0, r.stderr
    assert project.pdg_process("check").returncode == 0


@pytest.mark.parametrize("what", ["edge", "nan", "inf", "nanlist", "dict_nan"])
def test_values_the_log_holds_keep_check_and_later_cooks_green(project, what):
    project.write("vals.py", SETTER)
    r = project.pdg_process("cook", "vals.py", "--set", f"what={what}")
    assert r.returncode == 0, r.stderr
    r = project.pdg_process("check")
    assert r.returncode == 0, (r.stdout, r.stderr)
    assert project.pdg_process("cook", "vals.py", "--set", f"what={what}").returncode == 0
    assert project.pdg_process("status").returncode == 0
    assert project.pdg_process("check").returncode == 0


def test_nan_is_equal_to_itself_when_states_are_compared():
    nan = float("nan")
    assert first_difference({"a": [nan, 1.0]}, {"a": [nan, 1.0]}) is None
    assert first_difference({"a": nan}, {"a": 1.0}) is not None


PATTERN = """
from pdgstore.engine import Graph

graph = Graph("names")
files = graph.file_pattern("files", "in/*.txt")
"""


@pytest.mark.skipif(sys.platform != "linux", reason="file names as raw bytes")
def test_a_file_name_that_is_not_utf8_is_named_in_a_sentence(project):
    project.write("names.py", PATTERN)
    project.write("in/good.txt", "fine\n")
    bad = os.path.join(os.fsencode(project.root), b"in", b"caf\xe9.txt")
    with open(bad, "wb") as f:
        f.write(b"x\n")
    r = project.pdg_process("cook", "names.py")
    assert r.returncode == 1, (r.stdout, r.stderr)
    assert "Traceback" not in r.stderr
    assert "caf\\xe9.txt" in r.stderr and "not valid UTF-8" in r.stderr, r.stderr
    assert project.pdg_process("check").returncode == 0
    os.rename(bad, os.path.join(os.fsencode(project.root), b"in", b"cafe.txt"))
    r = project.pdg_process("cook", "names.py")
    assert r.returncode == 0, r.stderr
    assert project.pdg_process("check").returncode == 0
