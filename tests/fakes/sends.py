"""Helpers for tests that really send to the fakes: secrets, a config pointing at them, the CLI,
a subprocess run, and the accounting invariant of PRODUCT.md §6 (see `cdpcli.send.pipeline`)."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from cdpcli import jsonio
from cdpcli.cli.app import app
from tests.fakes.servers import (
    LAGO_API_KEY,
    MIXPANEL_SA_SECRET,
    MIXPANEL_SA_USER,
    MIXPANEL_TOKEN,
    FakeLago,
    FakeMixpanel,
    FakeServer,
)
from tests.fast_cli import fast_policy
from tests.paths import REPO

SECRETS = {
    "CDPCLI_MIXPANEL_SERVICE_ACCOUNT_USERNAME": MIXPANEL_SA_USER,
    "CDPCLI_MIXPANEL_SERVICE_ACCOUNT_SECRET": MIXPANEL_SA_SECRET,
    "CDPCLI_MIXPANEL_PROJECT_TOKEN": MIXPANEL_TOKEN,
    "CDPCLI_BILLING_API_KEY": LAGO_API_KEY,
}
"""The secrets the fakes accept, as `CDPCLI_*` variables for the config of `write_config`."""


def write_config(directory: Path, mixpanel: FakeMixpanel, lago: FakeLago) -> Path:
    """`cdpcli.yaml`: route `analytics` takes every event to Mixpanel, `usage` takes tracks
    with a userId to Lago (`billing`)."""
    path = directory / "cdpcli.yaml"
    path.write_text(
        f"""\
version: 1
destinations:
  mixpanel:
    kind: mixpanel
    project_id: "12345"
    api_url: {mixpanel.url}
  billing:
    kind: lago
    api_url: {lago.url}
routes:
  - name: analytics
    to: mixpanel
  - name: usage
    to: billing
    when: {{type: track, userId: {{exists: true}}}}
""",
        encoding="utf-8",
    )
    return path


def check_accounting(
    summary: Mapping[str, Any],
    *,
    complete: bool = True,
    replay: bool = False,
) -> None:
    """The invariant of PRODUCT.md §6 for the config of `write_config`, exactly: every valid
    event matches `analytics`, and `usage` adds a second route (a replay sends each event to
    one route). Routes a fatal stop left unanswered are `not_sent`, per destination too
    (PRODUCT.md §6.1: `routed = delivered + duplicates + rejected + skipped + not_sent`).
    The invariant holds exactly for interrupted runs too: SIGINT stops between two events.
    """
    destinations = summary["destinations"]
    for stats in destinations.values():
        outcomes = ("delivered", "duplicates", "rejected", "skipped", "not_sent")
        assert stats["routed"] == sum(stats[key] for key in outcomes), stats
        assert min(stats[key] for key in outcomes) >= 0, stats
    for key in ("delivered", "duplicates", "rejected", "not_sent"):
        assert summary[key] == sum(s[key] for s in destinations.values())
    outcomes = summary["delivered"] + summary["duplicates"] + summary["rejected"]
    outcomes += summary["skipped"] + summary["not_sent"]
    extra_routes = 0 if replay else destinations["billing"]["routed"]
    expected = summary["events_read"] - summary["invalid"] + extra_routes
    assert expected == outcomes, (expected, outcomes)
    if complete:
        assert summary["not_sent"] == 0


def cli(*args: str, env: Mapping[str, str] = SECRETS) -> tuple[int, dict[str, Any], str]:
    """`cdpcli send ARGS --format json` in-process: exit code, the JSON summary ({} when none
    was printed), stderr."""
    result = CliRunner().invoke(app, ["send", *args, "--format", "json"], env=dict(env))
    summary = jsonio.loads(result.stdout.strip().splitlines()[-1]) if result.stdout else {}
    return result.exit_code, summary, result.stderr


def spawn(config: Path, inputs: Path, checkpoint: Path) -> subprocess.Popen[bytes]:
    """`cdpcli send INPUTS --checkpoint CHECKPOINT --format json --quiet` in a subprocess, tiny
    backoff (`tests.fast_cli`), secrets in its environment."""
    env = {**os.environ, **SECRETS}
    argv = [sys.executable, "-m", "tests.fast_cli", "send", str(inputs), "-c", str(config)]
    argv += ["--checkpoint", str(checkpoint), "--format", "json", "--quiet"]
    return subprocess.Popen(argv, cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)


def wait_for_requests(fake: FakeServer, process: subprocess.Popen[bytes], count: int) -> None:
    """Block until `fake` saw `count` requests (the run must still be going)."""
    deadline = time.monotonic() + 30
    while len(fake.requests) < count:
        assert process.poll() is None, "the run ended before it could be interrupted"
        assert time.monotonic() < deadline
        time.sleep(0.005)


# --- fixtures shared by the end-to-end and fault-matrix tests ------------------------------


@pytest.fixture
def fast_retries(monkeypatch: pytest.MonkeyPatch) -> None:
    """Backoff of milliseconds, for tests that drive the CLI in this process (a subprocess runs
    `tests.fast_cli`)."""
    from cdpcli.cli import send_cmd

    monkeypatch.setattr(send_cmd, "retry_policy", fast_policy)


@pytest.fixture
def fakes() -> Iterator[tuple[FakeMixpanel, FakeLago]]:
    with FakeMixpanel() as mixpanel, FakeLago() as lago:
        yield mixpanel, lago
        for fake in (mixpanel, lago):
            assert fake.errors == [], fake.errors[0]
