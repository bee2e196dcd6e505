"""The web view's actions: cook a node, dirty, cancel. Off unless ``pdg serve --allow-actions``;
then only for a page (or script) holding the server's token, sent in a header; "cook" is a POST
that starts a real ``pdg cook`` of that node, refused with a sentence while another cook holds the
store. Each check goes through the real ``pdg serve`` and, where a page acts, a real Chromium."""

from __future__ import annotations

import json
import threading
import urllib.error
import urllib.request

import pytest

from web.test_web_view import DONE, cook_process, open_view, status

pytestmark = pytest.mark.timeout(240)


def call(server, path: str, method: str = "POST", token: str | None = None, origin: str | None = None):
    """(status, JSON answer) of a request to ``pdg serve``, as a script would send it."""
    request = urllib.request.Request(
        server.url + path.lstrip("/"), method=method, data=b"" if method == "POST" else None
    )
    if token is not None:
        request.add_header("Authorization", f"Bearer {token}")
    if origin is not None:
        request.add_header("Origin", origin)
    try:
        with urllib.request.urlopen(request, timeout=60) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read())


def open_with_token(page, server, token: str) -> None:
    """Open the address ``pdg serve --allow-actions`` prints: the token in the fragment."""
    page.goto(server.url + "#token=" + token)
    page.reload()  # the same page again, or a hash change alone would not load it
    page.wait_for_function("window.pdgView && window.pdgView.ready && window.pdgView.connected", timeout=60_000)
    page.wait_for_selector(".node button[data-act=cook]")


def token_of(project) -> str:
    return json.loads((project.root / ".pdg" / "serve.json").read_text())["token"]


def cooks(project) -> list[dict]:
    return json.loads(project.pdg("history", "--json").output)["cooks"]


def all_in(page, key: str, states) -> str:
    return (
        f"() => {{ const n = pdgView.nodes.get('{key}'); return n && n.count === 24 && "
        f"Array.from(n.states.slice(0, 24)).every((s) => {json.dumps(list(states))}.includes(pdgView.states[s])); }}"
    )


def test_without_allow_actions_nothing_can_change_the_store(webproject, serve, page):
    assert webproject.pdg("cook", "web.py").exit_code == 0
    server = serve()
    token = token_of(webproject)
    open_view(page, server)
    assert page.locator(".node button").count() == 0 and page.locator("#actions-bar").is_hidden()
    # even with the token: actions are off
    assert call(server, "/api/cook?graph=web&node=work", token=token)[0] == 403
    from_page = page.evaluate(
        "async (t) => (await fetch('/api/cook?graph=web&node=work', {method: 'POST', headers: {Authorization: `Bearer ${t}`}})).status",
        token,
    )
    assert from_page == 403
    assert len(cooks(webproject)) == 1


def test_cook_is_a_post_with_the_token_in_a_header(webproject, serve):
    assert webproject.pdg("cook", "web.py").exit_code == 0
    server = serve("--allow-actions")
    token = token_of(webproject)
    before = len(cooks(webproject))
    refused = {
        "a GET (a link, an image, a prefetch)": call(server, "/api/cook?graph=web&node=work", "GET", token),
        "no token": call(server, "/api/cook?graph=web&node=work"),
        "a guessed token": call(server, "/api/cook?graph=web&node=work", token="guess"),
        "the token in the URL": call(server, f"/api/cook?graph=web&node=work&token={token}"),
        "another site's page": call(server, "/api/cook?graph=web&node=work", token=token, origin="http://evil.example"),
    }
    codes = {why: answer[0] for why, answer in refused.items()}
    assert codes == {
        "a GET (a link, an image, a prefetch)": 405,
        "no token": 403,
        "a guessed token": 403,
        "the token in the URL": 403,
        "another site's page": 403,
    }
    assert all(answer[1]["error"] for answer in refused.values())
    # an unknown node or graph: the sentence ``pdg items GRAPH/NODE`` gives
    for graph, node in (("web", "nope"), ("nope", "work")):
        code, answer = call(server, f"/api/cook?graph={graph}&node={node}", token=token)
        said = webproject.pdg("items", f"{graph}/{node}")
        assert code == 400 and said.exit_code == 2 and f"pdg: {answer['error']}\n" in said.output, answer
    code, answer = call(server, "/api/graph", "POST", token)
    assert code == 405  # the answers only read
    assert len(cooks(webproject)) == before  # nothing ran


