"""`cdpcli keys set/list/delete` through the Typer app, over the in-memory keyring."""

from __future__ import annotations

import json
from pathlib import Path

import keyring
import keyring.core
import pytest
from keyring.backends import fail
from typer.testing import CliRunner, Result

from cdpcli.cli import keys_cmd
from cdpcli.cli.app import app
from tests.conftest import MemoryKeyring

SECRET = "sk_live_9f8e7d6c5b4a3210"
CONFIG = """\
version: 1
destinations:
  mixpanel:
    kind: mixpanel
    project_id: "3141592"
    auth: service_account
  billing:
    kind: lago
  unused:
    kind: lago
routes:
  - name: analytics
    to: mixpanel
    when: {type: [track, identify]}
  - name: usage
    to: billing
    when: {type: track}
"""


@pytest.fixture
def config_file(tmp_path: Path) -> Path:
    path = tmp_path / "conf.yaml"
    path.write_text(CONFIG, encoding="utf-8")
    return path


def run(*args: str, input: str | None = None, env: dict[str, str] | None = None) -> Result:
    return CliRunner().invoke(app, list(args), input=input, env=env)


def check(result: Result, code: int) -> None:
    assert result.exit_code == code, result.output


def entry(backend: MemoryKeyring, user: str) -> str | None:
    return backend.entries.get(("cdpcli", user))


# --- set / list / delete round trip -------------------------------------------------------------


def test_round_trip(memory_keyring: MemoryKeyring, config_file: Path) -> None:
    cfg = ["--config", str(config_file)]
    result = run("keys", "set", "billing", "api_key", "--stdin", *cfg, input=SECRET + "\n")
    check(result, 0)
    assert result.stdout == ""
    stored = "Stored billing.api_key in the OS keyring (tests.conftest.MemoryKeyring)."
    assert stored in result.stderr
    assert memory_keyring.entries == {("cdpcli", "billing.api_key"): SECRET}

    result = run("keys", "list", "--format", "json", *cfg)
    check(result, 0)
    document = json.loads(result.stdout)
    assert document["keyring"] == {
        "usable": True,
        "backend": "tests.conftest.MemoryKeyring",
        "reason": None,
    }
    assert [(s["destination"], s["field"], s["found"]) for s in document["secrets"]] == [
        ("mixpanel", "service_account_username", False),
        ("mixpanel", "service_account_secret", False),
        ("mixpanel", "project_token", False),
        ("billing", "api_key", True),
    ]
    assert document["secrets"][3] == {
        "destination": "billing",
        "field": "api_key",
        "purpose": document["secrets"][3]["purpose"],
        "found": True,
        "source": "keyring",
        "masked": "****3210",
        "env_var": "CDPCLI_BILLING_API_KEY",
    }

    result = run("keys", "delete", "billing", "api_key", *cfg)
    check(result, 0)
    assert "Deleted billing.api_key from the OS keyring." in result.stderr
    assert memory_keyring.entries == {}

    result = run("keys", "delete", "billing", "api_key", *cfg)
    check(result, 1)
    assert "no secret stored in the OS keyring for billing.api_key" in result.stderr


def test_list_text(memory_keyring: MemoryKeyring, config_file: Path) -> None:
    memory_keyring.entries[("cdpcli", "mixpanel.project_token")] = "short"
    env = {"CDPCLI_MIXPANEL_SERVICE_ACCOUNT_SECRET": "env-secret-abcd"}
    result = run("keys", "list", "--config", str(config_file), env=env)
    check(result, 0)
    rows = [line.split()[:5] for line in result.stdout.splitlines()]
    assert rows == [
        ["DESTINATION", "FIELD", "FOUND", "SOURCE", "VALUE"],
        ["mixpanel", "service_account_username", "no", "-", "-"],
        ["mixpanel", "service_account_secret", "yes", "env", "****abcd"],
        ["mixpanel", "project_token", "yes", "keyring", "****"],
        ["billing", "api_key", "no", "-", "-"],
    ]
    assert (
        "missing billing.api_key: set CDPCLI_BILLING_API_KEY or run "
        "`cdpcli keys set billing api_key`"
    ) in result.stderr
    assert "unused" not in result.stdout  # no route feeds it: it needs no secret


