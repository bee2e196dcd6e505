"""The data layer servers are safe by default: loopback, the token for other addresses and for
commands that change things, Origin checked, requests capped, malformed frames refused and
counted (the server goes on serving), a subscriber that stops reading resynced, not waited for."""

from __future__ import annotations

import asyncio
import json
import socket

import msgpack
import pytest
import websockets
from websockets.exceptions import ConnectionClosedError, InvalidStatus

import pdgd
import pdgd.util
from pdgstore.engine.datalayer import sessions
from pdgstore.engine.datalayer.handlers import CommandError
from pdgstore.engine.datalayer.server import TCPServer, WSServer

from datalayer_servers import layer, ws  # noqa: F401 - fixtures

pytestmark = pytest.mark.timeout(60)


@pytest.fixture
def tcp(layer):
    server = TCPServer(layer, 0)
    yield server
    server.stop()


async def first_frame(url, path="pdg", **kwargs):
    async with websockets.connect(url, **kwargs) as client:
        assert json.loads(await client.recv())["op"] == "welcome"
        await client.send(json.dumps({"op": "subscribe", "path": path}))
        return json.loads(await client.recv())


def test_binds_loopback_by_default(ws, tcp):
    assert ws.host == tcp.host == "127.0.0.1" and not ws.requires_token


def test_a_page_of_another_origin_is_refused(ws):
    url = f"ws://127.0.0.1:{ws.port}/"
    with pytest.raises(InvalidStatus) as refused:
        asyncio.run(first_frame(url, origin="http://evil.example"))
    assert refused.value.response.status_code == 403
    frame = asyncio.run(first_frame(url, origin=f"http://127.0.0.1:{ws.port}"))  # its own page
    assert frame["messages"][0]["props"] == {"graph_list": ["wide"]}


def test_requests_over_the_size_cap_close_the_connection(ws):
    async def big():
        async with websockets.connect(f"ws://127.0.0.1:{ws.port}/") as client:
            await client.recv()
            await client.send("x" * (2 << 20))
            await client.recv()

    with pytest.raises(ConnectionClosedError) as closed:
        asyncio.run(big())
    assert closed.value.rcvd.code == 1009  # message too big


def test_malformed_websocket_requests_are_refused_and_counted(ws):
    async def bad():
        async with websockets.connect(f"ws://127.0.0.1:{ws.port}/") as client:
            await client.recv()
            replies = []
            for request in ("{not json", json.dumps([1, 2]), json.dumps({"op": "subscribe"}), json.dumps({"op": "x"})):
                await client.send(request)
                replies.append(json.loads(await client.recv()))
            await client.send(json.dumps({"op": "subscribe", "path": "pdg"}))  # still served
            replies.append(json.loads(await client.recv()))
            return replies

    replies = asyncio.run(bad())
    assert [r["op"] for r in replies] == ["error"] * 4 + ["frame"]
    assert replies[0]["message"].startswith("malformed request refused")
    assert ws.stats["malformed"] == 4


def test_malformed_tcp_stream_is_refused_counted_and_others_are_served(tcp):
    with socket.create_connection(("127.0.0.1", tcp.port), timeout=10) as bad:
        unpacker = msgpack.Unpacker(raw=False)
        bad.sendall(b"\xc1" * 16)  # 0xc1 is never valid msgpack
        replies = []
        while True:
            data = bad.recv(65536)
            if not data:
                break
            unpacker.feed(data)
            replies.extend(unpacker)
    assert replies[0]["op"] == "welcome" and replies[-1]["op"] == "error"
    assert tcp.stats["malformed"] == 1
    with socket.create_connection(("127.0.0.1", tcp.port), timeout=10) as good:
        good.sendall(msgpack.packb({"op": "subscribe", "path": "pdg/wide/node_concat"}))
        unpacker = msgpack.Unpacker(raw=False)
        frames = []
        while len(frames) < 2:
            unpacker.feed(good.recv(65536))
            frames.extend(unpacker)
    assert frames[1]["messages"][0]["props"]["num_work_items"] == [1]


def test_a_tcp_request_larger_than_the_buffer_is_refused(tcp):
    with socket.create_connection(("127.0.0.1", tcp.port), timeout=10) as client:
        client.sendall(msgpack.packb({"op": "subscribe", "path": "p" * (2 << 20)}))
        unpacker = msgpack.Unpacker(raw=False)
        replies = []
        while True:
            try:
                data = client.recv(65536)
            except ConnectionResetError:
                break
            if not data:
                break
            unpacker.feed(data)
            replies.extend(unpacker)
    assert replies[-1]["op"] == "error" and tcp.stats["malformed"] == 1


