"""A cook's record of its items' last jobs, read from the ``jobs`` table on first use.

Why: a cook asks about the jobs of the items it runs (a ``JobEnded`` finds the ``JobStarted`` it
ends), yet its state read every row of the table up front, and every long-lived service's write
did too: a store of a million command items holds a million rows (hundreds of megabytes, seconds),
read for a recook of one. ``LazyJobs`` reads a job by its item's id when asked; going over all of
them (a dead cook's jobs still running, a comparison of states) reads the rest first.

It holds for the reason ``pdgstore.cookstate`` gives: the cook is the store's only writer, so a job
it has not read is still as its row says.
"""

from __future__ import annotations

from pdgstore import tables
from pdgstore.lazyitems import ReadFirst, StoreReader

_ABSENT = object()


class LazyJobs(ReadFirst):
    """item id -> its last job (``[scheduler, attempt, pid, log uri, exit code]``), read on first use."""

    def __init__(self, reader: StoreReader, complete: bool) -> None:
        super().__init__()
        self._reader = reader
        self._complete = complete  # every row is in the dict (or there is none)
        self._looked: set[str] = set()  # ids read once (found or not) or removed since: the dict says

    def _read(self, item_id):
        if self._complete or item_id in self._looked or not isinstance(item_id, str):
            return _ABSENT
        self._looked.add(item_id)
        row = self._reader.execute("SELECT body FROM jobs WHERE item_id = ?", (item_id,)).fetchone()
        if row is None:
            return _ABSENT
        job = tables.unpack(row[0])
        dict.__setitem__(self, item_id, job)
        return job

    def read_all(self) -> None:
        if self._complete:
            return
        for item_id, body in self._reader.execute("SELECT item_id, body FROM jobs"):
            if item_id not in self._looked and not dict.__contains__(self, item_id):
                dict.__setitem__(self, item_id, tables.unpack(body))
        self._complete = True

    def __missing__(self, item_id):
        job = self._read(item_id)
        if job is _ABSENT:
            raise KeyError(item_id)
        return job

    def get(self, item_id, default=None):
        if dict.__contains__(self, item_id):
            return dict.__getitem__(self, item_id)
        job = self._read(item_id)
        return default if job is _ABSENT else job

    def __contains__(self, item_id) -> bool:
        return dict.__contains__(self, item_id) or self._read(item_id) is not _ABSENT

    def __setitem__(self, item_id, job) -> None:
        self._looked.add(item_id)
        dict.__setitem__(self, item_id, job)

    def pop(self, item_id, *default):
        if not dict.__contains__(self, item_id):
            self._read(item_id)
        self._looked.add(item_id)
        return dict.pop(self, item_id, *default)

    def __delitem__(self, item_id) -> None:
        self.pop(item_id)

    def setdefault(self, item_id, default=None):
        if item_id in self:
            return self[item_id]
        self[item_id] = default
        return default

    def update(self, *args, **kwargs) -> None:
        for item_id, job in dict(*args, **kwargs).items():
            self[item_id] = job
