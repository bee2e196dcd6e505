"""Remote data layer interfaces: the same ``subscribe`` / ``sendCommand`` as the local layer, served
by a ``pdg serve`` (or ``createServer``) elsewhere, over WebSocket or TCP.

The client keeps, per subscribed path, the seq of the last frame it received. When the connection
drops, every visualizer hears ``subscriptionLost()``; the client reconnects with exponential
backoff (``BACKOFF_S``, with jitter) and subscribes again *since* those seqs, so the server sends
exactly the deltas it missed (or a fresh snapshot when the store's history was compacted past
them). Visualizers are called on the client's own thread.

A token (for a server on another address, or for commands that change things) is given in the
address (``ws://host:port/?token=...``, ``tcp://host:port?token=...``) or ``$PDG_DATALAYER_TOKEN``.

A client takes its own scheme's addresses only (``ValueError`` at once for another's). A server
that answers the first connection but not as a data layer of the client's kind (a WebSocket client
given the TCP port, a token refused) is no outage to wait out: the client gives up, ``error`` says
why, every visualizer hears ``subscriptionLost()`` (one that subscribes later too) and
``sendCommand`` raises ``CommandError`` with that sentence.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import os
import random
import threading
import time
from concurrent.futures import Future
from typing import Any, cast
from urllib.parse import parse_qs, urlsplit

import msgpack
from pdgstore.engine.datalayer.handlers import CommandError, clean_path
from pdgstore.engine.datalayer.messages import Message, apply_message, snapshot
from pdgstore.engine.datalayer.sharedlists import Resolver
from pdgstore.engine.errors import error_line
from websockets.asyncio.client import connect
from websockets.exceptions import InvalidHandshake, InvalidMessage

#: first and longest wait between reconnection attempts
BACKOFF_S = (0.1, 5.0)
#: the largest frame a client accepts (a snapshot of a graph of a million work items fits)
MAX_FRAME_BYTES = 1 << 30
CLIENT_TYPES = ("DataLayerWSClient", "DataLayerTCPClient")


class RemoteDataLayer:
    """A data layer served elsewhere. ``close()`` when done."""

    scheme = ""
    #: PDG's name of the interface type (``createInterface``)
    type_name = ""
    #: what the client asks of the server in its ``hello`` (``sessions``)
    hello: dict[str, Any] = {}

    def __init__(self, address: str, token: str | None = None) -> None:
        parts = urlsplit(address if "://" in address else f"{self.scheme}://{address}")
        if parts.scheme != self.scheme:
            other = {c.scheme: c.type_name for c in (WSClient, TCPClient)}.get(parts.scheme)
            hint = f" ({other} takes {parts.scheme}:// addresses)" if other else ""
            raise ValueError(f"{self.type_name} takes a {self.scheme}://HOST:PORT address, not {address!r}{hint}")
        try:
            port = parts.port
        except ValueError:
            port = None
        if not parts.hostname or not port:
            raise ValueError(f"a data layer address is {self.scheme}://HOST:PORT, not {address!r}")
        self.host, self.port = parts.hostname, parts.port
        self.address = address
        query = parse_qs(parts.query)
        self.token = token or (query["token"][0] if query.get("token") else os.environ.get("PDG_DATALAYER_TOKEN"))
        self.lock = threading.RLock()
        self.subscribers: dict[str, list] = {}
        self.objects: dict[str, dict] = {}
        self.seqs: dict[str, int] = {}
        self.stats: dict[str, Any] = {"connects": 0, "frames": 0, "lost": 0, "refs": 0}
        self._pending: dict[int, Future] = {}
        self._refs = Resolver()
        self._ids = itertools.count(1)
        self._send = None
        self.connected = threading.Event()
        #: why the client gave up (the server does not answer as a data layer of its kind), or None
        self.error: str | None = None
        self._closing = False
        self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._run, name=f"pdgd-client-{self.port}", daemon=True)
        self._thread.start()

    # -- PDG's interface ---------------------------------------------------------------------------
    def subscribe(self, visualizer, path: str, since: int | None = None) -> None:
        path = clean_path(path)
        with self.lock:
            subs = self.subscribers.setdefault(path, [])
            first = not subs
            if visualizer not in subs:
                subs.append(visualizer)
            if since is not None:
                self.seqs[path] = since
            if not first and path in self.objects:
                visualizer.processMessage(snapshot(dict(self.objects[path]), self.seqs.get(path, 0)), path)
            # not connected yet (or connecting): ``_opened`` subscribes every path it finds here
            send_now = first and self._send is not None
            since = self.seqs.get(path)
            refused = self.error
        if refused is not None:  # told as those subscribed before it was (``_refused``)
            self._fail(refused, [visualizer])
            return
        if send_now:
            self._post({"op": "subscribe", "path": path, "since": since})

    def unsubscribe(self, visualizer, path: str) -> None:
        path = clean_path(path)
        with self.lock:
            subs = self.subscribers.get(path, [])
            if visualizer in subs:
                subs.remove(visualizer)
            if subs:
                return
            self.subscribers.pop(path, None)
            self.objects.pop(path, None)
            self.seqs.pop(path, None)
        self._post({"op": "unsubscribe", "path": path})

    def sendCommand(self, name: str, params=None, path: str = "pdg", timeout: float = 30.0):
        """Run a command on the server; its result, or ``CommandError`` with the server's sentence."""
        deadline = time.monotonic() + timeout
        while not self.connected.wait(min(0.05, max(0.0, deadline - time.monotonic()))):
            if self.error is not None:
                raise CommandError(self.error)
            if time.monotonic() >= deadline:
                last = self.stats.get("last_error")
                raise CommandError(f"not connected to the data layer at {self.address}" + (f": {last}" if last else ""))
        ident = next(self._ids)
        future: Future = Future()
        self._pending[ident] = future
        request = {"op": "command", "id": ident, "name": name, "params": params, "path": clean_path(path)}
        if self.token:
            request["token"] = self.token
        self._post(request)
        try:
            return future.result(timeout)
        finally:
            self._pending.pop(ident, None)

    send_command = sendCommand

    def close(self) -> None:
        self._closing = True
        try:
            self.loop.call_soon_threadsafe(self._stop_now)
        except RuntimeError:
            pass  # the loop has already ended
        self._thread.join(timeout=10)

    # -- the connection ----------------------------------------------------------------------------
    def _post(self, request: dict) -> None:
        send = self._send
        if send is None:
            return  # not connected: the subscriptions are sent again on connecting
        coroutine = send(request)
        try:
            asyncio.run_coroutine_threadsafe(coroutine, self.loop)
        except RuntimeError:
            coroutine.close()  # the loop has ended (closing)

    def _stop_now(self) -> None:
        for task in asyncio.all_tasks(self.loop):
            task.cancel()

    def _run(self) -> None:
        asyncio.set_event_loop(self.loop)
        try:
            self.loop.run_until_complete(self._keep_connected())
        except asyncio.CancelledError:
            pass
        finally:
            self.loop.close()

    async def _keep_connected(self) -> None:
        delay = BACKOFF_S[0]
        while not self._closing:
            try:
                async for request in self._session():
                    delay = BACKOFF_S[0]  # a welcome: the server is back
                    self._dispatch(request)
            except NotADataLayer as exc:  # it answered, in another protocol: waiting cannot mend that
                self._refused(str(exc))
                return
            except (TimeoutError, OSError, ConnectionError, EOFError, ValueError) as exc:
                self.stats["last_error"] = error_line(exc)
            except Exception as exc:  # noqa: BLE001 - websockets' own errors: retry like any other drop
                self.stats["last_error"] = error_line(exc)
                refusal = self._refusal(exc) if not self.stats["connects"] else None
                if refusal is not None:  # never connected: the address is wrong, not down
                    self._refused(refusal)
                    return
            self._lost()
            if self._closing:
                return
            await asyncio.sleep(delay * random.uniform(0.8, 1.2))
            delay = min(delay * 2, BACKOFF_S[1])

    async def _opened(self, send) -> None:
        """The connection is up: say who we are and subscribe again where we stopped. The paths
        to subscribe are taken, and ``_send`` set, under the lock ``subscribe`` holds: a path
        subscribed meanwhile is sent once, by one or the other (it was once sent by both, and its
        snapshot came twice)."""
        self._refs.reset()
        self.stats["connects"] += 1
        hello = {"op": "hello", **self.hello}
        if self.token:
            hello["token"] = self.token
        if len(hello) > 1:
            await send(hello)
        with self.lock:
            paths = [(p, self.seqs.get(p)) for p in self.subscribers]
            self._send = send
        for path, since in paths:
            await send({"op": "subscribe", "path": path, "since": since})
        self.connected.set()

    def _refusal(self, exc: Exception) -> str | None:
        """The sentence for a first connection's failure that waiting cannot mend (None: retry)."""
        return None

    def _refused(self, message: str) -> None:
        """Give up (``_refusal``): say why to the callers waiting on a command and to every visualizer."""
        with self.lock:  # the error set and the visualizers taken at once: ``subscribe`` tells a later one
            self.error = message
            self._send = None  # a connection it gave up on (``NotADataLayer``) is no connection
            visualizers = self._visualizers()
        self.connected.clear()
        self.stats["last_error"] = message
        self._fail(message, visualizers)

    def _lost(self) -> None:
        was = self.connected.is_set()
        self.connected.clear()
        self._send = None
        if was:
            self.stats["lost"] += 1
        self._fail(f"the connection to {self.address} was lost", self._visualizers() if was else [])

    def _visualizers(self) -> list:
        """Every subscribed visualizer, once (one subscribed to several paths is told once)."""
        with self.lock:
            return list({id(v): v for subs in self.subscribers.values() for v in subs}.values())

    def _fail(self, message: str, visualizers: list) -> None:
        """Fail the commands waiting on a reply with ``message`` and tell ``visualizers``
        ``subscriptionLost()`` (the one way the client says a connection is gone or refused)."""
        for future in list(self._pending.values()):
            if not future.done():
                future.set_exception(CommandError(message))
        for visualizer in visualizers:
            lost = getattr(visualizer, "subscriptionLost", None)
            if lost is not None:
                lost()

    def _dispatch(self, data) -> None:
        if not isinstance(data, dict):
            return
        op = data.get("op")
        if op == "frame":
            path = cast(str, data.get("path"))  # a frame names its object
            wire = data.get("messages", [])
            self._refs.frame(path, data.get("seq"), wire)  # a graph's appends sent by ref: the values
            messages = [Message.from_wire(m) for m in wire]
            self.stats["frames"] += 1
            self.stats["refs"] = self._refs.resolved
            with self.lock:
                props = self.objects.get(path, {})
                for message in messages:
                    props = apply_message(props, message)
                self.objects[path] = props
                self.seqs[path] = int(data.get("seq", 0))
                subs = list(self.subscribers.get(path, ()))
            for visualizer in subs:
                for message in messages:
                    visualizer.processMessage(message, path)
        elif op == "reply":
            future = self._pending.get(cast(int, data.get("id")))
            if future is not None and not future.done():
                if "error" in data:
                    future.set_exception(CommandError(data["error"]))
                else:
                    future.set_result(data.get("result"))
        elif op == "error":
            self.stats["last_error"] = data.get("message", "")

    async def _session(self):
        """Yield the server's maps until the connection drops."""
        raise NotImplementedError
        yield


