"""The result server with a recording sink, called by real job processes through pdgjson/pdgcmd and
by forged clients over real sockets: reports arrive once, anything forged is refused and changes nothing."""

from __future__ import annotations

import gzip
import http.client
import json
import os
import socket
import subprocess
import sys
import threading
import time
import xmlrpc.client
from pathlib import Path

import pytest

from pdgstore.engine.schedulers import jobdata
from pdgstore.engine.schedulers import reportcheck
from pdgstore.engine.graph.attribs import typed
from pdgstore.engine.schedulers.resultserver import ResultServer
from pdgstore.engine.graph.workitem import WorkItem


class RecordingSink:
    """Records every effect; ``refuse`` makes set_attrib of that name raise ValueError."""

    def __init__(self) -> None:
        self.calls: list[tuple] = []
        self.warnings: list[tuple] = []
        self.refuse: str | None = None
        self._lock = threading.Lock()

    def set_attrib(self, item_id, name, values, kind):
        if name == self.refuse:
            raise ValueError(f"attribute {name} is read-only")
        with self._lock:
            self.calls.append(("attrib", item_id, name, kind, values))

    def add_output_files(self, item_id, files):
        with self._lock:
            self.calls.append(("outputs", item_id, [list(f) for f in files]))

    def report_status(self, item_id, ok, message=""):
        with self._lock:
            self.calls.append(("status", item_id, ok, message))

    def warning(self, item_id, message, refusal=False):
        with self._lock:
            self.warnings.append((item_id, message))

    def log_line(self, item_id, text, level="info"):
        with self._lock:
            self.calls.append(("log", item_id, text, level))


@pytest.fixture
def project(tmp_path):
    root = tmp_path / "project"
    root.mkdir()
    return root


@pytest.fixture
def server(project):
    sink = RecordingSink()
    srv = ResultServer(sink, project)
    srv.start()
    srv.allow("id42", "render_4")
    yield srv
    srv.stop()


FAST = {"PDG_RPC_TIMEOUT": "1", "PDG_RPC_RETRIES": "1", "PDG_RPC_BACKOFF": "0.1"}


def write_item(project: Path, temp: Path) -> None:
    item = WorkItem(item_id="id42", name="render_4", index=4, node="render",
                    attrs={"frame": typed(4.0), "res": typed([64, 48]), "names": typed(["a", "b"])},
                    inputs=[["in/a.txt", "file/text", 3, 1, "h"]], outputs=[], root=str(project))
    jobdata.write_item_json(item, jobdata.item_json_path(temp, item.name))


def run_job(server: ResultServer, project: Path, code: str, extra: dict | None = None,
            timeout: float = 30) -> subprocess.CompletedProcess:
    temp = project.parent / "temp"
    scripts = jobdata.install_job_modules(temp)
    write_item(project, temp)
    env = {"PATH": os.environ["PATH"], "PYTHONPATH": str(scripts), "PDG_TEMP": str(temp),
           "PDG_ITEM_NAME": "render_4", "PDG_ITEM_ID": "id42", **server.environment(), **FAST, **(extra or {})}
    return subprocess.run([sys.executable, "-c", code], env=env, cwd=project, capture_output=True, text=True,
                          timeout=timeout)


def failed_with(done: subprocess.CompletedProcess, text: str) -> None:
    """The job stopped at the failing report, exit status 1, one clear line and no traceback."""
    assert done.returncode == 1
    assert "after" not in done.stdout
    assert text in done.stderr and "Traceback" not in done.stderr


def forged(server: ResultServer, secret: str | None = None) -> xmlrpc.client.ServerProxy:
    return xmlrpc.client.ServerProxy(f"http://{server.address}/RPC2/{server.secret if secret is None else secret}")


