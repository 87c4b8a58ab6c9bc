"""The fault matrix (PRODUCT.md §6; README "Reliability"): one case per fault the network, the
destinations, the disk or the operator can throw at `cdpcli send`, against the local fakes.

Each case asserts the outcome counts, the exit code (or the error class and its exit code) and
that every event read is accounted for exactly (`tests.fakes.sends.check_accounting`). For the
transient faults it also asserts that every valid event ends stored exactly once at each fake:
once by Mixpanel's dedupe key, once by Lago's `transaction_id`.

The input is `COUNT` track events with a userId: each goes to Mixpanel `/import` (route
`analytics`) and to Lago (route `usage`). SIGKILL-then-resume is in `test_send_e2e.py`.
"""

from __future__ import annotations

import errno
import io
import os
import signal
import time
from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
import typer
from rich.console import Console

from bench.generate import write as write_bench_events
from cdpcli import jsonio
from cdpcli.cli.common import OutputFormat, Streams
from cdpcli.cli.send_cmd import _finish
from cdpcli.errors import InputError
from cdpcli.retry import RetryPolicy
from cdpcli.routing.config import Config
from cdpcli.send import checkpoint as checkpoint_module
from cdpcli.send import pipeline as pipeline_module
from cdpcli.send import rejected as rejected_module
from cdpcli.send.delivery import Deliverer, DestinationRuntime
from cdpcli.send.http import HttpDeliverer
from cdpcli.send.pipeline import SendResult
from cdpcli.send.run import SendRequest, send
from tests.fakes import LAGO_BATCH, MIXPANEL_IMPORT, FakeLago, FakeMixpanel, Fault
from tests.fakes.sends import (
    SECRETS,
    check_accounting,
    cli,
    spawn,
    wait_for_requests,
    write_config,
)
from tests.fakes.servers import dedupe_key

pytestmark = pytest.mark.usefixtures("fast_retries")  # fixtures: tests/fakes/sends.py

COUNT = 250  # one /import batch, three Lago batches (100, 100, 50)
LAGO_BATCH_ITEMS = 100
IMPORT_BATCH_ITEMS = 2000
READ_TIMEOUT = 1.0  # the short client read timeout of the library-level runs (0.25 s timed out
# ordinary answers on a loaded 2-core machine, and the retry broke the exact request counts)
PASS = Fault.slow(0.0)  # a queued "fault" that answers normally: lets a later request fail


def message_id(index: int) -> str:
    return f"msg-{index:06d}"


def user(index: int) -> str:
    return f"user-{index % 17}"


def write_input(
    directory: Path, count: int = COUNT, *, names: Mapping[int, str] | None = None
) -> tuple[Path, list[str]]:
    """`count` track events, one a line (line i is message i; event name "API Call" unless
    `names` says otherwise); their message ids."""
    path = directory / "events.jsonl"
    ids = [message_id(i) for i in range(count)]
    start = datetime(2024, 5, 1, tzinfo=UTC)
    lines = [
        jsonio.dumps(
            {
                "type": "track",
                "event": (names or {}).get(i, "API Call"),
                "userId": user(i),
                "messageId": ids[i],
                "timestamp": (start + timedelta(seconds=i)).isoformat().replace("+00:00", "Z"),
                "properties": {"n": i},
            }
        )
        for i in range(count)
    ]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path, ids


def deliverer_factory(
    *, concurrency: int
) -> Callable[[Config, Mapping[str, DestinationRuntime]], Deliverer]:
    """An `HttpDeliverer` like a real run's, with a short read timeout and a tiny backoff."""

    def build(_config: Config, _destinations: Mapping[str, DestinationRuntime]) -> Deliverer:
        client = httpx.Client(
            timeout=httpx.Timeout(READ_TIMEOUT, connect=2.0),
            trust_env=False,
            follow_redirects=False,
        )
        policy = RetryPolicy(max_attempts=8, base=0.001, cap=0.01)
        return HttpDeliverer(client, concurrency=concurrency, policy=policy)

    return build


def exit_code(result: SendResult) -> int:
    """The exit code `cdpcli send` gives this result (through the command's own `_finish`)."""
    out = Streams(out=io.StringIO(), err_console=Console(file=io.StringIO()), quiet=True)
    try:
        _finish(result, out, OutputFormat.json)
    except typer.Exit as done:
        return done.exit_code
    raise AssertionError("_finish did not exit")


