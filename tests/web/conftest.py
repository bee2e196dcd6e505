"""A real ``pdg serve`` on a real store, and the distribution's Chromium driven by Playwright.

The browser is never downloaded: it is the ``chromium`` found on PATH (Debian's package; ``.ci/run``
installs it), launched headless without a sandbox or a GPU. Without it the tests skip, saying so.
Screenshots of each view are kept in one folder per run (its path is printed).
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]

WEB_GRAPH = """
import os
import time
from pdgstore.engine import Graph

graph = Graph("web")
files = graph.file_pattern("files", "in/*.txt")

@graph.python_processor("work", upstream=files)
def work(item):
    n = int(item.input_path.stem[1:])
    deadline = time.time() + 60
    while os.path.exists("hold") and time.time() < deadline:   # the test lets the cook go on
        time.sleep(0.02)
    time.sleep(0.003 * (n % 6))
    item.set_attrib("weight", n * 3)
    os.makedirs("out", exist_ok=True)
    dst = os.path.join("out", item.input_path.name)
    with open(dst, "w") as f:
        f.write(item.input_path.read_text() * (n + 1))
    item.add_output_file(dst)

@graph.python_processor("after", upstream=work)
def after(item):
    pass
"""


@pytest.fixture(scope="session")
def chromium_path():
    path = shutil.which("chromium") or shutil.which("chromium-browser")
    if path is None:
        pytest.skip("no chromium on PATH (apt-get install chromium): the web view tests need a real browser")
    return path


@pytest.fixture(scope="session")
def screenshots(tmp_path_factory):
    folder = Path(os.environ.get("PDG_WEB_SCREENSHOTS") or tmp_path_factory.mktemp("web-screenshots"))
    folder.mkdir(parents=True, exist_ok=True)
    yield folder
    print(f"\nweb view screenshots: {folder}")


@pytest.fixture(scope="package")
def browser(chromium_path):
    """One Chromium for every test of tests/web (a launch is seconds of CPU); each test gets a fresh
    context (``page``), so no cookie, storage or page is shared between tests."""
    os.environ.setdefault("PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD", "1")
    sync_api = pytest.importorskip("playwright.sync_api", reason="the playwright package is not installed")
    with sync_api.sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=chromium_path, args=CHROMIUM_ARGS, headless=True)
        yield browser
        browser.close()


@pytest.fixture
def page(browser):
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    page = context.new_page()
    yield page
    context.close()


@pytest.fixture
def webproject(project):
    project.write("web.py", WEB_GRAPH)
    project.inputs(24)
    return project


@pytest.fixture
def served(webproject):
    return webproject  # what the shared ``serve`` fixture (tests/conftest.py) serves here
