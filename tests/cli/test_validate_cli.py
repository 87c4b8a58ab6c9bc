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


def _no_message_ids(count: int) -> bytes:
    """`count` track events without `messageId`, every tenth with a numeric userId."""
    return b"".join(
        b'{"type":"track","event":"A","userId":%s,"timestamp":"2024-01-01T00:00:00Z"}\n'
        % (str(n).encode() if n % 10 == 0 else b'"u"')
        for n in range(count)
    )


def test_repeated_problems_are_grouped_in_the_text_report() -> None:
    """50,000 events without messageId: a handful of lines, not 50,000."""
    code, out, err = run("validate", "-", stdin=_no_message_ids(50_000) + b"oops\n")
    assert code == 1, err
    missing = "warning: messageId: missing; a deterministic id is derived from the event's content"
    assert out.splitlines() == [
        '<stdin>:1: warning: userId: numeric id 0; sent as the string "0"',
        f"<stdin>:1: {missing}",
        f"<stdin>:2: {missing}",
        f"<stdin>:3: {missing}",
        '<stdin>:11: warning: userId: numeric id 10; sent as the string "10"',
        '<stdin>:21: warning: userId: numeric id 20; sent as the string "20"',
        "<stdin>:50001: error: not JSON: unexpected character, expected a JSON value at column 1",
        "... and 4,997 more like it (the last at <stdin>:49991): "
        "warning: userId: numeric id; sent as a string",
        f"... and 49,997 more like it (the last at <stdin>:50000): {missing}",
    ]
    assert "54,994 problems not listed" in err
    assert "`--format json` lists every one" in err
    assert "50,001 events read: 50,000 valid, 1 invalid, 55,000 warnings" in err


def test_json_report_lists_every_repeated_problem() -> None:
    code, out, err = run("validate", "-", "--format", "json", stdin=_no_message_ids(5_000))
    assert code == 0, err
    records = [json.loads(line) for line in out.splitlines()]
    problems = [r for r in records if r["kind"] == "problem"]
    assert len(problems) == 5_000 + 500
    assert [p["line"] for p in problems if p["field"] == "messageId"] == list(range(1, 5_001))
    assert records[-1]["warnings"] == 5_500
    assert "not listed" not in err


def test_nothing_repeated_nothing_more() -> None:
    code, out, err = run("validate", "-", stdin=_no_message_ids(2))
    assert code == 0, err
    assert len(out.splitlines()) == 3  # a numeric id, two missing messageIds
    assert "more like it" not in out
    assert "not listed" not in err


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
