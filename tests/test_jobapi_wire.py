"""The job's side of the Job API wire (``pdgrpc``, ``pdgcmd``): what a job sends is what the
stdlib's XML-RPC client would send, a batch of one report is that report's own call, and a job
reads its item file once.

``pdgrpc.request_body`` writes a call's XML itself (the stdlib's marshaller cost a good part of a
report): for every value the stdlib writes it must give the same bytes, and for every value the
stdlib refuses the same refusal."""

from __future__ import annotations

import datetime
import json
import os
import socketserver
import subprocess
import sys
import threading
import xmlrpc.client
from pathlib import Path
from xmlrpc.server import SimpleXMLRPCRequestHandler, SimpleXMLRPCServer

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pdgstore.engine.schedulers.jobapi import pdgrpc

pytestmark = pytest.mark.timeout(120)

JOBAPI = os.path.dirname(pdgrpc.__file__)

scalars = (
    st.integers(min_value=pdgrpc.XMLRPC_INT_MIN, max_value=pdgrpc.XMLRPC_INT_MAX)
    | st.booleans()
    | st.floats()
    | st.text()
    | st.none()
)
values = st.recursive(
    scalars,
    lambda inner: st.lists(inner, max_size=4)
    | st.tuples(inner, inner)
    | st.dictionaries(st.text(max_size=8), inner, max_size=4),
    max_leaves=12,
)
methods = st.text(min_size=1, max_size=20) | st.sampled_from(["set_attrib", "system.multicall", "add_output_files"])


def stdlib(method: str, params: tuple):
    try:
        return xmlrpc.client.dumps(params, method, allow_none=True).encode("utf-8", "xmlcharrefreplace")
    except Exception as exc:  # noqa: BLE001 - whatever the stdlib refuses
        return (type(exc), str(exc))


def ours(method: str, params: tuple):
    try:
        return pdgrpc.request_body(method, params)
    except Exception as exc:  # noqa: BLE001
        return (type(exc), str(exc))


@settings(max_examples=400, deadline=None)
@given(methods, st.lists(values, max_size=4).map(tuple))
def test_a_request_is_written_as_the_stdlib_writes_it(method, params):
    assert ours(method, params) == stdlib(method, params)


@pytest.mark.parametrize(
    "params",
    [
        (1 << 31,),  # wider than XML-RPC's int: both refuse it
        ([1, -(1 << 31) - 1],),
        ({1: "not a string key"},),
        (b"bytes",),
        (xmlrpc.client.Binary(b"\x00\x01"),),
        (datetime.datetime(2026, 12, 4, 22, 0, 0),),
        (["a", {"when": datetime.datetime(2026, 1, 1)}],),
        (True, 1, 1.0, "1"),
        (float("nan"), float("inf"), -0.0),
    ],
)
def test_values_of_other_kinds_are_written_or_refused_as_the_stdlib_does(params):
    assert ours("set_attrib", params) == stdlib("set_attrib", params)


def test_a_list_holding_itself_is_refused_as_the_stdlib_refuses_it():
    looped: list = [1]
    looped.append(looped)
    assert ours("set_attrib", (looped,)) == stdlib("set_attrib", (looped,))


class _Recorder(SimpleXMLRPCRequestHandler):
    rpc_paths = ("/RPC2/secret",)


@pytest.fixture
def server():
    """A plain XML-RPC server on 127.0.0.1 that answers reports as the result server does
    (``True``), and records each request's method."""
    seen: list[str] = []
    srv = SimpleXMLRPCServer(("127.0.0.1", 0), requestHandler=_Recorder, allow_none=True, logRequests=False)

    def set_attrib(key, name, kind, values):
        seen.append(f"set_attrib {name} {values}")
        return True

    srv.register_function(set_attrib, "set_attrib")
    srv.register_multicall_functions()
    original = srv._marshaled_dispatch

    def dispatch(data, dispatch_method=None, path=None):
        seen.append(xmlrpc.client.loads(data)[1])
        return original(data, dispatch_method, path)

    srv._marshaled_dispatch = dispatch
    thread = threading.Thread(target=srv.serve_forever, daemon=True)
    thread.start()
    try:
        yield srv, seen
    finally:
        srv.shutdown()
        srv.server_close()


