"""The data layer: objects at paths, their subscribers, and the follower that keeps the store's
objects live.

One ``DataLayer`` serves three kinds of object: handlers made by users (``handlers``), queries
(``query?{...}``, ``queries``), and the store's graphs, nodes and work items (``storeobjects``),
which hold nothing in memory and are read from the store when someone subscribes. A follower
thread steps through the store; each step's events become delta messages for the paths that have
subscribers, grouped into one frame per path and cut where the step ended (``boundaries``): a
frame carries the seq of the last event it covers, so a client that stops after any frame resumes
exactly after it, and ``replay`` makes the same frames again from the log for it.

Visualizers are called under the layer's lock, in the follower's thread for the store's objects and
in the changing thread for a user's handler. A remote session's visualizer only queues its frame
(``server``), so no subscriber, however slow, holds the follower up; the follower itself is a reader
of the store and never holds a cook up.
"""

from __future__ import annotations

import collections
import contextlib
import threading
import time
from collections.abc import Iterator
from typing import Any

from pdgstore.engine.datalayer import storeobjects
from pdgstore.engine.datalayer.handlers import (
    CommandError,
    SubscriptionHandler,
    SubscriptionHandlerManager,
    TypeRegistry,
    clean_path,
)
from pdgstore.engine.datalayer.messages import APPEND, Message, snapshot
from pdgstore.engine.datalayer.messages import PropertyNames as P
from pdgstore.engine.datalayer.newitems import NewItems
from pdgstore.engine.datalayer.replay import add_delta, merge, resume_frames, summary_messages
from pdgstore.engine.datalayer.storeview import Envelope, StoreView
from pdgstore.engine.errors import error_line