def stored_once(mixpanel: FakeMixpanel, lago: FakeLago, ids: list[str], *, copies: int) -> None:
    """Every id is stored exactly once at each fake: one dedupe key per `$insert_id` at
    Mixpanel, which received each record `copies` times, all with that key; one stored event
    per transaction_id at Lago."""
    keys = Counter(dedupe_key(record) for record in mixpanel.events)
    assert sorted(key[3] for key in keys) == sorted(ids)  # (event, time, distinct_id, id)
    assert set(keys.values()) == {copies}
    stored = Counter(lago.transaction_ids())
    assert sorted(stored) == sorted(ids) and set(stored.values()) == {1}


# --- transient faults: retried, every event delivered once -------------------------------------


@dataclass(frozen=True)
class Transient:
    """One transient fault, queued on the first request to Mixpanel /import and to Lago."""

    mixpanel: Fault
    lago: Fault
    extra_requests: int  # requests each fake gets beyond the fault-free run
    processed: bool = False  # the fakes stored the faulted request before its answer was lost
    min_seconds: float = 0.0  # a server hint the run must wait for


TRANSIENT = {
    "429 Retry-After": Transient(
        Fault.rate_limited(retry_after="0.3"), Fault.rate_limited(retry_after="0.3"), 1, False, 0.3
    ),
    "429 without Retry-After (Lago: X-RateLimit-Reset)": Transient(
        Fault.http(429), Fault.rate_limited(reset="0.3"), 1, False, 0.3
    ),
    "500": Transient(Fault.http(500), Fault.http(500), 1),
    "502": Transient(Fault.http(502), Fault.http(502), 1),
    "503": Transient(Fault.http(503), Fault.http(503), 1),
    "504": Transient(Fault.http(504), Fault.http(504), 1),
    "timeout (processed, answer too slow)": Transient(
        Fault.slow(3.0), Fault.slow(3.0), 1, processed=True
    ),
    "reset before the request was read": Transient(
        Fault.drop_before_body(), Fault.drop_before_body(), 1
    ),
    "reset after the request was read, processed": Transient(
        Fault.drop_after_body(processed=True), Fault.drop_after_body(processed=True), 1, True
    ),
    "reset after the request was read, not processed": Transient(
        Fault.drop_after_body(processed=False), Fault.drop_after_body(processed=False), 1
    ),
    "truncated response (processed)": Transient(
        Fault.truncated(processed=True), Fault.truncated(processed=True), 1, processed=True
    ),
    "truncated response (not processed)": Transient(
        Fault.truncated(processed=False), Fault.truncated(processed=False), 1
    ),
    "invalid JSON 200 response (processed)": Transient(
        Fault.invalid_json(processed=True), Fault.invalid_json(processed=True), 0
    ),
    "413 (batch split)": Transient(Fault.http(413), Fault.http(413), 2),
}


