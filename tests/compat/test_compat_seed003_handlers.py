"""Seed 003 (Custom File Tags and Handlers): each sample as a types plugin in ``pdg/types/``."""

from __future__ import annotations

import ast
import json
import os
import shutil
import subprocess
import sys
import zlib

import pytest
from pdgstore.engine import cook_graph

from compat.conftest import EXAMPLES
from dask_cluster import dask_cluster  # noqa: F401 - a fixture

REPO = EXAMPLES.parents[1]


def test_custom_tags_sample_tags_files_by_extension_and_names_a_viewer(example):
    ex = example("seed003_tags")
    ex.write("in/tool.py", "print('hi')\n")
    graph = ex.graph()
    assert graph.types.tag_for("tool.py") == "file/text/pythonscript"
    assert graph.types.viewer_for("file/bgeo/packed") == "gplay"  # tags beneath it too
    assert ex.cook(graph).status == "success"
    (item,) = ex.items("scripts")
    assert item.outputs[0][:2] == ["in/tool.py", "file/text/pythonscript"]


def test_cache_handlers_sample_hit_miss_and_skip(example):
    ex = example("seed003_cache")
    ex.write("geo/0.bgeo", "cached")  # usecustomcaching 0: Skip, then the built-in check (it exists)
    ex.write("geo/1.bgeo", "")  # usecustomcaching 1 and empty: Miss, so it cooks
    ex.write("geo/2.bgeo", "cached")  # usecustomcaching 1, not empty: Hit
    summary = ex.cook()
    assert summary.status == "success"
    states = {i.name: i.state for i in ex.items("geo")}
    assert states == {"geo_1": "cooked_cache", "geo_2": "cooked_success", "geo_3": "cooked_cache"}
    assert (ex.root / "ran.log").read_text().split() == ["geo_2"]
    # counted as cached wherever a cook's counts are said, never as reused (nothing was recorded)
    assert (summary.counts["ran"], summary.counts["cached"], summary.counts["reused"]) == (1, 2, 0)
    listed = subprocess.run([sys.executable, "-m", "pdgstore.cli.main", "history", "--json"], cwd=ex.root,
                            capture_output=True, text=True, timeout=60, check=True)
    assert json.loads(listed.stdout)["cooks"][-1]["items"]["cached"] == 2
    detail = subprocess.run([sys.executable, "-m", "pdgstore.cli.main", "history", "1"], cwd=ex.root,
                            capture_output=True, text=True, timeout=60, check=True)
    assert "items: 1 ran, 2 cached, 3 updated, 0 reused, 0 failed, 0 cancelled" in detail.stdout, detail.stdout


def test_the_cache_handler_sees_pdg_objects(example):
    """Each cache handler gets the local path, the raw pdg.File and the pdg.WorkItem owning it."""
    ex = example("seed003_cache")
    ex.write(
        "pdg/types/zz_probe.py",
        """
import json, os, pdg

def probe(local_path, raw_file, work_item):
    with open(os.path.join(os.path.dirname(local_path), "..", "probe.jsonl"), "a") as f:
        f.write(json.dumps([local_path, type(raw_file).__name__, raw_file.path, raw_file.tag,
                            isinstance(raw_file, pdg.File), work_item.name, work_item.node.name,
                            work_item['usecustomcaching'].value(), work_item.attribValue('usecustomcaching')]) + "\\n")
    return pdg.cacheResult.Skip

def registerTypes(type_registry):
    type_registry.registerCacheHandler("file/geo/bgeo", probe)
""",
    )
    ex.write("geo/0.bgeo", "x")
    assert ex.cook().status == "success"
    import json

    seen = [json.loads(line) for line in (ex.root / "probe.jsonl").read_text().splitlines()]
    first = next(s for s in seen if s[5] == "geo_1")
    assert first[0] == str(ex.root / "geo" / "0.bgeo")
    assert first[1:] == ["File", "geo/0.bgeo", "file/geo/bgeo", True, "geo_1", "geo", 0, 0]


