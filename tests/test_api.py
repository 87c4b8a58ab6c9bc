"""The public API (`cdpcli.api`, all of it in `import cdpcli`; PRODUCT.md §9): its names are
pinned, each one loads and says what it does, and `import cdpcli` stays cheap. (That the CLI calls
nothing else: tests/cli/test_thin_cli.py.)"""

from __future__ import annotations

import ast
import dataclasses
import json
import subprocess
import sys

import pytest

import cdpcli
from tests.paths import REPO

PUBLIC = [
    "Attempt",
    "CdpError",
    "Config",
    "ConfigCheck",
    "ConfigError",
    "CredentialsError",
    "CriterionResult",
    "DeliveryError",
    "DryRunRequest",
    "EligibilityReport",
    "Event",
    "ExitCode",
    "Explained",
    "InputError",
    "Interrupted",
    "NoInputError",
    "Problem",
    "ProblemGroups",
    "Profile",
    "ProgramResult",
    "RetryPolicy",
    "SecretDeleted",
    "SecretList",
    "SecretStored",
    "SendOptions",
    "SendRequest",
    "SendResult",
    "SendSummary",
    "UsageError",
    "ValidationSummary",
    "WorkerError",
    "__version__",
    "check_config",
    "check_eligibility",
    "check_event",
    "default_jobs",
    "delete_secret",
    "find_config",
    "inspect",
    "list_secrets",
    "load_config",
    "map_event",
    "parse_config",
    "parse_time_ms",
    "read_events",
    "resolve_config_path",
    "run_send",
    "set_secret",
    "starter_config",
    "to_json",
    "validate",
    "write_starter_config",
]

HEAVY = ("httpx", "yaml", "keyring", "orjson", "rich", "typer", "multiprocessing")


def test_the_public_names_are_pinned() -> None:
    assert cdpcli.__all__ == PUBLIC
    assert cdpcli.api.__all__ == [name for name in PUBLIC if name != "__version__"]
    assert sorted(cdpcli.api._API) == sorted(cdpcli.api.__all__)


def test_each_public_name_loads() -> None:
    namespace: dict[str, object] = {}
    exec("from cdpcli import *", namespace)
    assert sorted(name for name in namespace if name != "__builtins__") == sorted(PUBLIC)
    assert set(PUBLIC) <= set(dir(cdpcli))
    for name in cdpcli.api.__all__:
        assert getattr(cdpcli, name) is getattr(cdpcli.api, name)


@pytest.mark.parametrize("name", [name for name in PUBLIC if name != "__version__"])
def test_each_public_name_says_what_it_does(name: str) -> None:
    value = getattr(cdpcli, name)
    doc = vars(value).get("__doc__") if isinstance(value, type) else value.__doc__
    assert doc and doc.strip(), f"{name} has no docstring"
    if isinstance(value, type) and dataclasses.is_dataclass(value):  # not the generated one
        assert not doc.startswith(f"{value.__name__}("), f"{name} has no docstring"


def test_result_objects_are_frozen() -> None:
    results = [
        "ConfigCheck",
        "DryRunRequest",
        "SecretList",
        "SecretStored",
        "SecretDeleted",
        "EligibilityReport",
        "ProgramResult",
        "CriterionResult",
        "SendResult",
        "SendOptions",
        "SendRequest",
    ]
    for name in results:
        params = getattr(cdpcli, name).__dataclass_params__
        assert params.frozen, name


def test_the_version_is_a_string() -> None:
    assert isinstance(cdpcli.__version__, str)
    assert cdpcli.__version__.count(".") == 2


def test_an_unknown_name_is_an_attribute_error_and_submodules_still_import() -> None:
    with pytest.raises(AttributeError, match="module 'cdpcli' has no attribute 'nothing_here'"):
        _ = cdpcli.nothing_here  # type: ignore[attr-defined]
    with pytest.raises(AttributeError, match=r"module 'cdpcli\.api' has no attribute 'jsonio'"):
        _ = cdpcli.api.jsonio  # type: ignore[attr-defined]
    from cdpcli import jsonio  # a module of the package, not a public name

    assert jsonio.dumps({"a": 1}) == '{"a":1}'


def _typing_imports() -> dict[str, tuple[str, str]]:
    """What the `if TYPE_CHECKING:` block of cdpcli/api.py imports: public name ->
    (module, attribute)."""
    tree = ast.parse((REPO / "cdpcli" / "api.py").read_text(encoding="utf-8"))
    found: dict[str, tuple[str, str]] = {}
    for node in tree.body:
        if isinstance(node, ast.If) and ast.unparse(node.test) == "TYPE_CHECKING":
            for statement in node.body:
                assert isinstance(statement, ast.ImportFrom) and statement.module
                for alias in statement.names:
                    found[alias.asname or alias.name] = (statement.module, alias.name)
    return found


def test_the_lazy_table_and_the_typing_imports_agree() -> None:
    table = cdpcli.api._API
    assert _typing_imports() == table
    for name, (module, attribute) in table.items():
        imported = __import__(module, fromlist=[attribute])
        assert getattr(cdpcli, name) is getattr(imported, attribute), name


def test_import_cdpcli_imports_none_of_the_stages() -> None:
    probe = (
        "import json, sys\n"
        "import cdpcli\n"
        "print(json.dumps(sorted(m for m in sys.modules if m.split('.')[0] in "
        f"('cdpcli', *{HEAVY!r}))))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", probe], cwd=REPO, capture_output=True, text=True, check=True
    )
    assert json.loads(done.stdout) == ["cdpcli", "cdpcli.api"]


def test_a_name_loads_only_its_own_stage() -> None:
    probe = (
        "import json, sys\n"
        "import cdpcli\n"
        "cdpcli.ExitCode\n"
        "print(json.dumps(sorted(m for m in sys.modules if m.startswith('cdpcli'))))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", probe], cwd=REPO, capture_output=True, text=True, check=True
    )
    assert json.loads(done.stdout) == ["cdpcli", "cdpcli.api", "cdpcli.errors"]
