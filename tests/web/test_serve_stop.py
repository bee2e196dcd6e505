"""``pdg serve`` stops on SIGTERM whatever its clients do: a browser page following a cook, a
WebSocket client that stopped reading and never answers the close frame, a TCP client that says
nothing. It once took more than ten seconds under load: websockets waits ``close_timeout`` (10 s by
default) for each client's answer to its close frame, and a browser still reading a backlog of
frames reads that frame last. The server now gives a client ``CLOSE_TIMEOUT_S`` and then drops it.

The one bound these tests hold is that regression's signature (websockets' own 10 s default), not a
performance figure: a stalled client can never answer, so a server that waits for it is still
running when the deadline passes."""

from __future__ import annotations

import base64
import json
import os
import signal
import socket
import struct
import subprocess

import pytest
from conftest import Serve

from web.test_web_view import cook_process, open_view

pytestmark = pytest.mark.timeout(180)
#: seconds a stopped ``pdg serve`` may take: below websockets' default close timeout (10 s), which
#: is what a stalled client used to cost, and far above ``CLOSE_TIMEOUT_S`` + ``STOP_GRACE_S``
STOP_DEADLINE_S = 8


def stalled_ws_client(port: int, paths: list[str]) -> socket.socket:
    """A WebSocket client that completes the handshake, subscribes to ``paths`` and then never
    reads again (so it never answers the server's close frame)."""
    sock = socket.create_connection(("127.0.0.1", port), timeout=30)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    key = base64.b64encode(os.urandom(16)).decode()
    sock.sendall(
        (
            f"GET / HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
            f"Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n"
        ).encode()
    )
    head = b""
    while b"\r\n\r\n" not in head:
        chunk = sock.recv(1)
        assert chunk, "the server closed the connection during the handshake"
        head += chunk
    assert head.startswith(b"HTTP/1.1 101"), head
    for path in paths:
        sock.sendall(_masked_text(json.dumps({"op": "subscribe", "path": path}).encode()))
    return sock


def _masked_text(payload: bytes) -> bytes:
    mask = os.urandom(4)
    assert len(payload) < 126
    body = bytes(b ^ mask[i % 4] for i, b in enumerate(payload))
    return struct.pack("!BB", 0x81, 0x80 | len(payload)) + mask + body


def stop_and_wait(server: Serve) -> tuple[int, str]:
    """SIGTERM, then the exit code and what it wrote on stderr (fails past ``STOP_DEADLINE_S``)."""
    server.proc.send_signal(signal.SIGTERM)
    try:
        code = server.proc.wait(STOP_DEADLINE_S)
    except subprocess.TimeoutExpired:
        server.proc.kill()
        server.proc.wait()
        pytest.fail(f"pdg serve was still running {STOP_DEADLINE_S} s after SIGTERM: a client held its stop up")
    return code, server.stderr_text()


def assert_clean(code: int, err: str, project) -> None:
    assert code == 0, err
    for sign in ("Traceback", "Task was destroyed", "Exception in", "Error in"):
        assert sign not in err, err
    assert not (project.root / ".pdg" / "serve.json").exists()


def test_sigterm_stops_serve_with_stalled_clients(webproject, serve):
    assert webproject.pdg("cook", "web.py").exit_code == 0
    server = serve()
    ws = stalled_ws_client(server.port, ["pdg", "pdg/web", "pdg/web/node_work"])
    tcp = socket.create_connection(("127.0.0.1", server.info["tcp_port"]), timeout=30)
    try:
        assert webproject.pdg("dirty", "work").exit_code == 0  # frames for the stalled client
        code, err = stop_and_wait(server)
    finally:
        ws.close()
        tcp.close()
    assert_clean(code, err, webproject)


def test_sigterm_stops_serve_promptly_during_a_cook_with_a_browser_following_it(webproject, serve, page):
    assert webproject.pdg("cook", "web.py").exit_code == 0
    server = serve()
    open_view(page, server)
    page.click(".node[data-node=work]")
    stalled = stalled_ws_client(server.port, ["pdg/web/node_work", "pdg/web/node_after"])
    assert webproject.pdg("dirty", "work").exit_code == 0
    (webproject.root / "hold").write_text("the work items wait while this file exists\n")
    cook = cook_process(webproject)
    try:
        page.wait_for_function(
            "() => Array.from(pdgView.nodes.get('web/work').states.slice(0, 24)).some("
            "(s) => ['scheduled', 'cooking'].includes(pdgView.states[s]))",
            timeout=60_000,
        )  # the cook is running and the page follows it
        code, err = stop_and_wait(server)
        assert_clean(code, err, webproject)
        page.wait_for_function("() => document.getElementById('conn').dataset.state === 'reconnecting'", timeout=30_000)
        assert cook.poll() is None  # the cook never depended on the server
        (webproject.root / "hold").unlink()
        assert cook.wait(90) == 0, cook.stderr.read()
    finally:
        stalled.close()
        if cook.poll() is None:
            cook.kill()
            cook.wait()
