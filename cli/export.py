"""``pdg export``: events or work items to a JSON-lines or CSV file."""

from __future__ import annotations

import os

import click
from pdgstore.cli import progress, render
from pdgstore.cli.options import UsageMistake, db_option, json_option, missing_folder
from pdgstore.engine.export import export

from pdgstore.locate import open_store
from pdgstore.queries import JSON_SCHEMA, require_cook


@click.command("export", short_help="Write events or work items to a JSON-lines or CSV file.")
@click.option("--format", "fmt", type=click.Choice(["jsonl", "csv"]), required=True, help="The file's format.")
@click.option(
    "--what",
    type=click.Choice(["events", "items"]),
    default="events",
    show_default=True,
    help="Export the event log, or the work items as they are now.",
)
@click.option("--cook", "cook_id", type=int, help="Only the events of this cook (or the items it last cooked).")
@click.option("-o", "--output", required=True, metavar="FILE", help="The file to write ('-': standard output).")
@db_option
@json_option
def command(fmt, what, cook_id, output, db, as_json) -> None:
    """Write the event log (or the work items) to FILE for analysis elsewhere: one JSON object per
    line, or CSV with nested values as JSON. Streamed, written atomically (no partial file).
    --json prints a summary, so it needs -o FILE (with -o - standard output holds the export)."""
    if as_json and output == "-":
        raise UsageMistake(
            "-o - writes the export to standard output, where --json would print its summary: give -o FILE, or leave out --json"
        )
    why = missing_folder(output) if output != "-" else ""
    if why:
        raise UsageMistake(
            f"cannot export to {output}: its folder {os.path.dirname(output)} {why}; nothing was written"
        )
    with open_store(db) as log:
        require_cook(log, cook_id)
        # 6 s at W(100,000); not beside an export to the terminal itself (-o -)
        with progress.shown(f"exporting {what}", as_json or output == "-") as line:
            n = export(log, what, fmt, output, cook_id, line.report if line is not None else None)
    if output == "-":
        return
    if as_json:
        render.emit_json({"schema": JSON_SCHEMA, "what": what, "format": fmt, "rows": n, "output": render.here(output)})
    else:
        render.err.print(f"wrote {n:,} {what} to {render.here(output)}")
