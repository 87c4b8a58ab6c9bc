"""`cdpcli send --dry-run`: the same pipeline as a real send, stopped before the network."""

from __future__ import annotations

import json
import os
import socket
import stat
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from cdpcli.cli.app import app
from tests.paths import REPO, SAMPLES

EXAMPLE = REPO / "config.example.yaml"


def run(*args: str, stdin: bytes | None = None) -> tuple[int, str, str]:
    result = CliRunner().invoke(app, list(args), input=stdin)
    return result.exit_code, result.stdout, result.stderr


def lines(out: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in out.splitlines() if line.strip()]


@pytest.fixture(autouse=True)
def no_network(monkeypatch: pytest.MonkeyPatch) -> None:
    """A dry run opens no connection: any attempt fails the test."""

    def refuse(*_args: Any, **_kwargs: Any) -> None:
        raise AssertionError("a dry run tried to open a connection")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)


def write_config(tmp_path: Path, body: str) -> Path:
    path = tmp_path / "cdpcli.yaml"
    path.write_text(body)
    return path


def test_samples_with_example_config(tmp_path: Path) -> None:
    code, out, err = run(
        "send", str(SAMPLES), "--config", str(EXAMPLE), "--dry-run", "--format", "json"
    )
    assert code == 1, err  # invalid.jsonl holds invalid events
    records = lines(out)
    requests, summary = records[:-1], records[-1]
    assert {r["destination"] for r in requests} == {"mixpanel", "billing"}
    for request in requests:
        assert list(request) == ["destination", "kind", "method", "url", "headers", "body"]
        assert request["method"] == "POST"
        if "Authorization" in request["headers"]:
            assert request["headers"]["Authorization"] == "***"
    urls = sorted(r["url"] for r in requests)
    assert urls == [
        "https://api.getlago.com/api/v1/events/batch",
        "https://api.mixpanel.com/engage?verbose=1",
        "https://api.mixpanel.com/groups?verbose=1",
        "https://api.mixpanel.com/import?strict=1&project_id=3141592",
    ]
    engage = next(r for r in requests if r["url"].endswith("/engage?verbose=1"))
    assert {u["$token"] for u in engage["body"]} == {"***"}
    assert summary["kind"] == "summary" and summary["dry_run"] is True
    assert summary["events_read"] == 51 and summary["invalid"] == 18
    # Counted once per input event, they add up to the events read (31 delivered to at least
    # one destination; skipped: the alias no route takes, and the track event whose
    # `integrations` turns Mixpanel off).
    assert summary["events"] == {
        "delivered": 31,
        "duplicates": 0,
        "rejected": 0,
        "skipped": 2,
        "not_sent": 0,
    }
    assert summary["invalid"] + sum(summary["events"].values()) == summary["events_read"]
    valid = summary["events_read"] - summary["invalid"]
    total = summary["delivered"] + summary["duplicates"] + summary["rejected"] + summary["skipped"]
    extra_routes = sum(d["routed"] for d in summary["destinations"].values()) - (valid - 1)
    assert total == valid + extra_routes  # one alias matched no route: skipped once
    for name, stats in summary["destinations"].items():
        assert stats["routed"] == (
            stats["delivered"] + stats["duplicates"] + stats["rejected"] + stats["skipped"]
        ), name
    records_sent = {
        "mixpanel": sum(len(r["body"]) for r in requests if r["destination"] == "mixpanel"),
        "billing": sum(len(r["body"]["events"]) for r in requests if r["destination"] == "billing"),
    }
    # Order Completed became 1 + 2 records; everything else one record per event.
    assert records_sent["mixpanel"] == summary["destinations"]["mixpanel"]["delivered"] + 2
    assert records_sent["billing"] == summary["destinations"]["billing"]["delivered"] == 5
    assert summary["destinations"]["mixpanel"]["requests"] == 3


def test_dry_run_is_byte_identical_run_after_run() -> None:
    args = ("send", str(SAMPLES), "--config", str(EXAMPLE), "--dry-run", "--format", "json")
    first = run(*args)[1]
    second = run(*args)[1]
    assert first == second and first


