"""Questions about the past, answered from the log: what one cook did, which cooks touched a node or
an item, and what changed between two points (``pdg history COOK``, its filters, ``pdg diff``).

Like ``pdgstore.queries``, every answer is plain data ready for a table or ``--json``.
"""

from __future__ import annotations

import heapq
from collections import Counter, defaultdict
from collections.abc import Callable
from typing import TYPE_CHECKING

from pdgstore import codec, itembatch, liveness, queries, reasons, tables
from pdgstore.errors import BadRef
from pdgstore.events import REGISTRY
from pdgstore.inserts import chunks
from pdgstore.log import EventLog
from pdgstore.naturalorder import natural_key
from pdgstore.queries import file_dict, project_root
from pdgstore.state import Item, State
from pdgstore.timetravel import state_at_seq

ITEM_KINDS = (
    "WorkItemGenerated",
    "WorkItemStateChanged",
    "WorkItemCooked",
    "WorkItemRemoved",
    "WorkItemDirtied",
    "WorkItemRestatted",
    "WorkItemRenumbered",
    "WorkItemAccepted",
    "JobStarted",
)
SLOWEST = 10
#: the fate of an item a cook generated to run or recorded dirty, before (or without) its outcome
PENDING = "pending"

if TYPE_CHECKING:
    from pdgstore.readmodel import ReadState


def cooks_touching(log: EventLog, subjects: list[str]) -> set[int]:
    """The cooks that wrote an event about any of ``subjects`` (items or nodes)."""
    found: set[int] = set()
    nodes: set[str] = set()
    for chunk in chunks(subjects):
        marks = ",".join("?" * len(chunk))
        sql = f"SELECT DISTINCT cook_id FROM events WHERE subject IN ({marks}) AND cook_id > 0"
        found.update(r[0] for r in log.conn.execute(sql, chunk))
        nodes.update(
            r[0] for r in log.conn.execute(f"SELECT DISTINCT node FROM items WHERE item_id IN ({marks})", chunk)
        )
    # items generated in a batch (``pdgstore.itembatch``): its subject is their node. Only the
    # batches of cooks not found yet are read (one can hold 10,000 items)
    wanted = set(subjects)
    for node in nodes:
        sql = "SELECT seq, cook_id FROM events WHERE subject = ? AND kind = ? AND cook_id > 0"
        for seq, cook_id in log.conn.execute(sql, (node, itembatch.KIND)).fetchall():
            if cook_id not in found:
                blob = log.conn.execute("SELECT payload FROM events WHERE seq = ?", (seq,)).fetchone()[0]
                if not wanted.isdisjoint(itembatch.ids_of(blob)):
                    found.add(cook_id)
    return found


def cooks_touching_node(log: EventLog, node: str, graph: str | None = None) -> set[int]:
    """The cooks that wrote an event about an item of ``node`` (of ``graph``, when given: else of
    any graph that has such a node), those since removed included (``pdg history --node``): that
    generated, ran or changed them. A cook that only passed the node (its ``NodeGenerated``,
    written by every cook that reaches it, a no-op's too) did not. Without going over every item of
    the node: a batch of the node's items is found by the node's name (one index lookup); each other
    cook is known by the nodes its end recorded, or, a cook that recorded none (it died, or ended
    before ``CookFinished`` v3), asked through its own events, up to the first about an item of the
    node (the items table names an item's node; a removed item's first event does)."""
    conn = log.conn
    in_graph, args = ("", ()) if graph is None else (" AND graph = ?", (graph,))
    sql = f"SELECT DISTINCT cook_id FROM events WHERE subject = ? AND kind = ? AND cook_id > 0{in_graph}"
    found = {r[0] for r in conn.execute(sql, (node, itembatch.KIND, *args))}
    kinds = ", ".join(f"'{kind}'" for kind, cls in REGISTRY.items() if cls.subject_field == "item_id")
    of_node = f"i.node = ?{in_graph.replace('graph', 'i.graph')}"
    # one pass over each other cook's item events, in log order: the first of the node's items
    # ends it; the cook's items that no longer exist are kept, to be asked about after
    sql = (
        f"SELECT e.subject, i.item_id IS NULL, i.item_id IS NOT NULL AND {of_node} "
        "FROM events e LEFT JOIN items i ON i.item_id = e.subject "
        f"WHERE e.cook_id = ? AND e.kind IN ({kinds})"
    )
    for cook_id, body in conn.execute("SELECT cook_id, body FROM cooks").fetchall():
        if cook_id in found:
            continue
        cook = tables.cook_from_body(body)
        if cook.nodes is not None:  # it counted the nodes it touched (``CookFinished.nodes``)
            if node in cook.nodes and (graph is None or cook.graph == graph):
                found.add(cook_id)
            continue
        gone: set[str] = set()
        for subject, is_gone, is_of in conn.execute(sql, (node, *args, cook_id)):
            if is_of:
                found.add(cook_id)
                break
            if is_gone:
                gone.add(subject)
        else:
            if any(_is_of(log, item_id, node, graph) for item_id in gone):
                found.add(cook_id)
    return found


