"""Read-side questions over a store: status per node, items, one item's story, cooks, events.

Each answer is plain data (dicts with the project's one name per concept: ``seq``, ``cook_id``,
``item_id``, ``node``, ``graph``, ``state``), ready for a table or for ``--json``. Paths are returned
as stored (relative to the graph's project root) and also absolute, so a caller can show them
relative to where the user stands.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING

from pdgstore import itembatch, itemlists, reasons
from pdgstore.errors import AbsentAt, AmbiguousName, BadRef, HistoryCompacted, UnknownItem, UnknownNode
from pdgstore.events import STATES
from pdgstore.log import EventLog
from pdgstore.naturalorder import natural_key
from pdgstore.paths import uri_path
from pdgstore.readmodel import TableState, iter_in_work_item_order
from pdgstore.state import CookRecord, Item, State

ITEM_KINDS = (
    "WorkItemGenerated",
    "WorkItemStateChanged",
    "WorkItemCooked",
    "WorkItemRemoved",
    "NodeDirtied",
    "WorkItemDirtied",
    "WorkItemRestatted",
    "WorkItemRenumbered",
    "WorkItemAccepted",
)

if TYPE_CHECKING:
    from pdgstore.readmodel import ReadState
    from pdgstore.refs import Point


def project_root(log: EventLog, state: ReadState, graph: str) -> str:
    """The absolute project root of ``graph`` (recorded relative to the store's folder)."""
    info = state.graphs.get(graph)
    base = os.path.dirname(log.path)
    return os.path.normpath(os.path.join(base, info.root)) if info else base


def working_dirs(state: ReadState, graph: str) -> tuple[str, ...]:
    """The absolute working folders the schedulers of ``graph`` declared when it was last loaded."""
    info = state.graphs.get(graph)
    return tuple(info.working_dirs) if info else ()


def file_dict(rec: list, root: str) -> dict:
    path, tag, size, mtime_ns, digest = rec
    return {
        "path": path,
        "abspath": path if os.path.isabs(path) else os.path.join(root, path),
        "tag": tag,
        "size": size,
        "mtime_ns": mtime_ns,
        "hash": digest,
    }


def node_order(state: ReadState) -> list[tuple[str, str]]:
    """(graph, node) pairs: each graph's nodes in definition order, then nodes no longer defined."""
    order = [(g, n["name"]) for g, info in state.graphs.items() for n in info.nodes]
    seen = set(order)
    order += [key for key in state.node_keys() if key not in seen]
    return order


def status(state: State) -> list[dict]:
    """Items per node and state: the tables keep the counts, so this reads one row per node and state.
    A node the graph no longer defines is listed while it holds items (none once the cook that
    dropped it removed them)."""
    rows = []
    defined = {(g, n["name"]) for g, info in state.graphs.items() for n in info.nodes}
    for graph, node in node_order(state):
        counts = state.node_counts(graph, node)
        if not counts and (graph, node) not in defined:
            continue
        rows.append(
            {
                "graph": graph,
                "node": node,
                "total": sum(counts.values()),
                "states": {s: counts[s] for s in STATES if counts.get(s)},
            }
        )
    return rows


def item_summary(item: Item, root: str, limit: int | None = None) -> dict:
    """An item's row of a listing (``limit``: only the first output files, of a long list)."""
    outputs = itemlists.entries(item.outputs) if limit is None else item.outputs[:limit]  # not kept whole
    return {
        "item_id": item.item_id,
        "name": item.name,
        "node": item.node,
        "graph": item.graph,
        "index": item.index,
        "state": item.state,
        "cook_id": _counted_id(item.cook_id),  # None: last changed outside a cook (pdg dirty, accept)
        "outputs": [file_dict(o, root) for o in outputs],
        "cook_seconds": round(item.duration_ns / 1e9, 6),
    }


#: what joins a graph to a node or item name, ``GRAPH/NODE`` and ``GRAPH/ITEM`` (the data layer's
#: paths join them so too). A node name never holds one (``engine.graph`` refuses it), nor does an
#: item name (``NODE_N``); a graph's name may, so a name is split at its last one.
GRAPH_SEPARATOR = "/"


def split_qualified(ref: str) -> tuple[str | None, str]:
    """(graph, name) of a NODE or ITEM argument: ``a/r`` is (``a``, ``r``), ``r`` is (None, ``r``)."""
    graph, sep, name = ref.rpartition(GRAPH_SEPARATOR)
    return (graph, name) if sep else (None, ref)


def graph_names(state: ReadState) -> list[str]:
    """Every graph the store knows: those recorded, then those only items name (one row per node)."""
    names = list(state.graphs)
    names += [g for g in dict.fromkeys(g for g, _ in state.node_keys()) if g not in state.graphs]
    return names


def node_list(nodes: list[tuple[str, str]]) -> str:
    """The nodes an error lists: each by its name alone when one graph holds them all, else as
    ``GRAPH/NODE`` (a name two graphs hold is never listed twice alike)."""
    if len({g for g, _ in nodes}) > 1:
        return ", ".join(f"{g}{GRAPH_SEPARATOR}{n}" for g, n in nodes)
    return ", ".join(dict.fromkeys(n for _, n in nodes)) or "none"


def ambiguous(what: str, name: str, graphs: list[str], *, also: str = "") -> AmbiguousName:
    """The refusal of a name several graphs hold, naming them and the qualified forms to type."""
    forms = [f"{g}{GRAPH_SEPARATOR}{name}" for g in graphs]
    typed = ", ".join(forms[:-1]) + f" or {forms[-1]}"
    return AmbiguousName(
        f"{what} {name} is in {len(graphs)} graphs of the store ({', '.join(graphs)}): give {typed}{also}"
    )


def _unknown_graph(state: ReadState, graph: str, ref: str, what: str) -> str | None:
    """The sentence for a qualified ``ref`` whose graph the store does not hold (None if it does)."""
    known = graph_names(state)
    if graph in known:
        return None
    return f"the store has no graph {graph} for {what} {ref} (its graphs: {', '.join(known) or 'none'})"


def find_nodes(state: ReadState, ref: str, *, with_items: bool = False) -> list[tuple[str, str]]:
    """The (graph, node) a NODE argument names: ``NODE`` (in whichever graph holds it) or
    ``GRAPH/NODE``; ``with_items``: only a node that holds items now. An empty list when none does;
    a name more than one graph holds without its graph is refused (``AmbiguousName``). Reads the
    graphs and the nodes, never an item."""
    graph, name = split_qualified(ref)
    found = [(g, n) for g, n in node_order(state) if n == name and (graph is None or g == graph)]
    if with_items:
        found = [(g, n) for g, n in found if state.node_counts(g, n)]
    found = list(dict.fromkeys(found))
    if len(found) > 1:
        raise ambiguous("node", name, [g for g, _ in found])
    return found


def find_node(state: ReadState, ref: str) -> tuple[str, str]:
    """The (graph, node) of a NODE argument (``find_nodes``); a node the store does not have is
    refused with the nodes it has (``UnknownNode``)."""
    found = find_nodes(state, ref)
    if found:
        return found[0]
    graph, _ = split_qualified(ref)
    no_graph = None if graph is None else _unknown_graph(state, graph, ref, "node")
    raise UnknownNode(no_graph or f"the store has no node {ref} (its nodes: {node_list(node_order(state))})")


def items(
    log: EventLog,
    state: State,
    node: str | None = None,
    state_filter: str | None = None,
    *,
    graph: str | None = None,
    limit: int | None = None,
) -> Iterator[dict]:
    """The summary of each item (of ``node``, of ``graph``'s ``node`` when given, in
    ``state_filter``), node by node in graph order, each's in work item order, made as the caller
    takes them: a listing of a million items holds one at a time. ``limit``: only each item's
    first output files, with ``counts`` giving how many (a partition's other 100,000 never read)."""
    roots = {g: project_root(log, state, g) for g in state.graphs}
    for graph_name, node_name in node_order(state):
        if (node is not None and node_name != node) or (graph is not None and graph_name != graph):
            continue
        root = roots.get(graph_name, "")
        for item in iter_in_work_item_order(state, graph_name, node_name, state_filter, summary=True):
            row = item_summary(item, root, limit)
            if limit is not None:
                row["counts"] = {"outputs": len(item.outputs)}  # the length its row holds
            yield row


def count_items(
    state: State, node: str | None = None, state_filter: str | None = None, *, graph: str | None = None
) -> int:
    """How many items ``items`` lists, from the per-node counts (no item is read)."""
    total = 0
    for graph_name, node_name in node_order(state):
        if (node is None or node_name == node) and (graph is None or graph_name == graph):
            counts = state.node_counts(graph_name, node_name)
            total += counts.get(state_filter, 0) if state_filter else sum(counts.values())
    return total


#: the fewest characters of an item id that ``find_item`` takes as a prefix (a shorter one would
#: match many items of a large store, and reads as a name)
MIN_ID_PREFIX = 6


def find_item(state: ReadState, ref: str, *, summary: bool = False) -> Item:
    """The item whose id, unique id prefix (``MIN_ID_PREFIX`` or more characters) or name is
    ``ref``, each of them alone or after its graph (``GRAPH/ITEM``); a name more than one graph
    holds, given without its graph, is refused (``AmbiguousName``). ``summary``: without its
    parents, attributes, inputs, traceback and reason, when those are not needed."""
    graph, name = split_qualified(ref)

    def of_graph(found: list[Item]) -> list[Item]:
        return found if graph is None else [i for i in found if i.graph == graph]

    item = state.item(name, summary=summary)
    if item is not None and of_graph([item]):
        return item
    by_name = of_graph(state.items_named(name, limit=1000, summary=summary))
    if len(by_name) == 1:
        return by_name[0]
    graphs = list(dict.fromkeys(sorted(i.graph for i in by_name)))
    if len(graphs) > 1:
        raise ambiguous("work item", name, graphs, also=" (or its item id)")
    if by_name:
        raise UnknownItem(f"item name {ref} names {len(by_name)} items of graph {graphs[0]}: give its item id")
    if len(name) >= MIN_ID_PREFIX:
        by_prefix = of_graph(state.items_with_prefix(name, limit=1000, summary=summary))
        if len(by_prefix) == 1:
            return by_prefix[0]
        if len(by_prefix) > 1:
            raise UnknownItem(f"item id prefix {ref} is ambiguous ({len(by_prefix)} items): give more of it")
    if graph is not None:
        no_graph = _unknown_graph(state, graph, ref, "work item")
        if no_graph:
            raise UnknownItem(no_graph)
    shown = ref if ref.strip() and ref.isprintable() else repr(ref)  # an empty name is shown as ''
    if 0 < len(name) < MIN_ID_PREFIX and all(c in "0123456789abcdef" for c in name):
        raise UnknownItem(
            f"no work item {shown} in the store (an item id prefix needs at least {MIN_ID_PREFIX} characters)"
        )
    raise UnknownItem(f"no work item {shown} in the store (give an item id or a name such as node_1)")


def item_detail(
    log: EventLog,
    state: ReadState,
    ref: str,
    until: int | None = None,
    limit: int | None = None,
    here: Callable[[str], str] | None = None,
) -> dict:
    """Everything known about one item. ``limit``: only the first entries of its parents, inputs
    and outputs (a partition's or a gather's hold one per member: a million at W(1,000,000)), read
    alone from the store, with ``counts``, each list's length. ``here``: how its history's reasons
    name files (``reasons.shown``)."""
    item = find_item(state, ref)
    root = project_root(log, state, item.graph)
    detail = item_summary(item, root, limit)
    parent_ids = list(item.parents if limit is None else item.parents[:limit])
    inputs = item.inputs if limit is None else item.inputs[:limit]
    names = {item_id: name for item_id, _node, name in state.labels(parent_ids)}  # not each parent read whole
    if limit is not None:
        detail["counts"] = {"parents": len(item.parents), "inputs": len(item.inputs), "outputs": len(item.outputs)}
    detail.update(
        parents=[{"item_id": p, "name": names.get(p)} for p in parent_ids],  # None: not in the store
        attrs=attr_dicts(item.attrs),
        inputs=[file_dict(i, root) for i in inputs],
        error=item.error or None,  # "no value" is null in --json, never ""
        traceback=item.traceback or None,
        history=item_history(log, item, until, reasons.shown(root, here)),
        job=job_detail(state, item.item_id),
    )
    return detail


def attr_dicts(attrs: dict) -> dict:
    """An item's attributes as ``--json`` and exports give them, in counting order (a2 before a10):
    ``{name: {type, values}}``, with ``flags`` when it has some."""
    return {
        name: {"type": attr[0], "values": attr[1], **({"flags": list(attr[2])} if len(attr) > 2 else {})}
        for name, attr in sorted(attrs.items(), key=lambda kv: natural_key(kv[0]))
    }


def item_detail_at(
    log: EventLog,
    state: ReadState,
    ref: str,
    point: Point | None,
    limit: int | None = None,
    here: Callable[[str], str] | None = None,
) -> dict:
    """``item_detail`` as at ``point`` (``refs.state_at``'s; None: now), for ``pdg show --at`` and
    the web's ``?at=``: an item the store did not hold then is ``AbsentAt``, in one sentence that
    says when."""
    try:
        return item_detail(log, state, ref, point.seq if point else None, limit, here)
    except UnknownItem as exc:
        if point is None:
            raise
        raise AbsentAt(f"{exc} at {point.ref} (seq {point.seq})") from None


def job_detail(state: ReadState, item_id: str) -> dict | None:
    """The item's last job: scheduler, attempt, pid, log URI and file, exit code (None while it runs)."""
    job = state.job(item_id)
    if job is None:
        return None
    scheduler, attempt, pid, log_uri, exit_code = job
    return {
        "scheduler": scheduler,
        "attempt": attempt,
        "pid": pid,
        "log_uri": log_uri,
        "log_path": uri_path(log_uri),
        "exit_code": exit_code,
    }


def item_history(log: EventLog, item: Item, until: int | None = None, path: Callable[[str], str] = str) -> list[dict]:
    """Every state the item went through (up to seq ``until``), with times and cooks, from the log
    (``path``: how a reason names a file, ``reasons.describe``)."""
    first_seq = None
    history: list[dict] = []
    # lazy: a partition's or gather's events carry a list per member, which no line here shows
    for event in log.events(0, subject=item.item_id, until=until, lazy=True):
        if first_seq is None:
            first_seq = event.seq
        state = getattr(event, "state", None)
        message = getattr(event, "message", "") or getattr(event, "error", "")
        if event.kind == "WorkItemRemoved":
            state = "removed"
        elif event.kind == "WorkItemGenerated" and history:  # its record remade, not a second item
            message = message or "generated again: its record remade from its parents"
        elif event.kind == "JobStarted":
            pid = f", pid {event.pid}" if event.pid > 0 else ""  # 0: in-process, or a pid the scheduler did not know
            state, message = "cooking", f"{event.scheduler} job{pid}, attempt {event.attempt}"
        elif event.kind == "JobEnded":
            state = f"job {event.outcome}"
            message = f"exit code {event.exit_code}" + (f": {event.message}" if event.message else "")
        elif event.kind == "WorkItemLogged":
            state, message = event.level, event.text
        elif event.kind == "WorkItemDirtied":
            state, message = "dirty", reasons.describe(event.reason, path=path)
        if state:
            history.append(
                {
                    "seq": event.seq,
                    "time_ns": event.time_ns,
                    "cook_id": _counted_id(event.cook_id),
                    "state": state,
                    "message": message or None,
                }
            )
    if first_seq is not None:
        for event in log.events(first_seq, subject=item.node, kind="NodeDirtied", until=until):
            if event.graph == item.graph:
                history.append(
                    {
                        "seq": event.seq,
                        "time_ns": event.time_ns,
                        "cook_id": _counted_id(event.cook_id),
                        "state": "dirty",
                        "message": event.reason or None,
                    }
                )
    history.sort(key=lambda h: h["seq"])
    return history


def cook_end(cook: CookRecord) -> tuple[int | None, float | None, dict | None]:
    """A cook's ``ended_ns``, ``seconds`` and ``items`` (its counts) as ``--json`` gives them
    (``pdg history`` and ``pdg history COOK``): all three null while it has not ended."""
    if not cook.ended_ns:
        return None, None, None
    return cook.ended_ns, round((cook.ended_ns - cook.started_ns) / 1e9, 3), dict(cook.counts)


def cooks(state: ReadState) -> list[dict]:
    out = []
    for cook in state.cooks.values():
        ended_ns, seconds, items = cook_end(cook)
        out.append(
            {
                "cook_id": cook.cook_id,
                "graph": cook.graph,
                "node": cook.node or None,  # None: the whole graph's cook
                "started_ns": cook.started_ns,
                "ended_ns": ended_ns,
                "seconds": seconds,
                "status": cook.status,
                "message": cook.message or None,
                "items": items,
                "warning_count": cook.warnings,  # a count: "warnings" is a list wherever it appears
                "pid": cook.pid,
                "trigger": trigger_json(cook.trigger),
                "static": cook.static,  # a static cook's plan ({} for a dynamic cook)
            }
        )
    return out


#: The version of every ``--json`` output. 2: ids follow one naming rule (docs/guide.md): a key that
#: holds an id ends in ``_id`` and is named for what it identifies (``cook_id``, ``item_id``,
#: ``schedule_id``, ``watch_id``; a reference to another thing, ``last_cook_id``); ids that count
#: (cooks, schedules, watches; ``seq``) are integers, and ids made from content (``item_id``) are
#: 16 hex digits. Version 1 named a schedule ``"schedule": "1"`` beside ``"cook_id": 1``.
JSON_SCHEMA = 2


def iso(time_ns: int) -> str | None:
    """A time as ``--json`` outputs and the web API give it beside its ``_ns`` integer: ISO 8601 in
    UTC to the microsecond (``2026-11-30T14:05:09.123456Z``); None for no time."""
    if not time_ns:
        return None
    seconds, ns = divmod(time_ns, 1_000_000_000)
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(seconds)) + f".{ns // 1000:06d}Z"


