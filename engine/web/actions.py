"""The web view's "cook this node": a real ``pdg cook GRAPH_FILE NODE`` of the store, started by
``pdg serve --allow-actions`` for a page that holds the token.

The cook runs as its own process, exactly as if typed in the graph's project: the same command,
the same store (``PDG_DB``), the same single-writer rule. It is started in its own session, so
stopping ``pdg serve`` (Ctrl-C, SIGTERM) does not cancel it; the page cancels it with the data
layer's ``cancel`` command like any other cook. Its output goes to ``web-cook-PID.log`` beside the
store (the last few are kept).

A cook already holding the store is refused before anything starts (``StoreBusy``). Otherwise the
answer waits a little (``START_WAIT_S``: an HTTP answer must come before the server's handshake
timeout) for the cook to record its start, or to end; a cook that is still starting is answered
"starting", and ``outcome(pid)`` says later what became of it: its cook id once recorded, or the
cook's own sentence when it ended without cooking (another cook took the store first, a wrong
graph file ...).
"""

from __future__ import annotations

import glob
import os
import subprocess
import sys
import threading
import time
from dataclasses import dataclass

from pdgstore.engine.joblogs import last_words

from pdgstore.errors import PdgError, StoreBusy
from pdgstore.log import EventLog
from pdgstore.readmodel import TableState
from pdgstore.writerlock import lock_holder

#: how long the answer to "cook" waits for the cook to record its start (or to end)
START_WAIT_S = 4.0
#: how often it looks
POLL_S = 0.05
#: the cook logs kept beside the store
LOGS_KEPT = 10


@dataclass
class Started:
    proc: subprocess.Popen
    log_path: str
    graph: str
    node: str


class CookStarter:
    """The cooks this server started, by pid."""

    def __init__(self, store_path: str) -> None:
        self.store_path = store_path
        self.started: dict[int, Started] = {}
        self._lock = threading.Lock()

    def start(self, graph_file: str, root: str, graph: str, node: str) -> dict:
        """Start ``pdg cook graph_file node`` in ``root``; its ``outcome`` after at most
        ``START_WAIT_S``. Raises ``StoreBusy`` when a cook holds the store (nothing starts), and
        the cook's own sentence (``StoreBusy`` or ``PdgError``) when it ended without cooking."""
        holder = lock_holder(self.store_path)
        if holder is not None:
            raise StoreBusy(f"a cook is already running on this store (pid {holder}): wait for it or cancel it")
        folder = os.path.dirname(self.store_path)
        os.makedirs(folder, exist_ok=True)
        tmp = os.path.join(folder, f"web-cook.{os.getpid()}.{threading.get_ident()}.tmp")
        cmd = [sys.executable, "-m", "pdgstore.cli.main", "cook", graph_file, node]
        env = {**os.environ, "PDG_DB": self.store_path}
        with open(tmp, "wb") as out:
            proc = subprocess.Popen(
                cmd, cwd=root, env=env, stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT,
                start_new_session=True,
            )  # fmt: skip
        log_path = os.path.join(folder, f"web-cook-{proc.pid}.log")
        os.replace(tmp, log_path)  # the cook writes on through its descriptor
        threading.Thread(target=proc.wait, name=f"web-cook-{proc.pid}", daemon=True).start()  # reaped at its end
        with self._lock:
            self.started[proc.pid] = Started(proc, log_path, graph, node)
        _prune_logs(folder)
        deadline = time.monotonic() + START_WAIT_S
        while True:
            answer = self.outcome(proc.pid)
            assert answer is not None, "a cook this server just started is one of ours"
            if answer["state"] == "refused":
                raise StoreBusy(answer["error"]) if answer["busy"] else PdgError(answer["error"])
            if answer["state"] != "starting" or time.monotonic() >= deadline:
                return answer
            time.sleep(POLL_S)

    def outcome(self, pid: int) -> dict | None:
        """What became of the cook this server started as ``pid``: ``state`` is ``starting``,
        ``cooking`` or ``ended`` (with its ``cook_id``), or ``refused`` (with the cook's
        ``error`` sentence; ``busy`` when another cook held the store). None: not one of ours."""
        with self._lock:
            started = self.started.get(pid)
        if started is None:
            return None
        code = started.proc.poll()
        cook_id = _recorded_cook(self.store_path, pid)
        answer = {"pid": pid, "graph": started.graph, "node": started.node, "log": started.log_path,
                  "cook_id": cook_id, "exit_code": code, "error": None, "busy": False}  # fmt: skip
        if code is None:
            return {**answer, "state": "cooking" if cook_id is not None else "starting"}
        if cook_id is not None:
            return {**answer, "state": "ended"}
        sentence = last_words(started.log_path) or f"pdg cook of {started.node} exited with code {code}"
        busy = "already running" in sentence or "busy" in sentence
        return {**answer, "state": "refused", "error": sentence, "busy": busy}


def _recorded_cook(store_path: str, pid: int) -> int | None:
    """The id of the cook process ``pid`` recorded in the store (its latest), or None."""
    if not os.path.exists(store_path):
        return None
    with EventLog.open(store_path) as log, log.one_reading():
        mine = [cook_id for cook_id, cook in TableState(log).cooks.items() if cook.pid == pid]
        return mine[-1] if mine else None


def _prune_logs(folder: str) -> None:
    logs = sorted(glob.glob(os.path.join(folder, "web-cook-*.log")), key=os.path.getmtime)
    for path in logs[:-LOGS_KEPT]:
        try:
            os.unlink(path)
        except OSError:
            pass