def test_env_beats_keyring_in_list(memory_keyring: MemoryKeyring, config_file: Path) -> None:
    memory_keyring.entries[("cdpcli", "billing.api_key")] = "keyring-value-1111"
    env = {"CDPCLI_BILLING_API_KEY": "environment-value-2222"}
    result = run("keys", "list", "-f", "json", "--config", str(config_file), env=env)
    check(result, 0)
    billing = json.loads(result.stdout)["secrets"][3]
    assert (billing["source"], billing["masked"]) == ("env", "****2222")


def test_set_notes_when_the_env_var_overrides(config_file: Path) -> None:
    env = {"CDPCLI_BILLING_API_KEY": "x" * 20}
    result = run(
        "keys", "set", "billing", "api_key", "--stdin", "-c", str(config_file), input="v", env=env
    )
    check(result, 0)
    assert "CDPCLI_BILLING_API_KEY is set in the environment and takes precedence" in result.stderr


# --- reading the secret ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("stdin", "stored"),
    [
        ("value", "value"),
        ("value\n", "value"),
        ("value\r\n", "value"),
        ("value\n\n", "value\n"),  # only one trailing newline is removed
        (" value \n", " value "),
    ],
)
def test_stdin_strips_one_trailing_newline(
    memory_keyring: MemoryKeyring, config_file: Path, stdin: str, stored: str
) -> None:
    result = run(
        "keys", "set", "billing", "api_key", "--stdin", "-c", str(config_file), input=stdin
    )
    check(result, 0)
    assert entry(memory_keyring, "billing.api_key") == stored


@pytest.mark.parametrize("stdin", ["", "\n"])
def test_empty_secret_is_refused(memory_keyring: MemoryKeyring, stdin: str) -> None:
    result = run("keys", "set", "billing", "api_key", "--stdin", input=stdin)
    check(result, 2)
    assert "empty secret" in result.stderr
    assert memory_keyring.entries == {}


def test_no_terminal_and_no_stdin_flag_is_a_usage_error(memory_keyring: MemoryKeyring) -> None:
    result = run("keys", "set", "billing", "api_key", input=SECRET)
    check(result, 2)
    assert "stdin is not a terminal" in result.stderr
    assert "--stdin" in result.stderr
    assert memory_keyring.entries == {}


def test_terminal_prompts_without_echo(
    memory_keyring: MemoryKeyring, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(keys_cmd, "_stdin_is_terminal", lambda: True)
    result = run("keys", "set", "billing", "api_key", input=SECRET + "\n")
    check(result, 0)
    assert "Secret for billing.api_key" in result.output
    assert SECRET not in result.output
    assert entry(memory_keyring, "billing.api_key") == SECRET


# --- validation against the config ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (
            ["nope", "api_key"],
            ("unknown destination `nope`", "destinations in the config: mixpanel, billing, unused"),
        ),
        (
            ["mixpanel", "api_secret"],
            (
                "unknown secret field `api_secret` for destination `mixpanel` (kind mixpanel)",
                "allowed fields: service_account_username, service_account_secret, project_token",
            ),
        ),
        (
            ["billing", "api_secret"],
            (
                "unknown secret field `api_secret` for destination `billing` (kind lago)",
                "allowed fields: api_key",
            ),
        ),
    ],
)
@pytest.mark.parametrize("command", ["set", "delete"])
def test_unknown_names_are_usage_errors(
    memory_keyring: MemoryKeyring,
    config_file: Path,
    command: str,
    args: list[str],
    expected: tuple[str, str],
) -> None:
    extra = ["--stdin"] if command == "set" else []
    result = run("keys", command, *args, *extra, "--config", str(config_file), input="v")
    check(result, 2)
    for text in expected:
        assert text in result.stderr
    assert memory_keyring.entries == {}


def test_project_token_can_be_set_even_when_not_routed_yet(
    memory_keyring: MemoryKeyring, tmp_path: Path
) -> None:
    path = tmp_path / "c.yaml"
    path.write_text(CONFIG.replace("[track, identify]", "[track]"), encoding="utf-8")
    result = run("keys", "set", "mixpanel", "project_token", "--stdin", "-c", str(path), input="t")
    check(result, 0)
    assert entry(memory_keyring, "mixpanel.project_token") == "t"


