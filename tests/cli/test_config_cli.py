"""`cdpcli config check` and `cdpcli config init` through the Typer app."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from cdpcli.cli.app import app

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "config.example.yaml"


def run(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(app, list(args))
    return result.exit_code, result.stdout, result.stderr


def test_check_example_text() -> None:
    code, out, err = run("config", "check", "--config", str(EXAMPLE))
    assert code == 0, err
    lines = out.splitlines()
    assert lines[0] == f"Config {EXAMPLE}: valid (version 1, event `integrations` honoured)"
    assert "  mixpanel  mixpanel  api.mixpanel.com" in lines
    assert "  billing   lago      api.getlago.com" in lines
    assert "  analytics -> mixpanel" in lines
    assert '      when: type: ["track","page","screen","identify","group"]' in lines
    assert "      map:  code, external_subscription_id, properties" in lines
    assert (
        "  storage-usage -> billing  (second route there: ids qualified by 'storage-usage')"
        in lines
    )
    secret_lines = [line for line in lines if line.startswith("  billing ") and "api_key" in line]
    assert len(secret_lines) == 1
    assert "missing: set CDPCLI_BILLING_API_KEY" in secret_lines[0]
    assert "secret(s) missing" in err


def test_check_json_shows_found_secrets_masked(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CDPCLI_BILLING_API_KEY", "lago-key-0123456789")
    code, out, err = run("config", "check", "-c", str(EXAMPLE), "--format", "json")
    assert code == 0, err
    assert "lago-key-0123456789" not in out + err
    report = json.loads(out)
    assert report["valid"] is True
    assert report["config"] == str(EXAMPLE)
    assert report["respect_integrations"] is True
    assert report["destinations"] == [
        {"name": "mixpanel", "kind": "mixpanel", "hosts": ["api.mixpanel.com"]},
        {"name": "billing", "kind": "lago", "hosts": ["api.getlago.com"]},
    ]
    routes = {route["name"]: route for route in report["routes"]}
    assert list(routes) == ["analytics", "api-usage", "storage-usage"]
    assert routes["api-usage"] == {
        "name": "api-usage",
        "to": "billing",
        "when": 'type: "track"; event: ["API Call","Export *"]; properties.plan: {"exists":true}',
        "types": ["track"],
        "map_keys": ["code", "external_subscription_id", "properties"],
        "qualifier": None,
    }
    assert routes["storage-usage"]["qualifier"] == "storage-usage"
    secrets = {(s["destination"], s["field"]): s for s in report["secrets"]}
    billing = secrets[("billing", "api_key")]
    assert billing["found"] is True
    assert billing["source"] == "env"
    assert billing["masked"] == "****6789"
    assert secrets[("mixpanel", "project_token")]["found"] is False


def test_check_reads_config_from_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CDPCLI_CONFIG", str(EXAMPLE))
    code, out, err = run("config", "check")
    assert code == 0, err
    assert out.startswith(f"Config {EXAMPLE}: valid")


def test_check_defaults_to_cdpcli_yaml(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "cdpcli.yaml").write_bytes(EXAMPLE.read_bytes())
    code, out, err = run("config", "check")
    assert code == 0, err
    assert out.startswith("Config cdpcli.yaml: valid")


def test_check_missing_file(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.chdir(tmp_path)
    code, out, err = run("config", "check")
    assert code == 3, err
    assert out == ""
    assert "config file not found: cdpcli.yaml" in err
    assert "cdpcli config init" in err


@pytest.mark.parametrize("fmt", ["text", "json"])
def test_check_invalid_config_exits_3(tmp_path: Path, fmt: str) -> None:
    path = tmp_path / "bad.yaml"
    text = EXAMPLE.read_text(encoding="utf-8").replace("region: us ", "region: mars ", 1)
    path.write_text(text, encoding="utf-8")
    code, out, err = run("config", "check", "--config", str(path), "--format", fmt)
    assert code == 3, out + err
    assert f"{path}:24: key `destinations.mixpanel.region`" in err
    if fmt == "json":
        report = json.loads(out)
        assert report["valid"] is False
        assert report["config"] == str(path)
        assert report["error"].startswith(f"{path}:24: key `destinations.mixpanel.region`")
    else:
        assert out == ""


def test_init_writes_the_starter_config(tmp_path: Path) -> None:
    target = tmp_path / "new.yaml"
    code, out, err = run("config", "init", str(target))
    assert code == 0, err
    assert target.read_bytes() == EXAMPLE.read_bytes()
    assert f"Wrote {target}." in err
    assert out == ""
    code, _out, err = run("config", "check", "--config", str(target))
    assert code == 0, err


def test_init_refuses_to_overwrite(tmp_path: Path) -> None:
    target = tmp_path / "cdpcli.yaml"
    target.write_text("mine\n", encoding="utf-8")
    code, _out, err = run("config", "init", str(target))
    assert code == 2
    assert "already exists" in err
    assert "--force" in err
    assert target.read_text(encoding="utf-8") == "mine\n"
    code, _out, err = run("config", "init", str(target), "--force")
    assert code == 0, err
    assert target.read_bytes() == EXAMPLE.read_bytes()


def test_init_default_path(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.chdir(tmp_path)
    code, _out, err = run("config", "init")
    assert code == 0, err
    assert (tmp_path / "cdpcli.yaml").read_bytes() == EXAMPLE.read_bytes()
    monkeypatch.setenv("CDPCLI_CONFIG", str(tmp_path / "from-env.yaml"))
    code, _out, err = run("config", "init")
    assert code == 0, err
    assert (tmp_path / "from-env.yaml").is_file()


def test_init_to_stdout() -> None:
    code, out, _err = run("config", "init", "-")
    assert code == 0
    assert out == EXAMPLE.read_text(encoding="utf-8")


@pytest.mark.parametrize("where", ["missing-dir/c.yaml", "."])
def test_init_unwritable_target_is_a_usage_error(tmp_path: Path, where: str) -> None:
    code, _out, err = run("config", "init", str(tmp_path / where))
    assert code == 2
    assert "Error:" in err


TYPOS = """\
version: 1
destinations:
  mixpanel:
    kind: mixpanel
    project_id: "3141592"
    regoin: us
  other:
    kind: mixpanl
