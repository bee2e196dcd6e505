"""``pdg open ITEM [FILE]``: open one of a work item's files, as PDG's work item pane opens a file
link.

A types plugin may name a viewer for a tag (``add_tag_viewer("file/image", "display")``); a file
of that tag, or of a tag beneath it (``file/image/png``), opens with it: the viewer's command line
with the file's absolute path appended. Without a viewer the folder that holds the file is opened
with the system's opener (``xdg-open``, ``open`` on macOS, the shell on Windows), as PDG falls back
to. The viewers come from the project's types plugins (``PDG_PATH``, its ``pdg/types/``, installed
entry points), not from its graph file, which a read command never runs.
"""

from __future__ import annotations

import os
import shlex
import subprocess
import sys
from itertools import chain

import click
from pdgstore.cli import render
from pdgstore.cli.options import db_option, json_option
from pdgstore.engine.files.filetypes import TypeRegistry

from pdgstore import itemlists, queries
from pdgstore.errors import PdgError, UnknownItem
from pdgstore.locate import open_store
from pdgstore.queries import JSON_SCHEMA
from pdgstore.readmodel import TableState
from pdgstore.state import Item


class CannotOpen(PdgError):
    """The file, its folder or its viewer is not there (exit code 1: the store is fine)."""


@click.command("open", short_help="Open a work item's file with its tag's viewer.")
@click.argument("item")
@click.argument("file", required=False)
@click.option("--print", "print_only", is_flag=True, help="Print the command that would open it; run nothing.")
@db_option
@json_option
def command(item, file, print_only, db, as_json) -> None:
    """Open a file of work item ITEM (by id, id prefix of 6 or more characters, or name; or
    GRAPH/ITEM): FILE, given as the item lists it, as a path from here, or by its name alone; by
    default its first output file (else its first input). The viewer registered for the file's tag
    (or a tag above it) opens it; without one, the folder that holds it opens with the system's
    opener."""
    with open_store(db) as log:
        state = TableState(log)
        found = queries.find_item(state, item)
        root = queries.project_root(log, state, found.graph)
        chosen = _choose(found, root, file)  # inside the read: a partition's lists are read as it goes
    viewer = TypeRegistry.of_project(root).viewer_for(chosen["tag"])
    argv = _command(viewer, chosen["abspath"])
    if not print_only:
        _launch(argv, viewer, chosen, found.name)
    if as_json:
        render.emit_json(
            {
                "schema": JSON_SCHEMA,
                "item_id": found.item_id,
                "name": found.name,
                "graph": found.graph,
                "file": chosen["path"],
                "abspath": chosen["abspath"],
                "tag": chosen["tag"],
                "viewer": viewer,
                "command": argv,
                "opened": not print_only,
            }
        )
    elif print_only:
        click.echo(shlex.join(argv))
    else:
        render.say(f"opened {render.here(chosen['abspath'])} with {viewer or 'the folder that holds it'}")


def _choose(item: Item, root: str, file: str | None) -> dict:
    """The file of the item that ``file`` names (its path as listed, from here, or its base name):
    its outputs, then its inputs, looked through in turn. A partition's or a gather's lists (one
    entry per member: 100,000 at W(100,000)) are read a chunk at a time, never whole, and the first
    file (no ``file``) from the head alone."""
    if file is None:
        first = item.outputs[:1] or item.inputs[:1]
        if not first:
            raise UnknownItem(f"work item {item.name} has no files to open")
        return queries.file_dict(first[0], root)
    here = os.path.abspath(file)
    named: list[dict] = []
    listed: list[str] = []
    for rec in chain(itemlists.entries(item.outputs), itemlists.entries(item.inputs)):
        f = queries.file_dict(rec, root)
        if file == f["path"] or here == os.path.normpath(f["abspath"]):
            return f
        if os.path.basename(f["path"]) == file:
            named.append(f)
        if len(listed) <= 10:
            listed.append(f["path"])
    if len(named) == 1:
        return named[0]
    if named:
        paths = ", ".join(f["path"] for f in named)
        raise UnknownItem(f"work item {item.name} has {len(named)} files named {file} ({paths}): give its path")
    if not listed:
        raise UnknownItem(f"work item {item.name} has no files to open")
    shown = ", ".join(listed[:10]) + (", ..." if len(listed) > 10 else "")
    raise UnknownItem(f"work item {item.name} has no file {file} (its files: {shown})")


def _command(viewer: str | None, path: str) -> list[str]:
    if viewer:
        return [*shlex.split(viewer, posix=os.name != "nt"), path]
    folder = os.path.dirname(path)
    if sys.platform == "darwin":
        return ["open", folder]
    if os.name == "nt":
        return ["explorer", folder]
    return ["xdg-open", folder]


def _launch(argv: list[str], viewer: str | None, f: dict, item: str) -> None:
    """Start the viewer (or opener) in its own session, its output discarded: it outlives ``pdg``."""
    target = f["abspath"] if viewer else os.path.dirname(f["abspath"])
    if not os.path.exists(target):
        raise CannotOpen(
            f"cannot open {render.here(target)}: it does not exist (work item {item} recorded {f['path']})"
        )
    try:
        subprocess.Popen(
            argv, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True
        )
    except OSError as exc:
        what = f"viewer {viewer!r} (tag {f['tag']})" if viewer else f"the system's opener {argv[0]}"
        raise CannotOpen(f"cannot open {render.here(f['abspath'])} with {what}: {exc.strerror or exc}") from None
