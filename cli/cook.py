"""``pdg cook``: cook a graph file (or one node and what it needs)."""

from __future__ import annotations

import os
import sys

import click
from click.core import ParameterSource
from pdgstore.cli import progress, render, stopsignals
from pdgstore.cli.memory import return_large_blocks
from pdgstore.cli.options import exclusive, json_option, store_option
from pdgstore.engine.errors import ParmError
from pdgstore.engine.project import cook_file, plan_file, store_beside

EXIT_CODES = {"success": 0, "failed": 1, "cancelled": 130}


def parse_sets(values: tuple[str, ...]) -> dict[str, str]:
    overrides = {}
    for value in values:
        name, sep, text = value.partition("=")
        if not sep or not name.strip():
            raise ParmError(f"--set takes NAME=VALUE, not {value!r}")
        overrides[name.strip()] = text
    return overrides


@click.command("cook", short_help="Cook a graph file, or one node and what it needs.")
@click.argument("graph", type=click.Path(dir_okay=False))
@click.argument("node", required=False)
@click.option("--set", "sets", multiple=True, metavar="NAME=VALUE", help="Override a graph parameter (repeatable).")
@click.option(
    "--jobs",
    "-j",
    type=click.IntRange(min=1),
    help="Worker threads for in-process items (default: CPU count); a second one starts beside "
    "a task that has run 2 ms (short Python items only trade the GIL).",
)
@store_option
@click.option(
    "--sync",
    type=click.Choice(["normal", "full"]),
    default="normal",
    show_default=True,
    help="full: fsync every batch (survives power loss, slower).",
)
@click.option("--dry-run", is_flag=True, help="Say what would run and why; run nothing, write nothing.")
@click.option(
    "--auto-compact",
    is_flag=True,
    envvar="PDG_AUTO_COMPACT",
    help="After the cook, fold old history away when the log has grown far larger than the state "
    "(keeps the last 10 cooks; see pdg compact).",
)
@click.option(
    "--static",
    is_flag=True,
    help="Generate every work item that can be known first, then hand the whole graph to the "
    "schedulers (on_schedule_static).",
)
@click.option(
    "--scheduler",
    metavar="NAME",
    help="Run every node on this scheduler: one the graph declares, or a type with its defaults "
    "(dask: a LocalCluster sized to this machine; local; inprocess).",
)
@click.option(
    "--generate-only",
    is_flag=True,
    help="PDG's Generate Static Work Items: generate and record every work item that can be known "
    "before anything runs, print how many each node has, and run nothing.",
)
@json_option
def command(
    graph, node, sets, jobs, db, sync, dry_run, auto_compact, static, scheduler, generate_only, as_json
) -> None:
    """Cook GRAPH (a Python graph file), or only NODE and what it needs upstream.

    Only what changed runs again: items whose input files, parameters or code changed (and what
    depends on what they make); everything else is reused. Prints a summary (or one JSON object
    with --json); exits 0 on success, 1 when items failed, 130 when cancelled (Ctrl-C, SIGTERM or SIGHUP).
    """
    exclusive(("--dry-run", dry_run), ("--generate-only", generate_only), "; --generate-only records work items")
    typed = click.get_current_context().get_parameter_source("auto_compact") == ParameterSource.COMMANDLINE
    # $PDG_AUTO_COMPACT (a standing wish) is not a --auto-compact typed beside --dry-run
    exclusive(("--dry-run", dry_run), ("--auto-compact", auto_compact and typed), "; --auto-compact changes the store")
    overrides = parse_sets(sets)
    if dry_run:
        with render.json_stdout(as_json):  # what the graph file prints: to stderr
            plan = plan_file(graph, db=db, node=node, overrides=overrides, here=render.here)
        _print_plan(plan, as_json, f"pdg cook {graph}{' ' + node if node else ''} --dry-run | less")
        return
    return_large_blocks()
    # until the cook's first batch is written the line says what it is doing, not "0 of 1": in a
    # 19 s full-walk recook at W(100,000), 5 s finding what changed, then 8 s generating items
    line = progress.Line(f"{graph}: finding what changed since the last cook") if progress.wanted(as_json) else None
    # SIGTERM and SIGHUP cancel like Ctrl-C (``stopsignals``): the jobs' process groups are killed,
    # the items recorded cancelled, nothing is left running; one ignored (nohup) stays ignored
    previous: dict = {}

    def on_cook(cook) -> None:
        def interrupt(signum, frame) -> None:
            if cook.is_cancelled:
                cook.grace_s = 0  # a second signal: stop waiting for running items
            cook.cancel(stopsignals.why(signum))

        stopsignals.catch(interrupt, previous)
        # told at once: the cook waits for its in-process items to end, which may take long
        cook.notice = lambda message: click.echo(f"pdg: {message}", err=True)
        if line is not None:
            cook.settle.phase = lambda what, known: line.report(what, known, 0)

    try:
        if line is not None:
            line.start()
        with render.json_stdout(as_json):  # what the graph's own code prints: to stderr
            summary = cook_file(
                graph,
                db=db,
                node=node,
                jobs=jobs,
                overrides=overrides,
                synchronous=sync.upper(),
                progress=_counts(line) if line is not None else None,
                on_cook=on_cook,
                auto_compact=auto_compact,
                static=static,
                scheduler=scheduler,
                generate_only=generate_only,
            )
    except KeyboardInterrupt:  # Ctrl-C before the cook began (while the graph file loaded): nothing written
        click.echo("pdg: cook interrupted before it started; nothing was recorded", err=True)
        sys.exit(130)
    finally:
        stopsignals.restore(previous)
        if line is not None:
            line.stop()

    db_path = os.path.abspath(db) if db else store_beside(graph)
    if as_json:
        data = summary.to_json()
        data["store"] = render.here(db_path)
        data["results"] = render.here_all(summary.results)
        render.emit_json(data)
    elif summary.generated is not None:
        _print_generated(summary, db_path)
    else:
        _print_summary(summary, db_path)
    sys.exit(EXIT_CODES[summary.status])