def test_transfer_handler_sample_copies_then_finds_the_copy_cached(example):
    ex = example("seed003_transfer")
    ex.write("in/a.txt", "alpha\n")
    ex.write("in/b.txt", "beta\n")
    assert ex.cook().status == "success"
    assert (ex.root / "scratch/in/a.txt").read_text() == "alpha\n"
    first = [t for i in ex.items("count") for t in ex.logs(i.item_id) if t.startswith("transferred")]
    assert first == ["transferred 1 input file(s) to scratch: 1 success"] * 2
    transfers = [e for e in ex.events() if e.kind == "FileTransferred"]
    # the cache id the handler returned (the file's mtime in seconds) is what the store keeps
    assert {(e.path, e.cache_id) for e in transfers} == {
        (p, int(os.path.getmtime(ex.root / p))) for p in ("in/a.txt", "in/b.txt")
    }
    assert ex.cook().status == "success"  # always_write: the jobs run again, their inputs are cached
    logs = [t for i in ex.items("count") for t in ex.logs(i.item_id) if t.startswith("transferred")]
    assert logs.count("transferred 1 input file(s) to scratch: 1 cached") == 2


def test_transfer_handler_registered_with_use_mod_time(example):
    """The page's second registration (``transferCopy. use_mod_time=True``: the smallest fix is the
    comma): the handler is not called while the file is not newer than at its last transfer."""
    ex = example("seed003_transfer")
    plugin = ex.root / "pdg/types/custom_file_transfer.py"
    text = plugin.read_text().replace(
        'type_registry.registerTransferHandler("file", transferCopy)',
        'type_registry.registerTransferHandler("file", transferCopy, use_mod_time=True)',
    )
    plugin.write_text(
        text.replace("def transferCopy(", "CALLS = []\n\ndef transferCopy(", 1).replace(
            "    dst_exists = os.path.exists(dst_path)",
            "    open(os.path.join(scheduler.graph_dir, 'calls.log'), 'a').write(src_path + '\\n')\n    dst_exists = os.path.exists(dst_path)",
            1,
        )
    )
    ex.write("in/a.txt", "alpha\n")
    assert ex.cook().status == "success"
    assert len((ex.root / "calls.log").read_text().splitlines()) == 1
    assert ex.cook().status == "success"  # the file is not newer: no call, the copy is current
    assert len((ex.root / "calls.log").read_text().splitlines()) == 1


def test_crc_stat_handler_sample_hashes_text_files(example):
    ex = example("seed003_stat")
    ex.write("in/a.txt", "some notes\n")
    assert ex.cook().status == "success"
    (item,) = ex.items("notes")
    assert item.outputs[0][1] == "file/txt"
    assert item.outputs[0][4] == str(zlib.crc32(b"some notes\n"))


@pytest.mark.timeout(120)
def test_a_handler_for_a_tag_no_extension_maps_to_is_a_warning_naming_its_plugin(example):
    """The page's ``registerStatHandler("file/txt", crc_handler)`` pasted as it is, on a file pattern
    that names no tag: .txt files are tagged file/text, so the handler never runs; the cook says so,
    naming the plugin's file, the handler and the tag. The example, whose pattern gives its files
    file/txt by name, hears nothing."""
    ex = example("seed003_stat")
    ex.write("in/a.txt", "some notes\n")
    graph = (ex.root / "graph.py").read_text()
    ex.write("graph.py", graph.replace(', tag="file/txt")', ")"))
    summary = ex.cook()
    assert summary.status == "success"
    assert summary.warnings == [
        "stat handler pdg/types/custom_file_hash.py:crc_handler is registered for tag file/txt, which no file "
        "extension maps to (.txt files are tagged file/text): it runs only for files added with that tag by name"
    ]
    (item,) = ex.items("notes")
    assert item.outputs[0][1] == "file/text" and item.outputs[0][4] != str(zlib.crc32(b"some notes\n"))
    ex.write("graph.py", graph)
    assert ex.cook().warnings == []


def test_crc_stat_handler_filtered_by_node_type(example):
    """``work_item.node.type.typeName != 'filepattern'`` keeps the CRC to the file pattern's files."""
    ex = example("seed003_stat_node")
    ex.write("in/a.txt", "text\n")
    assert ex.cook().status == "success"
    (src,) = ex.items("texts")
    (copy,) = ex.items("copy")
    assert src.outputs[0][4] == str(zlib.crc32(b"text\n"))
    assert copy.outputs[0][0] == "a.copy.txt"
    assert copy.outputs[0][4] != str(zlib.crc32(b"text\n"))  # the built-in hash: the item is a pythonprocessor's


STAT_PROBE = """
import os

def probe(local_path, raw_file, work_item):
    if work_item is not None:
        with open(os.path.join(os.path.dirname(local_path), "owners.log"), "a") as f:
            f.write(f"{raw_file.path} {work_item.name} {work_item.node.type.typeName} {work_item.inputFiles[0].path}\\n")
    return 0

def registerTypes(type_registry):
    type_registry.registerStatHandler("file/text", probe)
"""


