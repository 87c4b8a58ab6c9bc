"""Real sends against the Mixpanel and Lago fakes on 127.0.0.1 (PRODUCT.md §6): through
`cdpcli.send.run.send`, through the CLI, and as a subprocess killed mid-way and resumed.

Retry backoff is shrunk to milliseconds: `fast_retries` (the CLI in this process), `tests.fast_cli`
(a subprocess), or a `RetryPolicy` in the `SendRequest`."""

from __future__ import annotations

import signal
import stat
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from bench.generate import write as write_events
from cdpcli import jsonio
from cdpcli.cli.send_cmd import retry_policy
from cdpcli.errors import DeliveryError
from cdpcli.retry import RetryPolicy
from cdpcli.send.pipeline import SendSummary
from cdpcli.send.run import SendRequest, send
from tests.fakes import (
    LAGO_BATCH,
    MIXPANEL_ENGAGE,
    MIXPANEL_GROUPS,
    MIXPANEL_IMPORT,
    MIXPANEL_TOKEN,
    FakeLago,
    FakeMixpanel,
    Fault,
)
from tests.fakes.sends import (
    SECRETS,
    check_accounting,
    cli,
    spawn,
    wait_for_requests,
    write_config,
)
from tests.paths import SAMPLES

pytestmark = pytest.mark.usefixtures("fast_retries")  # fixtures: tests/fakes/sends.py

VALID_SAMPLES = [
    str(SAMPLES / name)
    for name in ("browser.jsonl", "server.jsonl", "mobile.json", "http-api-batch.jsonl")
]
ENDPOINT_PATHS = {"import": MIXPANEL_IMPORT, "engage": MIXPANEL_ENGAGE, "groups": MIXPANEL_GROUPS}


def dry_run(config: Path, paths: list[str]) -> tuple[dict[str, list[Any]], SendSummary]:
    """Records the dry run would send, per `destination:path`."""
    lines: list[bytes] = []
    result = send(
        SendRequest(paths=paths, config_path=config, dry_run=True), write_request=lines.append
    )
    records: dict[str, list[Any]] = {}
    for line in lines:
        request = jsonio.loads(line)
        path = request["url"].split("//", 1)[1].split("/", 1)[1].split("?")[0]
        body = request["body"]
        items = body["events"] if isinstance(body, dict) else body
        records.setdefault(f"{request['destination']}:/{path}", []).extend(items)
    return records, result.summary


def received(mixpanel: FakeMixpanel, lago: FakeLago) -> dict[str, list[Any]]:
    """Records each fake accepted (Mixpanel: unique by dedupe key; Lago: stored)."""
    lago_items = [
        item
        for request in lago.requests_to(LAGO_BATCH)
        if request.status == 200
        for item in request.body["events"]
    ]
    return {
        f"mixpanel:{MIXPANEL_IMPORT}": list(mixpanel.unique_events().values()),
        f"mixpanel:{MIXPANEL_ENGAGE}": mixpanel.profile_updates,
        f"mixpanel:{MIXPANEL_GROUPS}": mixpanel.group_updates,
        f"billing:{LAGO_BATCH}": lago_items,
    }


def canonical(records: list[Any]) -> list[str]:
    text = [jsonio.dumps(r, sort_keys=True).replace(MIXPANEL_TOKEN, "***") for r in records]
    return sorted(text)


# --- complete sends ----------------------------------------------------------------------------


def test_real_send_delivers_what_the_dry_run_shows(
    tmp_path: Path, fakes: tuple[FakeMixpanel, FakeLago]
) -> None:
    mixpanel, lago = fakes
    config = write_config(tmp_path, mixpanel, lago)
    expected, dry = dry_run(config, [str(SAMPLES)])
    assert not mixpanel.requests and not lago.requests  # the dry run opened no connection

    result = send(SendRequest(paths=[str(SAMPLES)], config_path=config), environ=SECRETS)

    assert result.error is None
    got = received(mixpanel, lago)
    assert {k: canonical(v) for k, v in got.items()} == {
        k: canonical(expected.get(k, [])) for k in got
    }
    summary = result.summary.as_dict()
    check_accounting(summary)
    assert summary["invalid"] == dry.invalid > 0
    assert summary["delivered"] == dry.delivered
    assert summary["rejected"] == summary["duplicates"] == 0
    for name, stats in summary["destinations"].items():
        assert stats["requests"] == dry.destinations[name].requests
    assert len(mixpanel.events) == len(expected[f"mixpanel:{MIXPANEL_IMPORT}"])  # no repeats


