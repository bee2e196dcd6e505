"""Several connections to one store in one process (``pdg serve``: the data layer's follower and the
web view's readers on their threads) keep SQLite's locks, however many logs open and close.

POSIX drops every lock a process holds on a file when it closes any descriptor of that file. The
store's header is read before SQLite opens it; reading it through a descriptor opened and closed
for the purpose dropped the SHARED lock of the process's other connections. A writer elsewhere
closing then took itself for the store's last connection, checkpointed and deleted the WAL and its
index under the live reader, which never saw another commit: the web view stopped following cooks.
"""

from __future__ import annotations

import os
import subprocess
import sys
import threading

import pytest

from pdgstore.log import EventLog

pytestmark = pytest.mark.timeout(120)

#: ask, from another process, whether some process holds a lock on any byte of the file
PROBE = """
import fcntl, os, struct, sys
fd = os.open(sys.argv[1], os.O_RDWR)
query = struct.pack("hhqqi4x", fcntl.F_WRLCK, os.SEEK_SET, 0, 0, 0)
kind, _, _, _, pid = struct.unpack("hhqqi4x", fcntl.fcntl(fd, fcntl.F_GETLK, query))
print(pid if kind != fcntl.F_UNLCK else 0)
"""


def lock_holder(path) -> int:
    """The pid another process sees holding a lock on ``path`` (0: nobody)."""
    out = subprocess.run([sys.executable, "-c", PROBE, str(path)], capture_output=True, text=True, check=True)
    return int(out.stdout)


def test_opening_and_closing_other_logs_keeps_the_first_ones_lock(wide):
    assert wide.pdg("cook", "wide.py").exit_code == 0
    follower = EventLog.open(str(wide.db))
    try:
        seen = follower.last_seq()
        assert lock_holder(wide.db) == os.getpid()  # a WAL connection holds SHARED while open

        def answer():  # a web view answer: its own log on its own thread, opened and closed
            with EventLog.open(str(wide.db)) as log:
                log.last_seq()

        threads = [threading.Thread(target=answer) for _ in range(3)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert lock_holder(wide.db) == os.getpid()
        # a writer in another process comes and goes: the follower sees what it wrote, and what
        # the next one writes (a WAL deleted under it would hide every later commit)
        assert wide.pdg_process("dirty", "upper").returncode == 0
        assert wide.pdg_process("dirty", "concat").returncode == 0
        with EventLog.open(str(wide.db)) as fresh:
            last = fresh.last_seq()
        assert last > seen
        assert follower.last_seq() == last
    finally:
        follower.close()
    assert lock_holder(wide.db) == 0  # the last log out let go of everything


def test_a_refused_open_releases_the_shared_descriptor(tmp_path):
    path = tmp_path / "not-a-store.db"
    path.write_bytes(b"hello" * 40)
    before = len(os.listdir("/proc/self/fd"))
    for _ in range(5):
        with pytest.raises(Exception, match="not a pdgstore database"):
            EventLog.open(str(path))
    assert len(os.listdir("/proc/self/fd")) == before
