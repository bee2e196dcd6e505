"""The no-op manifest: prove "nothing changed" without loading the store's state.

A recook of an unchanged graph is the most common cook, and most of its time used to go to loading
the state (the snapshot: every work item) only to find every item reusable (``engine.incremental.noop``). After
a successful whole-graph cook, ``save`` writes a manifest beside the log: the graph's definition as
that cook recorded it, the number of items per node, every file recorded for those items with its
(mtime_ns, size), each file pattern's matches, and the results. It is derived data, like a snapshot:
deleting it only makes the next no-op slower.

``try_noop`` proves the next cook has nothing to do from that manifest alone, when all of these hold
(else the cook runs as usual):

- nothing was appended to the log since the manifest was written (no cook, no ``pdg dirty`` or
  ``pdg accept``, no dead cook), so the state is the one the manifest describes;
- the graph's definition is the same, it registers no event handler, no cache handler, and no types
  plugin warned; every node is a pure built-in node in cache mode automatic with items;
- every recorded file has its recorded (mtime_ns, size), and every file pattern matches the same files.

These are the facts ``engine.incremental.noop.nothing_to_do`` checks against the state; the cook then appends the
same events the full no-op would have (graph loaded, cook started, each node generated and cooked,
cook finished with every item reused) in one transaction, and moves the manifest to the new seq.
"""

from __future__ import annotations

import os
import time
import zlib
from typing import cast

import msgpack
from pdgstore.engine.cook.loop import CookSummary
from pdgstore.engine.files import records as files
from pdgstore.engine.graph.api import Graph
from pdgstore.engine.graph.nodes import FilePattern
from pdgstore.engine.incremental.delta import Scan
from pdgstore.engine.incremental.noop import PURE_NODES, may_be_empty

from pdgstore import codec
from pdgstore import events as ev
from pdgstore.events import MTIME_NS, PATH, SIZE
from pdgstore.log import EventLog
from pdgstore.state import State

VERSION = 2
#: zlib's fastest level: a manifest names every recorded file by its absolute path, a few hundred
#: kB per 10,000 files that compress about 5x in milliseconds, and every cook that ends well writes
#: it again (into the WAL, then into the database at the checkpoint)
LEVEL = 1


def save(store, graph: Graph, state: State, results: list[str]) -> None:
    """Write the manifest of ``graph`` for the state just cooked (a whole-graph cook that succeeded)
    to ``store``: the ``EventLog``, or the cook's ``Recorder`` (written by its appender, if any)."""
    root = graph.root
    packer = msgpack.Packer(use_bin_type=True, autoreset=False)
    order = graph.topological_order()
    counts = {name: len(state.node_items.get((graph.name, name), ())) for name in order}
    # every (file, mtime_ns, size) recorded, once. A partition's records are its members' (after a
    # cook that succeeded, each partition was merged again or restatted from its members), so
    # partitioners are skipped: the list is the same, without going over every member twice.
    prefix = files.root_prefix(root)  # joined inline: this loop goes over every recorded file
    absolute = files.absolute
    items = state.items
    seen: dict[tuple, None] = {}  # an ordered set
    for name in order:
        if not graph.nodes[name].is_partitioner:
            for item_id in state.node_items.get((graph.name, name), ()):
                for o in items[item_id].outputs:
                    p = o[PATH]
                    if prefix is None:
                        p = absolute(p, root)
                    elif p[:1] != "/":
                        p = prefix + p
                    seen[(p, o[MTIME_NS], o[SIZE])] = None
    paths = list(seen)
    patterns = {
        name: sorted(absolute(i.outputs[0][0], root) for i in state.items_of(graph.name, name) if i.outputs)
        for name, node in graph.nodes.items()
        if isinstance(node, FilePattern)
    }
    packer.pack(
        {
            "v": VERSION,
            "described": graph.describe(),
            "counts": counts,
            "patterns": patterns,
            "results": results,
            "files": paths,
        }
    )
    # the outer map keeps "v" readable by any version (an older pdg sees another version and cooks)
    outer = {"v": VERSION, "z": zlib.compress(packer.getbuffer(), LEVEL)}
    store.save_manifest(graph.name, state.seq, msgpack.packb(outer, use_bin_type=True))


