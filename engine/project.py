"""Where a project's store is, and the one call that cooks a graph file into it.

The store defaults to ``.pdg/pdg.db`` beside the graph file; ``--db PATH`` or ``PDG_DB`` override it.
Commands that need only the store find ``.pdg/pdg.db`` in the current directory or a parent, as git
finds ``.git``.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import TYPE_CHECKING

from pdgstore.engine.cook.summary import CookSummary
from pdgstore.engine.errors import UnknownNode
from pdgstore.engine.graph.api import Graph
from pdgstore.engine.graph.loader import load_graph
from pdgstore.engine.incremental import decide, delta, grown, manifest
from pdgstore.engine.incremental.signatures import why_members

from pdgstore import locate
from pdgstore.log import EventLog
from pdgstore.paths import display_path
from pdgstore.queries import JSON_SCHEMA

if TYPE_CHECKING:
    from pdgstore.engine.cook.loop import Cook

# finding and opening a store is pdgstore's (``pdgstore.locate``); kept here under their old names
STORE_DIR, STORE_FILE = locate.STORE_DIR, locate.STORE_FILE
store_beside, find_store, open_store = locate.store_beside, locate.find_store, locate.open_store


def cook_file(
    graph_path: str,
    *,
    db: str | None = None,
    node: str | None = None,
    jobs: int | None = None,
    overrides: dict | None = None,
    progress: Callable[[int, int], None] | None = None,
    on_cook: Callable[[Cook], None] | None = None,
    synchronous: str = "NORMAL",
    auto_compact: bool = False,
    static: bool = False,
    scheduler: str | None = None,
    generate_only: bool = False,
) -> CookSummary:
    """Load the graph file, open (or create) its store as the writer, and cook it (every node on
    ``scheduler`` when given: see engine.schedulers.choose).

    Everything that can be refused (the graph file, ``--set`` values, the node name) is checked
    before the store is touched, so a refused cook writes nothing.
    """
    graph = load_graph(graph_path, overrides)
    _check_node(graph, node, f"{display_path(graph_path)}: ")
    if scheduler:
        from pdgstore.engine.schedulers.choose import run_everything_on

        run_everything_on(graph, scheduler)
    return cook_graph(
        graph,
        db=db or os.environ.get("PDG_DB") or store_beside(graph_path),
        node=node,
        jobs=jobs,
        progress=progress,
        on_cook=on_cook,
        synchronous=synchronous,
        auto_compact=auto_compact,
        static=static,
        generate_only=generate_only,
    )


def cook_graph(
    graph: Graph,
    *,
    db: str,
    node: str | None = None,
    jobs: int | None = None,
    progress: Callable[[int, int], None] | None = None,
    on_cook: Callable[[Cook], None] | None = None,
    synchronous: str = "NORMAL",
    auto_compact: bool = False,
    static: bool = False,
    generate_only: bool = False,
) -> CookSummary:
    """Cook a Graph built in Python (no graph file needed) into the store at ``db``.

    ``auto_compact``: afterwards, fold old history away if ``pdgstore.compact.should_compact`` says
    the log has grown several times larger than the state it holds (keeping the last 10 cooks).
    ``static``: generate every item that can be known first, then hand the graph to the schedulers
    (``engine.cook.static``). ``generate_only``: PDG's "Generate Static Work Items": generate and
    record every item that can be known before anything runs, run nothing (the summary's
    ``generated`` counts them per node)."""
    graph.check_overrides()
    graph.validate()
    with graph.holding_description():  # refuses parameters the log cannot hold, before the store is touched
        _check_node(graph, node)
        return _cook_into(graph, db, node, jobs, progress, on_cook, synchronous, auto_compact, static, generate_only)


def _cook_into(
    graph: Graph,
    db: str,
    node: str | None,
    jobs: int | None,
    progress: Callable[[int, int], None] | None,
    on_cook: Callable[[Cook], None] | None,
    synchronous: str,
    auto_compact: bool,
    static: bool,
    generate_only: bool,
) -> CookSummary:
    """``cook_graph`` once the graph is checked and its description held."""
    with EventLog.open(db, writer=True, create=True, synchronous=synchronous) as log:
        summary, cook = cook_in(
            log,
            graph,
            node=node,
            jobs=jobs,
            progress=progress,
            on_cook=on_cook,
            static=static,
            generate_only=generate_only,
        )
        if auto_compact and cook is not None:
            from pdgstore import compact as compaction  # only here: most cooks never compact

            if compaction.should_compact(log, log.item_count() + len(cook.state.cooks)):
                plan = compaction.plan(log, keep_cooks=compaction.AUTO_KEEP_COOKS)
                if plan.events:
                    summary.compacted = compaction.compact(log, plan)
        return summary


def cook_in(
    log: EventLog,
    graph: Graph,
    *,
    node: str | None = None,
    jobs: int | None = None,
    progress: Callable[[int, int], None] | None = None,
    on_cook: Callable[[Cook], None] | None = None,
    static: bool = False,
    generate_only: bool = False,
    trigger: dict | None = None,
    changed: list[str] | None = None,
    save_manifest: bool = True,
) -> tuple[CookSummary, Cook | None]:
    """Cook the checked ``graph`` into ``log``, opened as the writer: (its summary, the cook; None
    when the no-op manifest proved the no-op and no cook ran).

    ``trigger``: the ``CookTriggered`` fields of a cook a watcher or a schedule started.
    ``changed``: a watcher's word (``pdg watch``): these recorded files, and no other, changed since
    the state the log ends with; the cook stats them and starts its delta walk from them, instead
    of the no-op manifest's stat scan of every recorded file (``delta.Scan``). ``save_manifest``:
    write the graph's no-op manifest after a cook that succeeded (a watcher writes its own later,
    once changes stop coming: ``engine.live.writer``)."""
    scan = delta.told(log, graph.root, changed) if changed and not (static or generate_only) else None
    if scan is None and not static and not generate_only:
        summary, scan = manifest.try_noop(log, graph, jobs=jobs, node=node, trigger=trigger)
        if summary is not None:
            return summary, None
    from pdgstore.engine.cook.loop import Cook  # here: a no-op proven by the manifest needs none of it

    cook = Cook(
        log,
        graph,
        node=node,
        jobs=jobs,
        progress=progress,
        static=static,
        scan=scan,
        generate_only=generate_only,
        trigger=trigger,
    )
    if on_cook is not None:
        on_cook(cook)

    def save(summary: CookSummary) -> None:
        # a cook of one node writes one too when it left the whole graph consistent: else the
        # next cook of the graph, finding none, would read and walk every item
        whole = node is None
        if summary.status == "success" and not generate_only and (whole or cook.left_consistent):
            scan, touched = cook.scan, cook.touched()
            added, dropped = grown.of_walk(cook.walk)
            since = (
                manifest.Since(scan.manifest, touched, scan.same_graph, scan.results, added, dropped)
                if touched is not None and scan is not None and scan.manifest is not None
                else None
            )
            results = summary.results if whole else cook.graph_results()
            # a cold cook that recorded no file attribute: no item holds one (none to look for)
            none_held = cook.settle.cold and not cook.recorder.file_attrs_seen
            manifest.save(cook.recorder, graph, cook.state, results, since, attr_files_held=not none_held)

    return cook.run(after=save if save_manifest else None), cook


def plan_file(
    graph_path: str,
    *,
    db: str | None = None,
    node: str | None = None,
    overrides: dict | None = None,
    here: Callable[[str], str] | None = None,
) -> dict:
    """``pdg cook --dry-run``: what a cook would run and why, without running or writing anything.

    The store is only read (no writer lock, nothing appended, no snapshot); a store that does not
    exist yet means every item is new. Items downstream of an item that would run are ``pending``:
    whether they run depends on what it makes (early cutoff), which only running it can tell.
    """
    graph = load_graph(graph_path, overrides)
    _check_node(graph, node, f"{display_path(graph_path)}: ")
    graph.check_overrides()
    graph.validate()
    graph.describe()
    path = db or os.environ.get("PDG_DB") or store_beside(graph_path)
    from pdgstore.engine.cook.loop import Cook

    if os.path.exists(path):
        # one reading of the log for the whole plan: its items are read as the walk reaches them,
        # and the manifest's scan lets an unchanged graph be planned without reading any
        with EventLog.open(path) as log, log.one_reading():
            scan = manifest.try_noop(log, graph, scan_only=True)[1]
            cook, _decisions = Cook.plan(log, graph, node=node, scan=scan)
    else:
        cook, _decisions = Cook.plan(None, graph, node=node, store_dir=os.path.dirname(path))
    assert cook.summary is not None, "a planned cook has run"
    return plan_of(cook, cook.summary, here)


def plan_of(cook: Cook, summary: CookSummary, here: Callable[[str], str] | None = None) -> dict:
    """The dry run's answer: counts per action, and one row per item that would not simply be
    reused (a recook of 100,000 items lists the handful that change, not the rest). ``here``: how
    the reasons name files (``reasons.shown``)."""
    from pdgstore import reasons

    state = cook.state
    path = reasons.shown(cook.graph.root, here)
    name = lambda i: state.items[i].name if i in state.items else i  # noqa: E731
    rows = []
    # the items reused, decided or kept in bulk without a decision each (a delta walk's, a proven
    # no-op's: counted, never listed)
    reused = summary.counts["reused"]
    for item_id, (action, reason) in cook.decisions.items():
        if action == "reuse":
            continue
        item = state.items.get(item_id)
        named = reason  # a removed item is gone from the state: its decision names it
        if action == "remove":
            reason = {"message": reason.get("message", "")}
        rows.append(
            {
                "item_id": item_id,
                "name": item.name if item else named.get("name", item_id),
                "node": item.node if item else named.get("node", ""),
                "action": action,
                "cache_state": reason.get("cache_state", ""),
                "reason": reason,
                "why": reasons.describe(reason, name, path)
                if reason and action in ("run", "update")
                else reason.get("message", ""),
            }
        )
    # A dry run stops deciding at what would run; the recorded items it did not reach are pending
    # only when something they were made from (a parent, a partition's member) would change or is
    # pending itself. The rest cannot be touched by this cook: reused, not listed (a partition of
    # other letters does not wait on an edit to one file). Nodes come in topological order.
    # Of those, an item with work that runs whatever they make (it has no result to reuse, its node
    # changed) is listed as it will run (``decide.runs_anyway``), as the cook will count it.
    # An item the walk generated or placed in this cook but did not decide waits on items that would
    # run: a partition placed with a new member (a wait-for-all over a new file's item) is merged
    # anew once they cooked, so it is listed as updated, with what changed in its members. A
    # partitioner that groups by what its members make (dynamic partitioning) has not partitioned
    # at all: a new item upstream may join any of its partitions, which are pending.
    decided = set(cook.decisions)
    moving = {i for i, (action, _) in cook.decisions.items() if action not in ("reuse", "remove")}
    # new items that would be made (in walk order): what a partition not yet made may take
    fresh = {
        i: None for i, (a, r) in cook.decisions.items() if a in ("run", "update", "cache") and r.get("cause") == "new"
    }
    walk = cook.walk
    node_reasons = walk.items.node_reasons if walk is not None and walk.items is not None else {}
    placed_before = walk.partition_prev if walk is not None else {}
    for run in cook.runs.values() if not cook.reused_all else ():
        node = run.node.name
        works = getattr(run.node, "does_work", False)  # a processor's (a partition merges, never runs)
        is_partitioner = bool(getattr(run.node, "is_partitioner", False))
        joined: list[str] | None = None if is_partitioner and not run.generated else []  # (found when asked)
        for item_id in state.item_ids_of(cook.graph.name, node):
            if item_id in decided or (walk is not None and walk.affected is not None and walk.is_kept(item_id, node)):
                continue  # (by id: the decided and kept items, most of the store, are not read)
            item = state.items[item_id]
            if item.cook_id == cook.cook_id and is_partitioner:  # placed in this cook, waiting
                moving.add(item_id)
                reason = _placed_reason(item, placed_before.get(item_id, (None, {}))[0], node_reasons.get(node))
                if reason.get("cause") == "new":
                    fresh[item_id] = None
                rows.append(_row(item, "update", reason, reasons.describe(reason, name, path)))
                continue
            if item.cook_id == cook.cook_id:  # recorded ahead of its parents, which would run
                fresh[item_id] = None
            elif not moving.intersection(item.parents):  # nothing it was made from would change
                if not (joined := _joining(joined, fresh, run, state)):
                    reused += 1
                    continue
                moving.add(item_id)
                if getattr(run.node, "type_name", "") == "wait_for_all":  # every upstream item joins it
                    reason = reasons.members(joined, [], [])
                    rows.append(_row(item, "update", reason, reasons.describe(reason, name, path)))
                    continue
                news = ", ".join(name(i) for i in joined[:3]) + (" ..." if len(joined) > 3 else "")
                why = f"a new item upstream would run ({news}): it may join this partition once it cooked"
                rows.append(_row(item, "pending", {}, why))
                continue
            moving.add(item_id)
            anyway = works and decide.runs_anyway(
                item,
                mode=getattr(run.node, "cache_mode", "automatic"),
                node_reason=node_reasons.get(node),
                expects_files=bool(getattr(run.node, "expected_outputs", ())),
            )
            if anyway:
                rows.append(_row(item, "run", anyway, reasons.describe(anyway, name, path)))
            else:
                rows.append(_row(item, "pending", {}, _PENDING))
    counts = {a: 0 for a in ("run", "update", "cache", "reuse", "fail", "remove", "pending")}
    counts["reuse"] = reused
    for row in rows:
        counts[row["action"]] += 1
    return {
        "schema": JSON_SCHEMA,
        "graph": cook.graph.name,
        "node": cook.target or "",
        "counts": counts,
        "items": rows,
        "warnings": summary.warnings,
    }


_PENDING = "an item it depends on would run; it runs unless that makes the same files"


def _joining(joined: list[str] | None, fresh: dict, run, state) -> list[str]:
    """The new items of ``run``'s upstream nodes that a partition of it not made yet may take
    (``joined`` once found; the first few are enough to name, and most partitioners have none)."""
    if joined is not None:
        return joined
    inputs = run.node.inputs
    found = []
    for item_id in fresh:
        if state.items[item_id].node in inputs:
            found.append(item_id)
            if len(found) > 3:
                break
    return found


def _row(item, action: str, reason: dict, why: str) -> dict:
    """One row of the dry run's answer: ``item`` (its record), what the cook would do with it, why."""
    cache_state = "clean_pending" if action == "pending" else reason.get("cache_state", "")
    return {
        "item_id": item.item_id,
        "name": item.name,
        "node": item.node,
        "action": action,
        "cache_state": cache_state,
        "reason": reason,
        "why": why,
    }


def _placed_reason(item, prev, node_reason: dict | None) -> dict:
    """Why a partition placed in this cook (``item``) is merged anew once its members cooked:
    ``prev``, its record before (``decide.record_of``), merged other members, or none."""
    from pdgstore import reasons

    if prev is None:
        return decide.new_item(node_reason)
    if prev.parents != item.parents:
        return why_members(prev.parents, item.parents, set())
    return decide.stale_reason(prev, node_reason) or reasons.upstream()


def _check_node(graph: Graph, node: str | None, where: str = "") -> None:
    if node is not None and node not in graph.nodes:
        raise UnknownNode(
            f"{where}graph {graph.name} has no node {node} (its nodes: {', '.join(graph.nodes) or 'none'})"
        )


__all__ = ["cook_file", "cook_graph", "find_store", "open_store", "store_beside", "display_path"]