#: what a cook counts of its items (its ``CookFinished`` counts, ``--json``'s ``items``), in the
#: order every command says them: run, taken from the cache (``cooked_cache``), updated without
#: running, reused as recorded, failed, cancelled, removed (recorded before, not generated again).
#: A cook recorded before a count was added lacks its key: read them with ``.get``
COOK_COUNTS = ("ran", "cached", "updated", "reused", "failed", "cancelled", "removed")


def _counted_id(value) -> int | None:
    """A counted id as the integer it is (the log keeps schedule ids as text); None for none."""
    return int(value) if value not in (None, "", 0, "0") else None


def trigger_json(trigger: dict) -> dict:
    """A cook's trigger as ``--json`` prints it: ``by``, ``files``, ``count``, ``watch_id``,
    ``schedule_id``, ``message`` ({} for a cook someone typed)."""
    if not trigger:
        return {}
    out = {k: v for k, v in trigger.items() if k not in ("watch", "schedule")}
    out["watch_id"] = _counted_id(trigger.get("watch"))
    out["schedule_id"] = _counted_id(trigger.get("schedule"))
    return out


def schedule_json(row: dict) -> dict:
    """A schedule (``pdgstore.state`` keeps its fields as the events name them) under the id rule."""
    out = {"schedule_id": _counted_id(row.get("schedule"))}
    out.update((k, v) for k, v in row.items() if k not in ("schedule", "last_cook"))
    if "last_cook" in row:
        out["last_cook_id"] = _counted_id(row["last_cook"])
    return out