class WSClient(RemoteDataLayer):
    """``DataLayerWSClient``: ``ws://host:port``."""

    scheme = "ws"
    type_name = "DataLayerWSClient"
    #: one ``batch`` message per wake-up of the server instead of one message per frame, and lists
    #: of item ids packed, read lazily (``packedids``; refs, ``sharedlists``, from an older server)
    hello = {"batch": True, "refs": True, "packed": True}

    def _refusal(self, exc: Exception) -> str | None:
        if isinstance(exc, InvalidMessage):  # no HTTP answer: a TCP data layer port, or no web server at all
            return (
                f"{self.address} does not answer as a data layer WebSocket server ({error_line(exc)}): "
                f"is it a TCP data layer port? DataLayerTCPClient takes tcp://HOST:PORT"
            )
        if isinstance(exc, InvalidHandshake):  # an HTTP answer, but no WebSocket: a refusal (a token)
            return f"{self.address} refused the data layer WebSocket connection: {error_line(exc)}"
        return None

    async def _session(self):
        uri = f"ws://{self.host}:{self.port}/"
        if self.token:
            uri += f"?token={self.token}"
        async with connect(uri, max_size=MAX_FRAME_BYTES, open_timeout=10, compression=None) as websocket:

            async def send(request: dict) -> None:
                await websocket.send(json.dumps(request))

            await self._opened(send)
            async for raw in websocket:
                data = json.loads(raw)
                if isinstance(data, dict) and data.get("op") == "batch":
                    for item in data.get("items", ()):
                        yield item
                else:
                    yield data


