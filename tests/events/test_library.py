"""`read_events`, `check_event`, `validate` and `inspect`: the events stage as library calls, the
same results as the commands print."""

from __future__ import annotations

import io
import json

import pytest
from typer.testing import CliRunner

import cdpcli
from cdpcli.cli.app import app
from tests.paths import SAMPLES


def cli(*args: str) -> list[str]:
    result = CliRunner().invoke(app, list(args))
    return result.stdout.splitlines()


def test_read_events_streams_events_and_problems_with_their_places() -> None:
    items = list(cdpcli.read_events([str(SAMPLES / "invalid.jsonl")]))
    assert items
    assert all(isinstance(item, cdpcli.Event | cdpcli.Problem) for item in items)
    assert [item.origin.line for item in items] == sorted(item.origin.line for item in items)
    stdin = io.BytesIO(b'{"type":"track","event":"E","userId":"u"}\nnot json\n')
    first, second = cdpcli.read_events(["-"], stdin=stdin)
    assert isinstance(first, cdpcli.Event) and first.data["event"] == "E"
    assert isinstance(second, cdpcli.Problem) and str(second.origin) == "<stdin>:2"


def test_read_events_names_a_missing_path_at_once() -> None:
    with pytest.raises(cdpcli.InputError, match="no such file or directory"):
        cdpcli.read_events(["/nonexistent/events.jsonl"])


def test_check_event_gives_the_problems_validate_reports() -> None:
    reported = {}
    for line in cli("validate", str(SAMPLES / "invalid.jsonl"), "--format", "json"):
        record = json.loads(line)
        if record["kind"] == "problem":
            reported.setdefault(record["line"], []).append((record["severity"], record["message"]))
    checked = 0
    for item in cdpcli.read_events([str(SAMPLES / "invalid.jsonl")]):
        if isinstance(item, cdpcli.Event):
            problems = cdpcli.check_event(item.data)  # as parsed JSON, away from its file
            assert [(p.severity, p.message) for p in problems] == reported.get(item.origin.line, [])
            assert {str(p.origin) for p in problems} <= {"<event>:1"}
            checked += 1
    assert checked > 5


def test_check_event_strict_turns_warnings_into_errors() -> None:
    event = {"type": "track", "event": "E", "userId": 42, "timestamp": "2024-05-01T00:00:00Z"}
    assert {p.severity for p in cdpcli.check_event(event)} == {"warning"}
    assert {p.severity for p in cdpcli.check_event(event, strict=True)} == {"error"}
    assert cdpcli.check_event({**event, "userId": "u", "messageId": "m"}) == []


@pytest.mark.parametrize("as_json", [False, True])
def test_validate_writes_the_report_lines_and_returns_the_summary(as_json: bool) -> None:
    lines: list[str] = []
    summary = cdpcli.validate([str(SAMPLES)], write=lines.append, as_json=as_json)
    printed = cli("validate", str(SAMPLES), *(["--format", "json"] if as_json else []))
    if as_json:
        assert lines == printed[:-1]
        assert summary.as_dict() == json.loads(printed[-1])
    else:
        assert lines == printed
    assert summary.invalid > 0 and summary.valid + summary.invalid == summary.events_read


def test_inspect_is_the_profile_the_command_prints() -> None:
    profile = cdpcli.inspect([str(SAMPLES)])
    assert profile.as_dict() == json.loads(cli("inspect", str(SAMPLES), "--format", "json")[0])
    assert profile.top_events == profile.events.most_common(profile.top_count)


def test_parse_time_ms_reads_times_as_events_do() -> None:
    assert cdpcli.parse_time_ms("2024-05-01") == 1714521600000
    assert cdpcli.parse_time_ms("2024-05-01T02:00:00+02:00") == 1714521600000
    assert cdpcli.parse_time_ms("yesterday") is None
