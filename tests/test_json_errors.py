"""Under ``--json`` a failing command tells its failure on stdout too, the same way for every
command: one JSON object (``schema``, ``status`` "error", ``error``, ``exit_code``) beside the one
``pdg: ...`` line on stderr, so a script that reads stdout hears every outcome. Run for real."""

from __future__ import annotations

import json

import click
import pytest
from pdgstore.cli.main import pdg

pytestmark = pytest.mark.timeout(120)

GRAPH = """\
from pdgstore.engine import Graph
graph = Graph("g")
numbers = graph.range_generate("numbers", 2)
"""


@pytest.mark.parametrize(
    "args, words, code",
    [
        (("cook", "missing.py"), "graph file missing.py does not exist", 2),
        (("cook", "missing.py", "--dry-run"), "graph file missing.py does not exist", 2),
        (("status",), "no pdgstore database here", 2),
        (("items", "nope"), "nope", 2),
        (("show", "nope_1"), "nope_1", 2),
        (("history", "7"), "cook 7", 2),
        (("explain", "nope_1"), "nope_1", 2),
        (("schedule", "add", "missing.py", "--every", "1h"), "missing.py", 2),
        (("events", "--item", "nope"), "no work item nope", 2),
        (("events", "--cook", "9999"), "no cook 9999", 2),
        (("watch", "missing.py"), "graph file missing.py does not exist", 2),
        (("cook", "--db", "nowhere/pdg.db", "g.py"), "its folder nowhere does not exist", 2),
    ],
)
def test_a_failure_under_json_is_one_json_object_on_stdout(project, args, words, code):
    if args[0] != "status":
        project.write("g.py", GRAPH)
        assert project.pdg_process("cook", "g.py").returncode == 0
    result = project.pdg_process(*args, "--json")
    assert result.returncode == code, (result.stdout, result.stderr)
    told = json.loads(result.stdout)
    assert told == {"schema": 2, "status": "error", "error": told["error"], "exit_code": code}
    assert words in told["error"], told
    assert result.stderr == f"pdg: {told['error']}\n"


def test_without_json_stdout_stays_empty(project):
    result = project.pdg_process("status")
    assert result.returncode == 2 and result.stdout == ""


def _commands_with_json(command: click.Command, path: tuple[str, ...] = ()):
    """Every command under ``command`` (subcommands of groups too) that takes ``--json``."""
    if isinstance(command, click.Group):
        for name, sub in command.commands.items():
            yield from _commands_with_json(sub, (*path, name))
    elif any("--json" in getattr(p, "opts", ()) for p in command.params):
        yield path


def _required(command: click.Command) -> list[str]:
    """Arguments and options ``command`` cannot run without, each given a value its type takes."""
    argv: list[str] = []
    for param in command.params:
        if not param.required:
            continue
        if isinstance(param.type, click.Choice):
            value = str(param.type.choices[0])
        elif isinstance(param.type, click.types.IntParamType):
            value = "1"
        else:
            value = "nope.py" if param.name == "graph" else "nope"
        argv += [param.opts[0], value] if isinstance(param, click.Option) else [value]
    return argv


def _command(path: tuple[str, ...]) -> click.Command:
    command: click.Command = pdg
    for name in path:
        assert isinstance(command, click.Group)
        command = command.commands[name]
    return command


WITH_JSON = list(_commands_with_json(pdg))


def test_the_walk_finds_the_commands_with_json():
    """The test below is only as good as its list: the walk reaches subcommands, and every kind."""
    assert {("cook",), ("events",), ("watch",), ("serve",), ("schedule", "run"), ("datalayer", "dump")} <= set(
        WITH_JSON
    ), WITH_JSON


@pytest.mark.parametrize("path", WITH_JSON, ids=" ".join)
def test_every_command_with_json_fails_as_one_json_object(project, path):
    """Each command that takes --json, run with its store where it cannot be (``--db`` in a folder
    that does not exist, before --json; ``pdg serve`` would otherwise wait for a store to appear):
    it fails, and says so on stdout as the one JSON error object. A command whose --json is declared
    past ``options.json_option_saying`` fails here."""
    command = _command(path)
    db = ["--db", "nowhere/pdg.db"] if any("--db" in getattr(p, "opts", ()) for p in command.params) else []
    result = project.pdg_process(*path, *db, *_required(command), "--json", timeout=60)
    assert result.returncode == 2, (result.stdout, result.stderr)
    told = json.loads(result.stdout)
    assert told == {"schema": 2, "status": "error", "error": told["error"], "exit_code": 2}
    assert result.stderr == f"pdg: {told['error']}\n"
