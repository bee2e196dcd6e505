"""An item held dirty below the work a cancelled cook stopped, as the next cook decides it.

A cancelled cook records dirty the items below the cancelled ones that it never reached
(``engine.cook.cancelmarks``; the reason ``upstream_cancelled``, which keeps the state of the result
the item holds, ``result_state``). Such an item is *held*: its result stands until what it
depends on is made again, and then it is decided as any result is, early cutoff included, not run
whatever happens as an item dirtied by hand is. So ``decide.record_of`` gives the decisions its
record in its result's state (a copy: the stored one stays as it is), the mark kept in its
reason, which keeps it from the shortcuts that reuse a settled item unchecked; a decision to reuse
it records its result again (``restored``), which ends the mark; a decision to run it runs it.
"""

from __future__ import annotations

from dataclasses import replace

from pdgstore.events import DONE_STATES
from pdgstore.state import ACCEPTED

CAUSE = "upstream_cancelled"


def is_held(item) -> bool:
    """Whether ``item`` (a stored record, or None) is held dirty below a cancel."""
    if item is None or item.state != "dirty":
        return False
    reason = item.reason
    return reason.get("cause") == CAUSE and reason.get("result_state") in DONE_STATES


def as_result(item):
    """The record the decisions weigh for a held ``item``: a copy in its result's state."""
    return replace(item, state=item.reason["result_state"])


def same(item, prev) -> bool:
    """``item``, the record a partition has now, is ``prev`` (None: it had none), the one it had
    before this cook: the same object, or the stored record of a held item that ``as_result``
    copied (placed as it was: a partition placed anew is recorded waiting, no longer held)."""
    return prev is not None and (item is prev or is_held(item))


def marked(prev) -> bool:
    """``prev`` is ``as_result``'s copy (not a result a person accepted: that one is recorded again
    as accepted): reusing it records its result again."""
    return prev.reason.get("cause") == CAUSE and prev.signature != ACCEPTED


def restored(prev, outputs: list | None, attrs: dict | None) -> dict:
    """The ``WorkItemCooked`` fields that record ``prev``'s result again, its mark gone: its
    outputs (``outputs`` when their records were refreshed) and attributes (``attrs``, the file
    attributes whose records were), the reason saying it was kept (``pdg explain``)."""
    return {
        "item_id": prev.item_id,
        "state": prev.state,
        "attrs": attrs or {},
        "outputs": list(prev.outputs) if outputs is None else outputs,
        "started_ns": prev.started_ns,
        "duration_ns": prev.duration_ns,
        "signature": prev.signature,
        "reason": {**prev.reason, "kept": True},
    }
