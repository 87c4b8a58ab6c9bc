"""HttpDeliverer over `httpx.MockTransport`: verdict paths, retry timing, splits, Lago's resends,
credentials stops and secret hygiene (PRODUCT.md §6; reference/mixpanel.md §1.3, §3g;
reference/lago.md §6-§7). No real sleeps: `sleep` and `rand` are injected."""

from __future__ import annotations

import gzip
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest

from cdpcli import jsonio
from cdpcli.destinations.lago.destination import LagoDestination
from cdpcli.destinations.mixpanel.destination import MixpanelDestination
from cdpcli.errors import CredentialsError, DeliveryError, ExitCode
from cdpcli.retry import RetryPolicy
from cdpcli.secrets.redact import Redactor
from cdpcli.send.batching import Batch, Batcher, array_bytes
from cdpcli.send.delivery import (
    Delivery,
    DeliveryResult,
    DestinationRuntime,
    DestinationStats,
    ItemResult,
)
from cdpcli.send.dry_run import request_line
from cdpcli.send.http import HttpDeliverer

MP_SECRETS = {
    "service_account_username": "sa-user.42",
    "service_account_secret": "sa-s3cret-value",
    "project_token": "tok-abcdef",
}
LAGO_SECRETS = {"api_key": "lago-key-123456"}
ALL_SECRETS = {"mp": MP_SECRETS, "billing": LAGO_SECRETS}
MP_URL = "https://mp.test"
LAGO_URL = "https://lago.test"
LAGO_PATH = "/api/v1/events/batch"


def _where(key: str) -> str:
    return f"cfg.yaml:1: key `{key}`"


def mixpanel_runtime() -> DestinationRuntime:
    options = MixpanelDestination.parse_options({"project_id": "42", "api_url": MP_URL}, _where)
    destination = MixpanelDestination("mp", options, MP_SECRETS)
    return DestinationRuntime(
        destination=destination,
        batcher=Batcher(destination.endpoints()),
        stats=DestinationStats(kind="mixpanel"),
    )


def lago_runtime() -> DestinationRuntime:
    options = LagoDestination.parse_options({"api_url": LAGO_URL}, _where)
    destination = LagoDestination("billing", options, LAGO_SECRETS)
    return DestinationRuntime(
        destination=destination,
        batcher=Batcher(destination.endpoints(), overhead={"batch": 11}),
        stats=DestinationStats(kind="lago"),
    )


def make_batch(endpoint: str, items: list[dict[str, Any]], overhead: int = 0) -> Batch:
    encoded = [jsonio.dumps_bytes(item) for item in items]
    return Batch(
        endpoint=endpoint,
        tags=list(range(len(items))),
        payload_bytes=array_bytes(len(e) for e in encoded) + overhead,
        encoded=encoded,
    )


def mp_events(count: int, prefix: str = "e") -> list[dict[str, Any]]:
    return [
        {
            "event": "Seat Added",
            "properties": {
                "time": 1_714_521_600_000 + i,
                "distinct_id": "u1",
                "$insert_id": f"{prefix}{i}",
            },
        }
        for i in range(count)
    ]


def lago_events(count: int) -> list[dict[str, Any]]:
    return [
        {"transaction_id": f"t{i}", "external_subscription_id": "sub1", "code": "api_calls"}
        for i in range(count)
    ]


Reply = httpx.Response | Exception | Callable[[httpx.Request], httpx.Response]


@dataclass
class Server:
    """A scripted MockTransport: replies consumed in order (the last one repeats)."""

    replies: list[Reply]
    requests: list[httpx.Request] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def __call__(self, request: httpx.Request) -> httpx.Response:
        with self.lock:
            self.requests.append(request)
            reply = self.replies.pop(0) if len(self.replies) > 1 else self.replies[0]
        if isinstance(reply, Exception):
            raise reply
        if isinstance(reply, httpx.Response):
            return reply
        return reply(request)

    def bodies(self) -> list[Any]:
        return [jsonio.loads(_plain(r)) for r in self.requests]


