"""The HTTP fakes behave as reference/mixpanel.md and lago.md describe, faults included."""

from __future__ import annotations

import base64
import gzip
import threading
import time
from collections.abc import Iterator
from typing import Any

import httpx
import orjson
import pytest

from cdpcli.destinations.headers import parse_retry_after
from tests.fakes.servers import (
    LAGO_API_KEY,
    LAGO_BATCH,
    MIXPANEL_ENGAGE,
    MIXPANEL_GROUPS,
    MIXPANEL_IMPORT,
    MIXPANEL_PROJECT_ID,
    MIXPANEL_SA_SECRET,
    MIXPANEL_SA_USER,
    MIXPANEL_TOKEN,
    FakeLago,
    FakeMixpanel,
    FakeServer,
    Fault,
    Quota,
    lago_fake,  # noqa: F401 - fixture
    mixpanel_fake,  # noqa: F401 - fixture
)

NOW = 1_715_678_467.312  # 2024-05-14T09:21:07.312Z
T0 = 1_715_000_000_000  # ms, before NOW


def basic(user: str, password: str = "") -> str:
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()


SA_AUTH = basic(MIXPANEL_SA_USER, MIXPANEL_SA_SECRET)
IMPORT_URL = f"{MIXPANEL_IMPORT}?strict=1&project_id={MIXPANEL_PROJECT_ID}"
LAGO_AUTH = {"Authorization": f"Bearer {LAGO_API_KEY}"}


def mp_event(n: int, *, time_ms: int | None = None, insert_id: str | None = None) -> dict[str, Any]:
    return {
        "event": "Signed Up",
        "properties": {
            "time": T0 + n if time_ms is None else time_ms,
            "distinct_id": f"u{n}",
            "$insert_id": insert_id or f"id-{n}",
        },
    }


def lago_event(
    tx: str, *, sub: str | None = "sub_1", code: str = "api_calls", **extra: Any
) -> dict[str, Any]:
    event: dict[str, Any] = {
        "transaction_id": tx,
        "code": code,
        "timestamp": "1715678467.312",
        "properties": {"gb": "1"},
    }
    if sub is not None:
        event["external_subscription_id"] = sub
    event.update(extra)
    return event


@pytest.fixture
def mp() -> Iterator[FakeMixpanel]:
    with FakeMixpanel(clock=lambda: NOW) as fake:
        yield fake
        assert fake.errors == []


@pytest.fixture
def lago() -> Iterator[FakeLago]:
    with FakeLago(clock=lambda: NOW, metrics={"storage": ["gb"]}) as fake:
        yield fake
        assert fake.errors == []


@pytest.fixture
def client() -> Iterator[httpx.Client]:
    """Plain HTTP on loopback: `verify=False` only skips loading the CA bundle (60 ms a client)."""
    with httpx.Client(timeout=5.0, verify=False) as c:
        yield c


def post_import(
    client: httpx.Client, fake: FakeMixpanel, records: Any, **kwargs: Any
) -> httpx.Response:
    headers = {"Authorization": SA_AUTH, **kwargs.pop("headers", {})}
    url = fake.url + kwargs.pop("path", IMPORT_URL)
    if "content" in kwargs:
        return client.post(url, headers=headers, **kwargs)
    return client.post(url, headers=headers, json=records, **kwargs)


def post_lago(client: httpx.Client, fake: FakeLago, events: Any, **kw: Any) -> httpx.Response:
    headers = kw.pop("headers", LAGO_AUTH)
    return client.post(fake.url + LAGO_BATCH, headers=headers, json={"events": events}, **kw)


# --- Mixpanel /import ------------------------------------------------------------------------


def test_import_accepts_and_dedupes(mp: FakeMixpanel, client: httpx.Client) -> None:
    batch = [mp_event(1), mp_event(2), mp_event(3)]
    first = post_import(client, mp, batch)
    assert first.status_code == 200
    assert first.json() == {"code": 200, "num_records_imported": 3, "status": "OK"}
    again = post_import(client, mp, [*batch, mp_event(1, time_ms=T0 + 99)])
    assert again.json()["num_records_imported"] == 4
    assert len(mp.events) == 7  # every record received is stored
    assert mp.unique_count == 4  # (event, time, distinct_id, $insert_id) differ only for one
    assert mp_event(1, time_ms=T0 + 99) in mp.unique_events().values()


