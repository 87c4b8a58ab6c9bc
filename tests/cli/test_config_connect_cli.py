"""`cdpcli config check --connect` through the Typer app, against the fakes: the listing gains
what each destination answered, the exit code says whether all accepted (0), some secret is
missing or refused (5) or some destination is unreachable (6); without the flag nothing is sent."""

from __future__ import annotations

import json
import socket
from pathlib import Path

from typer.testing import CliRunner

from cdpcli.cli.app import app
from tests.fakes.sends import SECRETS, write_config
from tests.fakes.servers import FakeLago, FakeMixpanel

Fakes = tuple[FakeMixpanel, FakeLago]


def run(*args: str, env: dict[str, str] = SECRETS) -> tuple[int, str, str]:
    result = CliRunner().invoke(app, list(args), env={"COLUMNS": "200", **env})
    return result.exit_code, result.stdout, result.stderr


def test_text_lists_each_check_with_its_answer(fakes: Fakes, tmp_path: Path) -> None:
    mixpanel, lago = fakes
    config = write_config(tmp_path, mixpanel, lago)
    code, out, err = run("config", "check", "-c", str(config), "--connect")
    assert code == 0, out + err
    lines = out.splitlines()
    start = lines.index("Connections (each check is one request that writes nothing):")
    assert lines[: start - 1] == run("config", "check", "-c", str(config))[1].splitlines()
    header, *rows = [line for line in lines[start + 1 :] if not line.startswith("      ")]
    assert header.split() == ["DESTINATION", "CHECK", "RESULT", "HTTP", "TIME"]
    assert [row.split()[0] for row in rows] == ["mixpanel", "mixpanel", "billing"]
    assert "the /import credentials" in rows[0] and " accepted  400 " in rows[0]
    assert "the project token (for /engage and /groups)" in rows[1]
    assert "the API key" in rows[2] and " accepted  200 " in rows[2]
    assert all(row.rstrip().endswith(" ms") for row in rows)
    assert "Lago accepted the API key; 0 billable metric(s) defined" in out
    assert "Config is valid; connection check: 2 accepted." in err
    assert mixpanel.events == [] and lago.events == []


def test_json_adds_the_connect_document_and_exits_5_when_refused(
    fakes: Fakes, tmp_path: Path
) -> None:
    mixpanel, lago = fakes
    config = write_config(tmp_path, mixpanel, lago)
    env = {**SECRETS, "CDPCLI_BILLING_API_KEY": "wrong-lago-key-123"}
    code, out, err = run("config", "check", "-c", str(config), "--connect", "-f", "json", env=env)
    assert code == 5, err
    document = json.loads(out)
    assert document["valid"] is True
    connect = document["connect"]
    assert connect["exit_code"] == 5
    billing = connect["destinations"][1]
    assert (billing["name"], billing["outcome"]) == ("billing", "refused")
    (probe,) = billing["probes"]
    assert (probe["method"], probe["status"], probe["outcome"]) == ("GET", 401, "refused")
    assert probe["url"] == f"{lago.url}/api/v1/billable_metrics?per_page=1"
    assert isinstance(probe["latency_ms"], float)
    assert "fix with `cdpcli keys set billing api_key` or CDPCLI_BILLING_API_KEY" in billing["hint"]
    assert connect["destinations"][0]["outcome"] == "accepted"
    for secret in [*SECRETS.values(), "wrong-lago-key-123"]:
        assert secret not in out + err


def test_an_unreachable_destination_exits_6(fakes: Fakes, tmp_path: Path) -> None:
    mixpanel, lago = fakes
    config = write_config(tmp_path, mixpanel, lago)
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        dead = f"http://127.0.0.1:{probe.getsockname()[1]}"
    config.write_text(config.read_text().replace(lago.url, dead), encoding="utf-8")
    code, out, err = run("config", "check", "-c", str(config), "--connect")
    assert code == 6, out + err
    assert "unreachable" in out
    assert f"no answer from {dead}/api/v1/billable_metrics?per_page=1" in out
    assert "Config is valid; connection check: 1 accepted, 1 unreachable." in err


def test_a_missing_secret_exits_5_and_says_how_to_set_it(fakes: Fakes, tmp_path: Path) -> None:
    mixpanel, lago = fakes
    config = write_config(tmp_path, mixpanel, lago)
    env = {k: v for k, v in SECRETS.items() if k != "CDPCLI_BILLING_API_KEY"}
    code, out, err = run("config", "check", "-c", str(config), "--connect", env=env)
    assert code == 5, out + err
    assert "secret(s) missing: api_key; nothing was sent" in out
    assert "hint: set CDPCLI_BILLING_API_KEY or run `cdpcli keys set billing api_key`" in out
    assert lago.requests == []


def test_without_connect_nothing_is_sent(fakes: Fakes, tmp_path: Path) -> None:
    mixpanel, lago = fakes
    config = write_config(tmp_path, mixpanel, lago)
    for fmt in ("text", "json"):
        code, out, err = run("config", "check", "-c", str(config), "-f", fmt)
        assert code == 0, err
        assert "Connections" not in out and '"connect"' not in out
    assert mixpanel.requests == [] and lago.requests == []


def test_plain_http_elsewhere_than_loopback_exits_2(fakes: Fakes, tmp_path: Path) -> None:
    mixpanel, lago = fakes
    config = write_config(tmp_path, mixpanel, lago)
    config.write_text(config.read_text().replace(lago.url, "http://lago.example.com"), "utf-8")
    code, _out, err = run("config", "check", "-c", str(config), "--connect")
    assert code == 2
    assert "destination billing: http://lago.example.com/api/v1/billable_metrics" in err
    assert "--allow-insecure-http" in err
    assert mixpanel.requests == []


def test_help_documents_connect() -> None:
    code, out, _err = run("config", "check", "--help")
    assert code == 0
    text = " ".join(out.replace("│", " ").split())  # rich draws boxes around the help
    assert "--connect" in text
    assert "--allow-insecure-http" in text
    assert "writes no data" in text
    assert "Exit 5 if a secret is missing or refused, 6 if a destination is unreachable" in text