@pytest.mark.parametrize("case", list(TRANSIENT.values()), ids=list(TRANSIENT))
def test_transient_fault_is_survived_and_every_event_delivered_once(
    tmp_path: Path, fakes: tuple[FakeMixpanel, FakeLago], case: Transient
) -> None:
    mixpanel, lago = fakes
    config = write_config(tmp_path, mixpanel, lago)
    events, ids = write_input(tmp_path)
    mixpanel.fail(MIXPANEL_IMPORT, case.mixpanel)
    lago.fail(LAGO_BATCH, case.lago)

    started = time.monotonic()
    result = send(
        SendRequest(paths=[str(events)], config_path=config),
        environ=SECRETS,
        deliverer_factory=deliverer_factory(concurrency=2),
    )
    elapsed = time.monotonic() - started

    assert result.error is None
    assert exit_code(result) == 0
    assert elapsed >= case.min_seconds
    assert mixpanel.pending_faults(MIXPANEL_IMPORT) == lago.pending_faults(LAGO_BATCH) == 0
    summary = result.summary.as_dict()
    check_accounting(summary)
    # The faulted Lago request, if the fake stored it, comes back as duplicates on the retry.
    faulted = next(r for r in lago.requests if r.fault is not None)
    duplicates = len(faulted.body["events"]) if case.processed else 0
    mp, billing = summary["destinations"]["mixpanel"], summary["destinations"]["billing"]
    assert summary["events_read"] == COUNT
    assert (summary["invalid"], summary["rejected"], summary["skipped"]) == (0, 0, 0)
    assert (mp["routed"], mp["delivered"], mp["duplicates"]) == (COUNT, COUNT, 0)
    assert (billing["routed"], billing["delivered"]) == (COUNT, COUNT - duplicates)
    assert billing["duplicates"] == duplicates
    # Requests: the fault-free run's, plus the retries (or the halves of a split).
    baseline_lago = -(-COUNT // LAGO_BATCH_ITEMS)
    assert len(mixpanel.requests_to(MIXPANEL_IMPORT)) == 1 + case.extra_requests
    assert len(lago.requests_to(LAGO_BATCH)) == baseline_lago + case.extra_requests
    assert mp["requests"] == len(mixpanel.requests) == len(mixpanel.requests_to(MIXPANEL_IMPORT))
    assert billing["requests"] == len(lago.requests)
    # Mixpanel got a processed-then-lost batch twice; its dedupe key makes it one event.
    stored_once(mixpanel, lago, ids, copies=2 if case.processed else 1)


# --- destinations refusing records: only the named ones rejected -------------------------------


def test_partial_400_from_import_rejects_only_the_named_records(
    tmp_path: Path, fakes: tuple[FakeMixpanel, FakeLago]
) -> None:
    mixpanel, lago = fakes
    config = write_config(tmp_path, mixpanel, lago)
    events, ids = write_input(tmp_path)
    poisoned = {ids[3], ids[100], ids[249]}
    mixpanel.poison.update(poisoned)
    rejected = tmp_path / "rejected.jsonl"

    code, summary, stderr = cli(str(events), "-c", str(config), "--rejected", str(rejected))

    assert code == 1, stderr
    check_accounting(summary)
    mp = summary["destinations"]["mixpanel"]
    assert (mp["delivered"], mp["rejected"], mp["requests"]) == (COUNT - 3, 3, 1)
    assert summary["destinations"]["billing"]["delivered"] == COUNT
    records = [jsonio.loads(line) for line in rejected.read_bytes().splitlines()]
    assert sorted(r["event"]["messageId"] for r in records) == sorted(poisoned)
    for record in records:
        insert_id = record["event"]["messageId"]
        assert (record["destination"], record["route"]) == ("mixpanel", "analytics")
        assert record["reason"] == (
            f"properties.$insert_id: '{insert_id}' is poisoned (fake Mixpanel)"
        )
    assert sorted(k[3] for k in mixpanel.unique_events()) == sorted(set(ids) - poisoned)
    assert sorted(lago.transaction_ids()) == sorted(ids)


def test_lago_422_by_index_rejects_or_dedupes_the_named_and_resends_the_rest(
    tmp_path: Path, fakes: tuple[FakeMixpanel, FakeLago]
) -> None:
    mixpanel, lago = fakes
    config = write_config(tmp_path, mixpanel, lago)
    # Two events lack the property their metric reads: Lago fails phase 1 naming their index.
    bad = [7, 120]
    events, ids = write_input(tmp_path, names={i: "Seat Added" for i in bad})
    lago.metrics = {"Seat Added": ("seats",)}
    # Two are at Lago already (an earlier run): phase 2 names them `value_already_exist`.
    seeded = [5, 150]
    lago.seed(*({"transaction_id": ids[i], "external_subscription_id": user(i)} for i in seeded))
    rejected = tmp_path / "rejected.jsonl"

    code, summary, stderr = cli(str(events), "-c", str(config), "--rejected", str(rejected))

    assert code == 1, stderr
    check_accounting(summary)
    billing = summary["destinations"]["billing"]
    assert (billing["delivered"], billing["duplicates"], billing["rejected"]) == (COUNT - 4, 2, 2)
    # Batches 1 and 2: 422 (phase 1), resend, 422 (phase 2), resend, 200. Batch 3: 200.
    assert Counter(r.status for r in lago.requests) == {422: 4, 200: 3}
    assert billing["requests"] == 7
    assert summary["destinations"]["mixpanel"]["delivered"] == COUNT
    records = [jsonio.loads(line) for line in rejected.read_bytes().splitlines()]
    assert sorted(r["event"]["messageId"] for r in records) == [ids[i] for i in bad]
    for record in records:
        assert (record["destination"], record["route"]) == ("billing", "usage")
        assert record["reason"] == "expression_evaluation_failed: Variable: seats not found"
    stored = Counter(lago.transaction_ids())
    assert sorted(stored) == sorted(set(ids) - {ids[i] for i in bad})
    assert set(stored.values()) == {1}


# --- fatal faults: the run stops, says why, keeps its checkpoint; a re-run completes -----------

FATAL_COUNT = 2500  # /import batches of 2000 and 500; 25 Lago batches
ANSWERED = 22  # Lago batches answered before the fault: events 0..2199


@dataclass(frozen=True)
class Fatal:
    """Faults queued on Lago after `ANSWERED` normal answers; `--concurrency 1` for order."""

    faults: tuple[Fault, ...]
    args: tuple[str, ...]
    exit: int
    message: str


FATAL = {
    "401 mid-run": Fatal(
        (Fault.http(401),),
        (),
        5,
        "destination `billing` (lago) refused the credentials at /api/v1/events/batch: HTTP 401",
    ),
    "403 on Lago": Fatal(
        (Fault.http(403),),
        (),
        5,
        "destination `billing` (lago) refused the credentials at /api/v1/events/batch: HTTP 403",
    ),
    "retries exhausted": Fatal(
        (Fault.http(503),) * 3,
        ("--max-retries", "3"),
        6,
        "destination `billing` (lago) /api/v1/events/batch: still failing after 3 attempts; "
        "last error: HTTP 503",
    ),
}


@pytest.mark.parametrize("case", list(FATAL.values()), ids=list(FATAL))
def test_fatal_fault_stops_keeps_the_checkpoint_and_a_rerun_completes(
    tmp_path: Path, fakes: tuple[FakeMixpanel, FakeLago], case: Fatal
) -> None:
    mixpanel, lago = fakes
    config = write_config(tmp_path, mixpanel, lago)
    events, ids = write_input(tmp_path, FATAL_COUNT)
    checkpoint = tmp_path / "run.checkpoint"
    lago.fail(LAGO_BATCH, *([PASS] * ANSWERED), *case.faults)
    args = (str(events), "-c", str(config), "--checkpoint", str(checkpoint), "--concurrency", "1")

    code, summary, stderr = cli(*args, *case.args)

    assert code == case.exit
    assert case.message in " ".join(stderr.split())
    # Nothing is sent after the fault: Lago's last request is the failing one, and Mixpanel got
    # only the batch it had before (events 0..1999).
    statuses = [r.status for r in lago.requests]
    assert statuses == [200] * ANSWERED + [f.status for f in case.faults]
    assert [(r.status, len(r.body)) for r in mixpanel.requests] == [(200, IMPORT_BATCH_ITEMS)]
    # The summary is printed and adds up; the routes the stop left unanswered are `not_sent`.
    check_accounting(summary, complete=False)
    mp, billing = summary["destinations"]["mixpanel"], summary["destinations"]["billing"]
    assert mp["delivered"] == IMPORT_BATCH_ITEMS
    assert billing["delivered"] == ANSWERED * LAGO_BATCH_ITEMS
    assert summary["not_sent"] == 2 * summary["events_read"] - summary["delivered"] > 0
    # Every request made is counted, the failing batch's attempts included.
    assert (mp["requests"], billing["requests"]) == (len(mixpanel.requests), len(lago.requests))
    # The checkpoint holds the (1-based) line below which both destinations answered.
    saved = jsonio.loads(checkpoint.read_bytes())
    assert saved["inputs"] == {str(events): IMPORT_BATCH_ITEMS + 1}

    code, rerun, stderr = cli(*args)

    assert code == 0, stderr
    check_accounting(rerun)
    assert rerun["resumed"] == rerun["skipped"] == IMPORT_BATCH_ITEMS
    mp, billing = rerun["destinations"]["mixpanel"], rerun["destinations"]["billing"]
    lago_before = (ANSWERED * LAGO_BATCH_ITEMS) - IMPORT_BATCH_ITEMS  # lines 2000..2199
    assert (mp["delivered"], mp["duplicates"]) == (FATAL_COUNT - IMPORT_BATCH_ITEMS, 0)
    assert billing["duplicates"] == lago_before
    assert billing["delivered"] == FATAL_COUNT - IMPORT_BATCH_ITEMS - lago_before
    stored_once(mixpanel, lago, ids, copies=1)  # the resume resent nothing Mixpanel had


# --- the disk: a full disk stops the run with exit 4, never past what it could not write -------


def test_disk_full_on_the_rejected_file_exits_4_and_keeps_the_checkpoint_before_it(
    tmp_path: Path, fakes: tuple[FakeMixpanel, FakeLago], monkeypatch: pytest.MonkeyPatch
) -> None:
    mixpanel, lago = fakes
    monkeypatch.setattr(pipeline_module, "CHECKPOINT_EVERY_SECONDS", 0.0)  # after every answer
    config = write_config(tmp_path, mixpanel, lago)
    events, ids = write_input(tmp_path)
    mixpanel.poison.add(ids[10])
    checkpoint = tmp_path / "run.checkpoint"
    args = (str(events), "-c", str(config), "--checkpoint", str(checkpoint))
    # A full disk, as fsync reports it (`/dev/full` is a device, refused as --rejected since
    # PRODUCT.md §3.2: tests/send/test_output_files.py).
    full = tmp_path / "full.jsonl"
    with monkeypatch.context() as disk:
        disk.setattr(rejected_module, "os", _DiskFull())
        code, summary, stderr = cli(*args, "--rejected", str(full))

    assert code == 4
    message = f"Error: {full}: cannot write the rejected file: No space left on device"
    assert message in " ".join(stderr.split())
    check_accounting(summary, complete=False)  # the summary is printed and adds up
    assert summary["rejected"] == 1
    # The rejection never reached the disk: the checkpoint does not pass its line (11).
    saved = jsonio.loads(checkpoint.read_bytes())
    assert saved["inputs"].get(str(events), 1) <= 11

    rejected = tmp_path / "rejected.jsonl"
    code, rerun, stderr = cli(*args, "--rejected", str(rejected))

    assert code == 1, stderr
    check_accounting(rerun)
    assert rerun["rejected"] == 1
    records = [jsonio.loads(line) for line in rejected.read_bytes().splitlines()]
    assert [r["event"]["messageId"] for r in records] == [ids[10]]


class _DiskFull:
    """`os` for `cdpcli.send.checkpoint` or `.rejected`, where fsync fails as on a full disk."""

    def __getattr__(self, name: str) -> Any:
        return getattr(os, name)

    @staticmethod
    def fsync(_fd: int) -> None:
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))


