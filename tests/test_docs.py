"""Keep the command line and its documentation honest: every command has help and a README line."""

from __future__ import annotations

from pathlib import Path

from click.testing import CliRunner

from pdgstore.cli.main import pdg

README = (Path(__file__).resolve().parent.parent / "README.md").read_text()


def test_every_command_has_help_text():
    for name, command in pdg.commands.items():
        assert command.help and len(command.help.strip()) > 20, f"pdg {name} has no help text"
        result = CliRunner().invoke(pdg, [name, "--help"])
        assert result.exit_code == 0, result.output
        assert "Usage: pdg " + name in result.output


def test_every_command_is_in_the_readme():
    for name in pdg.commands:
        assert f"`pdg {name}" in README, f"pdg {name} is not documented in README.md"


def test_read_commands_offer_json():
    commands = [(name, command) for name, command in pdg.commands.items() if not hasattr(command, "commands")]
    commands += [(f"{name} {sub}", c) for name, command in pdg.commands.items() if hasattr(command, "commands")
                 for sub, c in command.commands.items()]
    for name, command in commands:
        if name == "cook" or any(p.name == "as_json" for p in command.params):
            continue
        raise AssertionError(f"pdg {name} has no --json")


def test_quick_start_has_exactly_two_commands_and_ci_runs_the_second():
    start = README.index("## Quick start")
    block = README[README.index("```sh", start) + 5 : README.index("```", README.index("```sh", start) + 5)]
    lines = [line for line in block.strip().splitlines() if line.strip()]
    assert len(lines) == 2
    assert "pdg cook examples/wordcount/wordcount.py" in lines[0]
    assert "pytest" in lines[1]
    ci = (Path(__file__).resolve().parent.parent / ".ci" / "run").read_text()
    assert lines[1] in ci.splitlines()


def test_pdg_help_lists_every_command():
    result = CliRunner().invoke(pdg, ["--help"])
    assert result.exit_code == 0
    for name in pdg.commands:
        assert name in result.output
