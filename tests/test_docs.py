"""README stays true to the code: exit codes, commands, the two quick-start commands."""

from __future__ import annotations

import re

import typer

from cdpcli.cli.app import app
from cdpcli.errors import ExitCode
from tests.paths import REPO

README = (REPO / "README.md").read_text(encoding="utf-8")


def _section(title: str) -> str:
    start = README.index(f"## {title}\n")
    end = README.find("\n## ", start + 1)
    return README[start : end if end != -1 else None]


def test_exit_code_table_matches_the_code() -> None:
    rows = re.findall(r"^\| (\d+) \| ", _section("Exit codes"), flags=re.MULTILINE)
    assert sorted(int(code) for code in rows) == sorted(int(code) for code in ExitCode)


def _commands() -> set[str]:
    group = typer.main.get_group(app)
    names: set[str] = set()
    for name, command in group.commands.items():
        sub = getattr(command, "commands", None)
        if sub:
            names.update(f"{name} {child}" for child in sub)
        else:
            names.add(name)
    return names


def test_every_command_is_documented_and_every_documented_command_exists() -> None:
    table = _section("Commands")
    documented: set[str] = set()
    for cell in re.findall(r"^\| `cdpcli ([a-z /-]+?)(?: \[| \.\.\.|`)", table, flags=re.MULTILINE):
        words = cell.split()
        if "/" in cell:  # keys set/list/delete
            group, subs = words[0], words[1]
            documented.update(f"{group} {sub}" for sub in subs.split("/"))
        else:
            documented.add(" ".join(words))
    assert documented == _commands()


def test_quick_start_commands() -> None:
    start = _section("Quick start")
    assert (
        "pip install -e . && cdpcli send sample_events/ --config config.example.yaml --dry-run"
        in start
    )
    assert "pip install -e '.[test]' && python -m pytest" in start


def test_ci_runs_readmes_test_command() -> None:
    ci = (REPO / ".ci" / "run").read_text(encoding="utf-8")
    assert ci.rstrip().splitlines()[-1] == "python -m pytest"