#: how often the follower asks the store whether anything was committed
POLL_INTERVAL_S = 0.025
#: how long it waits after a step that read events (a cook is writing): fewer, fuller frames
BUSY_INTERVAL_S = 0.03
#: while a cook writes, the share of one core the serving process may use: past it (many
#: subscribers, each step a message to each), the follower steps less often, up to
#: ``MAX_BUSY_INTERVAL_S`` apart, so that each step carries more events to everyone. A much smaller
#: share paced even a browser following a trickle of changes to long gaps between steps
CPU_SHARE = 0.2
#: and, however cheap a step is for the server, at least this long per subscriber between steps:
#: each step is a message that every subscriber's process must read and parse, on the same cores
#: as the cook; one subscriber still hears every ``BUSY_INTERVAL_S``
PER_SUBSCRIBER_S = 0.005
MAX_BUSY_INTERVAL_S = 0.5
#: how often, while the store is quiet, the follower looks whether the cook it shows running died
LIVENESS_S = 1.0
#: events a step reads at most per query (a long catch-up is read in slices)
POLL_LIMIT = 5000
#: subscribed work items the follower names in its query; beyond, it reads every row
MAX_NAMED_ITEMS = 200
#: cuts remembered for resumed subscriptions (older ones come back as one frame)
BOUNDARY_LIMIT = 200_000
#: the store's own handler types, as ``TypeRegistry.typeNames()`` lists them
WORK_ITEMS = P.WorkItems
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
        self.stats: dict[str, Any] = {"frames": 0, "polls": 0, "events": 0}
        #: the seq each step read to, oldest first: where live frames were cut (``replay``)
        self.boundaries: collections.deque[int] = collections.deque(maxlen=BOUNDARY_LIMIT)
        #: bumped at every (un)subscription: what the follower must decode is worked out again
        self._version = 0
        #: deliveries under way on the thread holding ``lock`` (a listener may subscribe from one),
        #: and the subscriptions asked meanwhile, made once the outermost delivery is over
        self._delivering = 0
        self._deferred: list[tuple[Any, str, int | None]] = []
        self._interest_cache: _Interest | None = None
        #: when the follower next looks for a dead cook, and the last one it told of (``_tell_death``)
        self._liveness_at = 0.0
        self._told_died: int | None = None

    # -- the store -------------------------------------------------------------------------------
    @property
    def seq(self) -> int:
        return self.view.seq if self.view is not None else 0

    def _open_view(self) -> StoreView:
        """The view, for the parts of a step or a subscription that run only once there is one."""
        view = self.view
        assert view is not None, "a step or a subscription made the view first"
        return view

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
        wait = POLL_INTERVAL_S
        spent = time.process_time()
        while not self._stop.wait(wait):
            try:
                with self.lock:
                    read = self.step()
                    if not read:
                        self._tell_death()
                wait = POLL_INTERVAL_S
                if read:  # a cook is writing: pace the steps (each is a frame to every subscriber)
                    now = time.process_time()
                    wait, spent = busy_interval(now - spent, self._interest().subscribers), now
            except Exception as exc:  # noqa: BLE001 - the follower must outlive a bad poll; say so
                self.stats["last_error"] = error_line(exc)
                time.sleep(0.5)

    def step(self, force: bool = False) -> int:
        """Read what the store appended since the last step and send it to subscribers: one frame
        per object that changed, cut at the end of what this read transaction sees (the seq is
        remembered in ``boundaries``, so a resumed subscription is cut the same way); the number
        of events read. ``force``: look even when the store's change counter did not move."""
        with self._delivery():
            return self._step(force)

    def _step(self, force: bool) -> int:
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
            opened, self._told_died = True, None  # a store made again: its cook ids start over
            self.boundaries.clear()
            self.boundaries.append(view.seq)
        interest = self._interest()
        start = view.seq
        rows: list[tuple] = []
        new: list[tuple] = []  # the items first generated in the cut, when read apart (``newitems``)
        apart = interest.new_items_apart and not view.in_memory
        summaries: dict[str, dict] = {}
        with view.reading():  # kept short: the cut's rows and its node counts, nothing else
            end = view.end_seq()
            after = start
            kinds, subjects = interest.filter()
            while after < end and not self._stop.is_set():  # to the end of the log as this transaction sees it
                until = min(after + POLL_LIMIT, end)
                rows += view.rows(after, until, kinds, subjects, new_items_apart=apart)
                if apart:
                    new += view.new_items(after, until)
                after = until
            if opened:
                self._resnapshot_store_paths(end)
            elif end > start and not view.in_memory:
                summaries = self._read_summaries()
        if self._stop.is_set():
            return 0  # closing: nobody is to hear of a cut read halfway
        # A reader in a read transaction keeps the writer's WAL from starting over (it grows, and
        # the cook pays): the deltas are worked out and delivered after it ended, from the rows
        # read and facts that do not change (events, an item's node, when it was first generated).
        frames: dict[str, list[Message]] = {}
        if end > start:
            self._collect(rows, view.decode(rows, interest.wants), interest, frames, new)
            view.seq = end
            self.boundaries.append(end)
            if view.in_memory:
                summaries = self._read_summaries()
            if opened:
                frames = {}  # the snapshots hold what they said
            self._summarise(summaries, frames)
        self.deliver_step(frames, view.seq)
        self.stats["polls"] += 1
        self.stats["events"] += end - start
        return end - start

    def _tell_death(self) -> None:
        """A cook killed without a word (``kill -9``) records no end: its events just stop. While
        the store is quiet, every ``LIVENESS_S``, the follower looks whether the cook the log shows
        running still runs (``storeobjects.died_cook``); its graph's subscribers hear, once, that it
        died, as a snapshot would now say."""
        now, view = time.monotonic(), self.view
        if now < self._liveness_at or view is None or not view.is_open():
            return
        self._liveness_at = now + LIVENESS_S
        if not any(parsed[0] == "graph" for parsed in self._interest().parsed.values()):
            return
        cook = storeobjects.died_cook(view)
        if cook is not None and cook.cook_id != self._told_died:
            self._told_died = cook.cook_id
            self.deliver(storeobjects.graph_path(cook.graph), [storeobjects.died_message(view.seq)], view.seq)

    def _interest(self) -> _Interest:
        if self._interest_cache is None or self._interest_cache.version != self._version:
            self._interest_cache = _Interest(self.subscribers, self._version)
        return self._interest_cache

    def _collect(self, rows: list[tuple], decoded: dict, interest: _Interest, frames: dict, new: list[tuple]) -> None:
        """The deltas the events of ``rows`` make to the subscribed store objects, merged into
        ``frames`` (``decoded``: the events subscribers look into, by seq; the others are read
        by their columns, as ``Envelope``s, and only when they may concern a subscribed object),
        with those of the ``new`` items read apart put back between them by seq (``newitems``)."""
        view, paths = self._open_view(), interest.paths
        if interest.lists_items and rows:
            generated = [row[5] for row in rows if row[4] == "WorkItemGenerated"]
            if interest.new_items_apart:  # the items first generated here are not among them
                view.prepare_items(generated)
            else:
                view.prepare_items(generated, rows[0][0] - 1, rows[-1][0])
        items, item_only, handled = interest.items, storeobjects.ITEM_ONLY, storeobjects.HANDLED
        in_memory = view.in_memory
        lists = _ListAppends(view, paths, frames) if paths and not in_memory else None
        news = NewItems(new, view, paths, frames) if new else None
        for row in rows:
            seq, kind = row[0], row[4]
            if news is not None and news.add_before(seq) and lists is not None:
                lists.forget()
            if lists is not None and kind == "WorkItemGenerated" and seq not in decoded and lists.add(row):
                view.advance(seq, row[3])
                continue
            if paths and kind in handled and (kind not in item_only or row[5] in items):
                event = decoded.get(seq) or Envelope(row)
                if lists is not None:
                    lists.forget()
                for path, kind, prop, values in storeobjects.event_deltas(event, view, paths):
                    messages = frames.get(path)
                    if messages is None:
                        messages = frames[path] = []
                    add_delta(messages, kind, seq, prop, values)
            if in_memory:
                view.apply(decoded[seq])
            else:
                view.advance(seq, row[3])
        if news is not None:
            news.add_rest()

    def _read_summaries(self) -> dict[str, dict]:
        """The summaries of the subscribed nodes as the view's state stands (for the tables:
        inside the read transaction that read the step's rows). One indexed query per node."""
        found = {}
        view, interest = self._open_view(), self._interest()
        for path in interest.node_paths:
            parsed = interest.parsed[path]
            found[path] = storeobjects.node_summary(view, parsed[1], parsed[2])
        return found

    def _summarise(self, summaries: dict[str, dict], frames: dict) -> None:
        """The node summaries that changed in this step, at the end of its frames."""
        seq = self._open_view().seq
        for path, summary in summaries.items():
            for message in summary_messages(self._summaries.get(path), summary, seq):
                merge(frames.setdefault(path, []), message)
            self._summaries[path] = summary

    def _resnapshot_store_paths(self, seq: int) -> None:
        for path in list(self.subscribers):
            if storeobjects.parse(path):
                self.deliver(path, [self._store_snapshot(path, seq)], seq)

    def _store_snapshot(self, path: str, seq: int | None = None) -> Message:
        view = self._open_view()
        seq = view.seq if seq is None else seq
        return snapshot(storeobjects.properties(view, storeobjects.parse_known(path)), seq)

    def resume_frames(self, path: str, since: int) -> list[tuple[int, list[Message]]] | None:
        """The frames of store object ``path`` after seq ``since`` up to now, as a live subscriber
        got them (``replay``), or None when the log no longer holds them: then a snapshot is due."""
        if self.view is None:
            return None
        return resume_frames(self.view, path, since, self.boundaries)

    # -- subscribing -----------------------------------------------------------------------------
    def subscribe(self, visualizer, path: str, since: int | None = None) -> None:
        """Subscribe ``visualizer`` to the object at ``path``: it gets a snapshot (or, with
        ``since``, the deltas after that seq) and then every change."""
        path = clean_path(path)
        with self.lock:
            if self._delivering:  # asked by a listener while it hears a message: after it returns
                self._deferred.append((visualizer, path, since))
                return
            handler = self.manager.handlers.get(path)
            parsed = storeobjects.parse(path)
            if handler is None and not path.startswith("query?") and parsed is not None:
                self._subscribe_store(visualizer, path, parsed, since)
                return
            subs = self.subscribers.setdefault(path, [])
            if visualizer not in subs:
                subs.append(visualizer)
            self._version += 1
            if handler is not None:
                self._deliver_to(visualizer, path, [handler.snapshot()], self.seq)
            elif path.startswith("query?"):
                query = self.queries.get(path)
                if query is None:
                    from pdgstore.engine.datalayer.queries import QueryHandler

                    query = self.queries[path] = QueryHandler(self, path)
                self._deliver_to(visualizer, path, [query.snapshot()], self.seq)

    def _subscribe_store(self, visualizer, path: str, parsed: tuple, since: int | None) -> None:
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
            self._version += 1
            if parsed[0] == "node" and path not in self._summaries:
                self._summaries[path] = storeobjects.node_summary(view, parsed[1], parsed[2])
            frames = self.resume_frames(path, since) if since is not None else None
            if frames is None:
                self._deliver_to(visualizer, path, [self._store_snapshot(path)], view.seq)
            for seq, messages in frames or ():
                self._deliver_to(visualizer, path, messages, seq)

    def unsubscribe(self, visualizer, path: str) -> None:
        path = clean_path(path)
        with self.lock:
            subs = self.subscribers.get(path)
            if subs and visualizer in subs:
                subs.remove(visualizer)
            self._version += 1
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
        with self._delivery():
            for visualizer in list(self.subscribers.get(path, ())):
                self._deliver_to(visualizer, path, messages, seq)

    def deliver_step(self, frames: dict[str, list[Message]], seq: int) -> None:
        """Deliver the frames of one step: each visualizer gets all of its own together, so a
        remote session hands them to its connection in one go (one wake-up, one write)."""
        with self._delivery():
            self._deliver_frames(frames, seq)

    @contextlib.contextmanager
    def _delivery(self) -> Iterator[None]:
        """Listeners may be called meanwhile (a step, a delivery): the subscriptions they ask for
        are made once the outermost delivery is over. So a listener is never called again from
        inside its own call (one that holds its own lock while it subscribes, as
        ``examples/datalayer/progress.py`` does, would wait for itself), and no step's frames are
        cut in two by the snapshot a subscription reads."""
        self._delivering += 1
        try:
            yield
        finally:
            self._delivering -= 1
        while self._deferred and not self._delivering:
            self.subscribe(*self._deferred.pop(0))

    def _deliver_frames(self, frames: dict[str, list[Message]], seq: int) -> None:
        batches: dict[int, tuple[Any, list[tuple[str, list[Message]]]]] = {}
        for path, messages in frames.items():
            for visualizer in self.subscribers.get(path, ()):
                batches.setdefault(id(visualizer), (visualizer, []))[1].append((path, messages))
        for visualizer, mine in batches.values():
            many = getattr(visualizer, "processFrames", None)
            if many is None:
                for path, messages in mine:
                    self._deliver_to(visualizer, path, messages, seq)
                continue
            self.stats["frames"] += len(mine)
            many(mine, seq)

    def _deliver_to(self, visualizer, path: str, messages: list[Message], seq: int) -> None:
        self.stats["frames"] += 1
        with self._delivery():
            frame = getattr(visualizer, "processFrame", None)
            if frame is not None:
                frame(path, messages, seq)
            else:
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


