"""One remote client of a data layer server: what it may ask, and the queue of what it is sent.

The protocol is the same over WebSocket (JSON text messages) and TCP (a stream of msgpack maps).
A client sends maps with an ``op``::

    {"op": "hello", "token": "...", "batch": true}          present the server's token; ask for batches
    {"op": "hello", "refs": true}                           a graph's new items by ref (``sharedlists``)
    {"op": "hello", "packed": true}                         lists of item ids packed (``packedids``)
    {"op": "subscribe", "path": "pdg/wide", "since": 120}   since: resume after that seq (optional)
    {"op": "unsubscribe", "path": "pdg/wide"}
    {"op": "command", "id": 7, "name": "dirty", "params": null, "path": "pdg/wide/node_upper"}

and receives::

    {"op": "welcome", "seq": 120, "server": "pdgstore", "auth": false}
    {"op": "frame", "path": "pdg/wide", "seq": 130, "messages": [<message>, ...]}
    {"op": "reply", "id": 7, "result": ...} or {"op": "reply", "id": 7, "error": "sentence"}
    {"op": "lost", "path": "..."}, {"op": "error", "message": "sentence"}
    {"op": "batch", "items": [<any of the above>, ...]}   (WebSocket, after a hello with batch)

A frame is whole or absent, so the seq of the last frame a client received for a path is where it
resumes. Frames are queued per session and written by the connection's own task: the follower
never waits for a socket. A session whose queue grows past ``BACKLOG_BYTES`` (a client that stopped
reading) loses the queue and is sent a fresh snapshot of each of its objects once it drains.

What is queued when the connection's task wakes goes out together (up to ``BATCH_BYTES``): a
follower step that changed five objects is one write to a TCP stream, and, for a WebSocket client
that said ``"batch": true`` in its hello, one ``batch`` message holding the five frames in order
(the frames' own bytes joined, nothing encoded again). Each WebSocket message costs the server and
the client a trip through their event loops and the protocol: with 50 subscribers that, not the
bytes, was most of what following a cook cost them.
"""

from __future__ import annotations

import asyncio
import collections
import hmac
import threading
from typing import TYPE_CHECKING

from pdgstore.engine.datalayer.handlers import CommandError, clean_path
from pdgstore.engine.errors import error_line

from pdgstore.errors import PdgError

if TYPE_CHECKING:
    from pdgstore.engine.datalayer.server import DataLayerServer

#: bytes a session may have queued before it is resynced with snapshots instead
BACKLOG_BYTES = 32 << 20
#: what one write (a TCP write, a WebSocket ``batch``) gathers at most; a frame larger goes alone
BATCH_BYTES = 1 << 20
#: malformed frames a connection may send before it is closed
MALFORMED_LIMIT = 10
OPS = ("hello", "subscribe", "unsubscribe", "command")


class Malformed(ValueError):
    """A frame that is not a request of this protocol (counted, answered, never fatal to the server)."""


class Handover:
    """Frames crossing from the follower's thread to the connections of one event loop, with one
    wake-up of that loop for every connection that got frames meanwhile (a step delivered to fifty
    subscribers): waking the loop once per connection cost a write to its self-pipe each, and a
    switch of threads (and of the GIL) back and forth each, for fifty connections a step."""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.loop = loop
        self.lock = threading.Lock()
        #: (session, its frames) in the order they were given: each session's stay in order
        self.pending: list[tuple[Session, list[tuple[str, bytes]]]] = []
        self.wake_due = False
        self.ended = False

    def give(self, session: Session, frames: list[tuple[str, bytes]]) -> bool:
        """Queue ``frames`` for ``session`` (any thread); False when the loop has ended."""
        with self.lock:
            if self.ended:
                return False
            self.pending.append((session, frames))
            if self.wake_due:
                return True
            self.wake_due = True
        try:
            self.loop.call_soon_threadsafe(self._take)
        except RuntimeError:  # the loop has ended: nobody will take these
            with self.lock:
                self.ended, self.pending = True, []
            return False
        return True

    def _take(self) -> None:
        """In the loop: every connection's frames given since the last wake-up, into its queue."""
        with self.lock:
            pending, self.pending = self.pending, []
            self.wake_due = False
        for session, frames in pending:
            for path, data in frames:
                session._enqueue(path, data)


