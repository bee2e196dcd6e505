"""A batch of reports (``pdgcmd.batch``, one ``system.multicall``) is recorded by one flush of the
cook, not one flush per report; a report the cook refuses in a batch gets its own fault (the job
hears of it), the others stay recorded, and every report is in the log before the job hears "ok"."""

from __future__ import annotations

import pytest

import pdgstore.engine as engine
from pdgstore.log import EventLog

pytestmark = pytest.mark.timeout(120)

JOB = """
import os, pdgcmd
open(os.path.join(os.environ["PDG_DIR"], "real.txt"), "w").write("x")
try:
    with pdgcmd.batch():
        for i in range(30):
            pdgcmd.setIntAttrib("a%d" % i, i)
        pdgcmd.addOutputFile(os.path.join(os.environ["PDG_DIR"], "missing.txt"))
        pdgcmd.addOutputFile(os.path.join(os.environ["PDG_DIR"], "real.txt"))
except pdgcmd.ReportRefused as exc:
    print("refused:", exc)
"""


def test_a_batch_is_recorded_together_and_a_refused_report_gets_its_own_fault(tmp_path):
    (tmp_path / "job.py").write_text(JOB)
    graph = engine.Graph("batched", root=str(tmp_path))
    graph.scheduler("local", slots=2, max_items=None)
    graph.python_script("job", graph.range_generate("numbers", 2), "job.py")
    db = str(tmp_path / ".pdg" / "pdg.db")
    summary = engine.cook_graph(graph, db=db)
    assert summary.status == "success", summary
    with EventLog.open(db) as log:
        state = log.load_state()
        events = list(log.events(0))
    for item in (i for i in state.items.values() if i.node == "job"):
        assert [item.attrs[f"a{i}"] for i in range(30)] == [["int", [i]] for i in range(30)]
        assert [o[0] for o in item.outputs] == ["real.txt"]
        log_uri = state.jobs[item.item_id][3]
        text = open(log_uri[7:]).read()
        assert "refused:" in text and "missing.txt" in text and "does not exist" in text
        warned = [e for e in events if e.kind == "WorkItemLogged" and e.item_id == item.item_id]
        assert any("missing.txt" in e.text for e in warned)
