"""A report relay on each Dask worker: its jobs' calls reach the cook many to a request.

Why: a job's report is one HTTP request, and the cook's result server spends most of its CPU per
request (a connection thread's HTTP, its hand-off to the loop, its wake), not per report. 16 jobs
reporting one attribute a call each kept the cook busy at a few thousand reports a second. The
relay lives in the worker process (one per cook: its address and secret), listens on the loopback
only, and is what the worker's jobs are told is their result server (``PDG_RESULT_SERVER``). A job
sees the same Job API, the same answers, the same faults.

How: one thread reads the jobs' requests (``selectors``: no thread per job) and forwards every call
waiting at that moment as one request to the cook (``POST /RELAY/<secret>``, the calls framed by
length); while that request is out, the next calls queue. Each call's XML is read here, on the
worker (``relaywire.packed_call``: the cook gets ``[method, params]`` as msgpack, and a shape it
does not read the job's XML as it came), and each answer's XML is written here from the result the
cook sends back: the XML of a report is read and written once, outside the one cook. The cook
answers every call in one framed answer once all of them are in the log (one flush, one wake:
``rpchttp``), and the relay hands each job its own answer. The contract holds: a job hears "ok"
only after the cook recorded its report.

Trust: the relay checks each job's secret (constant time) before it reads a body, and refuses a body
over the cook's limit, as the cook's server does; it reads the XML of authenticated calls only (an
unauthenticated call's body is never read, as on the cook: this Python's expat predates the
entity-expansion fixes), through the same reader as the cook's server. The cook checks the relay's
secret and sizes again, and checks and applies each call on its own (``jobcalls``), as if the job
had called it: the relay adds no way around the secret or the validation.

Faults: when the cook's answer does not come (the cook ended, the connection broke, the cook timed
out), the relay closes the connections of the jobs whose calls were in that request, unanswered:
each job's ``pdgrpc`` sees the error and retries its call (on a new connection, to the relay), and
a report key applied twice is an acknowledged no-op, so nothing is recorded twice; a job whose
retries run out fails, as it would without the relay. The relay dies with its worker process; the
worker's jobs are then orphans that the cook kills and runs again (``remote.reap_orphans``).
"""

from __future__ import annotations

import hmac
import io
import selectors
import socket
import threading
import time

from pdgstore.engine.schedulers.relaywire import (
    MAX_BODIES,
    MAX_CALLS,
    RELAY_PACKED_TYPE,
    RELAY_PREFIX,
    RPC_PREFIX,
    answer_xml,
    fault_bytes,
    frames,
    packed_call,
    unframe,
)

#: how long a relay with no job left to serve stays up before it ends (a new job starts another)
IDLE_EXIT_S = 30.0
#: how long the relay waits for the cook's answer (the cook answers once a flush holds the calls)
COOK_TIMEOUT_S = 90.0
#: how long a call may wait for other jobs' calls to go with it (unless every connected job has one)
HOLD_S = 0.002
_MAX_HEAD = 65536
_FAULT_AUTH, _FAULT_TOO_LARGE = 401, 413  # as ``reportcheck``: what a job prints

_lock = threading.Lock()
_relays: dict[tuple[str, str], Relay] = {}


def address_for(cook: str, secret: str, max_body: int) -> tuple[str, Relay]:
    """The address of this process's relay to the cook at ``cook`` (started when there is none),
    and the relay: the caller holds it (``hold``/``release``) while its job may call."""
    with _lock:
        relay = _relays.get((cook, secret))
        if relay is None or relay.ended:
            relay = _relays[(cook, secret)] = Relay(cook, secret, max_body)
            relay.start()
        relay.users += 1
        return relay.address, relay


def addresses() -> list[str]:
    """The addresses of the relays this process has started and kept (its jobs' reports went
    through one of them)."""
    with _lock:
        return [relay.address for relay in _relays.values()]


def release(relay: Relay) -> None:
    """The job given ``relay``'s address has ended."""
    with _lock:
        relay.users -= 1
        relay.last_use = time.monotonic()


class _Job:
    """One job's connection: what it sent not yet read as a request, and whether its call is out."""

    __slots__ = ("sock", "buf", "busy", "close_after")

    def __init__(self, sock: socket.socket) -> None:
        self.sock, self.buf, self.busy, self.close_after = sock, bytearray(), False, False


