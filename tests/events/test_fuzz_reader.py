"""Hostile input for the reader and the validator: every line ends in exactly one Event or Problem.

The invariants a skeptical reader would ask for, checked over generated hostile input:

- reading never raises and always terminates;
- every non-blank line yields exactly one Event or Problem (a batch envelope one per item, an
  array element one per element), with the right line number; nothing is lost or duplicated;
- validation counts add up: `valid + invalid == events_read == items read`;
- every event and every problem renders: `str(problem)`, the `--format json` problem line, and the
  event as JSON (what the dry run and the rejected file write) all serialize to valid UTF-8.
"""

from __future__ import annotations

import gzip
import io
import tempfile
import time
import zlib
from collections.abc import Iterator
from pathlib import Path

import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cdpcli import jsonio
from cdpcli.events.decode import Item, deep_merge
from cdpcli.events.lines import MAX_LINE_BYTES
from cdpcli.events.model import Event, Problem
from cdpcli.events.reader import InputFile, read_input
from cdpcli.events.spec import check
from cdpcli.events.validate import Validation, problem_dict

FUZZ = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])

VALID = {
    "type": "track",
    "event": "Signed Up",
    "userId": "u1",
    "messageId": "m-1",
    "timestamp": "2024-05-01T12:00:00Z",
}


def event_line(**extra: object) -> bytes:
    return orjson.dumps({**VALID, **extra})


def read_stdin(data: bytes) -> list[Item]:
    return list(read_input(InputFile("<stdin>", None), stdin=io.BytesIO(data)))


@pytest.fixture(scope="module")
def workdir() -> Iterator[Path]:
    with tempfile.TemporaryDirectory() as tmp:
        yield Path(tmp)


def read_file(directory: Path, name: str, data: bytes) -> list[Item]:
    path = directory / name
    path.write_bytes(data)
    return list(read_input(InputFile(str(path), path)))


def assert_renders(items: list[Item]) -> None:
    """What `validate` (text and JSON), the dry run and the rejected file print never fails."""
    run = Validation(items)
    problems = list(run.problems())
    for problem in problems:
        str(problem).encode("utf-8")
        orjson.loads(jsonio.dumps(problem_dict(problem)).encode("utf-8"))
    for item in items:
        if isinstance(item, Event):
            orjson.loads(jsonio.dumps_bytes(item.data))
    summary = run.summary
    assert summary.events_read == len(items)
    assert summary.valid + summary.invalid == summary.events_read
    assert summary.invalid >= sum(isinstance(item, Problem) for item in items)
    orjson.loads(jsonio.dumps(summary.as_dict()))


# --- hostile lines, each with the number of items it must yield ----------------------------------


def deep(depth: int, opener: str = "[") -> str:
    closer = {"[": "]", "{": "}"}[opener]
    if opener == "[":
        return "[" * depth + "]" * depth
    return '{"a":' * depth + "1" + closer * depth


