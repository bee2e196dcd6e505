"""The data layer's client (``engine.datalayer.client``): what it sends while its connection opens,
and how it refuses an address of the wrong kind."""

from __future__ import annotations

import asyncio
import threading

import pdgd
import pytest
from pdgstore.engine.datalayer.client import RemoteDataLayer
from pdgstore.engine.datalayer.handlers import CommandError


class _Visualizer:
    def processMessage(self, message, path) -> None:  # noqa: N802 - PDG's name
        pass


class _HeldOpen(RemoteDataLayer):
    """A client whose connection is a list of what it sent: while its ``hello`` is on its way, the
    user subscribes from another thread (as ``pdgd`` users do right after ``createInterface``)."""

    scheme = "ws"
    hello = {"batch": True}

    def __init__(self, address: str) -> None:
        self.sent: list[dict] = []
        super().__init__(address)

    async def _session(self):
        async def send(request: dict) -> None:
            self.sent.append(request)
            if request["op"] == "hello":
                await asyncio.get_running_loop().run_in_executor(
                    None, self.subscribe, _Visualizer(), "pdg/g/node_a"
                )

        await self._opened(send)
        await asyncio.sleep(3600)  # the connection stays up; ``close`` cancels it
        yield {}


@pytest.mark.timeout(60)
def test_a_path_subscribed_while_the_connection_opens_is_subscribed_once():
    """``_opened`` once set the client's ``send`` before its ``hello``, then listed the paths to
    subscribe: a ``subscribe`` in between was sent by both, and its snapshot came twice (seen in
    ``test_pdgd_client_reconnects_after_the_server_restarts`` beside another suite)."""
    client = _HeldOpen("ws://127.0.0.1:9")
    try:
        assert client.connected.wait(20)
        # a subscribe posted to the client's loop (before it connected) runs before this does
        asyncio.run_coroutine_threadsafe(asyncio.sleep(0), client.loop).result(20)
        subscribes = [r for r in client.sent if r["op"] == "subscribe"]
        assert subscribes == [{"op": "subscribe", "path": "pdg/g/node_a", "since": None}]
    finally:
        client.close()


class _Lost:
    """A visualizer that notes its messages and when it hears ``subscriptionLost``."""

    def __init__(self) -> None:
        self.messages: list = []
        self.lost = threading.Event()

    def processMessage(self, message, path) -> None:  # noqa: N802 - PDG's name
        self.messages.append(message)

    def subscriptionLost(self) -> None:  # noqa: N802 - PDG's name
        self.lost.set()


def _served(project, serve):
    project.write("g.py", "from pdgstore.engine import Graph\ngraph = Graph('g')\ngraph.file_pattern('files', 'in/*.txt')\n")
    project.inputs(2)
    assert project.pdg("cook", "g.py").exit_code == 0
    return serve()


@pytest.mark.timeout(120)
def test_a_client_refuses_an_address_of_the_other_scheme_at_once(project, serve):
    """A WebSocket client given ``tcp://`` did nothing, silently; a TCP client took ``ws://``."""
    server = _served(project, serve)
    manager = pdgd.DataLayerInterfaceManager.Instance()
    for kind, address, takes, other in (
        ("DataLayerWSClient", f"tcp://127.0.0.1:{server.tcp_port}", "ws", "DataLayerTCPClient takes tcp://"),
        ("DataLayerTCPClient", f"ws://127.0.0.1:{server.ws_port}", "tcp", "DataLayerWSClient takes ws://"),
    ):
        with pytest.raises(ValueError) as refused:
            manager.createInterface(kind, address)
        assert str(refused.value) == f"{kind} takes a {takes}://HOST:PORT address, not {address!r} ({other} addresses)"


def _gives_up(client, said: str) -> None:
    """``client`` tells a visualizer subscribed before it gave up, keeps ``said`` as its error, and
    refuses a command with it."""
    early = _Lost()
    client.subscribe(early, "pdg")
    assert early.lost.wait(60) and not early.messages
    assert client.error == said
    with pytest.raises(CommandError) as failed:
        client.sendCommand("status", None, "pdg/g/node_files", timeout=30)
    assert str(failed.value) == client.error


def _answers(manager, kind: str, address: str) -> None:
    """A ``kind`` client on the right port connects and answers as before."""
    good = manager.createInterface(kind, address)
    try:
        assert good.sendCommand("status", None, "pdg/g/node_files", timeout=30)["properties"]["num_work_items"] == [2]
        assert good.error is None
    finally:
        good.close()


@pytest.mark.timeout(120)
def test_a_websocket_client_on_the_tcp_port_says_it_cannot_connect(project, serve):
    """Given the TCP port without a scheme, a WebSocket client once retried for ever, silently:
    no message, no ``subscriptionLost``. It gives up, says why to its visualizers (one subscribed
    after it gave up too) and to a command; on the right port it connects as before."""
    server = _served(project, serve)
    manager = pdgd.DataLayerInterfaceManager.Instance()
    client = manager.createInterface("DataLayerWSClient", f"127.0.0.1:{server.tcp_port}")
    try:
        _gives_up(
            client,
            f"127.0.0.1:{server.tcp_port} does not answer as a data layer WebSocket server (InvalidMessage: did "
            "not receive a valid HTTP response): is it a TCP data layer port? DataLayerTCPClient takes tcp://HOST:PORT",
        )
        late = _Lost()
        client.subscribe(late, "pdg")
        assert late.lost.is_set()
    finally:
        client.close()
    _answers(manager, "DataLayerWSClient", f"127.0.0.1:{server.ws_port}")


@pytest.mark.timeout(120)
def test_a_tcp_client_on_the_websocket_port_says_it_cannot_connect(project, serve):
    """Given the WebSocket port without a scheme, a TCP client read the server's HTTP answer as
    msgpack and retried for ever. It gives up on the first answer, says why, and on the right
    port connects as before."""
    server = _served(project, serve)
    manager = pdgd.DataLayerInterfaceManager.Instance()
    client = manager.createInterface("DataLayerTCPClient", f"127.0.0.1:{server.ws_port}")
    try:
        _gives_up(
            client,
            f"127.0.0.1:{server.ws_port} does not answer as a data layer TCP server (it closed the connection "
            "without a word): is it a WebSocket data layer port? DataLayerWSClient takes ws://HOST:PORT",
        )
        assert client.stats["connects"] <= 1
    finally:
        client.close()
    _answers(manager, "DataLayerTCPClient", f"127.0.0.1:{server.tcp_port}")
