"""Which routes an event takes: compiled `when` conditions and the `integrations` opt-out.

`when` (PRODUCT.md §5) holds, all of which must hold:

- `type`: one event type or a list of them (any of);
- `event`: one name or a list (any of); `*` and `?` are globs, matching is case-sensitive;
- dotted paths of the event (`properties.plan`, `context.app.name`) with
  - a literal: equality (JSON equality: `1` never equals `true`, `"1"` never equals `1`);
  - a list of literals: any of;
  - an operator mapping, every operator of which must hold:
    `{exists: bool}` (present and not null), `{in: [...]}` (any of),
    `{not: <literal | list | operator mapping>}`, `{matches: <regex>}` (Python `re.search`
    on string values; other values never match).
  A missing path reads as null: `properties.x: null` matches a missing or null value.

Everything is compiled once at config load; `matching_routes` runs per event. Compiling reports
every error of a `when` at once: one `ConfigError` holds them all.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from cdpcli.errors import ConfigError, ConfigErrors, closest, unknown
from cdpcli.events.model import EVENT_TYPES
from cdpcli.jsonio import dumps
from cdpcli.routing.template import Getter, compile_path

__all__ = [
    "EVENT_TYPES",
    "OPERATORS",
    "PATH_ROOTS",
    "Condition",
    "compile_condition",
]

OPERATORS = ("exists", "in", "not", "matches")
PATH_ROOTS = (
    "anonymousId",
    "category",
    "channel",
    "context",
    "event",
    "groupId",
    "integrations",
    "messageId",
    "name",
    "originalTimestamp",
    "previousId",
    "properties",
    "receivedAt",
    "sentAt",
    "timestamp",
    "traits",
    "type",
    "userId",
    "version",
)
"""The first segment a `when` path may have: the Segment spec's top-level fields."""


Predicate = Callable[[Any], bool]
Locate = Callable[[tuple[str | int, ...]], str]
"""Given a key path relative to `when`, returns "FILE:LINE: key `routes[1].when.event`"."""

_ALL_TYPES = frozenset(EVENT_TYPES)
_NULL = ("null",)
_UNMATCHABLE = object()


@dataclass(frozen=True, slots=True, eq=False)
class Condition:
    """A compiled `when`. `types` is None when `when.type` is absent (every type matches)."""

    types: frozenset[str] | None
    event_names: frozenset[str] | None
    event_pattern: re.Pattern[str] | None
    checks: tuple[tuple[Getter, Predicate], ...]
    summary: str
    source: Any = None

    def matches(self, event: Mapping[str, Any]) -> bool:
        """Whether `event` satisfies every part of the condition."""
        if self.types is not None:
            event_type = event.get("type")
            if type(event_type) is not str or event_type not in self.types:
                return False
        return self._matches_rest(event)

    def _matches_rest(self, event: Mapping[str, Any]) -> bool:
        if self.event_names is not None or self.event_pattern is not None:
            name = event.get("event")
            if type(name) is not str:
                return False
            in_names = self.event_names is not None and name in self.event_names
            if not in_names and (
                self.event_pattern is None or self.event_pattern.fullmatch(name) is None
            ):
                return False
        checks = self.checks
        return not checks or all(predicate(getter(event)) for getter, predicate in checks)


MATCH_ALL = Condition(None, None, None, (), "every event")


# --- compiling -------------------------------------------------------------------------------


