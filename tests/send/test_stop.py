"""A stop request (Ctrl-C, SIGTERM) is acted on between two events, and promptly, even while
batches wait out a destination's retries (PRODUCT.md §6: exit 130, checkpoint flushed first)."""

from __future__ import annotations

import threading
import time
from pathlib import Path

from typer.testing import CliRunner

from cdpcli import jsonio
from cdpcli.cli.app import app
from cdpcli.errors import Interrupted
from cdpcli.send.run import SendRequest, send
from tests.fakes import LAGO_BATCH, MIXPANEL_IMPORT, FakeLago, FakeMixpanel, Fault
from tests.fakes.sends import SECRETS, check_accounting, cli, write_config


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