def trigger_text(trigger: dict) -> str:
    """A cook's trigger in a few words: ``watch: in/a.txt, in/b.txt (+3)``, ``schedule 4``, ''."""
    if not trigger:
        return ""
    if trigger.get("by") == "schedule":
        return f"schedule {trigger.get('schedule_id') or trigger.get('schedule', '')}"
    files = trigger.get("files", [])
    more = trigger.get("count", len(files)) - min(len(files), 2)
    text = ", ".join(files[:2]) + (f" (+{more})" if more > 0 else "")
    return f"{trigger.get('by', '')}: {text or trigger.get('message', '')}"


def require_cook(log: EventLog, cook_id: int | None) -> None:
    """Refuse a cook the store does not hold, or whose events ``pdg compact`` folded (``--cook N``
    of a read: a typo, or history that is gone, is not an empty answer)."""
    if cook_id is None:
        return
    if cook_id not in TableState(log).cooks:
        raise BadRef(f"{log.display} has no cook {cook_id} (pdg history lists them)")
    if log.cook_span(cook_id) is None:
        raise HistoryCompacted(f"the events of cook {cook_id} are no longer in {log.display} (pdg compact folded them)")


def event_dicts(log: EventLog, *, cook_id=None, subject=None, kind=None) -> Iterator[dict]:
    """The log's events as plain dicts, streamed in seq order (constant memory). A payload whose
    bytes decode but not to its kind's fields (a damaged page SQLite reads back as zeros) is the
    store's "is corrupt" sentence, as any other damage met on the way."""
    with log.read_errors():
        for e in log.events(0, cook_id=cook_id, subject=subject, kind=kind):
            yield {
                "seq": e.seq,
                "time_ns": e.time_ns,
                "cook_id": _counted_id(e.cook_id),  # None: outside a cook
                "graph": e.graph,
                "kind": e.kind,
                "subject": e.subject,
                "payload": e.payload(),
            }


