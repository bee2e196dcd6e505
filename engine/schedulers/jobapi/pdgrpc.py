"""The Job API's wire: XML-RPC to the engine's result server over one kept-alive connection.

Part of the job-side modules (``pdgcmd``, ``pdgjson``), standard library only, copied with them into
``$PDG_TEMP/scripts``. ``Client.call`` retries a dropped connection with backoff and turns a refusal
or a dead server into ``ReportRefused``/``ServerGone`` (``SystemExit``s: ``except Exception`` does
not hide them).

Every Python job imports this, so it imports little: ``xmlrpc.client`` brings ``http.client``,
``email`` and ``ssl`` with it, about 28 ms of a job's start (a bare interpreter starts in about 23
ms), and a job's calls need none of them. Requests are written here and the usual answers are
known by their bytes; the stdlib's XML-RPC is imported only to write or read a value of a rarer
kind, or a fault.
"""

from __future__ import annotations

import errno
import io
import os
import select
import socket
import time

XMLRPC_INT_MIN, XMLRPC_INT_MAX = -(1 << 31), (1 << 31) - 1  # what XML-RPC's <int> carries; wider ints go as text


class ServerGone(SystemExit):
    """The result server did not answer within the retry budget: the job cannot report, so it fails."""


class ReportRefused(SystemExit):
    """The result server refused a report (bad value, item not cooking, ...): the job fails."""


class NotSent(ReportRefused):
    """A report the job could not send (a value XML-RPC cannot carry): the server never saw it."""


def env_number(name: str, default: float, kind=float):
    try:
        return kind(os.environ.get(name, default))
    except ValueError:
        return kind(default)


class TooLarge(ValueError):
    """A request over the server's body limit: the server would hang up on it unread."""


class BadAnswer(ConnectionError):
    """The server's answer was not a whole HTTP answer (a bad status line, no length, cut short):
    the call is tried again, on a new connection."""


class HTTPStatusError(ConnectionError):
    """The server answered with an HTTP status other than 200 (tried again, as a dropped call is).
    Says the status, never the request's path: that holds the job's secret."""

    def __init__(self, status: int, reason: str) -> None:
        super().__init__(f"the result server answered HTTP {status} {reason}".rstrip())
        self.status = status


class Fault(Exception):
    """The server refused the call (an XML-RPC fault): ``faultCode`` and ``faultString`` as
    ``xmlrpc.client.Fault`` has them."""

    def __init__(self, code: int, text: str) -> None:
        super().__init__(text)
        self.faultCode, self.faultString = code, text


class _Transport:
    """XML-RPC over one kept-alive HTTP/1.1 connection, written and read on the socket directly:
    http.client sends headers and body in two writes and parses every answer's headers with the
    email package, most of a report's cost on the job's side. Refuses to send a body the server
    would refuse unread (the job would only see a broken pipe)."""

    def __init__(self, timeout: float, max_body: int) -> None:
        self._timeout = timeout
        self._max_body = max_body
        self._sock: socket.socket | None = None
        self._file: io.BufferedReader | None = None
        self._connecting = False  # ``open`` started a connect that the first request completes

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

    def open(self, host: str) -> None:
        """Start connecting to ``host`` without waiting (the first request completes it): a job
        that connects while it is still starting finds the server's side of the connection (its
        accept, its handler thread) ready by its first report, instead of waiting for it then."""
        if self._sock is not None:
            return
        family, address = _family_and_address(host)
        sock = socket.socket(*family)
        sock.setblocking(False)
        try:
            sock.connect(address)
        except BlockingIOError:
            pass
        except OSError:
            sock.close()
            raise
        self._sock, self._connecting = sock, True

    def _single(self, host: str, handler: str, body: bytes):
        if self._sock is None:
            family, address = _family_and_address(host)
            self._sock = socket.socket(*family)
            try:
                self._sock.settimeout(self._timeout)
                self._sock.connect(address)
            except OSError:
                self.close()
                raise
        if self._connecting or self._file is None:
            self._finish_connect()
        assert self._sock is not None and self._file is not None  # made just above, or kept
        head = (f"POST {handler} HTTP/1.1\r\nHost: {host}\r\nContent-Type: text/xml\r\n"
                f"Content-Length: {len(body)}\r\n\r\n")
        self._sock.sendall(head.encode("latin-1") + body)
        status = self._file.readline(65537)
        if not status:
            raise _Closed("the result server closed the connection")
        parts = status.split(None, 2)
        if len(parts) < 2 or not parts[0].startswith(b"HTTP/") or not parts[1].isdigit():
            raise BadAnswer(f"the result server's answer began {status[:100]!r}")
        length, close = None, False
        while True:
            line = self._file.readline(65537)
            if line in (b"\r\n", b"\n", b""):
                break
            field, _, value = line.partition(b":")
            field = field.strip().lower()
            if field == b"content-length":
                length = int(value)
            elif field == b"connection" and value.strip().lower() == b"close":
                close = True
        if length is None:
            raise BadAnswer("the result server answered without a Content-Length")
        data = self._file.read(length)
        if len(data) != length:
            raise BadAnswer(f"the result server's answer was cut short ({len(data)} of {length} bytes)")
        if close:
            self.close()
        if int(parts[1]) != 200:
            reason = parts[2].decode("latin-1").strip() if len(parts) > 2 else ""
            raise HTTPStatusError(int(parts[1]), reason)
        known = _KNOWN_ANSWERS.get(data)
        if known is not None:  # most answers are one of these: an XML parser costs more than the rest of a call
            return known
        return read_answer(data)

    def _finish_connect(self) -> None:
        """Wait (up to the timeout) for a connect ``open`` started; then the socket blocks again."""
        sock = self._sock
        assert sock is not None
        if self._connecting:
            self._connecting = False
            _, writable, _ = select.select([], [sock], [], self._timeout)
            error = sock.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR) if writable else errno.ETIMEDOUT
            if error:
                self.close()
                raise OSError(error, os.strerror(error))
        sock.settimeout(self._timeout)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self._file = sock.makefile("rb")

    def close(self) -> None:
        if self._file is not None:
            self._file.close()
        if self._sock is not None:
            self._sock.close()
        self._sock = self._file = None
        self._connecting = False


