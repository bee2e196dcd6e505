"""The no-op manifest: prove "nothing changed" without loading the store's state.

A recook of an unchanged graph is the most common cook, and most of its time used to go to loading
the state (the snapshot: every work item) only to find every item reusable (``engine.incremental.noop``). After
a successful whole-graph cook (or a cook of one node that left the whole graph consistent:
``CookFinished.consistent``), ``save`` writes a manifest beside the log: the graph's definition as
that cook recorded it, the number of items per node, every file recorded for those items with its
(mtime_ns, size), each file pattern's matches, and the results. It is derived data, like a snapshot:
deleting it only makes the next no-op slower.

``try_noop`` proves the next cook has nothing to do from that manifest alone, when all of these hold
(else the cook runs as usual):

- nothing was appended to the log since the manifest was written (no cook, no ``pdg dirty`` or
  ``pdg accept``, no dead cook) but the live services' own records (a watch's start or end, a
  schedule added or fired: ``EventLog.only_live_since``), so the state is the one the manifest
  describes;
- every item is done: none was left dirty by the cook of one node that wrote the manifest (its
  children outside its scope of what it remade: ``engine.incremental.vouch``);
- the graph's definition is the same, it registers no event handler, no cache handler, and no types
  plugin warned; every node is a pure built-in node in cache mode automatic with items;
- every recorded file has its recorded (mtime_ns, size), and every file pattern matches the same files.

The manifest (version 5) keeps the files as three columns (paths as the events record them,
mtimes, sizes: a third of the objects to unpack of a list of triples) and, for a file pattern that
lists one folder (``in/*.txt``), that folder's stamp (mtime_ns, ctime_ns, inode, device) when the
listing was made: a folder whose stamp is unchanged has the same entries (adding, removing or
renaming an entry changes its mtime), so the pattern's matches are proven without listing 10^5
names. A stamp is recorded only when the folder last changed well before the cook listed it
(``RACY_NS``), and not trusted when a recorded file went missing or stopped being a regular file.
Every path it keeps (the files, the results, a stamped folder) is as the events record paths:
relative to the graph's root when under it (version 4; version 3 kept the results and folders
absolute). A project folder moved whole (``mv A B``) is still proven unchanged, and a no-op prints
its results where they are now. Version 5 vouches too that every partition is signed under the
scheme that orders members in work item order (``signatures.PARTITION_SCHEME``): an earlier
manifest proves nothing, so a store's first cook after the upgrade reads its items and merges again
each partition signed before (``signatures.signed_before``), which an unproven no-op cannot skip.
Version 6 lists the files of file attributes too (``attr_files``: ``attrfiles.manifest_listing``),
apart: their (mtime_ns, size) where a record holds them, and the paths of those with no record
(their files were missing). One of those files changed, or one with no record there now, and the
manifest proves nothing and gives no scan: the cook decides every item, as without a manifest (the
``files`` index that a delta walk finds an output's holders by holds no attribute's files). An
earlier manifest lists none: a store's first cook after the upgrade reads its items.

These are the facts ``engine.incremental.noop.nothing_to_do`` checks against the state; the cook then appends the
same events the full no-op would have (graph loaded, cook started, each node generated and cooked,
cook finished with every item reused) in one transaction, and moves the manifest to the new seq.

A manifest other events followed (a cook that failed, was cancelled or died, ``pdg accept``) proves
no no-op, but still gives the cook its scan when the graph is defined as it recorded: the state it
describes was consistent, and only the items those events named can differ from it
(``EventLog.manifest_since``, ``delta.Scan.since``). The cook walks them as remade in it.
"""

from __future__ import annotations

import os
import time
import zlib
from dataclasses import dataclass, field
from stat import S_ISREG
from typing import cast

import msgpack
from pdgstore.engine.cook.summary import CookSummary
from pdgstore.engine.files import attrfiles
from pdgstore.engine.files import records as files
from pdgstore.engine.graph.api import Graph
from pdgstore.engine.graph.nodes import FilePattern
from pdgstore.engine.incremental import delta, grown, restat
from pdgstore.engine.incremental.delta import Scan
from pdgstore.engine.incremental.noop import PURE_NODES, may_be_empty

