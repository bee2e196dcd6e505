"""Rendering: rich tables and messages for people, JSON for scripts.

Data (tables, JSON) goes to stdout; progress and messages go to stderr; under ``--json``, what the
user's own code prints goes to stderr too (``json_stdout``). Paths are shown relative to the
directory the user stands in.
"""

from __future__ import annotations

import contextlib
import json
import os
import sys
import time
from collections import deque
from collections.abc import Callable, Iterable, Iterator, Sequence
from itertools import islice
from typing import TextIO

_consoles: dict = {}


def __getattr__(name: str):
    """``render.out`` and ``render.err``, the rich consoles, made (and rich, a large import, imported) on
    first use: a command that prints only plain lines (``pdg cook`` into a pipe) never pays for it."""
    if name not in ("out", "err"):
        raise AttributeError(name)
    if name not in _consoles:
        from rich.console import Console

        # Piped output is read by scripts and people with wide windows: do not wrap it at 80 columns.
        _consoles["out"] = Console(highlight=False, soft_wrap=True, width=None if sys.stdout.isatty() else 240)
        _consoles["err"] = Console(stderr=True, highlight=False, soft_wrap=True)
    return _consoles[name]


def escape(text: str) -> str:
    """rich's ``markup.escape``, imported on first use: a read answering ``--json`` never
    imports rich (about 40 modules: a third of such a command's start-up)."""
    from rich.markup import escape as rich_escape

    return rich_escape(text)


def say(text: str, style: str | None = None, *, err: bool = True) -> None:
    """One line of plain text (no markup) for a person: styled by rich on a terminal, written as it
    is into a pipe or a file."""
    stream = sys.stderr if err else sys.stdout
    if stream.isatty():
        (__getattr__("err") if err else __getattr__("out")).print(text, style=style, markup=False)
    else:
        stream.write(text + "\n")


STATE_STYLES = {
    "cooked_success": "green",
    "cooked_cache": "cyan",
    "cooked_fail": "bold red",
    "cooked_cancel": "yellow",
    "cooking": "magenta",
    "scheduled": "blue",
    "dirty": "dim",
    "success": "green",
    "failed": "bold red",
    "cancelled": "yellow",
    "running": "magenta",
    "died": "bold red",
}


def emit_json(data: dict) -> None:
    sys.stdout.write(indented(data) + "\n")  # json.dumps(data, indent=2, default=str)


def emit_json_listing(head: dict, key: str, rows: Iterable[dict]) -> None:
    """``emit_json({**head, key: list(rows)})``, the same text, written as the rows come: a listing
    of a million items never holds them all, nor their JSON. (``key`` comes last.)"""
    write = sys.stdout.write
    opening, _, closing = json.dumps({**head, key: []}, indent=2, default=str).rpartition("[]")
    write(opening)
    sep = "[\n    "
    for row in rows:
        write(sep + indented(row, "    "))
        sep = ",\n    "
    write(("\n  ]" if sep != "[\n    " else "[]") + closing + "\n")


_STRING = json.encoder.encode_basestring_ascii  # (C: what json.dumps uses)
_FLOATS = {float("inf"): "Infinity", float("-inf"): "-Infinity"}


def indented(value, pad: str = "") -> str:
    """``json.dumps(value, indent=2, default=str)`` with each line after the first prefixed by
    ``pad``, the same text, several times faster: with an indent the standard library encodes in
    Python, a generic walk that made a listing of a million items (``pdg items NODE --json``) take
    30 s. Dicts with keys other than strings go to the standard encoder."""
    kind = type(value)
    if kind is str:
        return _STRING(value)
    if kind is dict or (kind is not list and isinstance(value, dict)):  # (``state.EMPTY_MAP`` is one)
        if not value:
            return "{}"
        inner = pad + "  "
        try:
            parts = [
                inner
                + _STRING(k)
                + ": "
                + (_STRING(v) if (t := type(v)) is str else int.__repr__(v) if t is int else indented(v, inner))
                for k, v in value.items()
            ]  # (strings and ints, most values, without a call each)
        except TypeError:  # a key that is not a string: json's own rules for it
            return json.dumps(value, indent=2, default=str).replace("\n", "\n" + pad)
        return "{\n" + ",\n".join(parts) + "\n" + pad + "}"
    if kind is list or kind is tuple or isinstance(value, (list, tuple)):
        if not value:
            return "[]"
        inner = pad + "  "
        return "[\n" + ",\n".join([inner + indented(v, inner) for v in value]) + "\n" + pad + "]"
    if value is None:
        return "null"
    if kind is bool:
        return "true" if value else "false"
    if kind is int:
        return int.__repr__(value)
    if kind is float:
        return "NaN" if value != value else _FLOATS.get(value) or float.__repr__(value)
    return json.dumps(value, indent=2, default=str).replace("\n", "\n" + pad)  # anything else: as json does