@pytest.mark.parametrize("when", ["at the end", "mid-run"])
def test_disk_full_on_the_checkpoint_exits_4(
    tmp_path: Path,
    fakes: tuple[FakeMixpanel, FakeLago],
    monkeypatch: pytest.MonkeyPatch,
    when: str,
) -> None:
    mixpanel, lago = fakes
    if when == "mid-run":
        monkeypatch.setattr(pipeline_module, "CHECKPOINT_EVERY_SECONDS", 0.0)
    monkeypatch.setattr(checkpoint_module, "os", _DiskFull())
    config = write_config(tmp_path, mixpanel, lago)
    events, ids = write_input(tmp_path)
    checkpoint = tmp_path / "state" / "run.checkpoint"
    checkpoint.parent.mkdir()

    result = send(
        SendRequest(paths=[str(events)], config_path=config, checkpoint_path=checkpoint),
        environ=SECRETS,
        deliverer_factory=deliverer_factory(concurrency=2),
    )

    assert isinstance(result.error, InputError)
    assert result.error.exit_code == 4 and exit_code(result) == 4
    assert result.error.message == (
        f"{checkpoint}: cannot write the checkpoint: No space left on device"
    )
    assert list(checkpoint.parent.iterdir()) == []  # no checkpoint, no temporary file left
    summary = result.summary.as_dict()
    if when == "at the end":
        check_accounting(summary)
        assert summary["delivered"] == 2 * COUNT
        stored_once(mixpanel, lago, ids, copies=1)
    else:  # the first save, after the first answer, stops the run
        check_accounting(summary, complete=False)
        assert summary["not_sent"] > 0


