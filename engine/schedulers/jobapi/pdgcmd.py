"""PDG's low-level Job API: a job script reports attributes, output files and its status to the
engine's result server over XML-RPC.

Standard library only: the scheduler copies this file into ``$PDG_TEMP/scripts`` next to the job.
Every call carries a report key (item, attempt, report number) so that a call repeated after a
dropped connection changes nothing the second time. Calls retry with backoff (``PDG_RPC_TIMEOUT``,
``PDG_RPC_RETRIES``, ``PDG_RPC_BACKOFF``; PDG's defaults 4 s, 2, 2 s); when the server stays gone,
or refuses a call, the job ends with a one-line message on stderr and exit status 1
(``ServerGone``/``ReportRefused`` are ``SystemExit``s, so ``except Exception`` does not hide them).
"""

from __future__ import annotations

import contextlib
import http.client
import json
import os
import socket
import sys
import threading
import time
import uuid
import xmlrpc.client

_INT_MIN, _INT_MAX = -(1 << 31), (1 << 31) - 1  # what XML-RPC's <int> carries; wider ints go as text
#: the value an attribute array is padded with up to an index set past its end, per attribute type
ATTRIB_DEFAULTS = {"int": 0, "float": 0.0, "str": "", "file": ["", "file"], "dict": {}}


class ServerGone(SystemExit):
    """The result server did not answer within the retry budget: the job cannot report, so it fails."""


class ReportRefused(SystemExit):
    """The result server refused a report (bad value, item not cooking, ...): the job fails."""


def _env_number(name: str, default: float, kind=float):
    try:
        return kind(os.environ.get(name, default))
    except ValueError:
        return kind(default)


class TooLarge(ValueError):
    """A request over the server's body limit: the server would hang up on it unread."""


class _Transport(xmlrpc.client.Transport):
    """XML-RPC over one kept-alive HTTP/1.1 connection, written and read on the socket directly:
    http.client sends headers and body in two writes and parses every answer's headers with the
    email package, most of a report's cost on the job's side. Refuses to send a body the server
    would refuse unread (the job would only see a broken pipe)."""

    def __init__(self, timeout: float, max_body: int) -> None:
        super().__init__()
        self._timeout = timeout
        self._max_body = max_body
        self._sock: socket.socket | None = None
        self._file = None

    def request(self, host, handler, request_body, verbose=False):
        if len(request_body) > self._max_body:
            raise TooLarge(f"{len(request_body)} bytes, over the result server's limit of {self._max_body}")
        reused = self._sock is not None
        try:
            return self._single(host, handler, request_body)
        except (ConnectionResetError, ConnectionAbortedError, BrokenPipeError, _Closed):
            self.close()
            if not reused:
                raise
        return self._single(host, handler, request_body)  # a kept-alive connection the server closed

    def _single(self, host: str, handler: str, body: bytes):
        if self._sock is None:
            name, _, port = host.rpartition(":")
            self._sock = socket.create_connection((name, int(port)), timeout=self._timeout)
            self._sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            self._file = self._sock.makefile("rb")
        head = (f"POST {handler} HTTP/1.1\r\nHost: {host}\r\nContent-Type: text/xml\r\n"
                f"Content-Length: {len(body)}\r\n\r\n")
        self._sock.sendall(head.encode("latin-1") + body)
        status = self._file.readline(65537)
        if not status:
            raise _Closed("the result server closed the connection")
        parts = status.split(None, 2)
        if len(parts) < 2 or not parts[0].startswith(b"HTTP/") or not parts[1].isdigit():
            raise http.client.BadStatusLine(repr(status[:100]))
        length, close = None, False
        while True:
            line = self._file.readline(65537)
            if line in (b"\r\n", b"\n", b""):
                break
            name, _, value = line.partition(b":")
            name = name.strip().lower()
            if name == b"content-length":
                length = int(value)
            elif name == b"connection" and value.strip().lower() == b"close":
                close = True
        if length is None:
            raise http.client.HTTPException("the result server answered without a Content-Length")
        data = self._file.read(length)
        if len(data) != length:
            raise http.client.IncompleteRead(data, length)
        if close:
            self.close()
        if int(parts[1]) != 200:
            reason = parts[2].decode("latin-1").strip() if len(parts) > 2 else ""
            raise xmlrpc.client.ProtocolError(host + handler, int(parts[1]), reason, {})
        parser, unmarshaller = self.getparser()
        parser.feed(data)
        parser.close()
        return unmarshaller.close()

    def close(self) -> None:
        if self._file is not None:
            self._file.close()
        if self._sock is not None:
            self._sock.close()
        self._sock = self._file = None