from pdgstore import codec, cookstate
from pdgstore import events as ev
from pdgstore.events import MTIME_NS, PATH, SIZE
from pdgstore.log import EventLog
from pdgstore.queries import COOK_COUNTS
from pdgstore.state import State

VERSION = 6
#: a manifest's ``attr_files`` when no item holds a file attribute (``patched``: their listings are not patched)
NO_ATTR_FILES = {"attr_files": None}
#: a folder changed this close to a listing (or after it) is not trusted to vouch for it (``_stamp``):
#: the clocks of file systems tick coarsely (ext4: the kernel's tick; FAT: 2 s)
RACY_NS = 2_000_000_000
#: zlib's fastest level: a manifest names every recorded file by its absolute path, a few hundred
#: kB per 10,000 files that compress about 5x in milliseconds, and every cook that ends well writes
#: it again (into the WAL, then into the database at the checkpoint)
LEVEL = 1


def save(
    store, graph: Graph, state: State, results: list[str], since: Since | None = None, *, attr_files_held: bool = True
) -> None:
    """Write the manifest of ``graph`` for the state just cooked (a whole-graph cook that succeeded,
    or a cook of one node that left the graph consistent; ``results``: the whole graph's) to
    ``store``: the ``EventLog``, or the cook's ``Recorder`` (written by its appender, if any);
    ``results`` absolute (a cook's summary lists them so) or as recorded (``engine.cook.results``).
    ``since``: what a delta cook changed since the manifest its scan read, to patch that one
    (``patched``) instead of listing every recorded file again, or to move it as it is.
    ``attr_files_held`` False: the caller knows no item holds a file attribute (a cold cook that
    recorded none), so they are not looked for (every item's row, at W(100,000) half a second)."""
    results = [files.relative(path, graph.root) for path in results]  # moved with the project (as recorded stay)
    if since is not None and not since.touched and since.same_graph and since.results == results:
        # nothing changed (a cook that reused every item): the same manifest, at the new seq, as the
        # manifest's no-op does; not unpacked and packed again (two million paths at W(1,000,000))
        store.save_manifest(graph.name, state.seq, msgpack.packb({"v": VERSION, "z": since.manifest}))
        return
    m = patched(graph, state, since) if since is not None else None
    if m is not None:
        m["results"] = results
        _write(store, graph, state, m)
        return
    attr_files = attrfiles.manifest_listing(graph, state) if attr_files_held else None
    order = graph.topological_order()
    counts = {name: len(state.node_items.get((graph.name, name), ())) for name in order}
    # every (file, mtime_ns, size) recorded, once, as the events record it (relative to the root).
    # A partition's records are its members' (after a cook that succeeded, each partition was
    # merged again or restatted from its members), so partitioners are skipped: the list is the
    # same, without going over every member twice.
    # Each node's outputs are gone over once, as the state gives them (``outputs_of``: read from
    # the rows of the items a cook let go of), never all held at once.
    paths: list[str] = []
    mtimes: list[int] = []
    sizes: list[int] = []
    made: dict[str, list[int]] = {}  # file pattern -> the index of each item's first record
    add_path, add_mtime, add_size = paths.append, mtimes.append, sizes.append
    for name in order:
        node = graph.nodes[name]
        if node.is_partitioner:
            continue
        pattern = made.setdefault(name, []) if isinstance(node, FilePattern) else None
        for listed in state.outputs_of(graph.name, name):
            if pattern is not None and listed:
                pattern.append(len(paths))
            for o in listed:
                add_path(o[PATH])
                add_mtime(o[MTIME_NS])
                add_size(o[SIZE])
    listing = _Listing.of(paths, mtimes, sizes, made)
    listed_after_ns = max((c.started_ns for c in state.cooks.values() if c.graph == graph.name), default=0)
    patterns = {}
    for name, node in graph.nodes.items():
        if isinstance(node, FilePattern):
            patterns[name] = {
                "files": listing.by_absolute_path(made.get(name, []), graph.root),
                "folder": _stamp(node.listed_folder(graph.root), graph.root, listed_after_ns),
            }
    m = {
        "counts": counts,
        "patterns": patterns,
        "results": results,
        "paths": listing.paths,
        "mtimes": listing.mtimes,
        "sizes": listing.sizes,
        "attr_files": attr_files,
    }
    _write(store, graph, state, m)


