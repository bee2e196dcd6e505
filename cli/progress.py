"""The progress line long commands show on a terminal (``pdg cook``, ``check``, ``compact``,
``export``, ``replay``): one rich line on stderr, gone when the command ends.

Shown only when stderr is a terminal and the command is not answering ``--json``: a pipe, a file
or a script reads exactly what it would without it. The layers below print nothing: they report
counts through a callable they are handed (``report``: what they are doing, how far, of how many;
a total of 0 when it is not known), once per chunk of work, and this draws them.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager

from pdgstore.cli import render


class Line:
    """A rich progress line on stderr: a phase (what is being done, with a count when there is
    one) or a share of a known total. ``start`` before, ``stop`` after."""

    def __init__(self, what: str) -> None:
        from rich.progress import BarColumn, Progress, TaskID, TextColumn, TimeElapsedColumn

        self.progress = Progress(
            TextColumn("{task.description}"),
            BarColumn(),
            TextColumn("{task.fields[count]}"),
            TimeElapsedColumn(),
            console=render.err,
            transient=True,
            # what a graph or a handler prints goes above the line on a terminal; into a pipe it
            # goes where it went without one (not to the terminal on stderr)
            redirect_stdout=sys.stdout.isatty(),
        )
        self.what = what
        self.task: TaskID | None = None

    def start(self) -> None:
        self.progress.start()
        self.task = self.progress.add_task(self.what, total=None, count="")

    def report(self, what: str, done: int, total: int) -> None:
        """``what`` is being done: ``done`` of ``total`` (0: a total not known yet; the count
        alone is shown, beside a bar that only pulses)."""
        if self.task is None:
            return
        if total > 0:
            count = f"{min(done, total) * 100 // total:3d}% {done:,}/{total:,}"
            self.progress.update(self.task, description=what, completed=done, total=total, count=count)
        else:
            self.progress.update(
                self.task, description=what, completed=0, total=None, count=f"{done:,}" if done else ""
            )

    def stop(self) -> None:
        self.progress.stop()
        self.task = None


def wanted(as_json: bool = False) -> bool:
    """Whether a progress line may be drawn: stderr is a terminal, and no ``--json`` answer is asked for."""
    return not as_json and sys.stderr.isatty()


@contextmanager
def shown(what: str, as_json: bool = False) -> Iterator[Line | None]:
    """A started ``Line`` saying ``what`` until its first report, stopped on the way out; None
    (nothing drawn) where ``wanted`` says no."""
    if not wanted(as_json):
        yield None
        return
    line = Line(what)
    line.start()
    try:
        yield line
    finally:
        line.stop()
