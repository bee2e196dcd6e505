"""Keep the command line and its documentation honest: every command has help, one README row and one
section of the generated CLI reference; the README's first graph runs as pasted; docs name only
files that exist."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from pdgstore.cli import reference
from pdgstore.cli.main import pdg

ROOT = Path(__file__).resolve().parent.parent
README = (ROOT / "README.md").read_text()


def test_every_command_has_help_text():
    for name, command in pdg.commands.items():
        assert command.help and len(command.help.strip()) > 20, f"pdg {name} has no help text"
        result = CliRunner().invoke(pdg, [name, "--help"])
        assert result.exit_code == 0, result.output
        assert "Usage: pdg " + name in result.output


def readme_table_commands() -> list[str]:
    """The command words of each row of the README's command table (``pdg schedule add``, ...)."""
    table = README[README.index("## Commands") : README.index("## Read more")]
    rows = [line for line in table.splitlines() if line.startswith("| `pdg ")]
    return [" ".join(w for w in row.split("`")[1].split()[1:] if w.islower() and w.isalpha()) for row in rows]


def test_every_command_is_one_row_of_the_readme_table():
    documented = readme_table_commands()
    expected = [" ".join(path) for path in reference.commands() if path not in (["schedule"], ["datalayer"])]  # groups: their commands are the rows
    assert sorted(documented) == sorted(expected), "README.md's table and pdg's commands differ"


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


def test_the_cli_reference_is_what_pdg_help_prints():
    """docs/cli.md is generated from --help; regenerate it with ``python -m pdgstore.cli.reference``."""
    written = (ROOT / "docs" / "cli.md").read_text()
    assert written == reference.reference(), "docs/cli.md is stale: run python -m pdgstore.cli.reference > docs/cli.md"


def test_every_command_and_subcommand_has_exactly_one_section_in_the_cli_reference():
    written = (ROOT / "docs" / "cli.md").read_text()
    headings = [line.lstrip("#").strip() for line in written.splitlines() if line.startswith(("## ", "### "))]
    sections = [h for h in headings if h.startswith("pdg ")]
    expected = ["pdg " + " ".join(path) for path in reference.commands()]
    assert sorted(sections) == sorted(expected)
    assert len(sections) == len(set(sections)), "a command is documented twice"

    def listed(args: list[str]) -> list[str]:  # the first word of each line under "Commands:" in --help
        text = CliRunner().invoke(pdg, [*args, "--help"]).output.split("Commands:")[1]
        return [line.split()[0] for line in text.splitlines() if line.startswith("  ") and line.strip()]

    assert [p[0] for p in reference.commands() if len(p) == 1] == listed([])
    for name, command in pdg.commands.items():
        if hasattr(command, "commands"):
            assert [p[1] for p in reference.commands() if len(p) == 2 and p[0] == name] == listed([name])


def test_the_readme_is_short():
    assert len(README.splitlines()) < 200


def code_blocks(text: str, lang: str, after: str) -> list[str]:
    start, blocks = text.index(after), []
    end_section = text.find("\n## ", start + len(after))
    section = text[start : end_section if end_section > 0 else len(text)]
    parts = section.split("```")
    for i in range(1, len(parts), 2):
        if parts[i].startswith(lang + "\n"):
            blocks.append(parts[i][len(lang) + 1 :])
    return blocks


def test_the_readme_first_graph_runs_when_pasted(tmp_path):
    """Its shell lines, its graph file and its cook lines, as written, in an empty folder."""
    make_inputs, cooks = code_blocks(README, "sh", "## A first graph")
    (graph,) = code_blocks(README, "python", "## A first graph")
    (tmp_path / "first.py").write_text(graph)
    env = {**os.environ, "PATH": os.path.dirname(sys.executable) + os.pathsep + os.environ["PATH"]}
    env.pop("PDG_DB", None)
    assert shutil.which("pdg", path=env["PATH"]), "pdg is not installed beside this python"

    def sh(script: str) -> subprocess.CompletedProcess:
        return subprocess.run(["sh", "-ec", script], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=60)

    assert sh(make_inputs).returncode == 0
    outputs = []
    for line in cooks.strip().splitlines():  # one command per line, each checked on its own
        r = sh(line.split("#")[0])
        assert r.returncode == 0, (line, r.stdout, r.stderr)
        outputs.append(r.stdout + r.stderr)
    assert sorted(p.name for p in (tmp_path / "counts").iterdir()) == ["apple.txt", "avocado.txt", "banana.txt"]
    assert "cook 1: success" in outputs[0] and "3 ran" in outputs[0]  # the cook_complete handler and summary
    assert "cook 2: success" in outputs[2] and "1 ran" in outputs[2]  # only count_1 reran
    assert "count_1 ran in cook 2 because its input texts/apple.txt changed" in outputs[3]
    assert "3 ran" in outputs[4]
    assert (tmp_path / "counts" / "apple.txt").read_text() == "4\n"  # quick brown a-brand-new-line >= 4 letters


REPO_FOLDERS = ("pdgstore/", "engine/", "cli/", "tests/", "benchmarks/", "examples/", "docs/", ".ci/")


def test_docs_name_only_files_that_exist():
    """Every file or folder of the repository that README.md or docs/ name (in backticks or as a
    link) is there."""

    pages = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
    missing = []
    for page in pages:
        text = page.read_text()
        for target in re.findall(r"\]\(([^)#]+)(?:#[^)]*)?\)", text):  # markdown links, relative to the page
            if "://" not in target and not (page.parent / target).exists():
                missing.append((page.name, target))
        for name in re.findall(r"`([.\w/-]+)`", text):
            if name.startswith(REPO_FOLDERS) and ("*" not in name) and (name.endswith((".py", ".md", "/"))):
                if not (ROOT / name).exists():
                    missing.append((page.name, name))
    assert missing == []


@pytest.mark.parametrize("example, graph, args", [
    ("wordcount", "wordcount.py", []),
    ("frames", "frames.py", ["--set", "frames=2", "--set", "resolution=8"]),
    ("wedge_frames", "wedge_frames.py", ["--set", "size=8", "--set", "end=2"]),
])
def test_what_the_examples_write_is_ignored_by_git(tmp_path, example, graph, args):
    """Cooked in a copy, every file an example makes is one git would ignore in examples/ (as .pdg/)."""
    source = ROOT / "examples" / example
    shutil.copytree(source, tmp_path / example, ignore=shutil.ignore_patterns(".pdg", "__pycache__"))
    before = {p for p in (tmp_path / example).rglob("*")}
    env = {k: v for k, v in os.environ.items() if k != "PDG_DB"}
    r = subprocess.run([sys.executable, "-m", "pdgstore.cli.main", "cook", graph, *args], cwd=tmp_path / example,
                       env=env, capture_output=True, text=True, timeout=110)
    assert r.returncode == 0, r.stderr
    made = sorted(str(p.relative_to(tmp_path)) for p in (tmp_path / example).rglob("*") if p not in before and p.is_file())
    assert made
    paths = [f"examples/{m}" for m in made]
    ignored = subprocess.run(["git", "check-ignore", "--no-index", "--stdin"], cwd=ROOT, input="\n".join(paths),
                             capture_output=True, text=True).stdout.split()
    assert sorted(set(paths) - set(ignored)) == []


def test_docs_cite_no_material_outside_the_repository():
    """The seed pages and the project's working notes are not shipped: docs say what they took."""
    pages = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
    cited = [(p.name, m) for p in pages for m in re.findall(r"(?i)\bseed \d{3}\b|DESIGN\.md|STYLE\.md|HELPERS\.md", p.read_text())]
    assert cited == []
