"""File attributes' files are recorded and checked as output files are (seed 003: "Files stored as
work item outputs or attributes have both a size field and an extra 64-bit integer hash that PDG uses
to identify if the file is stale"; ``engine.files.attrfiles``).

A file a file attribute names, edited, reruns the items that hold it and what was made from them,
and ``pdg explain`` names the attribute and the file; touched, it reruns nothing and its record is
refreshed; a recook after no change runs nothing, and the no-op manifest proves it (and notices a
change) without loading the state. A stat handler registered for the file's tag hashes it; a job's
``pdgcmd.setFileAttrib`` and ``pdgjson``'s ``setFileAttrib`` are recorded as an in-process item's.
"""

from __future__ import annotations

import json
import os

import msgpack
from pdgstore.engine.files import attrfiles
from pdgstore.engine.incremental import manifest, signatures
from pdgstore.engine.project import cook_file, load_graph

from pdgstore.log import EventLog

GRAPH = """
import json
from pdgstore.engine import Graph, File

graph = Graph("g")
r = graph.range_generate("r", 3)

@graph.python_processor("setf", upstream=r)
def setf(item):
    item.set_attrib("cfg", File(f"cfg/{item['value']}.json"))
    item.set_attrib("shared", File("shared.json"))

@graph.python_processor("use", upstream=setf)
def use(item):
    item.set_attrib("a", json.load(open(item["cfg"].path))["a"])
    item.set_attrib("b", json.load(open(item["shared"].path))["b"])
"""


def _project(project):
    project.write("g.py", GRAPH)
    for i in range(3):
        project.write(f"cfg/{i}.json", json.dumps({"a": i}))
    project.write("shared.json", json.dumps({"b": 0}))
    return project


def _cook(project, *args: str) -> dict:
    """``pdg cook g.py`` as a real process; the cook's detail (``pdg history N --json``)."""
    done = project.pdg_process("cook", "g.py", *args)
    assert done.returncode == 0, done.stderr
    history = project.pdg_process("history", "--json")
    last = max(c["cook_id"] for c in json.loads(history.stdout)["cooks"])
    return json.loads(project.pdg_process("history", str(last), "--json").stdout)["cook"]


def _attrs(project, name: str) -> dict:
    shown = project.pdg_process("show", name, "--json")
    assert shown.returncode == 0, shown.stderr
    return json.loads(shown.stdout)["item"]["attrs"]


def _touch(path, ahead_ns: int = 5_000_000_000) -> None:
    st = os.stat(path)
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns + ahead_ns))


def test_an_edited_file_attribute_reruns_the_items_holding_it_and_what_was_made_from_them(project):
    _project(project)
    first = _cook(project)
    assert first["items"]["ran"] == 6
    cfg = _attrs(project, "setf_2")["cfg"]["values"][0]
    assert cfg[:2] == ["cfg/1.json", "file"] and cfg[2] == len('{"a": 1}') and cfg[4]  # size and hash recorded
    assert _cook(project)["ran"] == []

    project.write("cfg/1.json", json.dumps({"a": 11}))
    again = _cook(project)
    assert sorted(again["ran"]) == ["setf_2", "use_2"]
    assert _attrs(project, "use_2")["a"]["values"] == [11]
    explained = project.pdg_process("explain", "use_2").stdout
    assert "use_2 ran in cook 3 because the file cfg/1.json of its file attribute cfg changed" in explained
    assert "setf_2 ran in cook 3 because the file cfg/1.json of its file attribute cfg changed" in explained
    assert _cook(project)["ran"] == []

    project.write("shared.json", json.dumps({"b": 7}))
    assert sorted(_cook(project)["ran"]) == ["setf_1", "setf_2", "setf_3", "use_1", "use_2", "use_3"]
    assert [_attrs(project, f"use_{i}")["b"]["values"] for i in (1, 2, 3)] == [[7], [7], [7]]
    assert _cook(project)["ran"] == []


def test_a_touched_file_attributes_file_reruns_nothing_and_its_record_is_refreshed(project):
    _project(project)
    _cook(project)
    before = _attrs(project, "setf_1")["shared"]["values"][0]
    _touch(project.root / "shared.json")
    touched = _cook(project)
    assert touched["items"]["ran"] == 0
    after = _attrs(project, "setf_1")["shared"]["values"][0]
    assert after[3] != before[3] and [after[i] for i in (0, 1, 2, 4)] == [before[i] for i in (0, 1, 2, 4)]
    assert _attrs(project, "use_3")["shared"]["values"][0] == after  # every item holding it
    assert _cook(project)["items"]["ran"] == 0
    checked = project.pdg_process("check")  # the tables hold what the log's fold (WorkItemRestatted v2) gives
    assert checked.returncode == 0, checked.stdout + checked.stderr


