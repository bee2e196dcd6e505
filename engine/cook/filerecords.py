"""The records of the files a walk's generation meets: a file pattern's matches, a processor's
declared files (``GenerateContext.file``).

A file recorded before keeps its record when its mtime and size still match (the stat cascade's
first step, with no read): a file pattern may hold 100,000 files, and a recook must not hash them
again. The last records are looked up among every file pattern's items the first time a caller
does not bring the file's last record itself.
"""

from __future__ import annotations

from pdgstore.engine.files import records as files
from pdgstore.engine.graph.api import Graph

from pdgstore.events import PATH
from pdgstore.state import State


class FileRecords:
    def __init__(self, graph: Graph, state: State, scope: list[str]) -> None:
        self.graph, self.state, self.scope = graph, state, scope
        #: absolute path -> its ``os.stat_result`` (False: missing), as the cook's scan found it
        self.stats: dict = {}
        self._known: dict[str, list] | None = None  # path -> the last record a file pattern's item holds
        #: path -> the last record a file pattern's item holds, or None for none: looked up by path
        #: (``look_up``), for the few files a delta walk makes items of, without making ``_known``
        self._found: dict[str, list | None] = {}

    def record(self, path: str, tag: str | None = None, prev: list | None = None) -> list:
        """A file's record for generation: the stat cascade against its last record (no read when
        its mtime and size match), a full stat and hash when it has none. ``prev``: that last record,
        when the caller knows it (else it is looked up among every file pattern's records)."""
        root = self.graph.root
        relpath = files.relative(path, root)
        full = files.absolute(relpath, root)
        st = self.stats.get(full, False)
        if prev is None and relpath in self._found:
            prev = self._found[relpath]
            if prev is None:  # no item holds it: as ``_known`` would find none
                return files.record(relpath, root, tag, types=self.graph.types, st=st or None)
        if prev is None and self._known is None:
            self._known = {}
            for name in self.scope:
                node = self.graph.nodes[name]
                if not node.is_partitioner and not getattr(node, "does_work", False):
                    for item in self.state.items_of(self.graph.name, name):
                        for o in item.outputs:
                            self._known[o[PATH]] = o
        if prev is None and self._known is not None:  # (made above when prev is None)
            prev = self._known.get(relpath)
        if (
            prev is not None
            and st
            and st.st_mtime_ns == prev[files.MTIME_NS]
            and st.st_size == prev[files.SIZE]
            and (not tag or tag == prev[files.TAG])
        ):
            return prev  # the stat cascade's first step, inline: a file pattern may hold 100,000 files
        if prev is not None:
            _verdict, current = files.check(prev, root, types=self.graph.types, st=st)
            if current is not None:
                if tag and current[files.TAG] != tag:
                    current = [current[PATH], tag, *current[files.SIZE :]]
                return current
        return files.record(relpath, root, tag, types=self.graph.types, st=st or None)

    def look_up(self, paths: list[str]) -> None:
        """Find the last records of ``paths`` (absolute) among the file patterns' items by asking
        the store which items hold them (``CookState.items_holding``), for ``record`` to use as
        ``_known`` would: a delta walk's new matches, where making ``_known`` reads every item
        of every file pattern. A path two items hold, or a state that cannot be asked, is left
        to ``_known``."""
        holding = getattr(self.state, "items_holding", None)
        if holding is None or self._known is not None or not paths:
            return
        graph, root = self.graph, self.graph.root
        wanted = {files.relative(p, root): 0 for p in paths}
        found: dict[str, list | None] = dict.fromkeys(wanted)
        for item_id in holding(graph.name, sorted(wanted)):
            item = self.state.items.get(item_id)
            if item is None or item.graph != graph.name or item.node not in self.scope:
                continue
            node = graph.nodes[item.node]
            if node.is_partitioner or getattr(node, "does_work", False):
                continue
            for o in item.outputs:
                if o[PATH] in wanted:
                    wanted[o[PATH]] += 1
                    found[o[PATH]] = o
        self._found.update((path, record) for path, record in found.items() if wanted[path] <= 1)