def test_the_request_s_retry_policy_is_the_one_used(
    tmp_path: Path, fakes: tuple[FakeMixpanel, FakeLago]
) -> None:
    mixpanel, lago = fakes
    config = write_config(tmp_path, mixpanel, lago)
    events = tmp_path / "events.jsonl"
    with open(events, "wb") as handle:
        write_events(20, handle)
    mixpanel.fail(MIXPANEL_IMPORT, *[Fault.http(503)] * 5)
    retry = RetryPolicy(max_attempts=3, base=0.001, cap=0.001)

    result = send(
        SendRequest(paths=[str(events)], config_path=config, retry=retry), environ=SECRETS
    )

    assert isinstance(result.error, DeliveryError)
    assert "still failing after 3 attempts" in result.error.message
    assert len(mixpanel.requests_to(MIXPANEL_IMPORT)) == 3
    assert mixpanel.pending_faults(MIXPANEL_IMPORT) == 2


def test_the_cli_retries_max_retries_times_backing_off_from_2_to_60_seconds() -> None:
    assert retry_policy(5) == RetryPolicy(max_attempts=5, base=2.0, cap=60.0)


def test_cli_send_with_faults_delivers_every_event_once(
    tmp_path: Path, fakes: tuple[FakeMixpanel, FakeLago]
) -> None:
    mixpanel, lago = fakes
    config = write_config(tmp_path, mixpanel, lago)
    expected, _ = dry_run(config, VALID_SAMPLES)
    mixpanel.fail(
        MIXPANEL_IMPORT,
        Fault.rate_limited(retry_after="0"),
        Fault.http(500),
        Fault.http(503),
        Fault.drop_after_body(processed=True),
    )
    mixpanel.fail(MIXPANEL_ENGAGE, Fault.drop_before_body(), Fault.http(502))
    lago.fail(
        LAGO_BATCH,
        Fault.rate_limited(reset="0"),
        Fault.drop_after_body(processed=True),
        Fault.truncated(processed=False),
    )

    code, summary, stderr = cli(*VALID_SAMPLES, "-c", str(config))

    assert code == 0, stderr
    check_accounting(summary)
    assert mixpanel.pending_faults(MIXPANEL_IMPORT) == lago.pending_faults(LAGO_BATCH) == 0
    got = received(mixpanel, lago)
    for key in (f"mixpanel:{MIXPANEL_IMPORT}", f"mixpanel:{MIXPANEL_ENGAGE}"):
        assert canonical(got[key]) == canonical(expected[key])
    # Mixpanel saw the processed-then-dropped batch twice; the dedupe key makes it one.
    assert len(mixpanel.events) == 2 * len(expected[f"mixpanel:{MIXPANEL_IMPORT}"])
    stored = lago.transaction_ids()
    assert sorted(stored) == sorted(e["transaction_id"] for e in expected[f"billing:{LAGO_BATCH}"])
    billing = summary["destinations"]["billing"]
    # the batch Lago stored before the connection dropped comes back as duplicates
    assert billing["duplicates"] == len(stored) and billing["delivered"] == 0
    mp = summary["destinations"]["mixpanel"]
    assert mp["delivered"] == mp["routed"] - mp["skipped"]
    assert mp["requests"] == 1 + 5 + 3  # groups 1, import 1 + 4 retries, engage 1 + 2 retries