def compile_condition(raw: Any, locate: Locate) -> Condition:
    """Compile a route's `when` (None or a mapping). Errors are `ConfigError` at `locate(...)`:
    one holding every error found."""
    if raw is None:
        return MATCH_ALL
    if not isinstance(raw, Mapping):
        raise ConfigError(
            f"{locate(())}: `when` must be a mapping of conditions "
            f"(type, event, or dotted paths such as properties.plan)"
        )
    errors = ConfigErrors()
    types: frozenset[str] | None = None
    names: frozenset[str] | None = None
    pattern: re.Pattern[str] | None = None
    checks: list[tuple[Getter, Predicate]] = []
    for key, value in raw.items():
        if key == "type":
            types = _compile_types(value, locate, errors)
        elif key == "event":
            with errors.collect():
                names, pattern = _compile_event(value, locate, errors)
        else:
            getter: Getter | None = None
            with errors.collect():
                getter = _compile_when_path(key, locate)
            with errors.collect():
                predicate = _compile_spec(value, locate, (key,))
                if getter is not None:
                    checks.append((getter, predicate))
    errors.check()
    summary = "; ".join(f"{key}: {dumps(value)}" for key, value in raw.items())
    return Condition(types, names, pattern, tuple(checks), summary or "every event", raw)


def _strings(value: Any, locate: Locate, key: str, what: str, errors: ConfigErrors) -> list[str]:
    """The items of a string or a list of strings, each bad one reported (as "")."""
    items = value if isinstance(value, list) else [value]
    if not items:
        errors.add(locate((key,)), f"an empty list matches nothing; list {what}")
    good: list[str] = []
    for index, item in enumerate(items):
        if isinstance(item, str) and item:
            good.append(item)
            continue
        at = (key, index) if isinstance(value, list) else (key,)
        errors.add(locate(at), f"expected {what} (a non-empty string), got {dumps(item)}")
        good.append("")
    return good


def _compile_types(value: Any, locate: Locate, errors: ConfigErrors) -> frozenset[str]:
    allowed = f"event types ({', '.join(EVENT_TYPES)})"
    items = _strings(value, locate, "type", allowed, errors)
    for index, item in enumerate(items):
        if item and item not in _ALL_TYPES:
            at = ("type", index) if isinstance(value, list) else ("type",)
            errors.add(
                locate(at), unknown(f"unknown event type {item!r}", item, EVENT_TYPES, quote="'")
            )
    return frozenset(item for item in items if item in _ALL_TYPES)


def _compile_event(
    value: Any, locate: Locate, errors: ConfigErrors
) -> tuple[frozenset[str] | None, re.Pattern[str] | None]:
    items = [
        item
        for item in _strings(value, locate, "event", "event names (`*` and `?` are globs)", errors)
        if item
    ]
    exact = frozenset(item for item in items if "*" not in item and "?" not in item)
    globs = [_glob(item) for item in items if "*" in item or "?" in item]
    pattern = re.compile("|".join(globs), re.DOTALL) if globs else None
    return (exact or None), pattern


def _glob(text: str) -> str:
    """A glob as a regex that matches in linear-ish time on any event name.

    Every `*` but the last is a lazy match in an atomic group: the leftmost place where the next
    literal run fits is taken and never revisited (which is always right for `*`), so a hostile
    name cannot make the matcher backtrack through every split (`*a*a*a*b` on `aaaa…`).
    """
    parts = [
        "".join("." if char == "?" else re.escape(char) for char in part)
        for part in text.split("*")
    ]
    if len(parts) == 1:
        return "(?:" + parts[0] + ")"
    middle = "".join(f"(?>.*?{part})" for part in parts[1:-1])
    return "(?:" + parts[0] + middle + ".*" + parts[-1] + ")"


def _compile_when_path(key: str, locate: Locate) -> Getter:
    root, dot, rest = key.partition(".")
    if root not in PATH_ROOTS:
        close = closest(root, ("event", *PATH_ROOTS))
        suggestion = f"did you mean `{close}{dot}{rest}`? " if close else ""
        raise ConfigError(
            f"{locate((key,))}: unknown key; {suggestion}allowed: type, event, or a dotted path "
            "of the event starting with one of: "
            f"{', '.join(p for p in PATH_ROOTS if p != 'type')}"
        )
    return compile_path(key, locate((key,)))


