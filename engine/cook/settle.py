"""The one path by which a work item's outcome is recorded and counted.

Every outcome of an item in a cook comes here, whoever found it: the decisions
(``engine.cook.items``), the in-process pool's results and the schedulers' reports
(``engine.cook.dispatch``), a cancel. ``Settle`` records it (the ``WorkItemCooked`` or the cancel),
keeps the tallies the summary and the progress bar show (``counts``, ``done`` of ``total``), and
hands an item that cooked to the walk (``handed_on``), which generates what depends on it. Nothing
else changes the tallies.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from pdgstore.engine.cook.recorder import Recorder
from pdgstore.engine.incremental import decide

from pdgstore import events as ev
from pdgstore.queries import COOK_COUNTS

#: how many more items generated between two words to the ``phase`` hook (a chunk, not every item)
PHASE_EVERY = 10_000


class Settle:
    def __init__(self, recorder: Recorder, *, cold: bool = False) -> None:
        self.recorder = recorder
        self.counts = dict.fromkeys(COOK_COUNTS, 0)
        self.done = 0  # items settled in this cook (the progress bar's count)
        self.total = 0  # items known to this cook
        #: items whose results were made anew in this cook: what the decisions about items with a
        #: record from before it ask of their parents and members (an item made fresh has
        #: dependents made fresh too: its id is in theirs). A ``cold`` cook (on a store that held
        #: no item) has no such record, so it keeps none: at a million items the set held two
        #: million ids to the cook's end, for no question
        self.remade: set[str] = set()
        self.cold = cold
        self.keeps_remade = not cold
        #: item id -> the signature its pending run is made from (recorded with its result)
        self.signatures: dict[str, str] = {}
        #: the items that failed in this cook (the summary lists them, reading no other item)
        self.failed_ids: set[str] = set()
        #: the walk's hand-on of an item that cooked (set by the cook once its walk exists)
        self.handed_on: Callable[[str], None] = lambda item_id: None
        #: hears each item whose results this cook made, once recorded (``engine.cook.sameoutputs``)
        self.made: Callable[[str], None] | None = None
        #: hears, per ``PHASE_EVERY`` items known, that the walk is generating (what, how many known so
        #: far): before its first batch is written the terminal has no share to show (``pdg cook``)
        self.phase: Callable[[str, int], None] | None = None
        self._told = 0

    # -- known items ---------------------------------------------------------------------------------
    def registered(self, node: str) -> None:
        """One more item generated in this cook, by ``node``."""
        self.total += 1
        if self.phase is not None:
            self.generating(node)

    def generating(self, node: str) -> None:
        """Tell ``phase`` that ``node`` is generating, once ``PHASE_EVERY`` more items are known."""
        if self.phase is not None and self.total >= self._told + PHASE_EVERY:
            self._told = self.total
            self.phase(f"generating work items ({node})", self.total)

    def kept(self, count: int) -> None:
        """``count`` recorded items reused in bulk, never generated one by one (``engine.incremental``)."""
        self.counts["reused"] += count
        self.total += count
        self.done += count

    def taken_back(self) -> None:
        """An item counted by ``kept`` is generated and decided again after all."""
        self.counts["reused"] -= 1
        self.total -= 1
        self.done -= 1

    def removed(self) -> None:
        """A recorded item this cook did not generate again was removed (counted, never settled:
        it is not one of the cook's items)."""
        self.counts["removed"] += 1

    # -- outcomes ------------------------------------------------------------------------------------
    def cooked(self, item_id: str, how: str, remade: bool = False) -> None:
        """``item_id`` is done (``how``: ran, reused or updated; ``remade``: its results are new)."""
        self.counts[how] += 1
        self.done += 1
        if remade and self.keeps_remade:
            self.remade.add(item_id)
        if remade and self.made is not None:
            self.made(item_id)
        self.handed_on(item_id)
        holding = self.recorder.holding
        if holding is not None:  # nothing in the cook needs it in memory now (``engine.cook.holding``)
            holding.done(item_id, self.recorder.emitted_seq)

    def recorded(self, result: dict, how: str) -> None:
        """Record ``result`` (``WorkItemCooked`` fields but ``started_ns``: now), made without running
        (from the cache, merged), and settle the item as ``how``."""
        fields = dict(result)
        fields["started_ns"] = time.time_ns()
        self.recorder.record(ev.WorkItemCooked, fields)
        self.cooked(result["item_id"], how, remade=True)

    def result(self, fields: dict) -> None:
        """A run ended: record its ``WorkItemCooked`` (``fields`` but the signature, which the
        decision to run it kept) and settle it."""
        item_id = fields["item_id"]
        fields["signature"] = self.signatures.pop(item_id, "")
        self.recorder.record(ev.WorkItemCooked, fields)
        if fields["state"] == "cooked_success":
            self.cooked(item_id, "ran", remade=True)
        else:
            self._count_failed(item_id)

    def failed(self, result: dict) -> None:
        """Record the failure ``result`` (``decide.failure``) of an item that did not run."""
        fields = dict(result)
        fields["started_ns"] = time.time_ns()
        self.recorder.record(ev.WorkItemCooked, fields)
        self._count_failed(result["item_id"])

    def fail(self, item_id: str, message: str) -> None:
        """``item_id`` fails without running, for ``message``."""
        self.failed(decide.failure(item_id, message))

    def cancelled(self, item_id: str, message: str) -> None:
        self.recorder.emit(ev.WorkItemStateChanged, item_id=item_id, state="cooked_cancel", message=message)
        self.counts["cancelled"] += 1
        self.done += 1

    def _count_failed(self, item_id: str) -> None:
        self.counts["failed"] += 1
        self.done += 1
        self.failed_ids.add(item_id)