def test_a_dry_run_reads_a_checkpoint_but_never_writes_one(
    tmp_path: Path, fakes: tuple[FakeMixpanel, FakeLago]
) -> None:
    """A dry run's "delivered" was never sent: its checkpoint would make the real run skip it."""
    mixpanel, lago = fakes
    config = write_config(tmp_path, mixpanel, lago)
    checkpoint = tmp_path / "run.checkpoint"
    args = (*VALID_SAMPLES, "-c", str(config), "--checkpoint", str(checkpoint))

    code, dry, stderr = cli(*args, "--dry-run")
    assert code == 0, stderr
    assert dry["delivered"] > 0 and not checkpoint.exists()

    code, real, stderr = cli(*args)
    assert code == 0, stderr
    assert real["resumed"] == 0 and real["delivered"] == dry["delivered"]
    saved = checkpoint.read_bytes()

    # After the real run, a dry run shows what a resume would send (nothing) and keeps the file.
    code, again, stderr = cli(*args, "--dry-run")
    assert code == 0, stderr
    assert again["resumed"] == again["events_read"] > 0 and again["delivered"] == 0
    assert checkpoint.read_bytes() == saved


def test_partial_rejections_land_in_the_rejected_file_and_replay(tmp_path: Path) -> None:
    with FakeMixpanel() as mixpanel, FakeLago() as lago:
        config = write_config(tmp_path, mixpanel, lago)
        expected, _ = dry_run(config, VALID_SAMPLES)
        imports = expected[f"mixpanel:{MIXPANEL_IMPORT}"]
        poisoned = {imports[0]["properties"]["$insert_id"], imports[-1]["properties"]["$insert_id"]}
        mixpanel.poison.update(poisoned)
        lago_items = expected[f"billing:{LAGO_BATCH}"]
        code_name = lago_items[0]["code"]
        lago.metrics = {code_name: ("gb",)}
        failing = [e["transaction_id"] for e in lago_items if e["code"] == code_name]
        rejected_path = tmp_path / "rejected.jsonl"

        code, summary, stderr = cli(
            *VALID_SAMPLES, "-c", str(config), "--rejected", str(rejected_path)
        )

        assert code == 1, stderr
        check_accounting(summary)
        assert summary["destinations"]["mixpanel"]["rejected"] == len(poisoned)
        assert summary["destinations"]["billing"]["rejected"] == len(failing)
        assert stat.S_IMODE(rejected_path.stat().st_mode) == 0o600
        records = [jsonio.loads(line) for line in rejected_path.read_bytes().splitlines()]
        by_destination = Counter(r["destination"] for r in records)
        assert by_destination == {"mixpanel": len(poisoned), "billing": len(failing)}
        for record in records:
            if record["destination"] == "mixpanel":
                assert record["route"] == "analytics"
                assert "poisoned (fake Mixpanel)" in record["reason"]
            else:
                assert record["route"] == "usage"
                assert record["reason"] == "expression_evaluation_failed: Variable: gb not found"
        # Lago stored the rest of each failing batch (resent without the rejected items).
        assert sorted(lago.transaction_ids()) == sorted(
            e["transaction_id"] for e in lago_items if e["code"] != code_name
        )

        # The destinations are fixed; the replay sends only those events, to those routes.
        mixpanel.poison.clear()
        lago.metrics = {}
        before_mp, before_lago = len(mixpanel.requests), len(lago.requests)
        code, replay, stderr = cli(str(rejected_path), "-c", str(config))

        assert code == 0, stderr
        check_accounting(replay, replay=True)
        assert replay["events_read"] == len(records)
        assert replay["delivered"] == len(records)
        assert replay["destinations"]["mixpanel"]["routed"] == len(poisoned)
        assert replay["destinations"]["billing"]["routed"] == len(failing)
        new_mp = mixpanel.requests[before_mp:]
        new_lago = lago.requests[before_lago:]
        assert [r.path for r in new_mp] == [MIXPANEL_IMPORT]
        assert {e["properties"]["$insert_id"] for e in new_mp[0].body} == poisoned
        assert sorted(e["transaction_id"] for r in new_lago for e in r.body["events"]) == sorted(
            failing
        )


