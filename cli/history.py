"""``pdg history``: one row per cook."""

from __future__ import annotations

import click

from cli import render
from cli.options import db_option, json_option
from engine.project import open_store
from pdgstore import queries


@click.command("history", short_help="List every cook with its status and item counts.")
@db_option
@json_option
def command(db, as_json) -> None:
    """List every cook: id, graph, start, end, status and item counts."""
    with open_store(db) as log:
        state = log.load_state()
        rows = queries.cooks(state)
        writer = log.writer_pid()
    for r in rows:
        if r["status"] == "running" and not writer:
            r["status"] = "died"
        r["started"] = render.iso(r["started_ns"])
        r["ended"] = render.iso(r["ended_ns"])
    if as_json:
        render.emit_json({"schema": 1, "cooks": rows})
        return
    t = render.table("cook_id", "graph", "node", "started", "seconds", "status", "ran", "reused", "failed",
                     "cancelled", "trigger", "message")
    for r in rows:
        c = r["items"]
        t.add_row(str(r["cook_id"]), r["graph"], r["node"] or "", render.when(r["started_ns"]),
                  "" if r["seconds"] is None else f"{r['seconds']:.2f}", render.styled(r["status"]),
                  *(str(c.get(k, "")) for k in ("ran", "reused", "failed", "cancelled")),
                  queries.trigger_text(r["trigger"]).replace("[", "\\["),
                  r["message"].replace("[", "\\["))
    render.out.print(t)