JOB = r'''
import os, pdgcmd
from pdgjson import File, WorkItem
w = WorkItem.fromJobEnvironment()
w.setStringAttrib("label", "frame %d" % w.frame)
w.setIntAttrib("count", 7)
w.setIntAttrib("big", 5_000_000_000)
w.setFloatAttrib("gamma", 2.2)
w.setIntAttrib("res", 96, 1)                      # index into the item's own array
w.setStringAttrib("names", "z", 3)                # beyond the end: padded like PDG
w.setFloatAttribArray("weights", [0.5, 1, 2])
w.setStringAttribArray("tags", ["x", "y"])
w.setIntAttribArray("none", [])
w.setFileAttrib("tex", File("tex/wood.png", "file/image"))
w.setFileAttrib("maps", [File("m/a.exr", "file/image/exr"), File("m/b.exr", "file/image/exr")])
w.setDictAttrib("meta", {"k": [1, 2.5, "s", True], "n": {"x": None is None}})
os.makedirs("out", exist_ok=True)
open("out/f4.png", "w").write("png")
w.addOutputFile("out/f4.png", "file/image", "abc")
w.addOutputFiles(["out/a.txt", "out/b.txt"], ["file/text", "file/text/csv"])
pdgcmd.setStringAttrib("via_cmd", "c")
pdgcmd.warning("almost out of disk")
assert w.attribArray("res") == [64, 96] and w.intAttribValue("count") == 7
assert [f.tag for f in w.outputFiles] == ["file/image", "file/text", "file/text/csv"]
pdgcmd.workItemSuccess()
print("done")
'''


def test_reports_from_a_job_arrive(server, project):
    done = run_job(server, project, JOB)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip().splitlines()[-1] == "done"
    sink = server.sink
    attribs = {c[2]: (c[3], c[4]) for c in sink.calls if c[0] == "attrib"}
    assert all(c[1] == "id42" for c in sink.calls)
    assert attribs == {
        "label": ("str", ["frame 4"]), "count": ("int", [7]), "big": ("int", [5_000_000_000]),
        "gamma": ("float", [2.2]), "res": ("int", [64, 96]), "names": ("str", ["a", "b", "", "z"]),
        "weights": ("float", [0.5, 1.0, 2.0]), "tags": ("str", ["x", "y"]), "none": ("int", []),
        "tex": ("file", [["tex/wood.png", "file/image"]]),
        "maps": ("file", [["m/a.exr", "file/image/exr"], ["m/b.exr", "file/image/exr"]]),
        "meta": ("dict", [{"k": [1, 2.5, "s", True], "n": {"x": True}}]), "via_cmd": ("str", ["c"]),
    }
    outputs = [c[2] for c in sink.calls if c[0] == "outputs"]
    assert outputs == [[["out/f4.png", "file/image", "abc"]],
                       [["out/a.txt", "file/text", ""], ["out/b.txt", "file/text/csv", ""]]]
    assert ("status", "id42", True, "") in sink.calls
    assert sink.warnings == [("id42", "almost out of disk")]


BATCH_JOB = r'''
import pdgcmd
from pdgjson import WorkItem
w = WorkItem.fromJobEnvironment()
with w.batch():
    for i in range(50):
        w.setIntAttrib("a%d" % i, i)
    w.setStringAttrib("names", "c", 2)
    w.addOutputFile("out/x.png", "file/image")
    with pdgcmd.batch():  # joins the outer batch
        pdgcmd.workItemSuccess()
    assert w.attribArray("names") == ["a", "b", "c"]
print("ok")
'''


def test_batched_reports_travel_in_one_request(server, project):
    done = run_job(server, project, BATCH_JOB)
    assert done.returncode == 0, done.stderr
    assert server.requests == 1
    calls = server.sink.calls
    assert len(calls) == 53
    assert calls[:2] == [("attrib", "id42", "a0", "int", [0]), ("attrib", "id42", "a1", "int", [1])]
    assert calls[50:] == [("attrib", "id42", "names", "str", ["a", "b", "c"]),
                          ("outputs", "id42", [["out/x.png", "file/image", ""]]), ("status", "id42", True, "")]


def test_a_refused_report_in_a_batch_fails_the_job_after_the_others_apply(server, project):
    code = ("import pdgcmd\nwith pdgcmd.batch():\n    pdgcmd.setIntAttrib('a', 1)\n"
            "    pdgcmd.addOutputFile('/etc/passwd')\n    pdgcmd.setIntAttrib('b', 2)\nprint('after')")
    done = run_job(server, project, code)
    failed_with(done, "refused output files ['/etc/passwd']: result server: /etc/passwd is outside the project")
    assert server.sink.calls == [("attrib", "id42", "a", "int", [1]), ("attrib", "id42", "b", "int", [2])]