def test_stat_handler_gets_the_owning_work_item(example):
    ex = example("seed003_stat_node")
    ex.write("pdg/types/zz_probe.py", STAT_PROBE)
    ex.write("in/a.txt", "text\n")
    graph = ex.graph()
    assert cook_graph(graph, db=ex.db).status == "success"
    assert (ex.root / "owners.log").read_text().splitlines() == ["a.copy.txt copy_1 pythonprocessor in/a.txt"]


def _stat_probe_on_dask(ex, cluster, probe: str):
    """The example's graph unchanged but for a dask scheduler as its default, ``probe`` as a types
    plugin: its summary once cooked, the handler having seen ``a.copy.txt`` and its item."""
    ex.write("pdg/types/zz_probe.py", probe)
    ex.write("in/a.txt", "text\n")
    graph = ex.graph()
    graph.scheduler("farm", "dask", address=cluster.scheduler_address, default=True, tick_period=0.05, max_retries=0)
    summary = cook_graph(graph, db=ex.db, jobs=2)
    assert summary.status == "success", summary.failed_items
    assert (ex.root / "owners.log").read_text().splitlines() == ["a.copy.txt copy_1 pythonprocessor in/a.txt"]
    return summary


def test_stat_handler_gets_the_owning_work_item_on_a_dask_worker(example, dask_cluster):
    """The python processor runs on a Dask worker, which hashes its outputs there: the handler
    gets the owning work item as it does in-process (it used to get None on a worker)."""
    summary = _stat_probe_on_dask(example("seed003_stat_node"), dask_cluster[0], STAT_PROBE)
    assert not summary.warnings


def test_a_stat_handler_that_cannot_travel_keeps_the_python_items_in_the_cook(example, dask_cluster):
    """A handler holding something of the cook's process (a lock) cannot be pickled for the
    workers: rather than hash there without it (another hash than in-process, silently), the
    Python items run in the cook, and the cook says why."""
    probe = STAT_PROBE.replace("import os\n", "import os\nimport threading\n\nLOCK = threading.Lock()\n", 1)
    probe = probe.replace("    if work_item is not None:", "    with LOCK:\n     if work_item is not None:")
    summary = _stat_probe_on_dask(example("seed003_stat_node"), dask_cluster[0], probe)
    said = [w for w in summary.warnings if "cannot be sent to the workers" in w]
    assert len(said) == 1 and said[0].startswith("scheduler farm: the graph's file types") and "lock" in said[0], summary.warnings
    assert said[0].endswith("its Python processors run in the cook")


def test_the_cache_handler_gets_a_batch_sub_item_and_its_batchParent(example):
    """Seed 003: "The cache handler will be called with the batch sub item if the file was generated
    as part of a batch. You can get the batch parent by looking at work_item.batchParent." """
    ex = example("seed003_cache")
    ex.write(
        "graph.py",
        """
import sys
from pdgstore.engine import Graph

graph = Graph("batched_cache")
frames = graph.range_generate("frames", 3)
graph.python_script("render", frames, "render.py", batch_size=3, expected_outputs=["out/@value.bgeo"])
""",
    )
    ex.write(
        "render.py",
        """
import os
from pdgjson import WorkItem

batch = WorkItem.fromJobEnvironment()
os.makedirs("out", exist_ok=True)
for sub in batch.batchItems:
    with open("out/%d.bgeo" % sub.attribValue("value"), "w") as f:
        f.write("geometry")
    sub.cookSubItem()
""",
    )
    ex.write(
        "pdg/types/zz_probe.py",
        """
import json, os, pdg

def probe(local_path, raw_file, work_item):
    if not os.path.exists(local_path):
        return pdg.cacheResult.Miss
    parent = work_item.batchParent
    with open(os.path.join(os.path.dirname(os.path.dirname(local_path)), "probe.jsonl"), "a") as f:
        f.write(json.dumps([work_item.name, parent.name, parent.isBatch, work_item.batchIndex]) + "\\n")
    return pdg.cacheResult.Hit

def registerTypes(type_registry):
    type_registry.registerCacheHandler("file/geo/bgeo", probe)
""",
    )
    assert ex.cook().status == "success"  # first cook: the batch job makes the three files
    assert not (ex.root / "probe.jsonl").exists()
    assert ex.cook().status == "success"  # again: each sub-item's files go through the cache check
    seen = sorted(json.loads(line) for line in (ex.root / "probe.jsonl").read_text().splitlines())
    assert seen == [
        ["render_1", "render_batch1", True, 0],
        ["render_2", "render_batch1", True, 1],
        ["render_3", "render_batch1", True, 2],
    ]
    assert {i.state for i in ex.items("render")} == {"cooked_success"}  # a hit: reused, nothing ran


