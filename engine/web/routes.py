"""The web view's HTTP side, mounted on the data layer's WebSocket port (``WSServer.add_route``).

``/`` is the page and ``/static/NAME`` its script and style sheet, read from this package (no
build step, no third-party script); ``/api/NAME?...`` are the JSON answers of ``api.WebApi``. The
page itself connects back to the same port's WebSocket for the live data layer.

Served on any address but loopback, every answer needs the token (``?token=`` or ``Authorization:
Bearer``), as the data layer's WebSocket does; the page and its files hold no data and stay open.

Actions are off unless ``allow_actions``: then ``POST /api/cook?graph=G&node=N`` starts a real
``pdg cook`` of that node (``actions``), for a request whose ``Authorization: Bearer`` header
carries the server's token (never a URL: a token in a link would be a token in every log and
history). A GET of it is refused (405): no link, image or prefetch can start a cook. ``dirty`` and
``cancel`` go through the data layer's own token-checked commands on the WebSocket. The page
learns the token only from its URL's fragment (``#token=...``), which the browser never sends.
"""

from __future__ import annotations

import json
import os
from importlib import resources
from urllib.parse import parse_qs, urlsplit

from pdgstore.engine.errors import error_line
from pdgstore.engine.web import actions
from pdgstore.engine.web.api import WebApi

from pdgstore.errors import AbsentAt, PdgError, StoreBusy
from pdgstore.queries import JSON_SCHEMA

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
        self.cooks = actions.CookStarter(self.store_path)

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
        """Every answer is JSON, a failure included (the page shows its sentence)."""
        try:
            return self._answer(request)
        except Exception as exc:  # noqa: BLE001 - a bug must not become the library's HTML error page
            return _json(500, {"error": f"{request.path} failed: {error_line(exc)}"})

    def _answer(self, request):
        url = urlsplit(request.path)
        name = url.path[len("/api/") :]
        args = {k: v[0] for k, v in parse_qs(url.query).items()}
        method = getattr(request, "method", "GET")
        if name in ACTIONS:
            return self._act(name, method, request, args)
        if method not in ("GET", "HEAD"):
            return _json(405, {"error": f"/api/{name} only answers GET"})
        if self.server.requires_token and not self.server.check_token(_token(request, args)):
            return _json(401, {"error": "this server needs its token: open the address pdg serve printed"})
        try:
            result = self._dispatch(name, args)
        except AbsentAt as exc:
            return _json(404, {"error": str(exc)})
        except PdgError as exc:
            return _json(400, {"error": str(exc)})
        if result is None:
            return _json(404, {"error": f"no answer named {name} (there are {', '.join(ANSWERS + ACTIONS)})"})
        return result

    def _dispatch(self, name: str, args: dict):
        api = self.api
        at = args.get("at") or None
        if name == "config":
            return _json(200, {"actions": self.allow_actions, "store": self.store_path})
        if name == "graph":
            return _json(200, api.graph(at))
        if name == "items":
            return _json(200, api.items(_arg(name, args, "graph"), _arg(name, args, "node"), at))
        if name == "changes":
            return _json(200, api.changes(_number(name, args, "since")))
        if name == "item":
            return _json(200, api.item(_arg(name, args, "id"), at))
        if name == "cooks":
            return _json(200, api.cooks())
        if name == "diff":
            return _json(200, api.diff(_arg(name, args, "from"), args.get("to") or "now"))
        return None

    # -- actions -----------------------------------------------------------------------------------
    def _act(self, name: str, method: str, request, args: dict):
        """An action: a POST, with actions on, from this server's own pages or a script (never
        another site's), carrying the token in its Authorization header. ``GET
        /api/cook?pid=PID`` (same rules but the method) says what became of a cook it started."""
        is_outcome = method == "GET" and "pid" in args
        if method != "POST" and not is_outcome:
            return _json(405, {"error": f"/api/{name} changes the store: send it as a POST"})
        if not self.allow_actions:
            return _json(403, {"error": "actions are off: start pdg serve with --allow-actions"})
        origin = request.headers.get("Origin")
        if origin is not None and origin not in self.server.origins():
            return _json(403, {"error": f"actions are not taken from pages of {origin}"})
        auth = request.headers.get("Authorization", "")
        if not (auth.startswith("Bearer ") and self.server.check_token(auth[len("Bearer ") :])):
            return _json(403, {"error": "actions need the server's token (open the address pdg serve printed)"})
        if is_outcome:
            try:
                outcome = self.cooks.outcome(_number(name, args, "pid"))
            except BadRequest as exc:
                return _json(400, {"error": str(exc)})
            if outcome is None:
                return _json(404, {"error": f"this server started no cook with pid {args['pid']}"})
            return _json(200, outcome)
        try:
            return _json(202, self._cook(_arg(name, args, "graph"), _arg(name, args, "node")))
        except StoreBusy as exc:
            return _json(409, {"error": str(exc)})
        except PdgError as exc:
            return _json(400, {"error": str(exc)})

    def _cook(self, graph: str, node: str) -> dict:
        self.api.check_node(graph, node)
        info = self.api.graph_file(graph)
        if info is None or not os.path.exists(info[0]):
            raise PdgError(f"graph {graph}'s file {info[0] if info else '(none recorded)'} is gone: nothing to cook")
        path, root = info
        return self.cooks.start(path, root, graph, node)


ANSWERS = ("config", "graph", "items", "changes", "item", "cooks", "diff")
ACTIONS = ("cook",)
#: what each parameter of an answer takes, as a request that lacks it or gives it wrong is told
PARAMETERS = {
    "graph": "a graph's name",
    "node": "a node's name",
    "id": "an item id, id prefix of 6 or more characters, or name (or GRAPH/ITEM)",
    "since": "a seq (a whole number, 0 or more)",
    "pid": "the process id the cook's answer gave (a whole number)",
    "from": "a point in the log: a seq (123), a cook (cook:7), cook~N, a time (2026-11-30T14:05) or a span ago (2h)",
}


class BadRequest(PdgError):
    """A request without a parameter its answer needs, or with one it cannot read (a 400)."""


def _arg(name: str, args: dict, key: str) -> str:
    """The request's ``key`` (a ``BadRequest`` naming it and what it takes when it is not there)."""
    value = args.get(key)
    if value is None:
        raise BadRequest(f"/api/{name} needs {key}=..., {PARAMETERS[key]}")
    return value


def _number(name: str, args: dict, key: str) -> int:
    """The request's ``key`` as a whole number, 0 or more."""
    text = _arg(name, args, key)
    if not (text.isascii() and text.isdigit()):
        raise BadRequest(f"/api/{name} cannot read {key}={text!r}: it takes {PARAMETERS[key]}")
    return int(text)


def _token(request, args: dict) -> str | None:
    auth = request.headers.get("Authorization", "")
    return auth[len("Bearer ") :] if auth.startswith("Bearer ") else args.get("token")


def _json(status: int, data: dict):
    """A JSON answer: each carries the ``schema`` of the CLI's ``--json`` outputs, a refusal included."""
    body = {"schema": JSON_SCHEMA, **data}
    return status, "application/json", json.dumps(body, separators=(",", ":"), default=str).encode()
