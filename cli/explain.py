"""``pdg explain ITEM``: why a work item ran (or was reused) in its graph's last cook."""

from __future__ import annotations

import click
from pdgstore.cli import render
from pdgstore.cli.options import db_option, json_option

from pdgstore.explain import explain
from pdgstore.locate import open_store
from pdgstore.readmodel import TableState


@click.command("explain", short_help="Say why a work item ran or was reused in the last cook.")
@click.argument("item")
@db_option
@json_option
def command(item, db, as_json) -> None:
    """Explain ITEM (an item id, id prefix of 6 or more characters, or name; or GRAPH/ITEM): what
    happened to it in its graph's last cook and why, following the recorded reasons upstream to the
    root cause (a changed file, parameter or piece of code). Answered from the store alone."""
    with open_store(db) as log:
        answer = explain(log, TableState(log), item, here=render.here)
    if as_json:
        render.emit_json(answer)
    else:
        render.out.print(answer["text"], markup=False, highlight=False, soft_wrap=True)
