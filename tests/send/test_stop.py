"""A stop request (Ctrl-C, SIGTERM) is acted on between two events, and promptly, even while
batches wait out a destination's retries (PRODUCT.md §6: exit 130, checkpoint flushed first)."""

from __future__ import annotations

import signal
import threading
import time
from pathlib import Path

import pytest
from typer.testing import CliRunner

from cdpcli import jsonio
from cdpcli.cli.app import app
from cdpcli.errors import Interrupted
from cdpcli.retry import RetryPolicy
from cdpcli.send.delivery import DeliveryResult
from cdpcli.send.dry_run import DryRunDeliverer
from cdpcli.send.pipeline import SendOptions, SendResult
from cdpcli.send.run import SendRequest, send
from tests.fakes import LAGO_BATCH, MIXPANEL_IMPORT, FakeLago, FakeMixpanel, Fault
from tests.fakes.hostile import HostileServer
from tests.fakes.sends import SECRETS, check_accounting, cli, spawn, write_config


def tracks(path: Path, count: int) -> Path:
    with open(path, "wb") as handle:
        for n in range(count):
            event = {
                "type": "track",
                "event": "Seat Added",
                "userId": f"u{n % 7}",
                "messageId": f"m-{n}",
                "timestamp": "2024-05-14T09:21:07Z",
            }
            handle.write(jsonio.dumps_bytes(event) + b"\n")
    return path


def test_a_stop_while_retrying_ends_the_run_promptly(
    tmp_path: Path, fakes: tuple[FakeMixpanel, FakeLago]
) -> None:
    mixpanel, lago = fakes
    config = write_config(tmp_path, mixpanel, lago)
    events = tracks(tmp_path / "events.jsonl", 50)
    mixpanel.fail(MIXPANEL_IMPORT, *[Fault.http(503)] * 20)  # backoff from 2 s: minutes in all
    stop = threading.Event()
    threading.Timer(0.5, stop.set).start()
    started = time.monotonic()

    result = send(
        SendRequest(paths=[str(events)], config_path=config, checkpoint_path=tmp_path / "ckpt"),
        environ=SECRETS,
        stop=stop,
    )

    assert time.monotonic() - started < 3.0  # not after the retries ran out
    assert isinstance(result.error, Interrupted)
    summary = result.summary.as_dict()
    check_accounting(summary, complete=False)
    assert summary["not_sent"] > 0  # the /import batch never got an answer
    assert (tmp_path / "ckpt").exists()


def test_a_stop_inside_an_event_still_accounts_for_all_its_routes(
    tmp_path: Path, fakes: tuple[FakeMixpanel, FakeLago]
) -> None:
    """The stop arrives while the 2000th event fills a batch on its first route: its second
    route is still taken before the run stops."""
    mixpanel, lago = fakes
    config = write_config(tmp_path, mixpanel, lago)
    events = tracks(tmp_path / "events.jsonl", 2001)
    stop = threading.Event()

    def write(line: bytes) -> None:
        if b"/import" in line:  # /import's first batch, of 2000 (Lago's come every 100)
            stop.set()

    result = send(
        SendRequest(paths=[str(events)], config_path=config, dry_run=True),
        write_request=write,
        stop=stop,
    )

    assert isinstance(result.error, Interrupted)
    summary = result.summary.as_dict()
    assert summary["events_read"] == 2000
    # every track event read matches both routes, the event that filled the batch included
    destinations = summary["destinations"]
    assert destinations["mixpanel"]["routed"] == destinations["billing"]["routed"] == 2000
    check_accounting(summary, complete=False)


def test_a_lago_send_whose_retries_ran_out_reports_not_sent_per_destination(
    tmp_path: Path, fakes: tuple[FakeMixpanel, FakeLago], fast_retries: None
) -> None:
    """PRODUCT.md §6.1: per destination, routed = delivered + duplicates + rejected + skipped +
    not_sent, in the JSON summary and in the text table."""
    mixpanel, lago = fakes
    config = write_config(tmp_path, mixpanel, lago)
    events = tracks(tmp_path / "events.jsonl", 20)
    lago.fail(LAGO_BATCH, Fault.http(503), Fault.http(503))
    args = (str(events), "-c", str(config), "--to", "billing", "--max-retries", "2")

    code, summary, stderr = cli(*args)

    assert code == 6, stderr
    assert summary["destinations"]["billing"] == {
        "kind": "lago",
        "routed": 20,
        "delivered": 0,
        "duplicates": 0,
        "rejected": 0,
        "skipped": 0,
        "not_sent": 20,
        "requests": 2,
        "retries": 1,
        "throttled": 0,
        "warnings": 0,
    }
    assert summary["not_sent"] == 20

    lago.fail(LAGO_BATCH, Fault.http(503), Fault.http(503))
    result = CliRunner().invoke(app, ["send", *args], env=dict(SECRETS))
    assert result.exit_code == 6
    lines = result.stderr.splitlines()
    header = next(line for line in lines if line.startswith("┃ destination"))
    row = next(line for line in lines if line.startswith("│ billing"))
    columns = [cell.strip() for cell in header.split("┃")[1:-1]]
    cells = [cell.strip() for cell in row.split("│")[1:-1]]
    assert dict(zip(columns, cells, strict=True))["not sent"] == "20"