def test_a_page_with_the_token_dirties_and_cooks_a_node_for_real(webproject, serve, page):
    assert webproject.pdg("cook", "web.py").exit_code == 0
    server = serve("--allow-actions")
    token = token_of(webproject)
    page.goto(server.url)  # no token in the address: no actions on the page
    page.wait_for_function("window.pdgView && window.pdgView.ready", timeout=60_000)
    assert page.locator(".node button").count() == 0
    open_with_token(page, server, token)
    page.click(".node[data-node=work] button[data-act=dirty]")
    page.wait_for_function(all_in(page, "web/work", ["dirty"]), timeout=30_000)
    page.click(".node[data-node=work] button[data-act=cook]")
    page.wait_for_function("() => pdgView.lastAction", timeout=60_000)
    answer = page.evaluate("() => pdgView.lastAction")
    assert answer.get("cook_id"), answer
    page.wait_for_function(all_in(page, "web/work", DONE), timeout=90_000)
    # a real cook of that node, recorded like any other, by the process the page started
    record = next(c for c in cooks(webproject) if c["cook_id"] == answer["cook_id"])
    assert (record["node"], record["pid"], record["graph"]) == ("work", answer["pid"], "web")
    page.wait_for_function(f"() => pdgView.cooks.some((c) => c.cook_id === {answer['cook_id']} && c.status !== 'running')",
                           timeout=60_000)  # fmt: skip
    record = next(c for c in cooks(webproject) if c["cook_id"] == answer["cook_id"])
    assert record["status"] == "success" and record["items"]["ran"] == 24
    assert status(webproject)[("web", "work")]["states"] == {"cooked_success": 24}


def test_cook_is_refused_cleanly_while_another_cook_holds_the_store(webproject, serve, page):
    assert webproject.pdg("cook", "web.py").exit_code == 0
    assert webproject.pdg("dirty", "work").exit_code == 0
    server = serve("--allow-actions")
    token = token_of(webproject)
    open_with_token(page, server, token)
    (webproject.root / "hold").write_text("the work items wait while this file exists\n")
    other = cook_process(webproject)  # a cook from another terminal
    try:
        page.wait_for_function("() => pdgView.cooks.some((c) => c.status === 'running')", timeout=60_000)
        running = cooks(webproject)[-1]
        page.click(".node[data-node=after] button[data-act=cook]")
        page.wait_for_function("() => pdgView.lastAction", timeout=60_000)
        answer = page.evaluate("() => pdgView.lastAction")
        assert "already running" in answer["error"] and str(running["pid"]) in answer["error"], answer
        assert "already running" in page.inner_text("#message")
        code, direct = call(server, "/api/cook?graph=web&node=after", token=token)
        assert code == 409 and "already running" in direct["error"]
        assert [c["cook_id"] for c in cooks(webproject)][-1] == running["cook_id"]  # no cook started
        assert other.poll() is None  # the running cook went on, untouched
        (webproject.root / "hold").unlink()
        assert other.wait(90) == 0, other.stderr.read()
    finally:
        if other.poll() is None:
            other.kill()
            other.wait()
    assert status(webproject)[("web", "work")]["states"] == {"cooked_success": 24}


def test_cancel_from_the_page_stops_the_running_cook(webproject, serve, page):
    assert webproject.pdg("cook", "web.py").exit_code == 0
    assert webproject.pdg("dirty", "work").exit_code == 0
    server = serve("--allow-actions")
    open_with_token(page, server, token_of(webproject))
    (webproject.root / "hold").write_text("the work items wait while this file exists\n")
    other = cook_process(webproject)
    try:
        page.wait_for_function("() => pdgView.cooks.some((c) => c.status === 'running')", timeout=60_000)
        page.click("#cancel-cook")
        # the cook stops scheduling and, its grace over, says it waits for its in-process items
        # (Python on its threads cannot be stopped from outside); then they are let go
        assert said_within(other, "waiting for", 60), "the cook never said it waits for its items"
        (webproject.root / "hold").unlink()
        assert other.wait(60) != 0  # cancelled, as on Ctrl-C
    finally:
        (webproject.root / "hold").unlink(missing_ok=True)
        if other.poll() is None:
            other.kill()
            other.wait()
    page.wait_for_function("() => pdgView.cooks.length && pdgView.cooks.at(-1).status === 'cancelled'", timeout=60_000)
    assert cooks(webproject)[-1]["status"] == "cancelled"


def said_within(process, words: str, seconds: float) -> bool:
    """Whether ``process`` wrote a line holding ``words`` to its stderr within ``seconds`` (read on a
    thread, so a process that says nothing cannot hold the test up)."""
    heard = threading.Event()

    def read() -> None:
        for line in process.stderr:
            if words in line:
                heard.set()

    threading.Thread(target=read, daemon=True).start()
    return heard.wait(seconds)
