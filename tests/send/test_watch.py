"""`cdpcli.send.watch.Watch`: what each destination waits for, passed on when it changes, with
slow answers reported after 5 s and every 10 s after; an injected clock, no real time."""

from __future__ import annotations

import threading

from cdpcli.send.watch import Attempt, Watch, seconds_text


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_a_slow_answer_is_reported_after_5_s_then_every_10_s_and_cleared_when_it_ends() -> None:
    clock = Clock()
    shown: list[tuple[str, str]] = []
    watch = Watch(status=lambda name, text: shown.append((name, text)), clock=clock)
    started = watch.started("mixpanel", 1, 8)
    for now in (1.0, 4.9, 5.0, 9.0, 14.9, 15.0):
        clock.now = now
        watch.tick()
    watch.ended("mixpanel", started)
    assert shown == [
        ("mixpanel", "waiting for the server's answer, 5 s so far (attempt 1 of 8)"),
        ("mixpanel", "waiting for the server's answer, 15 s so far (attempt 1 of 8)"),
        ("mixpanel", ""),
    ]


def test_the_latest_wait_of_a_destination_shows_until_none_is_left() -> None:
    shown: list[tuple[str, str]] = []
    watch = Watch(status=lambda name, text: shown.append((name, text)))

    def other_worker() -> None:
        watch.wait("billing", "503, retrying in 4 s (attempt 2 of 8)")

    watch.wait("billing", "429, retrying in 8 s (attempt 3 of 8)")
    thread = threading.Thread(target=other_worker)
    thread.start()
    thread.join()
    watch.wait("mixpanel", "pacing at 25 MB/s")
    watch.done("billing")  # this worker: the other one still waits
    watch.wait("mixpanel", "pacing at 25 MB/s")  # no change, not passed on
    assert shown == [
        ("billing", "429, retrying in 8 s (attempt 3 of 8)"),
        ("billing", "503, retrying in 4 s (attempt 2 of 8)"),
        ("mixpanel", "pacing at 25 MB/s"),
    ]


def test_attempts_are_built_only_when_someone_listens() -> None:
    clock = Clock()
    built: list[float] = []
    got: list[Attempt] = []

    def report(seconds: float) -> Attempt:
        built.append(seconds)
        return Attempt("m", "POST", "https://h/import", 1, 8, 2, 300, 120, seconds, status=200)

    Watch(clock=clock).ended("m", 0.0, report)
    assert built == []
    watch = Watch(attempt=got.append, clock=clock)
    started = watch.started("m", 1, 8)
    clock.now = 0.085
    watch.ended("m", started, report)
    assert [a.seconds for a in got] == [0.085]


def test_seconds_text() -> None:
    assert [seconds_text(s) for s in (0.04, 0.4, 1.0, 7.6, 119.4, 125.0, 600.0)] == [
        "40 ms",
        "0.4 s",
        "1 s",
        "8 s",
        "119 s",
        "2 min 5 s",
        "10 min",
    ]