# --- the operator: SIGINT and SIGTERM stop between two events, save the checkpoint -------------

SIGNAL_INPUT_EVENTS = 50_000  # long enough to be interrupted mid-run


@pytest.fixture(scope="module")
def big_input(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("big") / "events.jsonl"
    with open(path, "wb") as handle:
        write_bench_events(SIGNAL_INPUT_EVENTS, handle)
    return path


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
def test_signal_exits_130_with_the_checkpoint_saved_and_every_event_accounted_for(
    tmp_path: Path, fakes: tuple[FakeMixpanel, FakeLago], big_input: Path, signum: int
) -> None:
    mixpanel, lago = fakes
    config = write_config(tmp_path, mixpanel, lago)
    checkpoint = tmp_path / "run.checkpoint"
    process = spawn(config, big_input, checkpoint)
    wait_for_requests(lago, process, 40)
    process.send_signal(signum)
    out, err = process.communicate(timeout=20)

    assert process.returncode == 130, err.decode()
    assert "interrupted; the checkpoint was saved" in err.decode()
    summary = jsonio.loads(out.splitlines()[-1])
    check_accounting(summary, complete=False)
    assert 0 < summary["events_read"] < SIGNAL_INPUT_EVENTS
    # The checkpoint passes only lines whose events the destinations have.
    below = jsonio.loads(checkpoint.read_bytes())["inputs"][str(big_input)]
    assert 1 < below <= summary["events_read"] + 1
    lines = big_input.read_bytes().splitlines()[: below - 1]
    settled = [jsonio.loads(line) for line in lines]
    tracks = {e["messageId"] for e in settled if e["type"] == "track"}
    assert tracks <= set(lago.transaction_ids())
    assert len(mixpanel.unique_events()) >= sum(e["type"] in ("track", "page") for e in settled)
