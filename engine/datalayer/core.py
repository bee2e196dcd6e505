"""The data layer: objects at paths, their subscribers, and the follower that keeps the store's
objects live.

One ``DataLayer`` serves three kinds of object: handlers made by users (``handlers``), queries
(``query?{...}``, ``queries``), and the store's graphs, nodes and work items (``storeobjects``),
which hold nothing in memory and are read from the store when someone subscribes. A follower
thread polls the store; each poll's events become delta messages for the paths that have
subscribers, grouped into one frame per path: a frame carries the seq of the last event it
covers, so a client that stops after any frame resumes exactly after it.

Visualizers are called under the layer's lock, in the follower's thread for the store's objects and
in the changing thread for a user's handler. A remote session's visualizer only queues its frame
(``server``), so no subscriber, however slow, holds the follower up; the follower itself is a reader
of the store and never holds a cook up.
"""

from __future__ import annotations

import threading
import time
from typing import Any

from pdgstore.engine.datalayer import storeobjects
from pdgstore.engine.datalayer.handlers import (
    CommandError,
    SubscriptionHandler,
    SubscriptionHandlerManager,
    TypeRegistry,
    clean_path,
)
from pdgstore.engine.datalayer.messages import APPEND, REMOVE, SET, Message, snapshot
from pdgstore.engine.datalayer.storeview import StoreView

#: how often the follower asks the store whether anything was committed
POLL_INTERVAL_S = 0.01
#: the store's own handler types, as ``TypeRegistry.typeNames()`` lists them
STORE_TYPES = ("PDGRootHandler", "PDGGraphHandler", "PDGNodeHandler", "PDGWorkItemHandler", "PDGQueryHandler")