def _family_and_address(host: str) -> tuple[tuple[int, int, int], tuple]:
    """``host:port`` resolved: (family, type, proto) and the socket address. The name goes to
    ``getaddrinfo`` as bytes: as text it loads the idna codec first (milliseconds on a job's first
    call), and a result server's address is an IP address or a plain host name."""
    name, _, port = host.rpartition(":")
    name = name[1:-1] if name.startswith("[") and name.endswith("]") else name
    try:
        raw = name.encode("ascii")
    except UnicodeEncodeError:
        raw = name.encode("idna")
    family, kind, proto, _, address = socket.getaddrinfo(raw, int(port), 0, socket.SOCK_STREAM)[0]
    return (family, kind, proto), address


def read_answer(data: bytes) -> tuple:
    """An answer's values, read by the stdlib's XML-RPC reader (imported here, the first time an
    answer is not one of ``_KNOWN_ANSWERS``); a fault raises ``Fault``."""
    import xmlrpc.client
    from xml.parsers.expat import ExpatError

    parser, unmarshaller = xmlrpc.client.getparser()
    try:
        parser.feed(data)
        parser.close()
        return unmarshaller.close()
    except xmlrpc.client.Fault as fault:
        raise Fault(fault.faultCode, fault.faultString) from None
    except (xmlrpc.client.ResponseError, ExpatError, ValueError) as exc:
        raise BadAnswer(f"the result server's answer is not XML-RPC: {exc}") from None


def answer_body(value) -> bytes:
    """The answer carrying ``value``, as ``xmlrpc.client.dumps((value,), methodresponse=True)``
    writes it."""
    out = ["<?xml version='1.0'?>\n<methodResponse>\n<params>\n<param>\n"]
    _dump(value, out)
    out.append("</param>\n</params>\n</methodResponse>\n")
    return "".join(out).encode()


def request_body(method: str, params: tuple) -> bytes:
    """The XML-RPC request calling ``method`` with ``params``, as ``xmlrpc.client.dumps`` (with
    ``allow_none``) writes it, byte for byte: a job's reports are strings, numbers and lists of
    them, and the stdlib's marshaller (a method lookup and a write callback per value) cost more of
    a report than the rest of the job's side. A value of any other type is left to the stdlib. The
    method name goes as it is, as the stdlib writes it (the job's methods are the engine's own)."""
    out = [f"<?xml version='1.0'?>\n<methodCall>\n<methodName>{method}</methodName>\n<params>\n"]
    try:
        for value in params:
            out.append("<param>\n")
            _dump(value, out)
            out.append("</param>\n")
    except (_Unusual, RecursionError):  # RecursionError: a list that holds itself, which the stdlib refuses
        import xmlrpc.client

        return xmlrpc.client.dumps(params, method, allow_none=True).encode("utf-8", "xmlcharrefreplace")
    out.append("</params>\n</methodCall>\n")
    return "".join(out).encode("utf-8", "xmlcharrefreplace")