def _print_generated(summary, db_path: str) -> None:
    """``--generate-only``: a table of the items each node holds now, and when the rest come."""
    t = render.table("node", "items", "generate when", title=f"cook {summary.cook_id}: static work items")
    total = 0
    for name, row in summary.generated.items():  # the mode as --json says it (docs/generate_when.md)
        t.add_row(name, f"{row['items']:,}", row["mode"])
        total += row["items"]
    render.out.print(t)
    render.say(f"{total:,} work items generated; nothing ran (pdg cook runs them)")
    why = render.cook_failure(summary)  # said below, as why it failed
    _say_warnings([w for w in summary.warnings if w != why], f"pdg history {summary.cook_id}")
    if summary.status != "success":
        render.say(f"  {summary.message}", style=render.STATE_STYLES.get(summary.status))
    render.say(f"store: {render.here(db_path)}", style="dim")


def _print_summary(summary, db_path: str) -> None:
    render.say(render.cook_line(summary), style=render.STATE_STYLES.get(summary.status))
    if why := render.cook_failure(summary):  # said as what failed, not among the warnings
        render.say(f"  failed: {why}")
    for failed in summary.failed_items[:10]:
        render.say(f"  failed: {failed['name']} ({failed['node']}, {failed['item_id']}): {failed['error']}")
    if len(summary.failed_items) > 10:
        render.say(f"  ... and {len(summary.failed_items) - 10} more (pdg items --state cooked_fail)")
    if summary.message and summary.status != "failed":
        render.say(f"  {summary.message}")
    _say_warnings([w for w in summary.warnings if w != why], f"pdg history {summary.cook_id}")
    if summary.compacted:
        done = summary.compacted
        render.say(
            f"  compacted the log: folded {done['events_removed']:,} events up to seq {done['cut']} "
            f"({done['bytes_before'] / 1e6:.1f} -> {done['bytes_after'] / 1e6:.1f} MB)",
            style="dim",
        )
    results = summary.results
    if results:
        render.say("results:", err=False)
        for path in results[:20]:
            render.say(f"  {render.here(path)}", err=False)
        if len(results) > 20:
            render.say(f"  ... and {len(results) - 20} more (pdg items)", err=False)
    render.say(f"store: {render.here(db_path)} (pdg status, pdg items, pdg show ITEM, pdg history)", style="dim")


def _print_plan(plan: dict, as_json: bool, every: str) -> None:
    """The plan of ``pdg cook --dry-run`` (``every``: that command into a pager, for a long one)."""
    if as_json:
        render.emit_json(plan)
        return
    rows = plan["items"]
    if rows:
        render.listing(
            ("action", "item", "node", "cache state", "why"),
            ([r["action"], r["name"], r["node"], r["cache_state"], r["why"] or ""] for r in rows),
            what="items",
            every=every,
            total=lambda: len(rows),
            title="what a cook would do",
        )
    else:  # an empty answer on stdout reads as "did it even look?"
        render.out.print(f"nothing would run: all {plan['counts']['reuse']} items are up to date")
    c = plan["counts"]
    render.err.print(
        f"would run {c['run']}, update {c['update']}, take {c['cache']} from cache, fail {c['fail']}, "
        f"remove {c['remove']}; reuse {c['reuse']}; {c['pending']} pending (they run only if what "
        "they depend on makes different files)"
    )
    _say_warnings(plan["warnings"], "--json lists them all")


#: the warnings a cook's summary or a dry run prints (``pdg history COOK`` and ``--json`` have them all)
WARNINGS_SHOWN = 5


def _say_warnings(warnings: list[str], where: str) -> None:
    """The first ``WARNINGS_SHOWN`` of ``warnings``, then how many more there are and ``where``
    they all are: a warning is never dropped without a word."""
    for warning in warnings[:WARNINGS_SHOWN]:
        render.say(f"  warning: {warning}", style="yellow")
    if len(warnings) > WARNINGS_SHOWN:
        render.say(f"  ... and {len(warnings) - WARNINGS_SHOWN} more warnings ({where})", style="yellow")


def _counts(line: progress.Line):
    """The cook's counts (items settled, of those known) for ``line``; none known yet (0 of 0)
    leaves what the line says: the phase the walk told it."""

    def update(done: int, total: int) -> None:
        if total:
            line.report("cooking", done, total)

    return update