def busy_interval(cpu_s: float, subscribers: int = 1) -> float:
    """How long to wait after a step that read events, given the CPU seconds the whole serving
    process used since the last such step (reading, working out deltas, and every connection's
    encoding and sending, on the servers' threads too) and how many subscribers the store's
    objects have: at least ``BUSY_INTERVAL_S``, long enough that the process keeps to
    ``CPU_SHARE`` of a core, and ``PER_SUBSCRIBER_S`` per subscriber (what their own processes
    spend on each step, which the server cannot see), up to ``MAX_BUSY_INTERVAL_S``. One
    subscriber costs a step little, so its deltas come every 30 ms; fifty cost fifty messages a
    step, and then steps come every 250 ms, each carrying more."""
    return min(MAX_BUSY_INTERVAL_S, max(BUSY_INTERVAL_S, cpu_s / CPU_SHARE, PER_SUBSCRIBER_S * subscribers))


class _ListAppends:
    """The common case of a cook's events, done without ``event_deltas``' general walk: a new work
    item (its event read by its columns only: nobody subscribed to the item itself) appended to
    its graph's and its node's ``work_items`` (or, generated again, already there). A cold
    W(10,000) is 20,000 of these, and the general walk (a generator, an ``Envelope``, the paths
    formatted and the frame's last message looked up again for each) was most of what following
    it cost. ``add`` declines what it does not handle (a graph that is new to the root object, an
    item removed since), which takes the general walk; after any delta of the general walk,
    ``forget`` must be called (the frames' last messages may have changed)."""

    __slots__ = ("view", "paths", "frames", "root", "ords", "nodes", "targets")

    def __init__(self, view: StoreView, paths: frozenset, frames: dict[str, list[Message]]) -> None:
        self.view, self.paths, self.frames = view, paths, frames
        self.root = storeobjects.ROOT in paths
        self.ords, self.nodes = view.prepared_items()
        #: (graph, node) -> the APPEND messages of ``work_items`` its new items go to, at the end
        #: of their frames
        self.targets: dict[tuple[str, str], list[Message]] = {}

    def add(self, row: tuple) -> bool:
        """The deltas of the WorkItemGenerated at ``row`` added to the frames; False when it is
        one for the general walk."""
        seq, graph, item_id = row[0], row[3], row[5]
        if self.root and self.view.is_new_graph(graph):
            return False
        ord_ = self.ords.get(item_id)
        if ord_ is None:
            return False  # removed since: the general walk finds where it was
        if ord_ < seq:
            return True  # generated again (``is_regenerated``): already listed
        node = self.nodes[item_id]
        targets = self.targets.get((graph, node))
        if targets is None:
            targets = self.targets[(graph, node)] = self._targets(graph, node, seq)
        for message in targets:
            message.values.append(item_id)
            message.seq = seq
        return True

    def _targets(self, graph: str, node: str, seq: int) -> list[Message]:
        found = []
        for path in (storeobjects.graph_path(graph), storeobjects.node_path(graph, node)):
            if path in self.paths:
                messages = self.frames.setdefault(path, [])
                add_delta(messages, APPEND, seq, WORK_ITEMS, [])  # merged into the last, or a new one
                found.append(messages[-1])
        return found

    def forget(self) -> None:
        self.targets.clear()


