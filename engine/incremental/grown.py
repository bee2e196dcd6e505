"""A delta cook's new items in the no-op manifest it patches (``manifest.patched``).

Why: a recook after files were added to a file pattern (new matches that sort after every file
it made: ``delta.Scan.appended``) takes the delta walk, which adds items and renumbers none. Its
manifest is the one before with the new items' files at the end of its columns, the pattern's
files listing them after its others (they sort last by path, which the scan proved), and each
node's count grown by its new items: listing every recorded file again cost such a recook of
W(100,000) as long as its walk (every item's row decoded for its outputs).

A file a new item records that the manifest lists already (another item records it too), or a
new match that would not sort last, leaves the manifest to be listed whole, as before.
"""

from __future__ import annotations

from pdgstore.engine.files import records as files

from pdgstore.events import MTIME_NS, PATH, SIZE


def counts(old: dict, items, added: list[str]) -> dict:
    """The manifest's items per node (``old``) with the new ones (``added``: ids) counted."""
    out = dict(old)
    for item_id in added:
        node = items[item_id].node
        out[node] = out.get(node, 0) + 1
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