def test_import_accepts_gzip_and_records_the_decoded_body(
    mp: FakeMixpanel, client: httpx.Client
) -> None:
    body = gzip.compress(orjson.dumps([mp_event(1)]))
    response = post_import(
        client,
        mp,
        None,
        content=body,
        headers={"Content-Encoding": "gzip", "Content-Type": "application/json"},
    )
    assert response.status_code == 200
    [request] = mp.requests
    assert request.raw == body
    assert request.body == [mp_event(1)]
    assert request.headers["content-encoding"] == "gzip"
    assert request.query == {"strict": "1", "project_id": MIXPANEL_PROJECT_ID}
    assert request.status == 200
    assert mp.events == [mp_event(1)]


def test_import_bad_gzip_is_400(mp: FakeMixpanel, client: httpx.Client) -> None:
    response = post_import(client, mp, None, content=b"nope", headers={"Content-Encoding": "gzip"})
    assert response.status_code == 400
    assert response.json()["error"] == "unable to decompress gzip request body"


def test_import_accepts_ndjson(mp: FakeMixpanel, client: httpx.Client) -> None:
    body = b"\n".join(orjson.dumps(mp_event(n)) for n in range(3)) + b"\n"
    response = post_import(client, mp, None, content=body)
    assert response.json()["num_records_imported"] == 3


@pytest.mark.parametrize(
    ("auth", "query", "status"),
    [
        (SA_AUTH, f"project_id={MIXPANEL_PROJECT_ID}", 200),
        (SA_AUTH, "", 401),  # a service account needs project_id
        (SA_AUTH, "project_id=999", 401),
        (basic(MIXPANEL_SA_USER, "wrong"), f"project_id={MIXPANEL_PROJECT_ID}", 401),
        (basic(MIXPANEL_TOKEN), "", 200),  # token as username, empty password
        (basic(MIXPANEL_TOKEN), f"project_id={MIXPANEL_PROJECT_ID}", 200),
        (basic(MIXPANEL_TOKEN, "x"), "", 401),
        (basic("api-secret"), "", 200),
        (f"Bearer {MIXPANEL_TOKEN}", "", 401),
        ("Basic !!!", "", 401),
        (None, "", 401),
    ],
)
def test_import_auth(auth: str | None, query: str, status: int, client: httpx.Client) -> None:
    with FakeMixpanel(api_secret="api-secret", clock=lambda: NOW) as fake:
        headers = {"Authorization": auth} if auth else {}
        response = client.post(
            f"{fake.url}{MIXPANEL_IMPORT}?strict=1&{query}", headers=headers, json=[mp_event(1)]
        )
        assert response.status_code == status
        if status == 401:
            assert response.json() == {
                "code": 401,
                "error": "Invalid credentials",
                "status": "Unauthorized",
            }
            assert fake.events == []
        else:
            assert fake.events == [mp_event(1)]


def test_import_partial_400(mp: FakeMixpanel, client: httpx.Client) -> None:
    mp.poison.add("poisoned")
    records = [
        mp_event(0),
        mp_event(1, time_ms=int(NOW * 1000) + 3_600_001),  # > 1 h in the future
        mp_event(2, insert_id="poisoned"),
        mp_event(3),
        mp_event(4, insert_id="x" * 37),
        {"event": "No Time", "properties": {"distinct_id": "u5", "$insert_id": "id-5"}},
        mp_event(6, time_ms=30_000_000_000),  # 1970-12-12 (ms): before 1971
        {"event": "E", "properties": {"time": T0, "distinct_id": "Anonymous", "$insert_id": "i7"}},
        {"event": "E", "properties": {"time": T0, "$insert_id": "i8"}, "extra": 1},
        mp_event(9, time_ms=int(NOW * 1000) + 3_600_000),  # exactly 1 h ahead: accepted
    ]
    response = post_import(client, mp, records)
    assert response.status_code == 400
    body = response.json()
    assert body["code"] == 400
    assert body["error"] == "some data points in the request failed validation"
    assert body["status"] == "Bad Request"
    assert body["num_records_imported"] == 3
    failed = [(f["index"], f["$insert_id"], f["field"]) for f in body["failed_records"]]
    assert failed == [
        (1, "id-1", "properties.time"),
        (2, "poisoned", "properties.$insert_id"),
        (4, "x" * 37, "properties.$insert_id"),
        (5, "id-5", "properties.time"),
        (6, "id-6", "properties.time"),
        (7, "i7", "properties.distinct_id"),
        (8, "i8", "extra"),
    ]
    assert body["failed_records"][0]["message"] == (
        "'properties.time' is more than 1 hour in the future"
    )
    assert mp.events == [records[0], records[3], records[9]]


