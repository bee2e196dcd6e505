"""A delta cook's new items in the no-op manifest it patches (``manifest.patched``).

Why: a recook after files were added to a file pattern (new matches that sort after every file
it made: ``delta.Scan.appended``) takes the delta walk, which adds items and renumbers none. Its
manifest is the one before with the new items' files at the end of its columns, the pattern's
files listing them after its others (they sort last by path, which the scan proved), and each
node's count grown by its new items: listing every recorded file again cost such a recook of
W(100,000) as long as its walk (every item's row decoded for its outputs).

A file a new item records that the manifest lists already (another item records it too), or a
new match that would not sort last, leaves the manifest to be listed whole, as before. The items
a delta cook removed (the last matches gone) take their files out of the columns (``without``):
a file gone that stayed listed would fail every no-op proof after it.
"""

from __future__ import annotations

from bisect import bisect_left

from pdgstore.engine.files import records as files

from pdgstore.events import MTIME_NS, PATH, SIZE


def counts(old: dict, items, added: list[str], dropped: list[tuple[str, list[str]]]) -> dict:
    """The manifest's items per node (``old``) with the new ones (``added``: ids) counted, and
    those removed (``dropped``: (node, paths) each) not."""
    out = dict(old)
    for item_id in added:
        node = items[item_id].node
        out[node] = out.get(node, 0) + 1
    for node, _paths in dropped:
        out[node] = out.get(node, 0) - 1
    return out


def listed(root: str, items, added: list[str], columns: tuple, place: dict, patterns: dict) -> list[str] | None:
    """Add the files of the new items (``added``, in the order generated) to the manifest's
    ``columns`` (paths, mtimes, sizes) and ``place`` (path -> its place), and to a file
    pattern's ``patterns`` entry the place of each new item's file; the paths added. None when one
    is listed already, or a pattern's new file would not sort after the files it lists."""
    paths, mtimes, sizes = columns
    new: list[str] = []
    made: dict[str, list[int]] = {}  # file pattern -> the places of its new items' files
    for item_id in added:
        item = items[item_id]
        pattern = patterns.get(item.node)
        for at, o in enumerate(item.outputs):
            if o[PATH] in place:
                return None
            place[o[PATH]] = len(paths)
            if pattern is not None and at == 0:
                made.setdefault(item.node, []).append(len(paths))
            paths.append(o[PATH])
            mtimes.append(o[MTIME_NS])
            sizes.append(o[SIZE])
            new.append(o[PATH])
    for name, places in made.items():
        recorded = patterns[name]["files"]
        places.sort(key=lambda at: files.absolute(paths[at], root))
        last = files.absolute(paths[recorded[-1]], root) if recorded else None
        if last is not None and last >= files.absolute(paths[places[0]], root):
            return None
        patterns[name] = {**patterns[name], "files": recorded + places}
    return new


def without(root: str, dropped: list[tuple[str, list[str]]], columns: tuple, patterns: dict) -> list[str] | None:
    """Take the files of the items a delta cook removed (``dropped``: (node, the paths of its
    outputs) each) out of the manifest's ``columns`` and ``patterns``, in place, where the
    places after them move down; the paths taken out. None when one is not listed, or twice."""
    paths, mtimes, sizes = columns
    wanted = {path for _node, listed in dropped for path in listed}
    if not wanted:
        return []
    found = [at for at, path in enumerate(paths) if path in wanted]
    if len(found) != len(wanted):
        return None
    gone = set(found)
    for name, recorded in patterns.items():
        places = [at for at in recorded["files"] if at not in gone]
        patterns[name] = {**recorded, "files": [at - bisect_left(found, at) for at in places]}
    for column in (paths, mtimes, sizes):
        column[:] = [value for at, value in enumerate(column) if at not in gone]
    return sorted(wanted)


def of_walk(walk) -> tuple[list[str], list[tuple[str, list[str]]]]:
    """What a delta walk added (ids, as generated) and removed ((node, its files' paths) each, from
    its record before: ``Items.removed`` keeps it) in nodes that are no partitioners: what the
    manifest its scan read is patched with (``manifest.Since``). A removed item with no record
    kept is left out, and then the counts tell the manifest apart: it is listed whole."""
    if walk is None:
        return [], []
    nodes = walk.graph.nodes
    added = [i for node, ids in walk.added.items() if not nodes[node].is_partitioner for i in ids]
    before = (walk.items.before if walk.items is not None else None) or {}
    dropped = [
        (node, [o[PATH] for o in before[i].outputs])
        for node, ids in walk.dropped.items()
        if not nodes[node].is_partitioner
        for i in ids
        if i in before
    ]
    return added, dropped