# --- a stop whatever the servers do (PRODUCT.md §6.1 "Deadlines") ------------------------------


def silent_config(directory: Path, url: str) -> Path:
    """`write_config`'s routes, both destinations at `url`."""
    path = directory / "cdpcli.yaml"
    path.write_text(
        "version: 1\ndestinations:\n"
        f"  mixpanel: {{kind: mixpanel, project_id: '12345', api_url: '{url}'}}\n"
        f"  billing: {{kind: lago, api_url: '{url}'}}\n"
        "routes:\n  - {name: analytics, to: mixpanel}\n"
        "  - {name: usage, to: billing, when: {type: track, userId: {exists: true}}}\n",
        encoding="utf-8",
    )
    return path


@pytest.mark.parametrize(
    "signals",
    [(signal.SIGINT,), (signal.SIGTERM,), (signal.SIGINT, signal.SIGINT)],
    ids=["SIGINT", "SIGTERM", "SIGINT twice"],
)
def test_a_signal_ends_a_run_against_a_server_that_never_answers_at_once(
    tmp_path: Path, signals: tuple[int, ...]
) -> None:
    """The requests in flight are abandoned (not sent, the checkpoint does not pass them), the
    summary is printed, exit 130; a second signal changes none of that. bench/stop_bench.py
    measures the seconds; the bound here is only generous slack."""
    events = tracks(tmp_path / "events.jsonl", 5000)
    checkpoint = tmp_path / "run.checkpoint"
    with HostileServer("silent") as server:
        config = silent_config(tmp_path, server.url)
        process = spawn(config, events, checkpoint)
        while server.requests < 2:  # both destinations have a request on the wire
            assert process.poll() is None, process.communicate()
            time.sleep(0.01)
        started = time.monotonic()
        for index, signum in enumerate(signals):
            if index:
                time.sleep(0.01)  # while the first one's stop is under way, or just after it
            process.send_signal(signum)
        out, err = process.communicate(timeout=60)
        elapsed = time.monotonic() - started

    # A second signal that lands after the summary, once the handlers are restored, ends the
    # process by that signal, as any process is interrupted (a shell reports 130 either way).
    expected = (130, -signal.SIGINT) if len(signals) > 1 else (130,)
    assert process.returncode in expected, err.decode()
    assert elapsed < 5.0
    assert "interrupted" in err.decode()
    summary = jsonio.loads(out.splitlines()[-1])
    check_accounting(summary, complete=False)
    assert summary["delivered"] == 0 and summary["not_sent"] > 0
    for stats in summary["destinations"].values():
        assert stats["not_sent"] == stats["routed"] > 0
    if checkpoint.exists():  # nothing was acknowledged: it passes no line
        assert jsonio.loads(checkpoint.read_bytes())["inputs"].get(str(events), 1) <= 1


