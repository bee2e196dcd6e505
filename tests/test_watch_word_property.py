"""A watcher's recooks equal cooks from scratch, as a hypothesis property over the random graphs and
edits of ``test_incremental_property``.

A watcher holds no state of the store: it tells its cook which recorded files changed (the watch
set's verdict on them, ``WatchSet.verify``), and the cook starts from those alone
(``delta.told``: no stat scan, the items holding them looked up in the tables) while nothing else
wrote to the store since its last cook. Here each edit is followed by a ``StoreSession`` cook given
the watch set's verdict on every file of the project (what a watcher's events and rescan would
report), and the result is held to a cook of a copy from scratch; a recook after it does nothing.
(``test_delta`` and ``test_watch`` check that the word is taken.)
"""

from __future__ import annotations

import os
import shutil
import tempfile

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from test_incremental_property import WORDS, Edit, GraphSpec, Project, apply_edit, edits, graphs

from pdgstore.engine.graph.loader import load_graph
from pdgstore.engine.live.watchset import WatchSet
from pdgstore.engine.live.writer import StoreSession

pytestmark = pytest.mark.timeout(600)


@settings(max_examples=10, deadline=None, suppress_health_check=list(HealthCheck))
@given(graphs, st.lists(st.sampled_from(WORDS), min_size=1, max_size=4), st.lists(edits, min_size=1, max_size=4))
@example(GraphSpec(("double",), "letter"), ["apple", "banana"], [Edit("rewrite", 0, "banana")])
@example(GraphSpec(("upper", "reverse"), "all"), ["apple", "banana"], [Edit("spoil_output", 1, "x"), Edit("touch", 0, "")])
def test_a_watchers_recooks_equal_cooks_from_scratch(spec, words, steps):
    base = tempfile.mkdtemp(prefix="pdg-watch-word-")
    try:
        p = Project(os.path.join(base, "live"), spec, words)
        session = StoreSession(p.path(".pdg/pdg.db"))

        def graph():
            return load_graph(p.path("g.py"), {"sep": p.sep})

        assert session.cook(graph()).status == "success"
        for n, edit in enumerate(steps):
            g = graph()
            with session.reading() as store:
                watched = WatchSet.build(g, store, g.topological_order(), store_dir=p.path(".pdg"), graph_files={})
            apply_edit(p, edit, set())
            everything = set(watched.records) | {p.path(rel) for rel in p.inputs()}
            _graph, changed = watched.verify(everything)
            summary = session.cook(graph(), changed=changed or None)
            assert summary.status == "success", (edit, summary)

            fresh = p.copy_to(os.path.join(base, f"fresh{n}"))
            fresh.cook()
            assert p.result() == fresh.result(), edit
            again = session.cook(graph())
            assert again.counts["ran"] == 0 and again.counts["updated"] == 0, (edit, again.counts)
    finally:
        shutil.rmtree(base, ignore_errors=True)
