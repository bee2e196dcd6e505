"""Hostile inputs, fuzzed with hypothesis (bounded examples, so CI runs them): damaged store bytes,
garbage payloads, hostile attribute values and file names. Every command on every case answers with
a sentence and a documented exit code, never a traceback, and leaves a file it refused byte for byte
as it was (issue 17)."""

from __future__ import annotations

import shutil
import sqlite3
import struct
from pathlib import Path

import pytest
from click.testing import CliRunner
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from reliability.helpers import file_bytes

from pdgstore.cli.main import pdg

GRAPH = """
import os
from pdgstore.engine import Graph

graph = Graph("fz")
r = graph.range_generate("r", graph.parm("count", 12))

@graph.python_processor("make", upstream=r)
def make(item):
    v = item.attrib_value("value")
    os.makedirs("out", exist_ok=True)
    with open(f"out/{v}.txt", "w") as f:
        f.write(str(v))
    item.add_output_file(f"out/{v}.txt")
    item.set_attrib("twice", v * 2)
"""

READ_COMMANDS = [
    ["status"], ["history"], ["items"], ["events"], ["stats"], ["check"], ["show", "make_1"],
    ["explain", "make_1"], ["diff", "1"], ["export", "--format", "jsonl", "-o", "export.jsonl"], ["status", "--json"],
]
#: header fields of an SQLite file worth hitting (offsets): page size, versions, reserved, payload
#: fractions, change counter, page count, freelist, schema cookie, format, cache, vacuum, encoding,
#: user version (our schema), incremental vacuum, application id (ours), version-valid-for, version
HEADER_FIELDS = [16, 18, 19, 20, 21, 22, 23, 24, 28, 32, 36, 40, 44, 48, 52, 56, 60, 64, 68, 92, 96]


