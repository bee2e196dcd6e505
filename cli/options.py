"""Options, and the checks of their values, shared by several commands: defined once."""

from __future__ import annotations

import os

import click

from pdgstore.errors import PdgError


class UsageMistake(PdgError):
    """A command line that asks for what the command cannot do as asked (options that exclude each
    other, a store in a folder that does not exist): usage, so exit code 2, as click's own usage
    errors; one ``pdg: ...`` sentence like every other refusal."""

    exit_code = 2


#: ``ctx.meta`` (shared by every context of a command line) key: the command was asked for JSON
JSON_ASKED = "pdg.json"


def _note_json(ctx: click.Context, _param, value: bool) -> bool:
    if value:
        ctx.meta[JSON_ASKED] = True  # a failure is then told on stdout as JSON too (``cli.main``)
    return value


def json_option_saying(help_text: str):
    """``--json`` with help words of its command's own (JSON lines, say). Every command's ``--json``
    is made here: a failure under it is told as one JSON object on stdout (``cli.main``), and an
    option declared elsewhere once forgot to say it was asked for (``tests/test_json_errors.py``)."""
    # eager: noted before any other option's check may refuse (``--db`` in a missing folder), wherever
    # --json stands on the line
    return click.option("--json", "as_json", is_flag=True, is_eager=True, callback=_note_json, help=help_text)


json_option = json_option_saying("Print JSON (stable keys) instead of a table.")
at_option = click.option(
    "--at",
    "at",
    metavar="REF",
    help="As the store was at REF: a seq (123), a cook (cook:7), cook~N (N cooks ago), a time "
    "(2026-11-30T14:05) or a span ago (2h).",
)
db_option = click.option(
    "--db",
    type=click.Path(dir_okay=False),
    envvar="PDG_DB",
    help="The store to use (default: .pdg/pdg.db here or in a parent directory; or $PDG_DB).",
)


def _store_folder_exists(ctx: click.Context, param: click.Parameter, value: str | None) -> str | None:
    """Refuse a store named in a folder that does not exist: a typo in ``--db`` (or ``$PDG_DB``)
    must not make a tree of folders. The default store's folder (``.pdg/`` beside GRAPH) is ours to
    make, and still is."""
    why = missing_folder(value)
    if why and value:
        raise UsageMistake(
            f"cannot make the store {value}: its folder {os.path.dirname(value)} {why} "
            "(make the folder first, or leave out --db for .pdg/pdg.db beside GRAPH)"
        )
    return value


def missing_folder(path: str | None) -> str:
    """What is wrong with the folder a file to be written at ``path`` goes in ("does not exist",
    "is not a folder"), or '' when it is there (or no path was given): a file we write is never
    the reason to make a tree of folders, and a typo is the user's to fix (exit code 2)."""
    if not path:
        return ""
    folder = os.path.dirname(os.path.abspath(path))
    if os.path.isdir(folder):
        return ""
    return "is not a folder" if os.path.exists(folder) else "does not exist"


#: ``--db`` of a command that creates its store when there is none (cook, watch, schedule add)
store_option = click.option(
    "--db",
    type=click.Path(dir_okay=False),
    envvar="PDG_DB",
    callback=_store_folder_exists,
    help="The store (default: .pdg/pdg.db beside GRAPH; an explicit one's folder must exist).",
)


def exclusive(first: tuple[str, object], second: tuple[str, object], why: str = "") -> None:
    """Refuse two options that exclude each other when both were given: each is (the option as
    the user types it, its value), a value of None, False or () being "not given"; ``why``, when
    given, ends the sentence (``"; ..."``)."""
    if all(value not in (None, False, ()) for _, value in (first, second)):
        raise UsageMistake(f"give either {first[0]} or {second[0]}, not both{why}")
