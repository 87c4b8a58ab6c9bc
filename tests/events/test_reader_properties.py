"""Reader properties: no bytes crash it; every non-blank line gets exactly one outcome."""

from __future__ import annotations

import io
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cdpcli.events.model import Event, Problem
from cdpcli.events.reader import InputFile, read_input

FAST = settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def read(data: bytes) -> list[Event | Problem]:
    return list(read_input(InputFile("<stdin>", None), stdin=io.BytesIO(data)))


@FAST
@given(st.binary(max_size=2000))
def test_arbitrary_bytes_never_crash(data: bytes) -> None:
    items = read(data)
    assert all(isinstance(item, Event | Problem) for item in items)


@FAST
@given(st.binary(max_size=2000))
def test_arbitrary_bytes_never_crash_as_json_document(data: bytes) -> None:
    path = Path("/tmp/cdpcli-hypothesis-doc.json")
    path.write_bytes(data)
    items = list(read_input(InputFile(str(path), path)))
    assert all(isinstance(item, Event | Problem) for item in items)


json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-(10**6), 10**6) | st.text(max_size=10),
    lambda children: (
        st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=5), children, max_size=3)
    ),
    max_leaves=10,
)
line_kinds = st.one_of(
    st.binary(max_size=40).filter(lambda b: b"\n" not in b and b"\r" not in b),
    json_values.map(lambda v: __import__("orjson").dumps(v)),
    st.dictionaries(st.text(max_size=5), json_values, max_size=4).map(
        lambda v: __import__("orjson").dumps(v)
    ),
)


@FAST
@given(st.lists(line_kinds, max_size=30))
def test_every_non_blank_line_gets_exactly_one_outcome(lines: list[bytes]) -> None:
    if lines and lines[0].startswith(b"\x1f\x8b"):
        lines[0] = b"x" + lines[0]  # a leading gzip magic makes it a (corrupt) gzip stream
    data = b"\n".join(lines) + b"\n"
    items = read(data)
    if lines and lines[0].startswith(b"\xef\xbb\xbf"):
        lines[0] = lines[0][3:]  # a UTF-8 byte-order mark at the start of the input is dropped
    expected = [n for n, line in enumerate(lines, 1) if line.strip() and not _is_envelope(line)]
    got = [item.origin.line for item in items if item.origin.index is None]
    assert got == expected


def _is_envelope(line: bytes) -> bool:
    import orjson

    try:
        value = orjson.loads(line)
    except orjson.JSONDecodeError:
        return False
    return isinstance(value, dict) and isinstance(value.get("batch"), list) and "type" not in value