@pytest.fixture(scope="module")
def pristine(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("pristine")
    (root / "fz.py").write_text(GRAPH)
    runner = CliRunner()
    import os

    old = os.getcwd()
    os.chdir(root)
    try:
        for count in ("12", "14"):
            assert runner.invoke(pdg, ["cook", "fz.py", "--set", f"count={count}"]).exit_code == 0
    finally:
        os.chdir(old)
    return root


def fresh(pristine: Path, tmp_path: Path, n: int) -> Path:
    root = tmp_path / f"case{n}"
    if root.exists():
        shutil.rmtree(root)
    shutil.copytree(pristine, root)
    return root


def run(root: Path, args: list[str]):
    import os

    old = os.getcwd()
    os.chdir(root)
    try:
        return CliRunner().invoke(pdg, args, catch_exceptions=True)
    finally:
        os.chdir(old)


def assert_sentence(result, args) -> None:
    """Exit 0, or a documented code with one ``pdg: ...`` line on stderr; never a traceback."""
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        import traceback

        raise AssertionError(
            f"pdg {' '.join(args)} raised:\n"
            + "".join(traceback.format_exception(result.exception))
        )
    assert result.exit_code in (0, 1, 2), (args, result.exit_code, result.output)
    assert "Traceback" not in result.stderr  # (pdg show prints an item's own recorded traceback on stdout)
    if result.exit_code == 1 and args[0].startswith("cook") and " failed: " in result.stderr:
        return  # a cook whose items failed: its summary names each failure
    if result.exit_code:
        lines = [line for line in result.stderr.splitlines() if line.strip()]
        assert len(lines) == 1 and lines[0].startswith("pdg: "), (args, result.stderr)


mutations = st.one_of(
    st.tuples(st.just("flip"), st.integers(0, 1 << 20), st.integers(1, 255)),
    st.tuples(st.just("header"), st.sampled_from(HEADER_FIELDS), st.binary(min_size=1, max_size=4)),
    st.tuples(st.just("truncate"), st.floats(0, 1), st.just(0)),
    st.tuples(st.just("wal"), st.binary(min_size=0, max_size=9000), st.just(0)),
)


def damage(db: Path, mutation) -> None:
    kind, a, b = mutation
    data = bytearray(db.read_bytes())
    if kind == "flip":
        data[a % len(data)] ^= b
    elif kind == "header":
        data[a : a + len(b)] = b
    elif kind == "truncate":
        del data[int(len(data) * a) :]
    else:
        Path(str(db) + "-wal").write_bytes(a)
        return
    db.write_bytes(bytes(data))


counter = iter(range(1 << 30))


@pytest.mark.timeout(600)
@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(mutation=mutations)
def test_damaged_store_bytes_get_a_sentence_and_stay_as_they_were(pristine, tmp_path, mutation):
    root = fresh(pristine, tmp_path, next(counter))
    db = root / ".pdg" / "pdg.db"
    damage(db, mutation)
    before = file_bytes(db)
    for args in READ_COMMANDS:
        result = run(root, args)
        assert_sentence(result, args)
        assert file_bytes(db) == before, (args, "a reader changed the store")
    result = run(root, ["cook", "fz.py", "--set", "count=14"])
    assert_sentence(result, ["cook"])
    if result.exit_code == 2:  # refused: never touched
        assert file_bytes(db) == before


@pytest.mark.timeout(600)
@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(payload=st.binary(max_size=64) | st.sampled_from([b"\x91\xc1", b"\xdd\xff\xff\xff\xff", b"\xa3\xff\xfe\xfd"]),
       which=st.integers(1, 200), column=st.sampled_from(["payload", "kind", "subject"]))
def test_garbage_in_a_stored_event_gets_a_sentence(pristine, tmp_path, payload, which, column):
    root = fresh(pristine, tmp_path, next(counter))
    db = root / ".pdg" / "pdg.db"
    conn = sqlite3.connect(db, isolation_level=None)
    last = conn.execute("SELECT max(seq) FROM events").fetchone()[0]
    value = payload if column == "payload" else payload.decode("latin-1")
    conn.execute(f"UPDATE events SET {column} = ? WHERE seq = ?", (value, which % last + 1))
    conn.execute("DELETE FROM snapshots")  # replay reads the damaged event
    conn.close()
    for args in READ_COMMANDS:
        assert_sentence(run(root, args), args)
    assert_sentence(run(root, ["cook", "fz.py", "--set", "count=14"]), ["cook"])


@pytest.mark.timeout(120)
@pytest.mark.parametrize("column", ["body", "detail"])
@pytest.mark.parametrize("garbage", [b"\xa3\xff\xfe\xfd", b"\x92\x01"])
def test_a_damaged_item_row_gets_a_sentence_naming_the_store(pristine, tmp_path, column, garbage):
    """Bytes in an ``items`` row that are not what pdgstore writes (a string that is not UTF-8, a
    list of the wrong length), met by a read after the store opened: one sentence that names the
    store, exit 2, the file left as it was. A fuzzed store once made ``pdg items`` raise a
    ``UnicodeDecodeError``."""
    root = fresh(pristine, tmp_path, next(counter))
    db = root / ".pdg" / "pdg.db"
    conn = sqlite3.connect(db, isolation_level=None)
    conn.execute(f"UPDATE items SET {column} = ? WHERE name = 'make_1'", (garbage,))
    conn.close()
    before = file_bytes(db)
    for args in (["items"], ["items", "make", "--json"], ["show", "make_1"], ["explain", "make_1"]):
        result = run(root, args)
        assert_sentence(result, args)
        if column == "body" or args[0] == "show":  # only ``show`` reads an item's detail
            assert result.exit_code == 2, (args, result.output)
            assert "pdg.db is corrupt" in result.stderr, (args, result.stderr)
        assert file_bytes(db) == before


@pytest.mark.timeout(120)
def test_a_payload_with_a_wrong_field_name_gets_a_sentence(pristine, tmp_path):
    """A stored event whose payload decodes to as many fields as its kind has, one of them under
    another name (what a page SQLite reads back partly zeroed gave a fuzzed store): ``pdg events``
    listed it as far as that field and raised ``AttributeError``; now the store's sentence."""
    import msgpack

    root = fresh(pristine, tmp_path, next(counter))
    db = root / ".pdg" / "pdg.db"
    conn = sqlite3.connect(db, isolation_level=None)
    seq, blob = conn.execute("SELECT seq, payload FROM events WHERE kind = 'WorkItemCooked' LIMIT 1").fetchone()
    payload = msgpack.unpackb(blob)
    payload["patches"] = payload.pop("patched")
    conn.execute("UPDATE events SET payload = ? WHERE seq = ?", (msgpack.packb(payload), seq))
    conn.close()
    before = file_bytes(db)
    for args in (["events"], ["events", "--json"]):
        result = run(root, args)
        assert_sentence(result, args)
        assert result.exit_code == 2 and "pdg.db is corrupt" in result.stderr, (args, result.stderr)
        assert file_bytes(db) == before
    for args in READ_COMMANDS:  # those that meet the event say the same; none raises
        assert_sentence(run(root, args), args)
        assert file_bytes(db) == before


VALUE_GRAPH = """
from pdgstore.engine import Graph

graph = Graph("vals")
r = graph.range_generate("r", 1)

@graph.python_processor("set", upstream=r)
def set_(item):
    import pickle
    item.set_attrib("v", pickle.loads(bytes.fromhex({hex!r})))
"""

values = st.recursive(
    st.none() | st.booleans() | st.integers(-(1 << 80), 1 << 80) | st.floats(allow_nan=True)
    | st.text(st.characters(codec="utf-8") | st.sampled_from(["\udcff", "\n", "\x00"]), max_size=20),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=5), inner, max_size=4),
    max_leaves=12,
)


