"""The reader: every input form of PRODUCT.md §3, origins, and bad lines as problems."""

from __future__ import annotations

import gzip
import io
import json
import os
from pathlib import Path

import pytest

from cdpcli.errors import ExitCode, InputError, NoInputError
from cdpcli.events.decode import deep_merge
from cdpcli.events.model import Event, Problem
from cdpcli.events.reader import InputFile, is_event_file, read_input, read_inputs, resolve_inputs


def read_bytes(data: bytes, name: str = "events.jsonl", tmp_path: Path | None = None) -> list:
    stream = io.BytesIO(data)
    return list(read_input(InputFile("<stdin>", None), stdin=stream))


def origins(items: list) -> list[str]:
    return [str(item.origin) for item in items]


def test_jsonl_lines_blank_lines_crlf_and_bom() -> None:
    data = (
        b'\xef\xbb\xbf{"type":"track","n":1}\r\n\r\n   \n'
        b'{"type":"track","n":2}\n{"type":"track","n":3}'
    )
    items = read_bytes(data)
    assert [i.data["n"] for i in items] == [1, 2, 3]
    assert origins(items) == ["<stdin>:1", "<stdin>:4", "<stdin>:5"]


@pytest.mark.parametrize(
    ("line", "message"),
    [
        (b"not json", "not JSON: "),
        (b'{"a":NaN}', "not JSON: "),
        (b'{"a":Infinity}', "not JSON: "),
        (b'{"a":1', "not JSON: "),
        (b"[1,2]", "not an object: the line holds a JSON array"),
        (b'"text"', "not an object: the line holds a JSON string"),
        (b"42", "not an object: the line holds a JSON number"),
        (b"null", "not an object: the line holds a JSON null"),
        (b'{"event":"Caf\xe9"}', "not UTF-8: byte 0xe9 at column 14"),
    ],
)
def test_bad_lines_are_problems_with_their_place(line: bytes, message: str) -> None:
    items = read_bytes(b'{"ok":1}\n' + line + b'\n{"ok":2}\n')
    assert isinstance(items[0], Event) and isinstance(items[2], Event)
    problem = items[1]
    assert isinstance(problem, Problem)
    assert problem.severity == "error"
    assert str(problem.origin) == "<stdin>:2"
    assert problem.message.startswith(message), problem.message


def test_gzip_detected_by_content(tmp_path: Path) -> None:
    path = tmp_path / "1715644800000.abc.gz"
    path.write_bytes(gzip.compress(b'{"type":"track","i":1}\n{"type":"track","i":2}\n'))
    items = list(read_input(InputFile(str(path), path)))
    assert [i.data["i"] for i in items] == [1, 2]
    assert origins(items) == [f"{path}:1", f"{path}:2"]


