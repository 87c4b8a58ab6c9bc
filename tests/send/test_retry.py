"""Retry arithmetic: backoff ceilings, full jitter, server hints, attempt bounds, header parsing."""

from __future__ import annotations

import random
from collections.abc import Callable
from email.utils import formatdate

import httpx
import pytest

from cdpcli.destinations.headers import parse_retry_after
from cdpcli.errors import UsageError
from cdpcli.retry import MAX_HINT_SECONDS, RetryPolicy

NOW = 1_715_678_467.0


def fixed(value: float) -> Callable[[], float]:
    """A `rand` that always returns `value`."""
    return lambda: value


@pytest.mark.parametrize(
    ("attempt", "ceiling"),
    [(1, 2.0), (2, 4.0), (3, 8.0), (4, 16.0), (5, 32.0), (6, 60.0), (7, 60.0), (100, 60.0)],
)
def test_ceiling_doubles_from_two_seconds_to_sixty(attempt: int, ceiling: float) -> None:
    assert RetryPolicy().ceiling(attempt) == ceiling


@pytest.mark.parametrize(
    ("attempt", "rand", "hint", "expected"),
    [
        (1, 0.0, None, 0.0),  # full jitter reaches zero
        (1, 0.5, None, 1.0),
        (1, 0.999, None, 1.998),
        (3, 0.25, None, 2.0),
        (6, 0.5, None, 30.0),  # capped ceiling 60
        (10_000, 0.5, None, 30.0),  # no overflow for absurd attempt numbers
        (1, 0.5, 5.0, 5.0),  # hint is a floor above the jitter
        (5, 0.5, 3.0, 16.0),  # jitter above the hint wins
        (1, 0.0, 120.0, 120.0),  # a hint may exceed the backoff cap
        (1, 0.0, 3600.0, MAX_HINT_SECONDS),  # but is itself capped at 10 minutes
        (1, 0.5, 0.0, 1.0),
        (1, 0.5, -4.0, 1.0),  # negative hint ignored
        (1, 0.5, float("inf"), 1.0),  # non-finite hint ignored
        (1, 0.5, float("nan"), 1.0),
        (1, 1.5, None, 2.0),  # out-of-range rand clamped to [0, 1]
        (1, -1.0, None, 0.0),
    ],
)
def test_delay_table(attempt: int, rand: float, hint: float | None, expected: float) -> None:
    assert RetryPolicy().delay(attempt, server_hint=hint, rand=fixed(rand)) == pytest.approx(
        expected
    )


def test_delay_custom_policy() -> None:
    policy = RetryPolicy(base=0.5, cap=3.0, max_hint=10.0)
    got = [policy.delay(n, server_hint=None, rand=fixed(1.0)) for n in range(1, 6)]
    assert got == [0.5, 1.0, 2.0, 3.0, 3.0]
    assert policy.delay(1, server_hint=50.0, rand=fixed(0.0)) == 10.0


def test_delay_is_uniform_over_the_ceiling() -> None:
    rng = random.Random(7)
    policy = RetryPolicy()
    samples = [policy.delay(3, server_hint=None, rand=rng.random) for _ in range(2000)]
    assert min(samples) >= 0.0
    assert max(samples) < 8.0
    assert 3.5 < sum(samples) / len(samples) < 4.5  # mean of U(0, 8) is 4
    assert min(samples) < 0.1
    assert max(samples) > 7.9


@pytest.mark.parametrize(
    ("max_attempts", "allowed"),
    [(1, []), (2, [1]), (3, [1, 2]), (8, [1, 2, 3, 4, 5, 6, 7])],
)
def test_should_retry_bounds_attempts(max_attempts: int, allowed: list[int]) -> None:
    policy = RetryPolicy(max_attempts=max_attempts)
    assert [n for n in range(1, 20) if policy.should_retry(n)] == allowed


def test_default_policy_sends_at_most_eight_times() -> None:
    policy = RetryPolicy()
    sent = 1
    while policy.should_retry(sent):
        sent += 1
    assert sent == 8


@pytest.mark.parametrize("bad", [0, -1])
def test_max_attempts_below_one_is_a_usage_error(bad: int) -> None:
    with pytest.raises(UsageError, match=r"--max-retries must be at least 1 \(got "):
        RetryPolicy(max_attempts=bad)


@pytest.mark.parametrize(
    "kwargs", [{"base": 0.0}, {"base": -1.0}, {"base": 5.0, "cap": 1.0}, {"max_hint": -1.0}]
)
def test_invalid_policy_numbers(kwargs: dict[str, float]) -> None:
    with pytest.raises(ValueError, match="invalid retry policy"):
        RetryPolicy(**kwargs)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("headers", "expected"),
    [
        ({}, None),
        ({"Retry-After": "3"}, 3.0),
        ({"retry-after": "3"}, 3.0),  # any case
        ({"RETRY-AFTER": " 2.5 "}, 2.5),
        ({"Retry-After": "0"}, 0.0),
        ({"Retry-After": "-5"}, None),
        ({"Retry-After": "soon"}, None),
        ({"Retry-After": "nan"}, None),
        ({"Retry-After": "inf"}, None),
        ({"Retry-After": ""}, None),
        ({"Retry-After": formatdate(NOW + 30, usegmt=True)}, 30.0),
        ({"Retry-After": formatdate(NOW - 30, usegmt=True)}, 0.0),  # past date
        ({"Retry-After": "Tue, 14 May 2024 09:21:37 -0000"}, 30.0),  # naive date read as GMT
        ({"X-RateLimit-Reset": "12"}, 12.0),
        ({"x-ratelimit-reset": "0.5"}, 0.5),
        ({"X-RateLimit-Reset": str(int(NOW) + 45)}, 45.0),  # epoch seconds
        ({"X-RateLimit-Reset": str(int(NOW) - 45)}, 0.0),  # epoch in the past
        ({"X-RateLimit-Reset": str(int(NOW * 1000) + 2500)}, 2.5),  # epoch milliseconds
        ({"X-RateLimit-Reset": "-1"}, None),
        ({"X-RateLimit-Reset": "later"}, None),
        ({"Retry-After": "3", "X-RateLimit-Reset": "7"}, 7.0),  # the longer wait wins
        ({"Retry-After": "9", "X-RateLimit-Reset": "7"}, 9.0),
        ({"Retry-After": "bogus", "X-RateLimit-Reset": "7"}, 7.0),
        ({"X-RateLimit-Limit": "500", "X-RateLimit-Remaining": "0"}, None),
    ],
)
def test_parse_retry_after(headers: dict[str, str], expected: float | None) -> None:
    got = parse_retry_after(headers, NOW)
    if expected is None:
        assert got is None
    else:
        assert got == pytest.approx(expected)


def test_parse_retry_after_reads_httpx_headers() -> None:
    headers = httpx.Headers({"retry-after": "4", "X-RATELIMIT-RESET": "6"})
    assert parse_retry_after(headers, NOW) == 6.0


def test_hint_feeds_delay_end_to_end() -> None:
    hint = parse_retry_after({"X-RateLimit-Reset": "20"}, NOW)
    assert RetryPolicy().delay(1, server_hint=hint, rand=fixed(0.9)) == 20.0
