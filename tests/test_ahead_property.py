"""A cook after ``pdg cook --generate-only`` records what the item-by-item walk records, event for
event, whatever happened to the inputs in between (issue 19), as a hypothesis property.

An example is one of ``test_incremental_property``'s random graphs (a file pattern, one to three
map stages, maybe a wait-for-all or a partition by attribute and a join) with random inputs, and
one edit between the generate-only and the cook: none, an input rewritten (or with the same bytes),
touched, added or deleted. The same project is made twice; one cook makes what it can in bulk and
compares it with the records (``engine.cook.ahead``), the other decides every item one by one. The
two cooks' events (times and file mtimes aside), their items and their outputs' bytes must be the
same.
"""

from __future__ import annotations

import os
import shutil
import tempfile

from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from pdgstore.engine.cook import bulk
from pdgstore.engine.project import cook_file
from test_bulk_ahead import _events
from test_incremental_property import WORDS, Edit, GraphSpec, Project, apply_edit, graphs

input_edits = st.builds(
    Edit,
    st.sampled_from(["none", "rewrite", "same", "touch", "add", "delete"]),
    st.integers(0, 7),
    st.sampled_from(WORDS),
)


def _cook_after_generate_only(root: str, spec: GraphSpec, words: list[str], edit: Edit, use_bulk: bool):
    p = Project(root, spec, words)
    assert cook_file(p.path("g.py"), jobs=2, generate_only=True).status == "success"
    apply_edit(p, edit, set())
    real = bulk.plan
    bulk.plan = real if use_bulk else (lambda walk: [])
    try:
        p.cook()
    finally:
        bulk.plan = real
    files, items = p.result()
    return _events(p.path(".pdg/pdg.db"), 2, root), items, files


@settings(max_examples=20, deadline=None, suppress_health_check=list(HealthCheck))
@given(graphs, st.lists(st.sampled_from(WORDS), min_size=1, max_size=4), input_edits)
@example(GraphSpec(("upper", "double"), "all"), ["apple", "banana", "cherry"], Edit("delete", 1, ""))
@example(GraphSpec(("upper",), "letter"), ["apple", "blue"], Edit("touch", 0, ""))
def test_a_cook_after_generate_only_records_what_the_walk_records(spec, words, edit):
    base = tempfile.mkdtemp(prefix="pdg-ahead-")
    try:
        walk = _cook_after_generate_only(os.path.join(base, "walk"), spec, words, edit, use_bulk=False)
        fast = _cook_after_generate_only(os.path.join(base, "bulk"), spec, words, edit, use_bulk=True)
        assert fast[0] == walk[0]  # the cook's events, one for one
        assert fast[1] == walk[1]  # every item: node, state, attributes, outputs
        assert fast[2] == walk[2]  # every output's bytes
    finally:
        shutil.rmtree(base, ignore_errors=True)
