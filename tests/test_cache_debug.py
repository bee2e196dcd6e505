"""``PDG_CACHE_DEBUG=1`` says every cache decision of a cook on stderr (docs/guide.md): a cache
check of an item's files, and an item reused because it and its files are as recorded, which a
recook decides from their stat without a check: it printed nothing for those."""

from __future__ import annotations

import os
import subprocess
import sys

GRAPH = """
import os
from pdgstore.engine import Graph

graph = Graph("g")
texts = graph.file_pattern("texts", "texts/*.txt")

@graph.python_processor("upper", upstream=texts)
def upper(item):
    os.makedirs("out", exist_ok=True)
    out = f"out/{item.input_path.stem}.txt"
    with open(out, "w") as f:
        f.write(item.input_path.read_text().upper())
    item.add_output_file(out)

everything = graph.wait_for_all("everything", upper)

@graph.python_processor("concat", upstream=everything)
def concat(item):
    with open("all.txt", "w") as f:
        f.write("".join(p.path.read_text() for p in item.input_files))
    item.add_output_file("all.txt")
"""


def _cook(project, debug: str = "1") -> str:
    """``pdg cook g.py`` as a process with ``PDG_CACHE_DEBUG`` set: its stderr."""
    env = {**os.environ, "PDG_CACHE_DEBUG": debug, "PYTHONPATH": os.pathsep.join(sys.path)}
    done = subprocess.run(
        [sys.executable, "-m", "pdgstore.cli.main", "cook", "g.py"],
        cwd=project.root,
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
    )
    assert done.returncode == 0, done.stderr
    return done.stderr


def test_a_reused_item_says_why_under_cache_debug(project):
    project.write("g.py", GRAPH)
    for stem in "abc":
        project.write(f"texts/{stem}.txt", f"words of {stem}\n")
    _cook(project)
    # concat's code changes: upper's items are decided again, and reused as they are
    project.write("g.py", GRAPH.replace('"".join', '"\\\\n".join'))
    said = _cook(project)
    for name in ("upper_1", "upper_2", "upper_3"):
        assert f"pdg cache: {name}: reused: it and its files are as recorded (by their stat)" in said, said
    assert "pdg cache: concat_1" not in said  # it runs: its code changed, no cache decision
    (project.root / "out" / "b.txt").unlink()  # its file is gone: the cache check says so, and it runs
    said = _cook(project)
    assert "pdg cache: upper_2 out/b.txt: built-in -> missing" in said, said
    assert "pdg cache: upper_2: reused" not in said
    project.write("g.py", GRAPH)
    assert "pdg cache" not in _cook(project, debug="0")