def removed_items_of(log: EventLog, node: str, graph: str | None = None) -> list[str]:
    """The items of ``node`` (of ``graph``, when given) that the log shows removed (the state no
    longer holds them), then each one's first event: the removals of the cooks that removed items,
    read through the cook index (as ``removed.find_removed`` reads them: the cooks table's counts
    say which; a cook whose counts do not say is read too), never a pass over the whole log."""
    removed: set[str] = set()
    sql = "SELECT subject FROM events WHERE cook_id = ? AND kind = 'WorkItemRemoved'"
    for cook_id, body in log.conn.execute("SELECT cook_id, body FROM cooks").fetchall():
        cook = tables.cook_from_body(body)
        if cook.counts.get("removed", 1) and graph in (None, cook.graph):
            removed.update(r[0] for r in log.conn.execute(sql, (cook_id,)))
    return [item_id for item_id in sorted(removed) if _is_of(log, item_id, node, graph)]


def _is_of(log: EventLog, item_id: str, node: str, graph: str | None) -> bool:
    """Whether the removed item ``item_id`` was of ``node`` (of ``graph``, when given), as its first event says."""
    for event in log.events(0, subject=item_id, kind="WorkItemGenerated"):
        return event.node == node and (graph is None or event.graph == graph)
    return False


def cook_detail(log: EventLog, cook_id: int, state: ReadState, *, ran_names: bool = True) -> dict:
    """What cook ``cook_id`` did: per node what ran, was taken from the cache, failed, was cancelled,
    was updated (recorded again without running) or reused, plus its failures, slowest items and
    warnings (its ``CookWarning`` events: what went wrong without stopping it). ``ran_names``: the
    name of every item that ran too (``--json``'s ``ran``; a table shows only the counts).

    ``state`` is the current state (for the cook's summary row); the per-node totals come from the
    state when the cook ended. The cook's events are read as rows, decoding only what decides an
    item's fate (``_Fates``), and the items are named from the items table's labels (``labels``:
    one pass over its rows when the cook touched many): a cook of 100,000 items costs one fate per
    item it touched, never a decoded event or item each."""
    cook = state.cooks.get(cook_id)
    if cook is None:
        raise BadRef(f"{log.display} has no cook {cook_id} (pdg history lists them)")
    span = log.cook_span(cook_id)
    if span is None:
        raise BadRef(f"the events of cook {cook_id} are no longer in {log.display} (pdg compact folded them)")
    end = state_at_seq(log, span[1])
    fates = _Fates.of(log, cook_id, span)
    fate, durations = fates.fate, fates.durations
    slowest = heapq.nlargest(SLOWEST, durations, key=durations.__getitem__)
    failed = [i for i, what in fate.items() if what == "failed"]
    named: dict[str, tuple[str, str]] = dict.fromkeys([*slowest, *failed], ("", ""))  # id -> (node, name)
    per_node: dict[str, Counter] = defaultdict(Counter)
    changed: Counter = Counter()  # per node, the items at the cook's end it gave another fate than reused
    ran: list[str] = []

    def tally(item_id: str, what: str, node: str, name: str) -> None:
        per_node[node][what] += 1
        if what == "ran" and ran_names:
            ran.append(name)
        if item_id in named:
            named[item_id] = (node, name)

    for item_id, node, name in end.labels(fate):
        what = fate[item_id]
        tally(item_id, what, node, name)
        changed[node] += what != "reused"
        fate[item_id] = ""  # named: what is left unnamed is not among the items at the cook's end
    for item_id, what in fate.items():
        if what:
            tally(item_id, what, _node_of_removed(log, item_id), item_id)
    visited = _nodes_visited(log, cook_id, span)
    rows = []
    for graph, node in queries.node_order(end):
        if graph == cook.graph:
            total = sum(end.node_counts(graph, node).values())
            counts = per_node.pop(node, Counter())
            if node in visited:  # what the cook did not touch of a node it reached, it reused
                counts["reused"] = total - changed[node]
            rows.append({"node": node, "total": total, **{k: counts[k] for k in NODE_COUNTS}})
    rows += [{"node": node, "total": 0, **{k: counts[k] for k in NODE_COUNTS}} for node, counts in per_node.items()]
    ended_ns, seconds, items = queries.cook_end(cook)
    status = cook.status
    if liveness.died_end(status, cook.message, cook.pid):  # ended at its last own event, not its end's
        status, ended_ns, seconds = liveness.DIED, *_died(log, cook_id, cook.message, cook.started_ns, cook.ended_ns)
    return {
        "cook_id": cook_id,
        "graph": cook.graph,
        "node": cook.node or None,  # None: the whole graph's cook ("no value" is null, never "")
        "status": status,
        "message": cook.message or None,
        "started_ns": cook.started_ns,
        "ended_ns": ended_ns,
        "seconds": seconds,
        "items": items,
        "static": cook.static,  # a static cook's plan ({} for a dynamic cook)
        "first_seq": span[0],
        "last_seq": span[1],
        "nodes": rows,
        "ran": sorted(ran, key=natural_key) if ran_names else None,
        "failures": [
            {"item_id": i, "name": named[i][1], "node": named[i][0], "error": fates.errors.get(i) or None}
            for i in failed
        ],
        "slowest": [
            {"item_id": i, "name": named[i][1], "node": named[i][0], "seconds": round(durations[i] / 1e9, 6)}
            for i in slowest
        ],
        "warnings": fates.warnings,
    }


