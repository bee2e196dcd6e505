"""The writer lock, taken briefly by long-lived processes (``pdg watch``, ``pdg schedule run``).

A watcher or a schedule service lives for days; holding the store's writer lock all that time would
refuse every ``pdg cook``, ``pdg dirty`` and ``pdg schedule add`` meanwhile. So they take the lock
for each write (a cook, a few events), and hold nothing of the store between writes: each write
reads what it needs from the store's tables, as ``pdg cook`` does (a cook's items are read as its
walk reaches them: ``pdgstore.cookstate``). A watcher of W(1,000,000) held the whole state in
memory (7.4 GB) to recook a file in O(files changed); the tables give it the same (the items holding
a file by its path, an item's children by its id) at the memory of one ``pdg cook``.

A watcher's word (``cook``'s ``changed``: only these recorded files changed) is taken only while
the log ends where this session's last whole cook that succeeded left it: nothing was appended
since, so the state the files were recorded in is the store's. Otherwise the cook starts as ``pdg
cook`` does, from the no-op manifest's stat scan.

After a cook of the whole graph that succeeded (or of one node that left the graph consistent) the
session writes the graph's no-op manifest (``engine.incremental.manifest``), as ``pdg cook`` does:
without one at the log's end, the next ``pdg cook`` reads every item of the store (3.7 s at
W(100,000), 44 s at W(1,000,000)) where the manifest proves its no-op (0.5 s, 7 s). Not inside the
cook: listing every recorded file takes a fifth of a second at W(100,000), two at W(1,000,000), and
a watcher's recook of one file should not wait for it. The caller says when (``save_manifest``): a
schedule service right after its cook, a watcher once it has seen no change for a moment, and when
it stops. A manifest is written only while the log still ends where the cook left it (but for the
live services' own records: ``EventLog.only_live_since``); otherwise another process wrote since,
and it describes its own state.
"""

from __future__ import annotations

import functools
import gc
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import ParamSpec, TypeVar

from pdgstore.engine.cook import results
from pdgstore.engine.cook.loop import Cook, CookSummary
from pdgstore.engine.cook.recorder import Recorder
from pdgstore.engine.graph.api import Graph
from pdgstore.engine.incremental import manifest
from pdgstore.engine.project import cook_in
from pdgstore.engine.stop import Stop

from pdgstore.errors import StoreBusy
from pdgstore.events import Event
from pdgstore.log import EventLog
from pdgstore.readmodel import TableState
from pdgstore.state import State

P = ParamSpec("P")
R = TypeVar("R")


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


def _letting_go(method: Callable[P, R]) -> Callable[P, R]:
    """Free what a write leaves behind, once it returned. Reading the store pauses the cyclic
    garbage collector and freezes what it built (``pdgstore.state.paused_gc``), right for a process
    that ends after one cook; one that lives on would keep every cycle a cook made (its walk, the
    items it read) for good: a watcher grew by 57 MB with each recook of W(100,000)."""

    @functools.wraps(method)
    def letting_go(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return method(*args, **kwargs)
        finally:
            gc.unfreeze()
            gc.collect()

    return letting_go


class StoreSession:
    """A store written by a long-lived process through brief writer locks, nothing of it held between."""

    def __init__(self, db: str, *, on_busy: Callable[[str], None] | None = None, stop: Stop | None = None) -> None:
        self.db = db
        self.on_busy = on_busy
        self.stop = stop
        #: the store's graphs, cooks and registry (schedules, watches, transfers) as ``refresh`` or
        #: the last write left them: no items (``TableState`` reads those)
        self.state: State | None = None
        #: (kind, subject) of the events the last ``cook`` appended, for callers that follow items
        self.last_cook_subjects: list[tuple[str, str]] = []
        #: where the log ended after this session's last whole cook that succeeded, and the graph
        #: it cooked (name, root): while it still ends there, a watcher's word is taken
        self.clean_seq: int | None = None
        self.clean_graph: tuple[str, str] | None = None
        #: the manifest the last cook left to write (``save_manifest``): its graph and the seq the
        #: cook ended at
        self._manifest: tuple[Graph, int] | None = None

    @property
    def manifest_due(self) -> bool:
        """Whether the last cook left the graph's no-op manifest to write."""
        return self._manifest is not None

    def _open(self, wait_s: float | None) -> EventLog:
        return open_writer(self.db, wait_s=wait_s, on_busy=self.on_busy, stop=self.stop)

    def refresh(self) -> State:
        """The store's graphs, cooks and registry now, without its items (read only: no lock taken)."""
        with EventLog.open(self.db) as log:
            self.state = log.state_without_items()
        return self.state

    @contextmanager
    def reading(self) -> Iterator[TableState]:
        """The store's current state, its items read from the tables as asked, in one read."""
        with EventLog.open(self.db) as log, log.one_reading():
            yield TableState(log)

    @_letting_go
    def record(self, graph: str, events: list[tuple[type[Event], dict]], wait_s: float | None = None) -> list[Event]:
        """Append ``events`` (class, fields) for ``graph`` in one batch; return them as written."""
        log = self._open(wait_s)
        try:
            rec = Recorder(log, log.cook_state(), graph=graph)
            written = [rec.emit(cls, **fields) for cls, fields in events]
            rec.flush()
            self.state = log.state_without_items()
            return written
        finally:
            log.close()

    @_letting_go
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
        """Cook ``graph`` (refusals checked before the lock is taken), as ``pdg cook`` would.

        ``changed``: the recorded files a watcher saw change (and no others, each still a file)
        since this session's last cook; taken when nothing else was appended since a whole cook of
        this graph that succeeded (``project.cook_in``'s word), else the cook scans as ``pdg cook``."""
        graph.check_overrides()
        graph.validate()
        graph.describe()
        log = self._open(wait_s)
        try:
            before = log.last_seq()
            trusted = node is None and self.clean_seq == before and self.clean_graph == (graph.name, graph.root)
            self.clean_seq = self.clean_graph = self._manifest = None
            summary, cook = cook_in(
                log,
                graph,
                node=node,
                jobs=jobs,
                trigger=trigger,
                on_cook=on_cook,
                changed=changed if trusted else None,
                save_manifest=False,
            )
            end = log.last_seq()
            self.last_cook_subjects = log.subjects_since(before)
            self.state = log.state_without_items()
            if summary.status == "success" and node is None:
                self.clean_seq, self.clean_graph = end, (graph.name, graph.root)
            if cook is not None and summary.status == "success" and (node is None or cook.left_consistent):
                self._manifest = (graph, end)
            return summary
        finally:
            log.close()

    @_letting_go
    def save_manifest(self, wait_s: float | None = 0.0) -> bool:
        """Write the no-op manifest the last cook left (``manifest_due``), if the log still ends where
        that cook left it but for the live services' records; whether it was written. A store busy
        for over ``wait_s`` seconds is another process writing: the manifest would describe a state
        gone by then, and is dropped (so it is in any case: one try per cook)."""
        due, self._manifest = self._manifest, None
        if due is None:
            return False
        graph, seq = due
        try:
            log = self._open(wait_s)
        except StoreBusy:
            return False
        try:
            if not log.only_live_since(seq):
                return False
            state = log.cook_state()
            manifest.save(log, graph, state, results.of_graph(graph, state))
            return True
        finally:
            log.close()
