"""`cdpcli validate` and `cdpcli inspect` through the CLI, on sample_events/ and crafted input."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from cdpcli.cli.app import app

ROOT = Path(__file__).resolve().parents[2]
SAMPLES = ROOT / "sample_events"
INVALID = SAMPLES / "invalid.jsonl"

# One line per error of PRODUCT.md §4: (line, field, start of the message).
EXPECTED_INVALID = [
    (1, None, "not JSON"),
    (2, None, "not an object"),
    (3, "type", "missing"),
    (4, "type", "must be one of"),
    (5, "userId", "neither a non-empty `userId` nor `anonymousId`"),
    (6, "previousId", "alias needs"),
    (7, "groupId", "group needs"),
    (8, "event", "track needs a non-empty string"),
    (9, "properties", "must be an object, got array"),
    (10, "traits", "must be an object, got string"),
    (11, "context", "must be an object, got string"),
    (12, "integrations", "must be an object, got boolean"),
    (13, "timestamp", "not an ISO-8601 time"),
    (14, "messageId", "must be a string"),
    (15, "messageId", "103 characters, over the limit of 100"),
    (16, None, "event is 33,"),
    (17, "timestamp", "no usable event time"),
    (18, None, "not UTF-8"),
]


def run(*args: str, stdin: bytes | None = None) -> tuple[int, str, str]:
    result = CliRunner().invoke(app, list(args), input=stdin)
    return result.exit_code, result.stdout, result.stderr


def test_validate_samples_lists_exactly_the_invalid_lines() -> None:
    code, out, err = run("validate", str(SAMPLES), "--format", "json")
    assert code == 1, err
    records = [json.loads(line) for line in out.splitlines()]
    problems = [r for r in records if r["kind"] == "problem"]
    got = [(p["source"], p["line"], p["field"]) for p in problems]
    assert got == [(str(INVALID), line, field) for line, field, _ in EXPECTED_INVALID]
    for problem, (_, _, message) in zip(problems, EXPECTED_INVALID, strict=True):
        assert problem["severity"] == "error"
        assert problem["message"].startswith(message), problem
    summary = records[-1]
    assert summary == {
        "kind": "summary",
        "events_read": 51,
        "valid": 33,
        "invalid": 18,
        "warnings": 0,
        "by_type": {"alias": 1, "group": 1, "identify": 3, "page": 3, "screen": 2, "track": 23},
    }


def test_validate_text_report_lines() -> None:
    code, out, err = run("validate", str(INVALID))
    assert code == 1
    lines = out.splitlines()
    assert len(lines) == len(EXPECTED_INVALID)
    assert lines[4] == (
        f"{INVALID}:5: error: userId: neither a non-empty `userId` nor `anonymousId`"
    )
    assert "18 events read: 0 valid, 18 invalid, 0 warnings" in err


@pytest.mark.parametrize(
    "name", ["browser.jsonl", "server.jsonl", "http-api-batch.jsonl", "mobile.json"]
)
def test_valid_sample_files_exit_zero(name: str) -> None:
    code, out, err = run("validate", str(SAMPLES / name))
    assert (code, out) == (0, ""), err


def test_validate_piped_stdin_exits_zero() -> None:
    code, out, err = run("validate", stdin=(SAMPLES / "browser.jsonl").read_bytes())
    assert (code, out) == (0, ""), err
    assert "7 events read: 7 valid" in err


def test_strict_turns_warnings_into_errors() -> None:
    line = (
        b'{"type":"track","event":"A","userId":42,'
        b'"timestamp":"2024-01-01T00:00:00Z","messageId":"m"}\n'
    )
    code, out, _ = run("validate", "-", stdin=line)
    assert code == 0
    assert out == '<stdin>:1: warning: userId: numeric id 42; sent as the string "42"\n'
    code, out, _ = run("validate", "--strict", "-", stdin=line)
    assert code == 1
    assert out == '<stdin>:1: error: userId: numeric id 42; sent as the string "42"\n'


def test_unreadable_input_exits_4(tmp_path: Path) -> None:
    code, _, err = run("validate", str(tmp_path / "missing.jsonl"))
    assert code == 4
    assert "missing.jsonl: no such file or directory" in err


def test_bad_format_is_usage_error() -> None:
    code, _, _ = run("validate", "--format", "xml", str(INVALID))
    assert code == 2


def test_inspect_profile_json() -> None:
    code, out, err = run("inspect", str(SAMPLES), "--format", "json")
    assert code == 0, err
    profile = json.loads(out)
    assert profile["events_read"] == 51
    assert profile["valid"] == 33 and profile["invalid"] == 18
    assert profile["by_type"]["track"] == 23
    assert profile["top_events"][0] == {"event": "Dashboard Viewed", "count": 6}
    assert profile["time_range"] == {
        "first": "2024-05-14T08:00:00.000Z",
        "last": "2024-05-17T09:21:09.312Z",
    }
    assert sum(profile["per_day"].values()) == 33
    assert profile["distinct_user_ids"] == 8
    assert [p["line"] for p in profile["invalid_lines"]] == list(range(1, 19))


def test_inspect_text_has_bar_chart() -> None:
    code, out, err = run("inspect", str(SAMPLES))
    assert code == 0, err
    assert "Events per day" in out
    assert "2024-05-14 " in out and "█" in out
    assert "Dashboard Viewed" in out


def test_version() -> None:
    code, out, _ = run("--version")
    assert code == 0
    assert out.startswith("cdpcli ")


def test_installed_executable_validates_stdin() -> None:
    exe = shutil.which("cdpcli", path=str(Path(sys.executable).parent)) or shutil.which("cdpcli")
    assert exe, "the cdpcli console script is not installed"
    env = {**os.environ, "NO_COLOR": "1"}
    done = subprocess.run(
        [exe, "validate", "--format", "json"],
        input=(SAMPLES / "server.jsonl").read_bytes(),
        capture_output=True,
        env=env,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    summary = json.loads(done.stdout.splitlines()[-1])
    assert summary["valid"] == summary["events_read"] == 7
    assert b"\x1b[" not in done.stderr  # NO_COLOR


def test_python_dash_m_runs() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "cdpcli", "validate", str(INVALID)],
        capture_output=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 1
    assert done.stdout.count(b": error: ") == 18