def test_needs_no_keys_even_with_an_unusable_keyring(monkeypatch: pytest.MonkeyPatch) -> None:
    import keyring
    from keyring.backends import fail

    keyring.set_keyring(fail.Keyring())
    for name in list(os.environ):
        if name.startswith("CDPCLI_"):
            monkeypatch.delenv(name)
    code, out, err = run("send", str(SAMPLES / "server.jsonl"), "-c", str(EXAMPLE), "--dry-run")
    assert code == 0, err
    assert len(lines(out)) == 3  # /import, /groups and Lago


L1_EVENT = (
    '{"type":"track","event":"API Call","messageId":"m-l1-0001","userId":"sub_acme_pro",'
    '"timestamp":"2024-05-14T09:21:07.312Z","properties":{"endpoint":"/v1/reports","bytes":5120,'
    '"cached":false,"latency_ms":12.5,"region":null,"tags":["a","b"]}}'
)
L1_LINE = (
    '{"destination":"billing","kind":"lago","method":"POST",'
    '"url":"https://api.getlago.com/api/v1/events/batch","headers":{"Authorization":"***",'
    '"Content-Type":"application/json"},"body":{"events":[{"transaction_id":"m-l1-0001",'
    '"external_subscription_id":"sub_acme_pro","code":"API Call","timestamp":"1715678467.312",'
    '"properties":{"endpoint":"/v1/reports","bytes":"5120","cached":"false","latency_ms":"12.5",'
    '"tags":"[\\"a\\",\\"b\\"]"}}]}}'
)


def test_reference_l1_dry_run_line_end_to_end(tmp_path: Path) -> None:
    config = write_config(
        tmp_path,
        "version: 1\ndestinations:\n  billing:\n    kind: lago\n"
        "    api_url: https://api.getlago.com\nroutes:\n  - name: usage\n    to: billing\n"
        "    when: {type: track}\n",
    )
    code, out, err = run("send", "-", "--config", str(config), "--dry-run", stdin=L1_EVENT.encode())
    assert code == 0, err
    assert out == L1_LINE + "\n"


def test_reference_m1_record_end_to_end(tmp_path: Path) -> None:
    event = (
        '{"type":"track","event":"Report Exported","messageId":"m1-7f3a9c","userId":"u_829",'
        '"anonymousId":"anon-829","timestamp":"2024-05-14T09:21:07.312Z","context":{"ip":'
        '"203.0.113.24","library":{"name":"analytics.js","version":"next-1.70.0"},"locale":'
        '"de-DE","timezone":"Europe/Berlin","page":{"url":"https://app.example.com/reports",'
        '"referrer":"https://www.google.com/"},"userAgent":"Mozilla/5.0 (Macintosh) '
        'AppleWebKit/537.36 Chrome/124.0.6367.91 Safari/537.36","userAgentData":{"mobile":false,'
        '"platform":"macOS"},"campaign":{"name":"spring","source":"newsletter","medium":"email"},'
        '"location":{"country":"Germany"},"groupId":"acme"},"properties":{"format":"csv",'
        '"rows":1200}}'
    )
    expected = (
        '{"event":"Report Exported","properties":{"time":1715678467312,"ip":"203.0.113.24",'
        '"id":"u_829","$anon_id":"anon-829","distinct_id":"u_829","$browser":"Chrome",'
        '"$browser_version":"124.0.6367.91","$current_url":"https://app.example.com/reports",'
        '"$device_id":"anon-829","$group_id":"acme","$identified_id":"u_829","$insert_id":'
        '"m1-7f3a9c","$lib_version":"next-1.70.0","$locale":"de-DE","$referrer":'
        '"https://www.google.com/","$source":"segment","$user_id":"u_829","mp_country_code":'
        '"Germany","mp_lib":"Segment Actions: analytics.js","utm_campaign":"spring","utm_medium":'
        '"email","utm_source":"newsletter","timezone":"Europe/Berlin","event_original_name":'
        '"Report Exported","$mobile":false,"$platform":"macOS","format":"csv","rows":1200}}'
    )
    code, out, err = run(
        "send", "-", "--config", str(EXAMPLE), "--to", "mixpanel", "--dry-run", stdin=event.encode()
    )
    assert code == 0, err
    (line,) = out.splitlines()
    assert line.endswith('"body":[' + expected + "]}")
    assert '"Content-Encoding":"gzip"' in line


