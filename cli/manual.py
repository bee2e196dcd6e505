"""``pdg dirty`` and ``pdg accept``: change work items' cache state by hand, recorded in the log."""

from __future__ import annotations

import click
from pdgstore.cli import render
from pdgstore.cli.options import db_option, json_option
from pdgstore.engine.incremental import manual

from pdgstore.locate import find_store


def _report(result: manual.ManualResult, action: str, as_json: bool, after: str) -> None:
    if as_json:
        data = result.to_json(action)
        data["removed_files"] = render.here_all(data["removed_files"])
        data["missing_files"] = render.here_all(data["missing_files"])
        render.emit_json(data)
        return
    names = ", ".join(i.name for i in result.items[:8]) + (" ..." if len(result.items) > 8 else "")
    render.err.print(f"{action} {len(result.items)} work item(s): {names}", markup=False)
    if result.removed_files:
        render.err.print(f"removed {len(result.removed_files)} output file(s)")
    if result.missing_files and action == "dirtied":
        render.err.print(f"{len(result.missing_files)} output file(s) were already gone")
    if result.skipped:
        left = ", ".join(i.name for i in result.skipped[:8]) + (" ..." if len(result.skipped) > 8 else "")
        render.err.print(
            f"left {len(result.skipped)} with no result to accept (the next pdg cook runs them): {left}", markup=False
        )
    render.err.print(after, style="dim")


@click.command("dirty", short_help="Mark a node's or an item's work items to run again.")
@click.argument("target", metavar="NODE|ITEM")
@click.option("--remove-outputs", is_flag=True, help="Also delete the output files the items wrote.")
@db_option
@json_option
def dirty_command(target, remove_outputs, db, as_json) -> None:
    """Dirty NODE's work items (or one ITEM) by hand: the next cook runs them again, recorded with
    "dirtied by hand" as the reason. Items downstream rerun only if what these make changes.
    --remove-outputs also deletes their output files (never a file pattern's input files). ITEM: an
    item id, id prefix of 6 or more characters, or name. In a store of several graphs, GRAPH/NODE
    or GRAPH/ITEM picks one graph's; a name two graphs hold, given alone, is refused."""
    result = manual.dirty(find_store(db), target, remove_outputs=remove_outputs)
    _report(result, "dirtied", as_json, "the next pdg cook runs them again (pdg cook --dry-run shows what would run)")


@click.command("accept", short_help="Record a node's or an item's current files as up to date.")
@click.argument("target", metavar="NODE|ITEM")
@db_option
@json_option
def accept_command(target, db, as_json) -> None:
    """Accept the current files of NODE's work items (or of one ITEM) and of everything downstream
    of them as up to date, without running anything: for a change you know is harmless. The next
    cook reuses them even though what they were made from changed. An item with no result (failed,
    cancelled, never ran) is left for the next cook, and named; ITEM of one is refused. ITEM: an
    item id, id prefix of 6 or more characters, or name. In a store of several graphs, GRAPH/NODE
    or GRAPH/ITEM picks one graph's; a name two graphs hold, given alone, is refused."""
    result = manual.accept(find_store(db), target)
    _report(result, "accepted", as_json, "the next pdg cook reuses them")