def test_truncated_gzip_reports_and_keeps_what_was_read(tmp_path: Path) -> None:
    lines = b"".join(
        b'{"type":"track","i":%d,"r":"%s"}\n' % (i, os.urandom(16).hex().encode())
        for i in range(20000)
    )
    blob = gzip.compress(lines)
    path = tmp_path / "cut.jsonl.gz"
    path.write_bytes(blob[: len(blob) // 2])
    items = list(read_input(InputFile(str(path), path)))
    events = [i for i in items if isinstance(i, Event)]
    problems = [i for i in items if isinstance(i, Problem)]
    assert 0 < len(events) < 20000
    assert len(problems) == 1
    assert "cannot read the rest of the file" in problems[0].message


def test_batch_envelope_merges_context_and_integrations_item_wins() -> None:
    envelope = {
        "batch": [
            {"type": "track", "event": "A", "context": {"ip": "1.1.1.1", "library": {"v": "own"}}},
            {"type": "track", "event": "B", "sentAt": "2024-01-02T00:00:00Z"},
            "junk",
            {"type": "track", "event": "C", "integrations": {"Mixpanel": False}},
        ],
        "context": {"library": {"name": "analytics-python", "v": "env"}, "locale": "de-DE"},
        "integrations": {"All": True, "Mixpanel": True},
        "sentAt": "2024-01-01T00:00:00Z",
        "writeKey": "wk",
    }
    items = read_bytes(json.dumps(envelope).encode())
    assert origins(items) == ["<stdin>:1#0", "<stdin>:1#1", "<stdin>:1#2", "<stdin>:1#3"]
    a, b, junk, c = items
    assert a.data["context"] == {
        "library": {"name": "analytics-python", "v": "own"},
        "locale": "de-DE",
        "ip": "1.1.1.1",
    }
    assert a.data["sentAt"] == "2024-01-01T00:00:00Z"
    assert b.data["sentAt"] == "2024-01-02T00:00:00Z"
    assert "writeKey" not in a.data
    assert isinstance(junk, Problem) and junk.path == "batch[2]"
    assert c.data["integrations"] == {"All": True, "Mixpanel": False}


def test_rejected_record_is_unwrapped_for_replay() -> None:
    record = {
        "kind": "rejected",
        "origin": "a.jsonl:3",
        "destination": "billing",
        "route": "api-usage",
        "reason": "no external_subscription_id",
        "event": {"type": "track", "event": "API Call", "userId": "u"},
    }
    (event,) = read_bytes(json.dumps(record).encode())
    assert isinstance(event, Event)
    assert event.data == record["event"]
    assert event.replay_route == "api-usage"
    assert event.replay_destination == "billing"


@pytest.mark.parametrize("text", ["", "  ", "\t"])
def test_a_rejected_record_of_a_blank_line_is_reported_not_dropped(text: str) -> None:
    record = {"kind": "rejected", "origin": "a.jsonl:3", "reason": "not JSON", "event": text}
    (problem,) = read_bytes(json.dumps(record).encode())
    assert isinstance(problem, Problem) and problem.field == "event"
    assert "blank line" in problem.message


def test_json_array_file_streams_elements_with_line_and_index(tmp_path: Path) -> None:
    path = tmp_path / "events.json"
    path.write_text(
        '[\n  {"type": "track", "i": 0},\n  {"type": "track",\n   "i": 1, "s": "a]}\\"["},\n'
        '  42,\n  {"type": "track", "i": 2}\n]\n'
    )
    items = list(read_input(InputFile(str(path), path)))
    assert [str(i.origin) for i in items] == [
        f"{path}:2#0",
        f"{path}:3#1",
        f"{path}:5#2",
        f"{path}:6#3",
    ]
    assert items[1].data == {"type": "track", "i": 1, "s": 'a]}"['}
    assert isinstance(items[2], Problem) and items[2].path == "[2]"


def test_json_file_with_pretty_printed_objects(tmp_path: Path) -> None:
    path = tmp_path / "two.json"
    path.write_text('{\n "type": "track",\n "i": 1\n}\n{"type": "track", "i": 2}\n')
    items = list(read_input(InputFile(str(path), path)))
    assert [(i.origin.line, i.data["i"]) for i in items] == [(1, 1), (5, 2)]


def test_json_file_truncated_is_a_problem(tmp_path: Path) -> None:
    path = tmp_path / "cut.json"
    path.write_text('[{"type": "track", "i": 0}, {"type": "tr')
    items = list(read_input(InputFile(str(path), path)))
    assert isinstance(items[0], Event)
    assert isinstance(items[-1], Problem)


@pytest.mark.parametrize(
    ("name", "taken"),
    [
        ("a.jsonl", True),
        ("a.ndjson", True),
        ("a.json", True),
        ("a.jsonl.gz", True),
        ("1715644800000.27d62a1a-9b4d.gz", True),
        ("plain.gz", True),
        ("a.csv.gz", False),
        ("a.tar.gz", False),
        ("README.md", False),
        (".hidden.jsonl", False),
        ("config.yaml", False),
    ],
)
def test_directory_walk_takes_event_files_only(name: str, taken: bool) -> None:
    assert is_event_file(Path(name)) is taken


def test_directories_walked_recursively_in_sorted_order(tmp_path: Path) -> None:
    for rel in ["b/2.jsonl", "b/1.jsonl", "a/z.jsonl.gz", "a/notes.txt", ".git/x.jsonl", "c.json"]:
        path = tmp_path / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(b"")
    names = [Path(i.name).relative_to(tmp_path).as_posix() for i in resolve_inputs([str(tmp_path)])]
    assert names == ["a/z.jsonl.gz", "b/1.jsonl", "b/2.jsonl", "c.json"]


def test_missing_path_and_empty_directory_are_input_errors(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="no such file"):
        resolve_inputs([str(tmp_path / "nope.jsonl")])
    with pytest.raises(InputError, match="holds no event files"):
        resolve_inputs([str(tmp_path)])


def test_no_path_reads_stdin_unless_terminal() -> None:
    assert [i.path for i in resolve_inputs([], stdin_is_tty=False)] == [None]
    with pytest.raises(NoInputError, match="no input") as caught:
        resolve_inputs([], stdin_is_tty=True)
    assert caught.value.exit_code is ExitCode.USAGE  # a usage error, not unreadable input
    assert caught.value.hint is not None
    assert "cdpcli" not in caught.value.hint  # the command that was run supplies its example


def test_size_is_exact_for_large_events() -> None:
    event = {"type": "track", "p": "x" * 40000}
    compact = json.dumps(event, separators=(",", ":")).encode()
    spaced = json.dumps(event, indent=4).replace("\n", " ").encode()
    (item,) = read_bytes(spaced)
    assert item.size == len(compact)


def test_read_inputs_chains_files(tmp_path: Path) -> None:
    (tmp_path / "a.jsonl").write_text('{"i":1}\n')
    (tmp_path / "b.jsonl").write_text('{"i":2}\n')
    items = list(read_inputs(resolve_inputs([str(tmp_path)])))
    assert [i.data["i"] for i in items] == [1, 2]


def test_deep_merge_item_wins_at_every_level() -> None:
    assert deep_merge({"a": {"b": 1, "c": 2}, "d": 1}, {"a": {"b": 9}, "e": 5}) == {
        "a": {"b": 9, "c": 2},
        "d": 1,
        "e": 5,
    }
