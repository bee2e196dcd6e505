"""How ``pdg serve`` hands its page out: ``--open`` opens the right address in the user's browser
(``$BROWSER``, here a stub that notes the address it was given), and served on an address other
than loopback every JSON answer and the WebSocket need the token, while the page itself (which holds
no data) does not."""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.request

import pytest

from web.test_web_view import page_counts, status

pytestmark = pytest.mark.timeout(180)
ANSWERS = ("config", "graph", "items?graph=web&node=work", "changes?since=0", "item?id=x", "cooks",
           "diff?from=cook:1&to=now")  # fmt: skip

STUB = """#!/bin/sh
# a browser that notes the address it is asked to open (written whole, then renamed)
printf '%s\\n' "$1" > "$PDG_TEST_OPENED.tmp" && mv "$PDG_TEST_OPENED.tmp" "$PDG_TEST_OPENED"
"""


def answer(url: str) -> tuple[int, dict]:
    """(status, JSON body) of a GET."""
    try:
        with urllib.request.urlopen(url, timeout=60) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read())


def get(url: str, token: str | None = None, header: bool = False) -> int:
    if token is not None and not header:
        url += ("&" if "?" in url else "?") + f"token={token}"
    request = urllib.request.Request(url)
    if token is not None and header:
        request.add_header("Authorization", f"Bearer {token}")
    try:
        with urllib.request.urlopen(request, timeout=60) as response:
            response.read()
            return response.status
    except urllib.error.HTTPError as exc:
        return exc.code


@pytest.fixture
def stub_browser(tmp_path, monkeypatch):
    """$BROWSER is a stub; the file it writes says what it opened."""
    stub = tmp_path / "stub-browser"
    stub.write_text(STUB)
    stub.chmod(0o755)
    opened = tmp_path / "opened.txt"
    monkeypatch.setenv("BROWSER", str(stub))
    monkeypatch.setenv("PDG_TEST_OPENED", str(opened))
    for name in ("DISPLAY", "WAYLAND_DISPLAY"):  # no other browser is tried before ours
        monkeypatch.delenv(name, raising=False)

    def wait() -> str:
        deadline = time.monotonic() + 60
        while not opened.exists():
            assert time.monotonic() < deadline, "pdg serve --open opened nothing"
            time.sleep(0.05)
        return opened.read_text().strip()

    return wait


def test_open_opens_the_page_at_its_address(webproject, serve, stub_browser, page):
    assert webproject.pdg("cook", "web.py").exit_code == 0
    server = serve("--open")
    url = stub_browser()
    assert url == f"http://127.0.0.1:{server.port}/"  # read-only: no token handed out
    page.goto(url)
    page.wait_for_function("window.pdgView && window.pdgView.ready && window.pdgView.connected", timeout=60_000)
    assert page_counts(page)["web/work"][0] == 24
    assert page.locator(".node button").count() == 0


def test_open_with_actions_opens_the_address_with_the_token(webproject, serve, stub_browser, page):
    assert webproject.pdg("cook", "web.py").exit_code == 0
    server = serve("--open", "--allow-actions")
    url = stub_browser()
    token = json.loads((webproject.root / ".pdg" / "serve.json").read_text())["token"]
    assert url == f"http://127.0.0.1:{server.port}/#token={token}"
    page.goto(url)
    page.wait_for_function("window.pdgView && window.pdgView.ready && window.pdgView.connected", timeout=60_000)
    page.wait_for_selector(".node[data-node=work] button[data-act=cook]")  # the page it opened can act
    assert page.locator("#actions-bar").is_visible()


def test_an_unknown_graph_or_node_is_refused_with_the_clis_sentence(webproject, serve):
    """/api/items of a node the store does not have is a 400 saying so, as /api/item of an unknown
    id is, in the words of ``pdg items GRAPH/NODE``; a known node answers its items."""
    assert webproject.pdg("cook", "web.py").exit_code == 0
    server = serve()
    base = f"http://127.0.0.1:{server.port}/api/"
    code, body = answer(base + "items?graph=web&node=work")
    assert code == 200 and len(body["ids"]) == 24
    for graph, node in (("web", "nope"), ("nope", "work")):
        code, body = answer(base + f"items?graph={graph}&node={node}")
        said = webproject.pdg("items", f"{graph}/{node}")
        assert code == 400 and said.exit_code == 2 and f"pdg: {body['error']}\n" in said.output, body
    assert body["error"] == "the store has no graph nope for node nope/work (its graphs: web)"
    code, body = answer(base + "items?graph=web&node=nope")
    assert body["error"] == "the store has no node web/nope (its nodes: files, work, after)"
    assert answer(base + "item?id=zzz")[0] == 400


def test_off_loopback_every_answer_and_the_websocket_need_the_token(webproject, serve, page):
    assert webproject.pdg("cook", "web.py").exit_code == 0
    server = serve("--host", "0.0.0.0")
    token = json.loads((webproject.root / ".pdg" / "serve.json").read_text())["token"]
    assert server.info["token_required"] is True
    base = f"http://127.0.0.1:{server.port}/"
    assert server.info["web"] == base  # where to connect, not the wildcard it listens on
    # the page and its files hold no data: open to anyone who can reach the port
    assert get(base) == 200 and get(base + "static/app.js") == 200
    for answer in ANSWERS:
        url = base + "api/" + answer
        assert get(url) == 401, answer
        assert get(url, "a-guess") == 401, answer
        assert get(url, "a-guess", header=True) == 401, answer
    assert get(base + "api/graph", token) == 200
    assert get(base + "api/graph", token, header=True) == 200
    assert get(base + "api/cooks", token, header=True) == 200
    # the page without the token: it says so and shows nothing; the WebSocket refuses it
    page.goto(base)
    page.wait_for_function("document.getElementById('message').textContent.includes('token')", timeout=60_000)
    assert page.locator(".node").count() == 0
    refused = page.evaluate(
        """() => new Promise((done) => { const ws = new WebSocket(`ws://${location.host}/`);
            ws.onopen = () => done('open'); ws.onerror = () => done('refused'); })"""
    )
    assert refused == "refused"
    # with the token in the fragment (what pdg serve prints), everything works
    page.goto(base + "#token=" + token)
    page.reload()
    page.wait_for_function("window.pdgView && window.pdgView.ready && window.pdgView.connected", timeout=60_000)
    for (graph, node), row in status(webproject).items():
        assert page_counts(page)[f"{graph}/{node}"] == [row["total"], row["states"]]
