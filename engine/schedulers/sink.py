"""The result server's sink: a job's calls handed to the cook's loop, answered once flushed.

The server's threads never touch the engine's state. Each call becomes a report on the loop's
inbox carrying a ``done`` callback; the loop records it as events, flushes, and only then calls
``done``, which wakes the server thread to answer the job: a job told "ok" can trust that the log
holds its report. A report the loop refuses (the item is no longer cooking, a reported file does
not exist) raises ValueError, which the server turns into a fault naming the problem.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Callable

from pdgstore.engine.schedulers.contract import Reporter

#: how long a job's call waits for the loop (a cook that ended answers no more)
WAIT_S = 60.0
_KIND = {"str": "string"}


class Deferred:
    """The reports a batch sent without waiting (``CookSink.deferring``): each under the tag the
    server gave it (its place in the batch); ``errors()`` waits for all of them at once. One wake
    for the whole batch, not one per report: the loop answers hundreds of reports per flush, and
    each wake of a waiting thread costs it a lock and a switch."""

    def __init__(self) -> None:
        self.tag = 0
        self._lock = threading.Lock()
        self._waiting: dict[int, int] = {}  # tag -> reports not answered yet
        self._refused: dict[int, str] = {}
        self._sealed = False
        self._all = threading.Event()

    def expect(self) -> Callable[[str | None], None]:
        """The ``done`` of one more report under the current tag."""
        tag = self.tag
        with self._lock:
            self._waiting[tag] = self._waiting.get(tag, 0) + 1

        def done(error: str | None) -> None:
            with self._lock:
                if error and tag not in self._refused:
                    self._refused[tag] = error
                left = self._waiting[tag] - 1
                if left:
                    self._waiting[tag] = left
                else:
                    del self._waiting[tag]
                finished = self._sealed and not self._waiting
            if finished:
                self._all.set()

        return done

    def errors(self) -> dict[int, str]:
        """Wait until every report is in the log (one flush for the batch, not one each): tag ->
        why a report was refused, for those that were."""
        with self._lock:
            self._sealed = True
            if not self._waiting:
                self._all.set()
        self._all.wait(WAIT_S)
        with self._lock:
            found = dict(self._refused)
            for tag in self._waiting:
                found.setdefault(tag, "the cook did not record the report in time (it may have ended)")
        return found


class CookSink:
    def __init__(self, reporter: Reporter) -> None:
        self.reporter = reporter
        self._local = threading.local()

    @contextlib.contextmanager
    def deferring(self):
        """Inside, this thread's reports are sent without waiting for their flush; the batch
        waits once at the end (``Deferred.errors``). A multicall's reports are then written by one
        flush instead of one flush each, and the job still hears "ok" only once they are in the log."""
        batch = self._local.batch = Deferred()
        try:
            yield batch
        finally:
            self._local.batch = None

    def _wait(self, send) -> None:
        batch = getattr(self._local, "batch", None)
        if batch is not None:
            send(batch.expect())
            return
        answered = threading.Event()
        result = []

        def done(error: str | None) -> None:
            result.append(error)
            answered.set()

        send(done)
        if not answered.wait(WAIT_S):
            raise ValueError("the cook did not record the report in time (it may have ended)")
        if result[0]:
            raise ValueError(result[0])

    def set_attrib(self, item_id: str, name: str, values: list, kind: str) -> None:
        attr = [_KIND.get(kind, kind), list(values)]
        self._wait(lambda done: self.reporter.attrib_set(item_id, name, attr, done))

    def add_output_files(self, item_id: str, files: list) -> None:
        for path, tag, hash_ in files:
            self._wait(lambda done, p=path, t=tag, h=hash_: self.reporter.output_added(item_id, p, t, h, done))

    def report_status(self, item_id: str, ok: bool, message: str = "") -> None:
        self._wait(lambda done: self.reporter.status(item_id, ok, message, done))

    def report_cancelled(self, item_id: str, message: str = "") -> None:
        self._wait(lambda done: self.reporter.cancelled_itself(item_id, message, done))

    def warning(self, item_id: str | None, message: str, refusal: bool = False) -> None:
        self._wait(lambda done: self.reporter.warning(item_id, message, done, refusal))

    def log_line(self, item_id: str, text: str, level: str = "info") -> None:
        self._wait(lambda done: self.reporter.log_line(item_id, text, level, done))

    def append_sub_item(self, batch_id: str) -> int:
        """A new sub-item of the running batch ``batch_id``, made by the cook's loop: its index."""
        return self._ask(lambda done: self.reporter.sub_item(batch_id, done))

    def item_json(self, item_id: str) -> str:
        """The item as the engine would serialize it for its job, read by the cook's loop."""
        return self._ask(lambda done: self.reporter.item_json(item_id, done))

    def _ask(self, send):
        """Send a question to the cook's loop and wait for its answer (a ValueError: why not)."""
        answered = threading.Event()
        result = []

        def done(value) -> None:
            result.append(value)
            answered.set()

        send(done)
        if not answered.wait(WAIT_S):
            raise ValueError("the cook did not answer in time (it may have ended)")
        if isinstance(result[0], Exception):
            raise ValueError(str(result[0]))
        return result[0]