def _escape(text: str) -> str:
    """The stdlib marshaller's escaping of strings and member names (``xmlrpc.client.escape``)."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


class _Unusual(Exception):
    """A value ``_dump`` leaves to the stdlib's marshaller."""


def _dump(value, out: list) -> None:
    kind = type(value)
    if kind is str:
        out.append(f"<value><string>{_escape(value)}</string></value>\n")
    elif kind is bool:
        out.append("<value><boolean>1</boolean></value>\n" if value else "<value><boolean>0</boolean></value>\n")
    elif kind is int:
        if not XMLRPC_INT_MIN <= value <= XMLRPC_INT_MAX:
            raise OverflowError("int exceeds XML-RPC limits")
        out.append(f"<value><int>{value}</int></value>\n")
    elif kind is float:
        out.append(f"<value><double>{value!r}</double></value>\n")
    elif kind is list or kind is tuple:
        out.append("<value><array><data>\n")
        for item in value:
            _dump(item, out)
        out.append("</data></array></value>\n")
    elif kind is dict and all(type(key) is str for key in value):
        out.append("<value><struct>\n")
        for key, item in value.items():
            out.append(f"<member>\n<name>{_escape(key)}</name>\n")
            _dump(item, out)
            out.append("</member>\n")
        out.append("</struct></value>\n")
    elif value is None:
        out.append("<value><nil/></value>")
    else:
        raise _Unusual


class _Closed(ConnectionError):
    """The server closed a kept-alive connection before answering."""


#: the answers most calls get (a report's ``True``, ``checkReady``'s 1), as the stdlib writes them
#: (the server's too), by their bytes: what reading them would give
_KNOWN_ANSWERS = {answer_body(value): (value,) for value in (True, False, 1, 0, -1)}

_RETRYABLE = (OSError,)  # BadAnswer and HTTPStatusError are OSErrors too


class Client:
    """One connection to a result server; ``call`` retries with backoff and maps failures to exits."""

    def __init__(self, address: str | None = None, secret: str | None = None, *, timeout: float | None = None,
                 retries: int | None = None, backoff: float | None = None) -> None:
        self.address = address or os.environ.get("PDG_RESULT_SERVER", "")
        self.secret = secret if secret is not None else os.environ.get("PDG_RESULT_SECRET", "")
        self.timeout = timeout if timeout is not None else env_number("PDG_RPC_TIMEOUT", 4.0)
        self.retries = retries if retries is not None else env_number("PDG_RPC_RETRIES", 2, int)
        self.backoff = backoff if backoff is not None else env_number("PDG_RPC_BACKOFF", 2.0)
        self.max_body = env_number("PDG_RESULT_MAX_BODY", 1 << 20, int)
        if not self.address:
            raise ServerGone("pdgcmd: PDG_RESULT_SERVER is not set: this job was not started by a PDG scheduler")
        self._handler = f"/RPC2/{self.secret}"
        self._transport: _Transport | None = None

    def _connect(self) -> _Transport:
        self._transport = _Transport(self.timeout, self.max_body)
        return self._transport

    def open(self) -> None:
        """Start connecting now, without waiting (``_Transport.open``); a failure is left for the
        first call to meet (and retry) as it would have."""
        transport = self._transport or self._connect()
        try:
            transport.open(self.address)
        except OSError:
            pass

    def call(self, method: str, *args, what: str | None = None):
        """Call ``method``; retry a dropped connection; a Fault or a dead server ends the job."""
        what = what or method
        last = None
        for attempt in range(self.retries + 1):
            if attempt:
                time.sleep(self.backoff * (2 ** (attempt - 1)))
            transport = self._transport or self._connect()
            try:  # as ``xmlrpc.client.ServerProxy`` calls, with the request written by ``request_body``
                response = transport.request(self.address, self._handler, request_body(method, args))
                return response[0] if len(response) == 1 else response
            except TooLarge:
                raise
            except (TypeError, OverflowError, ValueError) as exc:  # raised before anything is sent
                raise NotSent(f"pdgcmd: {what} cannot be sent: {exc}") from None
            except Fault as fault:
                raise ReportRefused(f"pdgcmd: the result server refused {what}: {fault.faultString}") from None
            except (_RETRYABLE + (socket.timeout,)) as exc:
                last = exc
                transport.close()  # reconnect: the old connection may be half-closed
                self._transport = None
        raise ServerGone(
            f"pdgcmd: the result server at {self.address} did not answer {what} after {self.retries + 1} tries"
            f" ({type(last).__name__}: {last}); failing the job"
        )


