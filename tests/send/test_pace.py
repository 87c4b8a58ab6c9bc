"""The pacer (`cdpcli.send.pace`) on an injected clock: token buckets that start empty and hold at
most 2 s of budget, a per-minute quota that no rolling minute exceeds, `--max-rate` below a
destination's own limit, and the adaptive pace (AIMD): a 429 cuts what was being sent by half,
pauses for the hint, and the rate climbs back by 5 % of the limit a second. No real time."""

from __future__ import annotations

import random
import threading

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cdpcli.destinations.base import RateLimits
from cdpcli.send.pace import BURST_SECONDS, MINUTE, Pacer, Pacing, Ticket


class Clock:
    def __init__(self, now: float = 1000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def send(pacer: Pacer, clock: Clock, records: int, size: int = 0) -> Ticket:
    """One attempt as the sender makes it: reserve, wait (the clock jumps), confirm."""
    while True:
        ticket = pacer.reserve(records, size)
        clock.now = max(clock.now, ticket.at)
        if pacer.confirm(ticket):
            return ticket


def events(rate: float, **kwargs: float) -> Pacer:
    return Pacer(RateLimits(max_events_per_second=rate), clock=kwargs.get("clock") or Clock())


# --- static limits ---------------------------------------------------------------------------


def test_a_rate_is_kept_smooth_from_an_empty_bucket() -> None:
    clock = Clock(0.0)
    pacer = Pacer(RateLimits(max_events_per_second=100), clock=clock)
    times = [send(pacer, clock, 10).at for _ in range(5)]
    assert times == pytest.approx([0.1, 0.2, 0.3, 0.4, 0.5])


def test_an_idle_bucket_holds_at_most_two_seconds_of_budget() -> None:
    clock = Clock(0.0)
    pacer = Pacer(RateLimits(max_events_per_second=100), clock=clock)
    send(pacer, clock, 100)  # at 1 s
    clock.now = 600.0  # ten idle minutes: no minute's budget saved up
    burst = [send(pacer, clock, 50).at for _ in range(6)]
    assert burst[:4] == [600.0] * 4  # 200 records = 2 s of budget at once
    assert burst[4:] == pytest.approx([600.5, 601.0])  # then the rate again


def test_a_request_larger_than_the_bucket_goes_into_debt_and_the_rate_holds() -> None:
    clock = Clock(0.0)
    pacer = Pacer(RateLimits(max_events_per_second=500), clock=clock)  # holds 1000
    times = [send(pacer, clock, 2000).at for _ in range(4)]
    # the first waits for a full bucket (2 s), each later one for its 2000 records (4 s)
    assert times == pytest.approx([2.0, 6.0, 10.0, 14.0])


def test_max_rate_caps_below_the_destinations_own_limit_and_alone() -> None:
    clock = Clock(0.0)
    pacing = Pacing(
        {"a": RateLimits(max_events_per_second=500), "b": RateLimits(max_events_per_second=50)},
        max_rate=100,
        clock=clock,
    )
    assert pacing.pacer("a").rates() == (100, None)
    assert pacing.pacer("b").rates() == (50, None)
    assert pacing.pacer("c").rates() == (100, None)  # no limit of its own
    assert Pacing(clock=clock).pacer("c").rates() == (None, None)


def test_without_limits_nothing_waits() -> None:
    clock = Clock(5.0)
    pacer = Pacer(clock=clock)
    assert [send(pacer, clock, 2000, 10_000_000).at for _ in range(3)] == [5.0] * 3
    assert pacer.pace() == "unlimited"


@settings(max_examples=40, deadline=None)
@given(
    quota=st.integers(min_value=50_000, max_value=5_000_000),
    seed=st.integers(min_value=0, max_value=2**32 - 1),
    idle=st.lists(st.floats(min_value=0, max_value=90), max_size=4),
)
def test_no_rolling_minute_carries_more_than_max_bytes_per_minute(
    quota: int, seed: int, idle: list[float]
) -> None:
    """Requests of random sizes, sent as fast as the pace allows, with idle spells between
    runs of them: every 60 s window (starting at any request) holds at most the quota."""
    rng = random.Random(seed)
    clock = Clock(0.0)
    pacer = Pacer(RateLimits(max_bytes_per_minute=quota), clock=clock)
    sent: list[tuple[float, int]] = []
    for pause in [0.0, *idle]:
        clock.now += pause
        for _ in range(rng.randint(1, 120)):
            size = rng.randint(1, quota // 10)
            sent.append((send(pacer, clock, 1, size).at, size))
    for start, _ in sent:
        window = sum(size for at, size in sent if start <= at < start + MINUTE)
        assert window <= quota


def test_the_byte_pace_leaves_room_for_the_burst() -> None:
    clock = Clock(0.0)
    pacer = Pacer(RateLimits(max_bytes_per_minute=62_000_000), clock=clock)
    assert pacer.rates() == (None, pytest.approx(62e6 / (MINUTE + BURST_SECONDS)))
    assert pacer.pace() == "1 MB/s"
    # a request larger than the quota goes alone, once the minute before it is empty
    first = send(pacer, clock, 1, 1_000_000)
    huge = send(pacer, clock, 1, 70_000_000)
    assert huge.at == pytest.approx(first.at + MINUTE)


def test_reservations_from_threads_never_overlap() -> None:
    clock = Clock(0.0)  # frozen: every reservation queues behind the others
    pacer = Pacer(RateLimits(max_events_per_second=100), clock=clock)
    times: list[float] = []
    lock = threading.Lock()

    def worker() -> None:
        for _ in range(50):
            ticket = pacer.reserve(10, 0)
            with lock:
                times.append(ticket.at)

    threads = [threading.Thread(target=worker) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(times) == pytest.approx([0.1 * n for n in range(1, 201)])


# --- the adaptive pace ----------------------------------------------------------------------


def test_a_429_halves_the_rate_pauses_for_the_hint_then_climbs_back_to_the_limit() -> None:
    clock = Clock(0.0)
    pacer = Pacer(RateLimits(max_events_per_second=100), clock=clock)
    for _ in range(100):
        ticket = send(pacer, clock, 10, 1000)  # 100/s (and 10 kB/s) for 10 s
    throttle = pacer.throttled(ticket, pause=4.0)
    assert throttle.cut and throttle.pause == 4.0
    # the bytes a second are cut too (the server may count those)
    assert throttle.pace == "50 events/s, 5 kB/s"
    resumed = send(pacer, clock, 10)
    assert resumed.at == pytest.approx(clock.now) and resumed.at >= 10.0 + 4.0
    # climbing by 5 records/s each second from the end of the pause
    clock.now = 14.0 + 4.0
    assert pacer.rates()[0] == pytest.approx(70.0)
    clock.now = 14.0 + 10.0
    assert pacer.rates()[0] == 100.0
    clock.now = 14.0 + 100.0
    assert pacer.rates()[0] == 100.0  # never above the limit


def test_the_cut_is_from_what_was_sent_when_that_was_below_the_limit() -> None:
    clock = Clock(0.0)
    pacer = Pacer(RateLimits(max_events_per_second=1000), clock=clock)
    for _ in range(50):
        ticket = send(pacer, clock, 10)
        clock.now += 0.1  # the input gives only 100 records a second
    pacer.throttled(ticket, pause=0.0)
    assert pacer.rates()[0] == pytest.approx(50.0)


def test_answers_to_requests_sent_before_the_cut_do_not_cut_again_but_extend_the_pause() -> None:
    clock = Clock(0.0)
    pacer = Pacer(RateLimits(max_events_per_second=100), clock=clock)
    first, second = send(pacer, clock, 10), send(pacer, clock, 10)
    queued = pacer.reserve(10, 0)  # a third worker waits for its turn
    assert pacer.throttled(first, pause=2.0).cut
    later = pacer.throttled(second, pause=5.0)
    assert not later.cut and later.pause == 5.0
    assert pacer.cuts == 1
    assert not pacer.confirm(queued)  # reserved before the cut: it reserves again
    again = pacer.reserve(10, 0)
    assert again.at >= clock.now + 5.0
    assert again.paused


def test_without_limits_a_429_paces_at_half_what_was_sent_and_climbs_on() -> None:
    clock = Clock(0.0)
    pacer = Pacer(clock=clock)
    for _ in range(40):  # 1000 records and 1 MB a second, for 4 s
        ticket = send(pacer, clock, 100, 100_000)
        clock.now += 0.1
    throttle = pacer.throttled(ticket, pause=1.0)
    assert throttle.pace == "500 kB/s"  # the bytes measure the load
    clock.now += 1.0 + 10.0
    assert pacer.rates() == (None, pytest.approx(1_000_000.0))
    clock.now += 10.0
    assert pacer.rates() == (None, pytest.approx(1_500_000.0))  # no limit to stop at


def test_cuts_stop_at_a_floor_that_lets_the_largest_request_through() -> None:
    clock = Clock(0.0)
    pacer = Pacer(RateLimits(max_events_per_second=4), clock=clock)
    for _ in range(10):
        pacer.throttled(send(pacer, clock, 1, 100), pause=0.0)
    assert pacer.rates() == (1.0, 1000.0)
    send(pacer, clock, 1, 2_000_000)  # one large request among small ones
    for _ in range(10):
        pacer.throttled(send(pacer, clock, 1, 100), pause=0.0)
    assert pacer.rates() == (1.0, 200_000.0)  # one such request every 10 s


def test_each_destination_keeps_its_own_pace() -> None:
    clock = Clock(0.0)
    pacing = Pacing(
        {"mixpanel": RateLimits(max_events_per_second=100), "billing": RateLimits()}, clock=clock
    )
    billing = pacing.pacer("billing")
    billing.throttled(send(billing, clock, 100), pause=30.0)
    assert pacing.pacer("mixpanel").rates() == (100, None)
    assert send(pacing.pacer("mixpanel"), clock, 10).at == pytest.approx(0.1)
