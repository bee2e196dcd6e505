"""Reaching a Dask scheduler again after the cook's client lost it.

A ``distributed.Client`` that loses its scheduler reconnects by itself, but its ``connect`` backs
off exponentially with full jitter, each wait up to all the time left: a scheduler down for half a
minute may not be tried again for another minute, long after it is back on its address. A cook
waiting ``lost_after_s`` for it would give up on a scheduler that has been answering all along.
So the cook does not leave this to the client: once the client is lost, ``Rejoin`` closes it
(quietly: its reconnect being cancelled is no error) and tries a new client every ``period``
seconds, each attempt bounded by ``attempt_s``, until one connects or the cook stops waiting.

Nothing here cancels anything: whether the wait has lasted too long is the scheduler's ``on_tick``
to decide (``lost_after_s``), and a user's Ctrl-C stays the cook's own ``cancel``.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from typing import Any

_PERIOD_S = 0.5  # between two attempts to reach the Dask scheduler again
_ATTEMPT_S = 3.0  # one attempt's limit (connecting and the handshake)
_CLOSE_S = 5.0  # how long closing the lost client may take


class _Quiet(logging.Filter):
    """Drops distributed's report of the lost client's reconnect being cancelled by our close."""

    def filter(self, record: logging.LogRecord) -> bool:
        return False


def close_quietly(client, timeout: float = _CLOSE_S) -> None:
    """Close a client whose scheduler is gone, without the traceback distributed logs when its
    pending reconnect (an ``asyncio.sleep`` in its backoff) is cancelled by the close."""
    quiet = _Quiet()
    logger = logging.getLogger("distributed.client")
    logger.addFilter(quiet)
    try:
        client.close(timeout=timeout)
    except Exception:  # noqa: BLE001 - a scheduler that is gone cannot be told goodbye
        pass
    finally:
        logger.removeFilter(quiet)


class Rejoin:
    """One wait for a lost Dask scheduler at ``address``: started with the lost client, it ends
    with a new connected client (``joined``) or when stopped."""

    def __init__(self, name: str, address: str, security=None, period: float = _PERIOD_S) -> None:
        self.name, self.address, self.security, self.period = name, address, security, period
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._client: Any = None
        self._thread: threading.Thread | None = None
        self.attempts = 0

    def start(self, lost_client) -> None:
        self._thread = threading.Thread(
            target=self._run, args=(lost_client,), name=f"pdg-dask-rejoin-{self.name}", daemon=True
        )
        self._thread.start()

    def joined(self):
        """The new client, once it reached the scheduler (handed over once)."""
        with self._lock:
            client, self._client = self._client, None
            return client

    def stop(self, timeout: float) -> None:
        """Stop trying; a client reached but not handed over is closed."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)
        client = self.joined()
        if client is not None:
            close_quietly(client)

    def _run(self, lost_client) -> None:
        # closed on a thread of its own: a close that hangs on the lost scheduler delays nothing
        threading.Thread(target=close_quietly, args=(lost_client,), daemon=True).start()
        import distributed

        while not self._stop.is_set():
            self.attempts += 1
            try:
                # a bare connection first: a Client that fails to connect leaves its loop's thread
                asyncio.run(_answers(self.address, self.security, _ATTEMPT_S))
                client = distributed.Client(
                    self.address, timeout=_ATTEMPT_S, security=self.security, set_as_default=False
                )
            except Exception:  # noqa: BLE001 - OSError, TimeoutError: not back yet
                self._stop.wait(self.period)
                continue
            with self._lock:
                if not self._stop.is_set():
                    self._client = client
                    return
            close_quietly(client)
            return


async def _answers(address: str, security, timeout: float) -> None:
    """Whether a Dask scheduler listens on ``address``: OSError when nothing answers in time."""
    from distributed.comm import connect

    if security and not hasattr(security, "get_connection_args"):
        return  # security=True (temporary credentials): only a Client can tell
    args = security.get_connection_args("client") if security else {}
    comm = await connect(address, timeout=timeout, **args)
    await comm.close()
