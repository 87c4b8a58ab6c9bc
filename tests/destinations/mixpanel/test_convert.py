"""The conversion of a value to its declared type, as Segment's core does it (Ajv 8 with
`coerceTypes: 'array'`, reference/mixpanel.md §2.6): JavaScript's number-to-string and
string-to-number, and each type's rules."""

from __future__ import annotations

from typing import Any

import pytest

from cdpcli import jsonio
from cdpcli.destinations.mixpanel.convert import (
    FAIL,
    js_number_to_string,
    not_a,
    to_boolean,
    to_integer,
    to_number,
    to_string,
)

WARN = "<cannot>"


def exact(value: Any) -> str:
    """A value as JSON text, so that 1, 1.0 and true are told apart."""
    return WARN if value is FAIL else jsonio.dumps(value)


@pytest.mark.parametrize(
    ("number", "text"),
    [
        (1.0, "1"),
        (-0.0, "0"),
        (1e20, "100000000000000000000"),
        (1e21, "1e+21"),
        (1e-6, "0.000001"),
        (1e-7, "1e-7"),
        (123.456, "123.456"),
        (2**53 + 1, "9007199254740992"),
        (5e-324, "5e-324"),
        (-1.5e300, "-1.5e+300"),
    ],
)
def test_numbers_are_written_as_javascript_writes_them(number: float, text: str) -> None:
    assert js_number_to_string(number) == text


@pytest.mark.parametrize(
    ("text", "number"),
    [
        ("  12 ", 12),
        ("0b101", 5),
        ("0o17", 15),
        ("1e3", 1000),
        (".5", 0.5),
        ("5.", 5),
        ("00012", 12),
        ("-0", 0),
        ("\u00a07\u2028", 7),
        ("1_000", WARN),
        ("-0x1A", WARN),
        ("NaN", WARN),
        ("inf", WARN),
        (" ", 0),
    ],
)
def test_strings_are_read_as_javascript_reads_them(text: str, number: Any) -> None:
    assert exact(to_number(text)) == (WARN if number is WARN else exact(number))


@pytest.mark.parametrize(
    ("value", "as_string", "as_number", "as_integer", "as_boolean"),
    [
        ("abc", "abc", WARN, WARN, WARN),
        ("2.5", "2.5", 2.5, WARN, WARN),
        ("1e400", "1e400", None, None, WARN),  # Infinity passes, and JSON writes it null
        (2.0, "2", 2.0, 2.0, WARN),  # already of the type: left as it is
        (2.5, "2.5", 2.5, WARN, WARN),
        (0.0, "0", 0.0, 0.0, False),
        (True, "true", 1, 1, True),
        (None, "", 0, 0, False),
        ("", "", WARN, WARN, WARN),
        ("true", "true", WARN, WARN, True),
        ("false", "false", WARN, WARN, False),
        ("TRUE", "TRUE", WARN, WARN, WARN),
        ("1", "1", 1, 1, WARN),
        (2, "2", 2, 2, WARN),
        (-1, "-1", -1, -1, WARN),
        ([5], "5", 5, 5, WARN),
        ([[5]], WARN, WARN, WARN, WARN),
        ([], WARN, WARN, WARN, WARN),
        ({}, WARN, WARN, WARN, WARN),
    ],
)
def test_each_type_rule(
    value: Any, as_string: Any, as_number: Any, as_integer: Any, as_boolean: Any
) -> None:
    assert [exact(to_string(value)), exact(to_number(value))] == [
        exact(as_string) if as_string is not WARN else WARN,
        exact(as_number) if as_number is not WARN else WARN,
    ]
    assert [exact(to_integer(value)), exact(to_boolean(value))] == [
        exact(as_integer) if as_integer is not WARN else WARN,
        exact(as_boolean) if as_boolean is not WARN else WARN,
    ]


def test_a_value_that_cannot_be_converted_is_shown_short() -> None:
    assert not_a("number", "abc") == '"abc" is not a number'
    assert not_a("integer", 2.5) == "2.5 is not an integer"
    assert not_a("string", {"k": "x" * 60}) == '{"k":"' + "x" * 33 + "…" + " is not a string"