def test_config_from_env_var(
    memory_keyring: MemoryKeyring, config_file: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CDPCLI_CONFIG", str(config_file))
    check(run("keys", "set", "nope", "api_key", "--stdin", input="v"), 2)
    check(run("keys", "list"), 0)


def test_default_config_in_current_directory(
    memory_keyring: MemoryKeyring, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    # no config here: names are only checked for shape, and list cannot work
    check(run("keys", "set", "anything", "some_field", "--stdin", input="v"), 0)
    result = run("keys", "set", "bad.name", "api_key", "--stdin", input="v")
    check(result, 2)
    assert "DEST `bad.name` is not a valid name" in result.stderr
    result = run("keys", "list")
    check(result, 3)
    assert "no config file" in result.stderr
    (tmp_path / "cdpcli.yaml").write_text(CONFIG, encoding="utf-8")
    check(run("keys", "set", "anything", "some_field", "--stdin", input="v"), 2)
    check(run("keys", "list"), 0)


def test_explicit_missing_config_is_a_config_error(tmp_path: Path) -> None:
    result = run("keys", "list", "--config", str(tmp_path / "missing.yaml"))
    check(result, 3)
    assert "missing.yaml" in result.stderr


# --- unusable keyrings ----------------------------------------------------------------------------


def test_fail_backend_exit_5_naming_the_env_var(config_file: Path) -> None:
    keyring.set_keyring(fail.Keyring())
    cfg = ["--config", str(config_file)]
    for args in (["set", "billing", "api_key", "--stdin"], ["delete", "billing", "api_key"]):
        result = run("keys", *args, *cfg, input=SECRET)
        check(result, 5)
        assert "the OS keyring is not usable" in result.stderr
        assert "CDPCLI_BILLING_API_KEY" in result.stderr
    result = run("keys", "list", *cfg)
    check(result, 0)
    assert "The OS keyring is not usable" in result.stderr


def test_misspelt_backend_env_var(config_file: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(keyring.core, "_keyring_backend", None)
    env = {"PYTHON_KEYRING_BACKEND": "keyring.backends.SecretServise.Keyring"}
    result = run("keys", "set", "billing", "api_key", "--stdin", input=SECRET, env=env)
    check(result, 5)
    assert "ModuleNotFoundError" in result.stderr
    assert "CDPCLI_BILLING_API_KEY" in result.stderr
    env["CDPCLI_BILLING_API_KEY"] = SECRET
    result = run("keys", "list", "-f", "json", "-c", str(config_file), env=env)
    check(result, 0)
    assert json.loads(result.stdout)["keyring"]["usable"] is False


# --- a secret never appears in any output -------------------------------------------------------


def test_secret_never_appears_in_output(
    memory_keyring: MemoryKeyring, config_file: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    cfg = ["--config", str(config_file)]
    results = [
        run("keys", "set", "billing", "api_key", "--stdin", *cfg, input=SECRET),
        run("keys", "set", "mixpanel", "project_token", *cfg, input=SECRET),  # no terminal
        run("keys", "set", "mixpanel", "nope", "--stdin", *cfg, input=SECRET),
        run("keys", "list", *cfg),
        run("keys", "list", "-f", "json", *cfg),
        run("keys", "list", *cfg, env={"CDPCLI_MIXPANEL_PROJECT_TOKEN": SECRET}),
        run("keys", "delete", "billing", "api_key", *cfg),
    ]
    monkeypatch.setattr(keys_cmd, "_stdin_is_terminal", lambda: True)
    results.append(run("keys", "set", "billing", "api_key", *cfg, input=SECRET + "\n"))
    keyring.set_keyring(fail.Keyring())
    results.append(run("keys", "set", "billing", "api_key", "--stdin", *cfg, input=SECRET))
    assert [r.exit_code for r in results] == [0, 2, 2, 0, 0, 0, 0, 0, 5]
    for result in results:
        assert SECRET not in result.output
        assert SECRET not in repr(result.exception)