def _literal_key(value: Any) -> object:
    """A hashable stand-in with JSON equality: bools, numbers, strings and null never mix."""
    kind = type(value)
    if kind is str:
        return value
    if kind is bool:
        return ("bool", value)
    if kind is int or kind is float:
        return ("number", value)
    if value is None:
        return _NULL
    return _UNMATCHABLE


def _is_literal(value: Any) -> bool:
    return value is None or isinstance(value, str | bool | int | float)


def _compile_any_of(values: list[Any], locate: Locate, at: tuple[str | int, ...]) -> Predicate:
    if not values:
        raise ConfigError(f"{locate(at)}: an empty list matches nothing; list the values")
    for index, item in enumerate(values):
        if not _is_literal(item):
            raise ConfigError(
                f"{locate((*at, index))}: expected a literal (string, number, boolean or "
                f"null), got {dumps(item)}"
            )
    keys = frozenset(_literal_key(item) for item in values)
    if len(keys) == 1:
        (only,) = keys

        def equals(value: Any) -> bool:
            return _literal_key(value) == only

        return equals

    def any_of(value: Any) -> bool:
        return _literal_key(value) in keys

    return any_of


def _compile_spec(value: Any, locate: Locate, at: tuple[str | int, ...]) -> Predicate:
    """A literal (equality), a list (any of) or an operator mapping."""
    if isinstance(value, list):
        return _compile_any_of(value, locate, at)
    if isinstance(value, Mapping):
        return _compile_operators(value, locate, at)
    return _compile_any_of([value], locate, at)


def _compile_operators(
    spec: Mapping[str, Any], locate: Locate, at: tuple[str | int, ...]
) -> Predicate:
    allowed = ", ".join(OPERATORS)
    if not spec:
        raise ConfigError(f"{locate(at)}: an empty operator mapping; use one of: {allowed}")
    predicates: list[Predicate] = []
    errors = ConfigErrors()
    for op, arg in spec.items():
        with errors.collect():
            predicates.append(_compile_operator(op, arg, locate, (*at, op)))
    errors.check()
    if len(predicates) == 1:
        return predicates[0]
    frozen = tuple(predicates)

    def every(value: Any) -> bool:
        return all(predicate(value) for predicate in frozen)

    return every


def _compile_operator(op: str, arg: Any, locate: Locate, here: tuple[str | int, ...]) -> Predicate:
    if op == "exists":
        if not isinstance(arg, bool):
            raise ConfigError(f"{locate(here)}: expected true or false")
        return _exists if arg else _absent
    if op == "in":
        if not isinstance(arg, list):
            raise ConfigError(f"{locate(here)}: expected a list of literals")
        return _compile_any_of(arg, locate, here)
    if op == "not":
        return _negate(_compile_spec(arg, locate, here))
    if op == "matches":
        return _compile_matches(arg, locate, here)
    raise ConfigError(f"{locate(here)}: {unknown('unknown operator', op, OPERATORS)}")


def _exists(value: Any) -> bool:
    return value is not None


def _absent(value: Any) -> bool:
    return value is None


def _negate(predicate: Predicate) -> Predicate:
    def negated(value: Any) -> bool:
        return not predicate(value)

    return negated


def _compile_matches(arg: Any, locate: Locate, at: tuple[str | int, ...]) -> Predicate:
    if not isinstance(arg, str):
        raise ConfigError(f"{locate(at)}: expected a regular expression (a string)")
    try:
        pattern = re.compile(arg)
    except re.error as error:
        column = f" at position {error.pos}" if error.pos is not None else ""
        raise ConfigError(
            f"{locate(at)}: invalid regular expression {arg!r}: {error.msg}{column}",
            hint="Python `re` syntax; matching is re.search (anchor with ^ and $)",
        ) from None
    except (RecursionError, OverflowError, ValueError) as error:
        raise ConfigError(f"{locate(at)}: invalid regular expression {arg!r}: {error}") from None

    def matches(value: Any) -> bool:
        return type(value) is str and pattern.search(value) is not None

    return matches
