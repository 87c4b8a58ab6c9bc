"""The pace of real sends against the fakes on 127.0.0.1 (PRODUCT.md §6.1): a fake enforcing a
rolling quota of uncompressed bytes (`tests.fakes.Quota`), reached with a static limit equal to
it and with the adaptive pace alone; `--max-rate` measured from the fake's arrival times; what
a destination waits for and the `-v` line of each attempt, on a terminal and on a pipe.

The quota runs are scaled down in time: the fake, the pacer and the sleeps share a clock that
runs `SCALE` times faster than the wall clock, so a rolling minute lasts 3 real seconds and
`max_bytes_per_minute` keeps its meaning. The other tests run in real time, 2-3 s each."""

from __future__ import annotations

import os
import re
import sys
import time
from collections.abc import Iterator, Mapping
from pathlib import Path

import pytest

from cdpcli import jsonio
from cdpcli.retry import RetryPolicy
from cdpcli.routing.config import Config
from cdpcli.secrets.redact import Redactor
from cdpcli.send.delivery import DestinationRuntime
from cdpcli.send.http import HttpDeliverer
from cdpcli.send.pace import Pacing
from cdpcli.send.run import SendRequest, send
from cdpcli.send.transport import make_client
from tests.fakes import (
    LAGO_API_KEY,
    LAGO_BATCH,
    MIXPANEL_IMPORT,
    MIXPANEL_SA_SECRET,
    MIXPANEL_SA_USER,
    MIXPANEL_TOKEN,
    FakeLago,
    FakeMixpanel,
    Fault,
    Quota,
)
from tests.fakes.sends import SECRETS, cli, write_config
from tests.processes import stderr_of

SCALE = 20.0
CONCURRENCY = 4


class ScaledTime:
    """Epoch seconds running `SCALE` times faster than the wall clock, from now on."""

    def __init__(self) -> None:
        self.origin = time.time()

    def __call__(self) -> float:
        return self.origin + (time.time() - self.origin) * SCALE

    def sleep(self, seconds: float) -> None:
        time.sleep(seconds / SCALE)


def track_events(path: Path, count: int) -> Path:
    with path.open("wb") as handle:
        for n in range(count):
            event = {
                "type": "track",
                "event": "API Call",
                "userId": f"user-{n % 40}",
                "messageId": f"msg-{n:06d}",
                "timestamp": "2024-05-01T12:00:00.000Z",
                "properties": {"endpoint": "/v1/reports", "status": 200, "region": "eu-west-1"},
            }
            handle.write(jsonio.dumps_bytes(event) + b"\n")
    return path


def lago_config(directory: Path, lago: FakeLago, options: str = "") -> Path:
    path = directory / "cdpcli.yaml"
    path.write_text(
        f"version: 1\ndestinations:\n  billing:\n    kind: lago\n    api_url: {lago.url}\n"
        f"    batch_size: 20\n{options}routes:\n  - name: usage\n    to: billing\n",
        encoding="utf-8",
    )
    return path


def scaled_send(config: Path, events: Path, clock: ScaledTime) -> dict[str, object]:
    """A real send with the pacer, the backoff and the sleeps on the scaled clock."""

    def deliverer(_config: Config, destinations: Mapping[str, DestinationRuntime]) -> HttpDeliverer:
        limits = {name: d.destination.rate_limits() for name, d in destinations.items()}
        client, sockets = make_client(CONCURRENCY, (), environ={})  # loopback: no proxy
        return HttpDeliverer(
            client,
            concurrency=CONCURRENCY,
            policy=RetryPolicy(),
            redactor=Redactor(()),
            sleep=clock.sleep,
            pacing=Pacing(limits, clock=clock),
            abandon=sockets.abandon,
        )

    result = send(
        SendRequest(paths=[str(events)], config_path=config, concurrency=CONCURRENCY),
        environ={"CDPCLI_BILLING_API_KEY": LAGO_API_KEY},
        deliverer_factory=deliverer,
    )
    assert result.error is None, result.error
    return result.summary.as_dict()


def stored_once(lago: FakeLago, count: int) -> None:
    ids = lago.transaction_ids()
    assert len(ids) == count and set(ids) == {f"msg-{n:06d}" for n in range(count)}


def quota_for(events: Path, lago: FakeLago, minutes: float) -> int:
    """The quota whose minimum time for these events is `minutes` (their body bytes / quota),
    from the body sizes of a dry run."""
    lines: list[bytes] = []
    config = lago_config(events.parent, lago)
    send(
        SendRequest(paths=[str(events)], config_path=config, dry_run=True),
        write_request=lines.append,
    )
    total = sum(len(jsonio.dumps_bytes(jsonio.loads(line)["body"])) for line in lines)
    return int(total / minutes)


def test_a_static_limit_equal_to_the_quota_stores_every_event_once_with_under_1_percent_429s(
    tmp_path: Path,
) -> None:
    events = track_events(tmp_path / "events.jsonl", 6000)  # 300 requests of 20
    clock = ScaledTime()
    with FakeLago(clock=clock) as probe:
        quota = quota_for(events, probe, minutes=1.5)  # 90 scaled seconds: 4.5 s
    with FakeLago(clock=clock, quota=Quota(size=quota, window=60.0)) as lago:
        config = lago_config(tmp_path, lago, f"    max_bytes_per_minute: {quota}\n")
        summary = scaled_send(config, events, clock)
        assert lago.errors == []
    stored_once(lago, 6000)
    assert summary["delivered"] == 6000 and summary["duplicates"] == 0
    requests = lago.requests
    assert lago.throttled() < 0.01 * len(requests), (lago.throttled(), len(requests))
    assert summary["throttled"] == lago.throttled()
    # smooth from the start: the first 20 s (of a minute's quota) carry about a third of it
    start = requests[0].at
    early = sum(len(r.raw) for r in requests if r.at < start + 20 and r.status == 200)
    assert early < 0.45 * quota