def told_now(log: EventLog, cooks: list[dict]) -> None:
    """Cooks' rows (``queries.cooks``) as a reader tells them now (``pdgstore.liveness``), in place:
    one recorded running that no process runs, ``died``; one whose end the next cook recorded for
    it, having died, ``died`` too, ended at its last own event, its seconds counted to there."""
    writer = log.writer_pid() if any(row["status"] == liveness.RUNNING for row in cooks) else None
    for row in cooks:
        if row["status"] == liveness.RUNNING:
            row["status"] = liveness.status_now(liveness.RUNNING, writer)
        elif liveness.died_end(row["status"], row["message"] or "", row["pid"]):
            row["status"] = liveness.DIED
            row["ended_ns"], row["seconds"] = _died(
                log, row["cook_id"], row["message"], row["started_ns"], row["ended_ns"]
            )


def _died(log: EventLog, cook_id: int, message: str, started_ns: int, ended_ns: int) -> tuple[int, float]:
    """(ended_ns, seconds) of a cook that died: to its last own event (``last_own_event``), or as
    recorded when none is left in the log (compacted)."""
    last = last_own_event(log, cook_id, message)
    ended_ns = last if last is not None else ended_ns
    return ended_ns, round((ended_ns - started_ns) / 1e9, 3)


def last_own_event(log: EventLog, cook_id: int, message: str) -> int | None:
    """The time of the last event cook ``cook_id`` recorded itself, the next cook having recorded its
    end for it (``liveness.died_end``): what the next cook appended (its unfinished items cancelled
    with ``message``, then its end) are the last of its events, so the last of its own is found by
    bisecting its events by seq through their index, never reading them all (a cook killed with
    10^5 unfinished items has as many cancels). None when the log holds none of its own."""
    span = log.cook_span(cook_id)
    if span is None:
        return None
    said = message.encode()
    sql = "SELECT seq, time_ns, kind, payload FROM events WHERE cook_id = ? AND seq <= ? ORDER BY seq DESC LIMIT 1"

    def own(seq: int) -> tuple | None:  # the cook's last event at or before ``seq``, if its own
        row = log.conn.execute(sql, (cook_id, seq)).fetchone()
        after = row[2] == "CookFinished" or (row[2] == "WorkItemStateChanged" and said in row[3])
        return None if after else row

    low, high = span
    if own(low) is None:
        return None
    while high - low > 1:  # own(low), not own(high)
        middle = (low + high) // 2
        low, high = (middle, high) if own(middle) is not None else (low, middle)
    last = own(low)
    return last[1] if last is not None else None


