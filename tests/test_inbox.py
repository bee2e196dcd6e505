"""The cook loop's inbox: a put wakes a sleeping reader, a quiet put waits for the next wake, and
no wake is lost or raises when several senders race."""

from __future__ import annotations

import queue
import threading

import pytest
from pdgstore.engine.cook.inbox import Inbox

pytestmark = pytest.mark.timeout(60)


def _reader(inbox: Inbox, timeout: float | None, got: list) -> threading.Thread:
    def read() -> None:
        try:
            got.append(inbox.get(timeout=timeout))
        except queue.Empty:
            got.append("empty")

    thread = threading.Thread(target=read, daemon=True)
    thread.start()
    return thread


def _wait_until_sleeping(inbox: Inbox) -> None:
    done = threading.Event()
    while not inbox._sleeping:
        done.wait(0.001)


def test_put_wakes_a_reader_that_waits_for_ever():
    inbox, got = Inbox(), []
    reader = _reader(inbox, None, got)
    _wait_until_sleeping(inbox)
    inbox.put("report")
    reader.join(30)
    assert got == ["report"]


def test_a_quiet_put_is_read_at_the_next_wake():
    """(That a quiet put does not wake a reader already asleep: ``tests/test_pool.py``, whose
    stand-in lock knows when the reader sleeps; here the reader may see it before it sleeps.)"""
    inbox, got = Inbox(), []
    reader = _reader(inbox, None, got)
    _wait_until_sleeping(inbox)
    inbox.put_quietly("first")
    inbox.put("second")
    reader.join(30)
    assert got == ["first"]
    assert inbox.get_nowait() == "second"


def test_an_empty_inbox_times_out_and_a_negative_timeout_does_not_raise():
    inbox = Inbox()
    with pytest.raises(queue.Empty):
        inbox.get(timeout=0.01)
    with pytest.raises(queue.Empty):
        inbox.get(timeout=-1.5)  # a deadline already past: the loop's ``min(tick, left)``
    with pytest.raises(queue.Empty):
        inbox.get_nowait()


def test_racing_senders_lose_no_message_and_leave_at_most_one_spurious_wake():
    inbox = Inbox()
    senders = [threading.Thread(target=lambda n=n: [inbox.put((n, i)) for i in range(2000)]) for n in range(4)]
    got = []
    for sender in senders:
        sender.start()
    while len(got) < 8000:
        try:
            got.append(inbox.get(timeout=5))
        except queue.Empty:
            assert not any(s.is_alive() for s in senders), "a sender's put did not wake the reader"
    for sender in senders:
        sender.join(30)
    assert sorted(got) == sorted((n, i) for n in range(4) for i in range(2000))
    for n in range(4):  # each sender's messages in its order
        assert [m for m in got if m[0] == n] == [(n, i) for i in range(2000)]
    # a wake sent after its message was read is at most one empty return, then the reader sleeps
    empties = 0
    for _ in range(3):
        try:
            inbox.get(timeout=0.01)
        except queue.Empty:
            empties += 1
    assert empties == 3