class _Listing:
    """An ordered set of (path, mtime_ns, size), kept as three lists and a place per path: with
    the set's tuples as keys, a big cook's end held more memory than its whole loop."""

    def __init__(self) -> None:
        self.paths: list[str] = []
        self.mtimes: list[int] = []
        self.sizes: list[int] = []
        self._first: dict[str, int] = {}  # path -> the place of its first record
        self._other: dict[tuple, int] = {}  # (path, mtime_ns, size) -> place, for a path recorded otherwise too

    @classmethod
    def of(cls, paths: list[str], mtimes: list[int], sizes: list[int], made: dict[str, list[int]]) -> _Listing:
        """The listing of the records (``paths[i]``, ``mtimes[i]``, ``sizes[i]``) in their order,
        with ``made``'s indexes into them turned into places. The usual case, every path recorded
        once, takes the lists as they are (a cold cook's end lists 200,000 records at W(100,000):
        a ``place`` call each cost it 0.1-0.2 s). The listing is whole: ``place`` builds one record
        by record and is not called on a listing made here."""
        listing = cls()
        if len(set(paths)) == len(paths):
            listing.paths, listing.mtimes, listing.sizes = paths, mtimes, sizes
            return listing
        places = [listing.place(*record) for record in zip(paths, mtimes, sizes, strict=True)]
        for name, indexes in made.items():
            made[name] = [places[i] for i in indexes]
        return listing

    def place(self, path: str, mtime_ns: int, size: int) -> int:
        """The place of the record, listed at the end the first time it comes."""
        at = self._first.get(path)
        if at is not None:
            if self.mtimes[at] == mtime_ns and self.sizes[at] == size:
                return at
            key = (path, mtime_ns, size)
            at = self._other.get(key)
            if at is not None:
                return at
            at = self._other[key] = len(self.paths)
        else:
            at = self._first[path] = len(self.paths)
        self.paths.append(path)
        self.mtimes.append(mtime_ns)
        self.sizes.append(size)
        return at

    def by_absolute_path(self, places: list[int], root: str) -> list[int]:
        """``places`` in the order of their files' absolute paths (a tie by place). Relative paths
        all start with ``root/``, so their own order is that order: no absolute path is made."""
        paths = self.paths
        ordered = sorted(places)
        if any(paths[at][:1] == "/" for at in ordered):
            return sorted(ordered, key=lambda at: files.absolute(paths[at], root))
        return sorted(ordered, key=paths.__getitem__)


def _write(store, graph: Graph, state: State, m: dict) -> None:
    store.save_manifest(graph.name, state.seq, _packed({"v": VERSION, "described": graph.describe(), **m}))


def _packed(inner: dict) -> bytes:
    """A manifest as stored: ``inner`` compressed (``_compressed``), inside an outer map that keeps
    "v" readable by any version (an older pdg sees another version and cooks)."""
    return msgpack.packb({"v": VERSION, "z": _compressed(inner)}, use_bin_type=True)


def _compressed(inner: dict) -> bytes:
    """A manifest's fields packed and compressed: the outer map's ``z`` (and ``Scan.manifest``)."""
    packer = msgpack.Packer(use_bin_type=True, autoreset=False)
    packer.pack(inner)
    return zlib.compress(packer.getbuffer(), LEVEL)