def _refuse_state(monkeypatch) -> None:
    """A cook that loads the state fails: what is left is the no-op the manifest proves."""

    def refuse(self):
        raise AssertionError("the state was loaded")

    for name in ("load_state", "current_state", "cook_state"):
        monkeypatch.setattr(EventLog, name, refuse)


def _stored_manifest(project) -> dict:
    import zlib

    with EventLog.open(str(project.db)) as log:
        _seq, blob = log.manifest("g")
    return msgpack.unpackb(zlib.decompress(msgpack.unpackb(blob, raw=False)["z"]), raw=False, strict_map_key=False)


def test_the_no_op_manifest_lists_file_attributes_files_and_notices_a_change(project, monkeypatch):
    _project(project)
    graph = str(project.root / "g.py")
    assert cook_file(graph).counts["ran"] == 6
    listed = _stored_manifest(project)["attr_files"]
    assert sorted(listed["paths"]) == ["cfg/0.json", "cfg/1.json", "cfg/2.json", "shared.json"]
    assert listed["missing"] == []
    with monkeypatch.context() as patched:
        _refuse_state(patched)
        assert cook_file(graph).counts["reused"] == 9  # proven from the manifest alone

    project.write("cfg/2.json", json.dumps({"a": 22}))
    with EventLog.open(str(project.db), writer=True) as log:
        assert manifest.try_noop(log, load_graph(graph), scan_only=True) == (None, None)
    with monkeypatch.context() as patched:
        _refuse_state(patched)
        try:
            cook_file(graph)
        except AssertionError as exc:
            assert "the state was loaded" in str(exc)
        else:
            raise AssertionError("the manifest proved a no-op after a file attribute's file changed")
    summary = cook_file(graph)
    assert (summary.counts["ran"], summary.counts["reused"]) == (2, 7)
    with monkeypatch.context() as patched:
        _refuse_state(patched)
        assert cook_file(graph).counts["reused"] == 9

    _touch(project.root / "cfg/0.json")  # touched only: the walk refreshes the records, runs nothing
    assert cook_file(graph).counts["ran"] == 0
    with monkeypatch.context() as patched:
        _refuse_state(patched)
        assert cook_file(graph).counts["reused"] == 9


def test_a_graph_without_file_attributes_lists_none(wide, monkeypatch):
    """A cold cook that recorded no file attribute knows none is held: it reads no item's row to
    look for one (at W(100,000), half a second of the cook's end)."""

    def refuse(*args):
        raise AssertionError("a cold cook that recorded no file attribute looked for them")

    with monkeypatch.context() as patched:
        patched.setattr(attrfiles, "manifest_listing", refuse)
        assert cook_file(str(wide.root / "wide.py")).status == "success"
    with EventLog.open(str(wide.db)) as log:
        _seq, blob = log.manifest("wide")
    import zlib

    inner = msgpack.unpackb(zlib.decompress(msgpack.unpackb(blob, raw=False)["z"]), raw=False, strict_map_key=False)
    assert inner["attr_files"] is None


def test_a_file_missing_when_recorded_reruns_its_holder_once_it_is_there(project):
    """A value with no record (its file missing when the item ended, or recorded by a pdgstore that
    kept none): its file there now reruns the item once, and ``pdg explain`` says why."""
    project.write(
        "g.py",
        """
        from pdgstore.engine import Graph, File

        graph = Graph("g")
        r = graph.range_generate("r", 1)

        @graph.python_processor("setf", upstream=r)
        def setf(item):
            item.set_attrib("cfg", File("late.json"))
        """,
    )
    _cook(project)
    assert _attrs(project, "setf_1")["cfg"]["values"] == [["late.json", "file"]]
    assert _cook(project)["ran"] == []  # still missing: nothing to say
    project.write("late.json", "{}")
    assert _cook(project)["ran"] == ["setf_1"]
    explained = project.pdg_process("explain", "setf_1").stdout
    assert "the file late.json of its file attribute cfg is there now, with no size or hash recorded" in explained
    assert len(_attrs(project, "setf_1")["cfg"]["values"][0]) == 5
    assert _cook(project)["ran"] == []