def test_import_failed_record_id_key_is_configurable(client: httpx.Client) -> None:
    with FakeMixpanel(failed_id_key="insert_id", poison={"id-0"}, clock=lambda: NOW) as fake:
        body = post_import(client, fake, [mp_event(0)]).json()
        assert body["failed_records"][0]["insert_id"] == "id-0"
        assert body["num_records_imported"] == 0


def test_import_without_strict_drops_invalid_silently(
    mp: FakeMixpanel, client: httpx.Client
) -> None:
    mp.poison.add("id-1")
    path = f"{MIXPANEL_IMPORT}?project_id={MIXPANEL_PROJECT_ID}"
    response = post_import(client, mp, [mp_event(0), mp_event(1)], path=path)
    assert response.status_code == 200
    assert response.json()["num_records_imported"] == 1


@pytest.mark.parametrize(
    ("identity", "status", "stored"), [("simplified", 400, 0), ("original", 200, 2)]
)
def test_identity_events(identity: Any, status: int, stored: int, client: httpx.Client) -> None:
    identify = {
        "event": "$identify",
        "properties": {"time": T0, "distinct_id": "u1", "$insert_id": "ident-1"},
    }
    with FakeMixpanel(identity=identity, clock=lambda: NOW) as fake:
        response = post_import(client, fake, [mp_event(0), identify])
        assert response.status_code == status
        assert len(fake.events) == stored
        if status == 400:
            assert response.json()["failed_records"] == [
                "identity events are not allowed when project is using simplified identity "
                "management"
            ]
            assert response.json()["num_records_imported"] == 0


def test_import_413_on_bytes_and_count(client: httpx.Client) -> None:
    with FakeMixpanel(max_request_bytes=500, max_items=3, clock=lambda: NOW) as fake:
        big = post_import(client, fake, [mp_event(n, insert_id="a" * 36) for n in range(3)] * 2)
        assert big.status_code == 413
        assert big.json()["error"] == "request exceeds max limit of 500 bytes"
        many = post_import(client, fake, [mp_event(n) for n in range(4)])
        assert many.status_code == 413
        assert many.json()["error"] == "request exceeds max limit of 3 events"
        assert post_import(client, fake, [mp_event(n) for n in range(3)]).status_code == 200


def test_import_record_over_item_limit(client: httpx.Client) -> None:
    with FakeMixpanel(max_item_bytes=200, clock=lambda: NOW) as fake:
        big = mp_event(1)
        big["properties"]["blob"] = "x" * 200
        body = post_import(client, fake, [mp_event(0), big]).json()
        assert [f["index"] for f in body["failed_records"]] == [1]
        assert body["failed_records"][0]["message"] == "event exceeds max size of 200 bytes"


# --- Mixpanel /engage and /groups -------------------------------------------------------------


def engage(
    distinct_id: str, token: str = MIXPANEL_TOKEN, op: dict[str, Any] | None = None
) -> dict[str, Any]:
    return {"$token": token, "$distinct_id": distinct_id, **(op or {"$set": {"plan": "pro"}})}


@pytest.mark.parametrize(
    ("updates", "verbose_body", "plain_body", "applied"),
    [
        ([engage("u1")], {"status": 1, "error": None}, b"1", 1),
        (
            [engage("u1", token="bad")],
            {"status": 0, "error": "$token, missing or invalid"},
            b"0",
            0,
        ),
        ([engage("u1"), engage("u2", token="bad")], {"status": 1, "error": None}, b"1", 1),
        (
            [{"$token": MIXPANEL_TOKEN, "$set": {}}],
            {"status": 0, "error": "$distinct_id, missing or empty"},
            b"0",
            0,
        ),
        (
            [{"$token": MIXPANEL_TOKEN, "$distinct_id": "u", "$set": {}, "$unset": ["a"]}],
            {"status": 0, "error": "exactly one operation expected, got 2"},
            b"0",
            0,
        ),
        ([], {"status": 0, "error": "data, missing or invalid"}, b"0", 0),
    ],
)
def test_engage_responses(  # noqa: PLR0917
    updates: list[dict[str, Any]],
    verbose_body: dict[str, Any],
    plain_body: bytes,
    applied: int,
    mp: FakeMixpanel,
    client: httpx.Client,
) -> None:
    verbose = client.post(f"{mp.url}{MIXPANEL_ENGAGE}?verbose=1", json=updates)
    assert verbose.status_code == 200
    assert verbose.json() == verbose_body
    plain = client.post(f"{mp.url}{MIXPANEL_ENGAGE}", json=updates)
    assert plain.status_code == 200
    assert plain.content == plain_body
    assert len(mp.profile_updates) == 2 * applied


