"""What a long send keeps in memory: pending records at their own size, and no pile of finished
HTTP exchanges (measured by bench/send_bench.py; these tests pin the two causes found there)."""

from __future__ import annotations

import gc
import tracemalloc
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from bench.generate import write as write_events
from cdpcli import jsonio
from cdpcli.destinations.base import Endpoint
from cdpcli.send.batching import Batcher
from cdpcli.send.run import SendRequest, send
from tests.fakes import FakeLago, FakeMixpanel
from tests.fakes.sends import SECRETS, check_accounting, write_config

RECORD = {"event": "Seat Added", "properties": {f"k{i}": "v" * 10 for i in range(40)}}


def traced_bytes(make: object) -> int:
    """Bytes allocated and still held by what `make()` returns."""
    assert callable(make)
    tracemalloc.start()
    try:
        kept = make()
        held, _ = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    del kept
    return held


def test_kept_serializations_cost_their_size() -> None:
    size = len(jsonio.dumps_bytes(RECORD))
    held = traced_bytes(lambda: [jsonio.dumps_kept(RECORD) for _ in range(2000)])
    assert held < 2000 * (size + 200)  # the bytes, the object header, the list
    assert jsonio.dumps_kept(RECORD) == jsonio.dumps_bytes(RECORD)


def test_a_batch_in_waiting_holds_its_records_at_their_size() -> None:
    endpoint = Endpoint("e", "https://x/e", 5000, 10**9, 10**6, gzip=False)
    size = len(jsonio.dumps_bytes(RECORD))

    def fill() -> Batcher:
        batcher = Batcher({"e": endpoint})
        for n in range(2000):
            assert batcher.add("e", RECORD, n).batches == ()
        return batcher

    assert traced_bytes(fill) < 2000 * (size + 300)


@pytest.fixture
def tuned_gc() -> Iterator[None]:
    """The collector as `cdpcli.cli.app.main` sets it for a run."""
    thresholds = gc.get_threshold()
    gc.collect()
    gc.set_threshold(100_000, 50, 100)
    try:
        yield
    finally:
        gc.set_threshold(*thresholds)


def live_responses() -> int:
    return sum(1 for o in gc.get_objects() if type(o) is httpx.Response)


def test_finished_exchanges_do_not_pile_up(
    tmp_path: Path,
    fakes: tuple[FakeMixpanel, FakeLago],
    tuned_gc: None,
) -> None:
    """httpx leaves every exchange in a reference cycle (with its body); with the collector
    tuned down for a run, the sender must break it."""
    mixpanel, lago = fakes
    config = write_config(tmp_path, mixpanel, lago)
    events = tmp_path / "events.jsonl"
    with open(events, "wb") as handle:
        write_events(3000, handle)
    before = live_responses()
    result = send(
        SendRequest(paths=[str(events)], config_path=config, concurrency=2), environ=SECRETS
    )
    assert result.error is None
    check_accounting(result.summary.as_dict())
    requests = len(mixpanel.requests) + len(lago.requests)
    assert requests > 20  # enough exchanges for a pile to show
    assert live_responses() - before <= 2  # at most the last ones, not one per request
