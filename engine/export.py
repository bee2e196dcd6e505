"""``pdg export``: write the log's events, or the work items, to a file for analysis elsewhere.

The file is written as every file pdgstore owns: to a temporary name beside it, fsynced, renamed into
place, and the folder fsynced; an export that fails leaves no partial file behind.
"""

from __future__ import annotations

import csv
import json
import os
import tempfile
from collections.abc import Callable, Iterable, Iterator
from typing import IO

from pdgstore.engine.errors import PdgError

from pdgstore import queries
from pdgstore.log import EventLog
from pdgstore.readmodel import TableState

EVENT_COLUMNS = ("seq", "time_ns", "cook_id", "graph", "kind", "subject", "payload")
ITEM_COLUMNS = ("item_id", "name", "node", "graph", "index", "state", "cook_id", "cook_seconds", "outputs", "attrs")
#: rows written between two words to the caller's ``report``
REPORT_EVERY = 10_000


def rows(log: EventLog, what: str, cook_id: int | None = None) -> Iterator[dict]:
    if what == "events":
        yield from queries.event_dicts(log, cook_id=cook_id)
        return
    state = TableState(log)  # streamed from the tables: an export of a million items holds one at a time
    roots = {g: queries.project_root(log, state, g) for g in state.graphs}
    for item in state.iter_items(cook_id):
        row = queries.item_summary(item, roots.get(item.graph, ""))
        row["attrs"] = queries.attr_dicts(item.attrs)
        yield row


def told(log: EventLog, what: str, cook_id: int | None, report: Callable[[str, int, int], None]) -> Iterator[dict]:
    """``rows``, telling ``report`` how far they got every ``REPORT_EVERY`` rows: events by seq
    reached of the last (theirs or the cook's), items by rows of those the tables hold (a cook's:
    of a number not known)."""
    if what == "events":
        span = log.cook_span(cook_id) if cook_id is not None else None
        last = span[1] if span is not None else log.last_seq()
        for n, row in enumerate(rows(log, what, cook_id), 1):
            if n % REPORT_EVERY == 0:
                report("exporting events (seq)", row["seq"], last)
            yield row
        return
    held = log.item_count() if cook_id is None else 0
    for n, row in enumerate(rows(log, what, cook_id), 1):
        if n % REPORT_EVERY == 0:
            report("exporting work items", n, held)
        yield row


def export(
    log: EventLog,
    what: str,
    fmt: str,
    path: str,
    cook_id: int | None = None,
    report: Callable[[str, int, int], None] | None = None,
) -> int:
    """Write ``what`` (events or items) as ``fmt`` (jsonl or csv) to ``path``; returns the rows written.
    ``path`` '-' writes to standard output. A missing folder is the caller's to refuse first (``pdg
    export``: ``options.missing_folder``, a usage mistake); one gone since, or not writable, is
    refused here, as the system says it. ``report``: hears how far it got (``told``)."""
    data = rows(log, what, cook_id) if report is None else told(log, what, cook_id, report)
    if path == "-":
        import sys

        return _write(sys.stdout, data, what, fmt)
    folder = os.path.dirname(os.path.abspath(path))
    try:
        fd, tmp = tempfile.mkstemp(prefix=".pdg-export-", dir=folder)
    except OSError as exc:
        raise PdgError(f"cannot export to {path}: {exc.strerror or exc}") from None
    try:
        with os.fdopen(fd, "w", newline="", encoding="utf-8") as f:
            n = _write(f, data, what, fmt)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        os.unlink(tmp)
        raise
    dir_fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)
    return n


def _write(f: IO[str], data: Iterable[dict], what: str, fmt: str) -> int:
    n = 0
    if fmt == "jsonl":
        dumps = json.JSONEncoder(default=str, separators=(",", ":")).encode
        for row in data:
            f.write(dumps(row) + "\n")
            n += 1
        return n
    columns = EVENT_COLUMNS if what == "events" else ITEM_COLUMNS
    writer = csv.writer(f)
    writer.writerow(columns)
    for row in data:
        writer.writerow(
            [
                json.dumps(row[c], default=str, separators=(",", ":")) if isinstance(row[c], (dict, list)) else row[c]
                for c in columns
            ]
        )
        n += 1
    return n
