"""The `{{ path }}` templates of route maps (PRODUCT.md §5): a tiny evaluator, no code execution.

Grammar, the whole of it:

- `{{ path }}` reads a dotted path of the event: `properties.bytes`, `context.page.url`,
  `products.0.sku` (a numeric segment indexes a list). Segments are letters, digits, `_`, `$`,
  `@` and `-`; a segment starting with `__` is refused (it reads like an attribute probe).
- `{{ path | default: x }}`: `x` is used when the path is missing or null. `x` is a JSON literal
  (`0`, `true`, `null`, `"n/a"`, `[1, 2]`, `{"a": 1}`), a single-quoted string, or a bare word
  (`unknown`, `api_calls`, `https://x.example`).
- A string that is exactly one placeholder keeps the JSON type of what it reads (the integer
  2048 stays an integer; a missing path with no default renders as None, for the caller to
  decide). Placeholders inside a longer string are interpolated: null/missing → "", strings as
  they are, other values as compact JSON.
- Anything else inside `{{ }}` is a compile-time `ConfigError` naming the column. There is no
  attribute access, no call, no operator, no filter but `default`.

Templates are compiled once (`compile_value`) and rendered per event (`render`), including
whole nested mappings and lists of templates. Rendering never raises.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from cdpcli.errors import ConfigError, ConfigErrors
from cdpcli.jsonio import dumps

__all__ = [
    "Getter",
    "Template",
    "compile_path",
    "compile_value",
]

Getter = Callable[[Any], Any]
"""Reads a compiled dotted path from an event; None when the path is missing."""

Renderer = Callable[[Any], Any]
Locator = Callable[[str], str]

_SEGMENT = r"[\w$@-]+"
_PATH_RE = re.compile(rf"{_SEGMENT}(?:\.{_SEGMENT})*")
_BARE_WORD_RE = re.compile(r"[\w.$@/:+-]+")
_JSON_NUMBER_RE = re.compile(r"-?(?:0|[1-9]\d*)(?:\.\d+)?(?:[eE][+-]?\d+)?")
_BARE_CONSTANTS: dict[str, Any] = {"true": True, "false": False, "null": None}
_SYNTAX = "a placeholder is {{ path }} or {{ path | default: value }}"


@dataclass(frozen=True, slots=True, eq=False)
class Template:
    """A compiled template value. `source` is what the config said; `render` evaluates it."""

    source: Any
    _render: Renderer

    def render(self, event: Mapping[str, Any]) -> Any:
        """The value for one event (see the module docstring)."""
        return self._render(event)

    def keys(self) -> tuple[str, ...]:
        """The top-level keys when the template is a mapping (for listings), else ()."""
        if isinstance(self.source, Mapping):
            return tuple(str(key) for key in self.source)
        return ()


def compile_value(raw: Any, where: str | Locator = "template") -> Template:
    """Compile a config value (a string, a scalar, or nested mappings and lists of them).

    `where` places error messages: a prefix string, or a `Locator` that is given the dotted
    key under `raw` where the error is ("" for `raw` itself) and returns
    "FILE:LINE: key `routes[1].map.properties.gb`". Raises `ConfigError` for a malformed
    placeholder, a non-string mapping key, a non-finite number, or a non-JSON value: one holding
    every such error of `raw`.
    """
    locate = where if callable(where) else _prefix_locator(where)
    errors = ConfigErrors()
    renderer = _constant(None)
    with errors.collect():
        renderer = _compile(raw, locate, "", errors)
    errors.check()
    return Template(raw, renderer)


def _prefix_locator(prefix: str) -> Locator:
    def locate(sub: str) -> str:
        return f"{prefix} `{sub}`" if sub else prefix

    return locate


def _join(sub: str, key: str) -> str:
    return f"{sub}.{key}" if sub else key


def compile_path(text: str, where: str = "path") -> Getter:
    """Compile a dotted path (`context.page.url`, `products.0.sku`) into a fast reader."""
    if not isinstance(text, str) or _PATH_RE.fullmatch(text) is None:
        raise ConfigError(
            f"{where}: {text!r} is not a dotted path; segments are letters, digits, "
            "`_`, `$`, `@` and `-`, joined by `.` (e.g. `properties.plan`, `products.0.sku`)"
        )
    segments = text.split(".")
    for segment in segments:
        if segment.startswith("__"):
            raise ConfigError(
                f"{where}: path segment {segment!r} is not allowed: a path reads keys of the "
                "event, never attributes (segments may not start with `__`)"
            )
    return _getter(tuple(segments))


# --- compiling -------------------------------------------------------------------------------


def _compile(raw: Any, locate: Locator, sub: str, errors: ConfigErrors) -> Renderer:
    """The renderer of `raw`; an error in one item of a mapping or list is recorded in `errors`
    and the others are compiled still."""
    where = locate(sub)
    if isinstance(raw, str):
        return _compile_string(raw, where)
    if raw is None or isinstance(raw, bool | int):
        return _constant(raw)
    if isinstance(raw, float):
        if not math.isfinite(raw):
            raise ConfigError(f"{where}: {raw!r} is not a JSON number; use a finite number")
        return _constant(raw)
    if isinstance(raw, Mapping):
        return _compile_mapping(raw, locate, sub, errors)
    if isinstance(raw, list | tuple):
        return _compile_list(list(raw), locate, sub, errors)
    raise ConfigError(
        f"{where}: a {type(raw).__name__} is not a JSON value; use a string, number, boolean, "
        "null, list or mapping"
    )


def _constant(value: Any) -> Renderer:
    def constant(_event: Any) -> Any:
        return value

    return constant


def _compile_mapping(
    raw: Mapping[Any, Any], locate: Locator, sub: str, errors: ConfigErrors
) -> Renderer:
    items: list[tuple[str, Renderer]] = []
    for key, value in raw.items():
        if not isinstance(key, str):
            errors.add(locate(sub), f"mapping key {key!r} is not a string; quote it")
            continue
        with errors.collect():
            items.append((key, _compile(value, locate, _join(sub, key), errors)))
    frozen = tuple(items)

    def mapping(event: Any) -> Any:
        return {key: fn(event) for key, fn in frozen}

    return mapping


def _compile_list(raw: list[Any], locate: Locator, sub: str, errors: ConfigErrors) -> Renderer:
    compiled: list[Renderer] = []
    for index, value in enumerate(raw):
        with errors.collect():
            compiled.append(_compile(value, locate, f"{sub}[{index}]", errors))
    parts = tuple(compiled)

    def listing(event: Any) -> Any:
        return [fn(event) for fn in parts]

    return listing


def _compile_string(text: str, where: str) -> Renderer:
    if "{{" not in text:
        return _constant(text)
    pieces: list[str | Renderer] = []
    pos = 0
    while True:
        start = text.find("{{", pos)
        if start < 0:
            if pos < len(text):
                pieces.append(text[pos:])
            break
        if start > pos:
            pieces.append(text[pos:start])
        reader, pos = _parse_placeholder(text, start, where)
        pieces.append(reader)
    if len(pieces) == 1 and not isinstance(pieces[0], str):
        return pieces[0]  # exactly one placeholder: keeps the JSON type
    return _interpolation(tuple(pieces))


def _interpolation(pieces: tuple[str | Renderer, ...]) -> Renderer:
    def interpolate(event: Any) -> str:
        out: list[str] = []
        for piece in pieces:
            if isinstance(piece, str):
                out.append(piece)
            else:
                out.append(_as_text(piece(event)))
        return "".join(out)

    return interpolate


def _as_text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    try:
        return dumps(value)
    except (TypeError, ValueError):  # not JSON (cannot come from a parsed event)
        return str(value)


def _error(where: str, text: str, column: int, what: str) -> ConfigError:
    return ConfigError(
        f"{where}: template error at column {column + 1}: {what} in {text!r}; {_SYNTAX}",
        hint="templates only read event fields; there is no code, attribute access or operator",
    )


def _skip_spaces(text: str, pos: int) -> int:
    while pos < len(text) and text[pos] in " \t":
        pos += 1
    return pos


def _parse_placeholder(text: str, start: int, where: str) -> tuple[Renderer, int]:
    """Parse the placeholder at `text[start:]` (which begins with `{{`)."""
    pos = _skip_spaces(text, start + 2)
    match = _PATH_RE.match(text, pos)
    if match is None:
        found = repr(text[pos]) if pos < len(text) else "the end of the text"
        raise _error(where, text, pos, f"expected a dotted path, found {found}")
    path = match.group(0)
    getter = compile_path(path, f"{where}: template error at column {pos + 1}")
    pos = _skip_spaces(text, match.end())
    has_default = False
    default: Any = None
    if text.startswith("|", pos):
        pos = _skip_spaces(text, pos + 1)
        if not text.startswith("default", pos):
            raise _error(where, text, pos, "the only filter is `default`")
        pos = _skip_spaces(text, pos + len("default"))
        if not text.startswith(":", pos):
            raise _error(where, text, pos, "expected `:` after `default`")
        pos = _skip_spaces(text, pos + 1)
        default, pos = _parse_literal(text, pos, where)
        has_default = True
        pos = _skip_spaces(text, pos)
    if not text.startswith("}}", pos):
        found = repr(text[pos]) if pos < len(text) else "the end of the text"
        raise _error(where, text, pos, f"expected `}}}}`, found {found}")
    end = pos + 2
    if has_default:
        return _with_default(getter, default), end
    return getter, end


def _parse_literal(text: str, pos: int, where: str) -> tuple[Any, int]:
    """The `x` of `| default: x`: a JSON literal, a 'single-quoted' string or a bare word."""
    if pos >= len(text):
        raise _error(where, text, pos, "expected a default value")
    char = text[pos]
    if char == "'":
        close = text.find("'", pos + 1)
        if close < 0:
            raise _error(where, text, pos, "unterminated quoted string")
        return text[pos + 1 : close], close + 1
    if char in '"[{':
        decoder = json.JSONDecoder(parse_constant=_reject_constant)
        try:
            value, end = decoder.raw_decode(text, pos)
            json.dumps(value, ensure_ascii=False).encode("utf-8")  # a lone `\ud800` is not text
        except (ValueError, RecursionError) as error:
            raise _error(where, text, pos, "malformed JSON default value") from error
        return value, end
    match = _BARE_WORD_RE.match(text, pos)
    if match is None:
        raise _error(where, text, pos, f"unexpected {char!r} where a default value belongs")
    word = match.group(0)
    if word in _BARE_CONSTANTS:
        return _BARE_CONSTANTS[word], match.end()
    if _JSON_NUMBER_RE.fullmatch(word):
        number = json.loads(word)
        if isinstance(number, float) and not math.isfinite(number):
            raise _error(where, text, pos, "the default number is out of range")
        return number, match.end()
    return word, match.end()


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


# --- reading ---------------------------------------------------------------------------------


def _getter(segments: tuple[str, ...]) -> Getter:
    steps = tuple(
        (segment, int(segment) if segment.isascii() and segment.isdigit() else -1)
        for segment in segments
    )
    if len(steps) == 1:
        (key, _index) = steps[0]

        def get_top(event: Any) -> Any:
            if type(event) is dict:
                return event.get(key)
            return _step(event, key, _index)

        return get_top

    def get(event: Any) -> Any:
        current = event
        for key, index in steps:
            current = current.get(key) if type(current) is dict else _step(current, key, index)
            if current is None:
                return None
        return current

    return get


def _step(current: Any, key: str, index: int) -> Any:
    if isinstance(current, Mapping):
        return current.get(key)
    if isinstance(current, list) and 0 <= index < len(current):
        return current[index]
    return None


def _with_default(getter: Getter, default: Any) -> Renderer:
    def read(event: Any) -> Any:
        value = getter(event)
        return default if value is None else value

    return read