def test_engage_applies_set_and_set_once_and_accepts_form(
    mp: FakeMixpanel, client: httpx.Client
) -> None:
    url = f"{mp.url}{MIXPANEL_ENGAGE}?verbose=1"
    client.post(url, json=[engage("u1", op={"$set": {"plan": "pro", "seats": 3}})])
    client.post(url, json=[engage("u1", op={"$set_once": {"plan": "free", "first": "x"}})])
    form = client.post(url, data={"data": orjson.dumps([engage("u2")]).decode()})
    assert form.json() == {"status": 1, "error": None}
    assert mp.profiles == {"u1": {"plan": "pro", "seats": 3, "first": "x"}, "u2": {"plan": "pro"}}
    assert mp.requests[2].body == [engage("u2")]


def test_engage_refuses_gzip(mp: FakeMixpanel, client: httpx.Client) -> None:
    response = client.post(
        f"{mp.url}{MIXPANEL_ENGAGE}?verbose=1",
        content=gzip.compress(orjson.dumps([engage("u1")])),
        headers={"Content-Encoding": "gzip", "Content-Type": "application/json"},
    )
    assert response.json() == {"status": 0, "error": "data, missing or invalid"}
    assert mp.profile_updates == []


def test_groups(mp: FakeMixpanel, client: httpx.Client) -> None:
    url = f"{mp.url}{MIXPANEL_GROUPS}?verbose=1"
    ok = {"$token": MIXPANEL_TOKEN, "$group_key": "company_id", "$group_id": "c1", "$set": {"n": 1}}
    unknown_key = {**ok, "$group_key": "team_id"}
    assert client.post(url, json=[ok]).json() == {"status": 1, "error": None}
    assert client.post(url, json=[unknown_key]).json() == {
        "status": 0,
        "error": "$group_key 'team_id' is not a group key of this project",
    }
    no_id = {k: v for k, v in ok.items() if k != "$group_id"}
    assert client.post(url, json=[no_id]).json() == {
        "status": 0,
        "error": "$group_id, missing or empty",
    }
    assert mp.groups == {("company_id", "c1"): {"n": 1}}
    assert mp.group_updates == [ok]


# --- Lago --------------------------------------------------------------------------------------


def test_lago_accepts_and_echoes(lago: FakeLago, client: httpx.Client) -> None:
    events = [lago_event("t1"), lago_event("t2", precise_total_amount_cents="12.5", extra="x")]
    response = post_lago(client, lago, events)
    assert response.status_code == 200
    echoed = response.json()["events"]
    assert [e["transaction_id"] for e in echoed] == ["t1", "t2"]
    assert echoed[0] == {
        "lago_id": "00000000-0000-4000-8000-000000000001",
        "transaction_id": "t1",
        "lago_customer_id": None,
        "code": "api_calls",
        "timestamp": "2024-05-14T09:21:07.312Z",
        "precise_total_amount_cents": None,
        "properties": {"gb": "1"},
        "lago_subscription_id": None,
        "external_subscription_id": "sub_1",
        "created_at": "2024-05-14T09:21:07.312Z",
    }
    assert echoed[1]["precise_total_amount_cents"] == "12.5"
    assert "extra" not in echoed[1]  # unknown keys are dropped silently
    assert lago.transaction_ids() == ["t1", "t2"]


@pytest.mark.parametrize(
    ("headers", "status", "body"),
    [
        ({}, 401, {"status": 401, "error": "Unauthorized"}),
        ({"Authorization": "Bearer nope"}, 401, {"status": 401, "error": "Unauthorized"}),
        ({"Authorization": LAGO_API_KEY}, 401, {"status": 401, "error": "Unauthorized"}),
        (
            {"Authorization": "Bearer read-only"},
            403,
            {"status": 403, "error": "Forbidden", "code": "write_action_not_allowed_for_event"},
        ),
        (LAGO_AUTH, 200, None),
    ],
)
def test_lago_auth(headers: dict[str, str], status: int, body: Any, client: httpx.Client) -> None:
    with FakeLago(read_only_keys={"read-only"}) as fake:
        response = post_lago(client, fake, [lago_event("t1")], headers=headers)
        assert response.status_code == status
        if body is not None:
            assert response.json() == body
            assert fake.events == []
        else:
            assert fake.transaction_ids() == ["t1"]


