"""PDG's Job API calls as the result server answers them, each applied once per report key.

A job's ``pdgcmd`` reports attributes, output files, status, log lines and the rest of the Job API;
each call is checked (``reportcheck``), then recorded through the cook's ``ResultSink``. A report
key (item, attempt, report number) makes a repeated call (an RPC retry) an acknowledged no-op, and
only items the cook allowed (cooking now, under this cook) may report. Apart from the HTTP side
(``rpchttp``) and the server's life cycle (``resultserver``): this is what a call means.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable
from typing import Any, Protocol

from pdgstore.engine.schedulers.reportcheck import (
    FAULT_INVALID,
    FAULT_NOT_COOKING,
    FAULT_REFUSED,
    KINDS,
    NAME,
    SHORT,
    Refused,
    ReportChecker,
    describe,
)

#: a report key made canonical: (item id, attempt, report number as text)
ReportKey = tuple[str, int, str]


def _refused(exc: ValueError) -> Exception:
    """The fault a job gets for a report the cook refused. ``xmlrpc.client`` is imported here, not
    at the top: the HTTP side (``rpchttp``) has loaded it before any call can arrive, and a cook
    whose jobs never call the server does not load it at all (``resultserver.ResultServer.start``)."""
    import xmlrpc.client

    return xmlrpc.client.Fault(FAULT_REFUSED, f"result server: {exc}")


class ResultSink(Protocol):
    """Where reports go (the engine side); each method returns once its effect is in the log.
    Raising ValueError(message) refuses the report: the job gets a fault with that message.

    Values arrive checked: ``kind`` is one of KINDS; a file value is ``[path, tag]`` and an output
    file ``(path, tag, hash)``, the path relative to the project with ``/`` (absolute only when the
    server allows outside paths); an empty tag or hash means the job gave none."""

    def set_attrib(self, item_id: str, name: str, values: list[Any], kind: str) -> None: ...
    def add_output_files(self, item_id: str, files: list[tuple[str, str, str]]) -> None: ...
    def report_status(self, item_id: str, ok: bool, message: str = "") -> None: ...
    def report_cancelled(self, item_id: str, message: str = "") -> None: ...
    def append_sub_item(self, batch_id: str) -> int: ...
    def warning(self, item_id: str | None, message: str, refusal: bool = False) -> None: ...
    def log_line(self, item_id: str, text: str, level: str = "info") -> None: ...
    def item_json(self, item_id: str) -> str: ...


class JobCalls:
    """The calls of one cook's result server, by their XML-RPC names (``methods``), and the items
    allowed to make them."""

    def __init__(self, sink: ResultSink, check: ReportChecker) -> None:
        self.sink = sink
        self.check = check
        self._lock = threading.Lock()
        self._ids: dict[str, str] = {}  # id -> name of items cooking now
        self._names: dict[str, str] = {}  # name -> id
        self._item_locks: dict[str, threading.Lock] = {}
        self._done: dict[str, set[ReportKey]] = {}  # item id -> report keys already applied
        self._batches: dict[str, list[str]] = {}  # batch id -> its sub-items' ids, by sub index
        #: sub-item id -> the job attempt whose report settled it while its batch went on: a later
        #: attempt (a retried batch job starts again from its first sub-item) reports it in vain
        self._settled: dict[str, int] = {}
        self._told: set[str] = set()  # sub-items whose in-vain reports were said (once each)
        self._batch_of: dict[str, str] = {}  # sub-item id -> its batch's id
        self._local = threading.local()  # a multicall's bookkeeping, per serving thread
        #: copies an output a job reports from its machine's own disk to the cook's (item id, the
        #: cook's absolute path) before it is recorded; ValueError refuses the report
        self.fetch: Callable[[str, str], None] | None = None
        #: rewrites an item's JSON (the cook's paths) for the job's machine (``getWorkItemJSON``)
        self.job_json: Callable[[str], str] | None = None
        self.methods: dict[str, Callable[..., Any]] = {
            "set_attrib": self.set_attrib,
            "add_output_files": self.add_output_files,
            "report_status": self.report_status,
            "warning": self.warning,
            "start_cook": self.start_cook,
            "set_custom_state": self.set_custom_state,
            "set_cook_percent": self.set_cook_percent,
            "append_log": self.append_log,
            "cancelled": self.cancelled,
            "invalidate_cache": self.invalidate_cache,
            "keepalive": self.keepalive,
            "get_workitem_json": self.get_workitem_json,
            "check_ready_batch": self.check_ready_batch,
            "add_sub_item_batch": self.add_sub_item_batch,
            "system.multicall": self.multicall,
        }

    # -- which items may report -------------------------------------------------------------------
    def allow(self, item_id: str, item_name: str) -> None:
        with self._lock:
            self._ids[item_id] = item_name
            self._names[item_name] = item_id
            self._item_locks.setdefault(item_id, threading.Lock())
            self._done.setdefault(item_id, set())

    def allow_batch(self, batch_id: str, batch_name: str, subs: list[tuple[str, str]]) -> None:
        """A batch's job (``engine.cook.batches``) reports about the batch and, with a sub index,
        about each of its sub-items ``subs`` ((id, name) by sub index)."""
        self.allow(batch_id, batch_name)
        for sub_id, sub_name in subs:
            self.allow(sub_id, sub_name)
        with self._lock:
            self._batches[batch_id] = [sub_id for sub_id, _ in subs]
            self._batch_of.update((sub_id, batch_id) for sub_id, _ in subs)

    def join_batch(self, batch_id: str, sub_id: str, sub_name: str) -> None:
        """A sub-item appended to a running batch (``appendSubItem``): the next sub index."""
        self.allow(sub_id, sub_name)
        with self._lock:
            self._batches.setdefault(batch_id, []).append(sub_id)
            self._batch_of[sub_id] = batch_id

    def disallow(self, item_id: str) -> None:
        with self._lock:
            for sub in self._batches.pop(item_id, ()):
                self._settled.pop(sub, None)
                self._told.discard(sub)
                self._batch_of.pop(sub, None)
            name = self._ids.pop(item_id, None)
            if name is not None and self._names.get(name) == item_id:
                del self._names[name]
            self._item_locks.pop(item_id, None)
            self._done.pop(item_id, None)

    def _key(self, key: object, subindex: object = -1) -> tuple[str, ReportKey]:
        """The item a report key names (it must be cooking now) and the key's canonical form. A
        batch's sub-item is named by the batch and its sub index: the key's fourth entry, else
        ``subindex`` (a call's own argument)."""
        if isinstance(key, list) and len(key) == 4:
            key, subindex = key[:3], key[3]
        if not (
            isinstance(key, list)
            and len(key) == 3
            and isinstance(key[0], str)
            and isinstance(key[1], int)
            and not isinstance(key[1], bool)
            and key[1] >= 0
            and isinstance(key[2], (str, int))
            and not isinstance(key[2], bool)
            and len(str(key[2])) <= SHORT
        ):
            raise Refused(FAULT_INVALID, f"result server: a report key is [item, attempt, number], not {key!r:.200}")
        item = key[0]
        with self._lock:
            item_id = item if item in self._ids else self._names.get(item)
        if item_id is None:
            raise Refused(FAULT_NOT_COOKING, f"result server: work item {item[:200]!r} is not cooking under this cook")
        if isinstance(subindex, int) and not isinstance(subindex, bool) and subindex >= 0:
            item_id = self._sub_item(item_id, subindex, key[1])
        return item_id, (item_id, key[1], str(key[2]))

    def _sub_item(self, item_id: str, subindex: int, attempt: int) -> str:
        """Sub-item ``subindex`` of the batch ``item_id`` (an item that is no batch is itself); one
        an earlier attempt of the batch's job settled is named too (``_apply`` acknowledges it)."""
        with self._lock:
            subs = self._batches.get(item_id)
            if subs is None:
                return item_id
            batch = self._ids.get(item_id, item_id)
            if subindex >= len(subs):
                raise Refused(FAULT_INVALID, f"result server: batch {batch} has no sub item {subindex}")
            sub = subs[subindex]
            if sub not in self._ids and not attempt > self._settled.get(sub, attempt):
                raise Refused(FAULT_NOT_COOKING, f"result server: sub item {subindex} of batch {batch} is not cooking")
        return sub

    def _apply(self, item_id: str, key: ReportKey, effect: Callable[[], None]) -> bool:
        """Run ``effect`` once per report key; a repeat is acknowledged and changes nothing; so is a
        retried batch job's report about a sub-item an earlier attempt settled (said once)."""
        with self._lock:
            lock, done = self._item_locks.get(item_id), self._done.get(item_id)
            settled = self._settled.get(item_id) if lock is None else None
            first = settled is not None and item_id not in self._told
            if first:
                self._told.add(item_id)
        if settled is not None and key[1] > settled:
            if first:
                self.sink.warning(
                    item_id,
                    f"attempt {key[1]} of its batch's job reported it again: ignored, it cooked in attempt {settled}",
                )
            return True
        if lock is None or done is None:
            raise Refused(FAULT_NOT_COOKING, f"result server: work item {item_id} is not cooking under this cook")
        with lock:
            if key in done:
                return True
            try:
                effect()
            except ValueError as exc:
                raise _refused(exc) from None
            done.add(key)
            applied = getattr(self._local, "applied", None)
            if applied is not None:  # a deferred batch: forgotten again if the cook refuses it
                applied.append((self._local.tag, item_id, key))
        return True

    # -- attributes, outputs and status -----------------------------------------------------------
    def set_attrib(self, key: object, name: object, kind: object, values: object) -> bool:
        item_id, rkey = self._key(key)
        if not isinstance(name, str) or not NAME.match(name):
            raise Refused(
                FAULT_INVALID,
                f"result server: {name!r:.200} is not an attribute name"
                " (letters, digits and _, not starting with a digit)",
                item_id,
            )
        if not isinstance(kind, str) or kind not in KINDS:
            raise Refused(
                FAULT_INVALID,
                f"result server: attribute {name}: type {kind!r:.50} is not one of {', '.join(KINDS)}",
                item_id,
            )
        if not isinstance(values, list):
            raise Refused(FAULT_INVALID, f"result server: attribute {name}: values must be an array", item_id)
        clean = [self.check.value(item_id, name, kind, v) for v in values]
        return self._apply(item_id, rkey, lambda: self.sink.set_attrib(item_id, name, clean, kind))

    def add_output_files(self, key: object, files: object) -> bool:
        item_id, rkey = self._key(key)
        if not isinstance(files, list):
            raise Refused(FAULT_INVALID, "result server: output files must be an array of [path, tag, hash]", item_id)
        clean = []
        for f in files:
            if not (isinstance(f, list) and len(f) == 3 and isinstance(f[0], str)):
                raise Refused(
                    FAULT_INVALID, f"result server: an output file is [path, tag, hash], not {describe(f)}", item_id
                )
            clean.append(
                (
                    self.check.path(item_id, f[0]),
                    self.check.short(item_id, "output tag", f[1]),
                    self.check.short(item_id, "output hash", f[2]),
                )
            )
        if self.fetch is not None:
            for path, _, _ in clean:
                try:
                    self.fetch(item_id, os.path.join(self.check.project_dir, path))
                except ValueError as exc:
                    raise Refused(FAULT_REFUSED, f"result server: {exc}", item_id) from None
        return self._apply(item_id, rkey, lambda: self.sink.add_output_files(item_id, clean))

    def report_status(self, key: object, ok: object, message: object = "") -> bool:
        item_id, rkey = self._key(key)
        if not isinstance(ok, bool) or not isinstance(message, str):
            raise Refused(FAULT_INVALID, "result server: a status is (ok: boolean, message: string)", item_id)
        text = self.check.string(item_id, "status message", message)
        applied = self._apply(item_id, rkey, lambda: self.sink.report_status(item_id, ok, text))
        with self._lock:
            if ok and item_id in self._batch_of:
                self._settled.setdefault(item_id, rkey[1])  # settled now, its batch going on
        return applied

    def warning(self, key: object, message: object) -> bool:
        item_id, rkey = self._key(key)
        if not isinstance(message, str):
            raise Refused(FAULT_INVALID, f"result server: a warning is a string, not {describe(message)}", item_id)
        text = self.check.string(item_id, "warning", message)
        return self._apply(item_id, rkey, lambda: self.sink.warning(item_id, text))

    # -- the rest of PDG's Job API (pdgcmd's calls beyond attributes, outputs and status) ------------
    def start_cook(self, key: object, subindex: object = -1) -> bool:
        item_id, rkey = self._key(key, subindex)
        return self._apply(item_id, rkey, lambda: self.sink.log_line(item_id, "the job started cooking"))

    def set_custom_state(self, key: object, subindex: object, state: object) -> bool:
        item_id, rkey = self._key(key, subindex)
        text = self.check.string(item_id, "custom state", state if isinstance(state, str) else str(state))
        return self._apply(item_id, rkey, lambda: self.sink.set_attrib(item_id, "__pdg_state", [text], "str"))

    def set_cook_percent(self, key: object, subindex: object, percent: object) -> bool:
        item_id, rkey = self._key(key, subindex)
        if isinstance(percent, bool) or not isinstance(percent, (int, float)):
            raise Refused(FAULT_INVALID, f"result server: a cook percent is a number, not {describe(percent)}", item_id)
        value = float(percent)
        return self._apply(item_id, rkey, lambda: self.sink.set_attrib(item_id, "__pdg_cookpercent", [value], "float"))

    def append_log(self, key: object, subindex: object, text: object, log_type: object = 3) -> bool:
        item_id, rkey = self._key(key, subindex)
        if not isinstance(text, str):
            raise Refused(FAULT_INVALID, f"result server: a log entry is a string, not {describe(text)}", item_id)
        entry = self.check.string(item_id, "log entry", text)
        level = {0: "error", 1: "warning"}.get(log_type, "info") if isinstance(log_type, int) else "info"
        return self._apply(item_id, rkey, lambda: self.sink.log_line(item_id, entry, level))

    def cancelled(self, key: object) -> bool:
        item_id, rkey = self._key(key)
        return self._apply(item_id, rkey, lambda: self.sink.report_cancelled(item_id, "the job cancelled itself"))

    def invalidate_cache(self, key: object, subindex: object = -1) -> bool:
        """PDG: the item's results count as new, so its dependents cook. Recorded as the attribute
        ``__pdg_cacheinvalidated`` (the report's key: new for every call), which children inherit."""
        item_id, rkey = self._key(key, subindex)
        stamp = rkey[2]
        return self._apply(
            item_id, rkey, lambda: self.sink.set_attrib(item_id, "__pdg_cacheinvalidated", [stamp], "str")
        )

    def keepalive(self, key: object) -> bool:
        item_id, rkey = self._key(key)
        return self._apply(item_id, rkey, lambda: self.sink.log_line(item_id, "keepalive", "debug"))

    def get_workitem_json(self, key: object, subindex: object = -1) -> str:
        item_id, _ = self._key(key, subindex)
        try:
            text = self.sink.item_json(item_id)
        except ValueError as exc:
            raise _refused(exc) from None
        return self.job_json(text) if self.job_json is not None else text

    def check_ready_batch(self, key: object, subindex: object = -1) -> int:
        """1: ready. A batch starts once all its sub-items are ready (PDG's ``batchActivation.All``),
        so each of them is; a sub index the batch does not have is refused."""
        item_id, _ = self._key(key)
        with self._lock:
            subs = self._batches.get(item_id)
        if subs is not None and isinstance(subindex, int) and subindex >= len(subs):
            raise Refused(FAULT_INVALID, f"result server: batch {self._ids.get(item_id)} has no sub item {subindex}")
        return 1

    def add_sub_item_batch(self, key: object) -> int:
        """A new sub-item at the end of the running batch (its index); -1 for an item that is no batch."""
        item_id, _ = self._key(key)
        with self._lock:
            is_batch = item_id in self._batches
        if not is_batch:
            return -1
        try:
            return self.sink.append_sub_item(item_id)
        except ValueError as exc:
            raise _refused(exc) from None

    # -- batches of calls -------------------------------------------------------------------------
    def multicall(self, calls: object) -> list[Any]:
        """Several reports in one round trip; each is checked and applied on its own, in order.
        A sink that can defer its waits (``CookSink.deferring``) records them all with one flush;
        a report it then refuses gets its fault and its key is forgotten (a retry applies it)."""
        if not isinstance(calls, list):
            raise Refused(FAULT_INVALID, "result server: system.multicall takes an array of calls")
        deferring = getattr(self.sink, "deferring", None)
        if deferring is None or len(calls) < 2:
            return self._each(calls, None)
        with deferring() as batch:
            applied: list[tuple[int, str, ReportKey]] = []
            self._local.applied = applied
            try:
                results = self._each(calls, batch)
            finally:
                self._local.applied = None
        for tag, error in batch.errors().items():
            results[tag] = {"faultCode": FAULT_REFUSED, "faultString": f"result server: {error}"}
            for at, item_id, key in applied:
                if at == tag:
                    with self._lock:
                        self._done.get(item_id, set()).discard(key)
        return results

    def _each(self, calls: list[Any], batch: Any) -> list[Any]:
        import xmlrpc.client  # loaded already by the HTTP side (see ``_refused``)

        results: list[Any] = []
        for tag, call in enumerate(calls):
            if batch is not None:
                batch.tag = self._local.tag = tag
            try:
                if not (isinstance(call, dict) and isinstance(call.get("params"), list)):
                    raise Refused(FAULT_INVALID, "result server: a multicall entry is {methodName, params}")
                method = call.get("methodName")
                if method == "system.multicall" or method not in self.methods:
                    raise Refused(FAULT_INVALID, f"result server: there is no call named {method!r:.100}")
                results.append([self.methods[method](*call["params"])])
            except Refused as exc:
                self.sink.warning(exc.item_id, exc.message)
                results.append({"faultCode": exc.code, "faultString": exc.message})
            except xmlrpc.client.Fault as fault:
                results.append({"faultCode": fault.faultCode, "faultString": fault.faultString})
            except TypeError as exc:
                results.append({"faultCode": FAULT_INVALID, "faultString": f"result server: bad arguments: {exc}"})
        return results
