"""A TCP port held for a test's whole run, for servers that must be told their port.

Picking a free port by binding 0, closing the socket and handing the number on leaves a gap in
which any other process may be given the same port (another suite's server, or any outgoing
connection's ephemeral port). ``reserved_port()`` closes that gap: it binds port 0 with
``SO_REUSEADDR`` and keeps the socket bound, but never listening, until the test ends.

On Linux a bound socket holds its port against every bind without ``SO_REUSEADDR`` and against
every kernel choice of a port (``bind(0)``, ``connect()``), while a server that binds with
``SO_REUSEADDR`` (tornado's ``bind_sockets`` in a Dask scheduler, ``pdg serve``) may still listen
on it: the reservation is not listening, so the two do not conflict. A server stopped and started
again on the same port, as the Dask reconnect tests do, finds its port still free for it. While no
server listens, a client's connection is refused, as on a port nobody holds.
"""

from __future__ import annotations

import socket
from collections.abc import Iterator
from contextlib import contextmanager


@contextmanager
def reserved_port(host: str = "127.0.0.1") -> Iterator[int]:
    """A port on ``host`` no other process is given until the ``with`` ends."""
    holder = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        holder.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        holder.bind((host, 0))
        yield holder.getsockname()[1]
    finally:
        holder.close()
