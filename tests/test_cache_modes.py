"""Cache modes, cache handlers, stat handlers and types plugins on real cooks.

The graph: a file pattern over ``in/*.txt`` and a processor ``render`` that writes
``out/<index>.txt`` (declared as an expected output) and appends "render:<index>" to ``ran.log``.
A cache handler registered for ``file/text`` reads its verdict from ``verdict.txt`` so a test can
make it say Hit, Miss or Skip (or raise).
"""

from __future__ import annotations

import json

import pytest

CACHE_GRAPH = '''
import os
from pdgstore.engine import Graph
from pdgstore.engine.files.filetypes import CacheResult

graph = Graph("cached")
src = graph.file_pattern("src", "in/*.txt")

@graph.python_processor("render", upstream=src, cache_mode="{mode}", expected_outputs=["out/@pdg_index.txt"])
def render(item):
    with open("ran.log", "a") as f:
        f.write("render:%d\\n" % item.index)
    os.makedirs("out", exist_ok=True)
    dst = "out/%d.txt" % item.index
    with open(dst, "w") as f:
        f.write(item.input_path.read_text().upper())
    item.add_output_file(dst)

def by_verdict(local_path, record, work_item):
    if not os.path.exists("verdict.txt"):
        return CacheResult.Skip
    verdict = open("verdict.txt").read().strip()
    if verdict == "raise":
        raise RuntimeError("no verdict")
    return {{"hit": CacheResult.Hit, "miss": CacheResult.Miss, "skip": "skip"}}[verdict]

graph.types.register_cache_handler("file/text", by_verdict)
'''


class Cached:
    def __init__(self, project, mode: str = "automatic") -> None:
        self.p = project
        project.write("cached.py", CACHE_GRAPH.format(mode=mode))
        for stem in "abc":
            project.write(f"in/{stem}.txt", f"text of {stem}\n")

    def verdict(self, text: str | None) -> None:
        path = self.p.root / "verdict.txt"
        if text is None:
            path.unlink(missing_ok=True)
        else:
            path.write_text(text)

    def cook(self, expect_exit: int = 0, env: dict | None = None):
        log = self.p.root / "ran.log"
        log.unlink(missing_ok=True)
        result = self.p.pdg("cook", "cached.py", "--json", env=env)
        assert result.exit_code == expect_exit, result.output
        summary = json.loads(result.stdout)
        ran = set(log.read_text().split()) if log.exists() else set()
        assert summary["items"]["ran"] == len(ran)
        return ran, summary, result

    def states(self) -> dict[int, str]:
        rows = json.loads(self.p.pdg("items", "render", "--json").stdout)["items"]
        return {r["index"]: r["state"] for r in rows}

    def prefill(self) -> None:
        for i, stem in enumerate("abc"):
            self.p.write(f"out/{i}.txt", f"TEXT OF {stem.upper()}\n")


ALL = {"render:0", "render:1", "render:2"}


def test_automatic_new_items_with_their_files_present_cook_from_cache(project):
    c = Cached(project)
    c.prefill()
    ran, summary, _ = c.cook()
    assert ran == set()
    assert c.states() == {0: "cooked_cache", 1: "cooked_cache", 2: "cooked_cache"}
    assert "cooked from cache in cook 1 (cache mode automatic)" in project.pdg("explain", "render_1").stdout
    (project.root / "out/1.txt").unlink()
    ran, _, _ = c.cook()
    assert ran == {"render:1"}


def test_automatic_reruns_on_upstream_change_automatic_ignore_does_not(project):
    c = Cached(project)
    assert c.cook()[0] == ALL
    project.write("in/a.txt", "changed\n")
    assert c.cook()[0] == {"render:0"}

    other = Cached(project.__class__(project.root / "ignore"), mode="automatic_ignore")
    assert other.cook()[0] == ALL
    other.p.write("in/a.txt", "changed\n")
    ran, _, _ = other.cook()
    assert ran == set()  # upstream writes do not invalidate: its files pass, it is taken from cache
    assert other.states()[0] == "cooked_cache"
    (other.p.root / "out/0.txt").unlink()
    assert other.cook()[0] == {"render:0"}  # a missing file still reruns it


def test_always_write_always_runs(project):
    c = Cached(project, mode="always_write")
    assert c.cook()[0] == ALL
    ran, _, _ = c.cook()
    assert ran == ALL
    assert "its node's cache mode is always_write" in project.pdg("explain", "render_1").stdout


def test_always_read_takes_files_and_fails_clearly_when_one_is_missing(project):
    c = Cached(project, mode="always_read")
    c.prefill()
    (project.root / "out/2.txt").unlink()
    ran, summary, result = c.cook(expect_exit=1)
    assert ran == set()
    assert c.states() == {0: "cooked_cache", 1: "cooked_cache", 2: "cooked_fail"}
    failed = summary["failed_items"][0]
    assert failed["name"] == "render_3"
    assert "cache mode always read" in failed["error"] and "out/2.txt" in failed["error"]