def _plain(request: httpx.Request) -> bytes:
    if request.headers.get("content-encoding") == "gzip":
        return gzip.decompress(request.content)
    return request.content


def ok() -> httpx.Response:
    return httpx.Response(200, json={"code": 200, "status": "OK"})


def status(code: int, body: Any = None, headers: dict[str, str] | None = None) -> httpx.Response:
    return httpx.Response(code, json=body if body is not None else {"error": "x"}, headers=headers)


@dataclass
class Rig:
    server: Server
    deliverer: HttpDeliverer
    sleeps: list[float]


@pytest.fixture
def rig_factory() -> Iterator[Callable[..., Rig]]:
    made: list[HttpDeliverer] = []

    def make(
        *replies: Reply,
        attempts: int = 8,
        concurrency: int = 1,
        rand: float = 0.5,
        real_sleep: bool = False,
    ) -> Rig:
        server = Server(list(replies))
        sleeps: list[float] = []
        client = httpx.Client(transport=httpx.MockTransport(server))
        deliverer = HttpDeliverer(
            client,
            concurrency=concurrency,
            policy=RetryPolicy(max_attempts=attempts, base=2.0, cap=60.0),
            redactor=Redactor.from_resolved(ALL_SECRETS),
            rand=lambda: rand,
            sleep=None if real_sleep else sleeps.append,
        )
        made.append(deliverer)
        return Rig(server, deliverer, sleeps)

    yield make
    for deliverer in made:
        deliverer.close()


def run_all(rig: Rig, *deliveries: Delivery) -> list[DeliveryResult]:
    """Submit every delivery, then finish; errors may surface from either (as in the pipeline)."""
    results: list[DeliveryResult] = []
    for delivery in deliveries:
        results += rig.deliverer.submit(delivery)
    return results + rig.deliverer.finish()


def deliver_one(rig: Rig, destination: DestinationRuntime, batch: Batch) -> DeliveryResult:
    results = rig.deliverer.submit(Delivery(destination, batch)) + rig.deliverer.finish()
    assert len(results) == 1
    return results[0]


# --- verdict paths ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("runtime", "endpoint", "items", "path"),
    [
        (mixpanel_runtime, "import", mp_events(3), "/import"),
        (lago_runtime, "batch", lago_events(3), LAGO_PATH),
    ],
)
def test_200_delivers_every_item_in_one_request(
    rig_factory: Callable[..., Rig],
    runtime: Callable[[], DestinationRuntime],
    endpoint: str,
    items: list[dict[str, Any]],
    path: str,
) -> None:
    rig = rig_factory(ok())
    result = deliver_one(rig, runtime(), make_batch(endpoint, items))
    assert result.results == [ItemResult("delivered")] * 3
    assert result.requests == 1
    assert [r.url.path for r in rig.server.requests] == [path]
    assert rig.sleeps == []


def test_mixpanel_partial_400_rejects_named_records_and_delivers_the_rest(
    rig_factory: Callable[..., Rig],
) -> None:
    body = {
        "code": 400,
        "error": "some data points in the request failed validation",
        "failed_records": [
            {"index": 1, "$insert_id": "e1", "field": "properties.time", "message": "too old"}
        ],
        "num_records_imported": 2,
        "status": "Bad Request",
    }
    rig = rig_factory(status(400, body))
    result = deliver_one(rig, mixpanel_runtime(), make_batch("import", mp_events(3)))
    assert result.results == [
        ItemResult("delivered"),
        ItemResult("rejected", "properties.time: too old"),
        ItemResult("delivered"),
    ]
    assert result.requests == 1  # a 400 is never retried


