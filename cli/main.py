"""The ``pdg`` command group and its one error boundary.

Every error meant for a person (``pdgstore.errors.PdgError`` and its subclasses from the engine)
becomes one sentence on stderr and the error's exit code, here and nowhere else. Exit codes:
0 success, 1 a failed cook or a runtime error, 2 bad input (usage, graph file, unknown node or
item, refused store), 130 a cancelled cook.
"""

from __future__ import annotations

import sys

import click

from pdgstore.errors import PdgError


class PdgGroup(click.Group):
    """Turns PdgError into a sentence and an exit code; lists commands in the order defined."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return list(self.commands)

    def invoke(self, ctx: click.Context):
        try:
            return super().invoke(ctx)
        except PdgError as exc:
            click.echo(f"pdg: {exc}", err=True)
            ctx.exit(exc.exit_code)
        except BrokenPipeError:
            sys.stderr.close()
            ctx.exit(1)


@click.group(cls=PdgGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="pdgstore", prog_name="pdg")
def pdg() -> None:
    """pdgstore: cook procedural dependency graphs and keep every change in an event log.

    A graph file is a Python file that builds a graph (see README.md). `pdg cook GRAPH` cooks it
    into a store beside it (.pdg/pdg.db); the other commands (status, items, show, explain, history,
    events, dirty, accept, check) need only that store and find it from the current directory, like git.
    """


def _register() -> None:
    from cli import check, cook, events, explain, history, items, log, manual, show, status

    for command in (cook.command, status.command, items.command, show.command, explain.command,
                    history.command, events.command, manual.dirty_command, manual.accept_command, check.command,
                    log.command):
        pdg.add_command(command)


_register()


def main() -> None:
    pdg(prog_name="pdg")


if __name__ == "__main__":
    main()
