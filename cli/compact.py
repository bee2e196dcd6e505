"""``pdg compact``: fold old history into a snapshot to give the space back."""

from __future__ import annotations

import click
from pdgstore.cli import progress, render
from pdgstore.cli.options import db_option, exclusive, json_option
from pdgstore.engine.project import find_store

from pdgstore import compact as compaction
from pdgstore import refs
from pdgstore.log import EventLog
from pdgstore.queries import JSON_SCHEMA


@click.command("compact", short_help="Fold old history into a snapshot (keeps the current state).")
@click.option("--keep-cooks", type=int, metavar="N", help="Keep the events of the last N cooks (default 10).")
@click.option("--before", "before", metavar="REF", help="Fold everything up to REF (a seq, cook:ID, cook~N, a time).")
@click.option("--dry-run", is_flag=True, help="Say what would be folded and how much it would reclaim; change nothing.")
@db_option
@json_option
def command(keep_cooks, before, dry_run, db, as_json) -> None:
    """Fold the history before the last N cooks (or before REF) into one snapshot, in one transaction,
    then give the space back. The current state and the kept cooks are untouched (pdg check still
    passes); time travel, diff and replay before the cut are no longer possible."""
    exclusive(("--keep-cooks", keep_cooks), ("--before", before))
    path = find_store(db)
    with EventLog.open(path, writer=not dry_run) as log:
        point = refs.resolve(log, before) if before is not None else None
        if point is not None:
            plan = compaction.plan(log, before=point.seq)
        else:
            plan = compaction.plan(log, keep_cooks=10 if keep_cooks is None else keep_cooks)
        result = None
        if not dry_run:  # 42 s at W(100,000): a terminal is told how far it got
            with progress.shown("compacting", as_json) as line:
                result = compaction.compact(log, plan, report=line.report if line is not None else None)
        store = render.here(log.path)
        nothing_before = _nothing_before(log, point) if plan.events == 0 and point is not None else ""
    if as_json:
        render.emit_json(
            {"schema": JSON_SCHEMA, "store": store, "dry_run": dry_run, "plan": plan.to_json(), "result": result}
        )
        return
    if plan.events == 0:
        keep = 10 if keep_cooks is None else keep_cooks
        if before is None and plan.cooks_kept <= keep:  # the usual case on a young store: say why in its terms
            cooks = render.count(plan.cooks_kept, "cook")
            render.err.print(f"{store}: nothing to fold: the log holds only {cooks}, and --keep-cooks keeps {keep}")
        elif nothing_before:
            render.err.print(f"{store}: nothing to fold: {nothing_before}")
        else:
            render.err.print(f"{store}: nothing to fold (the history before seq {plan.cut + 1} is already folded)")
        return
    if dry_run:
        render.out.print(
            f"{store}: would fold {plan.events:,} events up to seq {plan.cut} ({plan.cooks_folded} cooks; "
            f"{plan.cooks_kept} kept) into a snapshot, reclaiming about {_mb(plan.bytes)} of {_mb(plan.store_bytes)}"
        )
        return
    assert result is not None  # not a dry run
    render.out.print(
        f"{store}: folded {result['events_removed']:,} events up to seq {plan.cut} into a snapshot in "
        f"{result['seconds']:.2f} s; {_mb(result['bytes_before'])} -> {_mb(result['bytes_after'])}"
    )


def _nothing_before(log: EventLog, point: refs.Point) -> str:
    """Why a cut at ``point`` folds nothing when the log never held an event before it ('' when
    the history before it was folded already): the sentence every REF before the first event gets."""
    if refs.before_first_event(point):
        return refs.held_nothing(log, point, store="it")
    if point.seq < log.first_seq() and not log.base_seq():
        return f"no event comes at or before seq {point.seq} (the log begins at seq {log.first_seq()})"
    return ""


def _mb(n: int) -> str:
    return f"{n / 1e6:.1f} MB" if n >= 100_000 else f"{n / 1e3:.1f} kB"