@dataclass
class Since:
    """What a delta cook changed since the manifest its scan read (``Scan.manifest``): the items
    it generated and decided (``touched``: of the nodes that are no partitioners), none
    renumbered, and of those the ones it added (``added``, in the order generated), and the files
    of those it removed (``dropped``); every other item is as that manifest recorded it."""

    manifest: bytes  # as ``Scan.manifest`` holds it
    touched: list[str]
    same_graph: bool = False  # as ``Scan.same_graph`` says
    results: list | None = None  # the manifest's own (``Scan.results``)
    added: list[str] = field(default_factory=list)
    dropped: list[tuple[str, list[str]]] = field(default_factory=list)  # removed: (node, its files' paths)


def patched(graph: Graph, state: State, since: Since) -> dict | None:
    """The manifest ``save`` would list, made from the one before by giving each file a touched
    item records its new (mtime_ns, size): the cost of what changed, not of every recorded file.
    None (list them all) when that might differ from the full listing in which files it proves: a
    node holding another number of items than it did and gained, a recorded path held twice, a
    touched item recording a path the manifest lacks (one added, one it lists: ``grown``), or an
    untouched item that holds a path whose record changed (it still
    records the old stats). A path no item holds any more may stay listed: a manifest that lists a
    file no item holds can only fail a no-op proof (a cook then writes it anew), never pass one it
    should not."""
    old = _unpacked(since.manifest)
    if old.get("attr_files") or any(attrfiles.holds_files(state.items[i].attrs) for i in since.touched):
        return None  # file attributes' records, listed apart: listed again (``attrfiles.manifest_listing``)
    counts = {name: state.item_count(graph.name, name) for name in graph.topological_order()}  # ids left unread
    if counts != grown.counts(old["counts"], state.items, since.added, since.dropped):
        return None  # an item was added or removed after all
    paths = old["paths"]
    gone = grown.without(graph.root, since.dropped, (paths, old["mtimes"], old["sizes"]), old["patterns"])
    if gone is None or (gone and _held_elsewhere(graph, state, gone, set(since.touched))):
        return None
    # nothing touched (a cook that reused every item): the lists stay as they are, unsearched
    place = dict(zip(paths, range(len(paths)))) if since.touched else {}
    if since.touched and len(place) != len(paths):
        return None
    mtimes, sizes = old["mtimes"], old["sizes"]
    written: set[int] = set()
    changed: list[str] = []
    items = state.items
    added = set(since.added)
    for item_id in since.touched:
        if item_id in added:
            continue  # (listed below, after the others)
        for o in items[item_id].outputs:
            at = place.get(o[PATH])
            if at is None:
                return None
            if mtimes[at] == o[MTIME_NS] and sizes[at] == o[SIZE]:
                continue
            if at in written:
                return None  # two touched items record the same file differently
            written.add(at)
            mtimes[at], sizes[at] = o[MTIME_NS], o[SIZE]
            changed.append(o[PATH])
    if added:
        new = grown.listed(graph.root, items, since.added, (paths, mtimes, sizes), place, old["patterns"])
        if new is None:
            return None
        changed += new
    if changed and _held_elsewhere(graph, state, changed, set(since.touched)):
        return None
    listed_after_ns = max((c.started_ns for c in state.cooks.values() if c.graph == graph.name), default=0)
    patterns = {
        name: {
            "files": recorded["files"],
            "folder": _stamp(
                cast(FilePattern, graph.nodes[name]).listed_folder(graph.root), graph.root, listed_after_ns
            ),
        }
        for name, recorded in old["patterns"].items()
    }
    return {"counts": counts, "patterns": patterns, "paths": paths, "mtimes": mtimes, "sizes": sizes} | NO_ATTR_FILES


def _read(blob: bytes) -> tuple[bytes, dict] | None:
    """A stored manifest's compressed part (``z``, which a delta cook's manifest patches) and its
    fields; None for another pdg's manifest, or bytes that are not one (a damaged page, or a ``z``
    that fails its checksum): the manifest is a cache of the last cook's stat scan, so a cook
    without it lists every file and writes it anew."""
    try:
        outer = msgpack.unpackb(blob, raw=False, strict_map_key=False)
        if not isinstance(outer, dict) or outer.get("v") != VERSION:
            return None
        z = outer["z"]
        return z, _unpacked(z)
    except (KeyError, TypeError, ValueError, zlib.error, msgpack.UnpackException):
        return None


