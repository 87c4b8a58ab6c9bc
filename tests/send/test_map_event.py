"""`cdpcli.map_event`: the requests one event becomes, exactly the lines `send --dry-run` prints
for it, with no secret and no connection."""

from __future__ import annotations

import socket
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

import cdpcli
from cdpcli.cli.app import app
from cdpcli.jsonio import dumps, loads
from tests.paths import REPO, SAMPLES

EXAMPLE = REPO / "config.example.yaml"

SIGNUP = {
    "type": "track",
    "event": "API Call",
    "userId": "u1",
    "messageId": "m-1",
    "timestamp": "2024-05-01T12:00:00Z",
    "properties": {"plan": "pro", "subscription_id": "sub_1", "bytes": 7},
}


@pytest.fixture(autouse=True)
def no_network(monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(*_args: Any, **_kwargs: Any) -> None:
        raise AssertionError("map_event tried to open a connection")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)


def dry_run_lines(tmp_path: Path, event: dict[str, Any], *options: str) -> list[bytes]:
    """What `cdpcli send --dry-run` prints for an input of this one event."""
    one = tmp_path / "one.jsonl"
    one.write_text(dumps(event) + "\n", encoding="utf-8")
    result = CliRunner().invoke(
        app, ["send", str(one), "-c", str(EXAMPLE), "--dry-run", "-j", "1", *options]
    )
    assert result.exit_code in (0, 1), result.stderr
    return [line.encode("utf-8") for line in result.stdout.splitlines()]


def sample_events() -> list[dict[str, Any]]:
    events = []
    for path in sorted(SAMPLES.glob("*.jsonl")):
        for line in path.read_bytes().splitlines():
            try:
                value = loads(line)
            except ValueError:  # the samples hold lines that are not JSON, on purpose
                continue
            if isinstance(value, dict):
                events.append(value)
    return events


def test_an_event_becomes_exactly_its_dry_run_lines(tmp_path: Path) -> None:
    config = cdpcli.load_config(EXAMPLE)
    events = sample_events()
    assert len(events) > 20
    compared = 0
    for event in events:
        requests = cdpcli.map_event(config, event)
        assert [r.line for r in requests] == dry_run_lines(tmp_path, event), event
        compared += bool(requests)
    assert compared > 10  # most sample events do become requests


def test_a_request_is_the_parsed_line(tmp_path: Path) -> None:
    requests = cdpcli.map_event(cdpcli.load_config(EXAMPLE), SIGNUP)
    assert [(r.destination, r.kind) for r in requests] == [
        ("mixpanel", "mixpanel"),
        ("billing", "lago"),
    ]
    for request in requests:
        assert loads(request.line) == {
            "destination": request.destination,
            "kind": request.kind,
            "method": request.method,
            "url": request.url,
            "headers": dict(request.headers),
            "body": request.body,
        }
        assert request.headers["Authorization"] == "***"
    lago = requests[1]
    assert lago.url == "https://api.getlago.com/api/v1/events/batch"
    assert lago.body["events"][0]["external_subscription_id"] == "sub_1"
    assert "line=" not in repr(lago)


def test_an_invalid_event_becomes_no_request_and_explain_says_why() -> None:
    explained: list[cdpcli.Explained] = []
    event = {"type": "track", "userId": "u1", "timestamp": "2024-05-01T12:00:00Z"}
    requests = cdpcli.map_event(cdpcli.load_config(EXAMPLE), event, explain=explained.append)
    assert requests == []
    assert explained[0].problems == cdpcli.check_event(event)
    assert any(p.severity == "error" for p in explained[0].problems)
    assert str(explained[0].event.origin) == "<event>:1"


def test_options_filter_as_in_a_send(tmp_path: Path) -> None:
    config = cdpcli.load_config(EXAMPLE)
    only_billing = cdpcli.SendOptions(to=frozenset({"billing"}))
    requests = cdpcli.map_event(config, SIGNUP, options=only_billing)
    assert [r.destination for r in requests] == ["billing"]
    assert [r.line for r in requests] == dry_run_lines(tmp_path, SIGNUP, "--to", "billing")
    later = cdpcli.SendOptions(since_ms=cdpcli.parse_time_ms("2025-01-01"))
    assert cdpcli.map_event(config, SIGNUP, options=later) == []
    with pytest.raises(cdpcli.UsageError, match="--to nowhere: no such destination"):
        cdpcli.map_event(config, SIGNUP, options=cdpcli.SendOptions(to=frozenset({"nowhere"})))


def test_a_batch_envelope_becomes_the_requests_of_its_items() -> None:
    config = cdpcli.load_config(EXAMPLE)
    second = {**SIGNUP, "messageId": "m-2", "userId": "u2"}
    envelope = {"batch": [SIGNUP, second], "context": {"library": {"name": "analytics-node"}}}
    requests = cdpcli.map_event(config, envelope)
    lago = [r for r in requests if r.destination == "billing"]
    assert [e["transaction_id"] for e in lago[0].body["events"]] == ["m-1", "m-2"]
