"""Data layer servers: WebSocket (JSON) and TCP (msgpack frames), each on its own asyncio thread.

Safe by default:

- they bind 127.0.0.1 unless told otherwise, and on any other address every connection must
  present the server's token (WebSocket: ``?token=`` in the URL or ``Authorization: Bearer``; TCP:
  a ``hello`` first);
- commands that change anything need the token even on loopback (``sessions``);
- the WebSocket server accepts browser pages from its own origin only (``origins=``: a page of
  another site cannot drive it through the user's browser) and caps a client's message at
  ``MAX_REQUEST_BYTES`` (``max_size``); the TCP server reads with a msgpack ``Unpacker`` whose
  buffer is as small and which refuses non-string map keys;
- a malformed request is answered, counted in ``stats["malformed"]``, and never reaches the layer.

The HTTP side of the WebSocket port is open for extension: ``add_route(path, fn)`` serves plain
HTTP requests (a web view, static files) next to the WebSocket endpoint.
"""

from __future__ import annotations

import asyncio
import ipaddress
import json
import secrets
import socket
import threading
from collections.abc import Callable
from http import HTTPStatus
from urllib.parse import parse_qs, urlsplit

import msgpack
from pdgstore.engine.datalayer.core import DataLayer
from pdgstore.engine.datalayer.daemonpool import DaemonPool
from pdgstore.engine.datalayer.packedids import packed_wire
from pdgstore.engine.datalayer.sessions import MALFORMED_LIMIT, Handover, Malformed, Session, tokens_match
from pdgstore.engine.datalayer.sharedlists import has_refs_to_make, node_streams, order_for_refs, to_wire_with_refs
from pdgstore.engine.errors import ListenError
from websockets.asyncio.server import serve
from websockets.datastructures import Headers
from websockets.exceptions import ConnectionClosed
from websockets.http11 import Response

#: the largest request a client may send (a subscription, a command and its parameters)
MAX_REQUEST_BYTES = 1 << 20
#: how long a WebSocket client has to answer the server's close frame when the server stops.
#: websockets waits 10 s by default, and a browser still reading a backlog of frames reads the close
#: frame only after them: ``pdg serve`` then took that long to stop on SIGTERM.
CLOSE_TIMEOUT_S = 1.0
#: threads answering the HTTP routes at once (the web view's reads of the store)
HTTP_WORKERS = 6
#: how long ``stop()`` lets connections end by themselves before it drops them
STOP_GRACE_S = 2.0
SERVER_TYPES = ("DataLayerWSServer", "DataLayerTCPServer")
#: what a WebSocket connection may buffer before a send waits for the client to read: a frame of a
#: busy cook is often larger than websockets' default 32 KiB, and each such wait is a trip round
#: the event loop per subscriber (the session's own queue bounds what a slow client holds)
WRITE_LIMIT_BYTES = 1 << 20


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


