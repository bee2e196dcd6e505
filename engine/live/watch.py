"""``pdg watch``: cook, then recook minimally whenever a file the graph reads changes.

One loop in one thread owns everything that matters (the graph, the store's state, the cooks);
watchdog's observer thread only filters events (``WatchSet.relevant``) and queues their paths. The
loop waits for a first hint, then for ``debounce_s`` of quiet (a burst of 500 saves is one recook),
asks the stat cascade which hinted files really changed (``WatchSet.verify``), and cooks: never two
cooks at once, and whatever arrives during a cook is one more cook after it.

watchdog does not report inotify queue overflow and a native observer can fail (the watch limit,
``max_user_watches``): the loop rescans every ``rescan_s`` and, when the observer cannot start or
dies, says so once and polls (a stat scan of the watched set every ``poll_s``). ``poll_s`` given at
start forces polling (network file systems, where inotify sees nothing).
"""

from __future__ import annotations

import os
import queue
import sys
import threading
import time
from collections.abc import Callable
from typing import Any

from pdgstore.engine.cook.loop import Cook, CookSummary
from pdgstore.engine.errors import GraphError, UnknownNode
from pdgstore.engine.graph.api import Graph
from pdgstore.engine.graph.loader import load_graph
from pdgstore.engine.live import messages as msg
from pdgstore.engine.live.watchset import WatchSet, content_hash, local_modules
from pdgstore.engine.live.writer import StoreSession
from pdgstore.engine.project import store_beside
from pdgstore.engine.stop import Stop

from pdgstore import events as ev
from pdgstore.errors import PdgError, StoreRefused
from pdgstore.paths import display_path
from pdgstore.queries import ITEM_KINDS

#: event types that may mean new content (watchdog 7 also reports opens and read-only closes)
CHANGE_EVENTS = frozenset({"created", "modified", "deleted", "moved", "closed"})
#: polling interval when the native observer fails and no --poll was given
FALLBACK_POLL_S = 1.0
#: seconds without a change after a cook before the watcher writes the no-op manifest it left
MANIFEST_IDLE_S = 1.0
_STOP = ("", False)


def _event_filter() -> list:
    """The events worth a kernel watch: not opens and read-only closes (a cook reads every input)."""
    from watchdog import events as wd

    return [
        wd.FileCreatedEvent,
        wd.FileModifiedEvent,
        wd.FileDeletedEvent,
        wd.FileMovedEvent,
        wd.FileClosedEvent,
        wd.DirCreatedEvent,
        wd.DirDeletedEvent,
        wd.DirMovedEvent,
    ]


def _native_observer():
    from watchdog.observers import Observer

    return Observer()


class _Handler:
    """watchdog's handler protocol (``dispatch``), kept to a lookup and a queue put per event."""

    def __init__(self, watcher: Watcher) -> None:
        self.watcher = watcher

    def dispatch(self, event) -> None:
        if event.event_type not in CHANGE_EVENTS:
            return
        ws = self.watcher.watchset
        is_dir = event.is_directory
        if is_dir and event.event_type in ("modified", "closed"):
            return  # a folder's entries changed: the events on the entries say which
        for path in (event.src_path, getattr(event, "dest_path", "")):
            if path:
                path = os.fsdecode(path)
                if ws.relevant(path, is_dir):
                    self.watcher.hints.put((path, is_dir))


