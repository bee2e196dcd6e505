"""The conformance suite: PDG's own code samples, every one of the seed pages that print code, run
unchanged (or with the smallest fix the page needs, said in a comment where the fix is) through real
cooks and real jobs. By page: 000 (Job API) ``test_compat_seed000_jobapi.py``, with one job per
pdgcmd/pdgjson function in ``test_compat_jobapi_functions.py``; 001 (PDG Data Layer)
``test_compat_seed001_datalayer.py`` (each sample completed) and ``..._verbatim.py`` (byte for
byte); 002 (Scheduler Node Callbacks) ``test_compat_seed002_scheduler.py``; 003 (Custom File Tags
and Handlers) ``test_compat_seed003_handlers.py``. Page 004 (Introduction to TOPs) is prose with no
code sample (``test_compat_seed_pages.py`` holds that). Samples of 000, 002 and 003 live in
``examples/pdg_api/`` (runnable by hand); a test copies its folder to a temporary project, cooks it
and checks what the page says happens.
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