def test_the_checkpoint_is_saved_while_every_batch_is_stalled(
    tmp_path: Path, fakes: tuple[FakeMixpanel, FakeLago]
) -> None:
    """PRODUCT.md §6.1: Lago answers its first 5 batches, then holds every answer. The
    acknowledged lines are in the checkpoint within about a second, while the run waits.
    (One batch in flight, so that the first 5 answered are the first 5 of the input.)"""
    mixpanel, lago = fakes
    config = write_config(tmp_path, mixpanel, lago)
    events = tracks(tmp_path / "events.jsonl", 2500)
    checkpoint = tmp_path / "run.checkpoint"
    gate = threading.Event()
    lago.fail(LAGO_BATCH, *[Fault.slow(0.0)] * 5, *[Fault.held(gate)] * 20)
    stop = threading.Event()
    request = SendRequest(
        paths=[str(events)],
        config_path=config,
        options=SendOptions(to=frozenset({"billing"})),
        checkpoint_path=checkpoint,
        concurrency=1,
    )
    results: list[SendResult] = []
    run = threading.Thread(target=lambda: results.append(send(request, environ=SECRETS, stop=stop)))
    run.start()
    try:
        deadline = time.monotonic() + 30
        while saved(checkpoint) != {str(events): 501}:  # lines 1..500 acknowledged
            assert run.is_alive() and time.monotonic() < deadline, saved(checkpoint)
            time.sleep(0.02)
        # Still stalled: 5 answered, the sixth held, nothing sent since.
        assert [r.status for r in lago.requests] == [200] * 5 + [None]
    finally:
        stop.set()
        run.join(timeout=30)
        gate.set()
    (result,) = results
    assert isinstance(result.error, Interrupted)
    assert result.summary.destinations["billing"].delivered == 500


def saved(checkpoint: Path) -> dict[str, int] | None:
    try:
        inputs: dict[str, int] = jsonio.loads(checkpoint.read_bytes())["inputs"]
    except FileNotFoundError:
        return None
    return inputs


def test_a_second_interrupt_while_stopping_still_returns_the_summary(
    tmp_path: Path, fakes: tuple[FakeMixpanel, FakeLago]
) -> None:
    """A second Ctrl-C raises KeyboardInterrupt wherever the run is: here in the middle of its
    stop (the deliverer's abort). The run still returns its summary, as an interruption."""
    mixpanel, lago = fakes
    config = write_config(tmp_path, mixpanel, lago)
    events = tracks(tmp_path / "events.jsonl", 300)
    stop = threading.Event()

    class Interrupted(DryRunDeliverer):
        def abort(self) -> list[DeliveryResult]:
            raise KeyboardInterrupt  # the second signal, landing in the stop

    checkpoint = tmp_path / "run.checkpoint"
    result = send(
        SendRequest(paths=[str(events)], config_path=config, checkpoint_path=checkpoint),
        environ=SECRETS,
        stop=stop,
        deliverer_factory=lambda _c, _d: Interrupted(lambda _line: stop.set()),
    )

    assert result.error is not None and result.error.exit_code == 130
    assert result.error.message == (
        "interrupted again while stopping; the checkpoint may be older than the work acknowledged"
    )
    summary = result.summary.as_dict()
    check_accounting(summary, complete=False)
    assert summary["events_read"] == 100  # Lago's first batch, then the stop


def test_refused_credentials_stop_the_run_at_once_while_another_request_hangs(
    tmp_path: Path, fakes: tuple[FakeMixpanel, FakeLago]
) -> None:
    """A 401 stops the run at once (PRODUCT.md §6): its error is raised as soon as that batch
    is done, not after the other destination's request on the wire (a server that never
    answers, with an attempt deadline of 10 minutes) has ended; that one is abandoned."""
    mixpanel, _ = fakes
    mixpanel.fail(MIXPANEL_IMPORT, Fault.http(401))
    events = tracks(tmp_path / "events.jsonl", 20)
    with HostileServer("silent") as server:
        config = tmp_path / "cdpcli.yaml"
        config.write_text(  # the silent destination first: its batch is on the wire first
            "version: 1\ndestinations:\n"
            f"  billing: {{kind: lago, api_url: '{server.url}'}}\n"
            f"  mixpanel: {{kind: mixpanel, project_id: '12345', api_url: '{mixpanel.url}'}}\n"
            "routes:\n  - {name: usage, to: billing}\n  - {name: analytics, to: mixpanel}\n",
            encoding="utf-8",
        )
        results: list[SendResult] = []
        request = SendRequest(
            paths=[str(events)],
            config_path=config,
            retry=RetryPolicy(max_attempts=1, attempt_deadline=600.0),
        )
        worker = threading.Thread(target=lambda: results.append(send(request, environ=SECRETS)))
        worker.start()
        worker.join(timeout=30)  # generous slack: before the fix, 600 s
        assert not worker.is_alive(), "the run waited for the silent server"
        assert server.requests == 1
    (result,) = results
    assert result.error is not None and result.error.exit_code == 5, result.error
    summary = result.summary.as_dict()
    check_accounting(summary, complete=False)
    assert summary["destinations"]["billing"]["not_sent"] == 20
    assert summary["destinations"]["mixpanel"]["not_sent"] == 20
