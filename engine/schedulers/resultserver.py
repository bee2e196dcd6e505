"""The result server: jobs started by a scheduler report attributes, output files and status over
XML-RPC (PDG's Job API, ``pdgcmd``), and a ``ResultSink`` records each report as events.

Nothing from outside is trusted. The server binds 127.0.0.1 unless its scheduler names another
address (``host``: the dask scheduler's ``result_host``, for jobs on other machines); the per-cook secret is checked
(constant time, in the URL path ``/RPC2/<secret>``) before the body is read, and bodies that are
too large, of unknown length or compressed are refused unread: this Python's expat predates the
entity-expansion fixes, so no unauthenticated XML is ever parsed. Every value is then validated
(item cooking under this cook, types, sizes, paths inside the project); a refused call gets a
Fault naming the problem, is reported through ``sink.warning`` and changes nothing. A report key
(item, attempt, report number) makes a repeated call (an RPC retry) an acknowledged no-op.
"""

from __future__ import annotations

import hmac
import os
import re
import secrets
import socket
import socketserver
import threading
import xmlrpc.client
from collections.abc import Callable
from typing import Protocol
from xmlrpc.server import SimpleXMLRPCRequestHandler, SimpleXMLRPCServer

from pdgstore.engine.files.confine import Confine, outside_allowed

KINDS = ("int", "float", "str", "file", "dict", "pyobject")
RPC_PREFIX = "/RPC2/"

# Fault codes a job may see (pdgcmd prints the fault's text).
FAULT_AUTH = 401
FAULT_TOO_LARGE = 413
FAULT_ENCODING = 415
FAULT_NOT_COOKING = 404
FAULT_INVALID = 422
FAULT_REFUSED = 409  # the sink refused the effect (ValueError)
FAULT_STOPPED = 410

_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,255}\Z")
_INT_TEXT = re.compile(r"-?[0-9]{1,19}\Z")
_INT64 = (-(1 << 63), (1 << 63) - 1)
_SHORT = 1024  # tags, hashes, report numbers: anything longer is not one
_STOPPED = "result server: the cook is over; no more reports are accepted"
_STOP_WAIT = 10.0  # seconds stop() waits for calls being applied
_MAX_AUTH_WARNINGS = 20  # unauthenticated callers could otherwise fill the log with warnings


class ResultSink(Protocol):
    """Where reports go (the engine side); each method returns once its effect is in the log.
    Raising ValueError(message) refuses the report: the job gets a fault with that message.

    Values arrive checked: ``kind`` is one of KINDS; a file value is ``[path, tag]`` and an output
    file ``(path, tag, hash)``, the path relative to the project with ``/`` (absolute only when the
    server allows outside paths); an empty tag or hash means the job gave none."""

    def set_attrib(self, item_id: str, name: str, values: list, kind: str) -> None: ...
    def add_output_files(self, item_id: str, files: list[tuple[str, str, str]]) -> None: ...
    def report_status(self, item_id: str, ok: bool, message: str = "") -> None: ...
    def report_cancelled(self, item_id: str, message: str = "") -> None: ...
    def append_sub_item(self, batch_id: str) -> int: ...
    def warning(self, item_id: str | None, message: str) -> None: ...
    def log_line(self, item_id: str, text: str, level: str = "info") -> None: ...
    def item_json(self, item_id: str) -> str: ...


class _Refused(Exception):
    def __init__(self, code: int, message: str, item_id: str | None = None) -> None:
        super().__init__(message)
        self.code, self.message, self.item_id = code, message, item_id