def _unpacked(z: bytes) -> dict:
    """A manifest's fields from its stored, compressed form (the outer map's ``z``)."""
    return msgpack.unpackb(zlib.decompress(z), raw=False, strict_map_key=False)


def _held_elsewhere(graph: Graph, state: State, paths: list[str], touched: set[str]) -> bool:
    """Whether an item of ``graph`` the cook did not touch, of a node that is no partitioner (a
    partition's files are its members'), records one of ``paths`` among its outputs; True when
    that cannot be told cheaply."""
    holding = getattr(state, "items_holding", None)
    found = holding(graph.name, sorted(set(paths))) if holding is not None else None
    if found is None:
        return True
    wanted = set(paths)
    for item_id in found:
        if item_id in touched:
            continue
        item = state.items.get(item_id)
        if item is None or item.graph != graph.name:
            continue
        node = graph.nodes.get(item.node)
        if node is None or node.is_partitioner:
            continue
        if any(o[PATH] in wanted for o in item.outputs):
            return True
    return False


def _stamp(folder: str | None, root: str, listed_after_ns: int = 0) -> list:
    """[path, mtime_ns, ctime_ns, inode, device] of ``folder`` (its path as recorded: relative to
    ``root`` when under it, so a project moved whole keeps its stamps) as it is now, or [] when
    there is none or it cannot be trusted: it changed less than ``RACY_NS`` before
    ``listed_after_ns``, the earliest the listing it vouches for can have been made (git's racy
    rule, for folders: an entry added within the same tick of the file system's clock could leave
    the stamp as it was)."""
    if folder is None:
        return []
    try:
        st = os.stat(folder)
    except OSError:
        return []
    if listed_after_ns and max(st.st_mtime_ns, st.st_ctime_ns) >= listed_after_ns - RACY_NS:
        return []
    return [files.relative(folder, root), st.st_mtime_ns, st.st_ctime_ns, st.st_ino, st.st_dev]


