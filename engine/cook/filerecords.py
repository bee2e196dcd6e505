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

    def record(self, path: str, tag: str | None = None, prev: list | None = None) -> list:
        """A file's record for generation: the stat cascade against its last record (no read when
        its mtime and size match), a full stat and hash when it has none. ``prev``: that last record,
        when the caller knows it (else it is looked up among every file pattern's records)."""
        root = self.graph.root
        if prev is None and self._known is None:
            self._known = {}
            for name in self.scope:
                node = self.graph.nodes[name]
                if not node.is_partitioner and not getattr(node, "does_work", False):
                    for item in self.state.items_of(self.graph.name, name):
                        for o in item.outputs:
                            self._known[o[PATH]] = o
        relpath = files.relative(path, root)
        full = files.absolute(relpath, root)
        st = self.stats.get(full, False)
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
