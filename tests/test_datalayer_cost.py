"""What following a cook costs ``pdg serve``, held by its parts: a step's frames are encoded once
for every connection and handed to each in one go, steps are paced by the server's CPU share, and
a client folds a large removal in one pass; a recook lists each item once. (The cost itself is a benchmark:
``benchmarks/test_bench_datalayer.py``.)"""

from __future__ import annotations

import asyncio
import json

import pytest
from pdgstore.engine.datalayer import core, sessions
from pdgstore.engine.datalayer.core import busy_interval
from pdgstore.engine.datalayer.messages import APPEND, REMOVE, SET, Message, apply_message

import pdgd.util
from datalayer_servers import layer, ws  # noqa: F401 - fixtures

pytestmark = pytest.mark.timeout(60)


def test_a_step_is_encoded_once_and_handed_to_every_connection_with_one_wake_up(layer, ws):
    loop = asyncio.new_event_loop()
    try:
        clients = [sessions.Session(ws, loop, False) for _ in range(3)]
        clients[0].batch = True
        paths = ["pdg/wide", "pdg/wide/node_upper"]
        with layer.lock:
            for client in clients:
                layer.subscribers.update({p: layer.subscribers.get(p, []) + [client] for p in paths})
            frames = {
                "pdg/wide": [Message(APPEND, 7, "work_items", ["a", "b"])],
                "pdg/wide/node_upper": [Message(SET, 7, "num_work_items", [3])],
            }
            encoded = ws.stats["frames"]
            wakes = []
            wake = loop.call_soon_threadsafe
            loop.call_soon_threadsafe = lambda *args: wakes.append(args) or wake(*args)  # type: ignore[method-assign]
            layer.deliver_step(frames, 7)
        assert ws.stats["frames"] - encoded == 2, "one encoding per path, not per connection"
        assert len(wakes) == 1, "one wake-up of the connections' loop for all of them, not one each"

        async def drain(client) -> list:
            return await asyncio.wait_for(client.next_outgoing(), 10)

        for client in clients:
            batch = loop.run_until_complete(drain(client))  # both frames in one take
            assert [json.loads(b)["path"] for b in batch] == paths
            assert all(json.loads(b)["seq"] == 7 for b in batch)
            assert not client.queue and not client.handover.pending, "nothing else was queued"
    finally:
        for client in clients:
            client.closed = True
        loop.close()


def test_steps_are_paced_by_the_servers_cpu_share():
    # a cheap step (one subscriber): the 30 ms of a busy store
    assert busy_interval(0.0005) == core.BUSY_INTERVAL_S
    # a step that cost the process 20 ms (fifty subscribers): waits to keep to CPU_SHARE of a core
    assert busy_interval(0.02) == pytest.approx(0.02 / core.CPU_SHARE)
    # a step of a few ms (a browser following a trickle of changes) keeps the 30 ms pace
    assert busy_interval(0.005) == core.BUSY_INTERVAL_S
    # however dear, a subscriber hears of a change within MAX_BUSY_INTERVAL_S of the step before
    assert busy_interval(10.0) == core.MAX_BUSY_INTERVAL_S
    # fifty subscribers, each a process that reads every step: steps come no oftener than
    # PER_SUBSCRIBER_S each, however cheap for the server; one subscriber still every 30 ms
    assert busy_interval(0.0005, 1) == core.BUSY_INTERVAL_S
    assert busy_interval(0.0005, 50) == pytest.approx(50 * core.PER_SUBSCRIBER_S)
    assert busy_interval(0.0005, 10_000) == core.MAX_BUSY_INTERVAL_S


def test_a_large_removal_is_folded_in_one_pass_with_list_removes_meaning():
    ids = [f"{i:016x}" for i in range(20000)]
    props = {"work_items": list(ids), "name": ["n"]}
    props = apply_message(props, Message(REMOVE, 9, "work_items", ids[::2] + ["not-there"]))
    assert props["work_items"] == ids[1::2] and props["name"] == ["n"]
    # the first occurrence of each value goes, as list.remove does; unhashable values too
    props = {"p": ["a", "b", "a"], "files": [["x", "", 1], ["y", "", 2]]}
    props = apply_message(props, Message(REMOVE, 10, "p", ["a"]))
    props = apply_message(props, Message(REMOVE, 11, "files", [["x", "", 1]]))
    assert props == {"p": ["b", "a"], "files": [["y", "", 2]]}


def test_a_recook_lists_new_items_once_and_regenerated_ones_not_again(wide, layer):
    """The follower finds a step's new items as one range of the item table and the items
    generated again by their ids: after a recook that regenerates the files node and adds an
    input, the graph and its nodes list every item once, as the store does."""
    graph = pdgd.util.PDGDObject("pdg/wide", layer)
    files = pdgd.util.PDGDObject("pdg/wide/node_files", layer)
    upper = pdgd.util.PDGDObject("pdg/wide/node_upper", layer)
    assert files.waitFor(lambda o: len(o.get("work_items", [])) == 20, 30)
    wide.write("in/f0020.txt", "one more\n")
    assert wide.pdg("dirty", "files").exit_code == 0
    assert wide.pdg("cook", "wide.py").exit_code == 0
    listed = {node: ids(wide, node) for node in ("files", "upper", "gather", "concat")}
    assert len(listed["files"]) == len(listed["upper"]) == 21
    assert files.waitFor(lambda o: o.get("work_items") == listed["files"], 30), files.object
    assert upper.waitFor(lambda o: o.get("work_items") == listed["upper"], 30), upper.object
    everything = sorted(i for node_ids in listed.values() for i in node_ids)
    assert graph.waitFor(lambda o: sorted(o.get("work_items", [])) == everything, 30), graph.object


def ids(project, node: str) -> list[str]:
    return [i["item_id"] for i in json.loads(project.pdg("items", node, "--json").output)["items"]]