def test_job_reports_failure_with_message(server, project):
    # SideFX's signature: workItemFailed(workitem_id=None, ...); the reason goes in a warning first
    done = run_job(server, project, "import pdgcmd; pdgcmd.warning('no license'); pdgcmd.workItemFailed()")
    assert done.returncode == 0, done.stderr
    assert server.sink.calls == [("status", "id42", False, "")]
    assert ("id42", "no license") in server.sink.warnings


def test_calls_by_item_name_are_accepted(server, project):
    done = run_job(server, project, "import pdgcmd; pdgcmd.setIntAttrib('n', 1)", {"PDG_ITEM_ID": ""})
    assert done.returncode == 0, done.stderr
    assert server.sink.calls == [("attrib", "id42", "n", "int", [1])]


def key(n: int, item: str = "id42", attempt: int = 0) -> list:
    return [item, attempt, f"test.{n}"]


def refused(call, code: int) -> str:
    with pytest.raises(xmlrpc.client.Fault) as info:
        call()
    assert info.value.faultCode == code, info.value.faultString
    return info.value.faultString


def test_bad_secret_is_refused_before_parsing(server):
    sink = server.sink
    msg = refused(lambda: forged(server, "wrong").set_attrib(key(1), "x", "int", [1]), reportcheck.FAULT_AUTH)
    assert "secret" in msg
    refused(lambda: xmlrpc.client.ServerProxy(f"http://{server.address}/RPC2").set_attrib(key(2), "x", "int", [1]),
            reportcheck.FAULT_AUTH)
    # not XML at all: had it been parsed, the fault would be a parse error, not the secret
    conn = http.client.HTTPConnection(server.address)
    conn.request("POST", "/RPC2/nope", body=b"<!DOCTYPE lol [<!ENTITY a 'aaaa'>]><x>&a;</x>",
                 headers={"Content-Type": "text/xml"})
    body = conn.getresponse().read()
    assert b"<int>401</int>" in body
    assert sink.calls == []
    assert len(sink.warnings) == 3 and all(w[0] is None and "secret" in w[1] for w in sink.warnings)


def test_unknown_or_finished_item_is_refused(server):
    p = forged(server)
    msg = refused(lambda: p.set_attrib(key(1, "other"), "x", "int", [1]), reportcheck.FAULT_NOT_COOKING)
    assert "'other' is not cooking" in msg
    server.allow("id7", "gen_7")
    assert p.set_attrib(key(1, "gen_7"), "x", "int", [1]) is True
    server.disallow("id7")
    refused(lambda: p.set_attrib(key(2, "id7"), "x", "int", [2]), reportcheck.FAULT_NOT_COOKING)
    refused(lambda: p.report_status(key(3, "gen_7"), True, ""), reportcheck.FAULT_NOT_COOKING)
    assert server.sink.calls == [("attrib", "id7", "x", "int", [1])]
    assert [w[0] for w in server.sink.warnings] == [None, None, None]


@pytest.mark.parametrize("args, problem", [
    ((key(1), "x", "int", ["12a"]), "attribute x is int, but a value is str"),
    ((key(1), "x", "int", [True]), "attribute x is int, but a value is bool"),
    ((key(1), "x", "int", [str(1 << 64)]), "attribute x is int, but a value is str"),
    ((key(1), "x", "float", ["1.0"]), "attribute x is float"),
    ((key(1), "x", "str", [1]), "attribute x is str"),
    ((key(1), "x", "blob", [1]), "type 'blob' is not one of"),
    ((key(1), "x", "int", 5), "values must be an array"),
    ((key(1), "1x", "int", [1]), "is not an attribute name"),
    ((key(1), "x", "file", ["a.txt"]), "a file value is [path, tag]"),
    ((key(1), "x", "file", [["../../etc/passwd", "file"]]), "is outside the project"),
    ((key(1), "x", "file", [["/etc/passwd", "file"]]), "is outside the project"),
    ((key(1), "x", "dict", [{"when": xmlrpc.client.DateTime(0)}]), "dicts hold strings"),
    (("id42", "x", "int", [1]), "a report key is [item, attempt, number]"),
    (([("id42"), -1, "n"], "x", "int", [1]), "a report key is"),
])
def test_wrong_values_are_refused_and_change_nothing(server, args, problem):
    msg = refused(lambda: forged(server).set_attrib(*args), reportcheck.FAULT_INVALID)
    assert problem in msg
    assert server.sink.calls == []
    assert server.sink.warnings[-1][1] == msg


