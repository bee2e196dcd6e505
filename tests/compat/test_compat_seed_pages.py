"""Every line of code on the five seed pages is in the conformance suite or its examples.

The suite's files say which page each sample comes from; this test holds the other direction: a
code line of a page (an import, a def, a call, an assignment from a call, ...) that no test and no
example in ``examples/pdg_api/`` carries, whitespace aside, is a sample nobody runs. The few lines
the saved pages broke (a lost quote, a ``.`` for a ``,``) or that need Houdini's own ``hou`` module
are listed with the repair that runs instead and the file it runs in. Page 004 (Introduction to
TOPs) is prose: it has no code line, and the test says so rather than skipping it.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

pytestmark = pytest.mark.timeout(60)

ROOT = Path(__file__).resolve().parents[2]
#: the project's shared folder holds the pages: beside the clone (CI), or the workplace's own
_PLACES = [ROOT / "shared" / "seeds", ROOT.parent / "shared" / "seeds", Path("/work/shared/seeds")]
SEEDS = next((p for p in _PLACES if p.is_dir()), _PLACES[0])

PAGES = {
    "000": "Python API used by job scripts",
    "001": "PDG Data Layer",
    "002": "Scheduler Node Callbacks",
    "003": "Custom File Tags and Handlers",
    "004": "Introduction to TOPs",
}

#: what reads as code on a page: imports, defs, classes, control lines, calls, assignments from calls
CODE = re.compile(
    r"^\s*(import \w|from [\w.]+ import |def \w+\(|class \w+|return |if |for |try:|except"
    r"|[\w.\[\]']+ = [\w.]+\(|[\w.]+\.\w+\(.*\)\s*$)"
)

#: page line -> (the repair that runs, the file it runs in): the page's own text cannot run as it is
REPAIRED = {
    "self.setWorkingDir(local_path, remote_path)": (
        'self.setWorkingDir(self.graph_dir, "/farm/project")',
        "examples/pdg_api/seed002/pdg/types/custom_scheduler.py",
    ),
    'n = hou.node("/obj/topnet1/out")': (  # hou is Houdini's scene module: a GraphContext stands for the node
        "pdg.GraphContext(",
        "tests/compat/test_compat_seed002_scheduler.py",
    ),
    "n.getPDGGraphContext().cook(True, pdg.cookType.StaticDepsFull)": (
        "context.cook(True, pdg.cookType.StaticDepsFull)",
        "tests/compat/test_compat_seed002_scheduler.py",
    ),
    'type_registry.addExtensionTag(".py, "file/text/pythonscript")': (  # the page lost a quote
        'type_registry.addExtensionTag(".py", "file/text/pythonscript")',
        "examples/pdg_api/seed003_tags/pdg/types/custom_tags.py",
    ),
    'type_registry.registerTransferHandler("file", transferCopy. use_mod_time=True)': (  # "." for ","
        'type_registry.registerTransferHandler("file", transferCopy, use_mod_time=True)',
        "tests/compat/test_compat_seed003_handlers.py",
    ),
}


def _norm(text: str) -> str:
    return re.sub(r"\s+", " ", text).strip()


def _page(number: str) -> Path:
    found = sorted(SEEDS.glob(f"{number}_*.txt"))
    if not found:
        pytest.skip(f"seed page {number} is not beside this checkout ({SEEDS})")
    return found[0]


def _code_lines(number: str) -> list[str]:
    return [line.strip() for line in _page(number).read_text().splitlines() if CODE.match(line)]


def _suite_text() -> str:
    files = sorted((ROOT / "tests" / "compat").glob("*.py")) + sorted((ROOT / "examples" / "pdg_api").rglob("*.py"))
    return _norm("\n".join(p.read_text() for p in files if p.name != Path(__file__).name))


@pytest.mark.parametrize("number", sorted(PAGES))
def test_every_code_line_of_the_page_is_run_by_the_suite(number):
    page = _page(number)
    assert PAGES[number] in page.read_text()[:400], f"{page.name} is not the page {PAGES[number]!r}"
    lines = _code_lines(number)
    if number == "004":
        assert lines == [], "the introduction page has code now: add its samples to tests/compat"
        return
    assert lines, f"no code found on {page.name}: the CODE pattern no longer reads the page"
    suite = _suite_text()
    missing = []
    for line in lines:
        if _norm(line) in suite:
            continue
        repair = REPAIRED.get(line)
        if repair is None:
            missing.append(line)
            continue
        text, where = repair
        assert _norm(text) in _norm((ROOT / where).read_text()), f"the repair of {line!r} is not in {where}"
    assert not missing, f"code of {page.name} that no test or example runs: {missing}"


def test_every_repair_is_of_a_line_a_page_has():
    """A repair kept for a line no page has any more would hide nothing: refuse it."""
    lines = {line for number in PAGES for line in _code_lines(number)}
    assert set(REPAIRED) <= lines
