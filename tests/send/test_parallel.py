"""`cdpcli send --jobs N`: events prepared in worker processes give the same requests, summary,
rejected file and checkpoint behaviour as `-j 1` (cdpcli.send.prepare_parallel).

The thresholds are shrunk so that a small input is cut into many pieces: `cdpcli.send.run` builds
`Parallelism(jobs=...)` with the module defaults, so the tests replace `cdpcli.send.run.Parallelism`
(in-process) or run the CLI through a wrapper that does the same (subprocess)."""

from __future__ import annotations

import contextlib
import functools
import marshal
import os
import signal
import subprocess
import sys
import time
import tracemalloc
from collections.abc import Callable, Generator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson
import pytest
from typer.testing import CliRunner

from bench.generate import events as generated_events
from bench.generate import write as write_events
from cdpcli import jsonio
from cdpcli.cli.app import app
from cdpcli.destinations.mixpanel.properties import insert_id
from cdpcli.destinations.registry import get_kind
from cdpcli.errors import InputError
from cdpcli.events.reader import read_input, resolve_inputs
from cdpcli.jsonio import dumps_bytes
from cdpcli.routing.config import load_config
from cdpcli.send import prepare_parallel
from cdpcli.send.prepare import INVALID, REJECT, ROUTED, SKIP, Prepared, Preparer, named
from cdpcli.send.prepare_parallel import Parallelism
from cdpcli.send.run import SendRequest, send
from cdpcli.workers.pool import WorkerPool
from tests.fakes import LAGO_BATCH, MIXPANEL_ENGAGE, MIXPANEL_IMPORT, FakeLago, FakeMixpanel, Fault
from tests.fakes.sends import SECRETS, check_accounting, wait_for_requests, write_config
from tests.paths import REPO
from tests.processes import alive

pytestmark = [
    pytest.mark.usefixtures("fast_retries"),  # fixtures: tests/fakes/sends.py
    # Python 3.12+ warns when a process with threads (the fakes' servers) forks the workers.
    pytest.mark.filterwarnings(
        "ignore:.*use of fork\\(\\) may lead to deadlocks:DeprecationWarning"
    ),
]

PIECE_BYTES = 20_000  # ~30 events a piece: a few thousand events make about a hundred pieces

DRY_CONFIG = """\
version: 1
destinations:
  mixpanel:
    kind: mixpanel
    project_id: "12345"
  billing:
    kind: lago
    api_url: https://api.getlago.com
routes:
  - name: analytics
    to: mixpanel
  - name: usage
    to: billing
    when: {type: track}
    map:
      code: api_calls
      external_subscription_id: "{{ properties.subscription_id }}"
      properties: {gb: "{{ properties.bytes }}"}
"""
SINCE, UNTIL = "2024-05-01T00:01:00Z", "2024-05-01T00:08:00Z"  # the events span ~10 minutes

# Lines that are not events, or not valid ones (some with data that goes to the rejected file).
BAD_LINES = [
    b'{"type":"track"',
    b"[1,2]",
    b'{"type":"track","userId":"u"}',
    b"\xff\xfe",
    '{"type":"nope","x":"é"}'.encode(),
    b"",
    b"   ",
]
# A track the `usage` map rejects (no subscription_id), whose data needs the JSON fallback
# (nesting deeper than orjson writes), with non-ASCII, control characters and floats: its
# rejected record is the hardest to get byte-identical when it crosses a process boundary.
ODD_TRACK: dict[str, Any] = {
    "type": "track",
    "event": "Odd ☃",
    "userId": "u_ödd",
    "properties": {
        "deep": orjson.loads(b"[" * 300 + b"]" * 300),
        "text": 'naïve \u2028 \u0000 \x7f "q" \\',
        "big": 1e16,
        "small": 0.1,
        "int": 12345678901234567,
    },
}


