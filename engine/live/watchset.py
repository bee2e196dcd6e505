"""What ``pdg watch`` watches, and whether a file system event there changed anything.

The watched set comes from the store and the graph, never from walking the disk: every file an
item of the graph read or wrote (by its record), every file its file attributes name (recorded, or
``ABSENT``: named before it was there, whose creation is the change; ``engine.files.attrfiles``),
the folders where a file pattern could gain a match, the graph file and its local Python modules. Events are hints: ``verify`` asks the stat
cascade (``engine.files.records.check``) whether a hinted file really changed, so a touch, an editor's
temporary file or an output the cook itself wrote just now (recorded after it was written) cooks
nothing. Work per hint is a dict lookup, a regex match per file pattern and at most one stat and
hash: O(changed files), whatever the number of files watched.
"""

from __future__ import annotations

import glob
import os
import re
import struct
import sys
from collections.abc import Iterable
from dataclasses import dataclass, field

from pdgstore.engine.files import attrfiles
from pdgstore.engine.files import records as files
from pdgstore.engine.graph.api import Graph
from pdgstore.engine.graph.nodes import FilePattern

from pdgstore.events import HASH, MTIME_NS, PATH, SIZE, TAG
from pdgstore.readmodel import TableState

#: verdicts of ``WatchSet.verify``
GRAPH, CHANGED = "graph", "changed"

#: a kept record (``WatchSet._kept``): the file's size, its mtime in ns and its tag's number, then
#: its hash as UTF-8
_KEPT = struct.Struct("<qqI")
_STAT = struct.Struct("<qq")  # its start: what a scan compares
#: the kept record of a file a file attribute names that was not there when its item was recorded
ABSENT = b""


def pattern_regex(pattern: str) -> re.Pattern:
    """A regex for the absolute paths ``glob.glob(pattern, recursive=True)`` would match."""
    parts = pattern.split("/")
    out = []
    for i, part in enumerate(parts):
        last = i == len(parts) - 1
        if part == "**":
            out.append(r"(?!\.)[^/]*(?:/(?!\.)[^/]*)*" if last else r"(?:(?!\.)[^/]*/)*")
            continue
        text = r"(?!\.)" if part[:1] in ("*", "?", "[") else ""
        j = 0
        while j < len(part):
            c = part[j]
            if c == "*":
                text += "[^/]*"
            elif c == "?":
                text += "[^/]"
            elif c == "[" and "]" in part[j + 2 :] or c == "[" and part[j + 1 : j + 2] == "]":
                end = part.index("]", j + 2)
                body = part[j + 1 : end]
                text += "[" + ("^" + body[1:] if body.startswith("!") else body.replace("\\", "\\\\")) + "]"
                j = end
            else:
                text += re.escape(c)
            j += 1
        out.append(text + ("" if last else "/"))
    return re.compile("".join(out) + r"\Z")


def pattern_base(pattern: str) -> tuple[str, bool]:
    """The deepest folder of an absolute glob without wildcards, and whether matches can lie in
    its subfolders (then it is watched recursively)."""
    parts = pattern.split("/")
    fixed = []
    for part in parts[:-1]:
        if glob.has_magic(part):
            break
        fixed.append(part)
    base = "/".join(fixed) or "/"
    return base, len(fixed) < len(parts) - 1


def local_modules(root: str, names, skip: str = "") -> list[str]:
    """Python files under ``root`` among the modules ``names`` (those loading the graph file
    imported: its helpers), site-packages excluded. Modules imported before, such as pdgstore's own
    when a graph file sits beside them, are not the graph's and are never re-imported."""
    prefix = root.rstrip(os.sep) + os.sep
    found = []
    for name in names:
        path = getattr(sys.modules.get(name), "__file__", None)
        if path and path.startswith(prefix) and "site-packages" not in path and path != skip and path.endswith(".py"):
            found.append(path)
    return found


def content_hash(path: str) -> str:
    try:
        return files.content_hash(path)
    except OSError:
        return ""