def try_noop(
    log: EventLog,
    graph: Graph,
    *,
    jobs: int | None = None,
    node: str | None = None,
    scan_only: bool = False,
    trigger: dict | None = None,
) -> tuple[CookSummary | None, Scan | None]:
    """Record a cook of ``graph`` (of ``node`` and what it needs, when given) that reuses every item,
    if the manifest proves nothing changed: (its summary, None). Else (None, what its stat scan found
    when it made one, for the cook to use rather than stat every file again and look for the
    changed ones: ``engine.incremental.delta.Scan``). ``scan_only``: never the no-op
    (``pdg cook --dry-run``, which writes nothing).

    A cook of one node proven this way records what its own walk would have (its scope's nodes,
    ``CookFinished.consistent``: nothing changed anywhere), and reports its node's files, read
    from the store (``_scope_results``); only a cook that changed nothing: one that found files
    touched walks from the scan.

    The scan is made whenever the manifest describes the state the cook loads, even when the graph
    changed (a node's code, say) and no no-op can follow: the files' stats do not depend on the
    graph, and without them the cook would read every item of the store to list its files. After
    other events, only for the graph the manifest recorded, with the items they named."""
    started = time.perf_counter()
    started_ns = time.time_ns()
    found = log.manifest_since(graph.name)
    if found is None:
        return None, None
    seq, blob, since = found
    stored = _read(blob)
    if stored is None:
        return None, None
    z, m = stored
    if m.get("v") != VERSION:
        return None, None
    described = graph.describe()
    order = graph.topological_order()
    same_graph = m["described"] == described
    if since is not None and not same_graph:
        return None, None  # items made since under other definitions: the walk sorts them out
    may_be_noop = (
        since is None
        and not scan_only
        and not (graph.handlers or graph.types.cache_handlers or graph.types.warnings)
        and same_graph
        and all(_reusable(graph.nodes[name], m["counts"]) for name in order)
        and log.all_done(graph.name)  # none left dirty by a cook of one node (``engine.incremental.vouch``)
    )
    root = graph.root
    if attrfiles.listing_changed(m.get("attr_files"), root):
        return None, None  # the walk decides every item (see the module)
    prefix = files.root_prefix(root)
    recorded, mtimes, sizes = m.pop("paths"), m.pop("mtimes"), m.pop("sizes")
    if prefix is None:
        paths = [files.absolute(p, root) for p in recorded]
    else:
        paths = [p if p[:1] == "/" else prefix + p for p in recorded]
    stats, changed = files.stat_changed(paths, mtimes, sizes)
    # a recorded file now missing or not a file (a symlink's target) leaves its folder's stamp as it
    # was, yet the pattern no longer matches it: then the folders are listed
    stamps_hold = all(stats[p] is not None and S_ISREG(stats[p].st_mode) for p in changed)  # type: ignore[union-attr]
    appended: dict[str, tuple[int, list[str], list[str]]] | None = {}  # (``Scan.appended``)
    for name, made in m["patterns"].items():  # (a pattern's: its files and its folder's stamp)
        pattern = graph.nodes.get(name)
        now = _matches_now(pattern, root, made, paths, stats, stamps_hold) if isinstance(pattern, FilePattern) else []
        if now is not None:
            appended = delta.appended(appended, name, [paths[i] for i in made["files"]], now)
            if appended is None:
                break  # (a match gone or come between: the matches of the others do not matter)
    patterns_same = appended == {}
    # files touched with a cook of one node: it walks from the scan (a no-op records their new stats)
    if not patterns_same or not may_be_noop or (changed and node is not None):
        scan = Scan(stats, changed, patterns_same, z, same_graph=same_graph, results=m["results"], since=since)
        scan.appended = appended or None
        return None, scan
    if not changed:
        stamped = _stamped(graph, m["patterns"], started_ns)
        # a folder the cook before could not stamp (it had just changed) is stamped now: the
        # no-ops after this one need not list it (1,000,000 names, 2 s at W(1,000,000))
        again = (
            _packed({**m, "patterns": stamped, "paths": recorded, "mtimes": mtimes, "sizes": sizes})
            if stamped is not None
            else None
        )
        if node is not None:
            order = graph.upstream_closure(node)
        return _record(log, graph, described, order, m, jobs, started, started_ns, None, again, node, trigger), None
    # files touched, and maybe no more: a no-op that records their new stats (``restat``)
    fresh = restat.refresh(log, graph, recorded, paths, sizes, stats, changed)
    if fresh is None:
        return None, Scan(stats, changed, patterns_same, z)
    if fresh.modified and not fresh.items:
        return None, Scan(stats, changed, patterns_same, z)  # nothing only touched: the usual cook
    for at, record in fresh.records.items():
        mtimes[at], sizes[at] = record[MTIME_NS], record[SIZE]
    refreshed = {**m, "paths": recorded, "mtimes": mtimes, "sizes": sizes}
    if fresh.modified:  # files changed too: the cook walks from those, the touched ones restatted first
        return None, Scan(stats, fresh.modified, patterns_same, _compressed(refreshed), restats=fresh)
    del paths, stats, changed
    return (
        _record(log, graph, described, order, m, jobs, started, started_ns, fresh, _packed(refreshed), None, trigger),
        None,
    )


def _reusable(node, counts: dict) -> bool:
    """Whether the manifest's proof of a no-op covers ``node``: a pure built-in node in cache mode
    automatic, that made items at the last cook (or may make none)."""
    return (
        type(node) in PURE_NODES
        and getattr(node, "cache_mode", "automatic") == "automatic"
        and node.name in counts
        and bool(counts[node.name] or may_be_empty(node))
    )


def _stamped(graph: Graph, patterns: dict, listed_after_ns: int) -> dict | None:
    """The patterns' records (``m["patterns"]``, their matches just proven the same), with a stamp
    for each folder whose recorded one is missing or no longer holds and that can vouch now: it
    last changed well before ``listed_after_ns`` (``_stamp``). None when no stamp is gained."""
    out, gained = {}, False
    root = graph.root
    for name, recorded in patterns.items():
        folder = cast(FilePattern, graph.nodes[name]).listed_folder(root)
        stamp = recorded["folder"]
        if folder is not None and not (stamp and _stamp(folder, root) == stamp):
            new = _stamp(folder, root, listed_after_ns)
            if new:
                stamp, gained = new, True
        out[name] = {**recorded, "folder": stamp}
    return out if gained else None


