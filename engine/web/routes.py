"""The web view's HTTP side, mounted on the data layer's WebSocket port (``WSServer.add_route``).

``/`` is the page and ``/static/NAME`` its script and style sheet, read from this package (no
build step, no third-party script); ``/api/NAME?...`` are the JSON answers of ``api.WebApi``. The
page itself connects back to the same port's WebSocket for the live data layer.

Served on any address but loopback, every answer needs the token (``?token=`` or ``Authorization:
Bearer``), as the data layer's WebSocket does; the page and its files hold no data and stay open.

Actions are off unless ``allow_actions``: then ``/api/cook`` (start ``pdg cook`` of a node's graph
file in the graph's project) answers requests that carry the server's token; ``dirty`` and
``cancel`` go through the data layer's own token-checked commands. The page learns the token
only from its URL's fragment (``#token=...``), which the browser never sends anywhere.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from importlib import resources
from urllib.parse import parse_qs, urlsplit

from pdgstore.engine.web.api import WebApi

from pdgstore.errors import PdgError

STATIC_TYPES = {
    ".html": "text/html; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".svg": "image/svg+xml",
}


def static_file(name: str) -> bytes | None:
    """A file shipped in ``pdgstore.engine.web.static`` (None for any other name)."""
    if "/" in name or name.startswith(".") or os.path.splitext(name)[1] not in STATIC_TYPES:
        return None
    ref = resources.files("pdgstore.engine.web").joinpath("static", name)
    try:
        return ref.read_bytes()
    except (FileNotFoundError, IsADirectoryError, NotADirectoryError):
        return None


class WebRoutes:
    """The routes of one served store."""

    def __init__(self, server, store_path: str, *, allow_actions: bool = False) -> None:
        self.server = server
        self.store_path = os.path.abspath(store_path)
        self.api = WebApi(store_path)
        self.allow_actions = allow_actions

    def mount(self) -> None:
        self.server.add_route("/", self.page)
        self.server.add_route("/static/", self.static)
        self.server.add_route("/api/", self.answer)

    # -- handlers (each: request -> (status, content type, body)) ---------------------------------
    def page(self, request):
        return 200, STATIC_TYPES[".html"], static_file("index.html") or b""

    def static(self, request):
        name = urlsplit(request.path).path[len("/static/") :]
        body = static_file(name)
        if body is None:
            return 404, "text/plain", f"no file {name} in the web view\n".encode()
        return 200, STATIC_TYPES[os.path.splitext(name)[1]], body

    def answer(self, request):
        url = urlsplit(request.path)
        name = url.path[len("/api/") :]
        args = {k: v[0] for k, v in parse_qs(url.query).items()}
        if self.server.requires_token and not self.server.check_token(_token(request, args)):
            return _json(401, {"error": "this server needs its token: open the address pdg serve printed"})
        try:
            result = self._dispatch(name, args)
        except PdgError as exc:
            return _json(400, {"error": str(exc)})
        except (KeyError, ValueError) as exc:
            return _json(400, {"error": f"the request /api/{name} is malformed: {exc}"})
        if result is None:
            return _json(404, {"error": f"no answer named {name} (there are {', '.join(ANSWERS)})"})
        return result

    def _dispatch(self, name: str, args: dict):
        api = self.api
        at = args.get("at") or None
        if name == "config":
            return _json(200, {"actions": self.allow_actions, "store": self.store_path})
        if name == "graph":
            return _json(200, api.graph(at))
        if name == "items":
            return _json(200, api.items(args["graph"], args["node"], at))
        if name == "changes":
            return _json(200, api.changes(int(args["since"])))
        if name == "item":
            return _json(200, api.item(args["id"], at))
        if name == "cooks":
            return _json(200, api.cooks())
        if name == "diff":
            return _json(200, api.diff(args["from"], args.get("to") or "now"))
        if name == "cook":
            return self._cook(args)
        return None

    def _cook(self, args: dict):
        if not self.allow_actions:
            return _json(403, {"error": "actions are off: start pdg serve with --allow-actions"})
        if not self.server.check_token(args.get("token")):
            return _json(403, {"error": "cooking needs the server's token (open the URL pdg serve printed)"})
        graph, node = args["graph"], args["node"]
        info = self.api.graph_file(graph)
        if info is None:
            raise PdgError(f"graph {graph} has no recorded graph file to cook")
        path, root = info
        cmd = [sys.executable, "-m", "pdgstore.cli.main", "cook", path, node]
        env = {**os.environ, "PDG_DB": self.store_path}
        proc = subprocess.Popen(
            cmd, cwd=root, env=env, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
        return _json(200, {"started": True, "pid": proc.pid, "graph": graph, "node": node})


ANSWERS = ("config", "graph", "items", "changes", "item", "cooks", "diff", "cook")


def _token(request, args: dict) -> str | None:
    auth = request.headers.get("Authorization", "")
    return auth[len("Bearer ") :] if auth.startswith("Bearer ") else args.get("token")


def _json(status: int, data: dict):
    return status, "application/json", json.dumps(data, separators=(",", ":"), default=str).encode()
