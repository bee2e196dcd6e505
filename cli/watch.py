"""``pdg watch``: cook a graph, then recook what changed whenever its files change."""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Callable
from typing import Any, TextIO

import click
from pdgstore.cli import render, stopsignals
from pdgstore.cli.cook import parse_sets
from pdgstore.cli.memory import return_large_blocks
from pdgstore.cli.options import json_option_saying, store_option
from pdgstore.engine.live import messages as msg
from pdgstore.engine.live.watch import Watcher
from pdgstore.engine.project import store_beside

from pdgstore.queries import JSON_SCHEMA


@click.command("watch", short_help="Cook, then recook minimally whenever the graph's files change.")
@click.argument("graph", type=click.Path(dir_okay=False))
@click.argument("node", required=False)
@click.option("--set", "sets", multiple=True, metavar="NAME=VALUE", help="Override a graph parameter (repeatable).")
@click.option(
    "--debounce",
    type=click.FloatRange(min=0),
    default=150,
    show_default=True,
    metavar="MS",
    help="Quiet time after a change before recooking (a burst of saves is one recook).",
)
@click.option(
    "--poll",
    type=click.FloatRange(min=0.05),
    metavar="SECONDS",
    help="Poll every SECONDS instead of native file events (network file systems).",
)
@click.option(
    "--rescan",
    type=click.FloatRange(min=1),
    default=60,
    show_default=True,
    metavar="SECONDS",
    help="Also stat every watched file this often, for events the platform dropped.",
)
@click.option("--jobs", "-j", type=click.IntRange(min=1), help="Work items run at once (default: CPU count).")
@store_option
@json_option_saying("Print one JSON line per cook (no status lines).")
def command(graph, node, sets, debounce, poll, rescan, jobs, db, as_json) -> None:
    """Cook GRAPH (or NODE and what it needs), then watch every file the store knows it reads
    (file pattern inputs and folders where new matches appear, every item's input files and the
    files its file attributes name, the graph file and its local modules) and recook only what
    changed. Ctrl-C stops it (exit 0)."""
    return_large_blocks()
    with render.json_stdout(as_json) as out:  # what the graph's own code prints: to stderr
        store = os.path.abspath(db) if db else store_beside(graph)  # as pdg cook names it
        _watch(graph, node, sets, debounce, poll, rescan, jobs, db, WatchStatus(as_json, out, store))


def _watch(graph, node, sets, debounce, poll, rescan, jobs, db, ui: WatchStatus) -> None:
    watcher = Watcher(
        graph,
        db=db,
        node=node,
        overrides=parse_sets(sets),
        jobs=jobs,
        debounce_s=debounce / 1000,
        poll_s=poll,
        rescan_s=rescan,
        report=ui.report,
    )

    def interrupt(signum, frame) -> None:
        watcher.stop(stopsignals.why(signum))

    previous = stopsignals.catch(interrupt)  # Ctrl-C, SIGTERM, SIGHUP (a closed terminal)
    try:
        watcher.run()
    finally:
        stopsignals.restore(previous)
        ui.out.flush()


class WatchStatus:
    """What the watcher reports (``engine.live.messages``): status lines on stderr, or one JSON
    line per cook on stdout. Messages it has nothing to say about (cook_start, ready) pass."""

    def __init__(self, as_json: bool, out: TextIO | None = None, store: str = "") -> None:
        self.as_json = as_json
        self.store = store  # the store's path (a JSON line names it, as pdg cook --json does)
        self.out = out or sys.stdout  # where the JSON lines go (``render.json_stdout``)
        self._on: dict[type, Callable[[Any], None]] = {
            msg.Started: self._started,
            msg.ChangeSeen: self._change,
            msg.Cooked: self._cook,
            msg.GraphBroken: self._graph_error,
            msg.GraphReloaded: self._graph_reloaded,
            msg.FellBack: self._fallback,
            msg.StoreBusy: self._busy,
            msg.WatchError: self._error,
            msg.Stopped: self._stopped,
        }

    def report(self, message: msg.WatchMessage) -> None:
        handler = self._on.get(type(message))
        if handler is not None:
            handler(message)

    def _say(self, text: str, style: str | None = None) -> None:
        if not self.as_json:
            render.err.print(text, style=style, markup=False)

    def _started(self, m: msg.Started) -> None:
        how = f"polling every {m.poll_s:g} s" if m.mode == "poll" else "native events"
        self._say(
            f"watching {m.files} files in {m.dirs} folders ({how}); store {render.here(m.store)}; Ctrl-C to stop",
            "bold",
        )

    def _change(self, m: msg.ChangeSeen) -> None:
        files = m.files
        shown = ", ".join(files[:3]) + (f" and {len(files) - 3} more" if len(files) > 3 else "")
        if m.graph:  # the graph file, or a local module it imports (named)
            named = (["the graph file"] if m.graph_file or not m.modules else []) + m.modules
            shown = ", ".join(named) + (f", {shown}" if shown else "")
        self._say(f"change seen in {shown}")

    def _cook(self, m: msg.Cooked) -> None:
        s = m.summary
        if self.as_json:
            data = s.to_json()
            data.update(store=render.here(self.store), results=render.here_all(s.results))
            data.update(event="cook", trigger={"by": "watch", "files": m.files, "message": m.message})
            self.out.write(json.dumps(data, default=str) + "\n")
            self.out.flush()
            return
        self._say(render.cook_line(s), render.STATE_STYLES.get(s.status))
        if why := render.cook_failure(s):
            self._say(f"  failed: {why}", "red")
        for failed in s.failed_items[:5]:
            self._say(f"  failed: {failed['name']} ({failed['node']}): {failed['error']}", "red")

    def _graph_error(self, m: msg.GraphBroken) -> None:
        self._say(f"the graph does not load: {m.message} (still watching; the previous results stay)", "bold red")
        self._json_line({"event": "graph_error", "message": m.message})

    def _graph_reloaded(self, m: msg.GraphReloaded) -> None:
        self._say(f"graph {m.graph} reloaded")

    def _fallback(self, m: msg.FellBack) -> None:
        self._say(m.message, "yellow")
        self._json_line({"event": "fallback", "message": m.message})

    def _busy(self, m: msg.StoreBusy) -> None:
        self._say(f"{m.message}: waiting for it to finish", "yellow")

    def _error(self, m: msg.WatchError) -> None:
        self._say(f"pdg: {m.message}", "bold red")
        self._json_line({"event": "error", "message": m.message})

    def _stopped(self, m: msg.Stopped) -> None:
        self._say(f"watch stopped ({m.message}) after {m.cooks} cooks")

    def _json_line(self, data: dict) -> None:
        if self.as_json:
            self.out.write(json.dumps({"schema": JSON_SCHEMA, **data}) + "\n")
            self.out.flush()