class _Handler(SimpleXMLRPCRequestHandler):
    """Authenticate and size-check before the stdlib reads or parses anything."""

    protocol_version = "HTTP/1.1"  # keep-alive: a job's many reports share one connection
    wbufsize = -1  # an answer's headers and body leave in one write (flushed after each request)
    timeout = 60  # an idle or stalled connection does not hold a thread forever

    def setup(self) -> None:
        super().setup()
        # headers and body go out as two writes: without this, Nagle may hold the body back
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.server.owner._track(self.connection, True)

    def finish(self) -> None:
        try:
            super().finish()
        finally:
            self.server.owner._track(self.connection, False)

    def do_POST(self) -> None:
        owner: ResultServer = self.server.owner
        try:
            self._check(owner)
            owner._count_request()
            length = int(self.headers["Content-Length"])
            body = self.rfile.read(length)
            if len(body) != length:
                self.close_connection = True
                return
            if not owner._enter():
                raise _Refused(FAULT_STOPPED, _STOPPED)
            try:  # until the answer is written: stop() must not cut the connection before the job hears it
                self._answer(self.server._marshaled_dispatch(body, None, self.path))
            finally:
                owner._leave()
        except _Refused as exc:
            if exc.code == FAULT_AUTH:
                owner._warn_unauthenticated(exc)
            elif exc.code != FAULT_STOPPED:  # after the cook, nothing more goes to its log
                owner._warn(exc)
            self.close_connection = True  # the body was not read: the connection cannot be reused
            self._answer(
                xmlrpc.client.dumps(
                    xmlrpc.client.Fault(exc.code, exc.message), methodresponse=True, allow_none=False
                ).encode()
            )

    def _answer(self, response: bytes) -> None:
        self.send_response(200)
        self.send_header("Content-Type", "text/xml")
        self.send_header("Content-Length", str(len(response)))
        if self.close_connection:
            self.send_header("Connection", "close")
        self.end_headers()
        self.wfile.write(response)

    def _check(self, owner: ResultServer) -> None:
        path = self.path.encode("utf-8", "surrogateescape")
        given = path[len(RPC_PREFIX) :] if path.startswith(RPC_PREFIX.encode()) else b""
        if not hmac.compare_digest(given, owner.secret.encode()):
            raise _Refused(
                FAULT_AUTH,
                f"result server: refused a call from {self.client_address[0]} with a missing or wrong secret",
            )
        if owner._stopped:
            raise _Refused(FAULT_STOPPED, _STOPPED)
        encoding = self.headers.get("Content-Encoding", "identity").strip().lower()
        if encoding not in ("", "identity"):
            raise _Refused(FAULT_ENCODING, f"result server: compressed bodies ({encoding}) are refused")
        length = self.headers.get("Content-Length", "")
        if not (length.isascii() and length.isdigit()):
            raise _Refused(FAULT_TOO_LARGE, "result server: a call without a Content-Length is refused")
        if int(length) > owner.max_body:
            raise _Refused(
                FAULT_TOO_LARGE,
                f"result server: a call of {int(length)} bytes is refused (the limit is {owner.max_body})",
            )

    def log_message(self, format, *args) -> None:  # noqa: A002 - the stdlib's name
        """Silent: a job's reports are events, not lines on the engine's stderr."""


class _Server(socketserver.ThreadingMixIn, SimpleXMLRPCServer):
    daemon_threads = True
    allow_reuse_address = False

    def __init__(self, owner: ResultServer) -> None:
        self.owner = owner
        super().__init__(
            (owner.host, 0), requestHandler=_Handler, logRequests=False, allow_none=False, use_builtin_types=False
        )

    def handle_error(self, request, client_address) -> None:
        """A job that hangs up mid-call is the job's problem: no traceback on the engine's stderr."""

    def _dispatch(self, method: str, params):
        handler = self.owner._methods.get(method)
        if handler is None:
            raise xmlrpc.client.Fault(FAULT_INVALID, f"result server: there is no call named {method!r}")
        try:
            return handler(*params)
        except TypeError as exc:  # wrong number of arguments
            raise xmlrpc.client.Fault(FAULT_INVALID, f"result server: bad arguments to {method}: {exc}") from None
        except _Refused as exc:
            self.owner._warn(exc)
            raise xmlrpc.client.Fault(exc.code, exc.message) from None


