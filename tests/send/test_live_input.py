"""A live stream on stdin (PRODUCT.md §6.1 "Time-based flush"): a partial batch goes out once its
oldest record waited `--flush-interval`, while stdin stays open; the checkpoint follows within
about a second; a stop request is acted on while no data comes. Files are unaffected: their
batches fill first, whatever the flush interval."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from cdpcli import jsonio
from cdpcli.send.batching import Batcher
from cdpcli.send.run import SendRequest, send
from tests.fakes import FakeLago, FakeMixpanel
from tests.fakes.sends import SECRETS, check_accounting, write_config
from tests.paths import REPO

WAIT_SECONDS = 30  # how long a test waits for what should take a second or two


def event(n: int) -> bytes:
    data = {
        "type": "track",
        "event": "API Call",
        "userId": f"u{n}",
        "messageId": f"live-{n}",
        "timestamp": "2024-05-01T00:00:00Z",
    }
    return jsonio.dumps_bytes(data) + b"\n"


def send_from_stdin(config: Path, *args: str) -> subprocess.Popen[bytes]:
    argv = [sys.executable, "-m", "cdpcli", "send", "-", "-c", str(config), "--format", "json"]
    process = subprocess.Popen(
        [*argv, *args],
        cwd=REPO,
        env={**os.environ, **SECRETS},
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    STARTED.append(process)
    return process


def saved(checkpoint: Path) -> dict[str, int] | None:
    """The checkpoint's watermarks, None while there is none."""
    try:
        inputs: dict[str, int] = jsonio.loads(checkpoint.read_bytes())["inputs"]
    except FileNotFoundError:
        return None
    return inputs


@pytest.fixture(autouse=True)
def no_process_left() -> Iterator[list[subprocess.Popen[bytes]]]:
    """Every process `send_from_stdin` started is gone after the test, passed or failed."""
    yield STARTED
    while STARTED:
        process = STARTED.pop()
        if process.poll() is None:
            process.kill()
        process.communicate()


STARTED: list[subprocess.Popen[bytes]] = []


def wait_until(done: Callable[[], bool], process: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + WAIT_SECONDS
    while not done():
        assert process.poll() is None, process.communicate()
        assert time.monotonic() < deadline, "not within the wait"
        time.sleep(0.02)


def test_an_event_piped_to_stdin_is_delivered_while_stdin_stays_open(
    tmp_path: Path, fakes: tuple[FakeMixpanel, FakeLago]
) -> None:
    mixpanel, lago = fakes
    config = write_config(tmp_path, mixpanel, lago)
    checkpoint = tmp_path / "run.checkpoint"
    process = send_from_stdin(config, "--checkpoint", str(checkpoint))
    assert process.stdin is not None

    process.stdin.write(event(1))
    process.stdin.flush()
    wait_until(lambda: len(mixpanel.events) == 1 and len(lago.events) == 1, process)
    # Acknowledged, so the checkpoint passes the line within about a second.
    wait_until(lambda: saved(checkpoint) == {"<stdin>": 2}, process)

    process.stdin.write(event(2))
    process.stdin.flush()
    wait_until(lambda: len(mixpanel.events) == 2 and len(lago.events) == 2, process)
    out, err = process.communicate(timeout=WAIT_SECONDS)  # closes stdin: the end of the input

    assert process.returncode == 0, err.decode()
    summary = jsonio.loads(out.splitlines()[-1])
    check_accounting(summary)
    assert summary["delivered"] == 4
    # One request per event and destination: each went out alone, once it had waited.
    assert summary["destinations"]["mixpanel"]["requests"] == 2
    assert summary["destinations"]["billing"]["requests"] == 2
    assert [e["properties"]["$insert_id"] for e in mixpanel.events] == ["live-1", "live-2"]


def test_a_signal_ends_a_run_whose_stdin_is_open_and_silent(
    tmp_path: Path, fakes: tuple[FakeMixpanel, FakeLago]
) -> None:
    mixpanel, lago = fakes
    config = write_config(tmp_path, mixpanel, lago)
    checkpoint = tmp_path / "run.checkpoint"
    process = send_from_stdin(config, "--checkpoint", str(checkpoint))
    assert process.stdin is not None
    process.stdin.write(event(1))
    process.stdin.flush()
    wait_until(lambda: saved(checkpoint) == {"<stdin>": 2}, process)  # both routes answered

    process.send_signal(signal.SIGINT)
    out, err = process.communicate(timeout=WAIT_SECONDS)

    assert process.returncode == 130, err.decode()
    summary = jsonio.loads(out.splitlines()[-1])
    check_accounting(summary)
    assert summary["delivered"] == 2


def test_a_file_s_batches_fill_first_whatever_the_flush_interval(tmp_path: Path) -> None:
    path = tmp_path / "events.jsonl"
    path.write_bytes(b"".join(event(n) for n in range(450)))
    with FakeMixpanel() as mixpanel, FakeLago() as lago:
        config = write_config(tmp_path, mixpanel, lago)

    def requests(flush_interval: float) -> list[bytes]:
        lines: list[bytes] = []
        send(
            SendRequest(
                paths=[str(path)], config_path=config, dry_run=True, flush_interval=flush_interval
            ),
            write_request=lines.append,
        )
        return lines

    immediate = requests(0.0)
    assert immediate == requests(1.0)
    assert len(immediate) == 1 + 5  # one /import batch, Lago's 100 + 100 + 100 + 100 + 50


def test_a_partial_batch_is_overdue_once_its_first_item_waited() -> None:
    from cdpcli.destinations.base import Endpoint

    now = [100.0]
    endpoint = Endpoint("e", "https://example.test/e", 10, 10_000, 1000, gzip=False)
    batcher = Batcher({"e": endpoint}, clock=lambda: now[0])
    batcher.add("e", b"1", "first")
    now[0] = 100.6
    batcher.add("e", b"2", "second")

    assert batcher.overdue(100.6 - 0.7) == []  # the first waited 0.6 s of 0.7
    now[0] = 100.7
    (batch,) = batcher.overdue(now[0] - 0.7)
    assert batch.tags == ["first", "second"]
    assert batcher.overdue(1e9) == [] and batcher.pending() == 0
