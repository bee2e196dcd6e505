"""A Dask worker's report relay (``engine/schedulers/dask/relay.py``) between real job processes and
a real result server: the jobs' calls arrive once each, many to a request; the relay checks the
secret before it forwards; a lost answer is retried by the job and recorded once; a cook that is
gone fails the job. (That a cook's jobs on a LocalCluster report through it: test_dask_scheduler.)"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import xmlrpc.client
from pathlib import Path

import pytest
from pdgstore.engine.schedulers import reportcheck
from pdgstore.engine.schedulers.dask.relay import Relay
from pdgstore.engine.schedulers.resultserver import ResultServer
from test_resultserver import FAST, DroppingProxy, RecordingSink, failed_with, run_job

pytestmark = pytest.mark.timeout(60)


@pytest.fixture
def server(tmp_path):
    project = tmp_path / "project"
    project.mkdir()
    srv = ResultServer(RecordingSink(), project)
    srv.start()
    srv.allow("id42", "render_4")
    yield srv
    srv.stop()


def relay_to(address: str, server: ResultServer) -> Relay:
    relay = Relay(address, server.secret, server.max_body)
    relay.start()
    return relay


def through(relay: Relay) -> dict:
    return {"PDG_RESULT_SERVER": relay.address}


def test_jobs_report_through_a_relay_once_each(server):
    relay = relay_to(server.address, server)
    project = Path(server.check.project_dir)
    code = (
        "import pdgcmd\n"
        "for j in range(30):\n    pdgcmd.setIntAttrib('v%d' % j, j)\n"
        "with pdgcmd.batch():\n    pdgcmd.setIntAttrib('m0', 0)\n    pdgcmd.setIntAttrib('m1', 1)\n"
        "pdgcmd.workItemSuccess()\n"
    )
    assert run_job(server, project, "pass").returncode == 0  # the Job API modules and item JSON, written once
    env = {"PATH": os.environ["PATH"], "PYTHONPATH": str(project.parent / "temp" / "scripts"),
           "PDG_TEMP": str(project.parent / "temp"), "PDG_ITEM_NAME": "render_4", "PDG_ITEM_ID": "id42",
           **server.environment(), **FAST, **through(relay)}
    jobs = [subprocess.Popen([sys.executable, "-c", code], env=env, cwd=project, stderr=subprocess.PIPE)
            for _ in range(3)]
    for job in jobs:
        assert job.wait(timeout=30) == 0, job.stderr.read()
        job.stderr.close()
    calls = server.sink.calls
    # each job's calls once each, in its order
    assert sorted(c[2] for c in calls if c[0] == "attrib") == sorted(([f"v{j}" for j in range(30)] + ["m0", "m1"]) * 3)
    assert calls.count(("status", "id42", True, "")) == 3
    assert server.requests == relay.forwarded <= 3 * 32  # every call went through the relay (together when they overlap)


def test_a_refused_call_gets_its_own_fault_through_the_relay(server):
    relay = relay_to(server.address, server)
    code = "import pdgcmd\npdgcmd.setIntAttrib('a', 1)\npdgcmd.addOutputFile('/etc/passwd')\nprint('after')"
    done = run_job(server, Path(server.check.project_dir), code, through(relay))
    failed_with(done, "result server: /etc/passwd is outside the project")
    assert server.sink.calls == [("attrib", "id42", "a", "int", [1])]


def test_the_relay_refuses_a_wrong_secret_before_it_forwards_anything(server):
    relay = relay_to(server.address, server)
    proxy = xmlrpc.client.ServerProxy(f"http://{relay.address}/RPC2/not-the-secret")
    with pytest.raises(xmlrpc.client.Fault) as caught:
        proxy.set_attrib(["id42", 0, "1"], "x", "int", [1])
    assert caught.value.faultCode == reportcheck.FAULT_AUTH
    assert server.requests == 0 and server.sink.calls == []


class LosingProxy(DroppingProxy):
    """Between the relay and the cook: passes each request on as it is (a relay's too), and loses
    the cook's first answer (the calls were recorded; the relay hears nothing)."""

    @staticmethod
    def _message(reader) -> bytes:
        head = b""
        while (line := reader.readline()) not in (b"\r\n", b""):
            head += line
        length = next(int(h.split(b":")[1]) for h in head.split(b"\r\n") if h.lower().startswith(b"content-length"))
        return head + b"\r\n" + reader.read(length)

    def _relay(self, conn: socket.socket) -> None:
        host, _, port = self.target.rpartition(":")
        with conn, conn.makefile("rb") as reader, socket.create_connection((host, int(port))) as up:
            with up.makefile("rb") as answers:
                while True:
                    try:
                        request = self._message(reader)
                    except StopIteration:
                        return
                    up.sendall(request)
                    answer = self._message(answers)
                    if not self.dropped:
                        self.dropped += 1
                        return
                    conn.sendall(answer)


def test_an_answer_lost_between_relay_and_cook_is_retried_by_the_job_and_recorded_once(server):
    proxy = LosingProxy(server.address)
    relay = relay_to(proxy.address, server)
    code = "import pdgcmd\npdgcmd.setIntAttrib('x', 1)\npdgcmd.setIntAttrib('y', 2)\nprint('done')"
    done = run_job(server, Path(server.check.project_dir), code, through(relay))
    assert done.returncode == 0, done.stderr
    assert proxy.dropped == 1
    assert server.sink.calls == [("attrib", "id42", "x", "int", [1]), ("attrib", "id42", "y", "int", [2])]


def test_a_job_whose_cook_is_gone_fails_through_the_relay(server):
    relay = relay_to(server.address, server)
    server.stop()
    done = run_job(server, Path(server.check.project_dir), "import pdgcmd\npdgcmd.setIntAttrib('x', 1)\nprint('after')",
                   {**through(relay), **FAST})
    assert done.returncode != 0 and "after" not in done.stdout
    assert "pdgcmd:" in done.stderr and "Traceback" not in done.stderr
    assert server.sink.calls == []


def _post(server: ResultServer, body: bytes, kind: bytes) -> tuple[bytes, bytes]:
    """A relay's request sent by hand to the cook: (the answer's Content-Type, its body)."""
    host, _, port = server.address.rpartition(":")
    with socket.create_connection((host, int(port)), timeout=10) as sock, sock.makefile("rb") as reader:
        head = f"POST /RELAY/{server.secret} HTTP/1.1\r\nContent-Type: {kind.decode()}\r\nContent-Length: {len(body)}\r\n\r\n"
        sock.sendall(head.encode() + body)
        fields = {}
        while (line := reader.readline()) not in (b"\r\n", b""):
            name, _, value = line.partition(b":")
            fields[name.strip().lower()] = value.strip()
        return fields.get(b"content-type", b""), reader.read(int(fields[b"content-length"]))


def test_calls_read_on_the_worker_get_the_answers_their_xml_would_get(server):
    """The relay's packed frames (``relaywire``: msgpack for what it read, the XML as it came for
    what it did not) get, written back on the worker, the very bytes the cook answers the same
    calls in the untagged form a relay of the last version sends."""
    from pdgstore.engine.schedulers import relaywire

    calls = [
        xmlrpc.client.dumps((["id42", 0, "1"], "a", "int", [7]), "set_attrib"),  # read on the worker
        xmlrpc.client.dumps((["id42", 0, "2"], "1bad", "int", [7]), "set_attrib"),  # refused: its fault
        xmlrpc.client.dumps(([{"methodName": "set_attrib", "params": [["id42", 0, "3"], "b", "float", [0.5]]}],),
                            "system.multicall"),
        xmlrpc.client.dumps((["id42", 0, "4"], "c", "string", [xmlrpc.client.Binary(b"x")]), "set_attrib"),  # as XML
        xmlrpc.client.dumps((["id42", 0, "1"], "a", "int", [7]), "set_attrib"),  # a repeat: acknowledged
    ]
    bodies = [c.encode() for c in calls]
    packed = [relaywire.packed_call(b) for b in bodies]
    assert [frame[:1] for frame, _ in packed] == [b"m", b"m", b"m", b"x", b"m"]
    kind, data = _post(server, relaywire.frames([frame for frame, _ in packed]), relaywire.RELAY_PACKED_TYPE)
    assert kind == relaywire.RELAY_PACKED_TYPE
    heard = [relaywire.answer_xml(a, multi) for a, (_, multi) in zip(relaywire.unframe(data, 9), packed, strict=True)]
    recorded = list(server.sink.calls)
    server.stop()
    again = ResultServer(RecordingSink(), server.project_dir)  # the same calls, untagged, to a fresh cook
    again.start()
    try:
        again.allow("id42", "render_4")
        kind, data = _post(again, relaywire.frames(bodies), relaywire.RELAY_TYPE)
        assert kind == relaywire.RELAY_TYPE
        assert heard == relaywire.unframe(data, 9)
        assert again.sink.calls == recorded and len(recorded) == 2
    finally:
        again.stop()


def test_an_answer_larger_than_the_socket_takes_at_once_reaches_its_job_whole(server):
    """An answer is written without waiting when the job's socket takes it whole (the usual small
    answer); a larger one (a multicall's list, a job slow to read) is sent to its end all the same."""
    import threading

    from pdgstore.engine.schedulers.dask.relay import _Job

    relay = Relay("127.0.0.1:1", server.secret, server.max_body)  # never started: no cook is reached
    ours, theirs = socket.socketpair()
    ours.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 4096)
    ours.setblocking(False)
    body = b"x" * (1 << 20)
    got = bytearray()

    def read() -> None:  # the head, then the body to its declared end (or the connection's)
        theirs.settimeout(30)
        while len(got) < len(body) or b"\r\n\r\n" not in got[: len(got) - len(body) + 4]:
            chunk = theirs.recv(1 << 16)
            if not chunk:
                return
            got.extend(chunk)

    reader = threading.Thread(target=read)
    reader.start()
    job = _Job(ours)
    job.busy = True
    relay._answer(job, body)
    reader.join(30)
    head, _, rest = bytes(got).partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 200 OK") and b"Content-Length: %d" % len(body) in head
    assert rest == body
    assert not job.busy and ours.gettimeout() == 0.0  # back to the relay's non-blocking loop
    ours.close()
    theirs.close()
    relay._close_all()
