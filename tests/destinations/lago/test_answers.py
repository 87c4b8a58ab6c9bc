"""Lago responses to verdicts: every status of reference §7 and every error_details shape of §6."""

from __future__ import annotations

from typing import Any

import pytest

from cdpcli import jsonio
from cdpcli.destinations.base import Verdict
from cdpcli.destinations.lago import answers, http, settings

ENDPOINT = http.endpoints(settings.LagoOptions())["batch"]
NOW = 1_700_000_000.0  # the clock the responses are read at


def items(count: int) -> list[dict[str, Any]]:
    return [{"transaction_id": f"e{i}", "code": "c"} for i in range(count)]


def body_422(details: Any) -> bytes:
    return jsonio.dumps(
        {
            "status": 422,
            "error": "Unprocessable Entity",
            "code": "validation_errors",
            "error_details": details,
        }
    ).encode()


def parse(
    status: int, body: bytes = b"", count: int = 3, headers: dict[str, str] | None = None
) -> Verdict:
    return answers.parse_response(ENDPOINT, items(count), status, headers or {}, body, now=NOW)


# --------------------------------------------------------------------------------------------
# L4: a batch that fails twice (Postgres store)


def test_l4_batch_fails_twice_then_settles() -> None:
    batch = [{"transaction_id": "e0"}, {"transaction_id": "e1"}, {"transaction_id": "e2"}]
    outcomes: dict[str, tuple[str, str]] = {}
    responses = [
        (422, body_422({"2": "expression_evaluation_failed: Variable: gb not found"})),
        (422, body_422({"0": {"transaction_id": ["value_already_exist"]}})),
        (200, b'{"events":[{"transaction_id":"e1","lago_customer_id":null}]}'),
    ]
    sent: list[list[str]] = []
    for status, body in responses:
        sent.append([item["transaction_id"] for item in batch])
        verdict = answers.parse_response(ENDPOINT, batch, status, {}, body)
        for index, outcome in verdict.items.items():
            outcomes[batch[index]["transaction_id"]] = outcome
        named = set(verdict.items)
        if verdict.kind == "resend":
            batch = [item for i, item in enumerate(batch) if i not in named]
            continue
        assert verdict.kind == "settled"
        for i, item in enumerate(batch):
            if i not in named:
                outcomes[item["transaction_id"]] = ("delivered", "")
        break
    assert sent == [["e0", "e1", "e2"], ["e0", "e1"], ["e1"]]
    assert outcomes == {
        "e2": ("rejected", "expression_evaluation_failed: Variable: gb not found"),
        "e0": ("duplicate", "transaction_id: value_already_exist"),
        "e1": ("delivered", ""),
    }


# --------------------------------------------------------------------------------------------
# 422 error_details shapes (reference §6 table)


@pytest.mark.parametrize(
    ("details", "count", "expected"),
    [
        # {"<index>": {field: [codes]}}: only value_already_exist alone is a duplicate.
        (
            {
                "0": {"transaction_id": ["value_already_exist"]},
                "3": {"timestamp": ["invalid_format"]},
            },
            4,
            {
                0: ("duplicate", "transaction_id: value_already_exist"),
                3: ("rejected", "timestamp: invalid_format"),
            },
        ),
        (
            {"1": {"transaction_id": ["value_is_mandatory"]}},
            3,
            {1: ("rejected", "transaction_id: value_is_mandatory")},
        ),
        (
            {"1": {"code": ["value_is_mandatory"], "transaction_id": ["value_is_mandatory"]}},
            3,
            {1: ("rejected", "code: value_is_mandatory; transaction_id: value_is_mandatory")},
        ),
        (
            {"2": {"transaction_id": ["value_already_exist", "invalid_format"]}},
            3,
            {2: ("rejected", "transaction_id: value_already_exist, invalid_format")},
        ),
        (
            {"0": {"transaction_id": ["value_already_exist"], "timestamp": ["invalid_format"]}},
            3,
            {0: ("rejected", "transaction_id: value_already_exist; timestamp: invalid_format")},
        ),
        # {"<index>": "string"}
        (
            {"1": "expression_evaluation_failed: Variable: gb not found"},
            3,
            {1: ("rejected", "expression_evaluation_failed: Variable: gb not found")},
        ),
        # an unexpected per-item value still rejects that item, with the text Lago sent
        ({"0": ["odd"]}, 3, {0: ("rejected", 'Lago validation error: ["odd"]')}),
        ({"0": {}}, 3, {0: ("rejected", "Lago validation error: {}")}),
        # out-of-range indexes are ignored; the valid ones still count
        (
            {"1": "bad", "7": "beyond the batch"},
            3,
            {1: ("rejected", "bad")},
        ),
        # every item named: nothing is left to resend
        (
            {"0": {"transaction_id": ["value_already_exist"]}, "1": "x"},
            2,
            {
                0: ("duplicate", "transaction_id: value_already_exist"),
                1: ("rejected", "x"),
            },
        ),
    ],
)
def test_422_index_keyed_resends_the_rest(
    details: dict[str, Any], count: int, expected: dict[int, tuple[str, str]]
) -> None:
    verdict = parse(422, body_422(details), count=count)
    assert verdict.kind == "resend"
    assert dict(verdict.items) == expected
    assert verdict.retry_after is None


def test_422_too_many_events_splits() -> None:
    verdict = parse(422, body_422({"events": ["too_many_events"]}), count=100)
    assert verdict.kind == "split"
    assert verdict.items == {}
    assert verdict.message == (
        "Lago answered too_many_events to 100 items: the server's LAGO_EVENTS_BATCH_MAX_LENGTH "
        "is lower; set batch_size lower than 100 for this destination"
    )


