"""The web view's questions, answered from the store as plain JSON-ready data.

The page follows a cook through the data layer's WebSocket (node summaries, live), and asks these
for what a subscription would make too heavy: a node's every item in compact columns (one array
per field, 100,000 items in one answer, no object per item), the items that changed since a seq
(so a cell is recoloured without subscribing to every item), one item's detail, the cooks, a
graph as it was at a cook, and what changed between two cooks. Every answer reads the store's
tables inside one read transaction and carries the ``seq`` it reflects.
"""

from __future__ import annotations

import os
import threading
from contextlib import contextmanager

from pdgstore.engine.joblogs import tail

from pdgstore import history, itemlists, queries, refs
from pdgstore.errors import PdgError
from pdgstore.events import STATES
from pdgstore.explain import explain
from pdgstore.liveness import RUNNING, status_now
from pdgstore.log import EventLog
from pdgstore.readmodel import TableState, iter_in_work_item_order

#: item events read per ``changes`` answer at most: past it the page reloads the node instead
CHANGES_LIMIT = 20000
#: lines of a job's log an item's detail shows
LOG_TAIL_LINES = 40
#: entries of an item's parents, inputs and outputs its detail lists (a partition's hold one per
#: member), with each list's length: the page says how many more there are
DETAIL_ENTRIES = 100
#: the rows of a diff sent to the page, with the number left out (its counts cover them all)
DIFF_ROWS = 500
STATE_CODES = {s: i for i, s in enumerate(STATES)}
ITEM_KINDS = frozenset(queries.ITEM_KINDS)


