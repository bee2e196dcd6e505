"""Job scripts that more than one compatibility test runs, written as a PDG user writes them
(Job API page: ``import pdgcmd``): the heartbeat pair, on the local and on the dask scheduler."""

from __future__ import annotations

from pathlib import Path

#: heartbeats ``ALIVE_JOB`` sends, each recorded as an event: 5.5 s of work, longer than the 5 s
#: ``heartbeat_timeout`` the tests set, which is all the tests need it to be
HEARTBEATS = 22

ALIVE_JOB = f"""
import time
import pdgcmd

# a long job with nothing to report for a while: it sends heartbeats so it is not judged hung (the
# first at once: its Python start counts against the timeout, and takes a second on a loaded machine)
for _ in range({HEARTBEATS}):
    pdgcmd.keepalive()
    time.sleep(0.25)
"""

SILENT_JOB = """
import time
time.sleep(60)  # hangs: no keepalive, no report
"""


def write_heartbeat_jobs(folder: Path) -> None:
    """``alive.py`` (5.5 s of work, a heartbeat every 0.25 s) and ``silent.py`` (a minute of silence)
    in ``folder``: the pair a ``heartbeat_timeout`` of 5 s tells apart."""
    (folder / "alive.py").write_text(ALIVE_JOB)
    (folder / "silent.py").write_text(SILENT_JOB)