HOSTILE_TEXTS: list[tuple[str, bytes, str]] = [
    # (name, line, expected outcome: "event", "problem")
    ("deep array 10k", b"[" * 10_000 + b"]" * 10_000, "problem"),
    ("deep unbalanced 10k", b"{" * 10_000, "problem"),
    ("deep object 10k", deep(10_000, "{").encode(), "problem"),
    ("deep property 1000", event_line(properties={}).replace(b"{}", deep(1000).encode()), "event"),
    (
        "deep property 1025",
        event_line(properties={}).replace(b"{}", deep(1025).encode()),
        "problem",
    ),
    (
        "deep object property 300",
        event_line(properties={}).replace(b"{}", deep(300, "{").encode()),
        "event",
    ),
    ("deep type 1000", b'{"type":' + deep(1000).encode() + b',"userId":"u"}', "event"),
    ("deep type object", b'{"type":{"a":{"b":1}},"userId":"u"}', "event"),
    ("number 1e400", event_line(properties={"x": 0}).replace(b'"x":0', b'"x":1e400'), "problem"),
    ("number -1e400", b'{"type":-1e400}', "problem"),
    (
        "400-digit integer",
        event_line(properties={"x": 0}).replace(b'"x":0', b'"x":' + b"9" * 400),
        "problem",
    ),
    (
        "1e-400 underflows",
        event_line(properties={"x": 0}).replace(b'"x":0', b'"x":1e-400'),
        "event",
    ),
    (
        "20-digit integer",
        event_line(properties={"x": 0}).replace(b'"x":0', b'"x":' + b"9" * 20),
        "event",
    ),
    ("NaN", b'{"type":"track","x":NaN}', "problem"),
    ("Infinity", b'{"type":"track","x":Infinity}', "problem"),
    ("-Infinity", b"-Infinity", "problem"),
    ("duplicate keys", event_line()[:-1] + b',"userId":"u2","userId":7}', "event"),
    ("lone high surrogate", event_line(event="x").replace(b'"x"', b'"\\ud800"'), "problem"),
    ("lone low surrogate", event_line(event="x").replace(b'"x"', b'"\\udc00"'), "problem"),
    ("reversed surrogates", event_line(event="x").replace(b'"x"', b'"\\udc00\\ud800"'), "problem"),
    ("surrogate pair", event_line(event="x").replace(b'"x"', b'"\\ud83d\\ude00"'), "event"),
    ("surrogate as key", b'{"\\ud800":1}', "problem"),
    ("raw surrogate bytes", event_line(event="x").replace(b'"x"', b'"\xed\xa0\x80"'), "problem"),
    ("BOM between tokens", b"{\xef\xbb\xbf" + event_line()[1:], "problem"),
    ("BOM inside a string", event_line()[:10] + b"\xef\xbb\xbf" + event_line()[10:], "event"),
    ("BOM at line start", b"\xef\xbb\xbf" + event_line(), "problem"),  # only line 1 may have one
    ("raw NUL in string", event_line(event="x").replace(b'"x"', b'"a\x00b"'), "problem"),
    ("raw NUL outside", event_line() + b"\x00", "problem"),
    ("escaped NUL", event_line(event="x").replace(b'"x"', b'"a\\u0000b"'), "event"),
    ("CR-only endings", event_line() + b"\r" + event_line() + b"\r", "problem"),
    ("lone CR", b"\r", "blank"),
    ("tabs and spaces", b" \t ", "blank"),
    ("invalid UTF-8", b'{"type":"\xff\xfe"}', "problem"),
    ("overlong UTF-8", b'{"type":"\xc0\xaf"}', "problem"),
    ("gzip magic mid file", b"\x1f\x8b\x08\x00", "problem"),
    ("batch not a list", b'{"batch":{"a":1}}', "event"),
    ("rejected record without event", b'{"kind":"rejected","event":[1]}', "problem"),
    ("json string", b'"just a string"', "problem"),
    ("json null", b"null", "problem"),
    ("two objects", event_line() + event_line(), "problem"),
    ("trailing comma", event_line()[:-1] + b",}", "problem"),
]


@pytest.mark.parametrize(
    ("line", "expected"),
    [pytest.param(line, expected, id=name) for name, line, expected in HOSTILE_TEXTS],
)
def test_each_hostile_line_has_exactly_one_outcome(line: bytes, expected: str) -> None:
    """Line 2 of 3, between two good events: the neighbours survive, the line gets its outcome."""
    data = event_line() + b"\n" + line + b"\n" + event_line(messageId="m-3") + b"\n"
    items = read_stdin(data)
    lines = [item.origin.line for item in items]
    middle = [item for item in items if item.origin.line == 2]
    assert lines[0] == 1 and lines[-1] == 3 and isinstance(items[-1], Event)
    if expected == "blank":
        assert middle == []
    else:
        assert len(middle) == 1
        assert isinstance(middle[0], Event if expected == "event" else Problem)
    assert_renders(items)


def test_lone_surrogates_are_not_json_and_the_report_is_valid_utf8() -> None:
    """orjson refuses lone surrogates, so no event ever carries one into the output."""
    items = read_stdin(b'{"type":"track","event":"\\ud800"}\n')
    assert len(items) == 1 and isinstance(items[0], Problem)
    assert items[0].message.startswith("not JSON:")
    assert "surrogate" in items[0].message
    json_line = jsonio.dumps(problem_dict(items[0]))
    assert orjson.loads(json_line)["line"] == 1


def test_deep_events_serialize_for_output_and_size() -> None:
    """Past orjson's 254 write levels the standard library takes over, even at 1000 levels."""
    pad = "x" * 8000  # a long line: its exact size is computed by serializing it
    line = event_line(properties={"pad": pad, "deep": []}).replace(b"[]", deep(1000).encode())
    (item,) = read_stdin(line + b"\n")
    assert isinstance(item, Event)
    assert item.size == len(line)
    assert jsonio.dumps_bytes(item.data) == line  # the fallback writes what orjson would
    checked = check(Event({k: v for k, v in item.data.items() if k != "messageId"}, item.origin, 9))
    assert checked.data is not None and len(checked.data["messageId"]) == 36


