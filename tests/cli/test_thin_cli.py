"""The CLI calls only the public API (PRODUCT.md §9): its modules import `cdpcli.api` (or its
names, from it or from `cdpcli`), the CLI's own modules, and typer and rich; never a stage of the
library (`cdpcli.send`, `cdpcli.events`, ...), not even for types."""

from __future__ import annotations

import ast
import sys
from pathlib import Path

import pytest

import cdpcli
from tests.paths import REPO


def _cli_imports(path: Path) -> list[tuple[int, str, list[str]]]:
    """Every import of a CLI module (at the top, in functions, under TYPE_CHECKING): (line,
    module, names imported from it)."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    found: list[tuple[int, str, list[str]]] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name, []) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            assert node.level == 0, f"{path.name}:{node.lineno}: a relative import"
            found.append((node.lineno, node.module or "", [a.name for a in node.names]))
    return sorted(found)


def _not_public(path: Path) -> list[str]:
    """The imports of `path` that reach into cdpcli other than through its public names or the
    CLI package itself, or that import a third-party module other than typer and rich."""
    wrong = []
    for line, module, names in _cli_imports(path):
        top = module.split(".")[0]
        if top in sys.stdlib_module_names or top in ("typer", "rich", "__future__"):
            continue
        if top != "cdpcli":  # HTTP, YAML, keyring, JSON: the library's business
            wrong.append(f"{path.name}:{line}: {module} {names}")
            continue
        if module == "cdpcli.cli":
            continue
        if module.startswith("cdpcli.cli."):
            continue
        if module in ("cdpcli", "cdpcli.api") and all(
            name in cdpcli.__all__ or (module, name) == ("cdpcli", "api") for name in names
        ):
            continue  # `from cdpcli import api`, or public names from either
        wrong.append(f"{path.name}:{line}: {module} {names}")
    return wrong


CLI_MODULES = sorted((REPO / "cdpcli" / "cli").glob("*.py"))


@pytest.mark.parametrize("path", CLI_MODULES, ids=[p.name for p in CLI_MODULES])
def test_the_cli_imports_only_the_public_api(path: Path) -> None:
    assert _not_public(path) == [], "the CLI must use `cdpcli`'s public names only"


def test_the_import_rule_catches_what_it_is_for(tmp_path: Path) -> None:
    """A stage module, at the top, in a function or under TYPE_CHECKING, and a module of the
    package reached through `from cdpcli import`, are each caught."""
    module = tmp_path / "bad.py"
    module.write_text(
        "from typing import TYPE_CHECKING\n"
        "import cdpcli\n"
        "from cdpcli import ExitCode, jsonio\n"
        "from cdpcli.cli.common import streams\n"
        "import cdpcli.events.reader\n"
        "def f():\n"
        "    from cdpcli.send.run import send\n"
        "if TYPE_CHECKING:\n"
        "    from cdpcli.routing.config import Config\n"
        "import httpx\n"
        "from rich.table import Table\n"
        "from cdpcli import api, __version__\n"
        "from cdpcli.api import SendSummary, _API\n"
    )
    assert _not_public(module) == [
        "bad.py:3: cdpcli ['ExitCode', 'jsonio']",
        "bad.py:5: cdpcli.events.reader []",
        "bad.py:7: cdpcli.send.run ['send']",
        "bad.py:9: cdpcli.routing.config ['Config']",
        "bad.py:10: httpx []",
        "bad.py:13: cdpcli.api ['SendSummary', '_API']",
    ]
