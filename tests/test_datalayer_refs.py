"""A graph's new work items sent by reference to its nodes' appends (``sharedlists``), for clients
that ask with ``{"op": "hello", "refs": true}``: what they rebuild is what a plain client is sent,
value for value and in order, through the encoder alone (any interleaving of any nodes) and
through a real ``pdg serve`` following a real cook in another process, for a raw WebSocket client
and for pdgd's own WebSocket and TCP interfaces."""

from __future__ import annotations

import asyncio
import itertools
import json
import threading
import time

import pytest
import websockets
from hypothesis import given, settings
from hypothesis import strategies as st
from pdgstore.engine.datalayer.messages import APPEND, REMOVE, SET, Message
from pdgstore.engine.datalayer.packedids import MIN_PACKED, IdList, packed_wire
from pdgstore.engine.datalayer.sharedlists import Resolver, node_streams, order_for_refs, to_wire_with_refs

import pdgd
from datalayer_servers import fold

pytestmark = pytest.mark.timeout(120)

NODES = ["pdg/g/node_a", "pdg/g/node_b", "pdg/g/node_c"]


def resolved(
    messages: list[Message], nodes: dict[str, list], wire: list[dict], seq: int = 7, packed: bool = False
) -> list[dict]:
    """What a client rebuilds from the node frames (plain, or ``packed``: ``packedids``) and the
    graph's ``wire`` maps."""
    resolver = Resolver()
    for path, values in nodes.items():
        node_wire = [{"t": 1, "seq": seq, "prop": "work_items", "values": list(values)}]
        resolver.frame(path, seq, packed_wire(node_wire) if packed else node_wire)
    wire = json.loads(json.dumps(packed_wire(wire) if packed else wire))  # as it crosses the wire
    resolver.frame("pdg/g", seq, wire)
    return wire


