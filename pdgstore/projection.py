"""The fold: ``apply(state, event)`` is the only place state changes, for live cooks and replay alike.

Each event kind has one function here, registered in ``APPLY``. They are pure in the sense that
matters: given the same state and event they make the same change, reading nothing else (no clock,
no files). ``replay(events, state)`` folds a stream of events into a state.

``apply`` takes ownership of the lists and dicts an event carries (the state keeps them rather than
copying them: replay is the hot path). The log encodes an event before it is applied, so a later
change to those containers can never reach the log; nobody else may change them.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from itertools import repeat

from pdgstore import codec, patches
from pdgstore import events as ev
from pdgstore.events import DONE_STATES
from pdgstore.state import ACCEPTED, EMPTY_MAP, CookRecord, GraphInfo, Item, State, own_dict, paused_gc

APPLY: dict[str, Callable[[State, ev.Event], None]] = {}


def applies(cls):
    def wrap(fn):
        APPLY[cls.kind] = fn
        return fn

    return wrap


def apply(state: State, event: ev.Event) -> None:
    APPLY[event.kind](state, event)
    state.seq = event.seq


def replay(events: Iterable[ev.Event], state: State | None = None) -> State:
    """Fold ``events`` into ``state`` (a new one when None) and return it.

    The cyclic garbage collector is paused meanwhile (see ``paused_gc``).
    """
    state = State() if state is None else state
    table = APPLY
    with paused_gc():
        for event in events:
            table[event.kind](state, event)
            state.seq = event.seq
    return state


def replay_rows(rows: Iterable[tuple], state: State | None = None) -> State:
    """``replay`` straight from the log's rows ``(seq, time_ns, cook_id, graph, kind, payload)``:
    the same fold, decoding each row as it comes (no generator between the cursor and ``apply``).

    The common row (a known kind, its current version, every field present) is decoded inline, as
    ``codec.build`` would: this loop is the replay rate ``pdg check`` and every read command pay."""
    state = State() if state is None else state
    fast = {kind: (cls, cls.version, cls._width, APPLY[kind]) for kind, cls in ev.REGISTRY.items()}
    build = codec.build
    unpack = codec.unpack
    new = object.__new__
    set_dict = object.__setattr__  # events are frozen: set their __dict__ beneath the dataclass
    seq = None
    with paused_gc():
        for seq, time_ns, cook_id, graph, kind, blob in rows:
            known = fast.get(kind)
            if known is None:
                build(kind, seq, time_ns, cook_id, graph, blob)  # raises: a kind this code does not know
            cls, version, width, apply = known  # type: ignore[misc]  # build() raised for None
            payload = unpack(blob, raw=False)
            if payload.pop("v", 1) != version or len(payload) != width:
                event = build(kind, seq, time_ns, cook_id, graph, blob)
            else:
                payload["seq"] = seq
                payload["time_ns"] = time_ns
                payload["cook_id"] = cook_id
                payload["graph"] = graph
                event = new(cls)
                set_dict(event, "__dict__", payload)
            apply(state, event)
    if seq is not None:
        state.seq = seq
    return state


@applies(ev.GraphLoaded)
def _graph_loaded(state: State, e: ev.GraphLoaded) -> None:
    state.graphs[e.graph] = GraphInfo(e.graph, e.path, e.root, e.nodes, e.parms, e.seq, e.working_dirs)


@applies(ev.CookStarted)
def _cook_started(state: State, e: ev.CookStarted) -> None:
    state.cooks[e.cook_id] = CookRecord(e.cook_id, e.graph, e.node, e.jobs, e.pid, e.overrides, e.time_ns)


@applies(ev.CookStaticPlanned)
def _cook_static_planned(state: State, e: ev.CookStaticPlanned) -> None:
    state.cooks[e.cook_id].static = {
        "items": e.items,
        "dependencies": e.dependencies,
        "ready": e.ready,
        "dynamic_nodes": list(e.dynamic_nodes),
    }


@applies(ev.CookFinished)
def _cook_finished(state: State, e: ev.CookFinished) -> None:
    cook = state.cooks[e.cook_id]
    cook.ended_ns = e.time_ns
    cook.status = e.status
    cook.message = e.message
    cook.counts = e.counts
    cook.consistent = e.consistent
    cook.nodes = None if e.nodes is None else list(e.nodes)


@applies(ev.CookWarning)
def _cook_warning(state: State, e: ev.CookWarning) -> None:
    cook = state.cooks.get(e.cook_id)
    if cook is not None:
        cook.warnings += 1


@applies(ev.NodeDirtied)
def _node_dirtied(state: State, e: ev.NodeDirtied) -> None:
    items = state.items
    for item_id in state.node_items.get((e.graph, e.node), ()):
        item = items[item_id]
        item.state = "dirty"
        item.cook_id = e.cook_id


@applies(ev.NodeGenerated)
@applies(ev.NodeCooked)
def _node_fact(state: State, e: ev.Event) -> None:
    """Node-level facts are kept in the log for history and handlers; item state already says it."""


@applies(ev.WorkItemGenerated)
def _item_generated(state: State, e: ev.WorkItemGenerated) -> None:
    if e.patched:
        patches.resolve(e, state.items.get(e.item_id))
    state.items[e.item_id] = Item(
        e.item_id,
        e.graph,
        e.node,
        e.name,
        e.index,
        e.parents,
        e.attrs,
        e.inputs,
        e.outputs,
        e.state,
        e.cook_id,
        signature=e.signature,
    )
    _add_ids(state, (e.graph, e.node), (e.item_id,))


def _add_ids(state: State, key: tuple[str, str], ids: Iterable[str]) -> None:
    """``ids`` generated in node ``key``: last in its order unless there already. A cook's state
    (``pdgstore.cookstate``) adds them without reading the node's ids."""
    node_items = state.node_items
    add = getattr(node_items, "add", None)
    if add is not None:
        add(key, ids)
        return
    index = node_items.get(key)
    if index is None:
        index = node_items[key] = {}
    index.update(dict.fromkeys(ids))