def test_lago_batch_size_limit(lago: FakeLago, client: httpx.Client) -> None:
    too_many = post_lago(client, lago, [lago_event(f"t{n}") for n in range(101)])
    assert too_many.status_code == 422
    assert too_many.json() == {
        "status": 422,
        "error": "Unprocessable Entity",
        "code": "validation_errors",
        "error_details": {"events": ["too_many_events"]},
    }
    assert lago.events == []
    assert post_lago(client, lago, [lago_event(f"t{n}") for n in range(100)]).status_code == 200
    assert len(lago.events) == 100


@pytest.mark.parametrize("body", [{"events": []}, {}, {"events": {"a": 1}}])
def test_lago_no_events(body: Any, lago: FakeLago, client: httpx.Client) -> None:
    response = client.post(lago.url + LAGO_BATCH, headers=LAGO_AUTH, json=body)
    assert response.status_code == 422
    assert response.json()["error_details"] == {"events": ["no_events"]}


def test_lago_malformed_body_is_400(lago: FakeLago, client: httpx.Client) -> None:
    response = client.post(lago.url + LAGO_BATCH, headers=LAGO_AUTH, content=b"{not json")
    assert response.status_code == 400
    assert response.json()["error"].startswith("BadRequest: ")


def test_lago_phase1_validation_stores_nothing(lago: FakeLago, client: httpx.Client) -> None:
    events = [
        lago_event("t0"),
        {"event": lago_event("t1")},  # wrapped item: loses every key
        lago_event("t2", timestamp="2024-05-14T09:21:07Z"),
        lago_event("", code=" "),
        lago_event("t4", code="storage", properties={}),  # expression needs gb
        lago_event("t5", timestamp=1715678467.5),  # a JSON float is fine
        lago_event("t6", timestamp=None),  # missing: receipt time
        lago_event("t7", timestamp=True),
    ]
    response = post_lago(client, lago, events)
    assert response.status_code == 422
    assert response.json()["error_details"] == {
        "1": {"transaction_id": ["value_is_mandatory"], "code": ["value_is_mandatory"]},
        "2": {"timestamp": ["invalid_format"]},
        "3": {"transaction_id": ["value_is_mandatory"], "code": ["value_is_mandatory"]},
        "4": "expression_evaluation_failed: Variable: gb not found",
        "7": {"timestamp": ["invalid_format"]},
    }
    assert lago.events == []


def test_lago_phase2_duplicates_roll_back_the_whole_batch(
    lago: FakeLago, client: httpx.Client
) -> None:
    assert post_lago(client, lago, [lago_event("t0")]).status_code == 200
    events = [lago_event("t0"), lago_event("t1"), lago_event("t1"), lago_event("t0", sub="sub_2")]
    response = post_lago(client, lago, events)
    assert response.status_code == 422
    assert response.json()["error_details"] == {
        "0": {"transaction_id": ["value_already_exist"]},
        "2": {"transaction_id": ["value_already_exist"]},  # repeats an earlier item
    }
    assert lago.transaction_ids() == ["t0"]  # t1 and (sub_2, t0) rolled back
    ok = post_lago(client, lago, [events[1], events[3]])
    assert ok.status_code == 200
    assert ok.json()["events"][0]["lago_id"] == "00000000-0000-4000-8000-000000000002"
    assert [(e["external_subscription_id"], e["transaction_id"]) for e in lago.events] == [
        ("sub_1", "t0"),
        ("sub_1", "t1"),
        ("sub_2", "t0"),
    ]


def test_lago_null_subscription_never_collides(lago: FakeLago, client: httpx.Client) -> None:
    assert post_lago(client, lago, [lago_event("t", sub=None)] * 2).status_code == 200
    assert post_lago(client, lago, [lago_event("t", sub=None)]).status_code == 200
    assert lago.transaction_ids() == ["t", "t", "t"]


