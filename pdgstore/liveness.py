"""Whether a cook the log shows running still runs: the one rule every reader tells it by
(``pdg status``, ``pdg history``, ``pdg log --follow``, the web view and the data layer).

A cook records its end (``CookFinished``); one killed without a word (``kill -9``, the OOM killer, a
power cut) never does, and the log shows it running until the next cook records its end
(``engine.cook.summary``). The store's writer lock tells the two apart: the kernel lets go of an
``flock`` when its holder dies, however it dies (``pdgstore.writerlock``), so a cook the log shows
running while no process holds the lock has died. The lock is not an event: what a reader says
here is its reading of the store now, and the log stays as the cook left it.
"""

from __future__ import annotations

RUNNING = "running"
#: a cook the log shows running that no process runs any more
DIED = "died"


def status_now(status: str, writer: int | None) -> str:
    """A cook's recorded ``status`` as a reader tells it now: ``died`` for one recorded running
    while nobody holds the store's writer lock (``writer``: ``EventLog.writer_pid()``, read once
    for any number of cooks), else ``status`` as recorded."""
    return DIED if status == RUNNING and not writer else status