class ResultServer:
    """One per cook: ``start()``, hand ``environment()`` to jobs, ``allow()`` each item while it
    cooks, ``stop()`` when the cook ends."""

    def __init__(
        self,
        sink: ResultSink,
        project_dir,
        *,
        allow_outside: bool = False,
        max_string: int = 1 << 20,
        max_body: int = 1 << 20,
        host: str = "127.0.0.1",
        path_map: Callable[[str], str] | None = None,
    ) -> None:
        self.sink = sink
        self.host = host
        #: rewrites a path a job reports (as its machine sees it) into the cook's (a dask path map)
        self.path_map = path_map
        self.project_dir = os.path.abspath(os.fspath(project_dir))
        self._project_real = os.path.realpath(self.project_dir)
        self._confine = Confine(self.project_dir)
        self.allow_outside = allow_outside or outside_allowed()
        self.max_string = max_string
        self.max_body = max_body
        self.secret = secrets.token_urlsafe(32)
        self.address = ""
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None
        self._stopped = False
        self._lock = threading.Lock()
        self._idle = threading.Condition(self._lock)
        self._inflight = 0  # calls being applied now: stop() lets them finish
        self._ids: dict[str, str] = {}  # id -> name of items cooking now
        self._names: dict[str, str] = {}  # name -> id
        self._item_locks: dict[str, threading.Lock] = {}
        self._done: dict[str, set] = {}  # item id -> report keys already applied
        self._batches: dict[str, list[str]] = {}  # batch id -> its sub-items' ids, by sub index
        self._conns: set[socket.socket] = set()
        self._auth_warnings = 0
        self.requests = 0  # authenticated HTTP requests served (a batch of reports is one)
        self._local = threading.local()  # a multicall's bookkeeping, per serving thread
        self._methods: dict[str, Callable] = {
            "set_attrib": self._set_attrib,
            "add_output_files": self._add_output_files,
            "report_status": self._report_status,
            "warning": self._warning,
            "start_cook": self._start_cook,
            "set_custom_state": self._set_custom_state,
            "set_cook_percent": self._set_cook_percent,
            "append_log": self._append_log,
            "cancelled": self._cancelled,
            "invalidate_cache": self._invalidate_cache,
            "keepalive": self._keepalive,
            "get_workitem_json": self._get_workitem_json,
            "check_ready_batch": self._check_ready_batch,
            "add_sub_item_batch": self._add_sub_item_batch,
            "system.multicall": self._multicall,
        }

    # -- life cycle -------------------------------------------------------------------------------
    def start(self) -> None:
        self._server = _Server(self)
        host, port = self._server.server_address[:2]
        self.address = f"{host}:{port}"
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.1}, name=f"result-server-{port}", daemon=True
        )
        self._thread.start()

    def stop(self) -> None:
        """Stop serving; let calls being applied finish (their job is told "ok" and the effect is in
        the log); cut open connections (a kept-alive job must not report after the cook); join."""
        with self._lock:
            self._stopped = True
        if self._server is None:
            return
        self._shutdown_now()
        self._server.server_close()
        with self._idle:
            self._idle.wait_for(lambda: self._inflight == 0, timeout=_STOP_WAIT)
            conns = list(self._conns)
        for conn in conns:
            try:  # the read side only: its handler sees EOF and closes; SHUT_RDWR could lose an answer in flight
                conn.shutdown(socket.SHUT_RD)
            except OSError:
                pass
        self._thread.join()
        self._server = None

    def _shutdown_now(self) -> None:
        """``shutdown()`` waits for the serving loop's next poll (0.1 s at the end of every cook): a
        connection of our own wakes it at once (it carries no request: its handler just ends)."""
        stopper = threading.Thread(target=self._server.shutdown, name="result-server-stop", daemon=True)
        stopper.start()
        while stopper.is_alive():
            try:
                socket.create_connection(self._server.server_address[:2], timeout=0.1).close()
            except OSError:
                pass
            stopper.join(0.01)

    def __enter__(self) -> ResultServer:
        self.start()
        return self

    def __exit__(self, *exc) -> None:
        self.stop()

    def environment(self) -> dict[str, str]:
        return {
            "PDG_RESULT_SERVER": self.address,
            "PDG_RESULT_SECRET": self.secret,
            "PDG_RESULT_MAX_BODY": str(self.max_body),
        }

    def allow(self, item_id: str, item_name: str) -> None:
        with self._lock:
            self._ids[item_id] = item_name
            self._names[item_name] = item_id
            self._item_locks.setdefault(item_id, threading.Lock())
            self._done.setdefault(item_id, set())

    def allow_batch(self, batch_id: str, batch_name: str, subs: list[tuple[str, str]]) -> None:
        """A batch's job (``engine.cook.batches``) reports about the batch and, with a sub index,
        about each of its sub-items ``subs`` ((id, name) by sub index)."""
        self.allow(batch_id, batch_name)
        for sub_id, sub_name in subs:
            self.allow(sub_id, sub_name)
        with self._lock:
            self._batches[batch_id] = [sub_id for sub_id, _ in subs]

    def join_batch(self, batch_id: str, sub_id: str, sub_name: str) -> None:
        """A sub-item appended to a running batch (``appendSubItem``): the next sub index."""
        self.allow(sub_id, sub_name)
        with self._lock:
            self._batches.setdefault(batch_id, []).append(sub_id)

    def disallow(self, item_id: str) -> None:
        with self._lock:
            self._batches.pop(item_id, None)
            name = self._ids.pop(item_id, None)
            if name is not None and self._names.get(name) == item_id:
                del self._names[name]
            self._item_locks.pop(item_id, None)
            self._done.pop(item_id, None)

    def _enter(self) -> bool:
        with self._lock:
            if self._stopped:
                return False
            self._inflight += 1
            return True

    def _leave(self) -> None:
        with self._idle:
            self._inflight -= 1
            self._idle.notify_all()

    def _count_request(self) -> None:
        with self._lock:
            self.requests += 1

    def _track(self, conn: socket.socket, add: bool) -> None:
        with self._lock:
            (self._conns.add if add else self._conns.discard)(conn)

    # -- refusals ---------------------------------------------------------------------------------
    def _warn(self, exc: _Refused) -> None:
        self.sink.warning(exc.item_id, exc.message)

    def _warn_unauthenticated(self, exc: _Refused) -> None:
        with self._lock:
            self._auth_warnings += 1
            count = self._auth_warnings
        if count < _MAX_AUTH_WARNINGS:
            self.sink.warning(None, exc.message)
        elif count == _MAX_AUTH_WARNINGS:
            self.sink.warning(None, exc.message + f" (the {count}th such call: later ones are refused silently)")

    # -- the calls --------------------------------------------------------------------------------
    def _key(self, key, subindex=-1) -> tuple[str, tuple]:
        """The item a report key names (it must be cooking now) and the key's canonical form. A
        batch's sub-item is named by the batch and its sub index: the key's fourth entry, else
        ``subindex`` (a call's own argument)."""
        if isinstance(key, list) and len(key) == 4:
            key, subindex = key[:3], key[3]
        if not (
            isinstance(key, list)
            and len(key) == 3
            and isinstance(key[0], str)
            and isinstance(key[1], int)
            and not isinstance(key[1], bool)
            and key[1] >= 0
            and isinstance(key[2], (str, int))
            and not isinstance(key[2], bool)
            and len(str(key[2])) <= _SHORT
        ):
            raise _Refused(FAULT_INVALID, f"result server: a report key is [item, attempt, number], not {key!r:.200}")
        item = key[0]
        with self._lock:
            item_id = item if item in self._ids else self._names.get(item)
        if item_id is None:
            raise _Refused(FAULT_NOT_COOKING, f"result server: work item {item[:200]!r} is not cooking under this cook")
        if isinstance(subindex, int) and not isinstance(subindex, bool) and subindex >= 0:
            item_id = self._sub_item(item_id, subindex)
        return item_id, (item_id, key[1], str(key[2]))

    def _sub_item(self, item_id: str, subindex: int) -> str:
        """Sub-item ``subindex`` of the batch ``item_id`` (an item that is no batch is itself)."""
        with self._lock:
            subs = self._batches.get(item_id)
            if subs is None:
                return item_id
            if subindex >= len(subs):
                raise _Refused(
                    FAULT_INVALID, f"result server: batch {self._ids.get(item_id, item_id)} has no sub item {subindex}"
                )
            sub = subs[subindex]
            if sub not in self._ids:
                raise _Refused(
                    FAULT_NOT_COOKING,
                    f"result server: sub item {subindex} of batch {self._ids.get(item_id, item_id)} is not cooking",
                )
        return sub

    def _apply(self, item_id: str, key: tuple, effect: Callable[[], None]) -> bool:
        """Run ``effect`` once per report key; a repeat is acknowledged and changes nothing."""
        with self._lock:
            lock, done = self._item_locks.get(item_id), self._done.get(item_id)
        if lock is None:
            raise _Refused(FAULT_NOT_COOKING, f"result server: work item {item_id} is not cooking under this cook")
        with lock:
            if key in done:
                return True
            try:
                effect()
            except ValueError as exc:
                raise xmlrpc.client.Fault(FAULT_REFUSED, f"result server: {exc}") from None
            done.add(key)
            applied = getattr(self._local, "applied", None)
            if applied is not None:  # a deferred batch: forgotten again if the cook refuses it
                applied.append((self._local.tag, item_id, key))
        return True

    def _set_attrib(self, key, name, kind, values) -> bool:
        item_id, key = self._key(key)
        if not isinstance(name, str) or not _NAME.match(name):
            raise _Refused(
                FAULT_INVALID,
                f"result server: {name!r:.200} is not an attribute name"
                " (letters, digits and _, not starting with a digit)",
                item_id,
            )
        if kind not in KINDS:
            raise _Refused(
                FAULT_INVALID,
                f"result server: attribute {name}: type {kind!r:.50} is not one of {', '.join(KINDS)}",
                item_id,
            )
        if not isinstance(values, list):
            raise _Refused(FAULT_INVALID, f"result server: attribute {name}: values must be an array", item_id)
        clean = [self._value(item_id, name, kind, v) for v in values]
        return self._apply(item_id, key, lambda: self.sink.set_attrib(item_id, name, clean, kind))

    def _value(self, item_id: str, name: str, kind: str, v):
        bad = _Refused(
            FAULT_INVALID, f"result server: attribute {name} is {kind}, but a value is {_describe(v)}", item_id
        )
        if kind == "int":
            if isinstance(v, str) and _INT_TEXT.match(v):
                v = int(v)  # pdgcmd sends ints beyond XML-RPC's 32 bits as text
            if not isinstance(v, int) or isinstance(v, bool):
                raise bad
            if not _INT64[0] <= v <= _INT64[1]:
                raise _Refused(FAULT_INVALID, f"result server: attribute {name}: {v} does not fit in 64 bits", item_id)
            return v
        if kind == "float":
            if isinstance(v, bool) or not isinstance(v, (int, float)):
                raise bad
            return float(v)
        if kind == "str":
            if not isinstance(v, str):
                raise bad
            return self._string(item_id, f"attribute {name}", v)
        if kind == "file":
            if not (isinstance(v, list) and len(v) == 2 and all(isinstance(x, str) for x in v)):
                raise _Refused(
                    FAULT_INVALID,
                    f"result server: attribute {name}: a file value is [path, tag], not {_describe(v)}",
                    item_id,
                )
            return [self._path(item_id, v[0]), self._short(item_id, f"attribute {name}: tag", v[1])]
        if kind == "pyobject":  # a Python object's repr (pdgcmd.setPyObjectAttrib), kept as text
            if not isinstance(v, str):
                raise bad
            return self._string(item_id, f"attribute {name}", v)
        if not isinstance(v, dict) or not _plain(v):
            raise _Refused(
                FAULT_INVALID,
                f"result server: attribute {name} is dict, but a value is {_describe(v)}"
                " (dicts hold strings, numbers, booleans, nil, arrays and dicts)",
                item_id,
            )
        return v

    def _string(self, item_id: str, what: str, v: str) -> str:
        size = len(v.encode("utf-8", "surrogatepass"))
        if size > self.max_string:
            raise _Refused(
                FAULT_TOO_LARGE,
                f"result server: {what}: a string of {size} bytes is refused (the limit is {self.max_string})",
                item_id,
            )
        return v

    def _short(self, item_id: str, what: str, v) -> str:
        if isinstance(v, int) and not isinstance(v, bool):
            v = str(v)
        if not isinstance(v, str) or len(v) > _SHORT:
            raise _Refused(
                FAULT_INVALID,
                f"result server: {what} must be a string of at most {_SHORT} characters, not {_describe(v)}",
                item_id,
            )
        return v

    def _path(self, item_id: str, path: str) -> str:
        """``path`` relative to the project (absolute when outside and allowed), or refused."""
        if not path or "\0" in path or len(path) > 4096:
            raise _Refused(FAULT_INVALID, f"result server: {path!r:.200} is not a file path", item_id)
        if path.startswith("__PDG_DIR__"):  # pdgcmd.delocalizePath: the project folder, wherever the job ran
            path = self.project_dir + path[len("__PDG_DIR__") :]
        elif self.path_map is not None:
            path = self.path_map(path)
        full = os.path.normpath(os.path.join(self.project_dir, path))
        for base in (self.project_dir, self._project_real):
            rel = os.path.relpath(full, base)
            if rel == ".":
                raise _Refused(FAULT_INVALID, f"result server: {path} is the project folder, not a file", item_id)
            if rel != os.pardir and not rel.startswith(os.pardir + os.sep):
                # inside by its name; resolved (symlinks included), it must stay inside too
                problem = self._confine.problem(full)
                if not problem or self.allow_outside:
                    return rel.replace(os.sep, "/")
                raise _Refused(FAULT_INVALID, f"result server: {problem[:400]}", item_id)
        if self.allow_outside:
            return full
        raise _Refused(FAULT_INVALID, f"result server: {path[:300]} is outside the project {self.project_dir}", item_id)

    def _add_output_files(self, key, files) -> bool:
        item_id, key = self._key(key)
        if not isinstance(files, list):
            raise _Refused(FAULT_INVALID, "result server: output files must be an array of [path, tag, hash]", item_id)
        clean = []
        for f in files:
            if not (isinstance(f, list) and len(f) == 3 and isinstance(f[0], str)):
                raise _Refused(
                    FAULT_INVALID, f"result server: an output file is [path, tag, hash], not {_describe(f)}", item_id
                )
            clean.append(
                (
                    self._path(item_id, f[0]),
                    self._short(item_id, "output tag", f[1]),
                    self._short(item_id, "output hash", f[2]),
                )
            )
        return self._apply(item_id, key, lambda: self.sink.add_output_files(item_id, clean))

    def _report_status(self, key, ok, message="") -> bool:
        item_id, key = self._key(key)
        if not isinstance(ok, bool) or not isinstance(message, str):
            raise _Refused(FAULT_INVALID, "result server: a status is (ok: boolean, message: string)", item_id)
        message = self._string(item_id, "status message", message)
        return self._apply(item_id, key, lambda: self.sink.report_status(item_id, ok, message))

    def _warning(self, key, message) -> bool:
        item_id, key = self._key(key)
        if not isinstance(message, str):
            raise _Refused(FAULT_INVALID, f"result server: a warning is a string, not {_describe(message)}", item_id)
        message = self._string(item_id, "warning", message)
        return self._apply(item_id, key, lambda: self.sink.warning(item_id, message))

    # -- the rest of PDG's Job API (pdgcmd's calls beyond attributes, outputs and status) ------------
    def _start_cook(self, key, subindex=-1) -> bool:
        item_id, key = self._key(key, subindex)
        return self._apply(item_id, key, lambda: self.sink.log_line(item_id, "the job started cooking"))

    def _set_custom_state(self, key, subindex, state) -> bool:
        item_id, key = self._key(key, subindex)
        state = self._string(item_id, "custom state", state if isinstance(state, str) else str(state))
        return self._apply(item_id, key, lambda: self.sink.set_attrib(item_id, "__pdg_state", [state], "str"))

    def _set_cook_percent(self, key, subindex, percent) -> bool:
        item_id, key = self._key(key, subindex)
        if isinstance(percent, bool) or not isinstance(percent, (int, float)):
            raise _Refused(
                FAULT_INVALID, f"result server: a cook percent is a number, not {_describe(percent)}", item_id
            )
        value = float(percent)
        return self._apply(item_id, key, lambda: self.sink.set_attrib(item_id, "__pdg_cookpercent", [value], "float"))

    def _append_log(self, key, subindex, text, log_type=3) -> bool:
        item_id, key = self._key(key, subindex)
        if not isinstance(text, str):
            raise _Refused(FAULT_INVALID, f"result server: a log entry is a string, not {_describe(text)}", item_id)
        text = self._string(item_id, "log entry", text)
        level = {0: "error", 1: "warning"}.get(log_type, "info")
        return self._apply(item_id, key, lambda: self.sink.log_line(item_id, text, level))

    def _cancelled(self, key) -> bool:
        item_id, key = self._key(key)
        return self._apply(item_id, key, lambda: self.sink.report_cancelled(item_id, "the job cancelled itself"))

    def _invalidate_cache(self, key, subindex=-1) -> bool:
        """PDG: the item's results count as new, so its dependents cook. Recorded as the attribute
        ``__pdg_cacheinvalidated`` (the report's key: new for every call), which children inherit."""
        item_id, key = self._key(key, subindex)
        stamp = str(key[2])
        return self._apply(
            item_id, key, lambda: self.sink.set_attrib(item_id, "__pdg_cacheinvalidated", [stamp], "str")
        )

    def _keepalive(self, key) -> bool:
        item_id, key = self._key(key)
        return self._apply(item_id, key, lambda: self.sink.log_line(item_id, "keepalive", "debug"))

    def _get_workitem_json(self, key, subindex=-1) -> str:
        item_id, _ = self._key(key, subindex)
        try:
            return self.sink.item_json(item_id)
        except ValueError as exc:
            raise xmlrpc.client.Fault(FAULT_REFUSED, f"result server: {exc}") from None

    def _check_ready_batch(self, key, subindex=-1) -> int:
        """1: ready. A batch starts once all its sub-items are ready (PDG's ``batchActivation.All``),
        so each of them is; a sub index the batch does not have is refused."""
        item_id, _ = self._key(key)
        with self._lock:
            subs = self._batches.get(item_id)
        if subs is not None and isinstance(subindex, int) and subindex >= len(subs):
            raise _Refused(FAULT_INVALID, f"result server: batch {self._ids.get(item_id)} has no sub item {subindex}")
        return 1

    def _add_sub_item_batch(self, key) -> int:
        """A new sub-item at the end of the running batch (its index); -1 for an item that is no batch."""
        item_id, _ = self._key(key)
        with self._lock:
            is_batch = item_id in self._batches
        if not is_batch:
            return -1
        try:
            return self.sink.append_sub_item(item_id)
        except ValueError as exc:
            raise xmlrpc.client.Fault(FAULT_REFUSED, f"result server: {exc}") from None

    def _multicall(self, calls) -> list:
        """Several reports in one round trip; each is checked and applied on its own, in order.
        A sink that can defer its waits (``CookSink.deferring``) records them all with one flush;
        a report it then refuses gets its fault and its key is forgotten (a retry applies it)."""
        if not isinstance(calls, list):
            raise _Refused(FAULT_INVALID, "result server: system.multicall takes an array of calls")
        deferring = getattr(self.sink, "deferring", None)
        if deferring is None or len(calls) < 2:
            return self._each(calls, None)
        with deferring() as batch:
            self._local.applied = applied = []
            try:
                results = self._each(calls, batch)
            finally:
                self._local.applied = None
        for tag, error in batch.errors().items():
            results[tag] = {"faultCode": FAULT_REFUSED, "faultString": f"result server: {error}"}
            for at, item_id, key in applied:
                if at == tag:
                    with self._lock:
                        self._done.get(item_id, set()).discard(key)
        return results

    def _each(self, calls: list, batch) -> list:
        results = []
        for tag, call in enumerate(calls):
            if batch is not None:
                batch.tag = self._local.tag = tag
            try:
                if not (isinstance(call, dict) and isinstance(call.get("params"), list)):
                    raise _Refused(FAULT_INVALID, "result server: a multicall entry is {methodName, params}")
                method = call.get("methodName")
                if method == "system.multicall" or method not in self._methods:
                    raise _Refused(FAULT_INVALID, f"result server: there is no call named {method!r:.100}")
                results.append([self._methods[method](*call["params"])])
            except _Refused as exc:
                self._warn(exc)
                results.append({"faultCode": exc.code, "faultString": exc.message})
            except xmlrpc.client.Fault as fault:
                results.append({"faultCode": fault.faultCode, "faultString": fault.faultString})
            except TypeError as exc:
                results.append({"faultCode": FAULT_INVALID, "faultString": f"result server: bad arguments: {exc}"})
        return results


def _describe(v) -> str:
    text = repr(v)
    return f"{type(v).__name__} {text[:80]}{'...' if len(text) > 80 else ''}"


def _plain(v, depth: int = 0) -> bool:
    """Only what the log can hold (XML-RPC can also carry dates and binary blobs)."""
    if depth > 32:
        return False
    if isinstance(v, dict):
        return all(isinstance(k, str) and _plain(x, depth + 1) for k, x in v.items())
    if isinstance(v, list):
        return all(_plain(x, depth + 1) for x in v)
    return v is None or isinstance(v, (str, int, float, bool))
