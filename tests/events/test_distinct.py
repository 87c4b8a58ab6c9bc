"""Distinct counting for `inspect`: exact while small, a bounded estimate beyond."""

from __future__ import annotations

import pytest

from cdpcli.events.distinct import DistinctCounter


def test_exact_below_the_limit_counts_repeats_once() -> None:
    counter = DistinctCounter(exact_limit=100)
    for n in range(250):
        counter.add(f"u_{n % 80}")
    assert counter.exact
    assert len(counter) == 80


@pytest.mark.parametrize("count", [1_000, 20_000, 150_000])
def test_estimate_beyond_the_limit_is_within_three_percent(count: int) -> None:
    counter = DistinctCounter(exact_limit=500)
    for n in range(count):
        counter.add(f"anon-{n}")
        counter.add(f"anon-{n // 2}")  # repeats must not count
    assert not counter.exact
    assert abs(len(counter) - count) / count < 0.03, len(counter)


def test_memory_stays_bounded_after_the_switch() -> None:
    counter = DistinctCounter(exact_limit=10)
    for n in range(1000):
        counter.add(str(n))
    assert counter._exact is None  # the set was dropped
    assert len(counter._registers) == 1 << 14
