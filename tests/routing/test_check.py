"""`cdpcli.check_config`: what `config check` lists, as a result object."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

import cdpcli
from cdpcli.cli.app import app
from tests.paths import REPO

EXAMPLE = REPO / "config.example.yaml"


def test_the_result_is_what_the_command_prints_as_json() -> None:
    result = CliRunner().invoke(app, ["config", "check", "-c", str(EXAMPLE), "--format", "json"])
    assert result.exit_code == 0, result.stderr
    assert cdpcli.check_config(EXAMPLE).as_dict() == json.loads(result.stdout)


def test_destinations_routes_and_secrets() -> None:
    check = cdpcli.check_config(EXAMPLE, environ={"CDPCLI_BILLING_API_KEY": "lago-key-0123456789"})
    assert [(d.name, d.kind, d.hosts) for d in check.destinations] == [
        ("mixpanel", "mixpanel", ("api.mixpanel.com",)),
        ("billing", "lago", ("api.getlago.com",)),
    ]
    assert [(r.name, r.to, r.qualifier) for r in check.routes] == [
        ("analytics", "mixpanel", None),
        ("api-usage", "billing", None),
        ("storage-usage", "billing", "storage-usage"),
    ]
    assert check.routes[0].types == ("track", "identify", "page", "screen", "group")
    found = {(s.destination, s.field): s for s in check.secrets.secrets}
    billing = found[("billing", "api_key")]
    assert (billing.found, billing.source, billing.masked) == (True, "env", "****6789")
    assert billing not in check.secrets.missing
    assert {(s.destination, s.field) for s in check.secrets.missing} == {
        key for key in found if key != ("billing", "api_key")
    }


def test_a_loaded_config_is_checked_as_it_is(tmp_path: Path) -> None:
    config = cdpcli.parse_config(EXAMPLE.read_text(encoding="utf-8"), "inline.yaml")
    check = cdpcli.check_config(config, environ={})
    assert check.config == "inline.yaml"
    assert len(check.routes) == 3


def test_an_invalid_config_is_a_config_error(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("version: 1\ndestinations: {}\nroutes: []\nsurprise: 1\n")
    with pytest.raises(cdpcli.ConfigError) as caught:
        cdpcli.check_config(bad)
    assert caught.value.exit_code == cdpcli.ExitCode.CONFIG
    assert str(bad) in caught.value.message