def test_a_job_does_not_send_what_the_server_would_refuse_unread(server, project):
    """Over the body limit the server answers without reading, so the job's send would end in a
    broken pipe: pdgcmd checks the size first and fails with the reason instead, which it tells the
    server (an error in the item's log: its error then says why) rather than the attribute."""
    done = run_job(server, project, "import pdgcmd\npdgcmd.setStringAttrib('s', 'x' * (1 << 20))\nprint('after')")
    failed_with(done, "pdgcmd: attribute 's' cannot be sent: the request is ")
    assert "bytes, over the result server's limit of 1048576" in done.stderr
    assert server.requests == 1
    [(what, _, text, level)] = server.sink.calls
    assert (what, level) == ("log", "error") and text == done.stderr.strip().splitlines()[-1]


def test_a_batch_over_the_limit_is_sent_in_parts(server, project):
    code = ("import pdgcmd\nwith pdgcmd.batch():\n    for i in range(8):\n"
            "        pdgcmd.setStringAttrib('s%d' % i, str(i) * 200_000)\nprint('after')")
    done = run_job(server, project, code)
    assert done.returncode == 0, done.stderr
    assert server.requests == 2  # 8 x 200 kB is over 1 MiB: two halves of 4
    assert [(c[2], len(c[4][0])) for c in server.sink.calls] == [(f"s{i}", 200_000) for i in range(8)]


def test_oversized_strings_are_refused(server, project):
    small = ResultServer(server.sink, project, max_string=10)
    with small:
        small.allow("id42", "render_4")
        q = forged(small)
        msg = refused(lambda: q.set_attrib(key(2), "s", "str", ["0123456789", "0123456789a"]),
                      reportcheck.FAULT_TOO_LARGE)
        assert "attribute s: a string of 11 bytes is refused (the limit is 10)" in msg
        msg = refused(lambda: q.warning(key(3), "\u00e9" * 6), reportcheck.FAULT_TOO_LARGE)
        assert "12 bytes" in msg
        refused(lambda: q.report_status(key(4), False, "m" * 11), reportcheck.FAULT_TOO_LARGE)
        assert q.set_attrib(key(5), "s", "str", ["0123456789"]) is True
    assert server.sink.calls == [("attrib", "id42", "s", "str", ["0123456789"])]


def test_outside_paths_allowed_when_asked(project):
    sink = RecordingSink()
    with ResultServer(sink, project, allow_outside=True) as srv:
        srv.allow("id1", "a_1")
        forged(srv).add_output_files(key(1, "id1"), [["/elsewhere/x.png", "file/image", 12345], ["in/y", "", ""]])
    assert sink.calls == [("outputs", "id1", [["/elsewhere/x.png", "file/image", "12345"], ["in/y", "", ""]])]


def raw_post(server: ResultServer, body: bytes, headers: dict, path: str | None = None) -> bytes:
    conn = http.client.HTTPConnection(server.address, timeout=5)
    conn.putrequest("POST", path or f"/RPC2/{server.secret}")
    for k, v in headers.items():
        conn.putheader(k, v)
    conn.endheaders()
    conn.send(body)
    return conn.getresponse().read()


def test_body_limits_and_compression_are_refused_unread(server):
    call = xmlrpc.client.dumps((key(1), "x", "int", [1]), "set_attrib").encode()
    # a claimed 10 MB body of which nothing more is sent: answered at once, without waiting to read it
    answer = raw_post(server, call[:10], {"Content-Length": str(10 << 20), "Content-Type": "text/xml"})
    assert b"<int>413</int>" in answer  # answered while 10 MB are still owed: it never waited to read them
    answer = raw_post(server, gzip.compress(call), {"Content-Length": str(len(gzip.compress(call))),
                                                    "Content-Encoding": "gzip"})
    assert b"<int>415</int>" in answer
    answer = raw_post(server, call, {"Transfer-Encoding": "chunked"})
    assert b"<int>413</int>" in answer
    answer = raw_post(server, call, {"Content-Length": "\u00b2"})  # a digit to str.isdigit, not to int()
    assert b"<int>413</int>" in answer
    assert server.sink.calls == []
    assert raw_post(server, call, {"Content-Length": str(len(call))}).count(b"<boolean>1</boolean>") == 1
    assert server.sink.calls == [("attrib", "id42", "x", "int", [1])]


