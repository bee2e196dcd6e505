"""The result server's HTTP side: a call is authenticated and size-checked before it is read.

This Python's expat predates the entity-expansion fixes, so no unauthenticated XML may ever be
parsed: the per-cook secret (constant time, in the URL path ``/RPC2/<secret>``) and the body's
declared size and encoding are checked from the headers alone, and a refused call's body is left
unread. Only then is the body handed to the stdlib's XML-RPC dispatch. Apart from the calls
(``jobcalls``) because this is where an attacker meets the engine.
"""

from __future__ import annotations

import hmac
import http
import socket
import socketserver
import xmlrpc.client
from collections.abc import Callable, Iterable
from typing import Any, Protocol, cast
from xmlrpc.server import SimpleXMLRPCRequestHandler, SimpleXMLRPCServer

from pdgstore.engine.schedulers import rpccall
from pdgstore.engine.schedulers.relaywire import (
    MAX_CALLS,
    RELAY_PACKED_TYPE,
    RELAY_PREFIX,
    RELAY_TYPE,
    RPC_PREFIX,
    XML,
    fault_bytes,
    frames,
    is_multicall,
    packed_answer,
    read_frame,
    relayed_limit,
    result_bytes,
    unframe,
)
from pdgstore.engine.schedulers.reportcheck import (
    FAULT_AUTH,
    FAULT_ENCODING,
    FAULT_INVALID,
    FAULT_STOPPED,
    FAULT_TOO_LARGE,
    Refused,
)

STOPPED = "result server: the cook is over; no more reports are accepted"


class Gatekeeper(Protocol):
    """What the HTTP side asks of the result server that owns it (``ResultServer``)."""

    host: str
    secret: str
    max_body: int
    methods: dict[str, Callable[..., Any]]

    @property
    def stopped(self) -> bool: ...
    def enter(self) -> bool: ...
    def leave(self) -> None: ...
    def count_request(self) -> None: ...
    def track(self, conn: socket.socket, add: bool) -> None: ...
    def warn(self, exc: Refused) -> None: ...
    def warn_unauthenticated(self, exc: Refused) -> None: ...


MAX_HEADERS = 100  # as the stdlib's http.client
MAX_LINE = 65536


class Headers:
    """A request's headers by lower-cased name; a repeated name keeps its first value (as the
    stdlib's message does), which is why a repeated Content-Length is refused before this."""

    __slots__ = ("_fields",)

    def __init__(self, fields: dict[str, str]) -> None:
        self._fields = fields

    def get(self, name: str, default: str | None = None) -> str | None:
        return self._fields.get(name.lower(), default)

    def __getitem__(self, name: str) -> str | None:
        return self._fields.get(name.lower())