def write_input(path: Path, count: int, *, seed: int = 7, odd: bool = True) -> Path:
    """`count` generated events, plus invalid lines, blank lines, CRLF endings, alias events,
    tracks the `usage` map rejects, HTTP-API batch envelopes (with invalid items) and odd
    tracks; no final newline."""
    out: list[bytes] = []
    batch: list[Any] = []
    for n, generated in enumerate(generated_events(count, seed=seed)):
        event = generated
        if event["type"] == "track" and n % 37 == 0:
            del event["properties"]["subscription_id"]  # the `usage` map rejects it
        if n % 101 == 0:
            event = {
                "type": "alias",
                "userId": event["userId"],
                "previousId": event["anonymousId"],
                "messageId": event["messageId"],
                "timestamp": event["timestamp"],
            }
        if odd and n % 211 == 0:
            event = {**ODD_TRACK, "messageId": event["messageId"], "timestamp": event["timestamp"]}
        if n % 61 == 0:
            batch.append(event)
            if len(batch) == 3:
                envelope = {
                    "batch": [*batch, 7, {"type": "track"}],
                    "context": {"library": {"name": "x"}},
                    "sentAt": "2024-05-01T00:00:00Z",
                }
                out.append(dumps_bytes(envelope) + b"\n")
                batch = []
            continue
        line = BAD_LINES[n // 53 % len(BAD_LINES)] if n % 53 == 0 else dumps_bytes(event)
        out.append(line + (b"\r\n" if n % 13 == 0 else b"\n"))
    path.write_bytes(b"".join(out).rstrip(b"\n"))
    return path


# --- forcing the workers, and seeing that they ran ------------------------------------------


@dataclass
class Trace:
    """What the worker path did, seen from this process: the pools started, the pieces
    consumed and the processes that prepared them (this one's included)."""

    pools: list[int] = field(default_factory=list)  # `jobs` of each WorkerPool started
    pieces: int = 0
    pids: list[int] = field(default_factory=list)  # of each piece, in order


_real_prepare_piece = prepare_parallel._prepare_piece
_real_pool_init = WorkerPool.__init__
_real_ordered = WorkerPool.ordered


def _traced_piece(task: Any) -> tuple[int, Any]:
    """In a worker: the piece as usual, and the process that prepared it."""
    return os.getpid(), _real_prepare_piece(task)


@pytest.fixture
def trace(monkeypatch: pytest.MonkeyPatch) -> Trace:
    """Records what the worker pools of the test do (`cdpcli.workers.pool.WorkerPool`)."""
    seen = Trace()

    def pool_init(self: WorkerPool, jobs: int, **kwargs: Any) -> None:
        seen.pools.append(jobs)
        _real_pool_init(self, jobs, **kwargs)

    def ordered(
        self: WorkerPool,
        function: Callable[[Any], Any],
        tasks: Any,
        *,
        window: int,
        local: Callable[[Any], Any] | None = None,
    ) -> Generator[Any, None, None]:
        assert function is _real_prepare_piece
        assert local is not None  # this process prepares pieces too

        def traced_here(task: Any) -> tuple[int, Any]:
            return os.getpid(), local(task)

        results = _real_ordered(self, _traced_piece, tasks, window=window, local=traced_here)
        try:
            for pid, result in results:
                seen.pids.append(pid)
                seen.pieces += 1
                yield result
        finally:
            results.close()

    monkeypatch.setattr(WorkerPool, "__init__", pool_init)
    monkeypatch.setattr(WorkerPool, "ordered", ordered)
    return seen


@pytest.fixture
def workers(monkeypatch: pytest.MonkeyPatch, trace: Trace) -> Trace:
    """Small inputs are cut into pieces of PIECE_BYTES for the workers; returns the trace."""
    monkeypatch.setattr(
        "cdpcli.send.run.Parallelism",
        functools.partial(Parallelism, min_bytes=1, piece_bytes=PIECE_BYTES),
    )
    return trace


def assert_workers_ran(trace: Trace, *, pieces: int) -> None:
    """-j 2: one worker, and this process: it takes the 4th piece itself while the worker
    holds the first 3."""
    assert trace.pools == [1]
    assert trace.pieces >= pieces >= 4
    assert set(trace.pids) - {os.getpid()}, "no piece was prepared by a worker"
    assert trace.pids[3] == os.getpid()


def run_cli(*args: str, env: dict[str, str] | None = None) -> tuple[int, bytes]:
    result = CliRunner().invoke(app, ["send", *args], env=env)
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
    return result.exit_code, result.stdout_bytes


def summary_of(stdout: bytes) -> dict[str, Any]:
    summary: dict[str, Any] = jsonio.loads(stdout.splitlines()[-1])
    assert summary["kind"] == "summary"
    return summary


# --- dry runs ----------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def dry_input(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    directory = tmp_path_factory.mktemp("dry")
    config = directory / "cdpcli.yaml"
    config.write_text(DRY_CONFIG)
    return config, write_input(directory / "events.jsonl", 3000)


def dry_run(config: Path, path: Path, jobs: int, *extra: str) -> tuple[int, bytes, bytes]:
    """Exit code, stdout (request lines and the JSON summary) and the rejected file."""
    rejected = path.parent / f"rejected-{jobs}.jsonl"
    rejected.unlink(missing_ok=True)
    code, out = run_cli(
        str(path), "-c", str(config), "--dry-run", "--format", "json", "-j", str(jobs),
        "--rejected", str(rejected), *extra,
    )  # fmt: skip
    return code, out, rejected.read_bytes() if rejected.exists() else b""


def rejected_both_ways(path: Path, workers: Trace) -> tuple[tuple[int, bytes, bytes], list[Any]]:
    """Dry runs of `path` under DRY_CONFIG with -j 1 and with -j 2 (which must have cut it into
    pieces for the workers): the -j 1 run, once its rejected file is found byte-identical to the
    -j 2 one, and that file's records."""
    config = path.parent / "cdpcli.yaml"
    config.write_text(DRY_CONFIG)
    serial = dry_run(config, path, 1)
    parallel = dry_run(config, path, 2)
    assert_workers_ran(workers, pieces=path.stat().st_size // (2 * PIECE_BYTES))
    assert parallel[2] == serial[2]
    return serial, [jsonio.loads(line) for line in serial[2].splitlines()]


def test_dry_run_with_workers_is_byte_identical(
    dry_input: tuple[Path, Path], workers: Trace
) -> None:
    config, path = dry_input
    window = ("--since", SINCE, "--until", UNTIL)
    serial = dry_run(config, path, 1, *window)
    assert workers.pools == []  # -j 1: prepared in this process
    parallel = dry_run(config, path, 2, *window)

    assert_workers_ran(workers, pieces=path.stat().st_size // (2 * PIECE_BYTES))
    assert parallel == serial
    code, out, rejected = serial
    assert code == 1
    summary = summary_of(out)
    assert summary["events_read"] == 3014  # 3000 lines and envelopes, less blank lines, plus items
    assert summary["invalid"] == 72
    assert summary["skipped"] > 300  # outside the window, and aliases (no route matches)
    assert summary["destinations"]["billing"]["rejected"] > 0  # the map needs subscription_id
    assert summary["delivered"] > 3000
    records = [jsonio.loads(line) for line in rejected.splitlines()]
    assert len(records) == summary["invalid"] + summary["rejected"]
    assert any(type(r["event"]) is str for r in records)  # lines that were not JSON, as text
    odd = [r for r in records if type(r["event"]) is dict and r["event"].get("event") == "Odd ☃"]
    assert odd and all(r["event"]["properties"] == ODD_TRACK["properties"] for r in odd)
    assert len(out.splitlines()) > 15  # many requests, not an empty run


def test_limit_with_workers_is_the_same(dry_input: tuple[Path, Path], workers: Trace) -> None:
    config, path = dry_input
    serial = dry_run(config, path, 1, "--limit", "1234")
    parallel = dry_run(config, path, 2, "--limit", "1234")
    assert_workers_ran(workers, pieces=5)
    assert parallel == serial
    assert summary_of(serial[1])["events_read"] == 1234


def test_small_files_and_explain_stay_in_this_process(
    dry_input: tuple[Path, Path], trace: Trace
) -> None:
    """With the real thresholds, a 2 MB file is prepared in this process even with -j 2."""
    config, path = dry_input
    assert path.stat().st_size < prepare_parallel.MIN_PARALLEL_BYTES
    assert dry_run(config, path, 2, "--limit", "50") == dry_run(config, path, 1, "--limit", "50")
    assert trace.pools == []


def test_explain_stays_in_this_process(dry_input: tuple[Path, Path], workers: Trace) -> None:
    """--explain shows each event as this process prepared it: no workers, whatever the size."""
    config, path = dry_input
    code, out = run_cli(
        str(path), "-c", str(config), "--dry-run", "--explain", "-j", "2", "--limit", "20"
    )
    assert code == 0
    assert b"analytics" in out and b"usage" in out  # the routes each event took
    assert workers.pools == []


def test_rejected_record_at_the_json_depth_limit_is_byte_identical(
    tmp_path: Path, workers: Trace
) -> None:
    deep = "[" * 252 + "]" * 252
    line = '{"batch":[{"type":"track","userId":"u","properties":{"x":1e-05,"d":' + deep + "}}]}"
    path = tmp_path / "events.jsonl"
    path.write_text(line + "\n")
    config = tmp_path / "cdpcli.yaml"
    config.write_text(DRY_CONFIG)
    serial = dry_run(config, path, 1)
    parallel = dry_run(config, path, 2)
    assert workers.pools == [1]  # -j 2: one worker (it takes the only piece)
    assert b"invalid: batch[0].event" in serial[2]
    assert parallel[2] == serial[2]


def test_rejected_lines_are_read_back_from_the_input_as_they_were(
    tmp_path: Path, workers: Trace
) -> None:
    """A worker sends no input line back with a routed event: the line is read back from the
    input when a route rejects it. The first line has a BOM, lines carry blanks around them,
    and the pieces end at different places; the rejected file quotes each line as -j 1 does."""
    lines = []
    for n, event in enumerate(generated_events(1500, seed=3)):
        if event["type"] != "track":
            continue
        if n % 3 == 0 or not lines:
            del event["properties"]["subscription_id"]  # the `usage` map rejects it
        pad = b" \t" * (n // 3 % 3)  # rejected lines too: with and without blanks
        lines.append(pad + dumps_bytes(event) + pad)
    path = tmp_path / "events.jsonl"
    path.write_bytes(prepare_parallel.BOM + b"\n".join(lines) + b"\n")

    serial, records = rejected_both_ways(path, workers)
    assert len(records) == summary_of(serial[1])["destinations"]["billing"]["rejected"] > 300
    assert records[0]["event"] == jsonio.loads(lines[0])  # line 1, without its BOM
    quoted = {r["event"]["messageId"]: r["event"] for r in records}
    for line in lines[::97]:
        event = jsonio.loads(line)
        if "subscription_id" not in event["properties"]:
            assert quoted[event["messageId"]] == event


# --- real sends to the fakes -------------------------------------------------------------------


@dataclass
class Sent:
    summary: dict[str, Any]
    rejected: bytes
    mixpanel: FakeMixpanel
    lago: FakeLago


def real_send(directory: Path, path: Path, jobs: int, poison_every: int) -> Sent:
    """One run with faults against fresh fakes: 429 with Retry-After, 5xx, Mixpanel partial
    400s for the records poisoned by content, and Lago rejecting every `Seat Added`."""
    with FakeMixpanel() as mixpanel, FakeLago() as lago:
        config = write_config(directory, mixpanel, lago)
        mixpanel.poison.update(poisoned_ids(config, path, poison_every))
        lago.metrics = {"Seat Added": ("gb",)}
        mixpanel.fail(MIXPANEL_IMPORT, Fault.rate_limited(retry_after="0"), Fault.http(500))
        mixpanel.fail(MIXPANEL_ENGAGE, Fault.http(503))
        lago.fail(LAGO_BATCH, Fault.http(500), Fault.rate_limited(reset="0"))
        rejected = directory / f"rejected-{jobs}.jsonl"
        code, out = run_cli(
            str(path), "-c", str(config), "--format", "json", "-j", str(jobs),
            "--concurrency", "1", "--rejected", str(rejected),
            env=SECRETS,
        )  # fmt: skip
        assert code == 1
        assert mixpanel.pending_faults(MIXPANEL_IMPORT) == lago.pending_faults(LAGO_BATCH) == 0
        assert mixpanel.errors == lago.errors == []
        return Sent(summary_of(out), rejected.read_bytes(), mixpanel, lago)


def poisoned_ids(config: Path, path: Path, every: int) -> list[str]:
    """The `$insert_id`s of the /import records whose `bytes` property is a multiple of
    `every` (chosen by content, so the same records fail whatever the batches), in input
    order."""
    lines: list[bytes] = []
    send(
        SendRequest(paths=[str(path)], config_path=config, dry_run=True), write_request=lines.append
    )
    ids: dict[str, None] = {}
    for line in lines:
        request = jsonio.loads(line)
        if request["destination"] == "mixpanel" and "/import" in request["url"]:
            for record in request["body"]:
                if record["properties"].get("bytes", 1) % every == 0:
                    ids[record["properties"]["$insert_id"]] = None
    assert ids
    return list(ids)


def line_offsets(path: Path) -> dict[str, int]:
    """Where the line holding each event starts in `path`, by the event's `$insert_id`."""
    offsets: dict[str, int] = {}
    position = 0
    for line in path.read_bytes().splitlines(keepends=True):
        with contextlib.suppress(orjson.JSONDecodeError):
            value = orjson.loads(line)
            events = value.get("batch", [value]) if isinstance(value, dict) else []
            for event in events:
                if isinstance(event, dict) and isinstance(event.get("messageId"), str):
                    offsets.setdefault(insert_id(event["messageId"]), position)
        position += len(line)
    return offsets


def test_real_send_with_workers_delivers_once_and_rejects_the_same(
    tmp_path: Path, workers: Trace
) -> None:
    path = write_input(tmp_path / "events.jsonl", 2000, odd=False)
    serial = real_send(tmp_path, path, 1, poison_every=41)
    assert workers.pools == []
    parallel = real_send(tmp_path, path, 2, poison_every=41)
    assert_workers_ran(workers, pieces=40)

    for sent in (serial, parallel):
        check_accounting(sent.summary)
        stored = sent.lago.transaction_ids()
        assert len(stored) == len(set(stored))  # every event once
        assert len(sent.mixpanel.events) == len(sent.mixpanel.unique_events())
    assert parallel.summary == serial.summary
    assert parallel.rejected == serial.rejected  # same records, same order, same bytes
    assert sorted(parallel.lago.transaction_ids()) == sorted(serial.lago.transaction_ids())
    assert set(parallel.mixpanel.unique_events()) == set(serial.mixpanel.unique_events())
    assert parallel.mixpanel.profile_updates == serial.mixpanel.profile_updates

    summary = serial.summary
    records = [jsonio.loads(line) for line in serial.rejected.splitlines()]
    reasons = {r["reason"].split(":")[0] for r in records}
    mixpanel, billing = summary["destinations"]["mixpanel"], summary["destinations"]["billing"]
    assert mixpanel["rejected"] > 0 and billing["rejected"] > 0 and summary["invalid"] > 0
    assert "invalid" in reasons and "expression_evaluation_failed" in reasons
    assert len(records) == summary["invalid"] + summary["rejected"]
    assert mixpanel["delivered"] == len(serial.mixpanel.unique_events()) + len(
        serial.mixpanel.profile_updates
    ) + len(serial.mixpanel.group_updates)


# --- an interrupted run, resumed -------------------------------------------------------------

WRAPPER = f"""
import functools, sys
import cdpcli.send.run
from cdpcli.send.prepare_parallel import Parallelism
cdpcli.send.run.Parallelism = functools.partial(Parallelism, min_bytes=1, piece_bytes={PIECE_BYTES})
from tests.fast_cli import use_fast_retries
use_fast_retries()
from cdpcli.cli.app import main
sys.argv = ["cdpcli", *sys.argv[1:]]
main()
"""


def spawn_parallel(config: Path, inputs: Path, checkpoint: Path) -> subprocess.Popen[bytes]:
    """`cdpcli send INPUTS --checkpoint CHECKPOINT -j 3` (two workers beside this process) in
    a subprocess, with small pieces."""
    env = {**os.environ, **SECRETS}
    argv = [sys.executable, "-c", WRAPPER, "send", str(inputs), "-c", str(config), "-j", "3"]
    argv += ["--checkpoint", str(checkpoint), "--format", "json", "--quiet"]
    return subprocess.Popen(
        argv,
        cwd=REPO,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        start_new_session=True,  # a process group of its own, as a terminal's Ctrl-C sees it
    )


def children(pid: int) -> list[int]:
    """The processes whose parent is `pid` (from /proc)."""
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            if int(stat.rsplit(")", 1)[1].split()[1]) == pid:
                found.append(int(entry.name))
    return found


def wait_until(condition: Callable[[], bool], what: str, seconds: float = 10) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, what
        time.sleep(0.01)


EVENTS = 20_000


@pytest.fixture(scope="module")
def big_input(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("big") / "events.jsonl"
    with open(path, "wb") as handle:
        write_events(EVENTS, handle, seed=3)
    return path


def assert_all_delivered_once(
    path: Path, summary: dict[str, Any], mixpanel: FakeMixpanel, lago: FakeLago
) -> None:
    check_accounting(summary)
    events = [jsonio.loads(line) for line in path.read_bytes().splitlines()]
    tracks = [e["messageId"] for e in events if e["type"] == "track"]
    stored = lago.transaction_ids()
    assert len(stored) == len(set(stored)) and set(stored) == set(tracks)
    imports = {e["messageId"] for e in events if e["type"] in ("track", "page")}
    assert len(mixpanel.unique_events()) == len(imports)
    billing = summary["destinations"]["billing"]
    assert billing["delivered"] + billing["duplicates"] == billing["routed"]


@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="needs /proc")
def test_sigkill_with_workers_then_resume_delivers_everything_once(
    tmp_path: Path, fakes: tuple[FakeMixpanel, FakeLago], big_input: Path
) -> None:
    mixpanel, lago = fakes
    config = write_config(tmp_path, mixpanel, lago)
    path = big_input
    checkpoint = tmp_path / "run.checkpoint"
    process = spawn_parallel(config, path, checkpoint)
    wait_for_requests(lago, process, 10)
    workers = children(process.pid)
    try:
        # killed once a checkpoint was saved (about a second in), and long before the end
        wait_until(lambda: checkpoint.exists() or process.poll() is not None, "no checkpoint")
        process.kill()
        process.wait(timeout=10)  # not communicate(): orphaned workers would hold the pipes
        assert process.returncode == -signal.SIGKILL
        assert len(workers) == 2  # the run had its two workers when it was killed
        wait_until(lambda: not any(alive(pid) for pid in workers), "workers outlived the run", 5)
    finally:
        for pid in workers:  # on failure: leave nothing behind
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        for pipe in (process.stdout, process.stderr):
            if pipe is not None:
                pipe.close()
    first = len(lago.transaction_ids())
    assert first > 0 and checkpoint.exists()

    process = spawn_parallel(config, path, checkpoint)
    out, err = process.communicate(timeout=60)

    assert process.returncode == 0, err.decode()
    summary = summary_of(out)
    assert 0 < summary["resumed"] < EVENTS  # the checkpoint was used, and work was left
    assert_all_delivered_once(path, summary, mixpanel, lago)


@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="needs /proc")
@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
def test_ctrl_c_with_workers_saves_the_checkpoint_then_resume_completes(
    tmp_path: Path, fakes: tuple[FakeMixpanel, FakeLago], big_input: Path, signum: int
) -> None:
    """A signal to the whole process group (a terminal's Ctrl-C, `kill -TERM -PGID`): the
    workers ignore it, the run stops between two events, exits 130 with the checkpoint saved,
    and leaves no worker."""
    mixpanel, lago = fakes
    config = write_config(tmp_path, mixpanel, lago)
    checkpoint = tmp_path / "run.checkpoint"
    process = spawn_parallel(config, big_input, checkpoint)
    try:
        wait_for_requests(mixpanel, process, 3)  # some events are settled on both routes
        wait_for_requests(lago, process, 40)
        workers = children(process.pid)
        assert len(workers) == 2
        os.killpg(process.pid, signum)
        out, err = process.communicate(timeout=20)
    finally:
        if process.poll() is None:  # on failure: leave nothing behind
            os.killpg(process.pid, signal.SIGKILL)
            process.communicate()

    assert process.returncode == 130, err.decode()
    assert "interrupted; the checkpoint was saved" in err.decode()
    assert not any(alive(pid) for pid in workers)  # stopped and reaped by the run itself
    summary = summary_of(out)
    check_accounting(summary, complete=False)
    saved = jsonio.loads(checkpoint.read_bytes())
    assert 0 < saved["inputs"][str(big_input)] < EVENTS, saved

    process = spawn_parallel(config, big_input, checkpoint)
    out, err = process.communicate(timeout=60)

    assert process.returncode == 0, err.decode()
    resumed = summary_of(out)
    assert resumed["resumed"] > 0
    assert_all_delivered_once(big_input, resumed, mixpanel, lago)


def test_a_replayed_line_rejected_again_is_quoted_as_the_event_not_its_record(
    tmp_path: Path, workers: Trace
) -> None:
    """A rejected-file record holding a line as text is replayed; rejected again, the new record
    quotes the event that text holds, not the old record around it (its input line)."""
    lines = []
    for event in generated_events(1200, seed=5):
        if event["type"] == "track":
            del event["properties"]["subscription_id"]  # the `usage` map rejects it
            text = dumps_bytes(event).decode()
            lines.append(dumps_bytes({"kind": "rejected", "event": text, "reason": "invalid: x"}))
    path = tmp_path / "rejected-before.jsonl"
    path.write_bytes(b"\n".join(lines) + b"\n")

    _, records = rejected_both_ways(path, workers)
    assert len(records) == len(lines) > 300
    originals = [jsonio.loads(jsonio.loads(line)["event"]) for line in lines]
    assert [r["event"] for r in records] == originals


def test_a_rejected_line_that_cannot_be_read_back_is_an_input_error(tmp_path: Path) -> None:
    path = tmp_path / "gone.jsonl"
    path.write_bytes(b'{"a":1}\n  {"b":2}  \n')
    piece = (str(path), 0, path.stat().st_size, 7)
    assert prepare_parallel.quoted(piece, 8) == b'{"b":2}'
    assert prepare_parallel.quoted(b"{}", 8) == b"{}"  # anything else is the data itself
    with pytest.raises(InputError, match=r"gone\.jsonl:12: the line is no longer there"):
        prepare_parallel.quoted(piece, 12)
    path.unlink()
    with pytest.raises(InputError, match=r"gone\.jsonl:8: cannot read the line back") as raised:
        prepare_parallel.quoted((str(path), 0, 21, 7), 8)
    assert raised.value.hint is not None and "stay in place" in raised.value.hint


def test_a_line_read_back_from_a_piece_with_a_huge_line_does_not_read_the_huge_one(
    tmp_path: Path,
) -> None:
    """A piece ends after the line its size reached, which may be a line of gigabytes (reported
    too long, PRODUCT.md §3.2): reading back another line of the piece never holds that one."""
    path = tmp_path / "huge.jsonl"
    with open(path, "wb") as handle:
        handle.write(b'{"a":1}\n')
        handle.seek(32 << 20, os.SEEK_CUR)  # a 32 MiB line of NULs (a hole)
        handle.write(b'\n  {"b":2}  \n')
    piece = (str(path), 0, path.stat().st_size, 1)
    prepare_parallel._piece_lines.cache_clear()
    tracemalloc.start()
    try:
        assert prepare_parallel.quoted(piece, 3) == b'{"b":2}'
        assert prepare_parallel.quoted(piece, 1) == b'{"a":1}'
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
        prepare_parallel._piece_lines.cache_clear()
    assert peak < 8 << 20, f"{peak:,} bytes held at once"


class _Vanished:
    """`prepare_parallel._piece_lines` as it reads an input that is gone."""

    def __call__(self, *_: Any) -> list[bytes]:
        raise FileNotFoundError(2, "No such file or directory")

    def cache_clear(self) -> None:
        pass


# The routes of DRY_CONFIG the other way round: the route that rejects comes first.
USAGE_FIRST = (
    DRY_CONFIG.replace("  - name: analytics\n    to: mixpanel\n", "")
    + "  - name: analytics\n    to: mixpanel\n"
)


@pytest.mark.parametrize("routes", [DRY_CONFIG, USAGE_FIRST], ids=["rejecting-last", "first"])
def test_a_run_whose_input_vanished_stops_with_every_route_accounted_for(
    tmp_path: Path, workers: Trace, monkeypatch: pytest.MonkeyPatch, routes: str
) -> None:
    """The input disappears before a rejected line is read back: the run stops with an input
    error (exit 4), and the route that could not be written is `not_sent`, not lost, and so
    are the event's later routes."""
    assert routes.count("- name:") == 2
    path = write_input(tmp_path / "events.jsonl", 600, odd=False)
    config = tmp_path / "cdpcli.yaml"
    config.write_text(routes)

    monkeypatch.setattr(prepare_parallel, "_piece_lines", _Vanished())
    code, out, rejected = dry_run(config, path, 2)

    assert code == 4
    summary = summary_of(out)
    assert summary["not_sent"] >= 1
    records = [jsonio.loads(line) for line in rejected.splitlines()]
    assert len(records) == summary["invalid"] + summary["rejected"]  # none half-counted
    outcomes = sum(summary[k] for k in ("delivered", "duplicates", "rejected", "skipped"))
    extra = summary["destinations"]["billing"]["routed"]
    assert outcomes + summary["not_sent"] == summary["events_read"] - summary["invalid"] + extra


def test_a_server_rejection_whose_line_vanished_leaves_the_counts_whole(
    tmp_path: Path, workers: Trace, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Mixpanel rejects records of a batch whose other records it imported; the first rejected
    line cannot be read back: the run stops (exit 4) with the imported ones counted delivered
    and the rest not sent."""
    path = write_input(tmp_path / "events.jsonl", 800, odd=False)

    with FakeMixpanel() as mixpanel, FakeLago() as lago:
        config = write_config(tmp_path, mixpanel, lago)
        # One record of the first batch, inside it, and in the first piece of the input: a
        # worker's (the first pieces always are), whose lines are read back from the input.
        second = poisoned_ids(config, path, 7)[1]
        assert line_offsets(path)[second] < PIECE_BYTES
        mixpanel.poison.add(second)
        monkeypatch.setattr(prepare_parallel, "_piece_lines", _Vanished())
        code, out = run_cli(
            str(path), "-c", str(config), "--format", "json", "-j", "2",
            "--concurrency", "1", "--rejected", str(tmp_path / "rejected.jsonl"),
            env=dict(SECRETS),
        )  # fmt: skip
        imported = len(mixpanel.events)

    assert code == 4
    summary = summary_of(out)
    assert imported > 0 and summary["destinations"]["mixpanel"]["delivered"] > 0
    assert summary["not_sent"] > 0
    check_accounting(summary, complete=False)


def test_a_prepared_item_crosses_from_a_worker_as_its_plain_tuple(tmp_path: Path) -> None:
    """What a worker sends back (`tuple(prepared)`, marshalled) is rebuilt into the same
    `Prepared`, for every kind of item and route outcome."""
    config_path = tmp_path / "cdpcli.yaml"
    config_path.write_text(DRY_CONFIG)
    config = load_config(config_path)
    destinations = {
        name: get_kind(d.kind)(name, d.options, None) for name, d in config.destinations.items()
    }
    preparer = Preparer(config, destinations)
    preparer.portable = True  # as in a worker
    (input_file,) = resolve_inputs([str(write_input(tmp_path / "events.jsonl", 300))])
    prepared = [preparer.prepare(item) for item in read_input(input_file)]
    statuses = {status for p in prepared for _, status, _, _ in p.routes}
    assert {p.kind for p in prepared} == {INVALID, ROUTED}
    assert statuses == {None, SKIP, REJECT}
    back = [named(values) for values in marshal.loads(marshal.dumps(list(map(tuple, prepared))))]
    assert back == prepared
    assert {type(p) for p in back} == {Prepared}
