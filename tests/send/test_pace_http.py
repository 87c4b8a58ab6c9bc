"""The HTTP deliverer with a pacer (`cdpcli.send.pace`) and a watch (`cdpcli.send.watch`), over
`httpx.MockTransport` and a clock that the sleeps move: every attempt waits for its
destination's pace; a 429 waits for the pause the server asked for and no backoff on top; other
failures keep the backoff; what each worker waits for and each attempt's values are reported,
with no secret in them; retries and 429s are counted. No real time."""

from __future__ import annotations

import gzip
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

import httpx
import pytest

from cdpcli.destinations.base import RateLimits
from cdpcli.errors import DeliveryError
from cdpcli.retry import RetryPolicy
from cdpcli.secrets.redact import Redactor
from cdpcli.send.delivery import Delivery, DeliveryResult, ItemResult
from cdpcli.send.http import HttpDeliverer
from cdpcli.send.pace import Pacing
from cdpcli.send.watch import Attempt, Watch
from tests.send.test_http import (
    ALL_SECRETS,
    MP_SECRETS,
    Reply,
    Server,
    lago_events,
    lago_runtime,
    make_batch,
    mixpanel_runtime,
    mp_events,
    ok,
    status,
)


class Clock:
    """The time of the test: sleeping moves it (from any thread)."""

    def __init__(self) -> None:
        self.now = 1000.0
        self.lock = threading.Lock()
        self.sleeps: list[float] = []

    def __call__(self) -> float:
        with self.lock:
            return self.now

    def sleep(self, seconds: float) -> None:
        with self.lock:
            self.sleeps.append(round(seconds, 6))
            self.now += seconds


@dataclass
class Rig:
    server: Server
    deliverer: HttpDeliverer
    clock: Clock
    pacing: Pacing
    statuses: list[tuple[str, str]] = field(default_factory=list)
    attempts: list[Attempt] = field(default_factory=list)
    times: list[float] = field(default_factory=list)  # the clock at each request
    hosts: list[str] = field(default_factory=list)  # the host of each request


@pytest.fixture
def rig_factory() -> Iterator[Callable[..., Rig]]:
    made: list[HttpDeliverer] = []

    def make(
        *replies: Reply,
        limits: dict[str, RateLimits] | None = None,
        attempts: int = 8,
        concurrency: int = 1,
        rand: float = 1.0,
    ) -> Rig:
        clock = Clock()
        server = Server(list(replies))
        rig = Rig(server, None, clock, Pacing(limits, clock=clock))  # type: ignore[arg-type]

        def transport(request: httpx.Request) -> httpx.Response:
            rig.times.append(clock())
            rig.hosts.append(request.url.host)
            return server(request)

        watch = Watch(
            status=lambda name, text: rig.statuses.append((name, text)),
            attempt=rig.attempts.append,
            clock=clock,
        )
        rig.deliverer = HttpDeliverer(
            httpx.Client(transport=httpx.MockTransport(transport)),
            concurrency=concurrency,
            policy=RetryPolicy(max_attempts=attempts, base=2.0, cap=60.0),
            redactor=Redactor.from_resolved(ALL_SECRETS),
            rand=lambda: rand,
            sleep=clock.sleep,
            pacing=rig.pacing,
            watch=watch,
        )
        made.append(rig.deliverer)
        return rig

    yield make
    for deliverer in made:
        deliverer.close()


def run_all(rig: Rig, *deliveries: Delivery) -> list[DeliveryResult]:
    results: list[DeliveryResult] = []
    for delivery in deliveries:
        results += rig.deliverer.submit(delivery)
    return results + rig.deliverer.finish()


def test_every_attempt_waits_for_its_destinations_pace(rig_factory: Callable[..., Rig]) -> None:
    rig = rig_factory(ok(), limits={"billing": RateLimits(max_events_per_second=100)})
    runtime = lago_runtime()
    run_all(rig, *(Delivery(runtime, make_batch("batch", lago_events(50), 11)) for _ in range(4)))
    assert [t - 1000.0 for t in rig.times] == pytest.approx([0.5, 1.0, 1.5, 2.0])


def test_a_429_waits_for_the_servers_hint_and_no_backoff_on_top(
    rig_factory: Callable[..., Rig],
) -> None:
    # rand 1.0: a backoff would be the whole ceiling, 2 s, 4 s, 8 s
    rig = rig_factory(
        status(429, headers={"Retry-After": "1"}),
        status(429, headers={"Retry-After": "1"}),
        status(429, headers={"Retry-After": "1"}),
        ok(),
    )
    (result,) = run_all(rig, Delivery(mixpanel_runtime(), make_batch("import", mp_events(2))))
    assert result.results == [ItemResult("delivered")] * 2
    assert (result.requests, result.retries, result.throttled) == (4, 3, 3)
    gaps = [later - earlier for earlier, later in zip(rig.times, rig.times[1:], strict=False)]
    # the hint, not max(2 s backoff, hint), then the body at the cut pace: 1 kB/s, its floor
    size = len(gzip.decompress(rig.server.requests[0].content))
    assert gaps[0] == pytest.approx(1.0 + size / 1000)
    assert all(gap < 2.0 for gap in gaps)


