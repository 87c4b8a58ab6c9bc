"""Hostile files through the CLI: `validate`, `inspect` and `send --dry-run` never crash.

Over generated hostile input (JSON lines, `.json` documents, gzip, deep nesting, lone
surrogates, markup-like text, junk), every command exits with one of its documented codes
(0, 1, 2, 3, 4), prints no Python traceback, and writes valid UTF-8 JSON where it promises
JSON. The dry-run summary adds up per destination (routed == delivered + duplicates + rejected
+ skipped) and overall, and agrees with `validate` on how many events were read and invalid.
"""

from __future__ import annotations

import gzip
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner, Result

from cdpcli.cli.app import app

FUZZ = settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
ALLOWED_EXITS = {0, 1, 2, 3, 4}

CONFIG = """\
version: 1
destinations:
  mixpanel:
    kind: mixpanel
    project_id: "3141592"
    region: us
  billing:
    kind: lago
    api_url: https://api.getlago.com
routes:
  - name: analytics
    to: mixpanel
  - name: usage
    to: billing
    when: {type: track, event: ["*a*a*b*", "*"]}
    map:
      code: "[/bold]{{ event }}"
      external_subscription_id: "{{ userId | default: 'sub_[red]' }}"
      properties: {gb: "{{ properties.bytes }}", deep: "{{ properties.deep }}"}
"""
VALID = {
    "type": "track",
    "event": "Signed Up",
    "userId": "u1",
    "messageId": "m-1",
    "timestamp": "2024-05-01T12:00:00Z",
}


@pytest.fixture(scope="module")
def workdir() -> Iterator[Path]:
    with tempfile.TemporaryDirectory() as tmp:
        directory = Path(tmp)
        (directory / "cdpcli.yaml").write_text(CONFIG, encoding="utf-8")
        yield directory


def invoke(*args: str) -> Result:
    result = CliRunner().invoke(app, list(args), catch_exceptions=True)
    stdout, stderr = result.stdout, result.stderr
    assert "Traceback" not in stdout + stderr, stdout + stderr
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        raise AssertionError(f"{args}: {type(result.exception).__name__}: {result.exception}")
    assert result.exit_code in ALLOWED_EXITS, (args, result.exit_code, stderr)
    return result


def json_lines(text: str) -> list[Any]:
    return [orjson.loads(line.encode("utf-8")) for line in text.split("\n") if line]


# --- hostile content ----------------------------------------------------------------------------

text_values = st.text(max_size=12) | st.sampled_from(
    [
        "[/bold]",
        "[red]x[/red]",
        "[link=file:///etc/passwd]x",
        "\x1b[31m",
        "\u202e",
        "\ufeff",
        "\x00",
    ]
)
json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-(2**63), 2**64 - 1)
    | st.floats(allow_nan=False, allow_infinity=False)
    | text_values,
    lambda children: (
        st.lists(children, max_size=3) | st.dictionaries(text_values, children, max_size=3)
    ),
    max_leaves=8,
)
events = st.fixed_dictionaries(
    {
        "type": st.sampled_from(["track", "identify", "page", "screen", "group", "alias"])
        | json_values,
    },
    optional={
        "event": text_values | json_values,
        "name": text_values,
        "userId": text_values | st.integers(-(2**63), 2**63),
        "anonymousId": text_values,
        "groupId": text_values,
        "previousId": text_values,
        "messageId": text_values,
        "timestamp": st.sampled_from(["2024-05-01T00:00:00Z", "2024-02-30", "0001-01-01", "x"]),
        "sentAt": st.just("2024-05-01T00:00:00+14:00"),
        "properties": st.dictionaries(text_values, json_values, max_size=4) | json_values,
        "traits": st.dictionaries(
            st.sampled_from(["email", "age", "name", "createdAt", "plan", "employees"]), json_values
        ),
        "context": json_values,
        "integrations": st.dictionaries(
            st.sampled_from(["All", "Mixpanel", "Lago", "billing", "mixpanel"]), json_values
        ),
    },
)


def deep(depth: int) -> bytes:
    return b"[" * depth + b"]" * depth


