"""A disk that fails under the store: a shim over ``sqlite3.connect`` whose connections raise SQLite's
own "database or disk is full" or "disk I/O error" at every N-th write statement.

Installed with pytest's ``monkeypatch`` in the test's process, it reaches every connection the store
opens there (``pdgstore.log`` calls ``sqlite3.connect``), the store's creation included. A cook run
in-process (click's runner) small enough to start no log appender process writes only through it.
"""

from __future__ import annotations

import sqlite3

WRITES = ("INSERT", "UPDATE", "DELETE", "REPLACE", "CREATE", "DROP", "COMMIT")
FULL = "database or disk is full"
IO_ERROR = "disk I/O error"


class Faults:
    """Fail every ``every``-th write with ``message`` (0: never, only count); ``only``: the
    statements counted as writes (``("COMMIT",)``: fail a commit, whatever batches a cook made)."""

    def __init__(
        self, every: int = 0, message: str = FULL, only: tuple[str, ...] = WRITES, stays: bool = False
    ) -> None:
        self.every = every
        self.stays = stays  # once failed, every later write fails too (a disk that stays full)
        self.message = message
        self.only = only
        self.writes = 0
        self.fired = 0

    def hit(self, sql: str) -> None:
        if not sql.lstrip().upper().startswith(self.only):
            return
        self.writes += 1
        if self.every and (self.writes % self.every == 0 or (self.stays and self.writes > self.every)):
            self.fired += 1
            raise sqlite3.OperationalError(self.message)


def install(monkeypatch, faults: Faults) -> None:
    real = sqlite3.connect

    class FaultyConnection(sqlite3.Connection):
        def execute(self, sql, *args):
            faults.hit(sql)
            return super().execute(sql, *args)

        def executemany(self, sql, *args):
            faults.hit(sql)
            return super().executemany(sql, *args)

    def connect(*args, **kwargs):
        kwargs.setdefault("factory", FaultyConnection)
        return real(*args, **kwargs)

    monkeypatch.setattr(sqlite3, "connect", connect)