@applies(ev.WorkItemsGenerated)
def _items_generated(state: State, e: ev.WorkItemsGenerated) -> None:
    """A batch (``pdgstore.itembatch``): what applying each ``WorkItemGenerated`` it stands for
    does, in one pass."""
    items, graph, node, item_state, cook_id = state.items, e.graph, e.node, e.state, e.cook_id
    ids = e.ids
    columns = (ids, e.names, e.indexes, e.parents, e.attrs, e.inputs, e.outputs, e.signatures)
    if len({len(column) for column in columns}) > 1:
        raise ValueError(f"a batch of {len(ids)} work items of node {node} has columns of other lengths")
    # every field by position up to the signature, mapped over the columns: no Python step per item
    made = map(
        Item,
        ids,
        repeat(graph),
        repeat(node),
        e.names,
        e.indexes,
        e.parents,
        e.attrs,
        e.inputs,
        e.outputs,
        repeat(item_state),
        repeat(cook_id),
        repeat(0),
        repeat(0),
        repeat(""),
        repeat(""),
        e.signatures,
    )
    items.update(zip(ids, made))
    _add_ids(state, (graph, node), ids)


@applies(ev.WorkItemStateChanged)
def _item_state_changed(state: State, e: ev.WorkItemStateChanged) -> None:
    item = state.items[e.item_id]
    item.state = e.state
    item.cook_id = e.cook_id
    if e.state == "cooking":
        item.started_ns = e.time_ns


@applies(ev.WorkItemCooked)
def _item_cooked(state: State, e: ev.WorkItemCooked) -> None:
    item = state.items[e.item_id]
    if e.patched:
        patches.resolve(e, item)
    item.state = e.state
    item.cook_id = e.cook_id
    if e.attrs:
        item.attrs = own_dict(item.attrs)
        item.attrs.update(e.attrs)
    item.outputs = e.outputs
    item.started_ns = e.started_ns
    item.duration_ns = e.duration_ns
    item.error = e.error
    item.traceback = e.traceback
    if e.state != "cooked_fail":
        item.signature = e.signature
        item.reason = EMPTY_MAP


@applies(ev.WorkItemRemoved)
def _item_removed(state: State, e: ev.WorkItemRemoved) -> None:
    item = state.items.pop(e.item_id)
    state.jobs.pop(e.item_id, None)
    del state.node_items[(item.graph, item.node)][e.item_id]


@applies(ev.WorkItemDirtied)
def _item_dirtied(state: State, e: ev.WorkItemDirtied) -> None:
    item = state.items[e.item_id]
    item.state = "dirty"
    item.cook_id = e.cook_id
    item.reason = e.reason


@applies(ev.WorkItemRestatted)
def _item_restatted(state: State, e: ev.WorkItemRestatted) -> None:
    item = state.items[e.item_id]
    if e.attrs:  # (v2) file attributes refreshed: outputs [] leaves the item's as they are
        item.attrs = {**item.attrs, **e.attrs}  # a new dict: an item made in bulk may share its own
        if not e.outputs:
            return
    item.outputs = e.outputs


@applies(ev.WorkItemRenumbered)
def _item_renumbered(state: State, e: ev.WorkItemRenumbered) -> None:
    item = state.items[e.item_id]
    item.name = e.name
    item.index = e.index


@applies(ev.WorkItemAccepted)
def _item_accepted(state: State, e: ev.WorkItemAccepted) -> None:
    item = state.items[e.item_id]
    item.outputs = e.outputs
    item.signature = ACCEPTED
    item.reason = EMPTY_MAP
    if item.state not in DONE_STATES:
        item.state = "cooked_success"


@applies(ev.FileTransferred)
def _file_transferred(state: State, e: ev.FileTransferred) -> None:
    per = state.transfers.get(e.scheduler)
    if per is None:
        per = state.transfers[e.scheduler] = {}
    per[e.path] = e.cache_id


@applies(ev.LogCompacted)
def _log_compacted(state: State, e: ev.LogCompacted) -> None:
    """Compaction changes how the history is kept, not what is true now."""