@dataclass
class WatchSet:
    root: str
    #: absolute path -> the file's record as the store last saw it, kept small (``_kept``; read it
    #: with ``record``): a million watched files are a million of these
    records: dict[str, bytes | tuple] = field(default_factory=dict)
    #: (regex, pattern) of each file pattern in scope, absolute
    patterns: list = field(default_factory=list)
    #: the graph file and its local modules -> content hash when loaded
    graph_files: dict[str, str] = field(default_factory=dict)
    #: folder -> recursive: where the observer looks
    dirs: dict[str, bool] = field(default_factory=dict)
    #: folder -> recorded files directly in it (a folder moved or deleted checks these)
    by_dir: dict[str, dict[str, None]] = field(default_factory=dict)
    ignore: str = ""  # the store's folder: its own writes are never hints
    #: item id -> the paths its records hold (the path itself when one, as for nearly every item);
    #: path -> how many items hold it beyond the first (a path held once, nearly every one, is only
    #: in ``by_dir``): for ``update``
    owned: dict[str, tuple | str] = field(default_factory=dict)
    shared: dict[str, int] = field(default_factory=dict)
    #: folders the file patterns and graph files need watched (recursive or not)
    base_dirs: dict[str, bool] = field(default_factory=dict)
    #: each file tag once, by its number in a kept record (a million records share a few)
    _tags: dict[str, int] = field(default_factory=dict)
    _tag_list: list[str] = field(default_factory=list)

    @classmethod
    def build(
        cls, graph: Graph, store: TableState | None, scope: list[str], *, store_dir: str, graph_files: dict[str, str]
    ) -> WatchSet:
        """The watch set of ``graph`` as ``store`` records it (None: no store yet), its items read
        one at a time from the tables: only their files' records are kept."""
        root = graph.root
        ws = cls(root, graph_files=dict(graph_files), ignore=store_dir.rstrip("/") + "/")
        if store is not None:
            for name in scope:
                merges = graph.nodes[name].is_partitioner
                for item_id, outputs, inputs, has_parents, attrs in store.iter_watched_of(graph.name, name):
                    ws._hold(item_id, ws._record(outputs, inputs, has_parents, merges, attrs))
        for name in scope:
            node = graph.nodes[name]
            if isinstance(node, FilePattern):
                pattern = node.pattern if os.path.isabs(node.pattern) else os.path.join(root, node.pattern)
                pattern = os.path.normpath(pattern).replace(os.sep, "/")
                ws.patterns.append((pattern_regex(pattern), pattern))
                base, recursive = pattern_base(pattern)
                ws.base_dirs[base] = ws.base_dirs.get(base, False) or recursive
        for path in ws.graph_files:
            ws.base_dirs.setdefault(os.path.dirname(path), False)
        ws.place()
        return ws

    def update(self, graph: Graph, store: TableState, scope: list[str], touched: set[str]) -> None:
        """Take in the items a cook touched (generated, cooked, removed: ``touched`` ids), read
        from ``store``, and nothing else: O(touched items' own files), no stat, no glob."""
        in_scope = set(scope)
        new_dirs = False
        found = store.items_many(touched)
        for item_id in touched:
            item = found.get(item_id)
            if item is None or item.graph != graph.name or item.node not in in_scope:
                if item_id in self.owned:
                    new_dirs |= self._release(item_id)
                continue
            old = self._owned_by(item_id)
            merges = graph.nodes[item.node].is_partitioner
            paths = self._record(item.outputs, item.inputs, bool(item.parents), merges, item.attrs)
            if paths != old:  # same files with new records (the common recook): no bookkeeping
                new_dirs |= self._release(item_id)
                new_dirs |= self._hold(item_id, paths)
        if new_dirs:
            self.place()

    def _record(self, outputs, inputs, has_parents: bool, merges: bool = False, attrs: dict | None = None) -> tuple:
        """Take an item's file records; its paths. Each file is held by the item that made it (or
        found it): a partition's outputs are its members' (``merges``) and a child's inputs are its
        parents' outputs, so only a root item's inputs are its own. That keeps a recook of a
        partition of 10,000 members from touching 10,000 records here. The files its file
        attributes (``attrs``) name are held by every item holding them (a child inherits its
        parent's, records and all), a partition's by its members, each file's newest record kept."""
        root, absolute, records, kept = self.root, files.absolute, self.records, self._kept
        paths = []
        if not merges:
            for rec in outputs:
                path = absolute(rec[PATH], root)
                records[path] = kept(rec)
                paths.append(path)
        for rec in () if has_parents else inputs:
            path = absolute(rec[PATH], root)
            if path not in records:
                records[path] = kept(rec)
            paths.append(path)
        if attrs and not merges:
            for value in attrfiles.named(attrs):
                path = absolute(value[PATH], root)
                if len(value) >= attrfiles.RECORDED:
                    records[path] = kept(value)
                elif path not in records:
                    records[path] = ABSENT
                paths.append(path)
        return tuple(paths)

    def _kept(self, rec) -> bytes | tuple:
        """A file's record as the watch set keeps it: one bytes object without the path (the key
        says it), its tag a number (about 60 bytes, where a tuple of the values took 230: half of
        what a watched file cost), or the values as they are when they do not fit in one."""
        tag, size, mtime_ns, digest = rec[TAG], rec[SIZE], rec[MTIME_NS], rec[HASH]
        if len(rec) == HASH + 1 and type(size) is int and type(mtime_ns) is int and type(digest) is str:
            number = self._tags.get(tag)
            if number is None:
                number = self._tags[tag] = len(self._tag_list)
                self._tag_list.append(tag)
            try:
                return _KEPT.pack(size, mtime_ns, number) + digest.encode()
            except struct.error:  # beyond 64 bits
                pass
        return tuple(rec[TAG:])

    def record(self, path: str) -> list | None:
        """The record of the watched file at ``path`` (absolute) as the store last saw it, or None."""
        kept = self.records.get(path)
        if not kept:  # none, or ``ABSENT``
            return None
        if isinstance(kept, tuple):
            return [files.relative(path, self.root), *kept]
        size, mtime_ns, number = _KEPT.unpack_from(kept)
        return [files.relative(path, self.root), self._tag_list[number], size, mtime_ns, kept[_KEPT.size :].decode()]

    def _hold(self, item_id: str, paths: tuple) -> bool:
        """Count the item's hold on its paths; True when one lies in a folder not watched before."""
        new_dir = False
        shared, by_dir = self.shared, self.by_dir
        for path in paths:
            folder = _folder(path)
            held = by_dir.get(folder)
            if held is None:
                held = by_dir[folder] = {}
                new_dir = True
            if path in held:
                shared[path] = shared.get(path, 0) + 1
            else:
                held[path] = None
        self.owned[item_id] = paths[0] if len(paths) == 1 else paths
        return new_dir

    def _owned_by(self, item_id: str) -> tuple | None:
        """The paths ``item_id`` holds (None: it holds none here)."""
        paths = self.owned.get(item_id)
        return (paths,) if isinstance(paths, str) else paths

    def _release(self, item_id: str) -> bool:
        """Forget the item's files (those no other item holds); True when a folder emptied."""
        emptied = False
        shared = self.shared
        paths = self._owned_by(item_id) or ()
        self.owned.pop(item_id, None)
        for path in paths:
            more = shared.get(path)
            if more:
                if more == 1:
                    del shared[path]
                else:
                    shared[path] = more - 1
                continue
            self.records.pop(path, None)
            folder = _folder(path)
            held = self.by_dir[folder]
            held.pop(path, None)
            if not held:
                del self.by_dir[folder]
                emptied = True
        return emptied

    def place(self) -> None:
        """The folders to watch: those holding recorded files and the patterns' and graph's own
        (a folder that does not exist is watched through its nearest existing parent)."""
        dirs = dict.fromkeys(self.by_dir, False)
        for base, recursive in self.base_dirs.items():
            dirs[base] = dirs.get(base, False) or recursive
        self.dirs = _minimal(dirs)

    def __len__(self) -> int:
        return len(self.records) + len(self.graph_files)

    # -- the observer's thread: cheap filtering --------------------------------------------------
    def relevant(self, path: str, is_dir: bool) -> bool:
        """Whether an event on ``path`` may matter (called per event, in the observer's thread)."""
        if path.startswith(self.ignore):
            return False
        if path in self.records or path in self.graph_files:
            return True
        if is_dir:
            return True
        return any(regex.match(path) for regex, _ in self.patterns)

    # -- the watcher's loop: the stat cascade decides ---------------------------------------------
    def verify(self, hints: set[str], folders: Iterable[str] = frozenset()) -> tuple[list[str], list[str]]:
        """(the graph file and local modules that changed, files whose content really changed) for
        the hinted paths and the folders created, moved or deleted (whose recorded files and new
        matches count)."""
        graph_changed: list[str] = []
        changed: list[str] = []
        for path in sorted(set(hints).union(*(self._under(f) for f in folders))):
            if path in self.graph_files:
                if content_hash(path) != self.graph_files[path]:
                    graph_changed.append(path)
                continue
            rec = self.record(path)
            if rec is None and self.records.get(path) == ABSENT:
                if os.path.isfile(path):  # named before it was there: there now
                    changed.append(path)
            elif rec is not None:
                verdict, current = files.check(rec, self.root)
                if verdict == files.TOUCHED and current is not None:
                    self.records[path] = self._kept(current)  # the next event on it needs no hash
                elif verdict != files.SAME:
                    changed.append(path)
            elif any(regex.match(path) for regex, _ in self.patterns) and os.path.isfile(path):
                changed.append(path)
        return graph_changed, changed

    def _under(self, folder: str) -> set[str]:
        """The recorded files under ``folder`` and the files now in it (O(folders + its files))."""
        prefix = folder.rstrip("/") + "/"
        out: set[str] = set()
        for path, paths in self.by_dir.items():
            if path == folder or path.startswith(prefix):
                out.update(paths)
        if os.path.isdir(folder) and not folder.startswith(self.ignore):
            for dirpath, _dirs, names in os.walk(folder):
                out.update(os.path.join(dirpath, n) for n in names)
        return out

    def scan(self) -> set[str]:
        """Every watched path whose (mtime_ns, size) differs from its record, plus pattern matches
        that have no record: the polling fallback and the periodic safety rescan (O(all files))."""
        stats = files.stat_many(list(self.records) + list(self.graph_files))
        hints = set()
        pack = _STAT.pack
        for path, kept in self.records.items():
            st = stats.get(path)
            if st is None:
                if kept != ABSENT:  # (still not there: nothing to say)
                    hints.add(path)
            elif type(kept) is bytes:
                if not kept.startswith(pack(st.st_size, st.st_mtime_ns)):
                    hints.add(path)  # (``ABSENT``'s: the file is there now)
            elif st.st_size != kept[SIZE - TAG] or st.st_mtime_ns != kept[MTIME_NS - TAG]:
                hints.add(path)
        for path in self.graph_files:
            if stats.get(path) is None or content_hash(path) != self.graph_files[path]:
                hints.add(path)
        for _regex, pattern in self.patterns:
            for path in glob.glob(pattern, recursive=True):
                if path not in self.records and os.path.isfile(path):
                    hints.add(path)
        return hints


def _folder(path: str) -> str:
    """``os.path.dirname`` of an absolute POSIX path, in a third of its time (a watch set files a
    million paths by their folder as it starts)."""
    at = path.rfind("/")
    return os.path.dirname(path) if at < 0 else (path[:at].rstrip("/") or "/")


def _minimal(dirs: dict[str, bool]) -> dict[str, bool]:
    """Drop folders a recursive watch above already covers; a folder that does not exist yet is
    watched through its nearest existing parent (its creation is the event that matters)."""
    existing: dict[str, bool] = {}
    for path, recursive in dirs.items():
        while not os.path.isdir(path) and os.path.dirname(path) != path:
            path, recursive = os.path.dirname(path), False
        existing[path] = existing.get(path, False) or recursive
    recursive_roots = sorted(p for p, r in existing.items() if r)
    out = {}
    for path, recursive in existing.items():
        covered = any(path != r and (path + "/").startswith(r.rstrip("/") + "/") for r in recursive_roots)
        if not covered:
            out[path] = recursive
    return out