@pytest.mark.timeout(600)
@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(value=values)
def test_any_attribute_value_is_held_or_refused_with_a_sentence(tmp_path, value):
    import pickle

    root = tmp_path / f"v{next(counter)}"
    root.mkdir()
    (root / "vals.py").write_text(VALUE_GRAPH.replace("{hex!r}", repr(pickle.dumps(value).hex())))
    result = run(root, ["cook", "vals.py"])
    assert_sentence(result, ["cook"])
    for args in (["check"], ["status"], ["show", "set_1"]):
        assert_sentence(run(root, args), args)
    assert run(root, ["check"]).exit_code == 0
    assert_sentence(run(root, ["cook", "vals.py"]), ["cook again"])
    assert run(root, ["check"]).exit_code == 0


NAME_GRAPH = """
import os
from pdgstore.engine import Graph

graph = Graph("names")
r = graph.range_generate("r", 1)

@graph.python_processor("write", upstream=r)
def write(item):
    name = os.fsdecode(bytes.fromhex({hex!r}))
    folder = os.path.dirname(name)
    if folder:
        os.makedirs(folder, exist_ok=True)
    with open(name, "w") as f:
        f.write("x")
    item.add_output_file(name)
"""

names = st.one_of(
    st.text(st.characters(codec="utf-8", exclude_characters="/\x00"), min_size=1, max_size=12),
    st.sampled_from(["a\nb.txt", "../escape.txt", "../../x.txt", "link/out.txt", "sub/../ok.txt",
                     "\udcff.txt", "caf\udce9/x.txt", "./dot.txt", "deep/er/file.txt"]),
)


@pytest.mark.timeout(600)
@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(name=names)
def test_any_output_file_name_is_recorded_inside_or_refused_with_a_sentence(tmp_path, name):
    if name in (".", ".."):
        return
    base = tmp_path / f"n{next(counter)}"
    root = base / "proj"
    root.mkdir(parents=True)
    (base / "outside").mkdir()
    (root / "link").symlink_to(base / "outside", target_is_directory=True)
    (root / "names.py").write_text(NAME_GRAPH.replace("{hex!r}", repr(os.fsencode(name).hex())))
    result = run(root, ["cook", "names.py"])
    assert_sentence(result, ["cook"])
    for args in (["check"], ["status"], ["show", "write_1"], ["items"]):
        assert_sentence(run(root, args), args)
    assert run(root, ["check"]).exit_code == 0
    # nothing outside the project was recorded as an output
    from pdgstore.log import EventLog

    with EventLog.open(str(root / ".pdg" / "pdg.db")) as log:
        for item in log.load_state().items.values():
            for out in item.outputs:
                assert not out[0].startswith("/") and not out[0].startswith(".."), out


import os  # noqa: E402  (used by the strategies' graphs above)


class _Sink:
    def __init__(self) -> None:
        self.calls = []

    def set_attrib(self, item_id, name, values, kind):
        self.calls.append(("attrib", item_id, name))

    def add_output_files(self, item_id, files):
        self.calls.append(("outputs", item_id, files))

    def report_status(self, item_id, ok, message=""):
        self.calls.append(("status", item_id, ok))

    def warning(self, item_id, message, refusal=False):
        pass

    def log_line(self, item_id, text, level="info"):
        self.calls.append(("log", item_id))


rpc_values = st.recursive(
    st.none() | st.booleans() | st.integers(-(1 << 31), (1 << 31) - 1) | st.floats(allow_nan=False)
    | st.text(st.characters(codec="utf-8", exclude_categories=["Cs", "Cc"]), max_size=30) | st.binary(max_size=20),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=5), inner, max_size=3),
    max_leaves=10,
)


@pytest.fixture(scope="module")
def rpc_server(tmp_path_factory):
    from pdgstore.engine.schedulers.resultserver import ResultServer

    sink = _Sink()
    server = ResultServer(sink, tmp_path_factory.mktemp("rpc"))
    server.start()
    server.allow("id1", "item_1")
    yield server
    server.stop()


@pytest.mark.timeout(300)
@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    method=st.sampled_from(["set_attrib", "add_output_files", "report_status", "warning", "append_log",
                            "keepalive", "get_workitem_json", "system.multicall", "nope", "__init__", "_dispatch"]),
    params=st.lists(rpc_values, max_size=5),
)
def test_any_result_server_call_is_answered_and_the_server_lives_on(rpc_server, method, params):
    import xmlrpc.client

    proxy = xmlrpc.client.ServerProxy(f"http://{rpc_server.address}/RPC2/{rpc_server.secret}", allow_none=True)
    try:
        proxy._ServerProxy__request(method, tuple(params))  # any name, sent as it is
    except xmlrpc.client.Fault:
        pass  # refused, with a fault code and a sentence
    # the server still answers a well-formed call
    assert proxy.keepalive(["id1", 0, f"alive{next(counter)}"]) is True
