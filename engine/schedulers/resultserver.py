"""The result server: jobs started by a scheduler report attributes, output files and status over
XML-RPC (PDG's Job API, ``pdgcmd``), and a ``ResultSink`` records each report as events.

Nothing from outside is trusted. The server binds 127.0.0.1 unless its scheduler names another
address (``host``: the dask scheduler's ``result_host``, for jobs on other machines). Its parts:
``rpchttp`` checks the per-cook secret and the body's size before anything is parsed;
``reportcheck`` validates every value (types, sizes, paths inside the project); ``jobcalls`` applies
each call once per report key for items cooking under this cook. A refused call gets a Fault
naming the problem, is reported through ``sink.warning`` and changes nothing. This module owns the
server's life: start, the environment jobs are given, and a stop that lets calls being applied
finish and cuts kept-alive connections.

The server binds and listens when it starts (jobs are given its address), but the HTTP and XML-RPC
machinery (``rpchttp``: about 60 modules of the standard library) is imported and served from the
first connection on: most command graphs' jobs (``true``, a renderer that writes files) never
call, and every such cook paid that import at its start. A job that calls finds the port open: its
connection waits in the listen queue until the server is up.
"""

from __future__ import annotations

import os
import secrets
import select
import socket
import threading
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from pdgstore.engine.files.confine import outside_allowed
from pdgstore.engine.schedulers.jobcalls import JobCalls, ResultSink
from pdgstore.engine.schedulers.reportcheck import Refused, ReportChecker

if TYPE_CHECKING:
    from pdgstore.engine.schedulers.rpchttp import GuardedServer

_STOP_WAIT = 10.0  # seconds stop() waits for calls being applied
#: connections the listening socket queues: jobs that call before the server is up wait there
_LISTEN_QUEUE = 128
_MAX_AUTH_WARNINGS = 20  # unauthenticated callers could otherwise fill the log with warnings


