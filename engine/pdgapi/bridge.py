"""Where PDG's API meets the cook's dispatch: what a scheduler set through ``pdg.WorkItem`` in
``onSchedule`` becomes events, the static cook's maps become maps of work items, and a job's
``getWorkItemJSON`` is answered. Called on the cook's loop (the one thread that records).
"""

from __future__ import annotations

import json

from pdgstore.engine.errors import error_line, utf8_safe
from pdgstore.engine.files import records as files
from pdgstore.engine.files.confine import ALLOW_ENV, Confine, outside_allowed
from pdgstore.engine.graph.workitem import WorkItem as EngineWorkItem
from pdgstore.engine.pdgapi.items import WorkItem
from pdgstore.engine.schedulers.contract import Scheduler

from pdgstore import events as ev


def record_writes(emit, graph, scheduled, ids: list[str] | None = None, confine: Confine | None = None) -> None:
    """The attributes, output files (stat handlers see the item) and log lines a scheduler set on
    ``scheduled`` through PDG's API, recorded as the item's own (``ids``: a batch's sub-items, each
    gets them); the item's pending lists emptied. ``confine``: the project's bounds (and its
    schedulers' working folders): an output outside them is not recorded, and the item's log says
    why (``PDG_ALLOW_OUTSIDE=1`` allows it, as for a job's outputs)."""
    for item_id in ids or [scheduled.id]:
        for name, attr in scheduled.changed.items():
            emit(ev.WorkItemAttribSet, item_id=item_id, name=name, attr=attr)
        for path, tag in scheduled.new_outputs:
            problem = confine.problem(path) if confine is not None and not outside_allowed() else ""
            if problem:
                text = (
                    f"work item {scheduled.name}: its scheduler added output file {problem}; not recorded "
                    f"(outputs stay inside the project; {ALLOW_ENV}=1 allows outside paths)"
                )
                emit(ev.WorkItemLogged, item_id=item_id, level="warning", text=text)
                continue
            try:
                record = files.record(path, graph.root, tag, types=graph.types, item=scheduled.item)
            except FileNotFoundError:
                text = f"work item {scheduled.name}: its scheduler added output file {path}, which does not exist"
                emit(ev.WorkItemLogged, item_id=item_id, level="warning", text=text)
                continue
            emit(ev.WorkItemOutputAdded, item_id=item_id, outputs=[record])
        for level, text in scheduled.logs:
            emit(ev.WorkItemLogged, item_id=item_id, level=level, text=utf8_safe(text))
    scheduled.changed, scheduled.new_outputs, scheduled.logs = {}, [], []


def _engines_own(scheduler) -> bool:
    """A scheduler type of the engine's (they name a job's log when it starts, not by ``get_log_uri``)."""
    return type(scheduler).__module__.startswith("pdgstore.engine.schedulers")


def gives_uris(scheduler) -> bool:
    """Whether ``record_uris`` may record anything for ``scheduler``'s items: it has its own
    ``get_status_uri``, or it is not the engine's own (then its ``get_log_uri`` is asked too). The
    engine's in-process scheduler has neither, and a cook asks it for every one of its items."""
    return not _engines_own(scheduler) or type(scheduler).get_status_uri is not Scheduler.get_status_uri


def record_uris(emit, scheduler, scheduled, ids: list[str] | None = None) -> None:
    """``get_status_uri`` (seed 002: shown in the item's details) and, for schedulers that are not
    the engine's own (those name the log when the job starts), ``get_log_uri``: recorded as the
    item's ``status:`` / ``log:`` lines (``ids``: a batch's sub-items), so ``pdg show`` names them."""
    lines = []
    uri = scheduler.get_status_uri(scheduled)
    if uri:
        lines.append(f"status: {uri}")
    if not _engines_own(scheduler):
        uri = scheduler.get_log_uri(scheduled)
        if uri:
            lines.append(f"log: {uri}")
    for item_id in ids or [scheduled.id]:
        for text in lines:
            emit(ev.WorkItemLogged, item_id=item_id, level="info", text=text)


def static_maps(plan, ready: list, state, nodes) -> tuple[dict, dict]:
    """The static plan's maps as seed 002 gives them: ``pdg.WorkItem`` -> set of ``pdg.WorkItem``.
    The ready items are the ``ScheduledItem``s handed over with them; a work item equals (and
    hashes as) its id, so the maps answer to ids too."""
    known = {s.id: s for s in ready}
    items = plan.items if isinstance(plan.items, dict) else {p.item_id: p for p in plan.items}

    def item(item_id: str):
        found = known.get(item_id)
        if found is None:
            record = state.items.get(item_id) or items.get(item_id)
            found = WorkItem(record, nodes.get(getattr(record, "node", ""))) if record else item_id
            known[item_id] = found
        return found

    dependencies = {item(k): {item(d) for d in v} for k, v in plan.dependencies.items()}
    dependents = {item(k): {item(d) for d in v} for k, v in plan.dependents.items()}
    return dependencies, dependents


def item_json(dispatch, item_id: str, done) -> None:
    """Answer a job's ``getWorkItemJSON``: its item as the engine serializes it (read only)."""
    from pdgstore.engine.schedulers import jobdata

    try:
        scheduled = dispatch.scheduled_item(item_id)
        item = scheduled.item
        if scheduled.run is not None:  # an in-process item: its JSON is made from a view of it
            item = EngineWorkItem.view_of(item, dispatch.host.graph.root)
        done(json.dumps(jobdata.item_data(item, scheduled.node)))
    except Exception as exc:  # noqa: BLE001 - the job hears why
        done(ValueError(f"work item {item_id}: {error_line(exc)}"))