def test_a_stat_handler_for_the_tag_hashes_a_file_attributes_file(project):
    project.write(
        "g.py",
        """
        import zlib
        from pdgstore.engine import Graph, File

        graph = Graph("g")

        def first_line(local_path, raw_file, work_item):
            with open("handler.log", "a") as log:
                log.write(f"{raw_file.path} {raw_file.tag} {work_item.name}\\n")
            with open(local_path, "rb") as f:
                return zlib.crc32(f.readline())

        graph.types.register_stat_handler("file/config", first_line)
        r = graph.range_generate("r", 1)

        @graph.python_processor("setf", upstream=r)
        def setf(item):
            item.set_attrib("cfg", File("cfg.txt", "file/config"))
        """,
    )
    project.write("cfg.txt", "first\nsecond\n")
    _cook(project)
    import zlib

    record = _attrs(project, "setf_1")["cfg"]["values"][0]
    assert record[:2] == ["cfg.txt", "file/config"] and record[4] == str(zlib.crc32(b"first\n"))
    assert (project.root / "handler.log").read_text().splitlines() == ["cfg.txt file/config setf_1"]
    project.write("cfg.txt", "first\nSECOND\n")  # the handler's hash and the size are the same: not stale
    assert _cook(project)["ran"] == []
    project.write("cfg.txt", "other\nSECOND\n")
    assert _cook(project)["ran"] == ["setf_1"]
    assert _attrs(project, "setf_1")["cfg"]["values"][0][4] == str(zlib.crc32(b"other\n"))


def test_a_jobs_file_attributes_are_recorded_and_checked_as_an_in_process_items(project):
    project.write(
        "g.py",
        """
        import json
        from pdgstore.engine import Graph

        graph = Graph("g")
        r = graph.range_generate("r", 1)
        by_cmd = graph.python_script("by_cmd", r, "by_cmd.py")
        by_json = graph.python_script("by_json", r, "by_json.py")

        @graph.python_processor("use", upstream=[by_cmd, by_json])
        def use(item):
            item.set_attrib("a", json.load(open(item["cfg"].path))["a"])
        """,
    )
    project.write("by_cmd.py", "import pdgcmd\npdgcmd.setFileAttrib('cfg', 'cfg.json')\n")
    project.write(
        "by_json.py",
        "from pdgjson import WorkItem\nWorkItem.fromJobEnvironment().setFileAttrib('cfg', 'cfg.json')\n",
    )
    project.write("cfg.json", json.dumps({"a": 1}))
    assert _cook(project)["items"]["ran"] == 4
    for name in ("by_cmd_1", "by_json_1"):
        record = _attrs(project, name)["cfg"]["values"][0]
        assert record[:3] == ["cfg.json", "file", len('{"a": 1}')] and record[4], name
    assert _cook(project)["ran"] == []
    project.write("cfg.json", json.dumps({"a": 2}))
    assert sorted(_cook(project)["ran"]) == ["by_cmd_1", "by_json_1", "use_1", "use_1_1"]
    assert [_attrs(project, name)["a"]["values"] for name in ("use_1", "use_1_1")] == [[2], [2]]


def test_a_signature_hashes_a_file_attributes_path_tag_and_hash_and_nothing_else():
    """Items holding no recorded file attribute keep the signatures they had (a store's items are
    not remade by the upgrade); a recorded one counts its content hash, never its mtime."""
    import xxhash

    plain = {"n": ["int", [1]], "s": ["string", ["x"]], "f": ["file", [["cfg.json", "file"]]]}
    inputs = [["in/a.txt", "file/text", 3, 17, "aa"]]
    packed = msgpack.packb(["fp", sorted(plain.items()), [("in/a.txt", "file/text", "aa")], None], use_bin_type=True)
    assert signatures.item_signature("fp", plain, inputs) == xxhash.xxh3_64_hexdigest(packed)

    def with_record(mtime_ns: int, digest: str) -> dict:
        return {**plain, "f": ["file", [["cfg.json", "file", 8, mtime_ns, digest]]]}

    signed = signatures.item_signature("fp", with_record(1, "h1"), inputs)
    assert signatures.item_signature("fp", with_record(2, "h1"), inputs) == signed  # a touch
    assert signatures.item_signature("fp", with_record(1, "h2"), inputs) != signed
    assert attrfiles.attr_identity(with_record(1, "h1")["f"]) == ["file", [["cfg.json", "file", "h1"]]]