class _Closed(ConnectionError):
    """The server closed a kept-alive connection before answering."""


_RETRYABLE = (OSError, http.client.HTTPException, xmlrpc.client.ProtocolError)


class Client:
    """One connection to a result server; ``call`` retries with backoff and maps failures to exits."""

    def __init__(self, address: str | None = None, secret: str | None = None, *, timeout: float | None = None,
                 retries: int | None = None, backoff: float | None = None) -> None:
        self.address = address or os.environ.get("PDG_RESULT_SERVER", "")
        self.secret = secret if secret is not None else os.environ.get("PDG_RESULT_SECRET", "")
        self.timeout = timeout if timeout is not None else _env_number("PDG_RPC_TIMEOUT", 4.0)
        self.retries = retries if retries is not None else _env_number("PDG_RPC_RETRIES", 2, int)
        self.backoff = backoff if backoff is not None else _env_number("PDG_RPC_BACKOFF", 2.0)
        self.max_body = _env_number("PDG_RESULT_MAX_BODY", 1 << 20, int)
        if not self.address:
            raise ServerGone("pdgcmd: PDG_RESULT_SERVER is not set: this job was not started by a PDG scheduler")
        self._proxy = None

    def _connect(self):
        url = f"http://{self.address}/RPC2/{self.secret}"
        self._proxy = xmlrpc.client.ServerProxy(url, transport=_Transport(self.timeout, self.max_body),
                                                allow_none=True)
        return self._proxy

    def call(self, method: str, *args, what: str | None = None):
        """Call ``method``; retry a dropped connection; a Fault or a dead server ends the job."""
        what = what or method
        last = None
        for attempt in range(self.retries + 1):
            if attempt:
                time.sleep(self.backoff * (2 ** (attempt - 1)))
            proxy = self._proxy or self._connect()
            try:
                return getattr(proxy, method)(*args)
            except TooLarge:
                raise
            except (TypeError, OverflowError, ValueError) as exc:  # raised before anything is sent
                raise ReportRefused(f"pdgcmd: {what} cannot be sent: {exc}") from None
            except xmlrpc.client.Fault as fault:
                raise ReportRefused(f"pdgcmd: the result server refused {what}: {fault.faultString}") from None
            except (_RETRYABLE + (socket.timeout,)) as exc:
                last = exc
                self._proxy = None  # reconnect: the old connection may be half-closed
        raise ServerGone(
            f"pdgcmd: the result server at {self.address} did not answer {what} after {self.retries + 1} tries"
            f" ({type(last).__name__}: {last}); failing the job"
        )


_client: Client | None = None
_lock = threading.Lock()
_token = f"{os.getpid()}-{uuid.uuid4().hex[:8]}"  # report numbers of this process never meet another's
_counter = 0
_arrays: dict[str, list] = {}  # the job's view of each attribute set so far, for indexed setters
_local = threading.local()  # .pending: the calls of an open batch() on this thread


@contextlib.contextmanager
def batch():
    """Send the reports made inside the block in one round trip (``system.multicall``) when it ends.

    Each report is still checked and applied on its own; a refused one ends the job as usual, once
    the others were sent. Nested blocks join the outer one."""
    if getattr(_local, "pending", None) is not None:
        yield
        return
    _local.pending = []
    try:
        yield
    finally:
        calls, _local.pending = _local.pending, None
        if calls:
            _flush(calls)