def test_deep_envelope_context_merges_without_recursion() -> None:
    depth = 1000
    context = orjson.loads(deep(depth, "{"))
    own = orjson.loads(deep(depth, "{").replace("1", '{"own":true}', 1))
    merged = deep_merge(context, own)
    node = merged
    for _ in range(depth):
        node = node["a"]
    assert node == {"own": True}
    envelope = (
        b'{"batch":['
        + event_line(context={}).replace(b'"context":{}', b'"context":' + deep(500, "{").encode())
        + b'],"context":'
        + deep(500, "{").encode()
        + b"}"
    )
    (item,) = read_stdin(envelope + b"\n")
    assert isinstance(item, Event) and item.origin.index == 0


# --- generated files: the one-outcome-per-line invariant -----------------------------------------

json_scalars = (
    st.none()
    | st.booleans()
    | st.integers(-(2**70), 2**70)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=20)
)
json_values = st.recursive(
    json_scalars,
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4)
    ),
    max_leaves=12,
)
event_values = st.fixed_dictionaries(
    {},
    optional={
        "type": st.sampled_from(["track", "identify", "page", "screen", "group", "alias", "x"])
        | json_values,
        "event": st.text(max_size=10) | json_values,
        "userId": st.text(max_size=5) | st.integers() | json_values,
        "anonymousId": st.text(max_size=5),
        "groupId": st.text(max_size=5),
        "previousId": st.text(max_size=5),
        "messageId": st.text(max_size=120) | json_values,
        "timestamp": st.sampled_from(["2024-05-01T00:00:00Z", "2024-13-45", "", "9999-12-31"])
        | json_values,
        "sentAt": st.sampled_from(["2024-05-01", "yesterday"]),
        "properties": json_values,
        "traits": json_values,
        "context": json_values,
        "integrations": json_values,
        "extra": json_values,
    },
)


def _dumps(value: object) -> bytes:
    return jsonio.dumps_bytes(value)


@st.composite
def hostile_lines(draw: st.DrawFn) -> tuple[bytes, int]:
    """One line (no newline) and how many items it must yield."""
    kind = draw(st.integers(0, 7))
    if kind == 0:  # an event-shaped object
        return _dumps(draw(event_values)), 1
    if kind == 1:  # a batch envelope: one item per element, junk elements included
        items = draw(st.lists(event_values | json_values, max_size=5))
        envelope = {"batch": items, "context": draw(json_values), "sentAt": draw(json_scalars)}
        return _dumps(envelope), len(items)
    if kind == 2:  # a rejected-file record
        return _dumps({"kind": "rejected", "event": draw(event_values | json_values)}), 1
    if kind == 3:  # any JSON value
        value = draw(json_values)
        if isinstance(value, dict) and ("batch" in value or "kind" in value):
            value = [value]
        return _dumps(value), 1
    if kind == 4:  # a hostile literal from the table above
        _, line, expected = draw(st.sampled_from(HOSTILE_TEXTS))
        return line, 0 if expected == "blank" else 1
    if kind == 5:  # deep nesting at a random depth around orjson's limits
        depth = draw(st.sampled_from([253, 254, 255, 1023, 1024, 1025]) | st.integers(1, 3000))
        return deep(depth, draw(st.sampled_from("[{"))).encode(), 1
    if kind == 6:  # a valid event cut short, or with bytes spliced in
        line = _dumps(draw(event_values))
        cut = draw(st.integers(0, len(line)))
        noise = draw(st.binary(max_size=8).filter(lambda b: b"\n" not in b))
        mangled = line[:cut] + noise + line[cut + draw(st.integers(0, 3)) :]
        return mangled, expected_count(mangled)
    noise = draw(st.binary(max_size=60).filter(lambda b: b"\n" not in b))
    return noise, expected_count(noise)


def expected_count(line: bytes) -> int:
    """The oracle for an arbitrary line: blank (ASCII whitespace) 0, an envelope one per item,
    anything else exactly 1."""
    if not line.strip():
        return 0
    try:
        value = orjson.loads(line)
    except orjson.JSONDecodeError:
        return 1
    if isinstance(value, dict) and isinstance(value.get("batch"), list) and "type" not in value:
        return len(value["batch"])
    return 1


