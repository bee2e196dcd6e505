"""``pdg export``: write the log's events, or the work items, to a file for analysis elsewhere.

The file is written as every file pdgstore owns: to a temporary name beside it, fsynced, renamed into
place, and the folder fsynced; an export that fails leaves no partial file behind.
"""

from __future__ import annotations

import csv
import io
import json
import os
import tempfile
from collections.abc import Callable, Iterable, Iterator
from typing import IO

from pdgstore.engine.errors import PdgError

from pdgstore import queries
from pdgstore.itemlists import Stored
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
        root = roots.get(item.graph, "")
        if type(item.outputs) is Stored:  # a partition's: written as it is read (``Streamed``)
            row = queries.item_summary(item, root, limit=0)
            row["outputs"] = Streamed(item.outputs, root)
        else:
            row = queries.item_summary(item, root)
        row["attrs"] = queries.attr_dicts(item.attrs)
        yield row


class Streamed:
    """A long list of output files (``itemlists.Stored``: a partition's, one per member) that
    ``_write`` writes as JSON a chunk at a time, instead of a row holding 100,000 file dicts and
    their JSON text at once (228 MB at W(100,000) for a CSV export). Read inside the export's read."""

    def __init__(self, outputs: Stored, root: str) -> None:
        self.outputs, self.root = outputs, root

    def json_parts(self, dumps: Callable[[object], str]) -> Iterator[str]:
        """The list's JSON text, in pieces that join to ``dumps`` of the whole list of file dicts."""
        yield "["
        first = True
        for chunk in self.outputs.chunks():
            text = ",".join(dumps(queries.file_dict(rec, self.root)) for rec in chunk)
            yield text if first else "," + text
            first = False
        yield "]"


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
    dumps = json.JSONEncoder(default=str, separators=(",", ":")).encode
    if fmt == "jsonl":
        for row in data:
            if _streamed(row):
                _write_streamed(f, row, lambda cells: dumps(cells) + "\n", dumps, quote=False)
            else:
                f.write(dumps(row) + "\n")
            n += 1
        return n
    columns = EVENT_COLUMNS if what == "events" else ITEM_COLUMNS
    writer = csv.writer(f)
    writer.writerow(columns)

    def cells(row: dict) -> list:
        return [dumps(row[c]) if isinstance(row[c], (dict, list)) else row[c] for c in columns]

    def as_csv(row: dict) -> str:
        line = io.StringIO()
        csv.writer(line).writerow(cells(row))
        return line.getvalue()

    for row in data:
        if _streamed(row):
            _write_streamed(f, row, as_csv, dumps, quote=True)
        else:
            writer.writerow(cells(row))
        n += 1
    return n


def _streamed(row: dict) -> bool:
    return type(row.get("outputs")) is Streamed


def _write_streamed(f: IO[str], row: dict, text: Callable[[dict], str], dumps: Callable, *, quote: bool) -> None:
    """Write ``text(row)`` with its ``Streamed`` outputs' JSON written in their place a piece at a
    time: the row is made with a token there (a string no row holds: it names the row's own id),
    and the line cut at it. ``quote``: as a CSV cell (quoted, its quotes doubled: the JSON of file
    dicts always holds quotes, so ``csv`` quotes it so)."""
    token = f"pdg-export-streamed-outputs-{row['item_id']}"
    head, tail = text({**row, "outputs": token}).split(token if quote else dumps(token), 1)
    f.write(head + ('"' if quote else ""))
    for part in row["outputs"].json_parts(dumps):
        f.write(part.replace('"', '""') if quote else part)
    f.write(('"' if quote else "") + tail)