class DataLayer:
    """A data layer interface (``pdgd.util.get_local_data_layer()`` returns the process's own)."""

    def __init__(self, store_path: str | None = None) -> None:
        self.lock = threading.RLock()
        self.registry = TypeRegistry()
        for name in STORE_TYPES:
            self.registry.registerType(name, None)
        self.manager = SubscriptionHandlerManager(self)
        self.subscribers: dict[str, list] = {}
        self.queries: dict[str, Any] = {}
        self.view: StoreView | None = StoreView(store_path) if store_path else None
        #: the node summaries last sent per path (a summary is sent again only when it changes)
        self._summaries: dict[str, dict] = {}
        self._store_finder = None
        self._follower: threading.Thread | None = None
        self._stop = threading.Event()
        #: frames delivered, by kind: what a benchmark or ``pdg serve`` reports
        self.stats = {"frames": 0, "polls": 0, "events": 0}

    # -- the store -------------------------------------------------------------------------------
    @property
    def seq(self) -> int:
        return self.view.seq if self.view is not None else 0

    def set_store(self, path: str) -> None:
        with self.lock:
            if self.view is not None:
                self.view.close()
            self.view = StoreView(path)

    def find_store_with(self, finder) -> None:
        """Find the store lazily, the first time a store object is asked for (``finder()`` returns
        a path, or raises when there is none)."""
        self._store_finder = finder

    def _ensure_following(self) -> None:
        if self.view is None and self._store_finder is not None:
            self.view = StoreView(self._store_finder())
        if self.view is None:
            return
        if self._follower is None:  # the view is opened by ``step`` (which resends snapshots then)
            self._follower = threading.Thread(target=self._follow, name="pdgd-follower", daemon=True)
            self._follower.start()

    def _follow(self) -> None:
        while not self._stop.wait(POLL_INTERVAL_S):
            try:
                with self.lock:
                    self.step()
            except Exception as exc:  # noqa: BLE001 - the follower must outlive a bad poll; say so
                self.stats["last_error"] = f"{type(exc).__name__}: {exc}"
                time.sleep(0.5)

    def step(self, force: bool = False) -> int:
        """Read what the store appended since the last step and send it to subscribers; the
        number of events read. ``force``: look even when the store's change counter did not move
        (inside a read transaction that must end with the view at its end)."""
        view = self.view
        if view is None:
            return 0
        if view.is_open() and not view.changed() and not force:
            return 0
        if view.is_open() and view.must_reload():
            view.close()  # replaced, or compacted past where the view stands: start over
        opened = False
        if not view.is_open():
            if not view.open():
                return 0
            opened = True
        total = 0
        with view.reading():
            while not self._stop.is_set():  # to the end of the log as this read transaction sees it
                events = view.poll()
                if not events:
                    break
                total += len(events)
                self._dispatch(events)
            if opened:
                self._resnapshot_store_paths()
        self.stats["polls"] += 1
        self.stats["events"] += total
        return total

    def _dispatch(self, events) -> None:
        view, subs = self.view, self.subscribers
        watching = any(storeobjects.parse(p) for p in subs)
        frames: dict[str, list[Message]] = {}
        graphs: set[str] = set()
        if watching:
            view.prepare(events)
        for event in events:
            if watching:
                for path, kind, prop, values in storeobjects.event_deltas(event, view):
                    if path in subs:
                        _add(frames.setdefault(path, []), Message(kind, event.seq, prop, values))
                if event.kind in storeobjects.COUNTED:
                    graphs.add(event.graph)
            view.apply(event)
        if not watching:
            return
        last = events[-1].seq
        for path in subs:
            parsed = storeobjects.parse(path)
            if parsed is None or parsed[0] != "node" or parsed[1] not in graphs:
                continue
            summary = storeobjects.node_summary(view, parsed[1], parsed[2])
            sent = self._summaries.get(path, {})
            for name, values in summary.items():
                if sent.get(name) != values:
                    _add(frames.setdefault(path, []), Message(SET, last, name, values))
            self._summaries[path] = summary
        for path, messages in frames.items():
            self.deliver(path, messages, last)

    def _resnapshot_store_paths(self) -> None:
        for path in list(self.subscribers):
            if storeobjects.parse(path):
                self.deliver(path, [self._store_snapshot(path)], self.seq)

    def _store_snapshot(self, path: str) -> Message:
        return snapshot(storeobjects.properties(self.view, storeobjects.parse(path)), self.view.seq)

    def resume_messages(self, path: str, since: int) -> list[Message] | None:
        """The deltas of store object ``path`` after seq ``since`` up to now, or None when the
        log no longer holds them (compacted, or another store): then a snapshot is due."""
        view = self.view
        parsed = storeobjects.parse(path)
        if parsed is None or parsed[0] == "pdg" or view is None or not view.has_history_after(since):
            return None  # the root object is a few names: a snapshot is as cheap as its deltas
        messages: list[Message] = []
        events = view.events_between(since, view.seq)
        view.prepare(events, live=False)
        for event in events:
            for target, kind, prop, values in storeobjects.event_deltas(event, view):
                if target == path:
                    _add(messages, Message(kind, event.seq, prop, values))
        if parsed[0] == "node":
            for _, kind, prop, values in storeobjects.summary_deltas(view, parsed[1], parsed[2]):
                messages.append(Message(kind, view.seq, prop, values))
        return messages

    # -- subscribing -----------------------------------------------------------------------------
    def subscribe(self, visualizer, path: str, since: int | None = None) -> None:
        """Subscribe ``visualizer`` to the object at ``path``: it gets a snapshot (or, with
        ``since``, the deltas after that seq) and then every change."""
        path = clean_path(path)
        with self.lock:
            handler = self.manager.handlers.get(path)
            if handler is None and not path.startswith("query?") and storeobjects.parse(path) is not None:
                self._subscribe_store(visualizer, path, since)
                return
            subs = self.subscribers.setdefault(path, [])
            if visualizer not in subs:
                subs.append(visualizer)
            if handler is not None:
                self._deliver_to(visualizer, path, [handler.snapshot()], self.seq)
            elif path.startswith("query?"):
                query = self.queries.get(path)
                if query is None:
                    from pdgstore.engine.datalayer.queries import QueryHandler

                    query = self.queries[path] = QueryHandler(self, path)
                self._deliver_to(visualizer, path, [query.snapshot()], self.seq)

    def _subscribe_store(self, visualizer, path: str, since: int | None) -> None:
        """Subscribe to a store object: bring the view to the end of the log first (others hear of
        those events), then the newcomer gets the snapshot (or the deltas since ``since``) of that
        same cut, and every later change."""
        self._ensure_following()
        view = self.view
        if view is None:
            return
        with view.reading():
            self.step(force=True)
            subs = self.subscribers.setdefault(path, [])
            if visualizer not in subs:
                subs.append(visualizer)
            messages = self.resume_messages(path, since) if since is not None else None
            if messages is None:
                messages = [self._store_snapshot(path)]
            parsed = storeobjects.parse(path)
            if parsed[0] == "node" and path not in self._summaries:
                self._summaries[path] = storeobjects.node_summary(view, parsed[1], parsed[2])
            self._deliver_to(visualizer, path, messages, view.seq)

    def unsubscribe(self, visualizer, path: str) -> None:
        path = clean_path(path)
        with self.lock:
            subs = self.subscribers.get(path)
            if subs and visualizer in subs:
                subs.remove(visualizer)
            if not subs:
                self.subscribers.pop(path, None)
                self._summaries.pop(path, None)
                query = self.queries.pop(path, None)
                if query is not None:
                    query.close()

    def resnapshot(self, visualizer, path: str) -> None:
        """Send ``visualizer`` a fresh snapshot of ``path`` (a subscriber that fell behind)."""
        with self.lock:
            if visualizer in self.subscribers.get(path, ()):
                self.subscribers[path].remove(visualizer)
            self.subscribe(visualizer, path)

    def sendCommand(self, name: str, params: Any = None, path: str = "pdg") -> Any:
        """Run command ``name`` of the object at ``path`` with ``params``; its return value."""
        path = clean_path(path)
        with self.lock:
            handler = self.manager.handlers.get(path)
            if handler is None:
                handler = self._builtin_handler(path)
            return handler.command(name, params)

    send_command = sendCommand

    def is_read_only_command(self, name: str, path: str) -> bool:
        """Whether command ``name`` of ``path`` only reads (a remote client needs no token for it)."""
        from pdgstore.engine.datalayer.commands import StoreCommands

        handler = self.manager.handlers.get(clean_path(path))
        if handler is not None:
            return handler.is_read_only(name)
        return name in StoreCommands.read_only_commands

    def _builtin_handler(self, path: str) -> SubscriptionHandler:
        from pdgstore.engine.datalayer.commands import StoreCommands

        if storeobjects.parse(path) is None:
            raise CommandError(f"no object at {path} to send a command to")
        self._ensure_following()
        self.step(force=True)  # opens the store the first time; the command reads the log's end
        handler = SubscriptionHandler(self, path)
        handler.impl = StoreCommands(self, path)
        return handler

    # -- publishing ------------------------------------------------------------------------------
    def publish(self, path: str, messages: list[Message]) -> None:
        with self.lock:
            self.deliver(path, messages, self.seq)

    def path_changed(self, path: str) -> None:
        """A handler appeared at (or left) ``path``: its subscribers get its snapshot."""
        with self.lock:
            handler = self.manager.handlers.get(path)
            if handler is None:
                for visualizer in list(self.subscribers.get(path, ())):
                    _lost(visualizer)
                return
            if path in self.subscribers:
                self.deliver(path, [handler.snapshot()], self.seq)

    def deliver(self, path: str, messages: list[Message], seq: int) -> None:
        for visualizer in list(self.subscribers.get(path, ())):
            self._deliver_to(visualizer, path, messages, seq)

    def _deliver_to(self, visualizer, path: str, messages: list[Message], seq: int) -> None:
        self.stats["frames"] += 1
        frame = getattr(visualizer, "processFrame", None)
        if frame is not None:
            frame(path, messages, seq)
            return
        for message in messages:
            visualizer.processMessage(message, path)

    # -- closing ---------------------------------------------------------------------------------
    def close(self) -> None:
        """Stop following the store; every subscriber hears ``subscriptionLost``."""
        self._stop.set()
        if self._follower is not None and self._follower is not threading.current_thread():
            self._follower.join(timeout=5)
        with self.lock:
            for subs in self.subscribers.values():
                for visualizer in subs:
                    _lost(visualizer)
            self.subscribers.clear()
            if self.view is not None:
                self.view.close()


def _add(messages: list[Message], message: Message) -> None:
    """Append ``message``, merged into the previous one when both append (or remove) values of
    the same property, or both set it."""
    if messages:
        last = messages[-1]
        if last.prop == message.prop and last.type == message.type and last.snapshot is None:
            if message.type in (APPEND, REMOVE):
                last.values = last.values + message.values
                last.seq = message.seq
                return
            if message.type == SET:
                messages[-1] = message
                return
    messages.append(message)


def _lost(visualizer) -> None:
    lost = getattr(visualizer, "subscriptionLost", None)
    if lost is not None:
        lost()
