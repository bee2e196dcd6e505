"""What ``pdg serve`` runs: a data layer on one store, its WebSocket and TCP servers, and the
``serve.json`` beside the store that tells local tools where they are.

``serve.json`` (mode 0600, written under a temporary name and renamed) holds the ports, the host,
the pid and the token, so a script on the same machine and account can find the server and send
commands that change things; nobody else can read it.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass

from pdgstore.engine.datalayer.core import DataLayer
from pdgstore.engine.datalayer.server import TCPServer, WSServer, is_loopback

from pdgstore.queries import JSON_SCHEMA

INFO_FILE = "serve.json"


@dataclass
class Service:
    layer: DataLayer
    ws: WSServer
    tcp: TCPServer | None
    info_path: str

    def info(self) -> dict:
        # where a client on this machine connects: a wildcard address is for listening only
        host = "127.0.0.1" if is_loopback(self.ws.host) or self.ws.host in ("0.0.0.0", "::", "") else self.ws.host
        view = self.layer.view
        assert view is not None, "a service serves a store"
        info = {
            "schema": JSON_SCHEMA,
            "store": view.path,
            "host": self.ws.host,
            "pid": os.getpid(),
            "ws_port": self.ws.port,
            "ws": f"ws://{host}:{self.ws.port}",
            "tcp_port": self.tcp.port if self.tcp else None,
            "tcp": f"tcp://{host}:{self.tcp.port}" if self.tcp else None,
            "token_required": self.ws.requires_token,
            "web": f"http://{host}:{self.ws.port}/",
        }
        return info

    def stop(self) -> None:
        for server in (self.ws, self.tcp):
            if server is not None:
                server.stop()
        self.layer.close()
        try:
            with open(self.info_path) as f:
                mine = json.load(f).get("pid") == os.getpid()
        except (OSError, ValueError):
            mine = False
        if mine:
            os.unlink(self.info_path)


def start(
    store_path: str, *, port: int = 0, tcp_port: int | None = 0, host: str = "127.0.0.1", allow_actions: bool = False
) -> Service:
    """Serve the store at ``store_path`` (it may not exist yet: it is opened once a cook makes it),
    with the web view on the WebSocket port (its actions only with ``allow_actions``)."""
    from pdgstore.engine.web.routes import WebRoutes

    layer = DataLayer(store_path)
    layer.subscribe(_Keepalive(), "pdg")  # follow the store from the start, subscribers or not
    ws = WSServer(layer, port, host)
    try:
        tcp = TCPServer(layer, tcp_port, host, token=ws.token) if tcp_port is not None else None
    except BaseException:
        ws.stop()
        raise
    WebRoutes(ws, store_path, allow_actions=allow_actions).mount()
    service = Service(layer, ws, tcp, os.path.join(os.path.dirname(os.path.abspath(store_path)), INFO_FILE))
    write_private_json(service.info_path, {**service.info(), "token": ws.token})
    return service


class _Keepalive:
    def processMessage(self, message, sender) -> None:
        pass


def write_private_json(path: str, data: dict) -> None:
    os.makedirs(os.path.dirname(path), exist_ok=True)
    tmp = f"{path}.{os.getpid()}.tmp"
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        json.dump(data, f)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


def read_info(store_path: str) -> dict | None:
    """The ``serve.json`` of a ``pdg serve`` on this store, or None."""
    try:
        with open(os.path.join(os.path.dirname(os.path.abspath(store_path)), INFO_FILE)) as f:
            return json.load(f)
    except (OSError, ValueError):
        return None
