"""``pdg serve``: the data layer of a store over WebSocket and TCP, live while cooks append to it."""

from __future__ import annotations

import json
import os
import threading

import click
from pdgstore.cli import render, stopsignals
from pdgstore.cli.options import db_option, json_option
from pdgstore.engine.project import STORE_DIR, STORE_FILE, find_store
from pdgstore.engine.stop import Stop

from pdgstore.errors import PdgError, StoreMissing


@click.command("serve", short_help="Serve the store's data layer (pdgd) to WebSocket and TCP clients.")
@click.option("--port", type=click.IntRange(0, 65535), default=0, help="WebSocket port (default: any free port).")
@click.option(
    "--tcp-port", type=click.IntRange(0, 65535), default=0, help="Binary TCP port, msgpack (default: any free port)."
)
@click.option(
    "--host",
    default="127.0.0.1",
    show_default=True,
    help="Address to listen on. Any address but loopback makes every client present the token.",
)
@click.option("--open", "open_page", is_flag=True, help="Open the web view in your browser.")
@click.option(
    "--allow-actions",
    is_flag=True,
    help="Let the web view cook a node, dirty an item and cancel the running cook (with the token in its URL).",
)
@db_option
@json_option
def command(port, tcp_port, host, open_page, allow_actions, db, as_json) -> None:
    """Serve the data layer of the store (PDG's pdgd: graphs, nodes and work items, live) until
    Ctrl-C. Clients connect with pdgd.DataLayerInterfaceManager; they see every cook of the store,
    from any process, and resume from the last seq they saw. The web view (nodes, work items, performance, history) is at
    http://HOST:PORT/ on the WebSocket port. Prints the two addresses on stdout
    (--json: one JSON line with ports, host and store); the token (needed by commands that change things, and by every client
    when --host is not loopback) is in serve.json beside the store, readable by you alone."""
    from pdgstore.engine.datalayer import service

    try:
        store = find_store(db)
    except StoreMissing:
        if db or os.environ.get("PDG_DB"):
            raise
        store = os.path.join(os.getcwd(), STORE_DIR, STORE_FILE)  # served once a cook creates it
    stop = Stop()  # (not a threading.Event: ``engine.stop``)
    previous = stopsignals.catch(lambda *_: stop.set())  # Ctrl-C, SIGTERM, SIGHUP (a closed terminal)
    running = service.start(store, port=port, tcp_port=tcp_port, host=host, allow_actions=allow_actions)
    try:
        info = running.info()
        if as_json:  # the store where the user stands, as every --json says it (serve.json keeps it whole)
            click.echo(json.dumps({**info, "store": render.here(info["store"])}))
        else:
            click.echo(f"{info['ws']} {info['tcp']}")
        render.say(
            f"serving {render.here(store)}: {info['ws']} (WebSocket), {info['tcp']} (TCP); "
            f"token in {render.here(running.info_path)}; Ctrl-C stops",
            err=True,
        )
        page = info["web"] + (f"#token={running.ws.token}" if allow_actions or running.ws.requires_token else "")
        render.say(f"web view: {page}" if allow_actions else f"web view: {page} (read-only)", err=True)
        if open_page:  # on its own thread: a browser command may take its time, or never return
            threading.Thread(target=_open_page, args=(page,), name="pdg-open", daemon=True).start()
        if not os.path.exists(store):
            render.say("no store yet: it is served as soon as a cook creates it", err=True)
        while not stop.wait(0.5):
            error = running.layer.stats.get("last_error")
            if error:
                running.layer.stats.pop("last_error", None)
                render.say(f"reading the store failed (retrying): {error}", err=True)
    except PdgError:
        raise
    finally:
        running.stop()  # serve.json goes with it
        stopsignals.restore(previous)


def _open_page(url: str) -> None:
    """Open ``url`` in the user's browser (``webbrowser``: $BROWSER first), or say how to."""
    import webbrowser

    try:
        opened = webbrowser.open(url)
    except webbrowser.Error:
        opened = False
    if not opened:
        render.say(f"could not open a browser: open {url} yourself", err=True)
