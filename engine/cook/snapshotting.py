"""When a cook asks for its snapshot: at its tail, while its last items run, else at its end.

A snapshot (``pdgstore.snapshots``) is the state at a seq, kept so that time travel far back starts
near its point instead of replaying the log from zero (a cook reads its own state from the tables).
A cook writes one when ``every`` events (``loop.SNAPSHOT_EVERY``) followed the newest; the store's
first cook writes none, and its events do not count (``EventLog.snapshot_due``). A cook with a
log appender has the appender pack it from its tables; asked for after the cook's last event, the
cook then waited for that packing before it could end, while the appender had been idle during the
cook's last items (a cold W(N): the wait-for-all merge and the concatenation of N files).

So such a cook asks for it at its tail: at the first turn of the loop at which every node of the
cook has generated its items and at most ``TAIL_ITEMS`` items are left to settle; the appender packs
it while they run. It is the state at a batch's end, as any snapshot is (``pdg check`` compares the
newest one to a replay of the log up to its seq). What follows it is those few items' events and
the cook's end; should ``every`` events follow it all the same, the end writes another, as before.
A cook that appends by itself (a small one) packs the snapshot on its own thread either way, so it
asks at its end only.
"""

from __future__ import annotations

from pdgstore.engine.cook.recorder import Recorder

from pdgstore.log import EventLog

#: items left to settle (every node having generated its items) at which a cook asks for its snapshot
TAIL_ITEMS = 64


class CookSnapshot:
    """One cook's snapshot: whether it is asked for yet, and at which seq."""

    def __init__(self, log: EventLog | None, recorder: Recorder, *, enabled: bool = True) -> None:
        self.log = log
        self.recorder = recorder
        self.at_tail = enabled and log is not None  # still to be considered at the tail
        self.asked_seq: int | None = None  # the seq of the snapshot this cook asked for

    def tail_due(self, settle, runs, every: int) -> bool:
        """Whether the cook is at its tail and its snapshot due there (then the caller flushes and
        calls ``ask``). Decided once: the first time the tail is reached."""
        if settle.total - settle.done > TAIL_ITEMS or not all(run.generated for run in runs.values()):
            return False
        self.at_tail = False
        return self.recorder.log_process is not None and self._due(every)

    def at_end(self, every: int) -> None:
        """The cook's last events are recorded: ask for the snapshot if it is (still) due."""
        if self.log is not None and self._due(every):
            self.ask()

    def ask(self) -> None:
        self.recorder.save_snapshot()
        self.asked_seq = self.recorder.state.seq

    def _due(self, every: int) -> bool:
        assert self.log is not None, "only a cook with a store writes snapshots"
        seq = self.recorder.state.seq
        if self.asked_seq is not None:  # the appender may not have written it yet: the store cannot say
            return seq - self.asked_seq >= every
        if self.log.first_cook() == self.recorder.cook_id:  # its events do not count (``snapshot_due``)
            return False
        return self.log.snapshot_due(every, last_seq=seq, weigh=False)