def _raw_exchange(server: ResultServer, request: bytes) -> bytes:
    """Send ``request`` as it is and read until the server closes the connection."""
    host, port = server.address.rsplit(":", 1)
    with socket.create_connection((host, int(port)), timeout=10) as conn:
        conn.sendall(request)
        answer = b""
        while chunk := conn.recv(65536):
            answer += chunk
    return answer


def test_malformed_requests_are_refused_and_the_connection_closed(server):
    """The server reads request lines and headers itself: what it cannot read is a 4xx and a closed
    connection, never a parse of the body, never a hang."""
    call = xmlrpc.client.dumps((key(1), "x", "int", [1]), "set_attrib").encode()
    path = f"/RPC2/{server.secret}".encode()
    for request, status in [
        (b"POST " + path + b"\r\n\r\n", b"400"),  # no version
        (b"POST " + path + b" HTTP/2.0\r\n\r\n", b"400"),
        (b"POST " + path + b" HTTP/1.1\r\nno colon here\r\n\r\n", b"400"),
        (b"POST " + path + b" HTTP/1.1\r\nContent-Length: %d\r\nContent-Length: 3\r\n\r\n" % len(call) + call,
         b"400"),  # a repeated length: which one would a proxy in between have believed?
        (b"POST " + path + b" HTTP/1.1\r\n" + b"X-A: b\r\n" * 101 + b"\r\n", b"431"),
        (b"POST " + path + b" HTTP/1.1\r\nX-Long: " + b"a" * 70000 + b"\r\n\r\n", b"400"),
    ]:
        answer = _raw_exchange(server, request)
        assert answer.split(b" ", 2)[1] == status, (request[:80], answer[:200])
    assert server.sink.calls == []
    # HTTP/1.0 without keep-alive: answered, then closed (the read above ends only at the close)
    answer = _raw_exchange(server, b"POST " + path + b" HTTP/1.0\r\nCONTENT-length: %d\r\n\r\n" % len(call) + call)
    assert answer.startswith(b"HTTP/1.1 200") and b"Connection: close" in answer and b"<boolean>1</boolean>" in answer
    assert server.sink.calls == [("attrib", "id42", "x", "int", [1])]


def test_a_kept_alive_connection_carries_many_calls(server):
    """HTTP/1.1: one connection, several calls, each answered in full before the next is read."""
    host, port = server.address.rsplit(":", 1)
    with socket.create_connection((host, int(port)), timeout=10) as conn:
        reader = conn.makefile("rb")
        for i in range(3):
            call = xmlrpc.client.dumps((key(10 + i), f"k{i}", "int", [i]), "set_attrib").encode()
            conn.sendall(b"POST /RPC2/%s HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n\r\n"
                         % (server.secret.encode(), len(call)) + call)
            assert reader.readline().startswith(b"HTTP/1.1 200")
            length = None
            while (line := reader.readline()) not in (b"\r\n", b""):
                if line.lower().startswith(b"content-length:"):
                    length = int(line.split(b":")[1])
            assert b"<boolean>1</boolean>" in reader.read(length)
    assert [c[2] for c in server.sink.calls] == ["k0", "k1", "k2"]


def test_repeated_report_key_is_acknowledged_and_ignored(server):
    p = forged(server)
    assert p.set_attrib(key(1), "x", "int", [1]) is True
    assert p.set_attrib(key(1), "x", "int", [999]) is True  # a retry of report 1: already applied
    assert p.set_attrib(key(1, attempt=1), "x", "int", [2]) is True  # a new attempt is a new report
    assert p.add_output_files(key(2), [["o.txt", "", ""]]) is True
    assert p.add_output_files(key(2), [["o.txt", "", ""]]) is True
    assert server.sink.calls == [("attrib", "id42", "x", "int", [1]), ("attrib", "id42", "x", "int", [2]),
                                 ("outputs", "id42", [["o.txt", "", ""]])]