def event_rows(
    log: EventLog, after: int, until: int, *, payloads: bool = True, kinds=None, subjects=None, new_items_apart=False
) -> list[tuple]:
    """The log's rows after seq ``after`` up to ``until`` (``seq, time_ns, cook_id, graph, kind,
    subject``, then ``payload`` as msgpack bytes unless ``payloads`` is false); with ``kinds`` and
    ``subjects``, only the rows of those kinds or about those subjects (SQLite skips the others
    without handing them to Python): a follower reads what its readers look into. With
    ``new_items_apart``, without the ``WorkItemGenerated`` rows that first generated an item the
    item table holds (``new_items`` reads those, as one range of that table)."""
    columns = "seq, time_ns, cook_id, graph, kind, subject" + (", payload" if payloads else "")
    where, args = "seq > ? AND seq <= ?", [after, until]
    if new_items_apart:
        where += f" AND NOT (kind = '{itembatch.ITEM_KIND}' AND EXISTS (SELECT 1 FROM items WHERE ord = events.seq))"
    if kinds is not None:
        kinds, subjects = list(kinds), list(subjects or ())
        picks = [f"kind IN ({','.join('?' * len(kinds))})"] + (
            [f"subject IN ({','.join('?' * len(subjects))})"] if subjects else []
        )
        where += f" AND ({' OR '.join(picks)} OR kind = ?)"  # a batch of items: its items may be wanted
        args += kinds + subjects + [itembatch.KIND]
    rows = log.conn.execute(f"SELECT {columns} FROM events WHERE {where} ORDER BY seq", args).fetchall()
    if not any(row[4] == itembatch.KIND for row in rows):
        return rows
    # a batch of items comes as the rows of the ``WorkItemGenerated`` events it stands for
    # (``pdgstore.itembatch``), each picked as one
    wanted = None if kinds is None else set(kinds) | set(subjects or ())
    out = []
    for row in rows:
        if row[4] != itembatch.KIND:
            out.append(row)
            continue
        batch = row if payloads else (*row, itembatch.payload_of(log.conn, row[0]))
        apart = _first_generations(log, after, row[0]) if new_items_apart else frozenset()
        for one in itembatch.expand_rows([batch]):
            if one[0] > after and one[0] not in apart and (wanted is None or one[4] in wanted or one[5] in wanted):
                out.append(one if payloads else one[:6])
    return out