RAW_LINES = [
    b"[" * 10_000,
    orjson.dumps({**VALID, "properties": {"deep": []}}).replace(b"[]", deep(1000)),
    orjson.dumps({**VALID, "properties": {"deep": [], "pad": "x" * 9000}}).replace(
        b"[]", deep(300)
    ),
    b'{"type":' + deep(1000) + b',"userId":"u"}',
    orjson.dumps({**VALID, "event": "x"}).replace(b'"x"', b'"\\ud800"'),
    orjson.dumps({**VALID, "event": "x"}).replace(b'"x"', b'"\\ud83d\\ude00"'),
    orjson.dumps({**VALID, "properties": {"n": 0}}).replace(b'"n":0', b'"n":1e400'),
    orjson.dumps({**VALID, "properties": {"n": 0}}).replace(b'"n":0', b'"n":' + b"7" * 400),
    b'{"type":"track","n":NaN}',
    b"\xef\xbb\xbf" + orjson.dumps(VALID),
    orjson.dumps(VALID)[:-1] + b',"userId":7,"userId":"again"}',
    orjson.dumps({**VALID, "event": "[/bold]"}) + b"\r" + orjson.dumps(VALID),
    b"\x00\x01\x02",
    b"\xff\xfe\xfd",
    orjson.dumps({"batch": [VALID, 1, {**VALID, "type": []}], "context": {"ip": "1.2.3.4"}}),
    orjson.dumps({"kind": "rejected", "event": VALID, "route": "[/x]", "destination": "nope"}),
    orjson.dumps({**VALID, "event": "a" * 30_000}),
    orjson.dumps({**VALID, "properties": {"blob": "y" * 40_000}}),
]


@st.composite
def hostile_files(draw: st.DrawFn) -> tuple[str, bytes]:
    """A file name and its content: lines of generated events, raw hostile lines and noise."""
    lines: list[bytes] = []
    for _ in range(draw(st.integers(0, 12))):
        choice = draw(st.integers(0, 3))
        if choice == 0:
            lines.append(orjson.dumps(draw(events)))
        elif choice == 1:
            lines.append(draw(st.sampled_from(RAW_LINES)))
        elif choice == 2:
            lines.append(orjson.dumps({"batch": draw(st.lists(events, max_size=3))}))
        else:
            lines.append(draw(st.binary(max_size=30)))
    form = draw(st.sampled_from(["jsonl", "jsonl.gz", "json", "json.gz", "truncated.gz"]))
    if form.startswith("json") and not form.startswith("jsonl"):
        body = b"[" + b",\n".join(lines) + b"]"
    else:
        body = b"\n".join(lines) + b"\n"
    if form.endswith(".gz"):
        body = gzip.compress(body, mtime=0)
        if form == "truncated.gz":
            body = body[: draw(st.integers(2, max(2, len(body) - 1)))]
            form = "jsonl.gz"
    return f"input.{form}", body


# --- properties ---------------------------------------------------------------------------------


@FUZZ
@given(hostile_files())
def test_validate_and_inspect_never_crash(workdir: Path, file: tuple[str, bytes]) -> None:
    name, content = file
    path = workdir / name
    path.write_bytes(content)
    text = invoke("validate", str(path))
    assert text.exit_code in (0, 1)
    as_json = invoke("validate", str(path), "--format", "json")
    records = json_lines(as_json.stdout)
    summary = records[-1]
    assert summary["kind"] == "summary"
    assert summary["valid"] + summary["invalid"] == summary["events_read"]
    assert as_json.exit_code == (1 if summary["invalid"] else 0)
    problems = [r for r in records[:-1] if r["kind"] == "problem"]
    assert len(problems) == len(records) - 1
    errors = {(p["line"], p["field"]) for p in problems if p["severity"] == "error"}
    assert bool(errors) == bool(summary["invalid"])
    invoke("validate", str(path), "--strict", "--quiet")
    inspected = invoke("inspect", str(path), "--format", "json")
    assert inspected.exit_code == 0
    profile = orjson.loads(inspected.stdout.encode("utf-8"))
    assert (profile["events_read"], profile["valid"], profile["invalid"]) == (
        summary["events_read"],
        summary["valid"],
        summary["invalid"],
    )
    assert invoke("inspect", str(path)).exit_code == 0