#: a node's columns in a cook's detail: what the cook's summary counts (``queries.COOK_COUNTS``),
#: per node, so that each column's sum is the summary's count; in ``--json``'s order of a node row's
#: keys: what the cook's work decided (ran, cached, failed, cancelled), what it changed without
#: work (updated, removed), what it left as it was (reused)
NODE_COUNTS = tuple(
    sorted(queries.COOK_COUNTS, key=lambda count: {"updated": 1, "removed": 1, "reused": 2}.get(count, 0))
)


def _nodes_visited(log: EventLog, cook_id: int, span: tuple[int, int]) -> set[str]:
    """The nodes cook ``cook_id`` generated (its ``NodeGenerated`` events): the items of such a
    node it did not touch, it reused; a node outside a cook of one node, or past where a cook
    stopped, it did not reach."""
    sql = "SELECT subject FROM events WHERE cook_id = ? AND seq >= ? AND seq <= ? AND kind = 'NodeGenerated'"
    with log.read_errors():
        return {r[0] for r in log.conn.execute(sql, (cook_id, *span))}


#: the events a cook's detail reads: its items' (a batch stands for its items' generation) and warnings
_DETAIL_KINDS = (*ITEM_KINDS, itembatch.KIND, "CookWarning")


class _Fates:
    """What happened to each item a cook touched, read from the cook's event rows in log order, in
    the words the cook counts its items by (``engine.cook.settle``): an item "ran" once it was
    cooking (or its job started), and its cook's end then says ran or failed; a result taken from
    the cache is "cached", one that failed without running "failed", one recorded without running
    (born cooked, merged anew) "updated"; cancelled and removed are their own events; a reused
    item's new place or file stats leave it "reused". An item only generated to run, or recorded
    dirty, is ``PENDING`` until its outcome: one the cook never reached (it stopped; a cook of one
    node records dirty what it changed feeds outside its scope) keeps it, counted by no column.
    ``durations``: of the items whose run ended in this cook, the last run's; ``errors``: of those
    that failed."""

    def __init__(self, conn) -> None:
        self.conn = conn
        self.fate: dict[str, str] = {}
        self.durations: dict[str, int] = {}
        self.errors: dict[str, str] = {}
        self.warnings: list[dict] = []

    @classmethod
    def of(cls, log: EventLog, cook_id: int, span: tuple[int, int]) -> _Fates:
        fates = cls(log.conn)
        marks = ",".join("?" * len(_DETAIL_KINDS))
        # a long payload (a partition's cook event, with a file per member) stays in the store: its
        # state and duration are read from it a piece at a time (``codec.StoredPayload``)
        sql = (
            f"SELECT seq, time_ns, kind, subject, {codec.PAYLOAD_OR_STORED} "
            f"FROM events WHERE cook_id = ? AND seq >= ? AND seq <= ? AND kind IN ({marks}) ORDER BY seq"
        )
        with log.read_errors():
            for row in log.conn.execute(sql, (cook_id, span[0], span[1], *_DETAIL_KINDS)):
                fates.read(*row)
        return fates

    def read(self, seq: int, time_ns: int, kind: str, subject: str, blob: bytes | None, size: int) -> None:
        fate = self.fate
        payload = codec.StoredPayload(self.conn, seq, size) if blob is None else blob
        if kind == itembatch.KIND:
            assert blob is not None  # a batch is read whole (not one of ``codec.LAZY_KINDS``)
            ids, state = itembatch.ids_and_state(blob)
            fate.update(dict.fromkeys(ids, "updated" if state == "cooked_success" else PENDING))
        elif kind == "WorkItemGenerated":  # born cooked (a file pattern's): updated; else to be decided
            if blob is None:  # a long one left in the store: read a piece at a time
                state = codec.decode_payload(kind, payload, lazy=True)[1]["state"]
            else:  # its state alone, its attributes, inputs and parents skipped unread
                state = codec.payload_field(blob, "state", "uncooked")
            born = state == "cooked_success"
            fate[subject] = "updated" if born else PENDING
        elif kind == "JobStarted":  # an out-of-process job: the item is cooking (PDG has no separate event)
            fate[subject] = "ran"
        elif kind == "WorkItemStateChanged":
            to = codec.decode_payload(kind, payload)[1]["state"]
            if to == "cooking":
                fate[subject] = "ran"
            elif to == "cooked_cancel":
                fate[subject] = "cancelled"
            else:
                fate.setdefault(subject, PENDING)
        elif kind == "WorkItemCooked":
            self._cooked(subject, codec.decode_payload(kind, payload, lazy=True)[1])
        elif kind == "WorkItemRemoved":
            fate[subject] = "removed"
        elif kind == "CookWarning":
            warning = codec.decode_payload(kind, payload)[1]
            self.warnings.append(
                {"seq": seq, "time_ns": time_ns, "about": warning["about"] or None, "message": warning["message"]}
            )
        elif kind in ("WorkItemRenumbered", "WorkItemRestatted"):  # a reused item's new place or stats
            fate.setdefault(subject, "reused")
        else:  # recorded dirty: it runs (or is merged) later in the cook, or is left for the next
            fate.setdefault(subject, PENDING)

    def _cooked(self, item_id: str, cooked: dict) -> None:
        ran = self.fate.get(item_id) == "ran"
        state = cooked["state"]
        if state == "cooked_cache":
            self.fate[item_id] = "cached"
        elif state == "cooked_fail":  # its run failed, or it failed without running
            self.fate[item_id] = "failed"
            self.errors[item_id] = cooked["error"]
        elif ran:
            self.fate[item_id] = "ran"
            self.errors.pop(item_id, None)
        else:  # a result recorded without running: merged anew, or a person's confirmed (reused)
            self.fate[item_id] = "reused" if (cooked.get("reason") or {}).get("accepted") else "updated"
        if ran:
            self.durations[item_id] = cooked["duration_ns"]