@FUZZ
@given(st.lists(hostile_lines(), max_size=25))
def test_every_line_yields_exactly_its_outcomes(lines: list[tuple[bytes, int]]) -> None:
    data = event_line() + b"\n" + b"\n".join(line for line, _ in lines) + b"\n"
    items = read_stdin(data)
    by_line: dict[int, int] = {}
    for item in items:
        by_line[item.origin.line] = by_line.get(item.origin.line, 0) + 1
    expected = {1: 1} | {n: count for n, (_, count) in enumerate(lines, start=2) if count}
    assert by_line == expected
    assert_renders(items)


@FUZZ
@given(st.binary(max_size=3000))
def test_arbitrary_bytes_end_in_items_that_render(data: bytes) -> None:
    items = read_stdin(event_line() + b"\n" + data)
    assert isinstance(items[0], Event)
    assert_renders(items)


def test_a_line_of_a_mebibyte_is_one_oversized_event() -> None:
    line = event_line(properties={"blob": "x" * 1024})
    line = event_line(properties={"blob": "x" * (1024 + MAX_LINE_BYTES - len(line))})
    assert len(line) == MAX_LINE_BYTES  # at the bound: still read (one byte more is not)
    items = read_stdin(line + b"\n" + event_line() + b"\n")
    run = Validation(items)
    problems = list(run.problems())
    assert [type(item) for item in items] == [Event, Event]
    assert [(p.origin.line, p.message) for p in problems] == [
        (1, f"event is {len(line):,} bytes serialized, over Segment's 32 KB (32,768 bytes) limit")
    ]
    assert (run.summary.valid, run.summary.invalid) == (1, 1)


# --- gzip ---------------------------------------------------------------------------------------


def gz(data: bytes) -> bytes:
    return gzip.compress(data, mtime=0)


@FUZZ
@given(st.lists(st.integers(1, 40), min_size=1, max_size=4))
def test_concatenated_gzip_members_read_as_one_stream(members: list[int]) -> None:
    count = 0
    data = b""
    for size in members:
        lines = b"".join(event_line(messageId=f"m{count + n}") + b"\n" for n in range(size))
        data += gz(lines)
        count += size
    items = read_stdin(data)
    assert [item.data["messageId"] for item in items if isinstance(item, Event)] == [
        f"m{n}" for n in range(count)
    ]
    assert [item.origin.line for item in items] == list(range(1, count + 1))


@FUZZ
@given(st.integers(20, 200), st.data())
def test_truncated_gzip_keeps_what_was_read_and_reports_the_rest(
    lines: int, data: st.DataObject
) -> None:
    text = b"".join(event_line(messageId=f"m{n}") + b"\n" for n in range(lines))
    packed = gz(text)
    cut = data.draw(st.integers(2, len(packed) - 1))
    items = read_stdin(packed[:cut])
    events = [item for item in items if isinstance(item, Event)]
    problems = [item for item in items if isinstance(item, Problem)]
    assert [e.data["messageId"] for e in events] == [f"m{n}" for n in range(len(events))]
    try:  # every line complete in the part that survived is read: nothing is lost with the rest
        survived = zlib.decompressobj(wbits=31).decompress(packed[:cut])
    except zlib.error:
        survived = b""
    assert len(events) == survived.count(b"\n")
    assert len(problems) == 1
    # At the line that could not be read, naming the last one that was (issue 17).
    assert problems[0].origin.line == len(events) + 1
    assert problems[0].message.startswith(
        f"cannot read the rest of the file after line {len(events)}: "
    )
    assert_renders(items)


@pytest.mark.parametrize(
    ("name", "data", "events", "problems"),
    [
        ("empty file", b"", 0, 0),
        ("empty gzip", gz(b""), 0, 0),
        ("gzip magic only", b"\x1f\x8b", 0, 1),
        ("gzip header only", gz(b"")[:10], 0, 1),
        ("gzip then garbage", gz(event_line() + b"\n") + b"garbage", 1, 1),
        ("gzip then zero padding", gz(event_line() + b"\n") + b"\x00" * 64, 1, 0),
        ("corrupt deflate", gz(event_line() + b"\n")[:10] + b"\xff" * 40, 0, 1),
        (
            "bad crc",
            gz(event_line() + b"\n")[:-8] + b"\x00\x00\x00\x00" + gz(event_line() + b"\n")[-4:],
            1,
            1,
        ),
        ("gzip of binary noise", gz(bytes(range(256)) * 10), 0, 11),  # 11 lines, none JSON
        ("only newlines", b"\n\n\n", 0, 0),
        ("BOM only", b"\xef\xbb\xbf", 0, 0),
        ("BOM then event", b"\xef\xbb\xbf" + event_line(), 1, 0),
    ],
)
def test_special_streams(name: str, data: bytes, events: int, problems: int) -> None:
    items = read_stdin(data)
    assert sum(isinstance(i, Event) for i in items) == events, name
    assert sum(isinstance(i, Problem) for i in items) == problems, name
    assert_renders(items)