def run_job(srv, tmp_path: Path, code: str) -> subprocess.CompletedProcess:
    env = {
        **os.environ,
        "PYTHONPATH": JOBAPI,
        "PDG_RESULT_SERVER": f"127.0.0.1:{srv.server_address[1]}",
        "PDG_RESULT_SECRET": "secret",
        "PDG_ITEM_ID": "id42",
        "PDG_ITEM_NAME": "job_1",
        "PDG_TEMP": str(tmp_path),
    }
    return subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=60)


def test_a_batch_of_one_report_is_that_report_s_own_call(server, tmp_path):
    srv, seen = server
    code = (
        "import pdgcmd\n"
        "with pdgcmd.batch():\n    pdgcmd.setIntAttrib('one', 1)\n"
        "with pdgcmd.batch():\n    pdgcmd.setIntAttrib('two', 2)\n    pdgcmd.setIntAttrib('three', 3)\n"
    )
    done = run_job(srv, tmp_path, code)
    assert done.returncode == 0, done.stderr
    assert seen == [
        "set_attrib",
        "set_attrib one [1]",
        "system.multicall",
        "set_attrib two [2]",
        "set_attrib three [3]",
    ]


def test_an_indexed_setter_starts_from_the_item_file_read_once(server, tmp_path):
    srv, seen = server
    (tmp_path / "data").mkdir()
    attributes = {name: {"type": "int", "values": [5, 6]} for name in ("a", "b", "c")}
    (tmp_path / "data" / "job_1.json").write_text(json.dumps({"attributes": attributes}))
    code = (
        "import pdgcmd, pdgattrs\n"
        "reads = []\n"
        "load = pdgattrs.load_item_data\n"
        "pdgattrs.load_item_data = lambda *a: reads.append(1) or load(*a)\n"
        "for name in 'abc':\n    pdgcmd.setIntAttrib(name, 9, 2)\n"
        "print(len(reads))\n"
    )
    done = run_job(srv, tmp_path, code)
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["1"]
    assert [s for s in seen if s.startswith("set_attrib ")] == [f"set_attrib {n} [5, 6, 9]" for n in "abc"]


def test_a_job_imports_neither_the_stdlib_s_http_nor_its_xml_rpc(server, tmp_path):
    """Every Python job imports ``pdgcmd``: ``xmlrpc.client`` would bring ``http.client``, ``email``
    and ``ssl`` with it (more than a bare interpreter's whole start). A job's reports and their
    usual answers need none of them."""
    srv, seen = server
    code = (
        "import sys, pdgcmd, pdgattrs\n"
        "pdgcmd.setIntAttrib('n', 1)\n"
        "pdgcmd.setStringAttrib('s', 'text', 2)\n"
        "heavy = ('xmlrpc', 'http', 'email', 'ssl', 'uuid', 'datetime')\n"
        "print(' '.join(sorted(m for m in sys.modules if m.split('.')[0] in heavy)))\n"
    )
    done = run_job(srv, tmp_path, code)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == ""
    assert [s for s in seen if s.startswith("set_attrib ")] == ["set_attrib n [1]", "set_attrib s ['', '', 'text']"]


answer_values = st.recursive(
    st.integers(min_value=pdgrpc.XMLRPC_INT_MIN, max_value=pdgrpc.XMLRPC_INT_MAX) | st.booleans() | st.floats() | st.text(),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
    max_leaves=12,
)


@settings(max_examples=200, deadline=None)
@given(answer_values)
def test_an_answer_is_written_as_the_stdlib_writes_it(value):
    """The answers a job knows by their bytes (``_KNOWN_ANSWERS``) are written by ``answer_body``:
    it must give the stdlib's bytes, which the server sends."""
    assert pdgrpc.answer_body(value) == xmlrpc.client.dumps((value,), methodresponse=True).encode()


def test_the_known_answers_read_as_the_stdlib_reads_them():
    for body, values in pdgrpc._KNOWN_ANSWERS.items():
        assert xmlrpc.client.loads(body)[0] == values