class DataLayerServer:
    """A server of one data layer on one port, running on its own thread until ``stop()``."""

    kind = ""

    def __init__(self, layer: DataLayer, port: int = 0, host: str = "127.0.0.1", token: str | None = None) -> None:
        self.layer = layer
        self.host = host
        self.token = token or secrets.token_urlsafe(24)
        #: every connection must present the token (any address but loopback)
        self.requires_token = not is_loopback(host)
        self.stats = {"connections": 0, "malformed": 0, "refused": 0, "resyncs": 0, "frames": 0}
        #: (path, seq[, the node paths refs point at]) -> (messages, bytes) of the frames encoded for the
        #: last seq delivered
        self._frame_cache: dict[tuple, tuple[list, bytes]] = {}
        #: (the paths of a session's frames of the last seq) -> (their messages, their encoded
        #: frames with refs): every session that follows the same objects gets the same plan
        self._refs_cache: dict[tuple, tuple[list, list[tuple[str, bytes]]]] = {}
        self._frame_cache_seq = -1
        #: event loop -> the ``Handover`` its connections share (one loop: the server's own)
        self._handovers: dict[asyncio.AbstractEventLoop, Handover] = {}
        self._sock = _bind(host, port)
        self.port = self._sock.getsockname()[1]
        self.loop = asyncio.new_event_loop()
        self._ready = threading.Event()
        self._stopped: asyncio.Event | None = None
        #: set once ``stop()`` began: sessions closing then leave the layer alone (it closes too)
        self.stopping = False
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, name=f"pdgd-{self.kind}-{self.port}", daemon=True)
        self._thread.start()
        self._ready.wait(10)
        if self._error is not None:
            raise self._error

    # -- PDG's names -------------------------------------------------------------------------------
    def getPort(self) -> int:
        return self.port

    def getHost(self) -> str:
        return self.host

    def getToken(self) -> str:
        return self.token

    get_port = getPort

    # -- running -----------------------------------------------------------------------------------
    def _run(self) -> None:
        asyncio.set_event_loop(self.loop)
        try:
            self.loop.run_until_complete(self._main())
        finally:
            self.loop.close()

    async def _main(self) -> None:
        self._stopped = stopped = asyncio.Event()
        try:
            server = await self._start()
        except BaseException as exc:  # noqa: BLE001 - handed to the constructor, which raises it
            self._error = exc
            self._ready.set()
            return
        self._ready.set()
        await stopped.wait()
        await self._close(server)

    async def _close(self, server) -> None:
        """Stop listening, close every connection, and wait at most ``STOP_GRACE_S`` for them to
        end: a client that answers nothing (a stalled browser, a peer gone quiet) is dropped, and
        whatever is left running on this server's loop is cancelled, so a stop never waits on a
        client."""
        self.stopping = True
        server.close()
        try:
            await asyncio.wait_for(asyncio.shield(server.wait_closed()), STOP_GRACE_S)
        except TimeoutError:
            self._abort_connections(server)
        await _cancel_the_rest()

    def _abort_connections(self, server) -> None:
        """Drop every connection that is still open (no closing handshake)."""

    async def _start(self):
        raise NotImplementedError

    def stop(self) -> None:
        self.stopping = True
        if self._stopped is not None:
            try:
                self.loop.call_soon_threadsafe(self._stopped.set)
            except RuntimeError:
                pass  # the loop has already ended
        self._thread.join(timeout=10)

    def check_token(self, token) -> bool:
        return tokens_match(token, self.token)

    def encode(self, data: dict):
        raise NotImplementedError

    def encode_frame(self, path: str, messages, seq: int, streams: dict[str, list] | None = None, packed: bool = False):
        """A frame's bytes, encoded once for every session that gets the same messages (the layer
        hands each subscriber of a path the same list, under its lock; the frames of one step
        share their seq, so the cache holds that step's frames only). With ``streams`` (the
        nodes' appends of the step, for a client that asked for refs: ``sharedlists``), a
        graph's appends go as refs to them; the sessions that get the same node frames share
        that encoding too. ``packed``: for a client that asked for packed id lists (``packedids``)."""
        self._new_seq(seq)
        key = (path, seq, packed) if streams is None else (path, seq, packed, tuple(sorted(streams)))
        cached = self._frame_cache.get(key)
        if cached is not None and cached[0] is messages:
            return cached[1]
        wire = [m.to_wire() for m in messages] if streams is None else to_wire_with_refs(messages, streams)
        if packed:
            wire = packed_wire(wire)
        data = self.encode({"op": "frame", "path": path, "seq": seq, "messages": wire})
        self._frame_cache[key] = (messages, data)
        self.stats["frames"] += 1
        return data

    def encode_frames_with_refs(self, frames, seq: int, packed: bool = False) -> list[tuple[str, bytes]]:
        """The encoded frames of one step for a session that asked for refs, in the order refs
        need (``sharedlists``): worked out once per step for all the sessions that get the same
        frames (fifty subscribers of a graph and its nodes would otherwise each gather the same
        nodes' new item ids again)."""
        self._new_seq(seq)
        key = (packed, *(path for path, _messages in frames))
        cached = self._refs_cache.get(key)
        if cached is not None and all(a is b for a, (_path, b) in zip(cached[0], frames, strict=True)):
            return cached[1]
        ordered = order_for_refs(frames)
        streams = node_streams(ordered)
        encoded = [
            (
                path,
                self.encode_frame(
                    path, messages, seq, streams if has_refs_to_make(path, messages, streams) else None, packed
                ),
            )
            for path, messages in ordered
        ]
        self._refs_cache[key] = ([messages for _path, messages in frames], encoded)
        return encoded

    def _new_seq(self, seq: int) -> None:
        """The caches hold the frames of one seq (a step's): a new one empties them."""
        if seq != self._frame_cache_seq:
            self._frame_cache, self._refs_cache, self._frame_cache_seq = {}, {}, seq

    def handover(self, loop: asyncio.AbstractEventLoop) -> Handover:
        """The hand-over of frames to the connections of ``loop`` (in a server, its own loop)."""
        return self._handovers.setdefault(loop, Handover(loop))

    def welcome(self, session: Session) -> dict:
        return {"op": "welcome", "seq": self.layer.seq, "server": "pdgstore", "auth": session.authenticated}

    async def _pump(self, session: Session, send: Callable) -> None:
        while True:
            batch = await session.next_outgoing()
            if batch is None:
                return
            await send(batch)