@contextlib.contextmanager
def json_stdout(as_json: bool) -> Iterator[TextIO]:
    """The stream a command's JSON goes to (stdout). While a ``--json`` command runs the user's
    code (the graph file, its processors, its handlers), what that code prints goes to stderr:
    stdout carries the JSON alone, for the script that parses it. The process's own stdout is
    pointed at stderr meanwhile, so the processes it starts (a Dask LocalCluster's workers, which
    run Python processors) print there too; the JSON goes to the stdout it had."""
    out = sys.stdout
    if not as_json:
        yield out
        return
    try:
        out.flush()
        saved = os.dup(1) if out.fileno() == 1 else -1
    except (AttributeError, OSError, ValueError):  # not a file (click's test runner), or no fd 1
        saved = -1
    if saved < 0:  # Python's prints only
        with contextlib.redirect_stdout(sys.stderr):
            yield out
        return
    try:
        os.dup2(2, 1)
        with open(saved, "w", buffering=1, encoding=out.encoding, closefd=False) as json_out:
            with contextlib.redirect_stdout(sys.stderr):
                yield json_out
    finally:
        sys.stdout.flush()
        os.dup2(saved, 1)
        os.close(saved)


def emit_json_lines(rows) -> None:
    """One compact JSON object per line, written as the rows come (for streams of any length)."""
    write = sys.stdout.write
    dumps = json.JSONEncoder(default=str, separators=(",", ":")).encode
    for row in rows:
        write(dumps(row) + "\n")


def count(n: int, noun: str) -> str:
    """``n`` and ``noun``, plural unless one: "1 due time", "3 schedules"."""
    return f"{n} {noun}" if n == 1 else f"{n} {noun}s"


def here(path: str) -> str:
    """An absolute path as the user would type it from the current directory."""
    try:
        rel = os.path.relpath(path)
    except ValueError:
        return path
    return path if rel.startswith("../../..") else rel


def here_all(paths: Iterable[str], folders: dict[str, str] | None = None) -> list[str]:
    """``here`` of each of many absolute paths (a cook's results: a million at W(1,000,000)), each
    folder's worked out once: ``os.path.relpath`` looks up the current directory and normalises
    both paths again for every path, most of the time such a cook's ``--json`` took. A plain path
    (no ``.`` or ``..`` part, no doubled or trailing slash) is its folder's answer and its name,
    unless that answer ends going up (the name may be where it came from); any other goes
    through ``here``. ``folders``: the answers per folder, kept by a caller across calls."""
    folders = {} if folders is None else folders
    out = []
    for p in paths:
        if "/." in p or "//" in p or p.endswith("/") or not p.startswith("/"):
            out.append(here(p))
            continue
        folder, _, name = p.rpartition("/")
        rel = folders.get(folder)
        if rel is None:
            rel = folders[folder] = here(folder or "/")
        if rel == ".." or rel.endswith("/.."):  # the name may be the folder it came up from
            out.append(here(p))
        else:
            out.append(p if rel.startswith("/") else name if rel == "." else f"{rel}/{name}")
    return out


def when(time_ns: int) -> str:
    if not time_ns:
        return ""
    return time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(time_ns / 1e9))


