"""The data layer's client (``engine.datalayer.client``): what it sends while its connection opens."""

from __future__ import annotations

import asyncio

import pytest
from pdgstore.engine.datalayer.client import RemoteDataLayer


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
