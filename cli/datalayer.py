"""``pdg datalayer dump``: the data layer's contents as a JSON change log (the Data Layer panel's
debugging aid), read from the store alone."""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from itertools import chain

import click
from pdgstore.cli import progress, render
from pdgstore.cli.options import db_option, json_option
from pdgstore.engine.datalayer.dump import walk
from pdgstore.engine.datalayer.storeview import StoreView
from pdgstore.engine.project import find_store

from pdgstore.queries import JSON_SCHEMA


@click.group("datalayer", short_help="Look into the data layer (pdgd) of a store.")
def group() -> None:
    """The data layer (pdgd) of a store: its objects as pdg serve would send them. `pdg datalayer
    dump [PATH] [--json]` prints them (--json: one JSON change log)."""


@group.command("dump", short_help="Print the snapshot of PATH and of every object below it.")
@click.argument("path", default="pdg")
@db_option
@json_option
def dump(path, db, as_json) -> None:
    """Write the snapshot of PATH (default: pdg) and of every object below it: graphs, their
    nodes, their work items, a row per property (path, property, value as JSON). Into a pipe or a
    file: every row, tab-separated, streamed; on a terminal: the first 1,000, values cut at 160
    characters. With --json, one JSON document {schema, store, seq, messages}, streamed."""
    view = StoreView(find_store(db))
    view.open()
    try:
        with view.reading():
            _dump(view, path, as_json)
    finally:
        view.close()


def _dump(view: StoreView, path: str, as_json: bool) -> None:
    entries = walk(view, path)
    first = next(entries)  # refuse a bad PATH before printing anything
    if as_json:
        out = sys.stdout
        out.write(
            f'{{"schema": {JSON_SCHEMA}, "store": {json.dumps(render.here(view.path))}, "seq": {view.seq}, "messages": ['
        )
        out.write(json.dumps(first))
        for entry in entries:
            out.write(",\n")
            out.write(json.dumps(entry))
        out.write("]}\n")
        return
    whole = not render.to_terminal()  # every row, into a pipe: 20 s at W(100,000); a terminal's 1,000 are quick
    with progress.shown(f"dumping {path}", not whole) as line:
        objects = chain((first,), entries)
        render.listing(
            ("path", "property", "value"),
            _rows(_told(objects, line, path) if line is not None else objects, cut=None if whole else TERMINAL_VALUE),
            what="properties",
            every=f"pdg datalayer dump {path} | less",
        )


#: objects dumped between two words to the progress line
REPORT_EVERY = 10_000


def _told(entries: Iterator[dict], line: progress.Line, path: str) -> Iterator[dict]:
    """``entries``, telling ``line`` how many objects were dumped, every ``REPORT_EVERY``."""
    for n, entry in enumerate(entries, 1):
        if n % REPORT_EVERY == 0:
            line.report(f"dumping {path}: objects", n, 0)
        yield entry


#: a value's characters shown on a terminal: a graph's work_items is one list of every item's id
TERMINAL_VALUE = 160


def _rows(entries: Iterator[dict], *, cut: int | None) -> Iterator[list[str]]:
    """A row (path, property, value as JSON) per property of each object, as the walk reads them:
    never the whole walk at once (a node of 100,000 items is 1.4 million rows). ``cut``: the
    characters of a value kept (a terminal's), or all of them (a pipe's)."""
    encode = json.JSONEncoder().encode  # json.dumps's, without its call per value
    for entry in entries:
        path = entry["path"]
        for name, values in entry["properties"].items():
            value = encode(values)
            if cut is not None and len(value) > cut:
                value = value[: cut - 3] + "..."
            yield [path, name, value]