def _node_of_removed(log: EventLog, item_id: str) -> str:
    for event in log.events(0, subject=item_id, kind="WorkItemGenerated"):
        return event.node
    return ""


def diff_at(log: EventLog, a_seq: int, b_seq: int, here: Callable[[str], str] | None = None) -> dict:
    """``diff`` from the state after event ``a_seq`` to the state after ``b_seq``, reading only the
    items that the events between the two points touched: every other item is the same at both, so
    it is in no row of the answer (a diff of two recent cooks of W(1,000,000) reads what they
    changed, not a million items twice)."""
    a, b = state_at_seq(log, a_seq), state_at_seq(log, b_seq)
    low, high = sorted((a_seq, b_seq))
    touched: set[str] = set()
    dirtied: set[tuple[str, str]] = set()
    with log.read_errors():
        rows = log.conn.execute(
            "SELECT kind, subject, graph, CASE WHEN kind = ? THEN payload END FROM events WHERE seq > ? AND seq <= ?",
            (itembatch.KIND, low, high),
        )
        for kind, subject, graph, batch in rows:
            if kind in tables.ITEM_KINDS:
                touched.add(subject)
            elif batch is not None:
                touched.update(itembatch.ids_of(batch))
            elif kind == "NodeDirtied":
                dirtied.add((graph, subject))
    for graph, node in dirtied:
        for point in (a, b):
            touched.update(i.item_id for i in point.items_of(graph, node, summary=True))
    small_a, small_b = State(), State()
    for small, point in ((small_a, a), (small_b, b)):
        small.seq = point.seq
        small.graphs = dict(point.graphs)
        for item_id in sorted(touched):
            item = point.item(item_id)
            if item is not None:
                small.items[item_id] = item
    return diff(log, small_a, small_b, lambda i: b.item(i, summary=True) or a.item(i, summary=True), here)