class Watcher:
    """Watch the graph file at ``graph_path`` (and ``node`` only, when given) and keep it cooked.

    ``report(message)`` hears what happens, one typed message each (``engine.live.messages``):
    started, change, cook_start, cook, ready (watching again), graph_error, graph_reloaded,
    fallback, busy, error, stopped. ``gate`` is a lock shared with other cooks of this process
    (``pdg schedule run --watch``). ``observer_factory`` makes the native observer (tests pass one
    that fails, as an exhausted inotify would).
    """

    def __init__(
        self,
        graph_path: str,
        *,
        db: str | None = None,
        node: str | None = None,
        overrides: dict | None = None,
        jobs: int | None = None,
        debounce_s: float = 0.15,
        poll_s: float | None = None,
        rescan_s: float = 60.0,
        report: Callable[[msg.WatchMessage], None] | None = None,
        observer_factory: Callable[[], Any] | None = None,
        gate: threading.Lock | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.graph_path = os.path.abspath(graph_path)
        self.db = os.path.abspath(db) if db else store_beside(graph_path)
        self.node = node
        self.overrides = dict(overrides or {})
        self.jobs = jobs
        self.debounce_s = debounce_s
        self.poll_s = poll_s
        self.rescan_s = rescan_s
        # seconds, when scans fall due and debounce windows close: a test hands in a clock that
        # runs ahead instead of sleeping through an hour's poll
        self.clock = clock
        self.report = report or (lambda message: None)
        self.observer_factory = observer_factory or _native_observer
        self.gate = gate or threading.Lock()
        self.hints: queue.SimpleQueue = queue.SimpleQueue()
        self.stopped = Stop()  # ``stop`` may be called from a signal handler (``engine.stop``)
        self.stop_reason = ""
        self.session = StoreSession(self.db, on_busy=lambda m: self.report(msg.StoreBusy(m)), stop=self.stopped)
        self.watchset = WatchSet(os.path.dirname(self.graph_path))
        self.graph: Graph | None = None
        self.graph_broken = False
        self.watch_id = 0
        self.cooks = 0
        self.mode = "poll" if poll_s else "native"
        self.observer: Any = None  # a watchdog observer (watchdog has no type information)
        self._watches: dict[tuple[str, bool], object] = {}
        self._cook: Cook | None = None
        self._graph_files: dict[str, str] = {}
        self._pending: set[str] = set()  # hints found by a scan, verified at the next turn

    @property
    def loaded_graph(self) -> Graph:
        """The graph being watched: ``run`` loads it before anything else asks."""
        assert self.graph is not None, "the watch has not loaded its graph yet"
        return self.graph

    # -- control (any thread, signal handlers included) -----------------------------------------
    def stop(self, reason: str = "stopped") -> None:
        """End the watch: cancel a running cook (its results so far are flushed) and return."""
        if not self.stopped.is_set():
            self.stop_reason = reason
            self.stopped.set()
            cook = self._cook
            if cook is not None:
                cook.cancel(reason)
            self.hints.put(_STOP)

    # -- the loop --------------------------------------------------------------------------------
    def run(self) -> int:
        """Cook, watch until ``stop``; return the number of cooks run. Raises the graph file's error
        when it does not load at the start (there is nothing to watch yet)."""
        self.graph = self._load()
        poll = self.poll_s or 0.0
        self.watch_id = self.session.record(
            self.graph.name,
            [
                (
                    ev.WatchStarted,
                    {
                        "path": self.graph_path,
                        "node": self.node or "",
                        "mode": self.mode,
                        "poll_s": poll,
                        "pid": os.getpid(),
                    },
                )
            ],
        )[0].seq
        try:
            self._cook_now([], "the watch started")
            self._rebuild()
            if self.mode == "native":
                self._start_observer()
            self.report(
                msg.Started(
                    files=len(self.watchset),
                    dirs=len(self.watchset.dirs),
                    mode=self.mode,
                    poll_s=self.poll_s or 0.0,
                    graph=self.graph.name,
                    store=self.db,
                )
            )
            self._pending |= self.watchset.scan()  # whatever changed while the first cook ran
            self._loop()
        finally:
            self._stop_observer()
            message = self.stop_reason or "stopped"
            try:
                self.session.stop = None  # record the end even when stopping
                self.session.record(
                    self.graph.name,
                    [(ev.WatchStopped, {"watch": self.watch_id, "cooks": self.cooks, "message": message})],
                    wait_s=10.0,
                )
            except PdgError as exc:
                self.report(msg.WatchError(f"the end of the watch was not recorded: {exc}"))
            self._save_manifest()  # after the last cook, if no change came to write it before
            self.report(msg.Stopped(self.cooks, message))
        return self.cooks

    def _loop(self) -> None:
        next_scan = self.clock() + self._scan_interval_s()
        while not self.stopped.is_set():
            pending, self._pending = self._pending, set()
            wait = 0.0 if pending else max(0.0, next_scan - self.clock())
            idle = self.session.manifest_due and not pending
            hints, folders = self._collect(min(wait, MANIFEST_IDLE_S) if idle else wait, started=bool(pending))
            hints |= pending
            if self.stopped.is_set():
                return
            if idle and not hints and not folders:
                self._save_manifest()  # no change for a moment since the last cook
            if self.mode == "native":
                self._check_observer()
            if self.clock() >= next_scan:
                hints |= self.watchset.scan()
                next_scan = self.clock() + self._scan_interval_s()
            if not hints and not folders:
                continue
            t0 = time.perf_counter()
            graph_changed, changed = self.watchset.verify(hints, folders)
            if graph_changed:
                if not self._reload():
                    continue
            elif self.graph_broken:
                continue
            if not (changed or graph_changed):
                continue
            root = self.loaded_graph.root
            rel = [os.path.relpath(p, root).replace(os.sep, "/") for p in changed]
            modules = [os.path.relpath(p, root).replace(os.sep, "/") for p in graph_changed if p != self.graph_path]
            itself = self.graph_path in graph_changed
            self.report(
                msg.ChangeSeen(rel, len(changed), bool(graph_changed), time.perf_counter() - t0, itself, modules)
            )
            why = (
                "the graph changed"
                if graph_changed and not changed
                else (f"{len(changed)} changed file{'s' if len(changed) != 1 else ''}")
            )
            summary = self._cook_now(changed, why)
            t1 = time.perf_counter()
            self._rebuild(summary, reloaded=bool(graph_changed))
            self.report(msg.Ready(len(self.watchset), time.perf_counter() - t1))
            if self.mode == "native":
                self.watchset.place()  # folders the recook created can have their own watch now
                self._sync_observer()

    def _save_manifest(self) -> None:
        """Write the no-op manifest the last cook left (``StoreSession.save_manifest``), so that a
        ``pdg cook`` after this watcher's cooks proves its no-op without reading every item. Not
        while another cook of this process runs (a schedule's, sharing the gate): it ends the log
        elsewhere, and its own manifest follows it."""
        if not self.gate.acquire(blocking=False):
            return
        try:
            self.session.save_manifest()
        except PdgError as exc:  # derived data: the next pdg cook only reads more
            self.report(msg.WatchError(f"the no-op manifest was not written: {exc}"))
        finally:
            self.gate.release()

    def _scan_interval_s(self) -> float:
        """Seconds between stat scans: every poll when polling (``poll_s`` is set then), else the
        rescan that catches what a native observer missed."""
        if self.mode == "poll" and self.poll_s:
            return self.poll_s
        return self.rescan_s

    def _collect(self, timeout: float, started: bool = False) -> tuple[set[str], set[str]]:
        """Wait up to ``timeout`` for a first hint (``started``: a scan found one already), then
        until ``debounce_s`` pass with none (at most ten windows or a second, so a steady stream
        still cooks): (file paths, folder paths)."""
        paths: set[str] = set()
        folders: set[str] = set()
        try:
            item = self.hints.get(timeout=timeout) if not started else None
        except queue.Empty:
            return paths, folders
        cap = self.clock() + max(1.0, 10 * self.debounce_s)
        while True:
            if item is _STOP:
                return paths, folders
            if item is not None:
                (folders if item[1] else paths).add(item[0])
            wait = min(self.debounce_s, cap - self.clock())
            if wait <= 0:
                break
            try:
                item = self.hints.get(timeout=wait)
            except queue.Empty:
                break
        return paths, folders

    # -- cooking ---------------------------------------------------------------------------------
    def _cook_now(self, changed: list[str], why: str) -> CookSummary | None:
        root = self.loaded_graph.root
        rel = [os.path.relpath(p, root).replace(os.sep, "/") for p in changed]
        trigger = {
            "by": "watch",
            "files": rel[: ev.FILES_KEPT],
            "count": len(rel),
            "watch": self.watch_id,
            "message": why,
        }
        self.report(msg.CookStarting(rel, why, time.perf_counter()))
        try:
            with self.gate:
                if self.stopped.is_set() and self.cooks:
                    return None
                summary = self.session.cook(
                    self.loaded_graph,
                    node=self.node,
                    jobs=self.jobs,
                    trigger=trigger,
                    on_cook=self._running,
                    changed=changed or None,
                )
        except StoreRefused:
            raise
        except PdgError as exc:
            if self.stopped.is_set():
                return None
            self.report(msg.WatchError(str(exc)))
            return None
        finally:
            self._cook = None
        self.cooks += 1
        self.report(msg.Cooked(summary, rel, why))
        return summary

    def _running(self, cook: Cook) -> None:
        self._cook = cook
        if self.stopped.is_set():
            cook.cancel(self.stop_reason)

    # -- the graph file --------------------------------------------------------------------------
    def _load(self) -> Graph:
        for path in self._graph_files:  # local modules: import them afresh
            for name, module in list(sys.modules.items()):
                if getattr(module, "__file__", None) == path:
                    del sys.modules[name]
        before = set(sys.modules)
        graph = load_graph(self.graph_path, self.overrides)
        imported = [name for name in list(sys.modules) if name not in before]
        if self.node is not None and self.node not in graph.nodes:
            raise UnknownNode(
                f"{display_path(self.graph_path)}: graph {graph.name} has no node {self.node} "
                f"(its nodes: {', '.join(graph.nodes) or 'none'})"
            )
        watched = [self.graph_path, *local_modules(graph.root, imported, skip=self.graph_path)]
        self._graph_files = {p: content_hash(p) for p in watched}
        return graph

    def _reload(self) -> bool:
        try:
            graph = self._load()
        except (GraphError, PdgError) as exc:
            self.graph_broken = True
            self.report(msg.GraphBroken(str(exc)))
            self._graph_files[self.graph_path] = content_hash(self.graph_path)
            self.watchset.graph_files.update(self._graph_files)
            return False
        self.graph, self.graph_broken = graph, False
        self.report(msg.GraphReloaded(graph.name))
        return True

    def _rebuild(self, summary: CookSummary | None = None, reloaded: bool = True) -> None:
        """The watch set after a cook: its items' records updated in place (O(items it touched)),
        or built anew when the graph was reloaded, items came or went, or the cook failed to run."""
        graph = self.loaded_graph
        scope = graph.upstream_closure(self.node) if self.node else graph.topological_order()
        if not os.path.exists(self.db):  # the first cook failed before it made the store
            self.watchset = WatchSet.build(
                graph, None, scope, store_dir=os.path.dirname(self.db), graph_files=self._graph_files
            )
            return
        with self.session.reading() as store:
            if summary is not None and not reloaded:
                touched = {subject for kind, subject in self.session.last_cook_subjects if kind in ITEM_KINDS}
                self.watchset.update(graph, store, scope, touched)
                return
            self.watchset = WatchSet.build(
                graph, store, scope, store_dir=os.path.dirname(self.db), graph_files=self._graph_files
            )

    # -- the observer ----------------------------------------------------------------------------
    def _start_observer(self) -> None:
        try:
            self.observer = self.observer_factory()
            self.observer.start()
            self._sync_observer()
        except OSError as exc:
            self._fall_back(f"the native file watcher failed ({exc.strerror or exc})")

    def _sync_observer(self) -> None:
        """Watch the folders the watch set needs and no others (one watch per folder, not per file)."""
        if self.observer is None:
            return
        wanted = {(path, recursive) for path, recursive in self.watchset.dirs.items()}
        try:
            for key in list(self._watches):
                if key not in wanted:
                    self.observer.unschedule(self._watches.pop(key))
            for key in wanted:
                if key not in self._watches:
                    self._watches[key] = self.observer.schedule(
                        _Handler(self), key[0], recursive=key[1], event_filter=_event_filter()
                    )
        except OSError as exc:
            self._fall_back(f"the native file watcher failed ({exc.strerror or exc})")

    def _check_observer(self) -> None:
        """watchdog ends the watch of a folder that is deleted: drop such watches and watch what
        the watch set needs now (a missing folder through its nearest parent). Only an observer
        that died as a whole means polling from now on."""
        observer = self.observer
        if observer is None:
            return
        if not observer.is_alive():
            self._fall_back("the file system observer stopped")
            return
        dead = [e for e in list(observer.emitters) if not e.is_alive()]
        if not dead:
            return
        for emitter in dead:
            self._watches.pop((emitter.watch.path, emitter.watch.is_recursive), None)
            try:
                observer.unschedule(emitter.watch)
            except KeyError:
                pass
        self.watchset.place()
        self._sync_observer()

    def _fall_back(self, why: str) -> None:
        """Poll from now on, saying so once (and in the log)."""
        self._stop_observer()
        self.mode = "poll"
        self.poll_s = self.poll_s or FALLBACK_POLL_S
        message = f"{why}: polling every {self.poll_s:g} s instead"
        self.report(msg.FellBack(message))
        try:
            self.session.record(
                self.loaded_graph.name,
                [
                    (
                        ev.WatchModeChanged,
                        {"watch": self.watch_id, "mode": "poll", "poll_s": self.poll_s, "message": message},
                    )
                ],
            )
        except PdgError as exc:
            self.report(msg.WatchError(str(exc)))
        self._pending |= self.watchset.scan()

    def _stop_observer(self) -> None:
        observer, self.observer = self.observer, None
        self._watches = {}
        if observer is not None:
            try:
                observer.stop()
                observer.join(timeout=5)
            except RuntimeError:
                pass