def test_reject_all_rejects_every_item_with_the_message(rig_factory: Callable[..., Rig]) -> None:
    rig = rig_factory(status(400, {"status": 400, "error": "BadRequest: events"}))
    result = deliver_one(rig, lago_runtime(), make_batch("batch", lago_events(2), 11))
    assert result.results == [ItemResult("rejected", "HTTP 400: BadRequest: events")] * 2
    assert result.requests == 1


def test_mixpanel_profiles_status_0_rejects_every_update(rig_factory: Callable[..., Rig]) -> None:
    rig = rig_factory(status(200, {"status": 0, "error": "$token, missing or invalid"}))
    items = [{"$token": "tok-abcdef", "$distinct_id": "u1", "$set": {"a": 1}}]
    result = deliver_one(rig, mixpanel_runtime(), make_batch("engage", items))
    assert result.results == [
        ItemResult("rejected", "Mixpanel rejected the updates: $token, missing or invalid")
    ]


# --- retries ---------------------------------------------------------------------------------


def test_retry_sleeps_full_jitter_with_retry_after_as_floor(
    rig_factory: Callable[..., Rig],
) -> None:
    rig = rig_factory(
        status(429, headers={"Retry-After": "3"}),
        status(500),
        httpx.ConnectError("connection refused"),
        httpx.ReadTimeout("timed out"),
        httpx.RemoteProtocolError("peer closed connection without sending complete message"),
        status(503, headers={"Retry-After": "0"}),
        ok(),
        rand=0.5,
    )
    result = deliver_one(rig, mixpanel_runtime(), make_batch("import", mp_events(2)))
    assert result.results == [ItemResult("delivered")] * 2
    assert result.requests == 7
    # attempt n: 0.5 * min(60, 2 * 2**(n-1)); attempt 1 raised to the 3 s Retry-After.
    assert rig.sleeps == [3.0, 2.0, 4.0, 8.0, 16.0, 30.0]
    # every attempt sends the same body
    assert len({r.content for r in rig.server.requests}) == 1


def test_lago_rate_limit_reset_is_honoured(rig_factory: Callable[..., Rig]) -> None:
    rig = rig_factory(status(429, headers={"X-RateLimit-Reset": "7"}), ok(), rand=0.0)
    deliver_one(rig, lago_runtime(), make_batch("batch", lago_events(1), 11))
    assert rig.sleeps == [7.0]


@pytest.mark.parametrize(
    ("reply", "last"),
    [
        (
            status(503, {"code": 503, "error": "Service Unavailable"}),
            "HTTP 503: Service Unavailable",
        ),
        (httpx.ConnectError("[Errno 111] Connection refused"), "ConnectError: [Errno 111]"),
    ],
)
def test_attempts_are_bounded_then_delivery_error(
    rig_factory: Callable[..., Rig], reply: Reply, last: str
) -> None:
    rig = rig_factory(reply, attempts=3, rand=1.0)
    with pytest.raises(DeliveryError) as caught:
        run_all(rig, Delivery(mixpanel_runtime(), make_batch("import", mp_events(2))))
    assert len(rig.server.requests) == 3
    assert rig.sleeps == [2.0, 4.0]
    message = caught.value.message
    assert message.startswith("destination `mp` (mixpanel) /import: still failing after 3 attempts")
    assert last in message
    assert caught.value.exit_code == ExitCode.DELIVERY


def test_unsupported_protocol_is_not_retried(rig_factory: Callable[..., Rig]) -> None:
    rig = rig_factory(httpx.UnsupportedProtocol("Request URL has an unsupported protocol"))
    with pytest.raises(DeliveryError, match="after 1 attempt;"):
        run_all(rig, Delivery(mixpanel_runtime(), make_batch("import", mp_events(1))))
    assert rig.sleeps == []


# --- splits and resends ----------------------------------------------------------------------