def diff(log: EventLog, a: State, b: State, lookup=None, here: Callable[[str], str] | None = None) -> dict:
    """What changed from state ``a`` to state ``b``: items added, removed, rerun (their work ran
    in between, with the recorded reason), updated (remade without work: a partition merged again,
    a result from the cache, a file pattern's item made again) or changed otherwise (state,
    attributes, output files). ``here``: how
    the reasons name files (``reasons.shown``)."""
    rows = []
    counts: Counter[str] = Counter()
    roots = {g: project_root(log, b if g in b.graphs else a, g) for g in {*a.graphs, *b.graphs}}
    why: dict[str, dict] = {}  # item id -> the last recorded decision to rerun it, between a and b
    if a.seq < b.seq:
        for event in log.events(a.seq, until=b.seq, kind="WorkItemDirtied"):
            why[event.item_id] = event.reason

    def name(item_id: str) -> str:  # ``lookup``: where an item that is in neither state is found
        item = b.items.get(item_id) or a.items.get(item_id) or (lookup(item_id) if lookup else None)
        return item.name if item else item_id

    def row(item: Item, change: str, old: Item | None, new: Item | None, reason, attrs=None, outputs=None) -> dict:
        root = roots.get(item.graph, "")
        return _row(item, change, old, new, root, reason, name, reasons.shown(root, here), attrs, outputs)

    for item_id, new in b.items.items():
        old = a.items.get(item_id)
        if old is None:
            rows.append(row(new, "added", None, new, why.get(item_id)))
            counts["added"] += 1
            continue
        # remade: it ran or was recorded again (a result from the cache or merged: a start; born
        # cooked, a file pattern's: generated anew, with no start)
        remade = new.started_ns != 0 or new.state == "cooked_success"
        reran = (new.started_ns, new.cook_id) != (old.started_ns, old.cook_id) and remade
        attrs = _attr_changes(old.attrs, new.attrs)
        outputs = _output_changes(old.outputs, new.outputs)
        if not (reran or attrs or outputs or old.state != new.state or (old.name, old.index) != (new.name, new.index)):
            continue
        # its work ran again, or its record was remade without work (a partition merged again, a
        # result taken from the cache, a file pattern's item generated again)
        change = ("rerun" if new.duration_ns else "updated") if reran else "changed"
        rows.append(row(new, change, old, new, why.get(item_id), attrs, outputs))
        counts[change] += 1
    for item_id, old in a.items.items():
        if item_id not in b.items:
            rows.append(row(old, "removed", old, None, None))
            counts["removed"] += 1
    rows.sort(key=lambda r: (r["graph"], r["node"], natural_key(r["name"])))
    return {"counts": {k: counts[k] for k in ("added", "removed", "rerun", "updated", "changed")}, "items": rows}


def _row(
    item: Item,
    change: str,
    old: Item | None,
    new: Item | None,
    root: str,
    reason: dict | None,
    name,
    path,
    attrs=None,
    outputs=None,
) -> dict:
    if change == "added" and new is not None:
        outputs = [{"path": o[0], "before": None, "after": o[4]} for o in new.outputs]
    elif change == "removed" and old is not None:
        outputs = [{"path": o[0], "before": o[4], "after": None} for o in old.outputs]
    reason = reason or (new.reason if new is not None else {}) or {}
    return {
        "item_id": item.item_id,
        "name": item.name,
        "node": item.node,
        "graph": item.graph,
        "change": change,
        "state_before": old.state if old else None,
        "state_after": new.state if new else None,
        "cook_id": new.cook_id if new else None,
        "attrs": attrs or {},
        # a reused item whose position moved (a file added before it): its old name and index
        "renumbered": {"name": old.name, "index": old.index}
        if old is not None and new is not None and (old.name, old.index) != (new.name, new.index)
        else None,
        "outputs": [dict(o, abspath=file_dict([o["path"], "", 0, 0, ""], root)["abspath"]) for o in outputs or []],
        "reason": dict(reason),
        "why": reasons.describe(reason, name, path) if reason else "",
    }


def _attr_changes(old: dict, new: dict) -> dict:
    out = {}
    for name in sorted({*old, *new}):
        before, after = old.get(name), new.get(name)
        if before != after:
            out[name] = {"before": before[1] if before else None, "after": after[1] if after else None}
    return out


def _output_changes(old: list, new: list) -> list:
    before = {o[0]: o[4] for o in old}
    after = {o[0]: o[4] for o in new}
    return [
        {"path": p, "before": before.get(p), "after": after.get(p)}
        for p in sorted({*before, *after})
        if before.get(p) != after.get(p)
    ]
