"""The CLI reference (docs/cli.md), written from the commands' own ``--help``.

Why generated: a hand-kept reference drifts from the options the code takes. This one is the help
text itself, so ``tests/test_docs.py`` can hold that it equals what is in the repository: change a
command, run ``python -m pdgstore.cli.reference > docs/cli.md``, and the reference is right again.
"""

from __future__ import annotations

import click
from pdgstore.cli.main import pdg

#: the width help is wrapped to, whatever the terminal of whoever regenerates the file
WIDTH = 100

HEADER = """\
# pdg command reference

Every command's `--help`, as `pdg` prints it. Generated: after changing a command, run
`python -m pdgstore.cli.reference > docs/cli.md` (`tests/test_docs.py` fails until the two agree).
Exit codes, `--json` conventions and where the store is found are the same for every command;
they are described once, in the [guide](guide.md#commands-exit-codes-and---json).
"""


def help_text(path: list[str]) -> str:
    """What ``pdg PATH... --help`` prints, wrapped at ``WIDTH``."""
    from click.testing import CliRunner

    result = CliRunner().invoke(pdg, [*path, "--help"], prog_name="pdg", terminal_width=WIDTH, max_content_width=WIDTH)
    if result.exit_code != 0:
        raise RuntimeError(f"pdg {' '.join(path)} --help failed: {result.output}")
    return result.output


def commands() -> list[list[str]]:
    """Every command and subcommand as its words after ``pdg``, in ``pdg --help``'s order."""
    out: list[list[str]] = []

    def walk(group: click.Group, path: list[str]) -> None:
        ctx = click.Context(group)
        for name in group.list_commands(ctx):
            command = group.get_command(ctx, name)
            out.append([*path, name])
            if isinstance(command, click.Group):
                walk(command, [*path, name])

    walk(pdg, [])
    return out


def reference() -> str:
    """docs/cli.md's text: ``pdg --help``, then one section per command and subcommand."""
    parts = [HEADER, "## pdg\n", "```text\n" + help_text([]) + "```\n"]
    for path in commands():
        parts.append(f"{'#' * (len(path) + 1)} pdg {' '.join(path)}\n")
        parts.append("```text\n" + help_text(path) + "```\n")
    return "\n".join(parts)


if __name__ == "__main__":
    click.echo(reference(), nl=False)