class WSServer(DataLayerServer):
    """``DataLayerWSServer``: JSON over WebSocket; plain HTTP requests go to ``add_route``'s routes."""

    kind = "ws"

    def __init__(self, *args, origins: list[str] | None = None, **kwargs) -> None:
        self.routes: dict[str, Callable] = {}
        self.extra_origins = list(origins or [])
        #: the routes' handlers run here: daemon threads, so a long read never holds a stop up
        self.pool = DaemonPool(HTTP_WORKERS, name="pdgd-http")
        super().__init__(*args, **kwargs)

    def add_route(self, path: str, handler: Callable) -> None:
        """Serve plain HTTP GETs of ``path`` (or, ending in ``/``, of everything under it) with
        ``handler(request) -> (status, content_type, body bytes)``, called on a worker thread (a
        handler may read the store without holding up the WebSocket clients)."""
        self.routes[path] = handler

    def origins(self) -> list:
        own = [f"http://{h}:{self.port}" for h in ("127.0.0.1", "localhost", "[::1]")]
        if not is_loopback(self.host):
            own.append(f"http://{self.host}:{self.port}")
        return [None, *own, *self.extra_origins]

    async def _start(self):
        return await serve(
            self._connection,
            sock=self._sock,
            origins=self.origins(),
            max_size=MAX_REQUEST_BYTES,
            process_request=self._process_request,
            compression=None,
            write_limit=WRITE_LIMIT_BYTES,
            close_timeout=CLOSE_TIMEOUT_S,
        )

    async def _close(self, server) -> None:
        self.pool.shutdown(wait=False, cancel_futures=True)
        await super()._close(server)

    def _abort_connections(self, server) -> None:
        for connection in list(server.all_connections):
            connection.transport.abort()

    def _process_request(self, connection, request):
        is_upgrade = "websocket" in request.headers.get("Upgrade", "").lower()
        if not is_upgrade:
            return self._http(request)
        if self.requires_token and not self.check_token(_request_token(request)):
            self.stats["refused"] += 1
            return connection.respond(HTTPStatus.UNAUTHORIZED, "this server needs its token (?token=...)\n")
        return None

    async def _http(self, request) -> Response:
        path = urlsplit(request.path).path
        handler = self.routes.get(path)
        if handler is None:  # the longest folder route that holds the path
            folders = [p for p in self.routes if p.endswith("/") and path.startswith(p)]
            handler = self.routes[max(folders, key=len)] if folders else None
        if handler is None:
            status, kind, body = HTTPStatus.NOT_FOUND, "text/plain", b"a pdgstore data layer: connect with WebSocket\n"
        else:
            try:
                answer = asyncio.get_running_loop().run_in_executor(self.pool, handler, request)
            except RuntimeError:  # the pool is shut down: a request read while the server stops
                status, kind, body = HTTPStatus.SERVICE_UNAVAILABLE, "text/plain", b"pdg serve is stopping\n"
            else:
                status, kind, body = await answer
        status = HTTPStatus(status)
        headers = Headers(
            [
                ("Content-Type", kind),
                ("Content-Length", str(len(body))),
                ("Cache-Control", "no-store"),
                ("X-Content-Type-Options", "nosniff"),
            ]
        )
        return Response(status.value, status.phrase, headers, body)

    async def _connection(self, websocket) -> None:
        self.stats["connections"] += 1
        trusted = self.check_token(_request_token(websocket.request))
        session = Session(self, asyncio.get_running_loop(), trusted)

        async def send(batch: list[bytes]) -> None:
            # JSON encoded once for every subscriber: the bytes are sent as they are, or joined
            if session.batch and len(batch) > 1:
                await websocket.send(b'{"op":"batch","items":[' + b",".join(batch) + b"]}", text=True)
                return
            for data in batch:
                await websocket.send(data, text=True)

        pump = asyncio.create_task(self._pump(session, send))
        try:
            session.push(self.encode(self.welcome(session)))
            async for raw in websocket:
                try:
                    request = json.loads(raw) if isinstance(raw, str) else None
                    if request is None:
                        raise Malformed("requests are JSON text messages")
                    reply = await session.handle(request)
                except (Malformed, ValueError) as exc:
                    reply = session.refuse(exc)
                    if session.malformed >= MALFORMED_LIMIT:
                        await websocket.close(1008, "too many malformed requests")
                        break
                if reply is not None:
                    session.push(self.encode(reply))
        except ConnectionClosed:
            pass
        finally:
            await session.close()
            pump.cancel()

    def encode(self, data: dict) -> bytes:
        return json.dumps(data, separators=(",", ":"), default=_jsonable).encode()


