"""The conformance suite: PDG's own code samples (seed pages 000, 002, 003), run unchanged (or with
the smallest fix the page needs, said in a comment where the fix is) through real cooks and real
jobs. Each sample lives in ``examples/pdg_api/`` (runnable by hand); a test copies its folder to a
temporary project, cooks it and checks what the page says happens.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from pdgstore.engine import cook_graph
from pdgstore.engine.graph.loader import load_graph
from pdgstore.log import EventLog

EXAMPLES = Path(__file__).resolve().parents[2] / "examples" / "pdg_api"


class Example:
    """One example folder copied into a temporary project: load its graph, cook it, read the store."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.db = str(root / ".pdg" / "pdg.db")

    def write(self, relpath: str, text: str) -> Path:
        path = self.root / relpath
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
        return path

    def graph(self, **overrides):
        return load_graph(str(self.root / "graph.py"), {k: str(v) for k, v in overrides.items()} or None)

    def cook(self, graph=None, **kwargs):
        return cook_graph(graph or self.graph(), db=self.db, jobs=2, **kwargs)

    def state(self):
        with EventLog.open(self.db) as log:
            return log.load_state()

    def events(self):
        with EventLog.open(self.db) as log:
            return list(log.events(0))

    def items(self, node: str) -> list:
        state = self.state()
        return sorted((i for i in state.items.values() if i.node == node), key=lambda i: i.index)

    def logs(self, item_id: str) -> list[str]:
        return [e.text for e in self.events() if e.kind == "WorkItemLogged" and e.item_id == item_id]


@pytest.fixture
def example(tmp_path):
    """``example("seed000")``: that folder of examples/pdg_api, copied to a fresh project."""

    def make(name: str) -> Example:
        root = tmp_path / name
        shutil.copytree(EXAMPLES / name, root)
        return Example(root)

    return make