class Relay:
    def __init__(self, cook: str, secret: str, max_body: int) -> None:
        self.cook, self.secret, self.max_body = cook, secret.encode(), max_body
        self.users = 0
        self.last_use = time.monotonic()
        self.ended = False
        self.forwarded = 0  # requests sent to the cook (tests read it)
        listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        listener.bind(("127.0.0.1", 0))
        listener.listen(128)
        listener.setblocking(False)
        self.address = f"127.0.0.1:{listener.getsockname()[1]}"
        self._listener = listener
        self._sel = selectors.DefaultSelector()
        self._sel.register(listener, selectors.EVENT_READ)
        self._waiting: list[tuple[_Job, bytes]] = []
        self._cook: socket.socket | None = None
        self._cook_file: io.BufferedReader | None = None

    def start(self) -> None:
        threading.Thread(target=self._run, name="pdg-report-relay", daemon=True).start()

    # -- the loop -----------------------------------------------------------------------------------
    def _run(self) -> None:
        since = 0.0  # when the oldest call waiting came
        try:
            while True:
                wait = 1.0 if not self._waiting else max(0.0, since + HOLD_S - time.monotonic())
                for key, _ in self._sel.select(wait):
                    if key.fileobj is self._listener:
                        self._accept()
                    else:
                        self._read(key.data)
                if not self._waiting:
                    if self._idle():
                        return
                    continue
                if not since:
                    since = time.monotonic()
                # every connected job waits on us, or the oldest call has waited long enough
                if len(self._waiting) >= len(self._sel.get_map()) - 1 or time.monotonic() >= since + HOLD_S:
                    self._forward()
                    since = time.monotonic() if self._waiting else 0.0
        finally:
            self._close_all()

    def _idle(self) -> bool:
        """No job holds this relay, none is connected, for ``IDLE_EXIT_S``: end (under the lock, so
        no job is given the address of a relay that is ending)."""
        if len(self._sel.get_map()) > 1:
            return False
        with _lock:
            if self.users or time.monotonic() - self.last_use < IDLE_EXIT_S:
                return False
            self.ended = True
            if _relays.get((self.cook, self.secret.decode())) is self:
                del _relays[(self.cook, self.secret.decode())]
            return True

    def _accept(self) -> None:
        try:
            sock, _ = self._listener.accept()
        except OSError:
            return
        sock.setblocking(False)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self._sel.register(sock, selectors.EVENT_READ, _Job(sock))

    def _read(self, job: _Job) -> None:
        try:
            data = job.sock.recv(1 << 16)
        except BlockingIOError:
            return
        except OSError:
            data = b""
        if not data:
            self._drop(job)
            return
        job.buf += data
        if not job.busy:
            self._take(job)

    def _take(self, job: _Job) -> None:
        """A whole request in ``job``'s buffer becomes a call waiting to go; a refused one is
        answered with its fault and the connection closed (its body unread, as the cook does)."""
        end = job.buf.find(b"\r\n\r\n")
        if end < 0:
            if len(job.buf) > _MAX_HEAD:
                self._drop(job)
            return
        lines = bytes(job.buf[:end]).split(b"\r\n")
        words = lines[0].split()
        if len(words) != 3 or words[0] != b"POST" or not words[2].startswith(b"HTTP/1."):
            self._drop(job)
            return
        fields: dict[bytes, bytes] = {}
        for line in lines[1:]:
            name, _, value = line.partition(b":")
            fields.setdefault(name.strip().lower(), value.strip())
        path = words[1]
        given = path[len(RPC_PREFIX) :] if path.startswith(RPC_PREFIX.encode()) else b""
        job.close_after = fields.get(b"connection", b"").lower() == b"close" or words[2] == b"HTTP/1.0"
        length = fields.get(b"content-length", b"")
        if not hmac.compare_digest(given, self.secret):
            self._refuse(job, _FAULT_AUTH, "result server: refused a call with a missing or wrong secret (relay)")
        elif not length.isdigit() or int(length) > self.max_body:
            self._refuse(job, _FAULT_TOO_LARGE, f"result server: a call over {self.max_body} bytes is refused")
        elif len(job.buf) >= end + 4 + int(length):
            start = end + 4
            body = bytes(job.buf[start : start + int(length)])
            del job.buf[: start + int(length)]
            job.busy = True
            self._waiting.append((job, body))

    def _refuse(self, job: _Job, code: int, message: str) -> None:
        job.close_after = True
        self._answer(job, fault_bytes(code, message))

    def _answer(self, job: _Job, body: bytes) -> None:
        close = b"Connection: close\r\n" if job.close_after else b""
        head = b"HTTP/1.1 200 OK\r\nContent-Type: text/xml\r\nContent-Length: %d\r\n%s\r\n" % (len(body), close)
        data = head + body
        try:
            try:  # an answer is small and the job is reading, waiting for it: it fits at once
                sent = job.sock.send(data)
            except BlockingIOError:
                sent = 0
            if sent < len(data):  # else wait (up to 5 s) for the job to read the rest
                job.sock.settimeout(5.0)
                job.sock.sendall(data[sent:])
                job.sock.setblocking(False)
        except OSError:
            self._drop(job)
            return
        job.busy = False
        if job.close_after:
            self._drop(job)
        elif job.buf:
            self._take(job)

    def _drop(self, job: _Job) -> None:
        try:
            self._sel.unregister(job.sock)
        except (KeyError, ValueError):
            pass
        job.sock.close()

    # -- to the cook --------------------------------------------------------------------------------
    def _forward(self) -> None:
        """Send the calls waiting now (up to the limits) as one request; hand out the answers."""
        batch: list[tuple[_Job, bytes]] = []
        size = 0
        while (
            self._waiting
            and len(batch) < MAX_CALLS
            and (not batch or size + len(self._waiting[0][1]) + 4 <= MAX_BODIES * self.max_body)
        ):
            job, body = self._waiting.pop(0)
            batch.append((job, body))
            size += len(body) + 4
        packed = [packed_call(b) for _, b in batch]  # read here: the cook gets msgpack, not XML
        body = frames([frame for frame, _ in packed])
        try:
            answers, refused = self._send(body, len(batch))
            xml = answers if refused else [answer_xml(a, multi) for a, (_, multi) in zip(answers, packed, strict=True)]
        except (OSError, ValueError):
            self._close_cook()
            for job, _ in batch:  # unanswered: each job's pdgrpc retries its call (a no-op if it landed)
                self._drop(job)
            return
        self.forwarded += 1
        for (job, _), answer in zip(batch, xml, strict=True):
            self._answer(job, answer)

    def _send(self, body: bytes, count: int) -> tuple[list[bytes], bool]:
        """One request to the cook, retried once on a fresh connection when a kept-alive one was
        closed (the cook's server closes idle connections): its answer per call, in order, and
        whether the cook refused the request whole (each call then hears the same XML fault)."""
        reused = self._cook is not None
        try:
            return self._request(body, count)
        except (OSError, ValueError):
            self._close_cook()
            if not reused:
                raise
        return self._request(body, count)

    def _request(self, body: bytes, count: int) -> tuple[list[bytes], bool]:
        if self._cook is None:
            host, _, port = self.cook.rpartition(":")
            self._cook = socket.create_connection((host.strip("[]"), int(port)), timeout=COOK_TIMEOUT_S)
            self._cook.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            self._cook_file = self._cook.makefile("rb")
        assert self._cook_file is not None
        head = (
            f"POST {RELAY_PREFIX}{self.secret.decode()} HTTP/1.1\r\nHost: {self.cook}\r\n"
            f"Content-Type: {RELAY_PACKED_TYPE.decode()}\r\nContent-Length: {len(body)}\r\n\r\n"
        )
        self._cook.sendall(head.encode("latin-1") + body)
        status = self._cook_file.readline(_MAX_HEAD)
        if not status.startswith(b"HTTP/1.1 200"):
            raise ValueError(f"the cook answered {status[:100]!r}")
        length, kind, close = -1, b"", False
        while True:
            line = self._cook_file.readline(_MAX_HEAD)
            if line in (b"\r\n", b"\n", b""):
                break
            name, _, value = line.partition(b":")
            name, value = name.strip().lower(), value.strip()
            if name == b"content-length":
                length = int(value)
            elif name == b"content-type":
                kind = value
            elif name == b"connection" and value.lower() == b"close":
                close = True
        data = self._cook_file.read(length) if length >= 0 else b""
        if length < 0 or len(data) != length:
            raise ValueError("the cook's answer was cut short")
        if close:
            self._close_cook()
        if kind != RELAY_PACKED_TYPE:  # refused whole (the cook is over, ...): each job hears why
            return [data] * count, True
        answers = unframe(data, count)
        if len(answers) != count:
            raise ValueError(f"the cook answered {len(answers)} calls of {count}")
        return answers, False

    def _close_cook(self) -> None:
        for part in (self._cook_file, self._cook):
            if part is not None:
                part.close()
        self._cook = self._cook_file = None

    def _close_all(self) -> None:
        self.ended = True
        self._close_cook()
        for key in list(self._sel.get_map().values()):
            if key.fileobj is not self._listener:
                self._drop(key.data)
        self._sel.close()
        self._listener.close()
        for job, _ in self._waiting:
            job.sock.close()
        self._waiting.clear()


def environment_through(env: dict, held: list) -> None:
    """Point a job's ``env`` at this process's relay to its cook (``held`` gets the relay, to be
    released when the job ends); left as it is when the relay cannot start (the job calls the cook)."""
    cook, secret = env.get("PDG_RESULT_SERVER"), env.get("PDG_RESULT_SECRET")
    if not cook or not secret:
        return
    try:
        max_body = int(env.get("PDG_RESULT_MAX_BODY") or 1 << 20)
        address, relay = address_for(cook, secret, max_body)
    except (OSError, ValueError):
        return
    held.append(relay)
    env["PDG_RESULT_SERVER"] = address