def test_lago_l4_sequence(lago: FakeLago, client: httpx.Client) -> None:
    """reference/lago.md §11 L4: 422 validation, then 422 duplicate, then 200."""
    e0, e1 = lago_event("e0"), lago_event("e1")
    e2 = lago_event("e2", code="storage", properties={"other": "1"})
    lago.seed(e0)  # delivered by an earlier run
    first = post_lago(client, lago, [e0, e1, e2])
    assert first.status_code == 422
    assert first.json() == {
        "status": 422,
        "error": "Unprocessable Entity",
        "code": "validation_errors",
        "error_details": {"2": "expression_evaluation_failed: Variable: gb not found"},
    }
    second = post_lago(client, lago, [e0, e1])
    assert second.status_code == 422
    assert second.json()["error_details"] == {"0": {"transaction_id": ["value_already_exist"]}}
    third = post_lago(client, lago, [e1])
    assert third.status_code == 200
    assert [e["transaction_id"] for e in third.json()["events"]] == ["e1"]
    assert lago.transaction_ids() == ["e0", "e1"]


def test_lago_clickhouse_store_overwrites(client: httpx.Client) -> None:
    with FakeLago(store="clickhouse", clock=lambda: NOW) as fake:
        assert post_lago(client, fake, [lago_event("t0"), lago_event("t0")]).status_code == 200
        assert post_lago(client, fake, [lago_event("t0")]).status_code == 200
        assert len(fake.events) == 1
        later = lago_event("t0", timestamp="1715678468.000")
        assert post_lago(client, fake, [later]).status_code == 200
        assert len(fake.events) == 2  # same id, other timestamp: billed twice


def test_lago_far_future_timestamp_is_accepted(lago: FakeLago, client: httpx.Client) -> None:
    response = post_lago(client, lago, [lago_event("t", timestamp="1715678467312")])
    assert response.status_code == 200
    assert response.json()["events"][0]["timestamp"] == "1715678467312"


# --- Faults ------------------------------------------------------------------------------------


def send_one(fake: FakeServer, client: httpx.Client, n: int = 0) -> httpx.Response:
    if isinstance(fake, FakeMixpanel):
        return post_import(client, fake, [mp_event(n)])
    assert isinstance(fake, FakeLago)
    return post_lago(client, fake, [lago_event(f"t{n}")])


def stored(fake: FakeServer) -> int:
    assert isinstance(fake, FakeMixpanel | FakeLago)
    return len(fake.events)


@pytest.fixture(params=["mixpanel", "lago"])
def fake(request: pytest.FixtureRequest) -> Iterator[FakeServer]:
    server: FakeServer = (
        FakeMixpanel(clock=lambda: NOW)
        if request.param == "mixpanel"
        else (FakeLago(clock=lambda: NOW))
    )
    with server:
        yield server
        assert server.errors == []


def path_of(fake: FakeServer) -> str:
    return MIXPANEL_IMPORT if isinstance(fake, FakeMixpanel) else LAGO_BATCH


@pytest.mark.parametrize(
    ("status", "mixpanel_error"),
    [
        (500, "Internal Server Error"),
        (502, "Bad Gateway"),
        (503, "Service Unavailable"),
        (504, "Gateway Timeout"),
        (413, "request exceeds max limit of 2097152 bytes"),
        (401, "Invalid credentials"),
        (403, "Forbidden"),
    ],
)
def test_status_faults_are_not_processed(
    status: int, mixpanel_error: str, fake: FakeServer, client: httpx.Client
) -> None:
    fake.fail(path_of(fake), Fault.http(status))
    response = send_one(fake, client)
    assert response.status_code == status
    body = response.json()
    if isinstance(fake, FakeMixpanel):
        assert body["code"] == status
        assert body["error"] == mixpanel_error
    else:
        assert body["status"] == status
    assert stored(fake) == 0
    assert fake.pending_faults(path_of(fake)) == 0
    assert send_one(fake, client).status_code == 200  # the fault was consumed
    assert stored(fake) == 1
    assert [r.fault for r in fake.requests] == ["http", None]
    assert [r.status for r in fake.requests] == [status, 200]


def test_custom_status_body(fake: FakeServer, client: httpx.Client) -> None:
    fake.fail(path_of(fake), Fault.http(502, body=b"<html>bad gateway</html>"))
    assert send_one(fake, client).content == b"<html>bad gateway</html>"