def test_413_splits_in_halves_recursively(rig_factory: Callable[..., Rig]) -> None:
    def answer(request: httpx.Request) -> httpx.Response:
        count = len(jsonio.loads(_plain(request)))
        return ok() if count <= 2 else status(413, {"code": 413, "error": "too big"})

    rig = rig_factory(answer)
    result = deliver_one(rig, mixpanel_runtime(), make_batch("import", mp_events(5)))
    assert result.results == [ItemResult("delivered")] * 5
    sent = [[item["properties"]["$insert_id"] for item in body] for body in rig.server.bodies()]
    assert sent == [
        ["e0", "e1", "e2", "e3", "e4"],
        ["e0", "e1"],
        ["e2", "e3", "e4"],
        ["e2"],
        ["e3", "e4"],
    ]
    assert result.requests == 5


def test_a_single_item_still_too_large_is_rejected(rig_factory: Callable[..., Rig]) -> None:
    rig = rig_factory(status(413, {"code": 413, "error": "request exceeds max limit"}))
    result = deliver_one(rig, mixpanel_runtime(), make_batch("import", mp_events(2)))
    assert result.results == [ItemResult("rejected", "request exceeds max limit")] * 2
    assert result.requests == 3


def test_lago_too_many_events_splits(rig_factory: Callable[..., Rig]) -> None:
    def answer(request: httpx.Request) -> httpx.Response:
        events = jsonio.loads(request.content)["events"]
        if len(events) > 2:
            return status(
                422,
                {
                    "status": 422,
                    "code": "validation_errors",
                    "error_details": {"events": ["too_many_events"]},
                },
            )
        return status(200, {"events": events})

    rig = rig_factory(answer)
    result = deliver_one(rig, lago_runtime(), make_batch("batch", lago_events(4), 11))
    assert result.results == [ItemResult("delivered")] * 4
    assert [len(b["events"]) for b in rig.server.bodies()] == [4, 2, 2]


def _unprocessable(details: Any) -> httpx.Response:
    return status(
        422,
        {
            "status": 422,
            "error": "Unprocessable Entity",
            "code": "validation_errors",
            "error_details": details,
        },
    )


def test_lago_l4_fails_twice_then_delivers(rig_factory: Callable[..., Rig]) -> None:
    """reference/lago.md §11 L4: rejected, then duplicate, then delivered."""
    rig = rig_factory(
        _unprocessable({"2": "expression_evaluation_failed: Variable: gb not found"}),
        _unprocessable({"0": {"transaction_id": ["value_already_exist"]}}),
        status(200, {"events": []}),
    )
    result = deliver_one(rig, lago_runtime(), make_batch("batch", lago_events(3), 11))
    assert result.results == [
        ItemResult("duplicate", "transaction_id: value_already_exist"),
        ItemResult("delivered"),
        ItemResult("rejected", "expression_evaluation_failed: Variable: gb not found"),
    ]
    assert result.requests == 3
    sent = [[e["transaction_id"] for e in body["events"]] for body in rig.server.bodies()]
    assert sent == [["t0", "t1", "t2"], ["t0", "t1"], ["t1"]]


def test_lago_422_naming_every_item_sends_no_empty_resend(
    rig_factory: Callable[..., Rig],
) -> None:
    rig = rig_factory(
        _unprocessable({"0": {"transaction_id": ["value_already_exist"]}, "1": "bad"}),
        ok(),
    )
    result = deliver_one(rig, lago_runtime(), make_batch("batch", lago_events(2), 11))
    assert result.results == [
        ItemResult("duplicate", "transaction_id: value_already_exist"),
        ItemResult("rejected", "bad"),
    ]
    assert result.requests == 1


# --- credentials -----------------------------------------------------------------------------