@pytest.mark.parametrize("verdict, ran_expected, state", [
    ("hit", set(), "cooked_cache"),     # a hit stands in for the file even though it is missing
    ("miss", {"render:0", "render:1", "render:2"}, "cooked_success"),
    ("skip", {"render:1"}, "cooked_success"),  # skip falls through to the built-in check
])
def test_cache_handler_hit_miss_skip(project, verdict, ran_expected, state):
    c = Cached(project)
    c.prefill()
    (project.root / "out/1.txt").unlink()
    c.verdict(verdict)
    ran, _, result = c.cook(env={"PDG_CACHE_DEBUG": "1"})
    assert ran == ran_expected
    assert c.states()[1] == state
    # PDG_CACHE_DEBUG=1 prints each decision: item, file, handler, result
    assert f"pdg cache: render_2 out/1.txt: pdg_graph_cached.by_verdict -> {verdict}" in result.stderr, result.stderr
    if verdict == "skip":
        assert "out/1.txt: built-in -> missing" in result.stderr


def test_cache_handler_that_raises_fails_the_item_naming_handler_tag_and_file(project):
    c = Cached(project)
    c.prefill()
    c.verdict("raise")
    ran, summary, _ = c.cook(expect_exit=1)
    errors = {f["error"] for f in summary["failed_items"]}
    assert any("cache handler" in e and "by_verdict" in e and "file/text" in e and "out/0.txt" in e
               and "RuntimeError: no verdict" in e for e in errors), errors


STAT_PLUGIN = '''
def first_line_hash(local_path, record, work_item):
    with open(local_path) as f:
        line = f.readline()
    return (abs(hash(line)) % (1 << 60)) or 1, len(line)

def never(local_path, record, work_item):
    return 0   # falls through to the next handler, then to the built-in cascade

def register_types(registry):
    registry.add_extension_tag(".txt", "file/text/notes")
    registry.register_stat_handler("file/text/notes", never)
    registry.register_stat_handler("file/text", first_line_hash)
'''

WIDE_FIRST_LINE = '''
import os
from pdgstore.engine import Graph
graph = Graph("notes")
src = graph.file_pattern("src", "in/*.txt")

@graph.python_processor("first", upstream=src)
def first(item):
    with open("ran.log", "a") as f:
        f.write(item.input_path.stem + "\\n")
    os.makedirs("out", exist_ok=True)
    dst = "out/" + item.input_path.name
    with open(dst, "w") as f:
        f.write(item.input_path.read_text().splitlines()[0])
    item.add_output_file(dst)
'''


def test_types_plugin_stat_handler_decides_what_changed(project):
    project.write("notes.py", WIDE_FIRST_LINE)
    project.write("pdg/types/notes.py", STAT_PLUGIN)
    project.write("pdg/types/broken.py", "def register_types(registry):\n    raise ValueError('boom')\n")
    project.write("in/a.txt", "title a\nbody\n")
    project.write("in/b.txt", "title b\nbody\n")
    result = project.pdg("cook", "notes.py", "--json")
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout)
    # a plugin that fails to load is a warning naming its file, not a crash
    assert any("broken.py" in w and "ValueError: boom" in w for w in summary["warnings"]), summary
    items = json.loads(project.pdg("items", "src", "--json").stdout)["items"]
    assert {o["tag"] for r in items for o in r["outputs"]} == {"file/text/notes"}
    (project.root / "ran.log").unlink()
    # only the body changed: the plugin's hash (first line) says the file is the same
    project.write("in/a.txt", "title a\nanother body, longer\n")
    result = project.pdg("cook", "notes.py", "--json")
    assert json.loads(result.stdout)["items"]["ran"] == 0
    assert not (project.root / "ran.log").exists()
    project.write("in/b.txt", "title B!\nbody\n")
    result = project.pdg("cook", "notes.py", "--json")
    assert json.loads(result.stdout)["items"]["ran"] == 1
    assert (project.root / "ran.log").read_text().split() == ["b"]


def test_stat_handler_that_raises_names_handler_tag_and_file(project):
    project.write("notes.py", WIDE_FIRST_LINE)
    project.write("pdg/types/bad.py", '''
def bad(local_path, record, work_item):
    raise OSError("cannot stat this")

def register_types(registry):
    registry.register_stat_handler("file/text", bad)
''')
    project.write("in/a.txt", "a\n")
    result = project.pdg("cook", "notes.py")
    assert result.exit_code != 0
    assert "stat handler" in result.stderr and "bad" in result.stderr and "file/text" in result.stderr \
        and "in/a.txt" in result.stderr, result.stderr
    assert "Traceback" not in result.stderr