@FUZZ
@given(hostile_files())
def test_dry_run_never_crashes_and_every_event_is_accounted_for(
    workdir: Path, file: tuple[str, bytes]
) -> None:
    name, content = file
    path = workdir / name
    path.write_bytes(content)
    config = str(workdir / "cdpcli.yaml")
    rejected = workdir / "rejected.jsonl"
    rejected.unlink(missing_ok=True)
    validated = json_lines(invoke("validate", str(path), "--format", "json").stdout)[-1]
    result = invoke(
        "send",
        str(path),
        "--config",
        config,
        "--dry-run",
        "--format",
        "json",
        "--rejected",
        str(rejected),
    )
    lines = json_lines(result.stdout)
    summary = lines[-1]
    requests = lines[:-1]
    assert summary["kind"] == "summary" and summary["dry_run"] is True
    assert result.exit_code == (1 if summary["invalid"] or summary["rejected"] else 0)
    assert (summary["events_read"], summary["invalid"]) == (
        validated["events_read"],
        validated["invalid"],
    )
    destinations = summary["destinations"]
    for stats in destinations.values():
        outcomes = stats["delivered"] + stats["duplicates"] + stats["rejected"] + stats["skipped"]
        assert stats["routed"] == outcomes
    # The analytics route takes every valid event; usage takes every valid track.
    assert destinations["mixpanel"]["routed"] == validated["valid"]
    assert destinations["billing"]["routed"] == validated["by_type"].get("track", 0)
    for key in ("delivered", "duplicates", "rejected", "skipped"):
        assert summary[key] == sum(stats[key] for stats in destinations.values())
    assert summary["not_sent"] == 0
    assert len(requests) == sum(stats["requests"] for stats in destinations.values())
    for request in requests:
        assert set(request) == {"destination", "kind", "method", "url", "headers", "body"}
        assert request["url"].startswith("https://")
    written = json_lines(rejected.read_text(encoding="utf-8")) if rejected.exists() else []
    assert len(written) == summary["invalid"] + summary["rejected"]
    explained = invoke("send", str(path), "--config", config, "--dry-run", "--explain")
    assert explained.exit_code == result.exit_code
    if rejected.exists():  # the rejected file replays without a crash
        invoke("send", str(rejected), "--config", config, "--dry-run", "--output", "/dev/null")


@pytest.mark.parametrize("line", RAW_LINES, ids=range(len(RAW_LINES)))
@pytest.mark.parametrize(
    "args",
    [
        ("validate",),
        ("validate", "--format", "json"),
        ("inspect",),
        ("inspect", "--format", "json"),
        ("send", "--dry-run", "--format", "json"),
        ("send", "--dry-run", "--explain"),
    ],
    ids=" ".join,
)
def test_each_hostile_line_through_each_command(
    workdir: Path, line: bytes, args: tuple[str, ...]
) -> None:
    path = workdir / "line.jsonl"
    path.write_bytes(orjson.dumps(VALID) + b"\n" + line + b"\n")
    extra = ("--config", str(workdir / "cdpcli.yaml")) if args[0] == "send" else ()
    result = invoke(*args, str(path), *extra)
    if "json" in args and args[0] != "inspect":
        records = json_lines(result.stdout)
        assert records[-1]["kind"] == "summary"


@pytest.mark.parametrize(
    ("args", "code", "fragment"),
    [
        (("validate", "[/bold]missing.jsonl"), 4, "[/bold]missing.jsonl: no such file"),
        (("inspect", "[red]nothing[/red]"), 4, "[red]nothing[/red]: no such file"),
        (("send", "x.jsonl", "--config", "[/x].yaml", "--dry-run"), 3, "[/x].yaml"),
        (("send", "-", "--dry-run", "--since", "[/x]"), 2, "[/x]"),
        (("send", "-", "--dry-run", "--limit", "0"), 2, ""),
        (("validate", "--format", "yaml"), 2, ""),
    ],
)
def test_markup_like_arguments_are_printed_verbatim(
    workdir: Path, args: tuple[str, ...], code: int, fragment: str
) -> None:
    result = invoke(*args)
    assert result.exit_code == code
    assert fragment in result.stderr


def test_markup_like_config_keys_are_printed_verbatim(workdir: Path) -> None:
    config = workdir / "markup.yaml"
    config.write_text("version: 1\n'[/bold]': 1\n", encoding="utf-8")
    path = workdir / "one.jsonl"
    path.write_bytes(orjson.dumps(VALID) + b"\n")
    result = invoke("send", str(path), "--config", str(config), "--dry-run")
    assert result.exit_code == 3
    assert f"{config}:2: key `[/bold]`: unknown key" in result.stderr
