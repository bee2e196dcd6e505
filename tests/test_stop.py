"""engine.stop.Stop: a stop a signal handler may give while its own thread waits for it."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import threading
import time

import pytest
from pdgstore.engine.stop import Stop

pytestmark = pytest.mark.timeout(60)


def test_it_is_a_flag_that_waits():
    stop = Stop()
    assert not stop.is_set()
    assert stop.wait(0.01) is False
    stop.set()
    assert stop.is_set()
    assert stop.wait(0) is True
    assert stop.wait() is True  # at once, however often it is asked
    stop.set()  # a second stop changes nothing
    assert stop.wait(0.01) is True


def test_every_waiting_thread_wakes():
    """Four threads waiting with no timeout all wake on one ``set`` (the wake is passed on)."""
    stop = Stop()
    woke: list[bool] = []
    threads = [threading.Thread(target=lambda: woke.append(stop.wait()), daemon=True) for _ in range(4)]
    for t in threads:
        t.start()
    time.sleep(0.1)  # most of them waiting by then (any that is not returns at once all the same)
    stop.set()
    deadline = time.monotonic() + 20
    for t in threads:
        t.join(max(0.0, deadline - time.monotonic()))
    assert not any(t.is_alive() for t in threads)
    assert woke == [True] * 4


def test_a_signal_handler_sets_it_inside_its_own_threads_wait(tmp_path):
    """The handler runs on the main thread inside ``wait`` (what left ``pdg serve`` hanging on
    SIGTERM with a threading.Event): the wait ends, the process exits. Signals come many times,
    at random moments of many short waits."""
    script = tmp_path / "waiter.py"
    script.write_text(
        textwrap.dedent(
            """
            import os, signal, sys
            from pdgstore.engine.stop import Stop

            stop = Stop()
            signal.signal(signal.SIGTERM, lambda *_: stop.set())
            ready = sys.argv[1]
            with open(ready + ".tmp", "w") as f:
                f.write("ready")
            os.rename(ready + ".tmp", ready)
            turns = 0
            while not stop.wait(0.001):
                turns += 1
            print("stopped after", turns, "turns")
            """
        )
    )
    for _ in range(5):
        ready = tmp_path / "ready"
        if ready.exists():
            ready.unlink()
        proc = subprocess.Popen([sys.executable, str(script), str(ready)], stdout=subprocess.PIPE, text=True)
        try:
            deadline = time.monotonic() + 30
            while not ready.exists():
                assert time.monotonic() < deadline, "the waiter did not start"
                time.sleep(0.01)
            time.sleep(0.05)
            os.kill(proc.pid, signal.SIGTERM)
            out, _ = proc.communicate(timeout=20)
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
        assert proc.returncode == 0
        assert out.startswith("stopped after")