def test_401_raises_credentials_error_and_sends_nothing_more(
    rig_factory: Callable[..., Rig],
) -> None:
    rig = rig_factory(status(401, {"code": 401, "error": "Invalid credentials"}), ok())
    destination = mixpanel_runtime()
    with pytest.raises(CredentialsError) as caught:
        run_all(
            rig,
            *(Delivery(destination, make_batch("import", mp_events(2, p))) for p in "efg"),
        )
    assert len(rig.server.requests) == 1
    error = caught.value
    assert error.exit_code == ExitCode.CREDENTIALS
    assert error.message.startswith(
        "destination `mp` (mixpanel) refused the credentials at /import: "
        "Mixpanel refused the credentials (HTTP 401): Invalid credentials"
    )
    assert "project_id" in (error.hint or "")
    assert (error.hint or "").startswith(
        "check the secrets service_account_secret, service_account_username (and `project_id`"
    )


def test_403_from_lago_stops_a_worker_sleeping_in_backoff(
    rig_factory: Callable[..., Rig],
) -> None:
    """The stop flag ends another worker's backoff at once; it makes no further attempt."""

    def answer(request: httpx.Request) -> httpx.Response:
        if request.url.host == "lago.test":
            time.sleep(0.05)  # let the Mixpanel batch fail first and start its backoff
            return status(
                403,
                {"status": 403, "error": "Forbidden", "code": "write_action_not_allowed_for_event"},
            )
        return status(503)

    rig = rig_factory(answer, concurrency=2, rand=1.0, real_sleep=True)
    started = time.monotonic()
    mixpanel, lago = mixpanel_runtime(), lago_runtime()
    rig.deliverer.submit(Delivery(mixpanel, make_batch("import", mp_events(1))))
    with pytest.raises(CredentialsError, match="destination `billing` \\(lago\\) refused"):
        run_all(rig, Delivery(lago, make_batch("batch", lago_events(1), 11)))
    assert rig.deliverer.abort() == []
    assert time.monotonic() - started < 1.5  # the 2 s backoff was cut short
    hosts = [r.url.host for r in rig.server.requests]
    assert sorted(hosts) == ["lago.test", "mp.test"]
    # Neither batch has a result, yet each made a request: both count.
    assert (mixpanel.stats.requests, lago.stats.requests) == (1, 1)


def test_batches_delivered_beside_a_failing_one_are_handed_out_by_abort(
    rig_factory: Callable[..., Rig],
) -> None:
    """A batch that completed while another failed still counts: `abort` returns it."""

    def answer(request: httpx.Request) -> httpx.Response:
        if request.url.host == "lago.test":
            time.sleep(0.2)
            return status(401, {"status": 401, "error": "Unauthorized"})
        time.sleep(0.1)
        return status(200, {"code": 200, "num_records_imported": 1, "status": "OK"})

    rig = rig_factory(answer, concurrency=2)
    mixpanel = Delivery(mixpanel_runtime(), make_batch("import", mp_events(1)))
    lago = Delivery(lago_runtime(), make_batch("batch", lago_events(1), 11))
    assert rig.deliverer.submit(mixpanel) == []
    assert rig.deliverer.submit(lago) == []
    with pytest.raises(CredentialsError):
        rig.deliverer.finish()  # both completed: one result, one error
    handed_out = rig.deliverer.abort()
    assert [r.delivery for r in handed_out] == [mixpanel]
    assert [item.status for item in handed_out[0].results] == ["delivered"]
    assert rig.deliverer.abort() == []


def test_abort_ends_backoff_and_drops_queued_batches(rig_factory: Callable[..., Rig]) -> None:
    rig = rig_factory(status(503), concurrency=1, rand=1.0, real_sleep=True)
    destination = mixpanel_runtime()
    rig.deliverer.submit(Delivery(destination, make_batch("import", mp_events(1))))
    while not rig.server.requests:
        time.sleep(0.005)
    started = time.monotonic()
    rig.deliverer.abort()
    rig.deliverer.close()
    assert time.monotonic() - started < 1.0
    assert len(rig.server.requests) == 1
    assert rig.deliverer.finish() == []


