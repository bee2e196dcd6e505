"""The ``pdg`` command group and its one error boundary.

Every error meant for a person (``pdgstore.errors.PdgError`` and its subclasses from the engine)
becomes one sentence on stderr and the error's exit code, here and nowhere else. The exit codes
follow one rule, printed by ``pdg --help``: 1 when the command was right but
failed this time (running it again may succeed), 2 when what was asked is wrong (it will fail again
until the command, the graph file or the store changes).
"""

from __future__ import annotations

import gc
import importlib
import json
import os
import sqlite3
import sys
from typing import NoReturn

import click
from pdgstore.cli.options import JSON_ASKED

from pdgstore.errors import DamagedRow, PdgError, StoreRefused
from pdgstore.queries import JSON_SCHEMA

#: command name -> "module:attribute", in the order ``pdg --help`` lists them. A command's module
#: (and what it imports: the engine, watchdog, ...) is imported only when that command runs or help
#: is asked for, so ``pdg status`` does not pay for the imports of ``pdg cook``.
COMMANDS = {
    "cook": "pdgstore.cli.cook:command",
    "status": "pdgstore.cli.status:command",
    "items": "pdgstore.cli.items:command",
    "show": "pdgstore.cli.show:command",
    "open": "pdgstore.cli.open:command",
    "explain": "pdgstore.cli.explain:command",
    "history": "pdgstore.cli.history:command",
    "diff": "pdgstore.cli.diff:command",
    "events": "pdgstore.cli.events:command",
    "replay": "pdgstore.cli.replay:command",
    "export": "pdgstore.cli.export:command",
    "dirty": "pdgstore.cli.manual:dirty_command",
    "accept": "pdgstore.cli.manual:accept_command",
    "stats": "pdgstore.cli.stats:command",
    "compact": "pdgstore.cli.compact:command",
    "check": "pdgstore.cli.check:command",
    "log": "pdgstore.cli.log:command",
    "watch": "pdgstore.cli.watch:command",
    "schedule": "pdgstore.cli.schedule:group",
    "serve": "pdgstore.cli.serve:command",
    "datalayer": "pdgstore.cli.datalayer:group",
}


def _load(name: str) -> click.Command:
    """Import command ``name``'s module (only now: see ``COMMANDS``) and return the command."""
    module, _, attribute = COMMANDS[name].partition(":")
    return getattr(importlib.import_module(module), attribute)


class PdgGroup(click.Group):
    """Loads commands lazily (``COMMANDS``), turns PdgError into a sentence and an exit code, and
    lists commands in the order defined."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return list(COMMANDS)

    def get_command(self, ctx: click.Context, name: str) -> click.Command | None:
        return _load(name) if name in COMMANDS else None

    # click.Group keeps a mutable dict here; ours is the table above, loaded on demand (tests and docs walk it)
    @property  # type: ignore[override]
    def commands(self) -> dict[str, click.Command]:
        return {name: _load(name) for name in COMMANDS}

    @commands.setter
    def commands(self, value) -> None:  # click.Group.__init__ assigns it; the table above is the truth
        pass

    def invoke(self, ctx: click.Context):
        try:
            return super().invoke(ctx)
        except PdgError as exc:
            _fail(ctx, exc)
        except BrokenPipeError:
            sys.stderr.close()
            ctx.exit(1)
        except (sqlite3.DatabaseError, DamagedRow) as exc:
            # damage met only on a later read (a page opening the store did not reach, a row's bytes
            # a read decodes after the store was opened): the sentence a refused store gets
            _fail(ctx, StoreRefused.corrupt(_store_name(), str(exc)))


def _fail(ctx: click.Context, exc: PdgError) -> NoReturn:
    """End the command on ``exc``: its sentence on stderr, its exit code; under ``--json`` the same
    as one JSON object on stdout, so a script reading stdout hears every outcome."""
    sentence = one_line(str(exc))
    if ctx.meta.get(JSON_ASKED):
        click.echo(
            json.dumps({"schema": JSON_SCHEMA, "status": "error", "error": sentence, "exit_code": exc.exit_code})
        )
    click.echo(f"pdg: {sentence}", err=True)
    ctx.exit(exc.exit_code)


def one_line(sentence: str) -> str:
    """``sentence`` as one printable line: a character that would break or hide it (a newline, a
    control character from a damaged file's bytes that SQLite quotes back) is written as its
    escape. Scripts read the error as the one ``pdg: ...`` line on stderr."""
    if sentence.isprintable():
        return sentence
    return "".join(c if c.isprintable() else c.encode("unicode_escape").decode("ascii") for c in sentence)


def _store_name() -> str:
    """The store a command read, as the user would name it (``--db``, PDG_DB or the one found)."""
    from pdgstore.locate import find_store
    from pdgstore.paths import display_path

    argv = sys.argv[1:]
    given = next((argv[i + 1] for i, a in enumerate(argv[:-1]) if a == "--db"), None)
    try:
        return display_path(find_store(given))
    except PdgError:
        return "the store"


@click.group(cls=PdgGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="pdgstore", prog_name="pdg")
def pdg() -> None:
    """pdgstore: cook procedural dependency graphs and keep every change in an event log.

    A graph file is a Python file that builds a graph (see README.md). `pdg cook GRAPH` cooks it
    into a store beside it (.pdg/pdg.db); the other commands (status, items, show, open, explain,
    history, diff, events, replay, export, dirty, accept, stats, compact, check, log, serve,
    datalayer) need only that store and find it from the current directory, like git. `pdg watch
    GRAPH` recooks as files change; `pdg schedule` cooks on a timetable.

    \b
    Exit codes, the same for every command:
      0    success
      1    the command was right but failed this time; running it
           again may succeed: a cook with failed items, a store busy
           with another cook, a disk error
      2    what was asked is wrong, and stays wrong until it is
           changed: usage (options that exclude each other too), a
           graph file that does not load, an unknown node, item,
           parameter or REF, a missing store, a file that is not a
           pdgstore store (or is newer than this pdg), or a question
           the store cannot answer (the job log of an in-process item)
      130  a cook cancelled with Ctrl-C
    """


#: the collector's thresholds in a ``pdg`` process (CPython's defaults: 700, 10, 10)
GC_THRESHOLDS = (20_000, 20, 20)


def main() -> None:
    """The ``pdg`` console command.

    A ``pdg`` process builds one large heap of long-lived objects (the state of every work item)
    and makes few reference cycles. With CPython's default thresholds the cyclic collector runs
    every 700 new containers and walks the older generations again and again as that heap grows,
    work that grows with the cook and frees almost nothing (``benchmarks/``). These thresholds collect the young
    generation every 20,000 containers instead, which still frees what few cycles a cook makes
    long before they add up. They are the process's choice, not the engine's: a program that
    cooks through the library keeps its own."""
    gc.set_threshold(*GC_THRESHOLDS)
    try:
        os.getcwd()
    except FileNotFoundError:  # every path a command takes or prints is relative to it
        click.echo("pdg: the current folder no longer exists (deleted or moved away); cd to one that does", err=True)
        sys.exit(2)
    try:
        pdg(prog_name="pdg")
    finally:
        # The process ends here. Frozen, its objects are left out of the interpreter's last
        # collection, which otherwise walks the whole heap only to throw it away. Nothing of ours
        # waits on that collection: stores, files and processes are closed by then.
        gc.freeze()


if __name__ == "__main__":
    main()