def test_sink_refusal_is_a_fault_and_can_be_retried(server):
    server.sink.refuse = "locked"
    p = forged(server)
    msg = refused(lambda: p.set_attrib(key(1), "locked", "int", [1]), reportcheck.FAULT_REFUSED)
    assert "attribute locked is read-only" in msg
    server.sink.refuse = None
    assert p.set_attrib(key(1), "locked", "int", [1]) is True  # nothing was applied, so the key is still free
    assert server.sink.calls == [("attrib", "id42", "locked", "int", [1])]


def test_multicall_applies_each_call_on_its_own(server):
    multi = xmlrpc.client.MultiCall(forged(server))
    multi.set_attrib(key(1), "a", "int", [1])
    multi.set_attrib(key(2), "b", "int", ["no"])
    multi.set_attrib(key(1), "a", "int", [5])
    results = multi()
    assert results[0] is True and results[2] is True
    with pytest.raises(xmlrpc.client.Fault):
        results[1]
    assert server.sink.calls == [("attrib", "id42", "a", "int", [1])]


def test_job_refused_by_server_fails_with_a_clear_message(server, project):
    done = run_job(server, project, "import pdgcmd\npdgcmd.addOutputFile('/etc/passwd', result_data_tag='file')\nprint('after')")
    failed_with(done, "pdgcmd: the result server refused output files ['/etc/passwd']: result server:"
                      " /etc/passwd is outside the project")


def test_job_fails_cleanly_when_its_server_is_gone(server, project):
    server.stop()
    done = run_job(server, project, "import pdgcmd; pdgcmd.setIntAttrib('x', 1); print('after')")
    failed_with(done, f"the result server at {server.address} did not answer attribute 'x' after 2 tries")