class TCPServer(DataLayerServer):
    """``DataLayerTCPServer``: a stream of msgpack maps each way over plain TCP."""

    kind = "tcp"

    async def _start(self):
        return await asyncio.start_server(self._connection, sock=self._sock)

    async def _close(self, server) -> None:
        self.stopping = True
        await _cancel_the_rest()  # a stream has no closing handshake to wait for
        await super()._close(server)

    async def _connection(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.stats["connections"] += 1
        session = Session(self, asyncio.get_running_loop(), False)

        async def send(batch: list[bytes]) -> None:
            writer.write(b"".join(batch))  # a stream of msgpack maps: one write for them all
            await writer.drain()

        unpacker = msgpack.Unpacker(max_buffer_size=MAX_REQUEST_BYTES, strict_map_key=True, raw=False)
        pump = None
        try:
            if not self.requires_token:
                pump = asyncio.create_task(self._pump(session, send))
                session.push(self.encode(self.welcome(session)))
            while True:
                chunk = await reader.read(65536)
                if not chunk:
                    break
                try:
                    unpacker.feed(chunk)
                    requests = list(unpacker)
                except (msgpack.BufferFull, ValueError, msgpack.ExtraData, TypeError) as exc:
                    writer.write(
                        self.encode(session.refuse(Malformed(f"not a msgpack request ({type(exc).__name__})")))
                    )
                    break  # a broken stream cannot be read further
                for request in requests:
                    if pump is None:  # a token is required: the first request must present it
                        if not (isinstance(request, dict) and request.get("op") == "hello"
                                and self.check_token(request.get("token"))):  # fmt: skip
                            self.stats["refused"] += 1
                            writer.write(self.encode({"op": "error", "message": "this server needs its token first"}))
                            return
                        session.authenticated = True
                        await session.handle(request)  # what else the hello asks (refs)
                        pump = asyncio.create_task(self._pump(session, send))
                        session.push(self.encode(self.welcome(session)))
                        continue
                    try:
                        reply = await session.handle(request)
                    except (Malformed, ValueError) as exc:
                        reply = session.refuse(exc)
                    if reply is not None:
                        session.push(self.encode(reply))
                if session.malformed >= MALFORMED_LIMIT:
                    break
        except (ConnectionError, asyncio.IncompleteReadError):
            pass
        except asyncio.CancelledError:
            if not self.stopping:
                raise
            # stopped by the server: end normally (asyncio's stream callback, before 3.12, calls
            # exception() on the task and would print a cancelled one as a traceback)
        finally:
            await session.close()
            if pump is not None:
                pump.cancel()
            writer.close()

    def encode(self, data: dict) -> bytes:
        return msgpack.packb(data, use_bin_type=True, default=_jsonable)


async def _cancel_the_rest() -> None:
    """Cancel every other task of the running loop (a server's loop runs only its connections) and
    give them ``STOP_GRACE_S`` to unwind."""
    tasks = [t for t in asyncio.all_tasks() if t is not asyncio.current_task() and not t.done()]
    for task in tasks:
        task.cancel()
    if tasks:
        await asyncio.wait(tasks, timeout=STOP_GRACE_S)


def _request_token(request) -> str | None:
    query = parse_qs(urlsplit(request.path).query)
    if query.get("token"):
        return query["token"][0]
    auth = request.headers.get("Authorization", "")
    return auth[len("Bearer ") :] if auth.startswith("Bearer ") else None


def _jsonable(value):
    if isinstance(value, (set, frozenset, tuple)):
        return list(value)
    if isinstance(value, bytes):
        return value.decode(errors="replace")
    return str(value)


def _bind(host: str, port: int) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError as exc:
        sock.close()
        raise ListenError(f"cannot listen on {host}:{port}: {exc.strerror}") from None
    sock.listen(128)
    sock.setblocking(False)
    return sock


class DataLayerServerManager:
    """The servers of this process's data layer (``pdgd.DataLayerServerManager.Instance()``)."""

    def __init__(self) -> None:
        self.servers: list[DataLayerServer] = []

    def createServer(
        self, server_type: str, port: int = 0, host: str = "127.0.0.1", layer: DataLayer | None = None, **kw
    ):
        """Start a server of ``server_type`` (``DataLayerWSServer`` or ``DataLayerTCPServer``) on
        ``port`` (0: any free port; ``getPort()`` says which)."""
        from pdgstore.engine.datalayer.local import local_layer

        classes = {"DataLayerWSServer": WSServer, "DataLayerTCPServer": TCPServer}
        if server_type not in classes:
            raise ValueError(f"no data layer server type {server_type} (there are {', '.join(classes)})")
        server = classes[server_type](layer or local_layer(), port, host, **kw)
        self.servers.append(server)
        return server

    def stopServer(self, server: DataLayerServer) -> None:
        server.stop()
        if server in self.servers:
            self.servers.remove(server)

    def stopAll(self) -> None:
        for server in list(self.servers):
            self.stopServer(server)

    create_server = createServer
    stop_server = stopServer


_manager = DataLayerServerManager()


def server_manager() -> DataLayerServerManager:
    return _manager
