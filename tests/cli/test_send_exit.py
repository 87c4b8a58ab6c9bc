"""`send --dry-run` exits as a real send would: 1 when any event would be rejected, not only when
one is invalid, so a CI job that dry-runs a mapping can branch on it (PRODUCT.md §6 exit codes)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from cdpcli.cli.app import app

# A Lago route whose `code` reads a property: a number there cannot be a billable metric code.
CONFIG = """\
version: 1
destinations:
  billing:
    kind: lago
    api_url: https://api.getlago.com
routes:
  - name: usage
    to: billing
    when: {type: track}
    map:
      code: "{{ properties.metric }}"
"""


def event(n: int, metric: object) -> str:
    return json.dumps(
        {
            "type": "track",
            "event": "API Call",
            "userId": f"u{n}",
            "messageId": f"m{n}",
            "timestamp": "2024-05-01T00:00:00Z",
            "properties": {"metric": metric},
        }
    )


def run(tmp_path: Path, metrics: list[object], *args: str) -> tuple[int, str, str]:
    config = tmp_path / "cdpcli.yaml"
    config.write_text(CONFIG, encoding="utf-8")
    events = tmp_path / "events.jsonl"
    events.write_text("".join(event(n, m) + "\n" for n, m in enumerate(metrics)), encoding="utf-8")
    result = CliRunner().invoke(app, ["send", str(events), "-c", str(config), "--dry-run", *args])
    return result.exit_code, result.stdout, result.stderr


@pytest.mark.parametrize("args", [(), ("--format", "json"), ("--explain",), ("-j", "2")])
def test_a_dry_run_with_a_rejected_event_exits_1(tmp_path: Path, args: tuple[str, ...]) -> None:
    code, out, err = run(tmp_path, ["api_calls", 7, "api_calls"], *args)
    assert code == 1, out + err
    if "--explain" in args:
        assert "rejected (map.code must be a non-empty string, got number 7)" in out
    if "--format" in args:
        summary = json.loads(out.splitlines()[-1])
        assert (summary["invalid"], summary["rejected"], summary["delivered"]) == (0, 1, 2)


def test_a_dry_run_with_nothing_rejected_exits_0(tmp_path: Path) -> None:
    code, out, err = run(tmp_path, ["api_calls", "api_calls"], "--format", "json")
    assert code == 0, out + err
    assert json.loads(out.splitlines()[-1])["rejected"] == 0