def test_commands_that_change_things_need_the_token_even_on_loopback(ws, wide):
    address = f"ws://127.0.0.1:{ws.port}"
    manager = pdgd.DataLayerInterfaceManager.Instance()
    anonymous = manager.createInterface("DataLayerWSClient", address)
    trusted = manager.createInterface("DataLayerWSClient", f"{address}/?token={ws.getToken()}")
    try:
        assert anonymous.sendCommand("status", None, "pdg/wide/node_upper")["properties"]["num_work_items"] == [20]
        with pytest.raises(CommandError, match="needs the server's token"):
            anonymous.sendCommand("dirty", None, "pdg/wide/node_upper")
        assert ws.stats["refused"] == 1
        node = pdgd.util.PDGDObject("pdg/wide/node_upper", anonymous)
        assert trusted.sendCommand("dirty", None, "pdg/wide/node_upper")["count"] == 20
        assert node.waitFor(lambda o: o.get("state_counts") == [["dirty", 20]])
        with pytest.raises(CommandError, match="cannot be dirtied"):
            trusted.sendCommand("dirty", None, "pdg/wide")
        with pytest.raises(CommandError, match="no cook of wide is running"):
            trusted.sendCommand("cancel", None, "pdg/wide")
    finally:
        anonymous.close()
        trusted.close()


def test_any_address_but_loopback_needs_the_token_to_connect(layer):
    server = WSServer(layer, 0, host="0.0.0.0")
    tcp = TCPServer(layer, 0, host="0.0.0.0", token=server.token)
    try:
        assert server.requires_token and tcp.requires_token
        with pytest.raises(InvalidStatus) as refused:
            asyncio.run(first_frame(f"ws://127.0.0.1:{server.port}/"))
        assert refused.value.response.status_code == 401
        frame = asyncio.run(first_frame(f"ws://127.0.0.1:{server.port}/?token={server.token}"))
        assert frame["messages"][0]["props"] == {"graph_list": ["wide"]}
        with socket.create_connection(("127.0.0.1", tcp.port), timeout=10) as client:
            client.sendall(msgpack.packb({"op": "subscribe", "path": "pdg"}))
            reply = msgpack.unpackb(client.recv(65536), raw=False)
            assert reply == {"op": "error", "message": "this server needs its token first"}
        with socket.create_connection(("127.0.0.1", tcp.port), timeout=10) as client:
            client.sendall(msgpack.packb({"op": "hello", "token": tcp.token}))
            client.sendall(msgpack.packb({"op": "subscribe", "path": "pdg"}))
            unpacker, got = msgpack.Unpacker(raw=False), []
            while len(got) < 2:
                unpacker.feed(client.recv(65536))
                got.extend(unpacker)
            assert got[0]["op"] == "welcome" and got[0]["auth"] is True and got[1]["op"] == "frame"
    finally:
        server.stop()
        tcp.stop()


def test_a_subscriber_that_stops_reading_is_resynced_not_waited_for(layer, ws, monkeypatch):
    """Its queue is dropped past the backlog limit and, once it drains, it gets snapshots."""
    monkeypatch.setattr(sessions, "BACKLOG_BYTES", 2000)
    loop = asyncio.new_event_loop()
    try:
        session = sessions.Session(ws, loop, False)

        async def scenario():
            await session.handle({"op": "subscribe", "path": "pdg/wide"})
            for _ in range(20):  # the follower keeps delivering; nothing is read
                session.processFrame("pdg/wide", [], layer.seq)
            await asyncio.sleep(0.05)
            assert ws.stats["resyncs"] >= 1 and session.resync == {"pdg/wide"}
            while True:
                for data in await asyncio.wait_for(session.next_outgoing(), 10):
                    frame = json.loads(data)
                    if frame["op"] == "frame" and frame["messages"]:
                        return frame

        frame = loop.run_until_complete(scenario())
        assert frame["messages"][0]["t"] == 0 and len(frame["messages"][0]["props"]["work_items"]) == 42
        loop.run_until_complete(session.close())
    finally:
        loop.close()


def test_the_websocket_port_serves_plain_http_routes(ws):
    import urllib.error
    import urllib.request

    with pytest.raises(urllib.error.HTTPError) as missing:
        urllib.request.urlopen(f"http://127.0.0.1:{ws.port}/nothing", timeout=10)
    assert missing.value.code == 404
    ws.add_route("/", lambda request: (200, "text/html; charset=utf-8", b"<h1>pdgstore</h1>"))
    ws.add_route("/static/", lambda request: (200, "text/plain", request.path.encode()))
    with urllib.request.urlopen(f"http://127.0.0.1:{ws.port}/", timeout=10) as page:
        assert page.read() == b"<h1>pdgstore</h1>" and page.headers["Content-Type"].startswith("text/html")
    with urllib.request.urlopen(f"http://127.0.0.1:{ws.port}/static/app.js", timeout=10) as page:
        assert page.read() == b"/static/app.js"
    frame = asyncio.run(first_frame(f"ws://127.0.0.1:{ws.port}/"))  # the WebSocket endpoint still answers
    assert frame["op"] == "frame"


def test_a_plain_request_read_while_the_server_stops_is_answered_503(ws):
    """A browser's request that arrives once the server has shut its handlers' pool down (it is
    stopping) gets 503 and a sentence, not a traceback from the handshake."""
    import urllib.error
    import urllib.request

    ws.add_route("/", lambda request: (200, "text/plain", b"up"))
    with urllib.request.urlopen(f"http://127.0.0.1:{ws.port}/", timeout=10) as page:
        assert page.read() == b"up"
    ws.pool.shutdown(wait=False)  # the first step of the server's stop
    with pytest.raises(urllib.error.HTTPError) as stopping:
        urllib.request.urlopen(f"http://127.0.0.1:{ws.port}/", timeout=10)
    assert stopping.value.code == 503 and b"stopping" in stopping.value.read()
