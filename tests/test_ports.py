"""The port reservation the tests use for servers told their port (``tests/ports.py``)."""

from __future__ import annotations

import socket

import pytest

from tests.ports import reserved_port

pytestmark = pytest.mark.timeout(60)


def _reuse_socket() -> socket.socket:
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    return sock


def test_a_reserved_port_is_given_to_no_one_else_but_a_server_may_listen_on_it_again_and_again():
    with reserved_port() as port:
        with socket.socket() as plain, pytest.raises(OSError):
            plain.bind(("127.0.0.1", port))  # a process not told the port cannot take it
        picked = []
        for _ in range(2000):  # nor is it handed out as "any free port"
            with socket.socket() as any_port:
                any_port.bind(("127.0.0.1", 0))
                picked.append(any_port.getsockname()[1])
        assert port not in picked
        with pytest.raises(ConnectionRefusedError):  # nobody listens yet: refused, as on a free port
            socket.create_connection(("127.0.0.1", port), timeout=10).close()
        for host in ("127.0.0.1", "0.0.0.0", "127.0.0.1"):  # a server started, stopped, started again
            with _reuse_socket() as server:
                server.bind((host, port))
                server.listen(1)
                with socket.create_connection(("127.0.0.1", port), timeout=10) as client:
                    accepted, _ = server.accept()
                    client.sendall(b"x")
                    assert accepted.recv(1) == b"x"
                    accepted.close()