class _Canned(socketserver.ThreadingTCPServer):
    """A server on 127.0.0.1 that answers every request with the same bytes (a whole HTTP answer),
    keeping the connection, and counts the requests."""

    daemon_threads = True

    def __init__(self, answer: bytes) -> None:
        super().__init__(("127.0.0.1", 0), _CannedHandler)
        self.answer, self.requests = answer, 0
        self.address = f"127.0.0.1:{self.server_address[1]}"
        threading.Thread(target=self.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.shutdown()
        self.server_close()


class _CannedHandler(socketserver.StreamRequestHandler):
    server: _Canned

    def handle(self) -> None:
        while True:
            length = None
            while (line := self.rfile.readline()) not in (b"\r\n", b""):
                name, _, value = line.partition(b":")
                if name.lower() == b"content-length":
                    length = int(value)
            if length is None:
                return
            self.rfile.read(length)
            self.server.requests += 1
            self.wfile.write(self.server.answer)


def _http(body: bytes, status: str = "200 OK") -> bytes:
    return b"HTTP/1.1 %s\r\nContent-Type: text/xml\r\nContent-Length: %d\r\n\r\n%s" % (status.encode(), len(body), body)


def _call_through(answer: bytes):
    canned = _Canned(answer)
    try:
        client = pdgrpc.Client(canned.address, "s3cr3t-token", timeout=5, retries=1, backoff=0.01)
        try:
            return client.call("set_attrib", ["job_1", 0, "1-a.1"], "n", "int", [1], what="attribute 'n'"), canned.requests
        except SystemExit as exc:
            return exc, canned.requests
    finally:
        canned.close()


def test_an_unusual_answer_is_read_by_the_stdlib_s_reader():
    value, requests = _call_through(_http(xmlrpc.client.dumps((["a", {"b": 2.5}],), methodresponse=True).encode()))
    assert value == ["a", {"b": 2.5}] and requests == 1


def test_a_fault_refuses_the_report_with_the_server_s_words():
    fault = xmlrpc.client.dumps(xmlrpc.client.Fault(2, "result server: no such item"), methodresponse=True)
    refused, requests = _call_through(_http(fault.encode()))
    assert isinstance(refused, pdgrpc.ReportRefused) and requests == 1
    assert str(refused) == "pdgcmd: the result server refused attribute 'n': result server: no such item"


@pytest.mark.parametrize(
    "answer, said",
    [
        (_http(b"", "401 Unauthorized"), "HTTPStatusError: the result server answered HTTP 401 Unauthorized"),
        (_http(b"<methodResponse><params><param><value><int>x"), "BadAnswer: the result server's answer is not XML-RPC"),
        (b"HTTP/1.1 200 OK\r\nContent-Type: text/xml\r\n\r\n", "BadAnswer: the result server answered without a Content-Length"),
        (b"SMTP ready\r\n\r\n", "BadAnswer: the result server's answer began b'SMTP ready\\r\\n'"),
    ],
    ids=["status", "not-xml", "no-length", "not-http"],
)
def test_a_broken_answer_is_tried_again_and_then_named_without_the_secret(answer, said):
    gone, requests = _call_through(answer)
    assert isinstance(gone, pdgrpc.ServerGone) and requests == 2, gone
    assert said in str(gone) and "s3cr3t" not in str(gone)


def test_a_job_s_memory_usage_is_its_own_not_its_starter_s():
    """``pdgjson.getMemoryUsage`` in a job started by a big process (a cook, a worker): the job's
    own peak, not the starter's pages that the job shared until its exec (``ru_maxrss`` counts those)."""
    held = bytearray(256 << 20)
    held[:: 4096] = b"\x01" * len(range(0, len(held), 4096))  # resident, page by page
    code = "import pdgjson; print(pdgjson.getMemoryUsage())"
    env = {**os.environ, "PYTHONPATH": JOBAPI}
    done = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    used = int(done.stdout)
    assert 1 << 20 < used < 128 << 20, f"{used / (1 << 20):.1f} MB"
    del held