def test_the_adaptive_pace_alone_stores_every_event_once_with_few_429s(tmp_path: Path) -> None:
    """No static limit: the first 429s come when the quota is full. Each cut of the pace costs
    at most CONCURRENCY 429s (the attempts already in flight, which a cut cannot recall), and
    this run, shorter than two minutes, needs at most two cuts: after the first one the pace is
    half what filled the quota, below what the rolling window gives back."""
    events = track_events(tmp_path / "events.jsonl", 3000)  # 150 requests of 20
    clock = ScaledTime()
    with FakeLago(clock=clock) as probe:
        quota = quota_for(events, probe, minutes=1.5)
    with FakeLago(clock=clock, quota=Quota(size=quota, window=60.0)) as lago:
        summary = scaled_send(lago_config(tmp_path, lago), events, clock)
        assert lago.errors == []
    stored_once(lago, 3000)
    assert summary["delivered"] == 3000 and summary["duplicates"] == 0
    assert 0 < lago.throttled() <= 2 * CONCURRENCY
    assert summary["throttled"] == lago.throttled()
    assert summary["retries"] >= lago.throttled()


def test_max_rate_holds_every_destination_within_15_percent(tmp_path: Path) -> None:
    events = track_events(tmp_path / "events.jsonl", 4000)
    with FakeMixpanel() as mixpanel, FakeLago() as lago:
        config = write_config(tmp_path, mixpanel, lago)
        code, summary, _ = cli(str(events), "-c", str(config), "--max-rate", "2000")
    assert code == 0, summary
    assert summary["destinations"]["billing"]["delivered"] == 4000
    for fake, path in ((lago, LAGO_BATCH), (mixpanel, MIXPANEL_IMPORT)):
        arrivals = [
            (r.at, len(r.body["events"] if path == LAGO_BATCH else r.body))
            for r in fake.requests_to(path)
        ]
        assert sum(count for _, count in arrivals) == 4000
        (first, counted), *_ = arrivals
        rate = (4000 - counted) / (arrivals[-1][0] - first)  # what came after the first
        assert 2000 * 0.85 <= rate <= 2000 * 1.15, (path, rate)


# --- visible waiting and -v ------------------------------------------------------------------

SECRET_VALUES = (MIXPANEL_SA_SECRET, MIXPANEL_SA_USER, MIXPANEL_TOKEN, LAGO_API_KEY)


def run_cli(args: list[str], *, terminal: bool) -> tuple[int, str]:
    """`python -m tests.fast_cli send ARGS` with stderr on a pseudo-terminal or a pipe; its exit
    code and stderr (terminal control sequences removed)."""
    env = {**os.environ, **SECRETS, "TERM": "xterm-256color", "COLUMNS": "200"}
    env.pop("NO_COLOR", None)
    argv = [sys.executable, "-m", "tests.fast_cli", "send", *args]
    return stderr_of(argv, env, terminal=terminal)


@pytest.fixture
def throttled_once(tmp_path: Path) -> Iterator[tuple[list[str], FakeMixpanel, FakeLago]]:
    """3 events to both fakes, Mixpanel's first /import answered 429 `Retry-After: 1`."""
    events = track_events(tmp_path / "events.jsonl", 3)
    with FakeMixpanel() as mixpanel, FakeLago() as lago:
        mixpanel.fail(MIXPANEL_IMPORT, Fault.rate_limited(retry_after="1"))
        config = write_config(tmp_path, mixpanel, lago)
        yield [str(events), "-c", str(config)], mixpanel, lago


Throttled = tuple[list[str], FakeMixpanel, FakeLago]


@pytest.mark.parametrize("terminal", [True, False], ids=["terminal", "pipe"])
def test_a_rate_limit_pause_and_each_attempt_are_shown_without_secrets(
    throttled_once: Throttled, terminal: bool
) -> None:
    args, mixpanel, lago = throttled_once
    code, stderr = run_cli([*args, "-v"], terminal=terminal)
    assert code == 0, stderr
    assert "mixpanel: 429, retrying in 1 s (attempt 2 of 8); pace cut to " in stderr
    url = re.escape(f"{mixpanel.url}/import?strict=1&project_id=12345")
    sizes = r"[\d,]+ bytes \([\d,]+ gzipped\) · [\d,]+ ms"
    for status, attempt in (("429", 1), ("200", 2)):
        line = rf"mixpanel: POST {url} → {status} · 3 records · {sizes} · attempt {attempt} of 8"
        assert re.search(line, stderr), stderr
    lago_url = re.escape(f"{lago.url}/api/v1/events/batch")
    assert re.search(rf"billing: POST {lago_url} → 200 · 3 records · [\d,]+ bytes · ", stderr)
    for secret in SECRET_VALUES:
        assert secret not in stderr


def test_without_verbose_only_the_waiting_is_shown(throttled_once: Throttled) -> None:
    args, _, _ = throttled_once
    code, stderr = run_cli(args, terminal=False)
    assert code == 0
    assert stderr.count("mixpanel: 429, retrying in 1 s (attempt 2 of 8)") == 1
    assert "POST" not in stderr
    assert "retries" in stderr and "429s" in stderr  # the summary table's columns


def test_quiet_shows_no_waiting_but_verbose_lines_still(throttled_once: Throttled) -> None:
    args, _, _ = throttled_once
    code, stderr = run_cli([*args, "-q", "-v"], terminal=False)
    assert code == 0
    assert "retrying" not in stderr
    assert stderr.count(" → ") == 3  # two attempts to /import, one to Lago
