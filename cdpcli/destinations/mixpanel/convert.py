"""A mapped value converted to its field's declared type, as Segment's core does before it sends
(reference/mixpanel.md §2.6: AD `packages/core/src/schema-validation.ts`, Ajv 8 with
`coerceTypes: 'array'` and its default `strictNumbers`).

A value already of the declared type is left as it is. Otherwise a one-item array is unwrapped
first (and left as its item if that has the type), then:
- to string: a number as JavaScript's `String(n)` writes it, a boolean as "true" / "false", null
  as "";
- to number: a boolean as 1/0, null as 0, a non-empty string as JavaScript's `Number(s)` reads it
  (surrounding whitespace ignored, "0x1A", "1e3", ".5" accepted; "Infinity" becomes Infinity,
  which JSON writes as null);
- to integer: as a number, and it must then be integral;
- to boolean: "true" and 1 are true; "false", 0 and null are false.
Anything else cannot be converted (`FAIL`): Segment then drops the whole event; cdpcli leaves the
one field out and warns (the deliberate difference of §2.6). Empty values are handled before,
by the table's empty rules.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from decimal import Decimal
from typing import Any, Final

from cdpcli import jsonio


class _Fail:
    __slots__ = ()

    def __repr__(self) -> str:
        return "FAIL"


FAIL: Final[Any] = _Fail()
"""What a conversion returns for a value it cannot convert."""

_SAFE = 2**53  # integers below this are exact as a JavaScript number
# JavaScript's WhiteSpace and LineTerminator, which Number(s) trims.
_JS_SPACE = (
    "\t\n\v\f\r \u00a0\u1680\u2000\u2001\u2002\u2003\u2004\u2005\u2006\u2007\u2008\u2009"
    "\u200a\u2028\u2029\u202f\u205f\u3000\ufeff"
)
_DECIMAL = re.compile(r"[+-]?(?:Infinity|(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][+-]?[0-9]+)?)\Z")
_RADIX = re.compile(r"0(?:[xX][0-9a-fA-F]+|[oO][0-7]+|[bB][01]+)\Z")
_BASES = {"x": 16, "o": 8, "b": 2}


def _double(value: int | float) -> float:
    """The JavaScript number of a JSON number (an integer may be wider than a double)."""
    try:
        return float(value)
    except OverflowError:
        return math.inf if value > 0 else -math.inf


def _is_number(value: Any) -> bool:
    """A JSON number Ajv accepts as a number (Python's bool is an int, and is not one)."""
    kind = type(value)
    return kind is int or (kind is float and math.isfinite(value))


def js_number_to_string(value: int | float) -> str:
    """JavaScript's `String(n)` of a number."""
    if type(value) is int and -_SAFE < value < _SAFE:
        return str(value)
    x = _double(value)
    if math.isnan(x):
        return "NaN"
    if x == 0:
        return "0"  # -0 too
    if x < 0:
        return "-" + js_number_to_string(-x)
    if math.isinf(x):
        return "Infinity"
    _, digit_tuple, exponent = Decimal(repr(x)).as_tuple()  # repr: the shortest round-trip digits
    assert isinstance(exponent, int)
    digits = "".join(map(str, digit_tuple)).rstrip("0")
    exponent += len(digit_tuple) - len(digits)
    k = len(digits)
    n = k + exponent  # x = 0.<digits> * 10**n
    if k <= n <= 21:
        return digits + "0" * (n - k)
    if 0 < n <= 21:
        return digits[:n] + "." + digits[n:]
    if -6 < n <= 0:
        return "0." + "0" * -n + digits
    e = n - 1
    mantissa = digits if k == 1 else digits[0] + "." + digits[1:]
    return f"{mantissa}e{'+' if e >= 0 else '-'}{abs(e)}"


def js_string_to_number(text: str) -> float | None:
    """JavaScript's `Number(s)` of a string; None where it gives NaN."""
    t = text.strip(_JS_SPACE)
    if t == "":
        return 0.0
    if _RADIX.match(t):
        return _double(int(t[2:], _BASES[t[1].lower()]))
    if _DECIMAL.match(t):
        return float(t)  # takes exactly these forms, 'Infinity' and '1e400' (inf) included
    return None


def _json_number(x: float) -> int | float | None:
    """A JavaScript number as JSON.stringify would send it: integral values as integers, and
    Infinity as null."""
    if not math.isfinite(x):
        return None
    if x.is_integer() and -_SAFE < x < _SAFE:
        return int(x)  # "852" -> 852, not 852.0 (and -0 -> 0)
    return x


def to_string(value: Any) -> Any:
    """`value` converted to a string, or FAIL."""
    if type(value) is list:
        if len(value) != 1:
            return FAIL
        value = value[0]
    kind = type(value)
    if kind is str:
        return value
    if kind is bool:
        return "true" if value else "false"
    if kind is int or kind is float:
        return js_number_to_string(value)
    if value is None:
        return ""
    return FAIL


def _to_number(value: Any, integral: bool) -> Any:
    if type(value) is list:
        if len(value) != 1:
            return FAIL
        value = value[0]
    kind = type(value)
    if _is_number(value):
        return value if not integral or value % 1 == 0 else FAIL
    if kind is bool:
        return 1 if value else 0
    if value is None:
        return 0
    if kind is str and value != "":
        x = js_string_to_number(value)
        if x is None or (integral and math.isfinite(x) and not x.is_integer()):
            return FAIL
        return _json_number(x)
    return FAIL


def to_number(value: Any) -> Any:
    """`value` converted to a number, or FAIL."""
    return _to_number(value, integral=False)


def to_integer(value: Any) -> Any:
    """`value` converted to an integral number, or FAIL."""
    return _to_number(value, integral=True)


def to_boolean(value: Any) -> Any:
    """`value` converted to a boolean, or FAIL."""
    if type(value) is list:
        if len(value) != 1:
            return FAIL
        value = value[0]
    if type(value) is bool:
        return value
    if value is None or value == "false" or (_is_number(value) and value == 0):
        return False
    if value == "true" or (_is_number(value) and value == 1):
        return True
    return FAIL


CONVERTERS: Final[dict[str, Callable[[Any], Any]]] = {
    "string": to_string,
    "number": to_number,
    "integer": to_integer,
    "boolean": to_boolean,
}
"""The conversion of each declared type."""

_ARTICLE = {"integer": "an integer"}


def not_a(type_name: str, value: Any) -> str:
    """`<value> is not a <type>`, the value as JSON (cut short when long)."""
    shown = jsonio.dumps(value)
    if len(shown) > 40:
        shown = shown[:39] + "…"
    return f"{shown} is not {_ARTICLE.get(type_name, 'a ' + type_name)}"


DROPPED_BY_SEGMENT: Final = "(Segment would drop the event)"