class WebApi:
    """The answers of one store; safe to call from several threads (one connection per thread)."""

    def __init__(self, store_path: str) -> None:
        self.path = os.path.abspath(store_path)
        self._local = threading.local()

    @contextmanager
    def _reading(self):
        if not os.path.exists(self.path):
            raise PdgError(f"no store yet at {self.path}: it appears once a cook creates it")
        log = getattr(self._local, "log", None)
        if log is None:
            log = self._local.log = EventLog.open(self.path)
        if log.conn.in_transaction:  # never answer from a read another answer left open
            log.conn.execute("COMMIT")
        with log.one_reading():
            yield log

    # -- now ---------------------------------------------------------------------------------------
    def graph(self, at: str | None = None) -> dict:
        """Every graph's nodes in dependency order, their upstream edges and per-state counts (the
        rows of ``pdg status --json``), as now or as at ``at`` (a ref: ``cook:3``, a seq ...)."""
        with self._reading() as log:
            state, point = refs.state_at(log, at)
            rows = queries.status(state)
            edges = {}
            for name, info in state.graphs.items():
                edges[name] = {n["name"]: _upstream(n) for n in info.nodes}
            running = state.running_cook()
            if running is not None and status_now(running.status, log.writer_pid()) != RUNNING:
                running = None  # recorded running, but its process died (``liveness``)
            return {
                "seq": point.seq if point else log.last_seq(),
                "at": point.to_json() if point else None,
                "states": list(STATES),
                "nodes": rows,
                "edges": edges,
                "running_cook": running.cook_id if running is not None else None,
            }

    def items(self, graph: str, node: str, at: str | None = None) -> dict:
        """A node's items as columns: ``ids``, ``names``, ``states`` (indexes into ``states``),
        ``times`` (cook seconds, 0 when not cooked) and ``sizes`` (bytes of output files), in
        work item order, as ``pdg items`` lists them (``pdgstore.itemorder``)."""
        with self._reading() as log:
            state, point = refs.state_at(log, at)
            _find_node(state, graph, node)
            ids, names, codes, times, sizes = [], [], [], [], []
            for item in iter_in_work_item_order(state, graph, node, summary=True):  # one at a time: 100,000 made 191 MB
                ids.append(item.item_id)
                names.append(item.name)
                codes.append(STATE_CODES.get(item.state, 0))
                times.append(round(item.duration_ns / 1e9, 6))
                sizes.append(_out_size(item))
            return {
                "seq": point.seq if point else log.last_seq(),
                "graph": graph,
                "node": node,
                "ids": ids,
                "names": names,
                "states": codes,
                "times": times,
                "sizes": sizes,
            }

    def changes(self, since: int) -> dict:
        """The items whose events came after ``since``, as they are now (``removed``: ids gone);
        ``reload`` when there were too many to list (the page then reloads its nodes)."""
        with self._reading() as log:
            rows = log.subjects_after(since, CHANGES_LIMIT + 1)
            last = log.last_seq()
            if len(rows) > CHANGES_LIMIT:
                return {"seq": last, "reload": True, "items": [], "removed": []}
            touched = {subject: kind for _seq, kind, subject in rows if kind in ITEM_KINDS}
            state = TableState(log)
            found = state.items_many(touched)
            items = [
                [i.item_id, i.graph, i.node, i.name, STATE_CODES.get(i.state, 0), round(i.duration_ns / 1e9, 6),
                 _out_size(i)]
                for i in found.values()
            ]  # fmt: skip
            removed = [item_id for item_id in touched if item_id not in found]
            structural = any(kind not in ITEM_KINDS for _seq, kind, _subject in rows)
            return {"seq": last, "reload": False, "items": items, "removed": removed, "structural": structural}

    def item(self, item_id: str, at: str | None = None) -> dict:
        """One item: its attributes, files with sizes, state history, job log tail and the
        "why did this run" chain (``pdg explain``'s answer), as now or as at ``at``
        (``errors.AbsentAt`` when the item did not exist then, in ``pdg show --at``'s words)."""
        with self._reading() as log:
            state, point = refs.state_at(log, at)
            detail = queries.item_detail_at(log, state, item_id, point, limit=DETAIL_ENTRIES)
            detail["seq"] = point.seq if point else log.last_seq()
            detail["at"] = point.to_json() if point else None
            for h in detail["history"]:
                h["time"] = queries.iso(h["time_ns"])
            job = detail.get("job") or {}
            detail["log_tail"] = tail(job.get("log_path") or "", LOG_TAIL_LINES)
            try:
                detail["explain"] = explain(log, state, detail["item_id"])
            except PdgError as exc:
                detail["explain"] = {"chain": [], "text": str(exc)}
            return detail

    # -- history -----------------------------------------------------------------------------------
    def cooks(self) -> dict:
        """The cooks of ``pdg history --json``, newest last."""
        with self._reading() as log:
            rows = queries.cooks(TableState(log))
            history.told_now(log, rows)  # as pdg history tells them
            for r in rows:
                r["started"], r["ended"] = queries.iso(r["started_ns"]), queries.iso(r["ended_ns"])
            return {"seq": log.last_seq(), "cooks": rows}

    def diff(self, ref1: str, ref2: str) -> dict:
        """What changed from ``ref1`` to ``ref2`` (``pdg diff --json``, reading only the items
        the events between them touched), its first ``DIFF_ROWS`` rows and how many more."""
        with self._reading() as log:
            a_point, b_point = refs.resolve_range(log, ("from", ref1), ("to", ref2))
            result = history.diff_at(log, a_point.seq, b_point.seq)
            rows = result["items"]
            return {
                "seq": b_point.seq,
                "from": a_point.to_json(),
                "to": b_point.to_json(),
                "counts": result["counts"],
                "items": rows[:DIFF_ROWS],
                "more": max(0, len(rows) - DIFF_ROWS),
            }

    def check_node(self, graph: str, node: str) -> None:
        """Refuse a graph or node the store does not have, as ``pdg items GRAPH/NODE`` does."""
        with self._reading() as log:
            _find_node(TableState(log), graph, node)

    def graph_file(self, graph: str) -> tuple[str, str] | None:
        """(graph file, project root), absolute, of the graph's last loaded definition."""
        with self._reading() as log:
            state = TableState(log)
            info = state.graphs.get(graph)
            if info is None:
                return None
            base = os.path.dirname(log.path)
            root = queries.project_root(log, state, graph)
            return os.path.normpath(os.path.join(base, info.path)), root

    def close(self) -> None:
        log = getattr(self._local, "log", None)
        if log is not None:
            log.close()
            self._local.log = None


def _find_node(state, graph: str, node: str) -> None:
    """``UnknownNode`` (a ``PdgError``: a 400) with the CLI's sentence when the store has no
    ``graph`` or no ``node`` in it (``queries.find_node``)."""
    queries.find_node(state, f"{graph}{queries.GRAPH_SEPARATOR}{node}")


def _upstream(node: dict) -> list[str]:
    """The names of the nodes a node definition takes its inputs from (``Graph.describe``)."""
    return [str(v) for v in node.get("inputs") or []]


def _out_size(item) -> int:
    """The bytes of the item's output files: a partition's list is read a chunk at a time, never
    held whole (decoding 100,000 records at once made one row 75 MB)."""
    return sum(rec[2] or 0 for rec in itemlists.entries(item.outputs))
