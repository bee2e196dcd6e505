"""The delta walk: a recook that visits only the items a change can reach.

After one input file changes, the full walk of ``engine.cook.loop`` still generates and decides every
item of the graph (tens of microseconds each) to reuse all but a handful. When the facts behind the
per-item shortcut hold for the whole scope (``engine.incremental.noop``: the last cook of the graph was a whole,
successful one; every node in scope is a pure built-in node whose definition did not change, in
cache mode automatic; no cache handler), the outcome for an item follows from its neighbours:

- an item is *clean* when it finished, was not dirtied or accepted by hand, and its files have the
  (mtime_ns, size) they were recorded with (``decide.unchanged``);
- a clean item whose parents are neither remade nor re-decided is reused as it is, and generating
  its children again would give the items recorded (pure nodes);

so only the *affected* items need the full decision flow: the items that are not clean, everything
downstream of them (children and partitions that hold them), and, for a processor item, its parent
(generation works parent by parent: the parent is handed downstream again, which regenerates all its
children of that node). The rest are registered as reused in bulk, recording nothing, exactly as the
full walk would have recorded nothing for them.

One change cannot be foreseen from the recorded graph: an affected item whose partition attribute
changed moves to another partition, which is then remade though it was not affected. Its children
were registered as reused; ``engine.cook.walk.Walk.handed_on`` takes them back and generates them again (and so
on downstream, for each item remade that way).

``affected(cook)`` gives that set, or None when the delta walk does not apply (then the full walk
runs): a node out of the shortcut, a file pattern whose matches changed otherwise than by new files
that sort after every file it made (a file removed, or added among them, renumbers every later
item and its chain: the full walk's renumbering is what the outcome must be, and the wait-for-all's
signature has a term per member that holds its place, so every later member would be read to sign
it anyway), or a change that reaches most of the graph anyway. New files that sort last
(``Scan.appended``) move no item: the walk makes them (``engine.cook.deltawalk``), and what
follows from them as from any item remade. (An affected item of a root
node other than a file pattern, a wedge say, is made again by its node: ``Walk.walk_delta``.)
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import NamedTuple

from pdgstore.engine.files import records as files
from pdgstore.engine.graph.nodes import FilePattern
from pdgstore.engine.incremental.decide import settled, unchanged
from pdgstore.engine.incremental.restat import Refresh

from pdgstore import fileindex
from pdgstore.cookstate import CookState
from pdgstore.events import PATH

#: above this share of the items in scope, the full walk is as cheap and simpler
MAX_SHARE = 0.5
#: above this share of the items in scope holding a changed file, the items they reach (each, and
#: what is downstream of it) pass ``MAX_SHARE`` as a rule: the full walk runs without finding them
#: one by one (a ``touch`` of every input, a copy that kept no times)
MAX_DIRTY_SHARE = 0.25


@dataclass
class Scan:
    """What the no-op manifest's stat scan found when it did not prove a no-op
    (``engine.incremental.manifest.try_noop``): the stats of the files among those it records that no
    longer have their recorded (mtime_ns, size) (absolute path -> stat result, None when missing;
    the cook stats any other file it asks about: ``LazyStats``), those files, and whether every
    file pattern still matches what it matched.

    The manifest describes the very state the cook loads (nothing was appended since it was
    written), so an item none of whose files is ``changed`` has its files as recorded: the delta
    walk finds the items that are not clean by set lookups, without asking the stats per file."""

    stats: dict
    changed: set
    patterns_same: bool
    #: the manifest the scan was made from, as stored (compressed: ``engine.incremental.manifest``),
    #: which a delta cook's new manifest patches rather than lists every file again
    #: (``manifest.save``'s ``since``); kept packed, so a no-op holds its lists once
    manifest: bytes | None = None
    #: the items whose files were only touched (``restat.Refresh``), when other files changed: the
    #: cook records them restatted before its delta walk (``Recorder.restatted``; the full walk
    #: restats them itself), and then ``changed`` holds the other files alone and ``manifest`` the
    #: touched ones' new stats
    restats: Refresh | None = None
    #: the manifest was written for the graph as it is defined now, and these are its results: a
    #: cook that changes nothing moves it to its own end as it is (``manifest.save``)
    same_graph: bool = False
    results: list | None = None
    #: the items events after the manifest named (``EventLog.manifest_since``: a cook that failed,
    #: was cancelled or died since, ``pdg accept``), None when it describes the log's end: they
    #: may differ from what it recorded, so the delta walk starts from them too, as made anew
    #: (their children are decided again), and the manifest's graph is the graph now
    since: list[str] | None = None
    #: a watcher's word stands for the scan (``told``): its cook lists no results (listing a node of
    #: 10,000 items' files is most of a recook of one; the watcher's manifest lists them later)
    told: bool = False
    #: when ``patterns_same`` is false only because file patterns' matches changed after a run of
    #: the first files they made (``appended``): pattern -> (how many of its items keep their
    #: places, the new matches after them, the matches gone after them: absolute paths, sorted).
    #: No item moves, so the delta walk makes the new ones alone and removes the gone ones' items
    appended: dict[str, tuple[int, list[str], list[str]]] | None = None


class Delta(NamedTuple):
    """What ``affected`` found: the items to decide, every item's recorded children (item id ->
    ids), and the new and gone matches of file patterns (``Scan.appended``)."""

    affected: set[str]
    children: dict[str, list[str]]
    appended: dict[str, tuple[int, list[str], list[str]]] | None = None


def appended(found: dict | None, name: str, before: list[str], now: list[str]) -> dict | None:
    """``found`` (``Scan.appended`` so far) with file pattern ``name``'s matches ``now`` against
    those it made (``before``): the first ones both hold keep their places, the rest of ``before``
    is gone and the rest of ``now`` is new (new files that sort last, the last files removed).
    None when ``found`` is, when the first half of what it made moved (a match came or went among
    them: every later item is renumbered, which is the full walk's), or when a new one's name is
    not UTF-8 (its generation fails the cook, as the full walk's does)."""
    count = next((i for i, (a, b) in enumerate(zip(before, now)) if a != b), min(len(before), len(now)))
    if found is None or count * 2 < len(before) or not all(map(_utf8, now[count:])):
        return None
    if not set(now[count:]).isdisjoint(before[count:]):
        return None  # a match both gone and new moved: its item is renumbered (the full walk)
    return {**found, name: (count, now[count:], before[count:])}


def _utf8(path: str) -> bool:
    try:
        path.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def affected(
    graph,
    state,
    scope: list[str],
    shortcut: set[str],
    stats: dict,
    *,
    scan: Scan | None = None,
) -> Delta | None:
    """The items of ``scope`` that need deciding, and the recorded children of every item (item id
    -> the ids of the items that list it as a parent); None when the delta walk does not apply.
    ``shortcut``: the nodes whose clean items are reused as they are (``engine.incremental.noop``);
    ``stats``: of every recorded file, or what ``scan`` found."""
    if not shortcut or any(name not in shortcut for name in scope):
        return None
    root = graph.root
    appended = scan.appended if scan is not None else None
    if scan is not None and not scan.patterns_same and (appended is None or any(n not in scope for n in appended)):
        return None  # files were removed, or added among those recorded: later items are renumbered
    if appended and not _may_grow(graph, state, scope, appended):
        return None
    changed = {files.relative(p, root) for p in scan.changed} if scan is not None else None
    since = (scan.since or []) if scan is not None else []
    if appended:  # the items of the matches gone: removed, and what they reach decided
        since = since + [i for n, (_made, _new, gone) in appended.items() for i in _gone(graph, state, n, gone)]
    if changed is not None and isinstance(state, CookState):
        found = _from_tables(graph, state, scope, changed, since)
        return None if found is None else Delta(found[0], found[1], appended)
    by_node = [state.items_of(graph.name, name) for name in scope]
    total = sum(map(len, by_node))
    if _unsettled_over(by_node, MAX_SHARE * total):
        return None  # each is dirty, so ``_closure`` would give up: not a delta (a --generate-only's)
    children: dict[str, list[str]] = {}
    dirty: list[str] = []
    for name, items in zip(scope, by_node, strict=True):
        node = graph.nodes[name]
        for item in items:
            item_id = item.item_id
            for parent in item.parents:
                kids = children.get(parent)
                if kids is None:
                    children[parent] = [item_id]
                else:
                    kids.append(item_id)
            if not unchanged(item, stats, root, changed):
                dirty.append(item_id)
        if isinstance(node, FilePattern):
            if any(not i.outputs for i in items):
                return None
            if scan is None:  # else the scan compared the matches with what the manifest (the state) recorded
                recorded = sorted(files.absolute(i.outputs[0][PATH], root) for i in items)
                if recorded != node.matches(root, stats):
                    return None
    dirty += _of_scope(graph, state, since, set(scope))  # (``Scan.since``)
    found = _closure(graph, state, dirty, children, total)
    return None if found is None else Delta(found[0], children, appended)


def _may_grow(graph, state, scope: list[str], appended: dict) -> bool:
    """Whether the delta walk makes what the full walk makes of ``appended``: each pattern holds
    the items the manifest listed (it describes the state), and the full walk would record no new
    item ahead (``Walk._announce``, which plans the items missing from the store that can be known
    before anything runs: a partition that a static partitioner other than a wait-for-all makes of
    the new items, anything below a node that holds no item yet), which the delta walk does not.
    A pattern that keeps no item is the full walk's too: a node with no item is fresh, and the
    full walk makes a fresh node's items in bulk (``engine.cook.bulk``), the delta walk one by one."""
    if any(state.item_count(graph.name, n) != made + len(gone) for n, (made, _new, gone) in appended.items()):
        return False
    if any(not made for made, _new, _gone in appended.values()):
        return False
    for name in scope:
        node = graph.nodes[name]
        if node.is_partitioner and node.type_name != "wait_for_all" and not node.needs_cooked_inputs:
            return False
        if node.inputs and not state.item_count(graph.name, name):
            return False
    return True


def _gone(graph, state, name: str, paths: list[str]) -> list[str]:
    """The ids of file pattern ``name``'s items that stand for ``paths`` (absolute: matches gone),
    found by their files where the state can look them up (``CookState.items_holding``)."""
    wanted = {files.relative(p, graph.root) for p in paths}
    holding = getattr(state, "items_holding", None)
    ids = holding(graph.name, sorted(wanted)) if holding is not None else state.item_ids_of(graph.name, name)
    found = []
    for item_id in ids:
        item = state.items.get(item_id)
        if item is not None and item.graph == graph.name and item.node == name and item.outputs:
            if item.outputs[0][PATH] in wanted:
                found.append(item_id)
    return found


def named_since(graph, state, scan: Scan, skip: set[str]) -> list[str]:
    """The items of ``graph`` that events after the scan's manifest named (``Scan.since``), of nodes
    that are no partitioners, but ``skip``: what a delta cook's manifest is patched for besides
    the items it decided (``manifest.Since``; one gone since stays listed, proving nothing)."""
    named = []
    for item_id in scan.since or ():
        item = state.items.get(item_id) if item_id not in skip else None
        if item is not None and item.graph == graph.name and not graph.nodes[item.node].is_partitioner:
            named.append(item_id)
    return named


def _of_scope(graph, state, ids: list[str], in_scope: set[str]) -> list[str]:
    """Those of ``ids`` that are items of ``graph`` in the nodes ``in_scope`` (the holders of a
    file and what events after a manifest named may be any graph's items, or gone)."""
    found = []
    for item_id in ids:
        item = state.items.get(item_id)
        if item is not None and item.graph == graph.name and item.node in in_scope:
            found.append(item_id)
    return found


def _unsettled_over(by_node: list[list], limit: float) -> bool:
    """Whether more than ``limit`` of the items are not settled, the last nodes counted first and
    the count stopped once over it (the items a --generate-only recorded are not, from one node on)."""
    count = 0
    for items in reversed(by_node):
        count += sum(not settled(item) for item in items)
        if count > limit:
            return True
    return False


def _from_tables(graph, state: CookState, scope: list[str], changed: set[str], since: list[str]):
    """``affected`` for a cook whose state reads the tables on demand, when the manifest's scan
    named the ``changed`` files: the store finds the items that may hold them and, through its
    links, what they reach, so the items the change does not reach are never read. An item that
    holds no changed file and is done is clean: the manifest proves the state is the one its cook
    left (a whole, successful one, or one of a node that vouched for the graph after dirtying what
    it made stale: ``engine.incremental.vouch``). None: the change reaches most of the scope."""
    total = sum(state.item_count(graph.name, name) for name in scope)  # counted, the ids left unread
    candidates = state.items_holding(graph.name, sorted(changed))
    if len(candidates) + len(since) > MAX_DIRTY_SHARE * total:
        return None  # the change reaches most of the scope: the full walk, no item read for nothing
    in_scope = set(scope)
    held = _of_scope(graph, state, candidates, in_scope)
    dirty = [i for i in held if not unchanged(state.items[i], {}, graph.root, changed)]
    dirty += state.unsettled_ids(graph.name, scope)  # what a cook of one node left dirty (``vouch``)
    dirty += _of_scope(graph, state, since, in_scope)  # (``Scan.since``)
    children = _LinkedChildren(state)
    found = _closure(graph, state, dirty, children, total)
    return None if found is None else (found[0], children)


class _LinkedChildren(dict):
    """item id -> its recorded children, asked of the store's links when the walk first needs them."""

    def __init__(self, state: CookState) -> None:
        super().__init__()
        self._state = state

    def get(self, item_id, default=None):
        kids = dict.get(self, item_id)
        if kids is None:
            kids = self._state.children_of(item_id)
            dict.__setitem__(self, item_id, kids)
        return kids


def _closure(graph, state, dirty: list[str], children: dict[str, list[str]], total: int):
    """The items ``dirty`` reach (downstream, and each processor item's parent), with ``children``;
    None when the delta walk does not apply to them."""
    items = state.items
    found: set[str] = set()
    stack = list(dirty)
    while stack:
        item_id = stack.pop()
        if item_id in found:
            continue
        item = items.get(item_id)
        if item is None:
            return None
        found.add(item_id)
        stack.extend(children.get(item_id, ()))
        node = graph.nodes[item.node]
        if not node.is_partitioner and node.inputs:
            stack.extend(item.parents)  # its parent hands it (and its siblings) on again
        # (a root item is made again: a file pattern's from its file, another root node's by its
        # node, which the walk then keeps only the affected of: ``Walk.walk_delta``)
        if len(found) > MAX_SHARE * total:
            return None
    return found, children


class LazyStats(dict):
    """Stat results made on demand: path -> ``os.stat_result`` or None (missing). A cook given the
    files a watcher saw change stats only those up front; anything else it asks about is stat'ed
    when asked (``get`` ignores its default: a path is always answered from the file system).

    What is stat'ed when asked is not kept: a full walk asks about every file of the graph, and
    holding a stat result for each (about 570 bytes) cost a recook of W(100,000) 57 MB, for a
    second ``stat`` of a file that a file pattern matched and then recorded."""

    def get(self, path, default=None):
        st = dict.get(self, path, _UNKNOWN)
        return files.stat_or_none(path) if st is _UNKNOWN else st


_UNKNOWN = object()


def told(log, root: str, changed: list[str]) -> Scan | None:
    """The scan a watcher's word stands for (``pdg watch``, ``engine.live.writer``): only these
    files (absolute paths) changed since the state ``log`` ends with, as the no-op manifest's scan
    would have found them. Their stats are taken now, any other file's when a decision asks. None
    when one of them is not an output the store lists (a file new to a file pattern, say) or is no
    longer there: the matches of a file pattern may have changed, which only a scan tells."""
    if not fileindex.all_listed(log.conn.execute, [files.relative(p, root) for p in changed]):
        return None
    stats = files.stat_many(changed)
    if any(st is None for st in stats.values()):
        return None
    return Scan(stats, set(changed), True, told=True)