@pytest.mark.parametrize(
    ("fault", "hint"),
    [
        (Fault.rate_limited(), None),
        (Fault.rate_limited(retry_after="3"), 3.0),
        (Fault.rate_limited(reset="7"), 7.0),
        (Fault.rate_limited(retry_after="2", reset="5"), 5.0),
    ],
)
def test_rate_limited(
    fault: Fault, hint: float | None, fake: FakeServer, client: httpx.Client
) -> None:
    fake.fail(path_of(fake), fault)
    response = send_one(fake, client)
    assert response.status_code == 429
    assert parse_retry_after(response.headers, NOW) == hint
    if fault.headers.get("X-RateLimit-Reset"):
        assert response.headers["X-RateLimit-Remaining"] == "0"
    if isinstance(fake, FakeMixpanel):
        assert response.json()["error"].startswith("Project exceeded rate limits")
    assert stored(fake) == 0


def test_drop_before_body(fake: FakeServer, client: httpx.Client) -> None:
    fake.fail(path_of(fake), Fault.drop_before_body())
    with pytest.raises(httpx.TransportError):
        send_one(fake, client)
    assert stored(fake) == 0
    [request] = fake.requests
    assert (request.fault, request.status, request.raw, request.body) == (
        "drop_before_body",
        None,
        b"",
        None,
    )
    assert send_one(fake, client).status_code == 200  # the client recovers on a new connection


@pytest.mark.parametrize(("processed", "count"), [(True, 1), (False, 0)])
def test_drop_after_body(
    processed: bool, count: int, fake: FakeServer, client: httpx.Client
) -> None:
    fake.fail(path_of(fake), Fault.drop_after_body(processed=processed))
    with pytest.raises(httpx.TransportError):
        send_one(fake, client)
    assert stored(fake) == count
    [request] = fake.requests
    assert request.status is None
    assert request.body is not None  # the body was read


def test_slow_response_times_out_after_processing(fake: FakeServer) -> None:
    fake.fail(path_of(fake), Fault.slow(2.0))
    started = time.monotonic()
    with httpx.Client(timeout=0.2, verify=False) as quick, pytest.raises(httpx.ReadTimeout):
        send_one(fake, quick)
    assert time.monotonic() - started < 1.5
    assert stored(fake) == 1  # processed before the wait: a retry will be a duplicate


def test_slow_response_within_timeout_succeeds(fake: FakeServer, client: httpx.Client) -> None:
    fake.fail(path_of(fake), Fault.slow(0.2))
    started = time.monotonic()
    assert send_one(fake, client).status_code == 200
    assert time.monotonic() - started >= 0.2


@pytest.mark.parametrize(("processed", "count"), [(True, 1), (False, 0)])
def test_truncated_body(
    processed: bool, count: int, fake: FakeServer, client: httpx.Client
) -> None:
    fake.fail(path_of(fake), Fault.truncated(processed=processed))
    with pytest.raises(httpx.RemoteProtocolError):
        send_one(fake, client)
    assert stored(fake) == count


@pytest.mark.parametrize(("processed", "count"), [(True, 1), (False, 0)])
def test_invalid_json_body(
    processed: bool, count: int, fake: FakeServer, client: httpx.Client
) -> None:
    fake.fail(path_of(fake), Fault.invalid_json(processed=processed))
    response = send_one(fake, client)
    assert response.status_code == 200
    with pytest.raises(ValueError):
        response.json()
    assert stored(fake) == count


def test_faults_are_per_path_and_in_order(mp: FakeMixpanel, client: httpx.Client) -> None:
    mp.fail(MIXPANEL_ENGAGE, Fault.http(503))
    mp.fail(MIXPANEL_IMPORT, Fault.http(500), Fault.rate_limited(retry_after="1"))
    assert mp.pending_faults(MIXPANEL_IMPORT) == 2
    codes = [post_import(client, mp, [mp_event(0)]).status_code for _ in range(3)]
    assert codes == [500, 429, 200]
    engage_url = f"{mp.url}{MIXPANEL_ENGAGE}?verbose=1"
    assert client.post(engage_url, json=[engage("u")]).status_code == 503
    assert client.post(engage_url, json=[engage("u")]).status_code == 200
    assert [r.path for r in mp.requests_to(MIXPANEL_ENGAGE)] == [MIXPANEL_ENGAGE] * 2