@applies(ev.CookTriggered)
def _cook_triggered(state: State, e: ev.CookTriggered) -> None:
    cook = state.cooks.get(e.cook_id)
    if cook is not None:
        cook.trigger = {
            "by": e.by,
            "files": e.files,
            "count": e.count,
            "watch": e.watch,
            "schedule": e.schedule,
            "message": e.message,
        }
    watch = state.watches.get(e.watch)
    if watch is not None:
        watch["cooks"] += 1
    schedule = state.schedules.get(e.schedule)
    if schedule is not None:
        schedule["last_cook"] = e.cook_id


@applies(ev.WatchStarted)
def _watch_started(state: State, e: ev.WatchStarted) -> None:
    state.watches[e.seq] = {
        "watch": e.seq,
        "graph": e.graph,
        "path": e.path,
        "node": e.node,
        "mode": e.mode,
        "poll_s": e.poll_s,
        "pid": e.pid,
        "started_ns": e.time_ns,
        "ended_ns": 0,
        "cooks": 0,
        "message": "",
    }


@applies(ev.WatchModeChanged)
def _watch_mode_changed(state: State, e: ev.WatchModeChanged) -> None:
    watch = state.watches.get(e.watch)
    if watch is not None:
        watch.update(mode=e.mode, poll_s=e.poll_s, message=e.message)


@applies(ev.WatchStopped)
def _watch_stopped(state: State, e: ev.WatchStopped) -> None:
    watch = state.watches.get(e.watch)
    if watch is not None:
        watch.update(ended_ns=e.time_ns, message=e.message)


@applies(ev.ScheduleAdded)
def _schedule_added(state: State, e: ev.ScheduleAdded) -> None:
    state.schedules[e.schedule] = {
        "schedule": e.schedule,
        "graph": e.graph,
        "path": e.path,
        "node": e.node,
        "cron": e.cron,
        "every_s": e.every_s,
        "overrides": e.overrides,
        "added_ns": e.time_ns,
        "changed_ns": e.time_ns,
        "last_due_ns": 0,
        "fired": 0,
        "missed": 0,
        "skipped": 0,
        "last_cook": 0,
    }


@applies(ev.ScheduleChanged)
def _schedule_changed(state: State, e: ev.ScheduleChanged) -> None:
    state.schedules[e.schedule].update(cron=e.cron, every_s=e.every_s, changed_ns=e.time_ns)


@applies(ev.ScheduleRemoved)
def _schedule_removed(state: State, e: ev.ScheduleRemoved) -> None:
    del state.schedules[e.schedule]


@applies(ev.ScheduleFired)
def _schedule_fired(state: State, e: ev.ScheduleFired) -> None:
    schedule = state.schedules[e.schedule]
    schedule["fired"] += 1
    schedule["last_due_ns"] = max(schedule["last_due_ns"], e.due_ns)


@applies(ev.ScheduleMissed)
def _schedule_missed(state: State, e: ev.ScheduleMissed) -> None:
    schedule = state.schedules[e.schedule]
    schedule["missed"] += e.count
    schedule["last_due_ns"] = max(schedule["last_due_ns"], e.last_ns)


@applies(ev.ScheduleSkipped)
def _schedule_skipped(state: State, e: ev.ScheduleSkipped) -> None:
    schedule = state.schedules[e.schedule]
    schedule["skipped"] += 1
    schedule["last_due_ns"] = max(schedule["last_due_ns"], e.due_ns)


@applies(ev.JobStarted)
def _job_started(state: State, e: ev.JobStarted) -> None:
    item = state.items[e.item_id]
    item.state = "cooking"
    item.cook_id = e.cook_id
    item.started_ns = e.time_ns
    state.jobs[e.item_id] = [e.scheduler, e.attempt, e.pid, e.log_uri, None]


@applies(ev.JobEnded)
def _job_ended(state: State, e: ev.JobEnded) -> None:
    job = state.jobs.get(e.item_id)
    if job is not None:
        job[4] = e.exit_code
    if e.outcome == "retry":
        state.items[e.item_id].state = "scheduled"


@applies(ev.WorkItemAttribSet)
def _item_attrib_set(state: State, e: ev.WorkItemAttribSet) -> None:
    item = state.items[e.item_id]
    item.attrs = own_dict(item.attrs)
    item.attrs[e.name] = e.attr


@applies(ev.WorkItemOutputAdded)
def _item_output_added(state: State, e: ev.WorkItemOutputAdded) -> None:
    item = state.items[e.item_id]
    item.outputs = item.outputs + e.outputs


@applies(ev.WorkItemLogged)
def _item_logged(state: State, e: ev.WorkItemLogged) -> None:
    """Log lines are history (``pdg show``, ``pdg events``); the item's state does not change."""


missing = [kind for kind in ev.REGISTRY if kind not in APPLY]
if missing:  # pragma: no cover - caught the moment someone adds an event kind without its fold
    raise TypeError(f"no apply function for event kinds {missing}")
