"""The result server's sink: a job's calls handed to the cook's loop.

The server's threads never touch the engine's state. A report the server has checked in full (an
attribute, a log line, a warning, an output file that exists) is queued on the loop's inbox
without waking it and answered at once: the loop records it at its next turn (every ``tick_s``),
with whatever else arrived, in one commit. Its job goes on without a wake of the loop, a commit and
a wake of the server thread per call. Truth in the log still holds where it matters: the inbox is
read in order, and the job's end (``JobEnded``, put once its process is gone, so after every
report it was answered) is recorded after its reports, in the same commit or a later one; an item
never ends in the log without what its job reported, and a cook that dies first loses only reports
of items that had not ended, which the next cook runs again.

What the loop may still refuse or must answer waits for it: a job's verdict (success, failure,
cancelled), its item's JSON, a new batch sub-item. Those carry a ``done`` callback; the loop
records them as events, flushes, and only then calls ``done``, which wakes the server thread to
answer the job. A refusal raises ValueError, which the server turns into a fault naming the problem.
"""

from __future__ import annotations

import contextlib
import os
import threading
from collections.abc import Callable

from pdgstore.engine.schedulers.contract import Reporter
from pdgstore.engine.schedulers.reports import AttribSet, LogLine, OutputAdded, Report, Warned

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
    """What a cook's result server does with a checked call; ``root``: the project, against which
    the server's relative paths are resolved."""

    def __init__(self, reporter: Reporter, root: str = ".") -> None:
        self.reporter = reporter
        self.root = root
        self._local = threading.local()

    @contextlib.contextmanager
    def deferring(self):
        """Inside, this thread's reports that wait for the loop (a verdict, say) are sent without
        waiting each; the batch waits once at the end (``Deferred.errors``): one flush and one wake
        for a multicall, not one per report, and the job still hears "ok" only once they are in the log."""
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
        self._queue(AttribSet(item_id, name, [_KIND.get(kind, kind), list(values)]))

    def add_output_files(self, item_id: str, files: list) -> None:
        """Queued at once once every file is found here (the loop would refuse a missing one, too
        late to tell the job): a missing file refuses the call and is a warning in the item's log.
        One deleted after this check is a warning only, when the loop records the rest."""
        for path, _, _ in files:
            if not os.path.exists(os.path.join(self.root, path)):
                message = f"the job reported output file {path}, which does not exist"
                self._queue(Warned(item_id, message))
                raise ValueError(message)
        for path, tag, hash_ in files:
            self._queue(OutputAdded(item_id, path, tag, hash_))

    def report_status(self, item_id: str, ok: bool, message: str = "") -> None:
        self._wait(lambda done: self.reporter.status(item_id, ok, message, done))

    def report_cancelled(self, item_id: str, message: str = "") -> None:
        self._wait(lambda done: self.reporter.cancelled_itself(item_id, message, done))

    def warning(self, item_id: str | None, message: str) -> None:
        self._queue(Warned(item_id, message))

    def log_line(self, item_id: str, text: str, level: str = "info") -> None:
        self._queue(LogLine(item_id, text, level))

    def _queue(self, report: Report) -> None:
        """For the loop's next turn, without waking it (``Inbox.put_quietly``): it reads its inbox
        at least every ``tick_s``, in order, before anything arrived after this report."""
        self.reporter.put_quietly(report)

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