class _Interest:
    """What the subscribed store objects need of the log: their paths, and which events must be
    decoded for them (``wants``); the rest of a cook's events are followed by their columns only."""

    def __init__(self, subscribers: dict, version: int) -> None:
        self.version = version
        #: each subscribed store object's path, parsed (``storeobjects.parse``)
        self.parsed = {p: x for p in subscribers if (x := storeobjects.parse(p)) is not None}
        self.paths = frozenset(self.parsed)
        self.node_paths = sorted(p for p, x in self.parsed.items() if x[0] == "node")
        self.items = frozenset(x[2] for x in self.parsed.values() if x[0] == "item")
        self.lists_items = any(x[0] in ("graph", "node") for x in self.parsed.values())
        #: the cut's new items are read apart, as a range of the item table (``newitems``): all
        #: their deltas are list appends, unless a subscriber follows some work item itself
        self.new_items_apart = self.lists_items and not self.items
        #: the visualizers (a remote connection is one) following store objects
        self.subscribers = len({id(v) for p in self.paths for v in subscribers[p]})

    def filter(self) -> tuple:
        """(kinds, subjects): the rows worth reading (the follower skips the rest in SQL): the
        kinds that change graphs, nodes or lists, and the events of the subscribed work items
        (all rows when there are too many of those to name)."""
        if len(self.items) > MAX_NAMED_ITEMS:
            return None, None
        return storeobjects.HANDLED - storeobjects.ITEM_ONLY, self.items

    def wants(self, kind: str, graph: str, subject: str) -> bool:
        """Whether an event (by its columns) must be decoded for the subscribed objects."""
        return kind in storeobjects.ALWAYS_DECODED or subject in self.items


def _lost(visualizer) -> None:
    lost = getattr(visualizer, "subscriptionLost", None)
    if lost is not None:
        lost()