class Session:
    """One connection: its subscriptions, its outgoing queue, its token state."""

    def __init__(self, server: DataLayerServer, loop: asyncio.AbstractEventLoop, authenticated: bool) -> None:
        self.server = server
        self.layer = server.layer
        self.loop = loop
        self.authenticated = authenticated
        self.paths: set[str] = set()
        self.queue: collections.deque[bytes | str] = collections.deque()
        self.queued_bytes = 0
        self.wakeup = asyncio.Event()
        self.closed = False
        self.malformed = 0
        #: the client asked for ``batch`` messages (WebSocket; a TCP stream is always written in batches)
        self.batch = False
        #: the client asked for a graph's new items as refs to its nodes' (``sharedlists``)
        self.refs = False
        #: the client asked for lists of item ids packed (``packedids``)
        self.packed = False
        self.resync: set[str] = set()
        #: how frames from the follower's thread reach this connection's loop (shared by every
        #: connection of that loop)
        self.handover = server.handover(loop)

    # -- from the data layer (any thread, under its lock) ------------------------------------------
    def processFrame(self, path: str, messages, seq: int) -> None:
        """Take a frame from the data layer (its thread, under its lock)."""
        if not self.closed:
            self._handoff([(path, self.server.encode_frame(path, messages, seq, packed=self.packed))])

    def processFrames(self, frames, seq: int) -> None:
        """Take the frames of one step, ``(path, messages)`` each: they cross to the connection's
        loop together, with one wake-up, however many paths changed."""
        if self.closed:
            return
        if not self.refs:
            encode, packed = self.server.encode_frame, self.packed
            self._handoff([(path, encode(path, messages, seq, packed=packed)) for path, messages in frames])
            return
        self._handoff(self.server.encode_frames_with_refs(frames, seq, self.packed))

    def subscriptionLost(self) -> None:
        if not self.closed:
            self._handoff([("", self.server.encode({"op": "lost", "path": ""}))])

    def _handoff(self, frames: list[tuple[str, bytes]]) -> None:
        if not self.handover.give(self, frames):
            self.closed = True  # the server's loop has ended

    def push(self, data) -> None:
        """Queue a reply (in the connection's own loop): it goes out in order with the frames."""
        self.queue.append(data)
        self.queued_bytes += len(data)
        self.wakeup.set()

    def _enqueue(self, path: str, data) -> None:
        if self.closed:
            return
        if path in self.resync:
            return  # a snapshot is on its way for this path: what came before it is moot
        if self.queued_bytes + len(data) > BACKLOG_BYTES:
            self.server.stats["resyncs"] += 1
            self.queue.clear()
            self.queued_bytes = 0
            self.resync = set(self.paths)
            self.wakeup.set()
            return
        self.queue.append(data)
        self.queued_bytes += len(data)
        self.wakeup.set()

    async def next_outgoing(self) -> list | None:
        """The encoded messages to write next, in order, as many as are queued up to
        ``BATCH_BYTES`` (at least one); None when the session closed. A resync's snapshots are
        taken once the queue has drained."""
        while True:
            if self.queue:
                queue, out = self.queue, [self.queue.popleft()]
                size = len(out[0])
                while queue and size + len(queue[0]) <= BATCH_BYTES:
                    out.append(queue.popleft())
                    size += len(out[-1])
                self.queued_bytes -= size
                return out
            if self.closed:
                return None
            if self.resync:
                paths, self.resync = self.resync, set()
                for path in paths:
                    await asyncio.to_thread(self.layer.resnapshot, self, path)
                continue
            self.wakeup.clear()
            await self.wakeup.wait()

    # -- from the client ---------------------------------------------------------------------------
    async def handle(self, request) -> dict | None:
        """Act on one decoded request; the reply to send at once, if any."""
        if not isinstance(request, dict) or request.get("op") not in OPS:
            raise Malformed("a request is a map with op hello, subscribe, unsubscribe or command")
        op = request["op"]
        if op == "hello":
            if request.get("batch") is True:
                self.batch = True
            if request.get("refs") is True:
                self.refs = True
            if request.get("packed") is True:
                self.packed = True
            token = request.get("token")
            if token is not None:
                self.authenticated = self.server.check_token(token)
                if not self.authenticated:
                    return {"op": "error", "message": "the token is wrong"}
            return None
        path = request.get("path", "pdg" if op == "command" else None)
        if not isinstance(path, str) or not path.strip() or len(path) > 4096:
            raise Malformed(f"{op} needs a path (a string)")
        path = clean_path(path)
        if op == "subscribe":
            since = request.get("since")
            if since is not None and (not isinstance(since, int) or isinstance(since, bool)):
                raise Malformed("since is a seq (an integer)")
            self.paths.add(path)
            await asyncio.to_thread(self.layer.subscribe, self, path, since)
            return None
        if op == "unsubscribe":
            self.paths.discard(path)
            await asyncio.to_thread(self.layer.unsubscribe, self, path)
            return None
        return await self._command(request, path)

    async def _command(self, request: dict, path: str) -> dict:
        ident, name = request.get("id"), request.get("name")
        if not isinstance(name, str) or not name:
            raise Malformed("command needs a name (a string)")
        token = request.get("token")
        trusted = self.authenticated or (token is not None and self.server.check_token(token))
        if not trusted and not self.layer.is_read_only_command(name, path):
            self.server.stats["refused"] += 1
            return {"op": "reply", "id": ident, "error": f"command {name} changes {path}: it needs the server's token"}
        try:
            result = await asyncio.to_thread(self.layer.sendCommand, name, request.get("params"), path)
        except (CommandError, PdgError) as exc:
            return {"op": "reply", "id": ident, "error": str(exc)}
        except Exception as exc:  # noqa: BLE001 - a user's handler raised: the client hears it, the server lives
            return {
                "op": "reply",
                "id": ident,
                "error": f"command {name} of {path} failed: {error_line(exc)}",
            }
        return {"op": "reply", "id": ident, "result": _plain(result)}

    def refuse(self, exc: Exception) -> dict:
        self.malformed += 1
        self.server.stats["malformed"] += 1
        return {"op": "error", "message": f"malformed request refused: {exc}"}

    async def close(self) -> None:
        self.closed = True
        self.wakeup.set()
        paths, self.paths = self.paths, set()
        if self.server.stopping:
            return  # the layer is closing too: waiting for its lock would hold the stop up
        for path in paths:
            await asyncio.to_thread(self.layer.unsubscribe, self, path)


def _plain(value):
    """A command's result as JSON- and msgpack-safe data."""
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple, set, frozenset)):
        return [_plain(v) for v in value]
    if value is None or isinstance(value, (str, int, float, bool)):
        return value
    return str(value)


def tokens_match(given, expected: str) -> bool:
    return isinstance(given, str) and hmac.compare_digest(given.encode(), expected.encode())