class GuardedHandler(SimpleXMLRPCRequestHandler):
    """Authenticate and size-check before the stdlib reads or parses anything."""

    server: GuardedServer
    protocol_version = "HTTP/1.1"  # keep-alive: a job's many reports share one connection
    wbufsize = -1  # an answer's headers and body leave in one write (flushed after each request)
    timeout = 60  # an idle or stalled connection does not hold a thread forever

    def setup(self) -> None:
        super().setup()
        # headers and body go out as two writes: without this, Nagle may hold the body back
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.server.owner.track(self.connection, True)

    def finish(self) -> None:
        try:
            super().finish()
        finally:
            self.server.owner.track(self.connection, False)

    def parse_request(self) -> bool:
        """The request line and headers, read by hand: the stdlib hands headers to the email
        package's parser, a large part of the server's own cost per call (a job makes one call per
        report). Only what this server needs is kept; anything malformed ends the connection."""
        line = str(self.raw_requestline, "iso-8859-1").rstrip("\r\n")  # type: ignore[attr-defined]  # not in the stubs
        self.requestline = line
        self.command, self.path, self.request_version = "", "", "HTTP/1.1"
        words = line.split()
        if len(words) != 3 or not words[2].startswith("HTTP/1."):
            self.send_error(http.HTTPStatus.BAD_REQUEST, "a request line is METHOD PATH HTTP/1.x")
            return False
        self.command, self.path, self.request_version = words
        fields: dict[str, str] = {}
        for _ in range(MAX_HEADERS + 1):
            raw = self.rfile.readline(MAX_LINE + 1)
            if raw in (b"\r\n", b"\n", b""):
                break
            name, sep, value = str(raw, "iso-8859-1").partition(":")
            name = name.strip().lower()
            if len(raw) > MAX_LINE or not sep or not name:
                self.send_error(http.HTTPStatus.BAD_REQUEST, "a malformed header")
                return False
            if name == "content-length" and name in fields:
                self.send_error(http.HTTPStatus.BAD_REQUEST, "a repeated Content-Length")
                return False
            fields.setdefault(name, value.strip())
        else:
            self.send_error(http.HTTPStatus.REQUEST_HEADER_FIELDS_TOO_LARGE, "too many headers")
            return False
        self.headers = Headers(fields)  # type: ignore[assignment]  # what this handler reads of a message
        connection = fields.get("connection", "").lower()
        self.close_connection = connection == "close" or (
            self.request_version == "HTTP/1.0" and connection != "keep-alive"
        )
        if fields.get("expect", "").lower() == "100-continue":
            return self.handle_expect_100()
        return True

    def do_POST(self) -> None:  # noqa: N802 - the stdlib's name
        owner = self.server.owner
        try:
            relayed = self._check(owner)
            owner.count_request()
            length = int(self.headers["Content-Length"])
            body = self.rfile.read(length)
            if len(body) != length:
                self.close_connection = True
                return
            if not owner.enter():
                raise Refused(FAULT_STOPPED, STOPPED)
            try:  # until the answer is written: stop() must not cut the connection before the job hears it
                if relayed:
                    packed = (self.headers.get("Content-Type") or "").encode("latin-1") == RELAY_PACKED_TYPE
                    self._answer(self._relayed(body, packed), RELAY_PACKED_TYPE if packed else RELAY_TYPE)
                else:
                    self._answer(self.server._marshaled_dispatch(body, None, self.path))
            finally:
                owner.leave()
        except Refused as exc:
            if exc.code == FAULT_AUTH:
                owner.warn_unauthenticated(exc)
            elif exc.code != FAULT_STOPPED:  # after the cook, nothing more goes to its log
                owner.warn(exc)
            self.close_connection = True  # the body was not read: the connection cannot be reused
            self._answer(
                xmlrpc.client.dumps(
                    xmlrpc.client.Fault(exc.code, exc.message), methodresponse=True, allow_none=False
                ).encode()
            )

    def _relayed(self, body: bytes, packed: bool) -> bytes:
        """A relay's request: each framed call answered as if its job had sent it alone, all of
        them recorded by one flush (``GuardedServer.dispatch_many``); ``packed``: tagged frames,
        calls the relay read (``relaywire``). A malformed body ends the connection (only a relay
        holding the secret gets here)."""
        try:
            calls = [read_frame(f) if packed else (None, f) for f in unframe(body, MAX_CALLS)]
        except ValueError as exc:
            raise Refused(FAULT_INVALID, f"result server: {exc}") from None
        return frames(self.server.dispatch_many(calls, packed))

    def _answer(self, response: bytes, kind: bytes = b"text/xml") -> None:
        """Status line, headers and body in one write (no Server or Date header: a job reads none)."""
        close = b"Connection: close\r\n" if self.close_connection else b""
        head = b"HTTP/1.1 200 OK\r\nContent-Type: %s\r\nContent-Length: %d\r\n%s\r\n" % (
            kind,
            len(response),
            close,
        )
        self.wfile.write(head + response)

    def _check(self, owner: Gatekeeper) -> bool:
        """Refuse (``Refused``) what may not be read; True: a relay's request (``_relayed``)."""
        path = self.path.encode("utf-8", "surrogateescape")
        relayed = path.startswith(RELAY_PREFIX.encode())
        prefix = RELAY_PREFIX if relayed else RPC_PREFIX
        given = path[len(prefix) :] if path.startswith(prefix.encode()) else b""
        if not hmac.compare_digest(given, owner.secret.encode()):
            raise Refused(
                FAULT_AUTH,
                f"result server: refused a call from {self.client_address[0]} with a missing or wrong secret",
            )
        if owner.stopped:
            raise Refused(FAULT_STOPPED, STOPPED)
        encoding = self.headers.get("Content-Encoding", "identity").strip().lower()
        if encoding not in ("", "identity"):
            raise Refused(FAULT_ENCODING, f"result server: compressed bodies ({encoding}) are refused")
        length = self.headers.get("Content-Length", "")
        if not (length.isascii() and length.isdigit()):
            raise Refused(FAULT_TOO_LARGE, "result server: a call without a Content-Length is refused")
        limit = relayed_limit(owner.max_body) if relayed else owner.max_body
        if int(length) > limit:
            raise Refused(
                FAULT_TOO_LARGE,
                f"result server: a call of {int(length)} bytes is refused (the limit is {limit})",
            )
        return relayed

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - the stdlib's name
        """Silent: a job's reports are events, not lines on the engine's stderr."""


