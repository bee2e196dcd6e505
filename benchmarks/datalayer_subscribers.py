"""N WebSocket subscribers of a ``pdg serve`` in one process (for test_bench_datalayer.py).

Each follows ``pdg/wide`` and its four nodes, asking for ``batch`` messages as the ``pdgd`` client
and the web view do (the frames the server has ready at once come as one message). As the
``pdgd`` client does, each asks for lists of item ids packed (``packedids``: one string per
list, read lazily) and for a graph's new items by reference to its nodes' (``refs``,
``sharedlists``: put together only when read), and folds the frames into its objects with the client's own ``Message.from_wire``
and ``apply_message``. ``--no-packed``: refs and plain lists (the ``pdgd`` client before packed
lists). ``--no-batch``: one message per frame, as a client that does not ask gets them.
``--page-json``: no refs and nothing packed, every list as plain JSON values (what any other client
gets). Prints ``subscribed`` once every one has its
snapshots; on a line ``wait`` from stdin, waits until every one has seen the graph's cook end and
its nodes' counts complete, then prints ``{"done": n, "frames": total}``.
"""

import asyncio
import json
import sys

import websockets
from pdgstore.engine.datalayer.messages import Message, apply_message
from pdgstore.engine.datalayer.sharedlists import Resolver

PATHS = ["pdg/wide", "pdg/wide/node_files", "pdg/wide/node_upper", "pdg/wide/node_everything", "pdg/wide/node_concat"]


class Subscriber:
    def __init__(self) -> None:
        self.objects = {p: {} for p in PATHS}
        self.frames = 0
        self.refs = Resolver()
        self.ready = asyncio.Event()
        self.finished = asyncio.Event()

    def fold(self, frame) -> None:
        self.refs.frame(frame["path"], frame["seq"], frame["messages"])
        obj = self.objects[frame["path"]]
        for m in frame["messages"]:
            obj = apply_message(obj, Message.from_wire(m))
        self.objects[frame["path"]] = obj
        graph, concat = self.objects["pdg/wide"], self.objects["pdg/wide/node_concat"]
        if graph.get("cook_status") == ["success"] and concat.get("cook_state") == ["cooked"]:
            self.finished.set()

    async def run(self, url: str) -> None:
        async with websockets.connect(url, max_size=1 << 30) as ws:
            await ws.recv()
            if BATCH or REFS or PACKED:
                await ws.send(json.dumps({"op": "hello", "batch": BATCH, "refs": REFS, "packed": PACKED}))
            for path in PATHS:
                await ws.send(json.dumps({"op": "subscribe", "path": path}))
            seen = 0
            async for raw in ws:
                data = json.loads(raw)
                for frame in data["items"] if data.get("op") == "batch" else (data,):
                    if frame.get("op") != "frame":
                        continue
                    self.frames += 1
                    self.fold(frame)
                    seen += 1
                    if seen >= len(PATHS):
                        self.ready.set()
                if self.finished.is_set():
                    return


async def main(url: str, n: int) -> None:
    subscribers = [Subscriber() for _ in range(n)]
    tasks = [asyncio.create_task(s.run(url)) for s in subscribers]
    await asyncio.wait_for(asyncio.gather(*(s.ready.wait() for s in subscribers)), 60)
    print("subscribed", flush=True)
    await asyncio.get_running_loop().run_in_executor(None, sys.stdin.readline)
    await asyncio.wait_for(asyncio.gather(*(s.finished.wait() for s in subscribers)), 120)
    print(json.dumps({"done": sum(s.finished.is_set() for s in subscribers), "frames": sum(s.frames for s in subscribers)}), flush=True)
    for task in tasks:
        task.cancel()


BATCH = "--no-batch" not in sys.argv
REFS = "--page-json" not in sys.argv
PACKED = REFS and "--no-packed" not in sys.argv

if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], int(sys.argv[2])))