class ResultServer:
    """One per cook: ``start()``, hand ``environment()`` to jobs, ``allow()`` each item while it
    cooks, ``stop()`` when the cook ends."""

    def __init__(
        self,
        sink: ResultSink,
        project_dir: str | os.PathLike[str],
        *,
        allow_outside: bool = False,
        max_string: int = 1 << 20,
        max_body: int = 1 << 20,
        host: str = "127.0.0.1",
        path_map: Callable[[str], str] | None = None,
        working_dirs: tuple[str, ...] = (),
        fetch: Callable[[str, str], None] | None = None,
        job_json: Callable[[str], str] | None = None,
    ) -> None:
        self.sink = sink
        self.host = host
        self.project_dir = os.path.abspath(os.fspath(project_dir))
        self.check = ReportChecker(
            self.project_dir,
            allow_outside=allow_outside or outside_allowed(),
            max_string=max_string,
            path_map=path_map,
            working_dirs=working_dirs,
        )
        self.calls = JobCalls(sink, self.check)
        self.calls.fetch, self.calls.job_json = fetch, job_json  # a dask scheduler's workers' own disks
        #: the calls by their XML-RPC names (``rpchttp`` dispatches to them)
        self.methods: dict[str, Callable[..., Any]] = self.calls.methods
        self.max_body = max_body
        self.secret = secrets.token_urlsafe(32)
        self.address = ""
        self._server: GuardedServer | None = None
        self._thread: threading.Thread | None = None
        self._wake_r = self._wake_w = -1  # tells the server's thread to stop before it served
        self._stopped = False
        self._lock = threading.Lock()
        self._idle = threading.Condition(self._lock)
        self._inflight = 0  # calls being applied now: stop() lets them finish
        self._conns: set[socket.socket] = set()
        self._auth_warnings = 0
        self.requests = 0  # authenticated HTTP requests served (a batch of reports is one)

    @property
    def allow_outside(self) -> bool:
        return self.check.allow_outside

    @property
    def max_string(self) -> int:
        return self.check.max_string

    # -- life cycle -------------------------------------------------------------------------------
    def start(self) -> None:
        """Listen now; serve from the first connection on (see the module's docstring)."""
        listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        try:
            listener.bind((self.host, 0))
            listener.listen(_LISTEN_QUEUE)
        except OSError:
            listener.close()
            raise
        host, port = listener.getsockname()[:2]
        self.address = f"{host!s}:{port}"
        self._wake_r, self._wake_w = os.pipe()
        self._thread = threading.Thread(target=self._serve, args=(listener,), name=f"result-server-{port}", daemon=True)
        self._thread.start()

    def _serve(self, listener: socket.socket) -> None:
        """On the server's thread: wait for the first connection (or ``stop``), then serve."""
        select.select([listener.fileno(), self._wake_r], [], [])
        with self._lock:
            if self._stopped:
                listener.close()
                return
            from pdgstore.engine.schedulers.rpchttp import GuardedServer

            server = self._server = GuardedServer(self, listener)
        server.serve_forever(poll_interval=0.1)

    def stop(self) -> None:
        """Stop serving; let calls being applied finish (their job is told "ok" and the effect is in
        the log); cut open connections (a kept-alive job must not report after the cook); join."""
        with self._lock:
            self._stopped = True
            server = self._server
        if self._thread is None:
            return
        if server is None:  # no job called: the thread still waits for the first connection
            os.write(self._wake_w, b"x")
            self._thread.join()
            self._close_wake()
            return
        self._shutdown_now(server)
        server.server_close()
        with self._idle:
            self._idle.wait_for(lambda: self._inflight == 0, timeout=_STOP_WAIT)
            conns = list(self._conns)
        for conn in conns:
            try:  # the read side only: its handler sees EOF and closes; SHUT_RDWR could lose an answer in flight
                conn.shutdown(socket.SHUT_RD)
            except OSError:
                pass
        self._thread.join()
        self._close_wake()
        self._server = None

    def _close_wake(self) -> None:
        for fd in (self._wake_r, self._wake_w):
            os.close(fd)
        self._thread = None

    @staticmethod
    def _shutdown_now(server: GuardedServer) -> None:
        """``shutdown()`` waits for the serving loop's next poll (0.1 s at the end of every cook): a
        connection of our own wakes it at once (it carries no request: its handler just ends)."""
        stopper = threading.Thread(target=server.shutdown, name="result-server-stop", daemon=True)
        stopper.start()
        host, port = server.server_address[:2]
        while stopper.is_alive():
            try:
                socket.create_connection((str(host), int(port)), timeout=0.1).close()
            except OSError:
                pass
            stopper.join(0.01)

    def __enter__(self) -> ResultServer:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def environment(self) -> dict[str, str]:
        return {
            "PDG_RESULT_SERVER": self.address,
            "PDG_RESULT_SECRET": self.secret,
            "PDG_RESULT_MAX_BODY": str(self.max_body),
        }

    def allow(self, item_id: str, item_name: str) -> None:
        """``item_id`` (or its name) may report until ``disallow``: it cooks now, under this cook."""
        self.calls.allow(item_id, item_name)

    def allow_batch(self, batch_id: str, batch_name: str, subs: list[tuple[str, str]]) -> None:
        """A batch's job may report about the batch and, by sub index, its sub-items ``subs``."""
        self.calls.allow_batch(batch_id, batch_name, subs)

    def join_batch(self, batch_id: str, sub_id: str, sub_name: str) -> None:
        """``appendSubItem``: ``sub_id`` is the running batch's next sub-item."""
        self.calls.join_batch(batch_id, sub_id, sub_name)

    def disallow(self, item_id: str) -> None:
        self.calls.disallow(item_id)

    # -- what the HTTP side asks (``rpchttp.Gatekeeper``) --------------------------------------------
    @property
    def stopped(self) -> bool:
        return self._stopped

    def enter(self) -> bool:
        """A call starts being applied; False once the server stops."""
        with self._lock:
            if self._stopped:
                return False
            self._inflight += 1
            return True

    def leave(self) -> None:
        with self._idle:
            self._inflight -= 1
            self._idle.notify_all()

    def count_request(self) -> None:
        with self._lock:
            self.requests += 1

    def track(self, conn: socket.socket, add: bool) -> None:
        """Remember an open connection (``add``) or forget a closed one: ``stop`` cuts those left."""
        with self._lock:
            (self._conns.add if add else self._conns.discard)(conn)

    def warn(self, exc: Refused) -> None:
        self.sink.warning(exc.item_id, exc.message, refusal=True)

    def warn_unauthenticated(self, exc: Refused) -> None:
        """A call with a wrong secret, told to the cook up to ``_MAX_AUTH_WARNINGS`` times."""
        with self._lock:
            self._auth_warnings += 1
            count = self._auth_warnings
        if count < _MAX_AUTH_WARNINGS:
            self.sink.warning(None, exc.message)
        elif count == _MAX_AUTH_WARNINGS:
            self.sink.warning(None, exc.message + f" (the {count}th such call: later ones are refused silently)")
