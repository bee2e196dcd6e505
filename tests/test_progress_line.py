"""A cook tells what it is generating before it has any share to show: ``pdg cook``'s progress
line showed "0/1" for 9 s of a 19 s recook at W(100,000), while 200,000 items were generated."""

from __future__ import annotations

import pdgstore.engine as engine
from pdgstore.engine.cook.settle import PHASE_EVERY


def _told_before_a_share(graph, db: str) -> list[tuple[str, int]]:
    """What a cook of ``graph`` told its phase hook (as ``pdg cook``'s line hears it) before its
    first count with a total."""
    heard: list[tuple] = []

    def on_cook(cook) -> None:
        cook.settle.phase = lambda what, known: heard.append(("phase", what, known))

    summary = engine.cook_graph(
        graph, db=db, progress=lambda done, total: heard.append(("count", done, total)), on_cook=on_cook
    )
    assert summary.status == "success", summary.message
    first_share = next(i for i, (kind, _, total) in enumerate(heard) if kind == "count" and total > 0)
    return [(what, known) for kind, what, known in heard[:first_share] if kind == "phase"]


def test_a_cook_says_what_it_generates_before_it_has_a_share_to_show(tmp_path):
    db = str(tmp_path / ".pdg" / "pdg.db")
    for count in (2 * PHASE_EVERY, 2 * PHASE_EVERY + 1):  # cold (generated in bulk), then the full walk
        g = engine.Graph("g", root=str(tmp_path))
        g.wedge("wedge", count=count)
        assert _told_before_a_share(g, db) == [
            ("generating work items (wedge)", PHASE_EVERY),
            ("generating work items (wedge)", 2 * PHASE_EVERY),
        ]