def test_a_bug_in_a_worker_surfaces_in_the_caller(rig_factory: Callable[..., Rig]) -> None:
    def broken(request: httpx.Request) -> httpx.Response:
        raise ZeroDivisionError("bug")

    rig = rig_factory(broken)
    with pytest.raises(ZeroDivisionError):
        run_all(rig, Delivery(mixpanel_runtime(), make_batch("import", mp_events(1))))


# --- bodies and secrets ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("runtime", "endpoint", "items", "gzipped"),
    [
        (mixpanel_runtime, "import", mp_events(3), True),
        (
            mixpanel_runtime,
            "engage",
            [{"$token": "tok-abcdef", "$distinct_id": "u", "$set": {}}],
            False,
        ),
        (lago_runtime, "batch", lago_events(3), False),
    ],
)
def test_body_sent_is_the_dry_run_body(
    rig_factory: Callable[..., Rig],
    runtime: Callable[[], DestinationRuntime],
    endpoint: str,
    items: list[dict[str, Any]],
    gzipped: bool,
) -> None:
    destination = runtime()
    batch = make_batch(endpoint, items, 11 if destination.kind == "lago" else 0)
    rig = rig_factory(status(200, {"status": 1, "error": None}))
    deliver_one(rig, destination, batch)
    (request,) = rig.server.requests
    assert (request.headers.get("content-encoding") == "gzip") is gzipped
    dry = jsonio.loads(request_line(destination, batch))
    assert jsonio.loads(_plain(request)) == dry["body"]
    assert str(request.url) == dry["url"]
    assert request.headers["user-agent"].startswith("cdpcli/")


def test_secrets_never_reach_error_text(rig_factory: Callable[..., Rig]) -> None:
    secret = MP_SECRETS["service_account_secret"]
    echo = f"bad credentials {secret} / Basic {secret}"
    rig = rig_factory(status(401, {"code": 401, "error": echo}))
    with pytest.raises(CredentialsError) as caught:
        run_all(rig, Delivery(mixpanel_runtime(), make_batch("import", mp_events(1))))
    assert secret not in str(caught.value)
    assert "bad credentials ***" in caught.value.message

    key = LAGO_SECRETS["api_key"]
    rig = rig_factory(
        httpx.ConnectError(f"cannot connect (Authorization: Bearer {key})"), attempts=1
    )
    with pytest.raises(DeliveryError) as failed:
        run_all(rig, Delivery(lago_runtime(), make_batch("batch", lago_events(1), 11)))
    assert key not in str(failed.value)
    assert "Bearer ***" in failed.value.message


def test_rejection_reasons_are_redacted(rig_factory: Callable[..., Rig]) -> None:
    token = MP_SECRETS["project_token"]
    rig = rig_factory(status(200, {"status": 0, "error": f"$token {token} is invalid"}))
    items = [{"$token": token, "$distinct_id": "u", "$set": {}}]
    result = deliver_one(rig, mixpanel_runtime(), make_batch("engage", items))
    assert result.results == [
        ItemResult("rejected", "Mixpanel rejected the updates: $token *** is invalid")
    ]


def test_submit_bounds_batches_in_flight(rig_factory: Callable[..., Rig]) -> None:
    gate = threading.Event()
    active: list[int] = []
    peak: list[int] = [0]
    lock = threading.Lock()

    def slow(request: httpx.Request) -> httpx.Response:
        with lock:
            active.append(1)
            peak[0] = max(peak[0], len(active))
        gate.wait(0.02)
        with lock:
            active.pop()
        return ok()

    rig = rig_factory(slow, concurrency=2)
    destination = mixpanel_runtime()
    results: list[DeliveryResult] = []
    for n in range(6):
        results += rig.deliverer.submit(
            Delivery(destination, make_batch("import", mp_events(1, f"b{n}-")))
        )
        assert len(rig.deliverer._inflight) <= 2
    results += rig.deliverer.finish()
    assert len(results) == 6
    assert peak[0] == 2