def _matches_now(node: FilePattern, root: str, recorded: dict, paths: list, stats: dict, stamps_hold: bool):
    """None when ``node`` matches the files it made (``recorded``): its folder's stamp as recorded
    proves it without a listing; else the folder is listed. Otherwise what it matches now."""
    folder = recorded["folder"]
    if stamps_hold and folder and _stamp(node.listed_folder(root), root) == folder:
        return None
    now = node.matches(root, stats)
    return None if now == [paths[i] for i in recorded["files"]] else now


def _record(
    log: EventLog,
    graph: Graph,
    described: list,
    order: list[str],
    m: dict,
    jobs: int | None,
    started: float,
    started_ns: int,
    fresh: restat.Refresh | None = None,
    manifest: bytes | None = None,
    target: str | None = None,
    trigger: dict | None = None,
) -> CookSummary:
    """Append the events of a cook that reuses every item (``fresh``: the items whose files it
    found touched, with their outputs now) in one transaction with the manifest: the same one at
    the new seq, or ``manifest`` (the stats refreshed). ``target``: a cook of that node (``order``
    its scope), which vouches for the graph and reports the node's files; ``trigger``: what started
    it (``CookTriggered``)."""
    cook_id = (log.conn.execute("SELECT max(cook_id) FROM events").fetchone()[0] or 0) + 1
    store_dir = os.path.dirname(log.path)
    rel = lambda p: os.path.relpath(p, store_dir).replace(os.sep, "/")  # noqa: E731
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
            {
                "node": target or "",
                "jobs": jobs or os.cpu_count() or 1,
                "pid": os.getpid(),
                "overrides": dict(graph.overrides),
            },
        ),
    ]
    if trigger:
        made.append((ev.CookTriggered, dict(trigger)))
    if fresh is not None:
        made += ((ev.WorkItemRestatted, {"item_id": i, "outputs": outputs}) for i, outputs in fresh.items)
    for name in order:
        made.append((ev.NodeGenerated, {"node": name, "count": m["counts"][name]}))
        made.append((ev.NodeCooked, {"node": name, "failed": 0}))
    reused = sum(m["counts"][name] for name in order)
    counts = dict.fromkeys(COOK_COUNTS, 0) | {"reused": reused}
    nodes = cookstate.nodes_of(log.conn, [i for i, _ in fresh.items]) if fresh is not None and fresh.items else []
    finished = {"status": "success", "message": "", "counts": dict(counts), "nodes": nodes}
    made.append((ev.CookFinished, {**finished, "consistent": True} if target else finished))
    seq = log.next_seq
    now = time.time_ns()
    rows = [
        codec.new_event(cls, seq + i, started_ns if i < 2 else now, cook_id, graph.name, fields)[1]
        for i, (cls, fields) in enumerate(made)
    ]
    updated = fresh.rows if fresh is not None else ()
    log.append_rows(rows, manifest_seq=(graph.name, seq + len(rows) - 1), updated=updated, manifest=manifest)
    log.next_seq = seq + len(rows)
    root = graph.root
    results = [files.absolute(p, root) for p in m["results"]] if target is None else _scope_results(log, graph, target)
    return CookSummary(cook_id, "success", counts, time.perf_counter() - started, results=results)


def _scope_results(log: EventLog, graph: Graph, node: str) -> list[str]:
    """What a cook of ``node`` reports (``engine.cook.results.listed``): the absolute paths of its
    finished items' files, in generation order, each once; read from the store's rows."""
    root = graph.root
    paths = [files.absolute(o[PATH], root) for outputs in log.finished_outputs(graph.name, node) for o in outputs]
    return list(dict.fromkeys(paths))