def test_zlib_errors_are_problems_not_exceptions() -> None:
    broken = bytearray(gz(b"".join(event_line(messageId=f"m{n}") + b"\n" for n in range(500))))
    for index in range(12, len(broken) - 8, 7):
        broken[index] ^= 0xFF
    try:
        items = read_stdin(bytes(broken))
    except zlib.error as error:  # pragma: no cover - the failure this test exists to catch
        pytest.fail(f"zlib error escaped the reader: {error}")
    assert isinstance(items[-1], Problem) and items[-1].origin.line == len(items)


# --- .json documents ----------------------------------------------------------------------------

junk_tokens = st.sampled_from(
    [
        "junk",
        "NaN",
        "-",
        "tru",
        "1e400",
        "nul",
        "0x10",
        "+1",
        "'x'",
        "undefined",
        "}",
        "{]",
        "\ufeff",
    ]
)


def _not_special(value: object) -> object:
    """Envelopes and rejected records inside an array are unpacked: wrap them to keep it 1:1."""
    if isinstance(value, dict) and ("batch" in value or "kind" in value):
        return [value]
    return value


array_elements = st.one_of(
    event_values.map(lambda v: ("value", _dumps(v))),
    json_values.map(lambda v: ("value", _dumps(_not_special(v)))),
    junk_tokens.map(lambda t: ("junk", t.encode())),
)
separators = st.sampled_from([b",", b", ", b",\n", b"\n,", b" ,\r\n ", b",\t"])


@FUZZ
@given(st.lists(array_elements, max_size=12), st.lists(separators, min_size=12, max_size=12))
def test_json_array_with_junk_yields_one_item_per_element(
    workdir: Path, elements: list[tuple[str, bytes]], seps: list[bytes]
) -> None:
    body = b"".join(
        (seps[index] if index else b"") + text for index, (_, text) in enumerate(elements)
    )
    items = read_file(workdir, "array.json", b"[\n" + body + b"\n]\n")
    assert [item.origin.index for item in items] == list(range(len(elements)))
    for item, (kind, text) in zip(items, elements, strict=True):
        if kind == "junk" or not isinstance(orjson.loads(text), dict):
            assert isinstance(item, Problem)
        else:
            assert isinstance(item, Event) and item.data == orjson.loads(text)
            assert item.origin.in_batch is False
    assert_renders(items)


@FUZZ
@given(st.binary(max_size=2000), st.sampled_from(["doc.json", "doc.json.gz"]))
def test_arbitrary_bytes_as_a_json_document_terminate(
    workdir: Path, data: bytes, name: str
) -> None:
    payload = gz(data) if name.endswith(".gz") else data
    started = time.perf_counter()
    items = read_file(workdir, name, payload)
    assert time.perf_counter() - started < 5
    assert_renders(items)


@pytest.mark.parametrize(
    ("text", "outcomes"),
    [
        (b"[" * 10_000 + b"]" * 10_000, ["problem"]),
        (b"[" + b"[" * 10_000, ["problem"]),
        (b"[" + event_line() + b", junk, " + event_line() + b"]", ["event", "problem", "event"]),
        (b"[" + event_line() + b" " + event_line() + b"]", ["event", "event"]),
        (b"[" + event_line() + b',"unterminated', ["event", "problem"]),
        # junk after the array runs to the end of its line: one problem for all of it
        (b"[" + event_line() + b"]]]]" + event_line(), ["event", "problem"]),
        (event_line() + b"\n" + event_line(), ["event", "event"]),
        (b"\xef\xbb\xbf[" + event_line() + b"]", ["event"]),
        (b"[" + event_line() + b",\xef\xbb\xbf" + event_line() + b"]", ["event", "problem"]),
        (b"[\x00," + event_line() + b"]", ["problem", "event"]),
        (b'["\\ud800",' + event_line() + b"]", ["problem", "event"]),
        (b"[1e400," + event_line() + b"]", ["problem", "event"]),
        (b"[]", []),
        (b"", []),
    ],
)
def test_json_document_cases(workdir: Path, text: bytes, outcomes: list[str]) -> None:
    items = read_file(workdir, "case.json", text)
    assert [("event" if isinstance(i, Event) else "problem") for i in items] == outcomes
    assert_renders(items)
