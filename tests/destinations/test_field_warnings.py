"""A value Segment's Mixpanel destination cannot convert to its field's declared type
(reference/mixpanel.md §2.6): the event is sent without that field, and the value is reported as
a warning naming its path by `validate` (an error with `--strict`, the same with `--jobs`), by
`send --explain` at its event, and counted in the send summary."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from cdpcli import api
from cdpcli.cli.app import app
from cdpcli.destinations.checks import field_warnings

BASE = {"userId": "u1", "timestamp": "2024-01-01T00:00:00Z"}
WIDTH = {**BASE, "type": "track", "event": "Tapped", "context": {"screen": {"width": "abc"}}}
FINE = {**BASE, "type": "track", "event": "Tapped", "context": {"screen": {"width": "393"}}}
PRICE = {
    **BASE,
    "type": "track",
    "event": "Order Completed",
    "properties": {"order_id": "o1", "products": [{"product_id": "p1", "price": "x"}]},
}
WIDTH_WARNING = (
    'context.screen.width: "abc" is not a number; sent without $screen_width'
    " (Segment would drop the event)"
)

CONFIG = """\
version: 1
destinations:
  mixpanel:
    kind: mixpanel
    project_id: "3141592"
routes:
  - name: all
    to: mixpanel
"""


def run(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(app, list(args))
    return result.exit_code, result.stdout, result.stderr


def write_events(tmp_path: Path, events: list[dict[str, Any]], copies: int = 1) -> Path:
    path = tmp_path / "events.jsonl"
    with path.open("w") as out:
        for n in range(copies):
            for m, event in enumerate(events):
                out.write(json.dumps({**event, "messageId": f"m{n}-{m}"}) + "\n")
    return path


def test_the_check_names_the_path_and_what_is_left_out() -> None:
    assert (
        api.check_event({**WIDTH, "messageId": "m1"}) == []
    )  # the Segment spec alone has nothing against it
    assert field_warnings(WIDTH) == [("context.screen.width", WIDTH_WARNING.split(": ", 1)[1])]
    assert field_warnings(FINE) == []
    assert [path for path, _ in field_warnings(PRICE)] == ["properties.products[0].price"]


def test_validate_warns_and_strict_fails(tmp_path: Path) -> None:
    path = write_events(tmp_path, [FINE, WIDTH, PRICE])
    code, out, err = run("validate", str(path))
    assert code == 0, err
    assert out.splitlines() == [
        f"{path}:2: warning: {WIDTH_WARNING}",
        f'{path}:3: warning: properties.products[0].price: "x" is not a number; Product'
        " Purchased 0 sent without price (Segment would drop the event)",
    ]
    assert "3 valid, 0 invalid, 2 warnings" in err
    code, out, err = run("validate", "--strict", str(path))
    assert code == 1
    assert [line.split(": ")[1] for line in out.splitlines()] == ["error", "error"]
    assert "1 valid, 2 invalid" in err


def test_an_invalid_event_is_not_also_warned_about(tmp_path: Path) -> None:
    broken = {**WIDTH, "timestamp": "not a time"}
    path = write_events(tmp_path, [broken])
    code, out, _ = run("validate", str(path), "--format", "json")
    assert code == 1
    problems = [json.loads(line) for line in out.splitlines()][:-1]
    assert [p["field"] for p in problems] == ["timestamp"]


def test_the_warning_groups_across_values(tmp_path: Path) -> None:
    """The value is left out of the grouping key: 50 widths of 50 values are one group."""
    events = [{**WIDTH, "context": {"screen": {"width": f"w{n}"}}} for n in range(48)]
    # values that hold the words of the message themselves are alike too
    events += [{**WIDTH, "context": {"screen": {"width": t}}} for t in ("a is b", "x is not")]
    path = write_events(tmp_path, events)
    code, out, _ = run("validate", str(path))
    assert code == 0
    assert len(out.splitlines()) == 4
    assert out.splitlines()[-1].startswith("... and 47 more like it")


@pytest.mark.parametrize("jobs", ["1", "2"])
def test_validate_in_processes_reports_the_same(tmp_path: Path, jobs: str) -> None:
    # Over MIN_CHUNK_BYTES twice, so that -j 2 really cuts it in two.
    path = write_events(tmp_path, [FINE, WIDTH, PRICE], copies=30_000)
    one = run("validate", "--format", "json", "-j", "1", str(path))
    assert run("validate", "--format", "json", "-j", jobs, str(path)) == one
    problems = [json.loads(line) for line in one[1].splitlines()][:-1]
    assert len(problems) == 60_000
    assert {p["severity"] for p in problems} == {"warning"}


def test_explain_shows_the_warning_at_its_event_and_the_summary_counts_it(
    tmp_path: Path,
) -> None:
    path = write_events(tmp_path, [FINE, WIDTH, WIDTH])
    config = tmp_path / "cdpcli.yaml"
    config.write_text(CONFIG)
    code, out, err = run("send", str(path), "-c", str(config), "--dry-run", "--explain")
    assert code == 0, err
    blocks = out.split("\n\n")
    assert ": warning:" not in blocks[0]
    assert f"  → route all → mixpanel: warning: {WIDTH_WARNING}" in blocks[1].splitlines()
    record = next(line for line in blocks[1].splitlines() if "/import:" in line)
    assert "$screen_width" not in record and '"Tapped"' in record
    assert "2 values left out, not of their field's type" in err

    code, out, _ = run("send", str(path), "-c", str(config), "--dry-run", "--format", "json")
    summary = json.loads(out.splitlines()[-1])
    assert summary["warnings"] == 2
    assert summary["destinations"]["mixpanel"]["warnings"] == 2
    assert summary["delivered"] == 3  # the events are kept


def test_no_warning_no_mention(tmp_path: Path) -> None:
    path = write_events(tmp_path, [FINE])
    config = tmp_path / "cdpcli.yaml"
    config.write_text(CONFIG)
    code, _, err = run("send", str(path), "-c", str(config), "--dry-run")
    assert code == 0
    assert "left out" not in err