def test_concurrent_clients(mp: FakeMixpanel) -> None:
    mp.fail(MIXPANEL_IMPORT, *[Fault.http(503)] * 10)
    statuses: list[int] = []
    lock = threading.Lock()

    def worker(w: int) -> None:
        with httpx.Client(timeout=5.0, verify=False) as c:
            for i in range(10):
                code = post_import(c, mp, [mp_event(w * 100 + i)]).status_code
                with lock:
                    statuses.append(code)

    threads = [threading.Thread(target=worker, args=(w,)) for w in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(statuses) == [200] * 70 + [503] * 10
    assert len(mp.requests) == 80
    assert len(mp.events) == 70
    assert mp.pending_faults(MIXPANEL_IMPORT) == 0


def test_stop_is_quick_with_idle_keep_alive_connections(client: httpx.Client) -> None:
    fake = FakeMixpanel(clock=lambda: NOW).start()
    assert post_import(client, fake, [mp_event(0)]).status_code == 200  # connection stays open
    started = time.monotonic()
    fake.stop()
    assert time.monotonic() - started < 1.0
    with pytest.raises(RuntimeError, match="not running"):
        _ = fake.url


def test_stop_wakes_a_slow_fault() -> None:
    fake = FakeLago().start()
    fake.fail(LAGO_BATCH, Fault.slow(30))
    errors: list[BaseException] = []

    def call() -> None:
        try:
            with httpx.Client(timeout=10.0, verify=False) as c:
                post_lago(c, fake, [lago_event("t")])
        except httpx.TransportError as exc:
            errors.append(exc)

    thread = threading.Thread(target=call)
    thread.start()
    while not fake.requests or fake.requests[0].body is None:
        time.sleep(0.01)
    started = time.monotonic()
    fake.stop()
    thread.join()
    assert time.monotonic() - started < 2.0


def test_unknown_path_is_404(mp: FakeMixpanel, client: httpx.Client) -> None:
    assert client.post(f"{mp.url}/track", json=[]).status_code == 404
    assert client.get(f"{mp.url}{MIXPANEL_IMPORT}").status_code == 405


def test_module_fixtures(mixpanel_fake: FakeMixpanel, lago_fake: FakeLago) -> None:  # noqa: F811
    assert mixpanel_fake.url.startswith("http://127.0.0.1:")
    assert lago_fake.port != mixpanel_fake.port
    assert mixpanel_fake.token == MIXPANEL_TOKEN
    assert lago_fake.api_key == LAGO_API_KEY


# --- Rolling quota ---------------------------------------------------------------------------


class Clock:
    """A clock the test moves."""

    def __init__(self, now: float) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def test_quota_answers_429_past_the_rolling_window_with_the_wait_until_it_fits(
    client: httpx.Client,
) -> None:
    clock = Clock(NOW)
    records = [mp_event(n) for n in range(3)]
    size = len(orjson.dumps(records))
    with FakeMixpanel(clock=clock, quota=Quota(size=2 * size, window=10.0)) as fake:
        assert post_import(client, fake, records).status_code == 200  # at NOW
        clock.now += 4
        assert post_import(client, fake, records).status_code == 200  # at NOW + 4: full
        clock.now += 1.5
        refused = post_import(client, fake, records)
        assert refused.status_code == 429
        assert refused.json()["error"].startswith("Project exceeded rate limits")
        # the first request leaves the window at NOW + 10: 4.5 s from now, rounded up
        assert refused.headers["Retry-After"] == "5"
        clock.now = NOW + 10
        assert post_import(client, fake, records).status_code == 200  # the first one left
        assert fake.throttled() == 1
        assert len(fake.events) == 9  # the refused request stored nothing
        assert [r.at for r in fake.requests] == [NOW, NOW + 4, NOW + 5.5, NOW + 10]


def test_quota_counts_uncompressed_bytes_and_lago_says_x_ratelimit_reset(
    client: httpx.Client,
) -> None:
    clock = Clock(NOW)
    events = [lago_event(f"t{n}") for n in range(2)]
    size = len(orjson.dumps({"events": events}))
    with FakeLago(clock=clock, quota=Quota(size=size, window=60.0)) as fake:
        body = gzip.compress(orjson.dumps({"events": events}))
        headers = {**LAGO_AUTH, "Content-Encoding": "gzip", "Content-Type": "application/json"}
        url = fake.url + LAGO_BATCH
        assert client.post(url, headers=headers, content=body).status_code == 200
        refused = post_lago(client, fake, [lago_event("t9")])
        assert refused.status_code == 429
        assert refused.headers["X-RateLimit-Reset"] == "60"
        assert parse_retry_after(refused.headers, now=0) == 60.0