def track(n: int, user: str = "u_1", **extra: Any) -> str:
    event = {
        "type": "track",
        "event": "API Call",
        "userId": user,
        "messageId": f"m-{n}",
        "timestamp": f"2024-05-{1 + n % 28:02d}T10:00:00.000Z",
        "properties": {"plan": "pro", "subscription_id": "sub_1", "bytes": n},
        **extra,
    }
    return json.dumps(event)


def test_batches_by_count_per_endpoint() -> None:
    data = "\n".join(track(n) for n in range(2500)).encode()
    code, out, err = run(
        "send", "-", "-c", str(EXAMPLE), "--dry-run", "--format", "json", stdin=data
    )
    assert code == 0, err
    records = lines(out)
    sizes = [
        (
            r["destination"],
            len(r["body"]) if isinstance(r["body"], list) else len(r["body"]["events"]),
        )
        for r in records[:-1]
    ]
    assert sorted(sizes) == sorted(
        [("mixpanel", 2000), ("mixpanel", 500), ("billing", 100)] + [("billing", 100)] * 24
    )
    summary = records[-1]
    assert summary["destinations"]["mixpanel"]["requests"] == 2
    assert summary["destinations"]["billing"]["requests"] == 25
    assert summary["delivered"] == 5000


@pytest.mark.parametrize(
    ("args", "read", "delivered", "skipped"),
    [
        (["--limit", "7"], 7, 14, 0),
        (["--since", "2024-05-10"], 100, 2 * 64, 36),
        (["--until", "2024-05-10"], 100, 2 * 36, 64),
        (["--since", "2024-05-10", "--until", "2024-05-11T00:00:00Z"], 100, 2 * 4, 96),
        (["--to", "billing"], 100, 100, 0),
    ],
)
def test_filters(args: list[str], read: int, delivered: int, skipped: int) -> None:
    data = "\n".join(track(n) for n in range(100)).encode()
    code, out, err = run(
        "send", "-", "-c", str(EXAMPLE), "--dry-run", "--format", "json", *args, stdin=data
    )
    assert code == 0, err
    summary = lines(out)[-1]
    assert (summary["events_read"], summary["delivered"], summary["skipped"]) == (
        read,
        delivered,
        skipped,
    )


def test_unknown_destination_in_to_is_usage_error() -> None:
    code, _, err = run("send", "-", "-c", str(EXAMPLE), "--dry-run", "--to", "nope", stdin=b"")
    assert code == 2
    assert "no such destination" in err and "mixpanel, billing" in err


def test_bad_since_is_usage_error() -> None:
    code, _, err = run("send", "-", "-c", str(EXAMPLE), "--dry-run", "--since", "last week")
    assert code == 2
    assert "not an ISO-8601" in err


def test_missing_config_exits_3(tmp_path: Path) -> None:
    code, _, err = run("send", "-", "-c", str(tmp_path / "none.yaml"), "--dry-run", stdin=b"")
    assert code == 3, err


