"""No command ever prints or stores a secret (PRODUCT.md §7).

Known secrets are put in the environment (Mixpanel) and in the keyring (Lago); every command runs,
including real sends that succeed and that fail (refused credentials, a server that keeps
failing), and no output, rejected file, checkpoint or dry-run file may contain any of them, nor
the Basic-auth encodings that carry them.
"""

from __future__ import annotations

import base64
from collections.abc import Iterator
from pathlib import Path

import keyring
import pytest
from typer.testing import CliRunner

from cdpcli.cli.app import app
from tests.fakes.servers import FakeLago, FakeMixpanel, Fault
from tests.paths import SAMPLES

SA_USER = "sa-user.4711.redaction-test"
SA_SECRET = "S3cr3t-sa-7f9a2b4c8d1e"
TOKEN = "tok-5e6f7a8b9c0d1e2f3a4b"
LAGO_KEY = "lago-key-0a1b2c3d4e5f6a7b"
SECRETS = (SA_SECRET, TOKEN, LAGO_KEY)
FORBIDDEN = (
    *SECRETS,
    base64.b64encode(f"{SA_USER}:{SA_SECRET}".encode()).decode(),
    base64.b64encode(f"{SA_SECRET}:".encode()).decode(),
)


@pytest.fixture
def fakes() -> Iterator[tuple[FakeMixpanel, FakeLago]]:
    with (
        FakeMixpanel(token=TOKEN, service_account=(SA_USER, SA_SECRET), project_id="4711") as mp,
        FakeLago(api_key=LAGO_KEY) as lago,
    ):
        yield mp, lago


@pytest.fixture
def secrets(monkeypatch: pytest.MonkeyPatch, fast_retries: None) -> None:
    monkeypatch.setenv("CDPCLI_MIXPANEL_SERVICE_ACCOUNT_USERNAME", SA_USER)
    monkeypatch.setenv("CDPCLI_MIXPANEL_SERVICE_ACCOUNT_SECRET", SA_SECRET)
    monkeypatch.setenv("CDPCLI_MIXPANEL_PROJECT_TOKEN", TOKEN)
    keyring.set_password("cdpcli", "billing.api_key", LAGO_KEY)


def config(tmp_path: Path, mp_url: str, lago_url: str) -> Path:
    path = tmp_path / "cdpcli.yaml"
    path.write_text(
        f"""version: 1
destinations:
  mixpanel:
    kind: mixpanel
    project_id: "4711"
    api_url: {mp_url}
  billing:
    kind: lago
    api_url: {lago_url}
routes:
  - name: analytics
    to: mixpanel
    when: {{type: [track, page, screen, identify, group]}}
  - name: usage
    to: billing
    when: {{type: track}}
"""
    )
    return path


def run(*args: str, stdin: str | None = None) -> tuple[int, str]:
    result = CliRunner().invoke(app, list(args), input=stdin)
    return result.exit_code, result.stdout + result.stderr + repr(result.exception or "")


def assert_clean(text: str, where: str) -> None:
    for secret in FORBIDDEN:
        assert secret not in text, f"a secret leaked into {where}"


@pytest.mark.usefixtures("secrets")
def test_no_command_leaks_a_secret(tmp_path: Path, fakes: tuple[FakeMixpanel, FakeLago]) -> None:
    mp, lago = fakes
    cfg = str(config(tmp_path, mp.url, lago.url))
    rejected = tmp_path / "rejected.jsonl"
    checkpoint = tmp_path / "run.ckpt"
    dry = tmp_path / "dry.jsonl"
    runs = {
        "config check": run("config", "check", "-c", cfg),
        "config check json": run("config", "check", "-c", cfg, "--format", "json"),
        "keys list": run("keys", "list", "-c", cfg),
        "keys list json": run("keys", "list", "-c", cfg, "--format", "json"),
        "keys set": run("keys", "set", "billing", "api_key", "--stdin", stdin=LAGO_KEY + "\n"),
        "validate": run("validate", str(SAMPLES)),
        "inspect": run("inspect", str(SAMPLES), "--format", "json"),
        "dry run": run("send", str(SAMPLES), "-c", cfg, "--dry-run", "-o", str(dry)),
        "dry run stdout": run("send", str(SAMPLES), "-c", cfg, "--dry-run", "--explain"),
        "send": run(
            "send", str(SAMPLES), "-c", cfg, "--rejected", str(rejected),
            "--checkpoint", str(checkpoint), "--format", "json",
        ),
    }  # fmt: skip
    assert runs["send"][0] == 1, runs["send"][1]  # invalid.jsonl
    assert mp.unique_count > 0 and lago.events
    # A real send that fails: credentials refused, then a server that keeps failing.
    mp.fail("/import", *[Fault.http(401)])
    runs["send refused"] = run("send", str(SAMPLES / "browser.jsonl"), "-c", cfg)
    assert runs["send refused"][0] == 5, runs["send refused"][1]
    lago.fail("/api/v1/events/batch", *[Fault.http(500)] * 3)
    runs["send failing"] = run(
        "send", str(SAMPLES / "server.jsonl"), "-c", cfg, "--to", "billing", "--max-retries", "2"
    )
    assert runs["send failing"][0] == 6, runs["send failing"][1]
    for name, (_, text) in runs.items():
        assert_clean(text, name)
    for path in (rejected, checkpoint, dry):
        assert path.exists(), path
        assert_clean(path.read_text(encoding="utf-8", errors="replace"), path.name)
    # The secrets did reach the fakes, so the test would see them if they were printed.
    auth = {r.headers.get("authorization") for r in mp.requests_to("/import")}
    assert "Basic " + FORBIDDEN[3] in auth
    assert any(r.headers.get("authorization") == f"Bearer {LAGO_KEY}" for r in lago.requests)