@pytest.mark.parametrize(
    ("body", "count", "message"),
    [
        # bare string (the single endpoint's form)
        (
            body_422("expression_evaluation_failed: Variable: gb not found"),
            3,
            "HTTP 422: validation_errors: Unprocessable Entity: expression_evaluation_failed: "
            "Variable: gb not found",
        ),
        # whole-request field errors
        (
            body_422({"events": ["no_events"]}),
            3,
            'HTTP 422: validation_errors: Unprocessable Entity: {"events":["no_events"]}',
        ),
        (
            body_422({"transaction_id": ["value_already_exist"]}),
            1,
            "HTTP 422: validation_errors: Unprocessable Entity: "
            '{"transaction_id":["value_already_exist"]}',
        ),
        # index keys mixed with field keys: the request as a whole was refused
        (
            body_422({"0": "x", "events": ["invalid"]}),
            3,
            'HTTP 422: validation_errors: Unprocessable Entity: {"0":"x","events":["invalid"]}',
        ),
        # too_many_events for a single item cannot be split further
        (
            body_422({"events": ["too_many_events"]}),
            1,
            'HTTP 422: validation_errors: Unprocessable Entity: {"events":["too_many_events"]}',
        ),
        # only indexes outside the batch: nothing valid is named
        (
            body_422({"3": "x", "10": {"code": ["value_is_mandatory"]}}),
            3,
            'HTTP 422: validation_errors: Unprocessable Entity: {"3":"x","10":'
            '{"code":["value_is_mandatory"]}}',
        ),
        # missing, empty, null
        (
            b'{"status":422,"error":"Unprocessable Entity","code":"validation_errors"}',
            3,
            "HTTP 422: validation_errors: Unprocessable Entity",
        ),
        (body_422({}), 3, "HTTP 422: validation_errors: Unprocessable Entity"),
        (body_422(None), 3, "HTTP 422: validation_errors: Unprocessable Entity"),
        # unparsable or not an object
        (b"<html>oops</html>", 3, "HTTP 422: <html>oops</html>"),
        (b"", 3, "HTTP 422"),
        (b"[1,2]", 3, "HTTP 422: [1,2]"),
    ],
)
def test_422_whole_request_rejected(body: bytes, count: int, message: str) -> None:
    verdict = parse(422, body, count=count)
    assert verdict == Verdict("reject_all", message=message)


def test_422_compares_code_not_error_text() -> None:
    # LO's example says "Unprocessable entity", the server "Unprocessable Entity": irrelevant.
    body = jsonio.dumps(
        {
            "status": 422,
            "error": "Unprocessable entity",
            "code": "validation_errors",
            "error_details": {"0": {"transaction_id": ["value_already_exist"]}},
        }
    ).encode()
    assert parse(422, body).items == {0: ("duplicate", "transaction_id: value_already_exist")}


# --------------------------------------------------------------------------------------------
# Other statuses (reference §7)


@pytest.mark.parametrize(
    ("status", "body", "headers", "expected"),
    [
        (200, b'{"events":[]}', {}, Verdict("settled")),
        (200, b"", {}, Verdict("settled")),
        (
            400,
            b'{"status":400,"error":"BadRequest: param is missing or the value is empty: event"}',
            {},
            Verdict(
                "reject_all",
                message="HTTP 400: BadRequest: param is missing or the value is empty: event",
            ),
        ),
        (
            401,
            b'{"status":401,"error":"Unauthorized"}',
            {},
            Verdict("auth", message="HTTP 401: Unauthorized"),
        ),
        (
            403,
            b'{"status":403,"error":"Forbidden","code":"write_action_not_allowed_for_event"}',
            {},
            Verdict("auth", message="HTTP 403: write_action_not_allowed_for_event: Forbidden"),
        ),
        (404, b"Not Found", {}, Verdict("reject_all", message="HTTP 404: Not Found")),
        (413, b"", {}, Verdict("split", message="HTTP 413")),
        (
            429,
            b"",
            {"X-RateLimit-Limit": "500", "X-RateLimit-Remaining": "0", "X-RateLimit-Reset": "3"},
            Verdict("retry", message="HTTP 429", retry_after=3.0),
        ),
        # both headers: the longer wait wins (cdpcli.retry.parse_retry_after, for every kind)
        (
            429,
            b"",
            {"x-ratelimit-reset": "0.5", "retry-after": "9"},
            Verdict("retry", message="HTTP 429", retry_after=9.0),
        ),
        (429, b"", {"Retry-After": "7"}, Verdict("retry", message="HTTP 429", retry_after=7.0)),
        (429, b"", {}, Verdict("retry", message="HTTP 429", retry_after=None)),
        # an epoch or a date becomes a wait from `now`; a past one, no wait; nonsense, none
        (
            429,
            b"",
            {"X-RateLimit-Reset": str(int(NOW) + 45)},
            Verdict("retry", message="HTTP 429", retry_after=45.0),
        ),
        (
            429,
            b"",
            {"Retry-After": "Wed, 21 Oct 2015 07:28:00 GMT"},
            Verdict("retry", message="HTTP 429", retry_after=0.0),
        ),
        (
            429,
            b"",
            {"Retry-After": "soon"},
            Verdict("retry", message="HTTP 429", retry_after=None),
        ),
        (500, b"", {}, Verdict("retry", message="HTTP 500")),
        (502, b"Bad Gateway", {}, Verdict("retry", message="HTTP 502: Bad Gateway")),
        (503, b"", {"Retry-After": "12"}, Verdict("retry", message="HTTP 503", retry_after=12.0)),
    ],
)
def test_statuses(status: int, body: bytes, headers: dict[str, str], expected: Verdict) -> None:
    assert parse(status, body, headers=headers) == expected
