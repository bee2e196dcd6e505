"""Whether a cook the log shows running still runs: the one rule every reader tells it by
(``pdg status``, ``pdg history``, ``pdg log --follow``, the web view and the data layer).

A cook records its end (``CookFinished``); one killed without a word (``kill -9``, the OOM killer, a
power cut) never does, and the log shows it running until the next cook records its end
(``engine.cook.summary``). The store's writer lock tells the two apart: the kernel lets go of an
``flock`` when its holder dies, however it dies (``pdgstore.writerlock``), so a cook the log shows
running while no process holds the lock has died. The lock is not an event: what a reader says
here is its reading of the store now, and the log stays as the cook left it.

Once the next cook has recorded the dead cook's end (cancelled, in the words of ``dead_message``,
with its unfinished items cancelled), a reader still tells it ``died`` (``died_end``), ended at its
last own event (``pdgstore.history.last_own_event``): not at the next cook's start, which can be
days later, nor cancelled, which is what a cook that stopped on a cancel says.
"""

from __future__ import annotations

RUNNING = "running"
#: a cook the log shows running that no process runs any more
DIED = "died"


#: the end the next cook records for a cook that died: "the cook (pid N) " then one of these
ENDED_UNSAID = "ended before it recorded its end (its process died, or a write to the store failed)"
STOPPED_UNSAID = "stopped on a write error it could not record"


def dead_message(pid: int, why: str) -> str:
    """The message of the end the next cook records for cook ``pid`` that died (``why``: the write
    error it noted in the writer lock as it stopped, or "" when it died without a word)."""
    if why:
        return f"the cook (pid {pid}) {STOPPED_UNSAID}: {why}"
    return f"the cook (pid {pid}) {ENDED_UNSAID}"


def died_end(status: str, message: str, pid: int) -> bool:
    """Whether a cook's recorded end (``status``, ``message``) is the one the next cook recorded for
    it, cook ``pid`` having died (``dead_message``)."""
    if status != "cancelled" or not message.startswith(f"the cook (pid {pid}) "):
        return False
    said = message[len(f"the cook (pid {pid}) ") :]
    return said.startswith(ENDED_UNSAID) or said.startswith(STOPPED_UNSAID)


def status_now(status: str, writer: int | None) -> str:
    """A cook's recorded ``status`` as a reader tells it now: ``died`` for one recorded running
    while nobody holds the store's writer lock (``writer``: ``EventLog.writer_pid()``, read once
    for any number of cooks), else ``status`` as recorded."""
    return DIED if status == RUNNING and not writer else status