def test_rejected_file_and_replay(tmp_path: Path) -> None:
    rejected = tmp_path / "rejected.jsonl"
    unmappable = json.dumps(
        {
            "type": "track",
            "event": "API Call",
            "anonymousId": "anon-9",
            "messageId": "m-l5",
            "timestamp": "2024-05-14T09:21:07Z",
            "properties": {"plan": "pro"},
        }
    )
    data = "\n".join([track(1), "not json", unmappable]).encode()
    code, out, err = run(
        "send", "-", "-c", str(EXAMPLE), "--dry-run", "--format", "json",
        "--rejected", str(rejected), stdin=data,
    )  # fmt: skip
    assert code == 1, err
    assert stat.S_IMODE(rejected.stat().st_mode) == 0o600
    records = [json.loads(line) for line in rejected.read_text().splitlines()]
    assert [(r["origin"], r["destination"], r["route"]) for r in records] == [
        ("<stdin>:2", None, None),
        ("<stdin>:3", "billing", "api-usage"),
    ]
    assert records[0]["reason"].startswith("invalid: not JSON")
    assert records[0]["event"] == "not json"  # the line's text: nothing read is lost
    assert "external_subscription_id" in records[1]["reason"]
    assert records[1]["event"] == json.loads(unmappable)
    # The event is quoted as its input line was, spaces and all, not re-serialized.
    assert rejected.read_text().splitlines()[1].endswith(f'"event":{unmappable}}}')
    summary = lines(out)[-1]
    assert (summary["invalid"], summary["rejected"], summary["delivered"]) == (1, 1, 3)

    # Replaying the file goes back only to the route that rejected each event.
    code, out, err = run("send", str(rejected), "-c", str(EXAMPLE), "--dry-run", "--format", "json")
    summary = lines(out)[-1]
    assert summary["events_read"] == 2
    assert summary["destinations"]["mixpanel"]["routed"] == 0
    assert summary["destinations"]["billing"]["rejected"] == 1


@pytest.mark.parametrize(
    ("line", "quoted"),
    [
        # a bare CR is JSON whitespace, but must not reach a JSON-lines file: re-serialized
        (b'{"type":\r"track"}', b'{"type":"track"}'),
        # the line's own leading and trailing whitespace is not part of the event
        (b' \t{"type": "track"} \r', b'{"type": "track"}'),
        # inside an envelope there is no line of the event's own: serialized compactly
        (b'{"batch": [{"type": "track"}]}', b'{"type":"track"}'),
    ],
)
def test_rejected_file_quotes_the_event(tmp_path: Path, line: bytes, quoted: bytes) -> None:
    rejected = tmp_path / "rejected.jsonl"
    code, _, err = run(
        "send", "-", "-c", str(EXAMPLE), "--dry-run", "--rejected", str(rejected),
        stdin=line + b"\n",
    )  # fmt: skip
    assert code == 1, err
    (record,) = rejected.read_bytes().splitlines()
    assert record.endswith(b'"event":' + quoted + b"}")
    assert b"\r" not in record


def test_a_line_that_was_not_json_replays_once_fixed(tmp_path: Path) -> None:
    rejected = tmp_path / "rejected.jsonl"
    broken = track(1)[:-1]  # the closing brace lost
    code, _, err = run(
        "send", "-", "-c", str(EXAMPLE), "--dry-run", "--rejected", str(rejected),
        stdin=broken.encode() + b"\n",
    )  # fmt: skip
    assert code == 1, err
    (record,) = [json.loads(line) for line in rejected.read_text().splitlines()]
    assert record["event"] == broken

    # As it is, the replay reports the same line again, at its place in the rejected file.
    code, out, _ = run("send", str(rejected), "-c", str(EXAMPLE), "--dry-run", "--format", "json")
    assert code == 1
    assert lines(out)[-1]["invalid"] == 1

    # Fixed by hand, it replays as an event.
    record["event"] = broken + "}"
    rejected.write_text(json.dumps(record) + "\n")
    code, out, err = run("send", str(rejected), "-c", str(EXAMPLE), "--dry-run", "--format", "json")
    assert code == 0, err
    summary = lines(out)[-1]
    assert (summary["events_read"], summary["invalid"]) == (1, 0)
    assert summary["delivered"] >= 1


def test_rejected_file_may_not_be_an_input(tmp_path: Path) -> None:
    path = tmp_path / "r.jsonl"
    path.write_text(track(1) + "\n")
    code, _, err = run("send", str(path), "-c", str(EXAMPLE), "--dry-run", "--rejected", str(path))
    assert code == 2
    assert "is also an input" in err


