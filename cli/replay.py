"""``pdg replay``: feed recorded events to an event handler, as it would have seen them live."""

from __future__ import annotations

import sys
import time

import click
from pdgstore.cli import progress, render
from pdgstore.cli.options import db_option, exclusive, json_option
from pdgstore.engine.resend import check_types, load_handler, replay_into
from rich.markup import escape

from pdgstore import refs
from pdgstore.errors import BadRef
from pdgstore.locate import open_store
from pdgstore.queries import JSON_SCHEMA


@click.command("replay", short_help="Feed recorded events to an event handler.")
@click.option(
    "--handler",
    "handler_spec",
    required=True,
    metavar="MODULE:FUNCTION",
    help="The handler: module:function (importable from here) or path/to/file.py:function.",
)
@click.option("--cook", "cook_id", type=int, help="Replay the events of this cook.")
@click.option("--from", "ref_from", metavar="REF", help="Replay from this point (default: the start of the log).")
@click.option("--to", "ref_to", metavar="REF", help="Replay up to this point (default: now).")
@click.option(
    "--type",
    "types",
    multiple=True,
    metavar="EVENT_TYPE",
    help="Only events of this type (repeatable), e.g. work_item_state_change, cook_complete.",
)
@db_option
@json_option
def command(handler_spec, cook_id, ref_from, ref_to, types, db, as_json) -> None:
    """Call an event handler with the recorded events, in order, exactly as it would have received
    them live (same event types, fields and order; event.cook is None). Reads the store only: no
    work runs and no file of yours is touched. Exits 1 if the handler raised."""
    exclusive(("--cook", cook_id), ("--from/--to", ref_from or ref_to))
    type_set = check_types(types)
    with render.json_stdout(as_json):  # what the handler prints: to stderr, under --json
        result, after, until, seconds = _replay(handler_spec, cook_id, ref_from, ref_to, type_set, db, as_json)
    summary = {
        "schema": JSON_SCHEMA,
        "handler": handler_spec,
        "from_seq": after,
        "to_seq": until,
        "events": result.events,
        "delivered": result.delivered,
        "errors": result.errors,
        "seconds": round(seconds, 3),
    }
    if as_json:
        render.emit_json(summary)
    else:
        for message in result.errors[:20]:
            render.err.print("pdg: " + escape(message))
        render.err.print(f"replayed {result.events} events ({result.delivered} handler calls) in {seconds:.2f} s")
    sys.exit(1 if result.errors else 0)


def _replay(handler_spec: str, cook_id, ref_from, ref_to, type_set, db, as_json: bool):
    """The handler fed the events asked for: (its result, the seq after which they start, the
    last seq or None, seconds); a terminal told how far it got (5 s at W(100,000))."""
    handler = load_handler(handler_spec)
    until: int | None
    with open_store(db) as log:
        if cook_id is not None:
            span = log.cook_span(cook_id)
            if span is None:
                raise BadRef(f"{log.display} holds no events of cook {cook_id}")
            after, until = span[0] - 1, span[1]
        else:
            start, end = refs.resolve_range(log, ("--from", ref_from), ("--to", ref_to))
            after = start.seq if start else log.base_seq()
            until = end.seq if end else None
        started = time.perf_counter()
        with progress.shown("replaying", as_json) as line:
            result = replay_into(log, handler, after, until, type_set, line.report if line is not None else None)
        seconds = time.perf_counter() - started
    return result, after, until, seconds
