"""The writer lock, taken briefly by long-lived processes (``pdg watch``, ``pdg schedule run``).

A watcher or a schedule service lives for days; holding the store's writer lock all that time would
refuse every ``pdg cook``, ``pdg dirty`` and ``pdg schedule add`` meanwhile. So they take the lock
for each write (a cook, a few events), keep the projected state in memory between writes, and catch
it up with whatever other processes appended (``EventLog.catch_up``): O(new events), not a reload.

After a cook of the whole graph that succeeded (or of one node that left the graph consistent) the
session writes the graph's no-op manifest (``engine.incremental.manifest``), as ``pdg cook`` does:
without one at the log's end, the next ``pdg cook`` reads every item of the store (3.7 s at
W(100,000), 44 s at W(1,000,000)) where the manifest proves its no-op (0.5 s, 7 s). Not inside the cook: listing every
recorded file takes a fifth of a second at W(100,000), two at W(1,000,000), and a watcher's recook
of one file should not wait for it. The caller says when (``save_manifest``): a schedule service
right after its cook, a watcher once it has seen no change for a moment, and when it stops. A
manifest is written only while the log still ends where the cook left it (but for the live
services' own records: ``EventLog.only_live_since``); otherwise another process wrote since, and
it describes its own state.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from pdgstore.engine.cook.loop import Cook, CookSummary
from pdgstore.engine.cook.recorder import Recorder
from pdgstore.engine.graph.api import Graph
from pdgstore.engine.incremental import delta, manifest
from pdgstore.engine.stop import Stop

from pdgstore.errors import StoreBusy
from pdgstore.events import Event
from pdgstore.log import EventLog
from pdgstore.state import State


def open_writer(
    db: str,
    *,
    wait_s: float | None = None,
    on_busy: Callable[[str], None] | None = None,
    stop: Stop | None = None,
) -> EventLog:
    """Open ``db`` as the writer, waiting while another process holds the lock (up to ``wait_s``
    seconds, forever when None; ``stop`` ends the wait). ``on_busy`` hears the first refusal."""
    deadline = None if wait_s is None else time.monotonic() + wait_s
    told = False
    while True:
        try:
            return EventLog.open(db, writer=True, create=True)
        except StoreBusy as exc:
            if (deadline is not None and time.monotonic() >= deadline) or (stop is not None and stop.is_set()):
                raise
            if not told and on_busy is not None:
                on_busy(str(exc))
                told = True
            if stop is None:
                time.sleep(0.05)
            elif stop.wait(0.05):
                raise


class StoreSession:
    """A store's state kept in memory by a long-lived process, written through brief writer locks."""

    def __init__(self, db: str, *, on_busy: Callable[[str], None] | None = None, stop: Stop | None = None) -> None:
        self.db = db
        self.on_busy = on_busy
        self.stop = stop
        self.state: State | None = None
        #: (kind, subject) of the events the last ``cook`` appended, for callers that follow items
        self.last_cook_subjects: list[tuple[str, str]] = []
        #: which items own which files and what each item's children are (``engine.incremental.delta.Index``),
        #: valid for the state at ``clean_seq``: after a whole cook that succeeded, nothing since
        self.index: delta.Index | None = None
        self.clean_seq: int | None = None
        #: the manifest the last cook left to write (``save_manifest``): its graph, the graph's
        #: results, and the seq the cook ended at
        self._manifest: tuple[Graph, list[str], int] | None = None

    @property
    def manifest_due(self) -> bool:
        """Whether the last cook left the graph's no-op manifest to write."""
        return self._manifest is not None

    @property
    def loaded(self) -> State:
        """The state in memory, once opening the store (or ``refresh``) loaded it."""
        assert self.state is not None, "the state is loaded when the store is opened"
        return self.state

    def _open(self, wait_s: float | None) -> EventLog:
        log = open_writer(self.db, wait_s=wait_s, on_busy=self.on_busy, stop=self.stop)
        try:
            self.state = log.current_state() if self.state is None else log.catch_up(self.state)
        except BaseException:
            log.close()
            raise
        return log

    def _follow(self, graph: Graph, node: str | None, summary: CookSummary, index) -> None:
        """Keep the index for the next cook: after a whole cook that succeeded, follow the items it
        touched (built once, O(all items), the first time)."""
        if node is not None or summary.status != "success":
            self.index = self.clean_seq = None
            return
        if index is not None:
            index.update(self.state, {subject for _kind, subject in self.last_cook_subjects})
        else:
            self.index = delta.Index(self.state, graph.name, graph.root)
        self.clean_seq = self.loaded.seq

    def refresh(self) -> State:
        """The state with what others appended since (read only: no lock taken)."""
        with EventLog.open(self.db) as log:
            self.state = log.current_state() if self.state is None else log.catch_up(self.state)
        return self.state

    def record(self, graph: str, events: list[tuple[type[Event], dict]], wait_s: float | None = None) -> list[Event]:
        """Append ``events`` (class, fields) for ``graph`` in one batch; return them as written."""
        log = self._open(wait_s)
        try:
            rec = Recorder(log, self.loaded, graph=graph)
            written = [rec.emit(cls, **fields) for cls, fields in events]
            rec.flush()
            return written
        except BaseException:
            self.state = None  # the batch may be applied but not written: reload next time
            raise
        finally:
            log.close()

    def cook(
        self,
        graph: Graph,
        *,
        node: str | None = None,
        jobs: int | None = None,
        trigger: dict | None = None,
        on_cook: Callable[[Cook], None] | None = None,
        wait_s: float | None = None,
        changed: list[str] | None = None,
    ) -> CookSummary:
        """Cook ``graph`` from the state in memory (refusals checked before the lock is taken).

        ``changed``: the recorded files a watcher saw change (and no others) since this session's
        last cook; with nothing else appended since, the cook starts from them instead of a stat
        scan of every recorded file (``engine.incremental.delta``)."""
        graph.check_overrides()
        graph.validate()
        graph.describe()
        log = self._open(wait_s)
        try:
            before = self.loaded.seq
            index = (
                self.index
                if (
                    node is None
                    and self.clean_seq == before
                    and self.index is not None
                    and (self.index.graph, self.index.root) == (graph.name, graph.root)
                )
                else None
            )
            cook = Cook(
                log,
                graph,
                state=self.state,
                node=node,
                jobs=jobs,
                trigger=trigger,
                changed=changed if index is not None else None,
                index=index,
            )
            if on_cook is not None:
                on_cook(cook)
            summary = cook.run()
            self.last_cook_subjects = log.subjects_since(before)
            self._follow(graph, node, summary, index)
            self._manifest = None
            if summary.status == "success" and (node is None or cook.left_consistent):
                results = summary.results if node is None else cook.graph_results()
                self._manifest = (graph, results, self.loaded.seq)
            return summary
        except BaseException:
            self.state = None
            raise
        finally:
            log.close()

    def save_manifest(self, wait_s: float | None = 0.0) -> bool:
        """Write the no-op manifest the last cook left (``manifest_due``), if the log still ends where
        that cook left it but for the live services' records; whether it was written. A store busy
        for over ``wait_s`` seconds is another process writing: the manifest would describe a state
        gone by then, and is dropped (so it is in any case: one try per cook)."""
        due, self._manifest = self._manifest, None
        if due is None:
            return False
        graph, results, seq = due
        try:
            log = self._open(wait_s)
        except StoreBusy:
            return False
        try:
            if not log.only_live_since(seq):
                return False
            manifest.save(log, graph, self.loaded, results)
            return True
        except BaseException:
            self.state = None  # as after any failed write: read again next time
            raise
        finally:
            log.close()