def test_explain_shows_routes_and_payloads() -> None:
    data = (track(1) + "\n" + track(2, integrations={"Mixpanel": False})).encode()
    code, out, err = run("send", "-", "-c", str(EXAMPLE), "--dry-run", "--explain", stdin=data)
    assert code == 0, err
    assert "<stdin>:1  track API Call" in out
    assert "→ route analytics → mixpanel /import:" in out
    assert "→ route api-usage → billing /batch:" in out
    assert "→ route analytics → mixpanel: skipped (integrations: Mixpanel is false)" in out


def test_output_file(tmp_path: Path) -> None:
    target = tmp_path / "requests.jsonl"
    code, out, err = run(
        "send", str(SAMPLES / "server.jsonl"), "-c", str(EXAMPLE), "--dry-run", "-o", str(target)
    )
    assert code == 0, err
    assert out == ""
    assert len(target.read_text().splitlines()) == 3


def test_output_needs_dry_run(tmp_path: Path) -> None:
    code, _, _ = run("send", "-", "-c", str(EXAMPLE), "-o", str(tmp_path / "x"), stdin=b"")
    assert code == 2


def test_progress_reports_bytes_read_for_an_eta(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from cdpcli.events import progress as progress_module
    from cdpcli.send.run import SendRequest, send

    monkeypatch.setattr(progress_module, "PROGRESS_EVERY_SECONDS", 0.0)  # at every batch
    path = tmp_path / "events.jsonl"
    path.write_text("\n".join(track(n) for n in range(6000)) + "\n")
    seen: list[tuple[int, int | None]] = []
    result = send(
        SendRequest(paths=[str(path)], config_path=EXAMPLE, dry_run=True),
        progress=lambda s: seen.append((s.bytes_done, s.bytes_total)),
    )
    size = path.stat().st_size
    assert result.summary.bytes_total == size
    assert result.summary.bytes_done == size
    done = [d for d, _ in seen]
    assert len(done) > 3 and done == sorted(done) and 0 < done[0] < size
    assert seen[-1] == (size, size)  # the last report is the end of the run


@pytest.mark.parametrize("kind", ["mixpanel", "lago"])
def test_request_bodies_reuse_the_items_serialization(
    kind: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Each record is serialized once, when batched: the body and the dry-run line embed those
    bytes, nothing serializes the items again."""
    from cdpcli.destinations.registry import get_kind
    from cdpcli.send import dry_run
    from cdpcli.send.batching import Batcher
    from cdpcli.send.delivery import DestinationRuntime, DestinationStats

    destination_kind = get_kind(kind)
    options = destination_kind.parse_options({"project_id": "1"} if kind == "mixpanel" else {}, str)
    destination = destination_kind("d", options, None)
    name = "import" if kind == "mixpanel" else "batch"
    batcher = Batcher(destination.endpoints())
    items = [{"event": f"e{n}", "properties": {"n": n, "s": "é"}} for n in range(3)]
    for n, item in enumerate(items):
        batcher.add(name, item, n)
    (batch,) = batcher.flush()
    content = destination.build_request(name, batch.array_json()).content
    assert batch.array_json() in content  # the items' own bytes, spliced in
    assert json.loads(content) == (items if kind == "mixpanel" else {"events": items})

    real_dumps = dry_run.dumps_bytes

    def no_second_serialization(value: Any, **kw: Any) -> bytes:
        if any(isinstance(v, list | dict) and v != value["headers"] for v in value.values()):
            raise AssertionError("the items were serialized a second time")
        return real_dumps(value, **kw)

    monkeypatch.setattr(dry_run, "dumps_bytes", no_second_serialization)
    runtime = DestinationRuntime(destination, batcher, DestinationStats(kind=kind))
    line = json.loads(dry_run.request_line(runtime, batch))
    assert line["body"] == json.loads(content)