def test_401_exits_5_at_once_without_leaking_the_secret(
    tmp_path: Path, fakes: tuple[FakeMixpanel, FakeLago]
) -> None:
    mixpanel, lago = fakes
    config = write_config(tmp_path, mixpanel, lago)
    wrong = "wrong-secret-value-9"
    env = {**SECRETS, "CDPCLI_MIXPANEL_SERVICE_ACCOUNT_SECRET": wrong}

    code, summary, stderr = cli(*VALID_SAMPLES, "-c", str(config), "--concurrency", "1", env=env)

    assert code == 5
    assert "destination `mixpanel` (mixpanel) refused the credentials at /import" in stderr
    assert wrong not in stderr and wrong not in jsonio.dumps(summary)
    assert [r.status for r in mixpanel.requests] == [401]  # nothing after the refusal
    assert lago.requests == []
    assert summary["destinations"]["mixpanel"]["requests"] == 1  # the refused one counts
    assert summary["delivered"] == 0
    assert summary["not_sent"] > 0
    check_accounting(summary, complete=False)


# --- interrupted runs (a subprocess against the fakes) -----------------------------------------


@pytest.fixture(scope="module")
def big_input(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("big") / "events.jsonl"
    with open(path, "wb") as handle:
        write_events(50_000, handle)
    return path


def test_sigkill_then_resume_delivers_everything_once(
    tmp_path: Path, fakes: tuple[FakeMixpanel, FakeLago], big_input: Path
) -> None:
    mixpanel, lago = fakes
    config = write_config(tmp_path, mixpanel, lago)
    checkpoint = tmp_path / "run.checkpoint"
    process = spawn(config, big_input, checkpoint)
    wait_for_requests(lago, process, 120)
    process.kill()
    process.communicate()
    assert process.returncode == -signal.SIGKILL
    first_lago = len(lago.transaction_ids())
    assert first_lago > 0
    first_mixpanel = len(mixpanel.events)

    process = spawn(config, big_input, checkpoint)
    out, err = process.communicate(timeout=60)

    assert process.returncode == 0, err.decode()
    summary = jsonio.loads(out.splitlines()[-1])
    check_accounting(summary)
    events = [jsonio.loads(line) for line in big_input.read_bytes().splitlines()]
    assert 0 < summary["resumed"] < len(events)  # the checkpoint was used, and work was left
    tracks = [e["messageId"] for e in events if e["type"] == "track"]
    stored = lago.transaction_ids()
    assert len(stored) == len(set(stored)) and set(stored) == set(tracks)
    # Mixpanel: every track/page once by dedupe key; repeats carry identical keys.
    imports = {e["messageId"] for e in events if e["type"] in ("track", "page")}
    unique = mixpanel.unique_events()
    assert len(unique) == len(imports)
    # Repeats are only of what the killed run had sent, and not all of it: what the checkpoint
    # passed was not sent again.
    assert len(mixpanel.events) - len(unique) < first_mixpanel
    billing = summary["destinations"]["billing"]
    assert billing["delivered"] + billing["duplicates"] == billing["routed"]


def test_sigint_exits_130_with_the_checkpoint_saved(
    tmp_path: Path, fakes: tuple[FakeMixpanel, FakeLago], big_input: Path
) -> None:
    mixpanel, lago = fakes
    config = write_config(tmp_path, mixpanel, lago)
    checkpoint = tmp_path / "run.checkpoint"
    process = spawn(config, big_input, checkpoint)
    wait_for_requests(lago, process, 60)
    process.send_signal(signal.SIGINT)
    out, err = process.communicate(timeout=20)

    assert process.returncode == 130, err.decode()
    assert "interrupted; the checkpoint was saved" in err.decode()
    summary = jsonio.loads(out.splitlines()[-1])
    check_accounting(summary, complete=False)
    saved = jsonio.loads(checkpoint.read_bytes())
    assert saved["format"] == "cdpcli-checkpoint"
    assert 0 < saved["inputs"][str(big_input)] < 50_000