@settings(max_examples=300, deadline=None)
@given(
    owners=st.lists(st.integers(0, 2), max_size=120),
    pattern=st.sampled_from(["random", "alternate", "pairs", "blocks"]),
    cut=st.integers(0, 120),
    strangers=st.booleans(),
    packed=st.booleans(),
)
def test_refs_rebuild_exactly_the_plain_values_in_order(owners, pattern, cut, strangers, packed):
    """Items generated in any order over three nodes (random, alternating as a cook generates
    two nodes' items, or in blocks), the graph's appends split in two messages around a set, some
    ids not in any node's frame, the nodes' appends plain or packed (then refs to them resolve to
    an ``IdList`` put together when read): every message rebuilds to its plain values; the encoder
    never sends something shorter only by being wrong."""
    if pattern == "alternate":
        owners = [i % 2 for i in range(len(owners))]
    elif pattern == "pairs":
        owners = [(i // 2) % 3 for i in range(len(owners))]
    elif pattern == "blocks":
        owners = sorted(owners)
    nodes: dict[str, list] = {}
    values = []
    for i, owner in enumerate(owners):
        item_id = f"{i:016x}"
        nodes.setdefault(NODES[owner], []).append(item_id)
        values.append(item_id)
    if strangers and values:
        values.insert(len(values) // 2, "not-in-any-node")
    cut = min(cut, len(values))
    messages = [
        Message(APPEND, 5, "work_items", values[:cut]),
        Message(SET, 5, "cook_status", ["running"]),
        Message(APPEND, 6, "work_items", values[cut:]),
    ]
    wire = to_wire_with_refs(messages, nodes)
    rebuilt = [Message.from_wire(m).values for m in resolved(messages, nodes, wire, packed=packed)]
    assert [list(values) for values in rebuilt] == [m.values for m in messages]
    if packed and any("refs" in m for m in wire) and all(len(v) >= MIN_PACKED for v in nodes.values()):
        assert any(type(values) is IdList for values in rebuilt)  # refs to packed lists, put together when read


def test_a_cooks_interleaved_generation_is_a_few_bytes():
    """Two nodes' items generated one after the other (as a cook generates them) in 4,096 pairs:
    the graph's append is one segment, not 8,192 ids."""
    nodes = {NODES[0]: [f"a{i:015x}" for i in range(4096)], NODES[1]: [f"b{i:015x}" for i in range(4096)]}
    values = [v for pair in zip(nodes[NODES[0]], nodes[NODES[1]], strict=True) for v in pair]
    message = Message(APPEND, 9, "work_items", values)
    wire = to_wire_with_refs([message], nodes)
    assert wire[0]["refs"] == [[[0, 1, 1, 1], 4096]] and "values" not in wire[0]
    assert len(json.dumps(wire)) < 200
    assert resolved([message], nodes, wire)[0]["values"] == values


def test_a_graph_named_like_a_node_is_still_a_graph():
    frames = [("pdg/node_x", []), ("pdg/node_x/node_a", []), ("pdg/node_x/work_item_1", [])]
    assert [path for path, _ in order_for_refs(frames)] == ["pdg/node_x/node_a", "pdg/node_x", "pdg/node_x/work_item_1"]


def test_frames_are_ordered_nodes_first_and_streams_are_the_nodes_appends():
    frames = [
        ("pdg/g", [Message(APPEND, 3, "work_items", ["x", "y"])]),
        ("pdg/g/node_a", [Message(APPEND, 3, "work_items", ["x"]), Message(REMOVE, 3, "work_items", ["q"])]),
        ("pdg/g/node_b", [Message(APPEND, 3, "work_items", ["y"]), Message(APPEND, 3, "num_work_items", [1])]),
    ]
    ordered = order_for_refs(frames)
    assert [path for path, _ in ordered] == ["pdg/g/node_a", "pdg/g/node_b", "pdg/g"]
    assert node_streams(ordered) == {"pdg/g/node_a": ["x"], "pdg/g/node_b": ["y"]}


@pytest.mark.parametrize(
    "wire",
    [
        {"t": 1, "prop": "work_items", "from": ["pdg/g/node_z"], "refs": [[[0, 1], 1]]},  # no such frame
        {"t": 1, "prop": "work_items", "from": ["pdg/g/node_a"], "refs": [[[0, 5], 1]]},  # past its appends
        {"t": 1, "prop": "work_items", "from": ["pdg/g/node_a"], "refs": [[[0], 1]]},  # half a pair
        {"t": 1, "prop": "work_items", "from": ["pdg/g/node_a"], "refs": "nonsense"},
        {"t": 1, "prop": "work_items", "from": None, "refs": [[[0, 1], 1]]},
    ],
)
def test_refs_that_point_at_nothing_are_refused_with_a_value_error(wire):
    resolver = Resolver()
    resolver.frame("pdg/g/node_a", 4, [{"t": 1, "prop": "work_items", "values": ["x", "y"]}])
    with pytest.raises(ValueError):
        resolver.frame("pdg/g", 4, [wire])


def test_refs_do_not_reach_across_seqs():
    resolver = Resolver()
    resolver.frame("pdg/g/node_a", 4, [{"t": 1, "prop": "work_items", "values": ["x"]}])
    with pytest.raises(ValueError):
        resolver.frame("pdg/g", 5, [{"t": 1, "prop": "work_items", "from": ["pdg/g/node_a"], "refs": [[[0, 1], 1]]}])


# -- through a real server and a real cook ------------------------------------------------------------
GRAPH = """
from pdgstore.engine import Graph

graph = Graph("twin")
files = graph.file_pattern("files", "in/*.txt")

@graph.python_processor("work", upstream=files)
def work(item):
    pass

@graph.python_processor("after", upstream=work)
def after(item):
    pass
"""
N = 300
PATHS = ["pdg/twin", "pdg/twin/node_files", "pdg/twin/node_work", "pdg/twin/node_after"]


@pytest.fixture
def served(project):
    project.write("twin.py", GRAPH)
    project.inputs(N)
    return project


def finished(mirrors: dict) -> bool:
    """The cook's end seen whole: the graph's status and every node's last counts (a client sent
    one frame per message may have read some of the last step's frames only)."""
    nodes = [mirrors.get(path, {}) for path in PATHS[1:]]
    return mirrors.get("pdg/twin", {}).get("cook_status") == ["success"] and all(
        node.get("state_counts") == [["cooked_success", N]] and node.get("cook_state") == ["cooked"] for node in nodes
    )


class Mirror:
    """A pdgd visualizer folding what it is told into plain lists, per path."""

    def __init__(self) -> None:
        self.objects: dict[str, dict] = {}
        self.lock = threading.Lock()

    def processMessage(self, message, path) -> None:
        with self.lock:
            fold(self.objects.setdefault(path, {}), [_wire(message)])

    def done(self) -> bool:
        with self.lock:
            return finished(self.objects)


def _wire(message) -> dict:
    if message.getType() == 0:
        return {"t": 0, "props": message.getObjectSnapshot().toPython()}
    return {"t": int(message.getType()), "prop": message.getPropertyName(), "values": message.getPropertyArray()}


def test_clients_asking_for_refs_or_packed_ids_rebuild_what_a_plain_client_is_sent(served, serve):
    """A plain WebSocket client, a raw one asking for refs, a raw one asking for refs and packed id
    lists (``packedids``), and pdgd's WebSocket and TCP interfaces (which ask for both) follow
    the graph and its three nodes through a cook in another process. The raw refs client was sent
    the graph's new items as refs at least once, the packed one lists as packed ids, and each of
    their frames, rebuilt, is the plain client's frame of that path and seq; at the end every
    client holds the same objects, the graph's work items in the same order, pdgd's as ``IdList``s."""
    server = serve()  # before the store exists: every client sees every step of the cook
    url = f"ws://127.0.0.1:{server.ws_port}/"
    frames: dict[str, dict] = {"plain": {}, "refs": {}, "packed": {}}
    mirrors: dict[str, dict] = {"plain": {}, "refs": {}, "packed": {}}
    refs_sent, packed_sent = [], []

    async def follow(who: str, subscribed: asyncio.Event) -> None:
        resolver = Resolver()
        async with websockets.connect(url, max_size=1 << 26) as ws:
            assert json.loads(await ws.recv())["op"] == "welcome"
            if who == "refs":
                await ws.send(json.dumps({"op": "hello", "batch": True, "refs": True}))
            elif who == "packed":
                await ws.send(json.dumps({"op": "hello", "batch": True, "refs": True, "packed": True}))
            for path in PATHS:
                await ws.send(json.dumps({"op": "subscribe", "path": path}))
            snapshots = 0
            while not finished(mirrors[who]):
                data = json.loads(await asyncio.wait_for(ws.recv(), 60))
                for frame in data["items"] if data["op"] == "batch" else [data]:
                    assert frame["op"] == "frame"
                    refs_sent.extend(m for m in frame["messages"] if "refs" in m)
                    resolver.frame(frame["path"], frame["seq"], frame["messages"])
                    if who == "packed":
                        packed_sent.extend(m for m in frame["messages"] if "ids" in m or "ids" in str(m.get("props")))
                        frame["messages"] = [Message.from_wire(m).to_wire() for m in frame["messages"]]
                    frames[who].setdefault(frame["path"], []).append(frame)
                    fold(mirrors[who].setdefault(frame["path"], {}), frame["messages"])
                    snapshots += frame["messages"][0]["t"] == 0
                if snapshots >= len(PATHS):
                    subscribed.set()

    pdgd_mirrors = {"ws": Mirror(), "tcp": Mirror()}
    manager = pdgd.DataLayerInterfaceManager.Instance()
    interfaces = {
        "ws": manager.createInterface("DataLayerWSClient", url),
        "tcp": manager.createInterface("DataLayerTCPClient", f"tcp://127.0.0.1:{server.tcp_port}"),
    }

    async def run() -> None:
        ready = {who: asyncio.Event() for who in frames}
        tasks = [asyncio.create_task(follow(who, ready[who])) for who in frames]
        await asyncio.wait_for(asyncio.gather(*(e.wait() for e in ready.values())), 60)
        cook = served.popen("cook", "twin.py")
        try:
            assert await asyncio.to_thread(cook.wait, 60) == 0
            await asyncio.wait_for(asyncio.gather(*tasks), 60)
        finally:
            cook.stdout.close()
            cook.stderr.close()

    try:
        for kind, interface in interfaces.items():
            for path in PATHS:
                interface.subscribe(pdgd_mirrors[kind], path)
        _wait(lambda: all(len(m.objects) == len(PATHS) for m in pdgd_mirrors.values()), "pdgd's snapshots")
        asyncio.run(run())
        _wait(lambda: all(m.done() for m in pdgd_mirrors.values()), "pdgd's clients to see the cook end")
    finally:
        for interface in interfaces.values():
            interface.close()

    assert refs_sent, "the graph's new items never came as refs"
    assert packed_sent, "no list came packed"
    for who, path in itertools.product(("refs", "packed"), PATHS):  # a batch may end past the frame
        plain, rebuilt = frames["plain"][path], frames[who][path]  # that finished: compare what both got
        common = min(len(plain), len(rebuilt))
        assert rebuilt[:common] == plain[:common], (who, path)
    assert mirrors["refs"] == mirrors["plain"] == mirrors["packed"]
    assert len(mirrors["plain"]["pdg/twin"]["work_items"]) == 3 * N
    for kind, mirror in pdgd_mirrors.items():
        assert mirror.objects == mirrors["plain"], kind
        assert interfaces[kind].stats.get("last_error") is None, interfaces[kind].stats
        assert interfaces[kind].stats["refs"] > 0, interfaces[kind].stats  # it asked for refs, and got them
        assert type(interfaces[kind].objects["pdg/twin"]["work_items"]) is IdList, kind  # and for packed lists


def _wait(predicate, what: str, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"waited {timeout:.0f} s for {what}")
        time.sleep(0.02)
