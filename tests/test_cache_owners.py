"""A cache check never hands one work item's recorded output to another (``engine.cook.owners``).

Review 6's defect 1: below a file pattern, ``out/@pdg_name.txt`` names a position. A file added
before the others shifts the names, and the new item took the file the next item had written as
its own cached result (``copy_2`` "cooked from cache" with c.txt's text); a reused item whose name
moved took the file of its new name into its outputs beside its own. Every cook runs the real
``pdg``; ``Owners`` itself is checked on a state without a store.
"""

from __future__ import annotations

import json
from types import SimpleNamespace

from pdgstore.engine import Graph
from pdgstore.engine.cook.owners import Owners

from pdgstore.state import State

#: the reviewer's graph: a copy of each input, at a path named after the item's position
POSITIONAL = """
from pdgstore.engine import Graph
graph = Graph("pos")
texts = graph.file_pattern("texts", "in/*.txt")
graph.command("copy", texts, ["sh", "-c", "mkdir -p out; cp @pdg_input out/@pdg_name.txt"],
              expected_outputs=["out/@pdg_name.txt"], cache_mode="MODE")
"""


def _graph(project, mode: str = "automatic") -> None:
    project.write("g.py", POSITIONAL.replace("MODE", mode))


def _cook(project, *, ok: bool = True) -> dict:
    r = project.pdg_process("cook", "g.py", "--json")
    assert (r.returncode == 0) == ok, r.stdout + r.stderr
    return json.loads(r.stdout)


def _copies(project) -> dict[str, list[str]]:
    """Each copy item's name -> the paths it records."""
    r = project.pdg_process("items", "copy", "--json")
    assert r.returncode == 0, r.stderr
    return {row["name"]: [o["path"] for o in row["outputs"]] for row in json.loads(r.stdout)["items"]}


def _text(project, path: str) -> str:
    return (project.root / path).read_text()


def _explain(project, name: str) -> dict:
    r = project.pdg_process("explain", name, "--json")
    assert r.returncode == 0, r.stderr
    return json.loads(r.stdout)["chain"][0]


def test_an_added_file_runs_its_item_instead_of_taking_the_next_items_output(project):
    project.write("in/a.txt", "AAA\n")
    project.write("in/c.txt", "CCC\n")
    _graph(project)
    assert _cook(project)["items"]["ran"] == 2
    project.write("in/b.txt", "BBB\n")  # b.txt's item is copy_2 now; c.txt's moves to copy_3
    second = _cook(project)
    assert (second["items"]["ran"], second["items"]["cached"]) == (2, 0), second
    assert [_text(project, f"out/copy_{i}.txt") for i in (1, 2, 3)] == ["AAA\n", "BBB\n", "CCC\n"]
    assert _copies(project) == {n: [f"out/{n}.txt"] for n in ("copy_1", "copy_2", "copy_3")}
    step = _explain(project, "copy_2")
    assert (step["action"], step["reason"]["cause"], step["reason"]["path"]) == ("run", "output_taken", "out/copy_2.txt")
    assert step["text"] == (
        "copy_2 ran in cook 2 because its expected file out/copy_2.txt was recorded as the output of work item copy_3"
    )
    third = _cook(project)
    assert (third["items"]["ran"], third["items"]["cached"], third["items"]["updated"]) == (0, 0, 0), third


def test_a_removed_file_leaves_no_item_with_another_items_output(project):
    for name in ("a", "b", "c"):
        project.write(f"in/{name}.txt", name.upper() * 3 + "\n")
    _graph(project)
    _cook(project)
    (project.root / "in" / "a.txt").unlink()  # b.txt's item moves to copy_1, c.txt's to copy_2
    second = _cook(project)
    # both kept their recorded files, and found the files of their new names there: a.txt's and b.txt's
    assert (second["items"]["ran"], second["items"]["removed"]) == (2, 2), second
    assert _copies(project) == {"copy_1": ["out/copy_1.txt"], "copy_2": ["out/copy_2.txt"]}
    assert [_text(project, f"out/copy_{i}.txt") for i in (1, 2)] == ["BBB\n", "CCC\n"]
    assert _explain(project, "copy_1")["text"] == (  # a.txt's item: removed in that cook
        "copy_1 ran in cook 2 because its expected file out/copy_1.txt was recorded as the output of work item "
        "copy_1 (since removed)"
    )
    assert _explain(project, "copy_2")["text"] == (  # b.txt's item, copy_2 when it recorded the file
        "copy_2 ran in cook 2 because its expected file out/copy_2.txt was recorded as the output of work item copy_1"
    )
    third = _cook(project)
    assert (third["items"]["ran"], third["items"]["cached"]) == (0, 0), third


def test_always_read_fails_an_item_whose_file_is_another_items(project):
    project.write("in/a.txt", "AAA\n")
    project.write("in/c.txt", "CCC\n")
    _graph(project)
    _cook(project)
    _graph(project, "always_read")  # take the files, never run: c.txt's file is not b.txt's
    project.write("in/b.txt", "BBB\n")
    summary = _cook(project, ok=False)
    assert summary["items"]["failed"] >= 1, summary
    r = project.pdg_process("show", "copy_2")
    assert "expected output out/copy_2.txt of work item copy_2 was recorded as the output of another work item" in (
        r.stdout
    ), r.stdout
    assert _text(project, "out/copy_2.txt") == "CCC\n"  # nothing ran, nothing was overwritten


def _owners_graph(expects: bool) -> Graph:
    graph = Graph("g")
    texts = graph.file_pattern("texts", "in/*.txt")
    graph.command("copy", texts, ["cp", "@pdg_input", "out"], expected_outputs=["out/@pdg_name.txt"] if expects else [])
    return graph


def _item(item_id: str, node: str, *paths: str):
    return SimpleNamespace(item_id=item_id, node=node, outputs=[[p, "file/text", 1, 2, "h"] for p in paths])


def _new(item_id: str, *inputs: str) -> dict:
    return {"item_id": item_id, "inputs": [[p, "file/text", 1, 2, "h"] for p in inputs]}


def test_owners_keep_a_remade_items_files_for_the_rest_of_the_cook():
    names = {"gone": "copy_1"}
    owners = Owners(_owners_graph(True), State(), names)
    nobody = lambda path: ()  # noqa: E731 - nothing recorded and not written yet
    files = [["out/copy_2.txt", "file/text"]]
    assert owners.taken(_new("new"), files, nobody) == ()
    owners.gave_up(_item("old", "copy", "out/copy_2.txt"))  # ran again in this cook: the file is still its
    owners.gave_up(_item("found", "texts", "in/x.txt"))  # a file pattern's item found its file: not an owner
    assert owners.taken(_new("new"), files, nobody) == ("out/copy_2.txt", "old", "old")
    assert owners.taken(_new("old"), files, nobody) == ()  # its own
    assert owners.taken(_new("new", "out/copy_2.txt"), files, nobody) == ()  # an input handed on
    assert owners.taken(_new("new"), [["in/x.txt", "file/text"]], nobody) == ()
    # recorded in this cook, not written yet; a removed item is named as it was
    assert owners.taken(_new("new"), [["out/x", "file"]], lambda path: ["gone"]) == ("out/x", "gone", "copy_1")
    # a graph whose nodes expect no file takes no file it did not record: nothing is kept
    plain = Owners(_owners_graph(False), State(), {})
    plain.gave_up(_item("old", "copy", "out/copy_2.txt"))
    assert plain.taken(_new("new"), files, nobody) == ()