def _flush(calls: list) -> None:
    """Send a batch in one request, or in halves when it is over the server's body limit."""
    wire = [{"methodName": method, "params": list(args)} for method, args, _ in calls]
    try:
        results = _call("system.multicall", wire, what=f"{len(calls)} batched reports", split=len(calls) > 1)
    except TooLarge:
        _flush(calls[: len(calls) // 2])
        _flush(calls[len(calls) // 2:])
        return
    for (_, _, what), result in zip(calls, results):
        if isinstance(result, dict):
            raise ReportRefused(f"pdgcmd: the result server refused {what}: {result.get('faultString')}")


def _send(method: str, *args, what: str) -> None:
    """Make one report now, or queue it when a batch() is open."""
    pending = getattr(_local, "pending", None)
    if pending is not None:
        pending.append((method, args, what))
    else:
        _call(method, *args, what=what)


def _call(method: str, *args, what: str, split: bool = False):
    try:
        return client().call(method, *args, what=what)
    except TooLarge as exc:
        if split:
            raise
        raise ReportRefused(f"pdgcmd: {what} cannot be sent: the request is {exc}") from None


def client() -> Client:
    global _client
    if _client is None:
        _client = Client()
    return _client


def reset(new_client: Client | None = None) -> None:
    """Forget the connection and the attribute cache (tests; a job never needs this)."""
    global _client
    _client = new_client
    _arrays.clear()


def _item(item_name: str | None) -> str:
    item = item_name or os.environ.get("PDG_ITEM_ID") or os.environ.get("PDG_ITEM_NAME")
    if not item:
        raise ReportRefused("pdgcmd: neither PDG_ITEM_ID nor PDG_ITEM_NAME is set: which work item is this?")
    return item


def report_key(item: str) -> list:
    """(item, attempt, report number): unique per report, the same for a retry of it."""
    global _counter
    with _lock:
        _counter += 1
        number = f"{_token}.{_counter}"
    return [item, _env_number("PDG_ITEM_ATTEMPT", 0, int), number]


def wire_value(kind: str, value):
    """``value`` as XML-RPC carries it: ints outside 32 bits travel as decimal text."""
    if kind == "int":
        value = int(value)
        return value if _INT_MIN <= value <= _INT_MAX else str(value)
    if kind == "float":
        return float(value)
    if kind == "file":
        if isinstance(value, (list, tuple)):
            path, tag = value
        else:
            path, tag = getattr(value, "path", value), getattr(value, "tag", "file")
        return [os.path.abspath(os.fspath(path)), str(tag or "file")]
    if kind == "dict":
        return dict(value)
    return str(value)


def send_attrib(name: str, kind: str, values: list, item_name: str | None = None) -> None:
    """Set attribute ``name`` of the item to the whole array ``values`` (already of ``kind``)."""
    item = _item(item_name)
    wire = [wire_value(kind, v) for v in values]
    _send("set_attrib", report_key(item), str(name), kind, wire, what=f"attribute {name!r}")
    _arrays[name] = list(values)


def _current(name: str, kind: str) -> list:
    if name not in _arrays:
        _arrays[name] = list(_job_attrib(name, kind))
    return list(_arrays[name])


def _job_attrib(name: str, kind: str) -> list:
    """The attribute's values from this job's item file, when it has one and the types agree."""
    data = load_item_data()
    attr = (data or {}).get("attributes", {}).get(name)
    return attr["values"] if attr and attr["type"] == kind else []


def load_item_data(item_name: str | None = None) -> dict | None:
    """The job's serialized work item (``$PDG_TEMP/data/<name>.json``), or None when there is none."""
    name = item_name or os.environ.get("PDG_ITEM_NAME")
    temp = os.environ.get("PDG_TEMP")
    if not name or not temp:
        return None
    try:
        with open(os.path.join(temp, "data", f"{name}.json"), encoding="utf-8") as f:
            return json.load(f)
    except FileNotFoundError:
        return None


def _set_at(name: str, kind: str, value, index: int, item_name: str | None) -> None:
    if index < 0:
        raise IndexError(f"pdgcmd: attribute {name!r}: index {index} is negative")
    values = _current(name, kind)
    values.extend([ATTRIB_DEFAULTS[kind]] * (index + 1 - len(values)))
    values[index] = value
    send_attrib(name, kind, values, item_name)


# -- PDG's pdgcmd functions ---------------------------------------------------------------------

def setStringAttrib(attrib_name: str, value, index: int = 0, item_name: str | None = None) -> None:
    _set_at(attrib_name, "str", str(value), index, item_name)


def setIntAttrib(attrib_name: str, value, index: int = 0, item_name: str | None = None) -> None:
    _set_at(attrib_name, "int", int(value), index, item_name)


def setFloatAttrib(attrib_name: str, value, index: int = 0, item_name: str | None = None) -> None:
    _set_at(attrib_name, "float", float(value), index, item_name)


def setFileAttrib(attrib_name: str, path, index: int = 0, tag: str = "file", item_name: str | None = None) -> None:
    _set_at(attrib_name, "file", [localize_abs(path), tag], index, item_name)


def setDictAttrib(attrib_name: str, value: dict, index: int = 0, item_name: str | None = None) -> None:
    _set_at(attrib_name, "dict", dict(value), index, item_name)


def setStringAttribArray(attrib_name: str, values, item_name: str | None = None) -> None:
    send_attrib(attrib_name, "str", [str(v) for v in values], item_name)


def setIntAttribArray(attrib_name: str, values, item_name: str | None = None) -> None:
    send_attrib(attrib_name, "int", [int(v) for v in values], item_name)


def setFloatAttribArray(attrib_name: str, values, item_name: str | None = None) -> None:
    send_attrib(attrib_name, "float", [float(v) for v in values], item_name)


def setFileAttribArray(attrib_name: str, paths, tag: str = "file", item_name: str | None = None) -> None:
    send_attrib(attrib_name, "file", [[localize_abs(p), tag] for p in paths], item_name)


def addOutputFile(path, tag: str = "", hash_code="", item_name: str | None = None) -> None:
    addOutputFiles([path], tag, [hash_code], item_name)


def addOutputFiles(paths, tags="", hash_codes=None, item_name: str | None = None) -> None:
    """Report files the job wrote; ``tags``/``hash_codes`` are one value for all or one per path."""
    paths = [os.fspath(p) for p in paths]
    tags = [tags] * len(paths) if isinstance(tags, str) else list(tags)
    hashes = list(hash_codes) if hash_codes is not None else [""] * len(paths)
    if len(tags) != len(paths) or len(hashes) != len(paths):
        raise ValueError("pdgcmd: addOutputFiles needs one tag and one hash per path (or a single tag)")
    files = [[os.path.abspath(p), str(t or ""), "" if h in (None, 0, "") else str(h)]
             for p, t, h in zip(paths, tags, hashes)]
    item = _item(item_name)
    _send("add_output_files", report_key(item), files, what=f"output files {paths[:3]}")


def warning(message: str, item_name: str | None = None) -> None:
    item = _item(item_name)
    _send("warning", report_key(item), str(message), what="a warning")


def workItemSuccess(item_name: str | None = None) -> None:
    item = _item(item_name)
    _send("report_status", report_key(item), True, "", what="success")


def workItemFailed(message: str = "", item_name: str | None = None) -> None:
    item = _item(item_name)
    _send("report_status", report_key(item), False, str(message), what="failure")


def localizePath(path: str) -> str:
    """Identity until the path map arrives."""
    return path


def delocalizePath(path: str) -> str:
    """Identity until the path map arrives."""
    return path


def localize_abs(path) -> str:
    return os.path.abspath(localizePath(os.fspath(getattr(path, "path", path))))