class GuardedServer(socketserver.ThreadingMixIn, SimpleXMLRPCServer):
    """A thread per connection, an ephemeral port on the owner's host, and calls dispatched to the
    owner's ``methods``."""

    daemon_threads = True
    allow_reuse_address = False

    def __init__(self, owner: Gatekeeper, listener: socket.socket | None = None) -> None:
        """``listener``: a socket bound and listening already (``ResultServer.start``), served
        from now on; else one is bound to an ephemeral port of the owner's host."""
        self.owner = owner
        super().__init__(
            (owner.host, 0),
            requestHandler=GuardedHandler,
            logRequests=False,
            allow_none=False,
            use_builtin_types=False,
            bind_and_activate=listener is None,
        )
        if listener is not None:
            self.socket.close()
            self.socket = listener
            self.server_address = listener.getsockname()

    def handle_error(self, request: Any, client_address: Any) -> None:
        """A job that hangs up mid-call is the job's problem: no traceback on the engine's stderr."""

    def _marshaled_dispatch(self, data: bytes, dispatch_method: Any = None, path: Any = None) -> bytes:  # type: ignore[override]  # the stdlib answers bytes
        """The stdlib's, with the call read by ``rpccall`` where it can (the stdlib reads the rest)."""
        call = rpccall.read_call(data)
        if call is None:
            return cast(bytes, super()._marshaled_dispatch(data, dispatch_method, path))
        return self._answer_call(*call)

    def _answer_call(self, params: tuple, method: str) -> bytes:
        """A call's XML answer (or fault), as the stdlib's dispatch writes it."""
        try:
            response = xmlrpc.client.dumps(
                (self._dispatch(method, params),),
                methodresponse=True,
                allow_none=self.allow_none,
                encoding=self.encoding,
            )
        except xmlrpc.client.Fault as fault:
            response = xmlrpc.client.dumps(fault, allow_none=self.allow_none, encoding=self.encoding)
        except BaseException as exc:  # noqa: BLE001 - as the stdlib's: the job hears of it as a fault
            response = xmlrpc.client.dumps(
                xmlrpc.client.Fault(1, f"{type(exc)}:{exc}"), encoding=self.encoding, allow_none=self.allow_none
            )
        return response.encode(self.encoding, "xmlcharrefreplace")

    def dispatch_many(self, calls: list[tuple[tuple[tuple, str] | None, bytes]], packed: bool = False) -> list[bytes]:
        """Each call's answer, as ``_marshaled_dispatch`` would give its body alone, with their
        reports recorded together: the calls (a job's own ``system.multicall`` opened into its
        calls) go through the one multicall of ``jobcalls``, which defers every wait to one. A call
        is ``(None, body)`` (its XML-RPC body, read here) or ``((params, method), b"")`` (read on
        the relay's worker). A body over the per-call limit, or unreadable, gets the fault it would
        get alone. ``packed``: answers tagged (``relaywire``), a call read on the worker answered
        by its result, not its XML."""
        entries: list[Any] = []
        spans: list[tuple[int, int, bool, bool] | bytes] = []  # (first entry, count, a multicall, read there) or XML
        for call, body in calls:
            if len(body) > self.owner.max_body:
                spans.append(fault_bytes(FAULT_TOO_LARGE, f"result server: a call of {len(body)} bytes is refused"))
                continue
            read_there = call is not None
            if call is None:
                call = rpccall.read_call(body)
            if call is None:
                try:
                    params, method = xmlrpc.client.loads(body, use_builtin_types=False)
                except BaseException as exc:  # noqa: BLE001 - as the stdlib's dispatch: a fault
                    spans.append(fault_bytes(1, f"{type(exc)}:{exc}"))
                    continue
                call = (params, method or "")
            params, method = call
            if is_multicall(method, params):
                opened = cast(list, params[0])
                spans.append((len(entries), len(opened), True, read_there))
                entries.extend(opened)
            elif method == "system.multicall":  # malformed: the fault it gets alone
                spans.append(self._answer_call(params, method))
            else:
                spans.append((len(entries), 1, False, read_there))
                entries.append({"methodName": method, "params": list(params)})
        results = self.owner.methods["system.multicall"](entries) if entries else []
        answers = []
        for span in spans:
            if isinstance(span, bytes):
                answers.append(XML + span if packed else span)
                continue
            first, count, multi, read_there = span
            entry = results[first : first + count] if multi else results[first]
            if packed and read_there:
                answers.append(packed_answer(entry, multi))
            else:
                answers.append(XML + result_bytes(entry, multi) if packed else result_bytes(entry, multi))
        return answers

    def _dispatch(self, method: str, params: Iterable[Any]) -> Any:
        handler = self.owner.methods.get(method)
        if handler is None:
            raise xmlrpc.client.Fault(FAULT_INVALID, f"result server: there is no call named {method!r}")
        try:
            return handler(*params)
        except TypeError as exc:  # wrong number of arguments
            raise xmlrpc.client.Fault(FAULT_INVALID, f"result server: bad arguments to {method}: {exc}") from None
        except Refused as exc:
            self.owner.warn(exc)
            raise xmlrpc.client.Fault(exc.code, exc.message) from None