def _first_generations(log: EventLog, after: int, until: int) -> set[int]:
    """The seqs after ``after`` up to ``until`` that first generated an item the table holds."""
    return {r[0] for r in log.conn.execute("SELECT ord FROM items WHERE ord > ? AND ord <= ?", (after, until))}


def item_origins(log: EventLog, ids: list[str]) -> list[tuple[int, str, str]]:
    """(ord, item_id, node) of those of ``ids`` in the store: where each was first generated
    (``ord`` is that event's seq) and its node, without reading the items' bodies."""
    rows: list[tuple[int, str, str]] = []
    for at in range(0, len(ids), 500):
        chunk = ids[at : at + 500]
        sql = f"SELECT ord, item_id, node FROM items WHERE item_id IN ({','.join('?' * len(chunk))})"
        rows += log.conn.execute(sql, chunk).fetchall()
    return rows


def new_items(log: EventLog, after: int, until: int) -> list[tuple[int, str, str, str]]:
    """(ord, item_id, graph, node) of the items first generated by an event after seq ``after`` up
    to ``until``, in that order (``ord`` is that event's seq): what the ``WorkItemGenerated`` rows
    that ``event_rows(new_items_apart=True)`` leaves out say of their items."""
    sql = "SELECT ord, item_id, graph, node FROM items WHERE ord > ? AND ord <= ? ORDER BY ord"
    return log.conn.execute(sql, (after, until)).fetchall()


