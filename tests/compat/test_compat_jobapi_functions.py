"""One job script per function of SideFX's pdgcmd and pdgjson (``jobapi_cases.CASES``), all run as
real jobs of one cook on the local scheduler, each checked against what the store recorded; and the
Job API table of ``docs/jobapi.md`` names every public function of both modules."""

from __future__ import annotations

import re
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest
from compat.jobapi_cases import CASES, PRELUDE

import pdgstore.engine as engine
from pdgstore.engine.schedulers.jobdata import JOBAPI_DIR
from pdgstore.log import EventLog

REPO = Path(__file__).resolve().parents[2]


@dataclass
class Record:
    name: str
    item_id: str
    state: str
    error: str
    attrs: dict
    outputs: list
    logs: list
    log: str


def slug(case: str) -> str:
    return re.sub(r"[^A-Za-z0-9]+", "_", case)


@pytest.fixture(scope="module")
def cooked(tmp_path_factory):
    root = tmp_path_factory.mktemp("jobapi")
    (root / "jobs").mkdir()
    for case, (script, _check) in CASES.items():
        (root / "jobs" / f"{slug(case)}.py").write_text(PRELUDE + script + "\n")
    graph = engine.Graph("jobapi", root=str(root))
    graph.scheduler("local", slots=2, max_retries=0, tick_period=0.05)
    scripts = graph.file_pattern("scripts", "jobs/*.py")

    @graph.python_processor("prep", upstream=scripts)
    def prep(item):
        item.set_attrib("value", item.index)
        item.set_attrib("label", "L")
        item.set_attrib("scale", 1.5)
        item.set_attrib("tex", engine.File("tex/wood.png", "file/image"))
        item.set_attrib("meta", {"k": [1, 2]})
        item.add_output_file(item.input_path, "file/text/python")

    graph.command("run", prep, [sys.executable, "@pdg_input"])
    db = str(root / ".pdg" / "pdg.db")
    engine.cook_graph(graph, db=db, jobs=2)
    with EventLog.open(db) as log:
        state = log.load_state()
        events = list(log.events(0))
    logs: dict[str, list] = {}
    for e in events:
        if e.kind == "WorkItemLogged":
            logs.setdefault(e.item_id, []).append(e.text)
    records = {}
    for item in state.items.values():
        if item.node != "run":
            continue
        case = Path(item.inputs[0][0]).stem
        log_file = root / ".pdg" / "jobs" / "jobapi" / "logs" / f"{item.name}.log"
        text = log_file.read_text() if log_file.exists() else ""
        records[case] = Record(item.name, item.item_id, item.state, item.error, item.attrs, item.outputs,
                               logs.get(item.item_id, []), text)
    return records


@pytest.mark.parametrize("case", sorted(CASES))
def test_job_api_function(cooked, case):
    rec = cooked[slug(case)]
    CASES[case][1](rec)


def public_names(module_files: list[str]) -> set[str]:
    names = set()
    for name in module_files:
        text = (JOBAPI_DIR / name).read_text()
        names |= {m for m in re.findall(r"^(?:def|class) ([A-Za-z]\w*)", text, re.M) if not m.startswith("_")}
    return names


def test_the_docs_table_lists_every_job_api_function():
    table = (REPO / "docs" / "jobapi.md").read_text()
    rows = [line for line in table.splitlines() if line.startswith("| `")]
    listed = {m.group(1) for row in rows for span in re.findall(r"`([^`]+)`", row.split(" | ")[0])
              for m in [re.match(r"(?:\w+\.)*(\w+)(?:\(|$)", span)] if m}
    missing = public_names(["pdgcmd.py", "pdgjson.py", "pdgitem.py", "pdgexec.py", "pdgpaths.py"]) - listed
    assert not missing, f"docs/jobapi.md does not list {sorted(missing)}"
