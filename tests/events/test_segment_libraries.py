"""What Segment's own libraries send validates cleanly (issue 19, reference/segment-spec.md §1-§2).

`data/analytics-python-2.3.4.jsonl` and `data/analytics-node-3.1.0.jsonl` are request bodies to
`/v1/batch`, one a line, written as those libraries shape them:

- analytics-python (`segment/analytics/client.py`, `request.py`): the envelope
  `{batch, sentAt, writeKey}` serialized by `json.dumps` (spaced separators, non-ASCII escaped);
  each message in the key order of its method, `timestamp` with milliseconds and `+00:00`, a bare
  UUID4 `messageId`, `context.library` `{name: analytics-python, version}`, and null for the ids
  and page/screen names not given (`clean` keeps nulls).
- @segment/analytics-node 3.1.0 (core `events/index.ts`, node `app/event-factory.ts`,
  `plugins/segmentio/index.ts` and `publisher.ts`): the envelope `{batch, sentAt}` (the write key
  goes in the Authorization header), `timestamp` first, `node-next-<ms>-<uuid>` ids,
  `context.library` `{name: @segment/analytics-node, version: 3.1.0}` and
  `_metadata: {nodeVersion, jsRuntime}` on every event.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from cdpcli.cli.app import app
from cdpcli.destinations.base import Mapped, RouteInfo
from cdpcli.destinations.registry import KINDS, get_kind
from cdpcli.events.model import Event
from cdpcli.events.reader import read_inputs, resolve_inputs
from cdpcli.events.spec import check

DATA = Path(__file__).resolve().parent / "data"
PYTHON = DATA / "analytics-python-2.3.4.jsonl"
NODE = DATA / "analytics-node-3.1.0.jsonl"
TYPES = ["alias", "group", "identify", "page", "screen", "track"]
UUID4 = "[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}"


def bodies(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def test_fixtures_are_shaped_as_the_libraries_send() -> None:
    """The fixtures hold what the test claims: every type, each library's envelope and ids."""
    for body in bodies(PYTHON):
        assert list(body) == ["batch", "sentAt", "writeKey"]
        for message in body["batch"]:
            assert re.fullmatch(UUID4, message["messageId"])
            assert message["context"]["library"] == {"name": "analytics-python", "version": "2.3.4"}
            assert "_metadata" not in message
    for body in bodies(NODE):
        assert list(body) == ["batch", "sentAt"]
        for message in body["batch"]:
            assert re.fullmatch(f"node-next-[0-9]{{13}}-{UUID4}", message["messageId"])
            assert message["context"]["library"] == {
                "name": "@segment/analytics-node",
                "version": "3.1.0",
            }
            assert next(iter(message)) == "timestamp"
            assert message["_metadata"] == {"nodeVersion": "20.11.1", "jsRuntime": "node"}
    for path in (PYTHON, NODE):
        kinds = {message["type"] for body in bodies(path) for message in body["batch"]}
        assert sorted(kinds) == TYPES


@pytest.mark.parametrize("path", [PYTHON, NODE], ids=["analytics-python", "analytics-node"])
@pytest.mark.parametrize("strict", [False, True], ids=["default", "strict"])
def test_segment_library_batches_validate_with_no_problem(path: Path, strict: bool) -> None:
    args = ["validate", str(path), "--format", "json", *(["--strict"] if strict else [])]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    (summary,) = [json.loads(line) for line in result.stdout.splitlines()]  # no problem line
    events = sum(len(body["batch"]) for body in bodies(path))
    assert summary["events_read"] == summary["valid"] == events
    assert summary["invalid"] == summary["warnings"] == 0
    assert sorted(summary["by_type"]) == TYPES


def library_events() -> list[Event]:
    items = list(read_inputs(resolve_inputs([str(PYTHON), str(NODE)])))
    assert all(isinstance(item, Event) for item in items)
    return [item for item in items if isinstance(item, Event)]


NON_SPEC = {
    "writeKey": "9XeS2xVnYvYcQ7kcFh1BgUQe0ZJmVJ1Q",
    "_metadata": {"bundled": ["Segment.io", "Mixpanel"], "unbundled": [], "bundledIds": []},
    "projectId": "qw3rTyU1oP",
}
OPTIONS = {"mixpanel": {"project_id": "3141592"}, "lago": {}}


def mapped(kind: str, data: dict[str, Any], origin: Event) -> Mapped:
    """What `data` becomes for a destination of `kind`, after the validator normalized it."""
    checked = check(Event(data, origin.origin, origin.size))
    assert checked.data is not None and checked.time_ms is not None, checked.problems
    kind_class = get_kind(kind)
    options = kind_class.parse_options(OPTIONS[kind], lambda key: f"test: {key}")
    destination = kind_class("d", options, {"project_token": "t"})
    return destination.map_event(checked.data, time_ms=checked.time_ms, route=RouteInfo(name="r"))


@pytest.mark.parametrize("kind", KINDS)
def test_segments_own_fields_are_never_forwarded(kind: str) -> None:
    """An event carrying writeKey, _metadata and projectId maps to the same records as without
    them: the mappers build their records from named fields only."""
    compared = 0
    for event in library_events():
        bare = {key: value for key, value in event.data.items() if key not in NON_SPEC}
        with_fields = {**event.data, **NON_SPEC}
        expected = mapped(kind, bare, event)
        got = mapped(kind, with_fields, event)
        assert got == expected
        compared += bool(expected.records)
    assert compared >= 3  # tracks at least, for both kinds