class NotADataLayer(Exception):
    """The server answered, but not as a data layer of the client's kind (the sentence says so)."""


class TCPClient(RemoteDataLayer):
    """``DataLayerTCPClient``: ``tcp://host:port`` (msgpack frames)."""

    scheme = "tcp"
    type_name = "DataLayerTCPClient"
    hello = {"refs": True, "packed": True}

    async def _session(self):
        reader, writer = await asyncio.wait_for(asyncio.open_connection(self.host, self.port), 10)
        lock = asyncio.Lock()

        async def send(request: dict) -> None:
            async with lock:
                writer.write(msgpack.packb(request, use_bin_type=True))
                await writer.drain()

        unpacker = msgpack.Unpacker(max_buffer_size=MAX_FRAME_BYTES, strict_map_key=True, raw=False)
        try:
            await self._opened(send)
            first = True
            while True:
                chunk = await reader.read(1 << 20)
                if first and not self.stats["frames"] and (not chunk or chunk.startswith(b"HTTP/")):
                    # never a frame from it: a WebSocket server ends a hello it cannot read as HTTP
                    # without a word (after 10 s), another web server answers in HTTP
                    answered = "it answered in HTTP" if chunk else "it closed the connection without a word"
                    raise NotADataLayer(
                        f"{self.address} does not answer as a data layer TCP server ({answered}): "
                        "is it a WebSocket data layer port? DataLayerWSClient takes ws://HOST:PORT"
                    )
                if not chunk:
                    return
                first = False
                unpacker.feed(chunk)
                for data in unpacker:
                    yield data
        finally:
            writer.close()


class DataLayerInterfaceManager:
    """Makes remote interfaces (``pdgd.DataLayerInterfaceManager.Instance()``)."""

    def __init__(self) -> None:
        self.interfaces: list[RemoteDataLayer] = []

    def createInterface(self, interface_type: str, address: str, token: str | None = None) -> RemoteDataLayer:
        classes = {"DataLayerWSClient": WSClient, "DataLayerTCPClient": TCPClient}
        if interface_type not in classes:
            raise ValueError(f"no data layer interface type {interface_type} (there are {', '.join(classes)})")
        interface = classes[interface_type](address, token)
        self.interfaces.append(interface)
        return interface

    create_interface = createInterface


_manager = DataLayerInterfaceManager()


def interface_manager() -> DataLayerInterfaceManager:
    return _manager