def try_noop(log: EventLog, graph: Graph, *, jobs: int | None = None) -> tuple[CookSummary | None, Scan | None]:
    """Record a cook of ``graph`` that reuses every item, if the manifest proves nothing changed:
    (its summary, None). Else (None, what its stat scan found when it made one, for the cook to use
    rather than stat every file again and look for the changed ones: ``engine.incremental.delta.Scan``)."""
    started = time.perf_counter()
    started_ns = time.time_ns()
    found = log.manifest(graph.name)
    if found is None or graph.handlers or graph.types.cache_handlers or graph.types.warnings:
        return None, None
    seq, blob = found
    if seq != log.last_seq():
        return None, None
    outer = msgpack.unpackb(blob, raw=False, strict_map_key=False)
    if outer.get("v") != VERSION:  # another pdg's manifest: cook, and write it anew
        return None, None
    m = msgpack.unpackb(zlib.decompress(outer["z"]), raw=False, strict_map_key=False)
    described = graph.describe()
    if m.get("v") != VERSION or m["described"] != described:
        return None, None
    order = graph.topological_order()
    for name in order:
        node = graph.nodes[name]
        if (
            type(node) not in PURE_NODES
            or getattr(node, "cache_mode", "automatic") != "automatic"
            or name not in m["counts"]
            or not (m["counts"][name] or may_be_empty(node))
        ):
            return None, None
    paths = m["files"]
    stats = files.stat_many([p[0] for p in paths])
    get = stats.get
    changed = set()
    for path, mtime_ns, size in paths:
        st = get(path)
        if st is None or st.st_mtime_ns != mtime_ns or st.st_size != size:
            changed.add(path)
    patterns_same = all(
        cast(FilePattern, graph.nodes[name]).matches(graph.root, stats) == recorded
        for name, recorded in m["patterns"].items()
    )
    if changed or not patterns_same:
        return None, Scan(stats, changed, patterns_same)
    return _record(log, graph, described, order, m, jobs, started, started_ns), None


def _record(
    log: EventLog,
    graph: Graph,
    described: list,
    order: list[str],
    m: dict,
    jobs: int | None,
    started: float,
    started_ns: int,
) -> CookSummary:
    cook_id = (log.conn.execute("SELECT max(cook_id) FROM events").fetchone()[0] or 0) + 1
    store_dir = os.path.dirname(log.path)
    rel = lambda p: os.path.relpath(p, store_dir).replace(os.sep, "/")  # noqa: E731
    envelope = {"cook_id": cook_id, "graph": graph.name}
    made: list[tuple[type[ev.Event], dict]] = [
        (
            ev.GraphLoaded,
            {
                "path": rel(graph.path) if graph.path else "",
                "root": rel(graph.root),
                "nodes": described,
                "parms": dict(graph.parms),
            },
        ),
        (
            ev.CookStarted,
            {"node": "", "jobs": jobs or os.cpu_count() or 1, "pid": os.getpid(), "overrides": dict(graph.overrides)},
        ),
    ]
    for name in order:
        made.append((ev.NodeGenerated, {"node": name, "count": m["counts"][name]}))
        made.append((ev.NodeCooked, {"node": name, "failed": 0}))
    reused = sum(m["counts"][name] for name in order)
    counts = {"ran": 0, "reused": reused, "updated": 0, "failed": 0, "cancelled": 0}
    made.append((ev.CookFinished, {"status": "success", "message": "", "counts": dict(counts)}))
    seq = log.next_seq
    now = time.time_ns()
    rows = [
        codec.to_row(cls(seq=seq + i, time_ns=started_ns if i < 2 else now, **envelope, **fields))
        for i, (cls, fields) in enumerate(made)
    ]
    log.append_rows(rows, manifest_seq=(graph.name, seq + len(rows) - 1))
    log.next_seq = seq + len(rows)
    return CookSummary(cook_id, "success", counts, time.perf_counter() - started, results=list(m["results"]))
