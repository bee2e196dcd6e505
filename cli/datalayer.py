"""``pdg datalayer dump``: the data layer's contents as a JSON change log (the Data Layer panel's
debugging aid), read from the store alone."""

from __future__ import annotations

import json
import sys

import click
from pdgstore.cli import render
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
    nodes, their work items. With --json, one JSON document {schema, store, seq, messages}."""
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
    for entry in (first, *entries):
        render.say(entry["path"], err=False)
        for name, values in entry["properties"].items():
            render.say(f"  {name}: {json.dumps(values)}", err=False)