def test_a_429_without_a_hint_pauses_for_the_backoff_once(rig_factory: Callable[..., Rig]) -> None:
    rig = rig_factory(status(429), ok(), rand=0.5)
    run_all(rig, Delivery(mixpanel_runtime(), make_batch("import", mp_events(2))))
    size = len(gzip.decompress(rig.server.requests[0].content))
    assert rig.times[1] - rig.times[0] == pytest.approx(0.5 * 2.0 + size / 1000)


def test_a_500_keeps_the_backoff_and_does_not_cut_the_pace(rig_factory: Callable[..., Rig]) -> None:
    rig = rig_factory(status(500), ok(), limits={"mp": RateLimits(max_events_per_second=1000)})
    (result,) = run_all(rig, Delivery(mixpanel_runtime(), make_batch("import", mp_events(2))))
    assert 2.0 in rig.clock.sleeps  # the full backoff, rand 1.0
    assert (result.retries, result.throttled) == (1, 0)
    assert rig.pacing.pacer("mp").cuts == 0


def test_a_pause_holds_every_worker_of_the_destination_and_no_other(
    rig_factory: Callable[..., Rig],
) -> None:
    def reply(request: httpx.Request) -> httpx.Response:
        if request.url.host == "mp.test" and not getattr(reply, "done", False):
            reply.done = True  # type: ignore[attr-defined]
            return status(429, headers={"Retry-After": "30"})
        return ok()

    rig = rig_factory(reply, concurrency=4)
    mixpanel, lago = mixpanel_runtime(), lago_runtime()
    deliveries = [Delivery(mixpanel, make_batch("import", mp_events(2, f"m{n}"))) for n in range(3)]
    deliveries += [Delivery(lago, make_batch("batch", lago_events(1), 11)) for _ in range(3)]
    run_all(rig, *deliveries)
    sent = list(zip(rig.hosts, rig.times, strict=True))
    throttled_at, *mixpanel_later = [at for host, at in sent if host == "mp.test"]
    assert len(mixpanel_later) == 3 and min(mixpanel_later) >= throttled_at + 30
    assert rig.pacing.pacer("mp").cuts == 1
    billing = rig.pacing.pacer("billing")  # not paused, not cut
    assert billing.rates() == (None, None)
    assert billing.reserve(1, 100).at == rig.clock()


def test_status_says_what_each_destination_waits_for_and_when_it_no_longer_does(
    rig_factory: Callable[..., Rig],
) -> None:
    rig = rig_factory(
        status(429, headers={"Retry-After": "8"}),
        httpx.ConnectError("[Errno 111] Connection refused"),
        ok(),
    )
    run_all(rig, Delivery(mixpanel_runtime(), make_batch("import", mp_events(2))))
    assert rig.statuses[0] == (
        "mp",
        "429, retrying in 8 s (attempt 2 of 8); pace cut to 1 kB/s",
    )
    assert rig.statuses[1] == ("mp", "")
    assert rig.statuses[2] == (
        "mp",
        "ConnectError: [Errno 111] Connection refused, retrying in 4 s (attempt 3 of 8)",
    )
    assert rig.statuses[-1] == ("mp", "")


def test_a_wait_for_the_pace_is_reported(rig_factory: Callable[..., Rig]) -> None:
    rig = rig_factory(ok(), limits={"billing": RateLimits(max_events_per_second=10)})
    run_all(rig, Delivery(lago_runtime(), make_batch("batch", lago_events(20), 11)))
    assert rig.statuses == [("billing", "pacing at 10 events/s"), ("billing", "")]


def test_each_attempt_is_reported_with_its_values_and_no_secret(
    rig_factory: Callable[..., Rig],
) -> None:
    rig = rig_factory(status(503), httpx.ReadTimeout("timed out"), ok(), attempts=3)
    run_all(rig, Delivery(mixpanel_runtime(), make_batch("import", mp_events(3))))
    first, second, third = rig.attempts
    assert (first.status, first.error, first.attempt, first.max_attempts) == (503, None, 1, 3)
    assert (second.status, second.error) == (None, "ReadTimeout: timed out")
    assert third.status == 200
    assert first.destination == "mp" and first.method == "POST" and first.records == 3
    assert first.url == "https://mp.test/import?strict=1&project_id=42"
    body = rig.server.requests[0].content
    assert (first.size, first.sent) == (len(gzip.decompress(body)), len(body))
    text = repr(rig.attempts) + repr(rig.statuses)
    for secret in MP_SECRETS.values():
        assert secret not in text


def test_retries_and_429s_of_a_failed_batch_still_count(rig_factory: Callable[..., Rig]) -> None:
    runtime = mixpanel_runtime()
    rig = rig_factory(status(429, headers={"Retry-After": "0"}), attempts=3)
    with pytest.raises(DeliveryError):
        run_all(rig, Delivery(runtime, make_batch("import", mp_events(2))))
    rig.deliverer.abort()
    stats = runtime.stats
    assert (stats.requests, stats.retries, stats.throttled) == (3, 2, 3)
