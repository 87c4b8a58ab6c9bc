"""README stays true to the code: exit codes, commands, the two quick-start commands, the library
API's names and example, and the architecture map."""

from __future__ import annotations

import re
from fnmatch import fnmatch
from typing import Any

import pytest
import typer

import cdpcli
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


# --- the Library API and Architecture sections ------------------------------------------------


def test_library_api_lists_exactly_the_public_names() -> None:
    listed = re.findall(r"^- `([A-Za-z_]+)", _section("Library API"), flags=re.MULTILINE)
    assert len(listed) == len(set(listed)), "a name is listed twice"
    assert sorted(listed) == sorted(cdpcli.__all__)


def test_library_api_example_runs(monkeypatch: pytest.MonkeyPatch, capsys: Any) -> None:
    blocks = re.findall(r"```python\n(.*?)```", _section("Library API"), flags=re.DOTALL)
    assert len(blocks) == 1
    monkeypatch.chdir(REPO)
    exec(compile(blocks[0], "README.md", "exec"), {"__name__": "readme"})
    out = capsys.readouterr().out.splitlines()
    assert out[:2] == [
        "mixpanel POST https://api.mixpanel.com/import?strict=1&project_id=3141592",
        "billing POST https://api.getlago.com/api/v1/events/batch",
    ]
    assert re.fullmatch(r"\d+ requests; \d+ events read", out[2])


def _architecture_rows() -> dict[str, str]:
    rows = re.findall(r"^\| `([a-z_]+)/` \| (.+) \|$", _section("Architecture"), re.MULTILINE)
    return dict(rows)


def test_architecture_names_every_package_and_module_there_is() -> None:
    """Each package of cdpcli has its row, and each row names exactly the modules of its
    package (`*_cmd.py` standing for several), so the map stays true to the tree."""
    package = REPO / "cdpcli"
    rows = _architecture_rows()
    assert sorted(rows) == sorted(p.parent.name for p in package.glob("*/__init__.py"))
    for name, text in rows.items():
        named = set(re.findall(r"`([a-z_*]+\.py)`", text))
        modules = {p.name for p in (package / name).rglob("*.py") if p.name != "__init__.py"}
        assert {m for m in modules if not any(fnmatch(m, n) for n in named)} == set(), name
        assert {n for n in named if not any(fnmatch(m, n) for m in modules)} == set(), name
    section = _section("Architecture")
    for module in (p.name for p in package.glob("*.py") if p.name != "__init__.py"):
        if module != "__main__.py":
            assert f"`{module}`" in section, module
