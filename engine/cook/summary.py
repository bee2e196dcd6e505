"""What a cook hands back (``CookSummary``), and how a cook that died is closed in the log.

The summary is the one answer every caller of a cook reads: ``pdg cook`` prints it (or its
``to_json`` with ``--json``), ``pdg watch`` and schedules report it, the no-op manifest stores its
results. ``recover_dead_cook`` runs before a cook starts: a cook the log shows running when the
writer's lock is ours again ended unrecorded, so its jobs still running are stopped
(``engine.schedulers.orphans``) and its unfinished items are cancelled.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from pdgstore.engine.schedulers import orphans

from pdgstore import events as ev
from pdgstore import history, liveness
from pdgstore.queries import COOK_COUNTS, JSON_SCHEMA
from pdgstore.readmodel import TableState

if TYPE_CHECKING:  # a no-op cook, proven by the manifest, reads a summary and never starts a recorder
    from pdgstore.engine.cook.recorder import Recorder


@dataclass
class CookSummary:
    cook_id: int
    status: str
    counts: dict
    seconds: float
    message: str = ""
    failed_items: list = field(default_factory=list)
    warnings: list = field(default_factory=list)
    #: absolute paths of the output files of the cooked items of the final nodes (nothing downstream)
    results: list = field(default_factory=list)
    #: what automatic compaction did after the cook (``pdg cook --auto-compact``), None when it did not run
    compacted: dict | None = None
    #: ``--generate-only``: node -> {"items": recorded items, "mode": its Generate When, resolved}
    generated: dict | None = None

    def to_json(self) -> dict:
        return {
            "schema": JSON_SCHEMA,
            "cook_id": self.cook_id,
            "status": self.status,
            "items": dict(self.counts),
            "seconds": round(self.seconds, 3),
            "message": self.message,
            "failed_items": self.failed_items,
            "warnings": self.warnings,
            "compacted": self.compacted,
            **({"generated": self.generated} if self.generated is not None else {}),
        }


def recover_dead_cook(recorder: Recorder, pid_alive: Callable[[int], bool] | None = None) -> int | None:
    """If the log shows a cook that never ended (its process died), record it as cancelled.

    Only the writer calls this, holding the store's lock, so a running cook in the log is dead.
    Returns the id of the recovered cook.
    """
    state = recorder.state
    cook = state.running_cook()
    if cook is None:
        return None
    log = recorder.log
    why = log.stopped_note(cook.pid) if log is not None else ""  # noted in the writer lock as it stopped
    message = liveness.dead_message(cook.pid, why)  # readers tell the cook died by these words
    store_dir = os.path.dirname(recorder.log.path) if recorder.log is not None else ""
    started = log.jobs_started(cook.cook_id) if log is not None else list(state.jobs)
    # its jobs still running: stopped before any reruns
    stopped = orphans.stop_orphans(state, cook.cook_id, started, cook_pid=cook.pid, store_dir=store_dir)
    if stopped:
        message += f"; {len(stopped)} of its jobs still running were stopped"
    saved = recorder.cook_id, recorder.graph, recorder.nodes
    # its end says nothing of its nodes (``CookFinished.nodes`` None: its events tell), and the
    # cancels below are not the new cook's
    recorder.cook_id, recorder.graph, recorder.nodes = cook.cook_id, cook.graph, None
    for item_id in state.unfinished_ids(cook.cook_id):
        recorder.emit(ev.WorkItemStateChanged, item_id=item_id, state="cooked_cancel", message=message)
    recorder.flush()
    recorder.emit(ev.CookFinished, status="cancelled", message=message, counts=counted(recorder, cook.cook_id))
    recorder.cook_id, recorder.graph, recorder.nodes = saved
    recorder.flush()
    if why and log is not None:
        log.forget_stopped(cook.pid)  # recorded: the note has done its work
    return cook.cook_id


def counted(recorder: Recorder, cook_id: int) -> dict:
    """What the events of cook ``cook_id`` (flushed) say it did, in the summary's counts: the sums of
    ``pdg history COOK``'s node rows (``history.cook_detail``), so that the cook's summary and its
    detail agree. Read through the cooks' index (``events_cook``): one row per event of the cook,
    decoding only the events that decide an item's fate, and one label per item it touched; a dead
    cook of 10^5 events costs those 10^5 rows, never the store's other items or events."""
    counts = dict.fromkeys(COOK_COUNTS, 0)
    log = recorder.log
    if log is None or log.cook_span(cook_id) is None:
        return counts
    for row in history.cook_detail(log, cook_id, TableState(log), ran_names=False)["nodes"]:
        for key in COOK_COUNTS:
            counts[key] += row.get(key, 0)
    return counts