RAISING_STAT = """
def bad_stat(local_path, raw_file, work_item):
    raise ValueError("unreadable notes")

def registerTypes(type_registry):
    type_registry.registerStatHandler("file/text", bad_stat)
"""


@pytest.mark.timeout(60)
def test_a_stat_handler_that_raises_fails_its_files_item_alone(project):
    """docs/graph-api.md: "a handler that raises fails the item", naming the handler as the user
    knows it (the plugin's file in the project, not its internal module name), its tag and the
    file; the other files' items are made, and a fixed handler makes the failed one next cook."""
    project.write("pdg/types/t.py", RAISING_STAT)
    project.write("in/a.txt", "alpha\n")
    project.write("in/b.bgeo", "geo\n")
    project.write("g.py", "from pdgstore.engine import Graph\ngraph = Graph('g')\ngraph.file_pattern('files', 'in/*')\n")
    sentence = "stat handler pdg/types/t.py:bad_stat for tag file/text raised on in/a.txt: ValueError: unreadable notes"
    for _ in range(2):  # a fresh cook (made in bulk but for this), then a recook of what it recorded
        cooked = project.pdg("cook", "g.py")
        assert cooked.exit_code == 1 and "failed to generate" not in cooked.output, cooked.output
        items = json.loads(project.pdg("items", "--json").output)["items"]
        assert [(i["name"], i["state"], [o["path"] for o in i["outputs"]]) for i in items] == [
            ("files_1", "cooked_fail", []),
            ("files_2", "cooked_success", ["in/b.bgeo"]),
        ]
        assert json.loads(project.pdg("show", "files_1", "--json").output)["item"]["error"] == sentence
    project.write("pdg/types/t.py", RAISING_STAT.replace('raise ValueError("unreadable notes")', "return 0"))
    assert project.pdg("cook", "g.py").exit_code == 0
    items = json.loads(project.pdg("items", "--json").output)["items"]
    assert [(i["name"], i["state"]) for i in items] == [("files_1", "cooked_success"), ("files_2", "cooked_success")]


@pytest.mark.timeout(120)
@pytest.mark.parametrize("name", ["seed003_tags", "seed003_stat", "seed003_stat_node"])
def test_the_example_runs_as_its_docstring_says_and_leaves_only_ignored_files(name, tmp_path):
    """The docstring's ``pdg cook graph.py && pdg show ...`` works on the folder as git holds it
    (its input files are in it: the pattern matched none, then there was no item to show), and what
    the cook writes there is ignored by git, so a cook in place leaves ``git status`` clean."""
    if not (REPO / ".git").exists():
        pytest.skip("not a git checkout")
    folder = f"examples/pdg_api/{name}"
    listed = ["git", "ls-files", "--cached", "--others", "--exclude-standard", folder]  # tracked or not ignored
    shipped = subprocess.run(listed, cwd=REPO, capture_output=True, text=True, check=True)
    root = tmp_path / name
    root.mkdir()
    for path in shipped.stdout.split():  # the files git ships, and no more
        (root / path[len(folder) + 1 :]).parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(REPO / path, root / path[len(folder) + 1 :])
    assert any(p.startswith(f"{folder}/in/") for p in shipped.stdout.split())
    before = {p for p in root.rglob("*") if p.is_file()}
    doc = ast.get_docstring(ast.parse((root / "graph.py").read_text())) or ""
    (line,) = [li.split("#")[0].strip() for li in doc.splitlines() if li.strip().startswith("pdg cook")]
    for command in line.split("&&"):
        words = command.split()
        assert words[0] == "pdg", line
        done = subprocess.run([sys.executable, "-m", "pdgstore.cli.main", *words[1:]], cwd=root,
                              capture_output=True, text=True, timeout=60)  # fmt: skip
        assert done.returncode == 0, (command, done.stdout, done.stderr)
        assert "warning" not in done.stdout + done.stderr, (command, done.stdout, done.stderr)
    made = sorted(f"{folder}/{p.relative_to(root).as_posix()}" for p in root.rglob("*") if p.is_file() and p not in before)
    assert made, "the cook wrote nothing (its store at least)"
    ignored = subprocess.run(["git", "check-ignore", "--no-index", "--stdin"], cwd=REPO, input="\n".join(made),
                             capture_output=True, text=True)  # fmt: skip
    assert sorted(ignored.stdout.split()) == made