def test_job_fails_within_budget_when_server_hangs(project):
    """A server that accepts connections but never answers: each try times out, then the job fails."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(8)
    fake = type("S", (), {"environment": lambda self: {
        "PDG_RESULT_SERVER": "127.0.0.1:%d" % listener.getsockname()[1], "PDG_RESULT_SECRET": "s"}})()
    try:
        done = run_job(fake, project, "import pdgcmd; pdgcmd.setIntAttrib('x', 1)",
                       {"PDG_RPC_TIMEOUT": "0.5", "PDG_RPC_RETRIES": "2", "PDG_RPC_BACKOFF": "0.1"})
    finally:
        listener.close()
    assert done.returncode == 1
    assert "did not answer attribute 'x' after 3 tries (TimeoutError" in done.stderr


def test_stop_lets_a_call_being_applied_finish(project):
    class SlowSink(RecordingSink):
        def set_attrib(self, item_id, name, values, kind):
            started.set()
            time.sleep(0.5)
            super().set_attrib(item_id, name, values, kind)

    started = threading.Event()
    sink = SlowSink()
    srv = ResultServer(sink, project)
    srv.start()
    srv.allow("id1", "a_1")
    answers = []
    caller = threading.Thread(target=lambda: answers.append(forged(srv).set_attrib(key(1, "id1"), "x", "int", [1])))
    caller.start()
    assert started.wait(5)
    srv.stop()
    assert sink.calls == [("attrib", "id1", "x", "int", [1])]  # applied before stop() returned
    caller.join(5)
    assert answers == [True]  # and the job was told so
    assert sink.warnings == []


def test_stop_cuts_kept_alive_connections(project):
    sink = RecordingSink()
    srv = ResultServer(sink, project)
    srv.start()
    srv.allow("id1", "a_1")
    p = forged(srv)
    assert p.set_attrib(key(1, "id1"), "x", "int", [1]) is True  # the connection is now kept alive
    srv.stop()
    with pytest.raises((OSError, http.client.HTTPException, xmlrpc.client.Fault)):
        p.set_attrib(key(2, "id1"), "x", "int", [2])
    assert sink.calls == [("attrib", "id1", "x", "int", [1])]


def test_parallel_jobs_report_to_one_server(server, project):
    """Four jobs at once, each its own item and connection: every report arrives under its own item."""
    temp = project.parent / "temp"
    scripts = jobdata.install_job_modules(temp)
    procs = []
    for i in range(4):
        item = WorkItem(item_id=f"p{i}", name=f"par_{i}", index=i, node="par", attrs={}, inputs=[], outputs=[],
                        root=str(project))
        jobdata.write_item_json(item, jobdata.item_json_path(temp, item.name))
        server.allow(item.id, item.name)
        env = {"PATH": os.environ["PATH"], "PYTHONPATH": str(scripts), "PDG_TEMP": str(temp),
               "PDG_ITEM_NAME": item.name, "PDG_ITEM_ID": item.id, **server.environment(), **FAST}
        code = ("from pdgjson import WorkItem\nw = WorkItem.fromJobEnvironment()\n"
                "for j in range(20):\n    w.setIntAttrib('v%d' % j, w.index * 100 + j)")
        procs.append(subprocess.Popen([sys.executable, "-c", code], env=env, cwd=project, stderr=subprocess.PIPE))
    for p in procs:
        assert p.wait(timeout=30) == 0, p.stderr.read()
        p.stderr.close()
    got = {(c[1], c[2]): c[4] for c in server.sink.calls}
    assert got == {(f"p{i}", f"v{j}"): [i * 100 + j] for i in range(4) for j in range(20)}
    assert len(server.sink.calls) == 80


class DroppingProxy:
    """Forwards HTTP calls to the server but hangs up, once, after the server has answered the first
    call: the job never hears its "ok" and sends the same report again."""

    def __init__(self, target: str) -> None:
        self.target = target
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.address = "127.0.0.1:%d" % self.listener.getsockname()[1]
        self.dropped = 0
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self) -> None:
        while True:
            try:
                conn, _ = self.listener.accept()
            except OSError:
                return
            threading.Thread(target=self._relay, args=(conn,), daemon=True).start()

    def _relay(self, conn: socket.socket) -> None:
        with conn, conn.makefile("rb") as rfile:
            while True:
                request_line = rfile.readline()
                if not request_line:
                    return
                headers = {}
                while (line := rfile.readline()) not in (b"\r\n", b""):
                    k, v = line.decode().split(":", 1)
                    headers[k.strip().lower()] = v.strip()
                body = rfile.read(int(headers["content-length"]))
                up = http.client.HTTPConnection(self.target, timeout=5)
                up.request("POST", request_line.split()[1].decode(), body=body,
                           headers={"Content-Type": "text/xml"})
                answer = up.getresponse().read()
                up.close()
                if not self.dropped:
                    self.dropped += 1
                    return  # the server applied the call; the job hears nothing
                conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: text/xml\r\nContent-Length: %d\r\n\r\n"
                             % len(answer) + answer)

    def close(self) -> None:
        self.listener.close()


def test_a_report_repeated_after_a_dropped_answer_is_applied_once(server, project):
    proxy = DroppingProxy(server.address)
    try:
        done = run_job(server, project, "import pdgcmd\npdgcmd.setIntAttrib('x', 1)\npdgcmd.setIntAttrib('y', 2)",
                       {"PDG_RESULT_SERVER": proxy.address})
    finally:
        proxy.close()
    assert done.returncode == 0, done.stderr
    assert proxy.dropped == 1
    assert server.requests == 3  # x, x again (the retry), y
    assert server.sink.calls == [("attrib", "id42", "x", "int", [1]), ("attrib", "id42", "y", "int", [2])]


def test_dicts_carry_nil_and_unsendable_values_fail_clearly(server, project):
    code = ("import pdgcmd\npdgcmd.setDictAttrib('d', {'a': None, 'b': [1.5, 'x']})\n"
            "pdgcmd.setDictAttrib('e', {'big': 1 << 40})\nprint('after')")
    done = run_job(server, project, code)
    failed_with(done, "pdgcmd: attribute 'e' cannot be sent: int exceeds XML-RPC limits")
    assert server.sink.calls == [  # 'e' never went: the job's last words say why it failed
        ("attrib", "id42", "d", "dict", [{"a": None, "b": [1.5, "x"]}]),
        ("log", "id42", "pdgcmd: attribute 'e' cannot be sent: int exceeds XML-RPC limits", "error"),
    ]


def test_job_outside_a_scheduler_runs_standalone(tmp_path):
    """As SideFX's pdgcmd: without a result server RPC is off, each report is printed and the
    script goes on (a job script can be tried by hand)."""
    env = {"PATH": os.environ["PATH"], "PYTHONPATH": str(jobdata.install_job_modules(tmp_path)),
           "PDG_ITEM_NAME": "a_1", "PDG_DISABLE_TIMESTAMPS": "1"}
    code = ("import pdgcmd; pdgcmd.setIntAttrib('x', 1); pdgcmd.addOutputFile('out.txt', result_data_tag='file/text')"
            "; pdgcmd.workItemSuccess(); print('after')")
    done = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=30,
                          cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines() == [
        "PDG_SET_ATTRIB: a_1;-1;x;[1]",
        f"PDG_RESULT: a_1;-1;{tmp_path}/out.txt;file/text;0",
        "PDG_SUCCESS: a_1;-1;0",
        "after",
    ]


def test_unknown_method_is_refused(server):
    msg = refused(lambda: forged(server).delete_everything(key(1)), reportcheck.FAULT_INVALID)
    assert "no call named 'delete_everything'" in msg


def test_environment_names_the_server(server):
    env = server.environment()
    assert env["PDG_RESULT_SERVER"].startswith("127.0.0.1:") and env["PDG_RESULT_SERVER"] == server.address
    assert len(env["PDG_RESULT_SECRET"]) >= 40
    assert json.dumps(env)


def test_a_kept_alive_connection_the_server_closed_is_reopened_at_once(project, monkeypatch):
    """The job's transport keeps one connection; when the server drops it while idle, the next
    report goes out again on a new connection at once (no backoff, no retry counted)."""
    from pdgstore.engine.schedulers import rpchttp

    monkeypatch.setattr(rpchttp.GuardedHandler, "timeout", 0.2)  # the server closes idle connections fast
    sink = RecordingSink()
    with ResultServer(sink, project) as srv:
        srv.allow("id42", "render_4")
        code = "import pdgcmd, time\npdgcmd.setIntAttrib('x', 1)\ntime.sleep(0.6)\npdgcmd.setIntAttrib('y', 2)"
        done = run_job(srv, project, code, {"PDG_RPC_RETRIES": "0"})
        assert done.returncode == 0, done.stderr
        assert srv.requests == 2
    assert sink.calls == [("attrib", "id42", "x", "int", [1]), ("attrib", "id42", "y", "int", [2])]


def test_a_job_connects_while_it_starts_and_a_forked_child_makes_its_own_connection(server, project):
    """``import pdgcmd`` starts the connection (the server's side is ready by the first report);
    a child forked after that import reports on a connection of its own, not the parent's: two
    processes on one connection would interleave their requests."""
    code = (
        "import os, pdgcmd\n"
        "assert pdgcmd._client is not None and pdgcmd._client._transport._sock is not None\n"
        "pid = os.fork()\n"
        "if pid == 0:\n"
        "    for i in range(20):\n"
        "        pdgcmd.setIntAttrib('child%d' % i, i)\n"
        "    os._exit(0)\n"
        "for i in range(20):\n"
        "    pdgcmd.setIntAttrib('parent%d' % i, i)\n"
        "_, status = os.waitpid(pid, 0)\n"
        "print('child', status)\n"
    )
    done = run_job(server, project, code)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip().splitlines()[-1] == "child 0"
    names = {c[2] for c in server.sink.calls if c[0] == "attrib"}
    assert names == {f"child{i}" for i in range(20)} | {f"parent{i}" for i in range(20)}


def test_a_server_that_is_not_there_fails_the_first_call_not_the_import(project, tmp_path):
    """Connecting early never fails an import: the first call meets the problem, as it did."""
    with socket.socket() as unused:
        unused.bind(("127.0.0.1", 0))
        port = unused.getsockname()[1]  # nothing listens on it once closed
    temp = tmp_path / "temp"
    scripts = jobdata.install_job_modules(temp)
    env = {"PATH": os.environ["PATH"], "PYTHONPATH": str(scripts), "PDG_TEMP": str(temp), "PDG_ITEM_ID": "id42",
           "PDG_RESULT_SERVER": f"127.0.0.1:{port}", "PDG_RESULT_SECRET": "x", **FAST}
    code = "import pdgcmd\nprint('imported', flush=True)\npdgcmd.setIntAttrib('a', 1)\nprint('not reached')"
    done = subprocess.run([sys.executable, "-c", code], env=env, cwd=project, capture_output=True, text=True,
                          timeout=60)
    assert done.stdout.splitlines() == ["imported"]
    assert done.returncode != 0 and "did not answer" in done.stderr
