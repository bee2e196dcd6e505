"""``pdg show ITEM``: everything the store knows about one work item."""

from __future__ import annotations

import json

import click
from pdgstore.cli import joblog, render
from pdgstore.cli.options import at_option, db_option, json_option
from pdgstore.engine import joblogs
from pdgstore.engine.files.filetypes import TypeRegistry

from pdgstore import queries, refs
from pdgstore.locate import open_store
from pdgstore.queries import JSON_SCHEMA

#: an attribute's shown value is cut after this many characters (``--json`` gives it whole)
SHOWN_CHARS = 2000
#: parents, inputs and outputs shown of a long list (``--json`` gives them whole): a partition's
#: and a gather's hold one per member, and only these are read from the store
SHOWN_ENTRIES = 10


@click.command("show", short_help="Show everything known about one work item.")
@click.argument("item")
@at_option
@db_option
@json_option
def command(item, at, db, as_json) -> None:
    """Show one work item (by item id, id prefix of 6 or more characters, or name; or GRAPH/ITEM):
    attributes, inputs, outputs, state history with times, and the error and traceback if it
    failed; with --at, as it was then."""
    with open_store(db) as log:
        state, point = refs.state_at(log, at)
        limit = None if as_json else SHOWN_ENTRIES
        d = queries.item_detail_at(log, state, item, point, limit=limit, here=render.here)
        types = TypeRegistry.of_project(queries.project_root(log, state, d["graph"]))
    for f in d["inputs"] + d["outputs"]:  # what `pdg open` would open it with (None: its folder)
        f["viewer"] = types.viewer_for(f["tag"])
    if as_json:
        for h in d["history"]:
            h["time"] = queries.iso(h["time_ns"])
        render.emit_json({"schema": JSON_SCHEMA, "at": point.to_json() if point else None, "item": d})
        return
    if point is not None:
        render.err.print(render.at_line(point))
    p = render.out.print
    p(f"[bold]{d['name']}[/bold]  {d['item_id']}")
    p(
        f"  graph {d['graph']}, node {d['node']}, index {d['index']}, state {render.styled(d['state'])}, "
        f"{_cook(d['cook_id'])}, {d['cook_seconds']:.3f} s"
    )
    counts = d["counts"]
    if d["parents"]:
        p(
            "  depends on: "
            + ", ".join(x["name"] or x["item_id"] for x in d["parents"])
            + (f", ... ({counts['parents']:,} items)" if counts["parents"] > len(d["parents"]) else "")
        )
    if d["attrs"]:
        p("attributes:")
        for name, attr in d["attrs"].items():
            values = attr["values"]
            shown = json.dumps(values[0] if len(values) == 1 else values, default=str)
            if len(shown) > SHOWN_CHARS:  # a 100 MB value is the item's, not the terminal's
                shown = f"{shown[:SHOWN_CHARS]}... ({len(shown):,} characters; --json shows all of it)"
            p(f"  {name} ({attr['type']}) = {shown}", markup=False)
    for title, key in (("inputs", "inputs"), ("outputs", "outputs")):
        if d[key]:
            p(f"{title}:")
            for f in d[key]:
                viewer = f"  viewer: {f['viewer']}" if f["viewer"] else ""
                p(f"  {render.here(f['abspath'])}  [{f['tag']}]  {f['size']} bytes  {f['hash']}{viewer}", markup=False)
            if counts[key] > len(d[key]):
                p(f"  ... and {counts[key] - len(d[key]):,} more ({counts[key]:,} {key[:-1]} files)", markup=False)
    if d["history"]:
        p("history:")
        for h in d["history"]:
            note = f"  {h['message']}" if h["message"] else ""
            p(
                f"  {render.when(h['time_ns'])}  {_cook(h['cook_id'])}  seq {h['seq']}  {render.styled(h['state'])}"
                + note.replace("[", "\\[")
            )
    job = d["job"]
    if job:
        code = "running" if job["exit_code"] is None else f"exit code {job['exit_code']}"
        pid = f", pid {job['pid']}" if job["pid"] and job["pid"] > 0 else ""  # 0: none (in-process, unknown)
        p(f"job: {job['scheduler']}, attempt {job['attempt']}{pid}, {code}", markup=False)
        if job["log_path"] and not joblog.has_text(job["log_path"]):
            p(f"log: none (the job printed nothing: {joblog.absence(job['log_path'])})", markup=False)
        elif job["log_path"]:
            p(f"log: {render.here(job['log_path'])}", markup=False)
            tail = joblogs.tail(job["log_path"], 20)
            if tail:
                p(tail.rstrip("\n"), markup=False)
    if d["error"]:
        p("[bold red]error:[/bold red] " + d["error"].replace("[", "\\["))
        if d["traceback"]:
            p(d["traceback"].rstrip(), markup=False)


def _cook(cook_id: int | None) -> str:
    """Where a change was made: its cook, or none (``pdg dirty``, ``pdg accept``: no cook's)."""
    return f"cook {cook_id}" if cook_id is not None else "outside a cook"