routes:
  - name: analytics
    to: mixpanel
    when: {tpye: track}
"""


def test_check_reports_every_error_with_suggestions(tmp_path: Path) -> None:
    """Three typos, one run: `regoin`, `mixpanl` and `tpye` each named with the fix."""
    path = tmp_path / "cdpcli.yaml"
    path.write_text(TYPOS, encoding="utf-8")
    code, out, err = run("config", "check", "-c", str(path))
    assert code == 3, err
    assert out == ""
    assert f"Error: {path}: 3 errors in the config:" in err
    for line, key, suggestion in [
        (6, "destinations.mixpanel.regoin", "did you mean `region`?"),
        (8, "destinations.other.kind", "unknown kind 'mixpanl'; did you mean 'mixpanel'?"),
        (12, "routes[0].when.tpye", "did you mean `type`?"),
    ]:
        assert f"  {path}:{line}: key `{key}`: " in err
        assert suggestion in err
    code, out, err = run("config", "check", "-c", str(path), "--format", "json")
    assert code == 3
    report = json.loads(out)
    assert report["valid"] is False
    assert [e["error"].split(": key ")[1].split(":")[0] for e in report["errors"]] == [
        "`destinations.mixpanel.regoin`",
        "`destinations.other.kind`",
        "`routes[0].when.tpye`",
    ]
    assert report["errors"][0]["hint"].startswith("allowed keys: kind, project_id")


def test_send_reports_every_config_error_and_exits_3(tmp_path: Path) -> None:
    path = tmp_path / "cdpcli.yaml"
    path.write_text(TYPOS, encoding="utf-8")
    events = tmp_path / "e.jsonl"
    events.write_text("{}\n", encoding="utf-8")
    code, out, err = run("send", str(events), "-c", str(path), "--dry-run")
    assert code == 3, err
    assert out == ""
    assert err.count(f"  {path}:") == 3


def test_a_misspelt_auth_is_one_error_not_two(tmp_path: Path) -> None:
    """`auth: api_secert` is named; the default auth's need of `project_id` is not claimed."""
    path = tmp_path / "cdpcli.yaml"
    path.write_text(
        "version: 1\ndestinations:\n  mixpanel:\n    kind: mixpanel\n    auth: api_secert\n"
        "routes:\n  - name: analytics\n    to: mixpanel\n",
        encoding="utf-8",
    )
    code, _out, err = run("config", "check", "-c", str(path))
    assert code == 3, err
    assert "destinations.mixpanel.auth" in err and "api_secret" in err
    assert "project_id" not in err
