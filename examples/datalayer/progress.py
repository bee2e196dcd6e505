"""A data layer visualizer: one live progress line per node while ``pdg cook`` runs elsewhere.

    pdg cook examples/wordcount/wordcount.py         # in one terminal (or a watch, a schedule)
    python examples/datalayer/progress.py            # in another, from the project's folder

By default it reads the current project's store directly (``pdgd.util.get_local_data_layer()``);
with ``--url ws://127.0.0.1:PORT`` (or ``tcp://...``) it asks a ``pdg serve`` instead, on this
machine or another: the visualizer code is the same. ``--until-done`` exits once a cook that
started while it watched has finished. Only PDG's own data layer API is used (seed 001).
"""

from __future__ import annotations

import argparse
import sys
import threading
import time

import pdgd
import pdgd.util

P = pdgd.PropertyNames
BAR = 24
#: item states of a cook under way: once a cook has ended, no node shows any
ACTIVE = ("scheduled", "cooking")
#: after a cook's end, how long --until-done waits at most for its nodes' last counts
SETTLE_S = 10.0


class Progress:
    """Follows every graph and node of a data layer and prints a line when a node's counts move.

    Its listeners run on two threads: the data layer's own, which holds the data layer's lock
    while it calls them, and ours, which looks once at what each subscription's snapshot already
    said. So ``self.lock`` guards only our dicts and the printing, and is never held while we
    subscribe: a subscription waits for the data layer's lock, and the data layer's thread, which
    holds it, may be waiting for ours to call a listener. Each would wait for the other for ever."""

    def __init__(self, data_layer, out=sys.stdout) -> None:
        self.data_layer = data_layer
        self.out = out
        self.lock = threading.Lock()
        self.graphs: dict[str, pdgd.util.PDGDObject | None] = {}
        self.nodes: dict[str, pdgd.util.PDGDObject | None] = {}
        self.last_line: dict[str, str] = {}
        self.active: dict[str, int] = {}  # items scheduled or cooking per node, as last printed
        self.cooks_seen: dict[str, list] = {}
        self.finished = threading.Event()
        self.root = pdgd.util.PDGDObject("pdg", data_layer)
        self.root.addListener(self.on_root)
        # The local interface has usually delivered the snapshot already: look at it once ourselves.
        self.on_root("pdg", self.root.object, None)

    def on_root(self, path, obj, message) -> None:
        for graph_path in self._claim(self.graphs, [f"pdg/{graph}" for graph in obj.get(P.GraphList, [])]):
            self._follow(self.graphs, graph_path, self.on_graph)

    def on_graph(self, path, obj, message) -> None:
        for node_path in self._claim(self.nodes, [f"{path}/node_{node}" for node in obj.get(P.NodeList, [])]):
            self._follow(self.nodes, node_path, self.on_node)
        status = obj.get(P.CookStatus, [])
        with self.lock:
            seen = self.cooks_seen.setdefault(path, [])
            if status and (not seen or seen[-1] != status[0]):
                seen.append(status[0])
                if status[0] != "running" and "running" in seen:
                    self.finished.set()

    def on_node(self, path, obj, message) -> None:
        if P.NumWorkItems not in obj:
            return
        line = render(path, obj)
        counts = dict(obj.get(P.StateCounts, []))
        with self.lock:
            if self.last_line.get(path) != line:
                self.last_line[path] = line
                print(f"{time.strftime('%H:%M:%S')} {line}", file=self.out, flush=True)
            self.active[path] = sum(counts.get(state, 0) for state in ACTIVE)

    def _claim(self, followed: dict, paths: list[str]) -> list[str]:
        """Those of ``paths`` nobody follows yet, marked as followed: both threads may see a new
        graph or node at once, and each is followed once."""
        with self.lock:
            new = [path for path in paths if path not in followed]
            followed.update(dict.fromkeys(new))
        return new

    def _follow(self, followed: dict, path: str, listener) -> None:
        """Subscribe to ``path`` (outside ``self.lock``: see the class) and hear of its changes."""
        followed[path] = subscribed = pdgd.util.PDGDObject(path, self.data_layer)
        subscribed.addListener(listener)
        listener(path, subscribed.object, None)

    def settled(self) -> bool:
        """Every node's last counts are printed: none shows an item scheduled or cooking (a
        node's counts may arrive just after its graph's "finished")."""
        with self.lock:
            return not any(self.active.values())


def render(path: str, obj: dict) -> str:
    """``wordcount/count   [##########..............]  12/30  cooking 2``"""
    counts = dict(obj.get(P.StateCounts, []))
    total = obj.get(P.NumWorkItems, [0])[0]
    done = counts.get("cooked_success", 0) + counts.get("cooked_cache", 0)
    filled = int(BAR * done / total) if total else 0
    others = "  ".join(f"{state} {n}" for state, n in counts.items() if state not in ("cooked_success", "cooked_cache"))
    graph, node = path.split("/")[1], path.rsplit("node_", 1)[1]
    return f"{graph}/{node:<14} [{'#' * filled}{'.' * (BAR - filled)}] {done:>6}/{total:<6} {others}".rstrip()


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--url", help="a pdg serve to ask (ws://HOST:PORT or tcp://HOST:PORT); default: the store here")
    parser.add_argument("--until-done", action="store_true", help="exit once a cook that started meanwhile ends")
    parser.add_argument("--timeout", type=float, default=0, help="give up after this many seconds (0: never)")
    args = parser.parse_args(argv)
    if args.url:
        kind = "DataLayerTCPClient" if args.url.startswith("tcp://") else "DataLayerWSClient"
        data_layer = pdgd.DataLayerInterfaceManager.Instance().createInterface(kind, args.url)
    else:
        data_layer = pdgd.util.get_local_data_layer()
    progress = Progress(data_layer)
    deadline = time.monotonic() + args.timeout if args.timeout else None
    try:
        while True:
            if progress.finished.wait(0.2) and args.until_done:
                settle = time.monotonic() + SETTLE_S
                while not progress.settled() and time.monotonic() < settle:
                    time.sleep(0.02)
                return 0
            if deadline is not None and time.monotonic() > deadline:
                print("progress: timed out", file=sys.stderr)
                return 1
    except KeyboardInterrupt:
        return 0


if __name__ == "__main__":
    sys.exit(main())
