"""The summary counted once per input event (`SendSummary.events`, the summary line): every event
read is invalid or in exactly one of delivered, duplicates, rejected, skipped, not sent, its worst
outcome over its routes; so they add up to `events_read`, whatever the routes did."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import pytest

from cdpcli.send.pipeline import SendOptions, SendSummary
from cdpcli.send.run import SendRequest, send
from tests.fakes import LAGO_BATCH, FakeLago, FakeMixpanel, Fault
from tests.fakes.sends import SECRETS, write_config
from tests.fast_cli import fast_policy
from tests.paths import REPO

EXAMPLE = REPO / "config.example.yaml"


def adds_up(summary: SendSummary) -> None:
    events = summary.events
    assert summary.invalid + events.total == summary.events_read, (summary.invalid, events)


def track(n: int, **extra: object) -> str:
    event = {
        "type": "track",
        "event": "API Call",
        "userId": f"u{n}",
        "messageId": f"m{n}",
        "timestamp": "2024-05-01T00:00:00Z",
        "properties": {"metric": "api_calls"},
        **extra,
    }
    return json.dumps(event) + "\n"


def test_the_sample_events_add_up_by_event_not_by_route() -> None:
    result = send(
        SendRequest(paths=[str(REPO / "sample_events")], config_path=EXAMPLE, dry_run=True),
        write_request=lambda _line: None,
    )
    summary = result.summary
    adds_up(summary)
    # 33 valid events make 36 route deliveries: the line counts events, the table routes.
    assert (summary.events_read, summary.invalid) == (51, 18)
    assert summary.delivered == 36
    assert (summary.events.delivered, summary.events.skipped) == (31, 2)
    assert summary.events.delivered < summary.delivered
    assert summary.seconds > 0


def test_an_event_rejected_by_one_route_and_delivered_by_another_is_rejected(
    tmp_path: Path,
) -> None:
    config = tmp_path / "cdpcli.yaml"
    config.write_text(
        """\
version: 1
destinations:
  mixpanel: {kind: mixpanel, project_id: "1"}
  billing: {kind: lago}
routes:
  - {name: analytics, to: mixpanel}
  - name: usage
    to: billing
    when: {type: track}
    map: {code: "{{ properties.metric }}"}
  - {name: never, to: billing, when: {type: alias}}
""",
        encoding="utf-8",
    )
    events = tmp_path / "events.jsonl"
    lines = [track(0), track(1, properties={"metric": 7}), track(2), "not json\n"]
    identify = {"type": "identify", "userId": "u9", "timestamp": "2024-05-01T00:00:00Z"}
    lines.append(json.dumps(identify) + "\n")
    events.write_text("".join(lines), encoding="utf-8")
    summary = send(
        SendRequest(paths=[str(events)], config_path=config, dry_run=True),
        write_request=lambda _line: None,
    ).summary
    adds_up(summary)
    assert summary.rejected == 1 and summary.delivered == 5  # routes
    outcomes = summary.events
    # The identify (no traits) is skipped by its one route; the track with a numeric metric
    # delivered to Mixpanel and rejected by Lago's mapping is rejected.
    assert (outcomes.delivered, outcomes.rejected, outcomes.skipped) == (2, 1, 1)
    assert summary.invalid == 1


@pytest.fixture
def fakes() -> tuple[FakeMixpanel, FakeLago]:
    with FakeMixpanel() as mixpanel, FakeLago() as lago:
        yield mixpanel, lago  # type: ignore[misc]


def test_a_real_send_partly_rejected_then_sent_again_as_duplicates_adds_up(
    tmp_path: Path, fakes: tuple[FakeMixpanel, FakeLago]
) -> None:
    mixpanel, lago = fakes
    config = write_config(tmp_path, mixpanel, lago)
    events = tmp_path / "events.jsonl"
    events.write_text("".join(track(n) for n in range(120)), encoding="utf-8")
    mixpanel.poison.update({"m3", "m100"})
    request = SendRequest(paths=[str(events)], config_path=config, retry=fast_policy(8))

    first = send(request, environ=SECRETS).summary
    adds_up(first)
    assert (first.events.delivered, first.events.rejected) == (118, 2)
    assert first.delivered == 118 + 120  # Mixpanel's and Lago's

    # Again, to Lago only: every event is a duplicate there.
    again = replace(request, options=SendOptions(to=frozenset({"billing"})))
    second = send(again, environ=SECRETS).summary
    adds_up(second)
    assert (second.events.duplicates, second.duplicates, second.events.delivered) == (120, 120, 0)


def test_a_stopped_run_counts_each_unsent_event_once(
    tmp_path: Path, fakes: tuple[FakeMixpanel, FakeLago]
) -> None:
    mixpanel, lago = fakes
    config = write_config(tmp_path, mixpanel, lago)
    events = tmp_path / "events.jsonl"
    events.write_text("".join(track(n) for n in range(300)), encoding="utf-8")
    lago.fail(LAGO_BATCH, Fault.slow(0.0), Fault.http(401))
    request = SendRequest(
        paths=[str(events)], config_path=config, retry=fast_policy(8), concurrency=1
    )
    result = send(request, environ=SECRETS)
    assert result.error is not None
    summary = result.summary
    adds_up(summary)
    assert 0 < summary.events.not_sent <= summary.not_sent