def cook_line(summary) -> str:
    """A cook's one-line summary, as ``pdg cook``, ``pdg watch`` and ``pdg schedule run`` say it:
    "cook 3 succeeded: 1 ran, 2 cached, 0 updated, 40 reused, 0 failed, 0 cancelled, 0 removed in 0.12 s"."""
    from pdgstore.queries import COOK_COUNTS

    verb = {"success": "succeeded", "failed": "failed", "cancelled": "was cancelled"}.get(
        summary.status, summary.status
    )
    counts = ", ".join(f"{summary.counts.get(k, 0)} {k}" for k in COOK_COUNTS)
    return f"cook {summary.cook_id} {verb}: {counts} in {summary.seconds:.2f} s"


def cook_failure(summary) -> str:
    """Why a failed cook failed when its counts cannot say: a node that could not generate or
    partition its items fails the cook with no item failed ("0 failed"); the cook's message says
    which, and is recorded as one of its warnings too (``engine.cook.loop``'s ``_fail_cook``), which
    is how it is told from the count of failed items the message is otherwise. "" for any other cook."""
    if summary.status == "failed" and summary.message and summary.message in summary.warnings:
        return summary.message
    return ""


def at_line(point) -> str:
    """The note above a table shown ``--at`` a point of the log."""
    when_ns = point.time_ns
    what = f"as of seq {point.seq}"
    if point.cook_id is not None:
        what += f" (the end of cook {point.cook_id})"
    elif when_ns:
        what += f" (the log at {when(when_ns)})"
    return f"[dim]{what}[/dim]"


def styled(state: str) -> str:
    style = STATE_STYLES.get(state)
    return f"[{style}]{state}[/{style}]" if style else state


#: the rows a table on a terminal shows (``listing``)
MAX_TABLE_ROWS = 1000


def to_terminal() -> bool:
    """Whether stdout is a terminal (a person reading), not a pipe or a file."""
    return sys.stdout.isatty()


def listing(
    columns: Sequence[str],
    rows: Iterator[list[str]],
    *,
    what: str,
    every: str,
    total: Callable[[], int] | None = None,
    states: int | None = None,
    title: str | None = None,
    newest: bool = False,
) -> None:
    """Rows of plain cells for a person. Into a pipe or a file: every row, tab-separated, written as
    the rows come (``less``, ``grep``, ``cut``). On a terminal: a table of the first
    ``MAX_TABLE_ROWS`` (``newest``: the last, as ``pdg history`` shows its latest cooks; the cells
    escaped, those of column ``states`` styled as states) and a line saying how many more
    ``what`` there are (``total()``; that there are more, without it) and how to see them
    (``every``); ``title``: the table's. Rich took a minute and 600 MB to lay out a table of
    100,000 rows no one scrolls through."""
    if not to_terminal():
        write = sys.stdout.write
        write("\t".join(columns) + "\n")
        for row in rows:
            line = "\t".join(row)
            if "\n" in line or line.count("\t") != len(row) - 1:  # a cell's own tab or line break
                line = "\t".join(cell.replace("\t", " ").replace("\n", " ") for cell in row)
            write(line + "\n")  # (the rest, most rows, without a pass per cell: a third of a dump's time)
        return
    if newest:
        kept: deque = deque(maxlen=MAX_TABLE_ROWS)
        seen = 0
        for row in rows:
            kept.append(row)
            seen += 1
        if seen > MAX_TABLE_ROWS:
            say(
                f"... {seen - MAX_TABLE_ROWS:,} earlier {what} before these (all of them: pipe them, as in"
                f" {every}; or --json)",
                err=False,
            )
        shown = list(kept)
    else:
        shown = list(islice(rows, MAX_TABLE_ROWS))
    t = table(*columns, title=title)
    for row in shown:
        t.add_row(*(styled(cell) if at == states else escape(cell) for at, cell in enumerate(row)))
    __getattr__("out").print(t)
    if newest or len(shown) < MAX_TABLE_ROWS:
        return
    if total is None:  # not counted: that would read every row left
        if next(rows, None) is not None:
            say(f"... and more {what} (all of them: pipe them, as in {every}; or --json)", err=False)
    elif (more := total() - len(shown)) > 0:
        say(f"... and {more:,} more {what} (all of them: pipe them, as in {every}; or --json)", err=False)


def table(*columns: str, title: str | None = None):
    from rich.table import Table

    t = Table(title=title, show_edge=False, header_style="bold")
    for column in columns:
        t.add_column(column, overflow="fold")
    return t