def items_first_generated(log: EventLog, after: int, until: int) -> list[tuple[int, str, str]]:
    """(ord, item_id, node) of the items first generated by an event after seq ``after`` up to
    ``until`` (``ord`` is that seq: a range of the item table's key, read in order)."""
    sql = "SELECT ord, item_id, node FROM items WHERE ord > ? AND ord <= ?"
    return log.conn.execute(sql, (after, until)).fetchall()


def event_payloads(log: EventLog, seqs: list[int]) -> dict[int, bytes]:
    """seq -> payload (msgpack bytes) of the events at ``seqs``."""
    found: dict[int, bytes] = {}
    for at in range(0, len(seqs), 500):
        chunk = seqs[at : at + 500]
        sql = f"SELECT seq, payload FROM events WHERE seq IN ({','.join('?' * len(chunk))})"
        found.update(log.conn.execute(sql, chunk).fetchall())
    for seq in seqs:  # an item of a batch (``pdgstore.itembatch``): its own event's payload
        if seq not in found:
            row = itembatch.batch_at(log.conn, seq)
            if row is not None:
                found.update((r[0], r[6]) for r in itembatch.expand_rows([row]))
    return found


def graph_seen_by(log: EventLog, graph: str, seq: int) -> bool:
    """Whether the log holds an event of ``graph`` at or before ``seq`` (a resumed subscriber
    of the store's root learns of a graph once, when it first appeared)."""
    sql = "SELECT 1 FROM events WHERE graph = ? AND seq <= ? LIMIT 1"
    return log.conn.execute(sql, (graph, seq)).fetchone() is not None
