"""A property table as data, the one loop that reads it, and the same table compiled.

A table is a tuple of `Field` rows, one per Mixpanel key in the order the keys are written. Each
row names where its value comes from (`source`), when an empty value is left out (`empty`) and the
type Segment's action declares for it (`type`, reference/mixpanel.md §2.6), as Segment's own
destination declares its fields in `MP/mixpanel-properties.ts`.

A source is one of:
- a path into the event, `"context.app.build"`: each step must be a JSON object, else the value
  is missing;
- `Given("did")`: a value the caller has already worked out (the event time, the ids), passed in
  by name;
- `Computed(function, inputs, pick)`: a small named function of paths and givens, for keys a path
  does not describe (`ip`'s "0", `$ios_ifa`'s fallback to idfa). Rows whose `Computed` has the same
  function and inputs share one call (`pick` then selects an item of its result); the function
  returns None for "no value".

A value is read, left out by its empty rule, then converted to the row's type (`convert`); one
that cannot be converted counts as missing and is reported as a `Problem` (path, message). For a
`Computed` row the rule and the type apply to its path inputs.

`read_fields` is the reference: one small loop over the rows. It runs for every event of a
backfill, so `compile_fields` turns the same table, once at import, into the Python source of one
straight-line function and compiles it; tests prove the two agree on arbitrary events. The table is
our own constant, never user input.
"""

from __future__ import annotations

import linecache
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from enum import Enum
from typing import Any, Final, Literal

from cdpcli.destinations.mixpanel.convert import CONVERTERS, DROPPED_BY_SEGMENT, FAIL, not_a

_EMPTY: Mapping[str, Any] = {}


def as_object(value: Any) -> Mapping[str, Any]:
    """`value` when it is a JSON object, else an empty one (never to be mutated)."""
    return value if type(value) is dict else _EMPTY


Type = Literal["string", "number", "integer", "boolean"]
"""A declared JSON-schema type of a Segment action field."""
STRING: Final[Type] = "string"
NUMBER: Final[Type] = "number"
INTEGER: Final[Type] = "integer"
BOOLEAN: Final[Type] = "boolean"


class Empty(Enum):
    """When an empty value is left out (AD `packages/core/src/remove-empty-values.ts`)."""

    DROP = 'null and "" left out'
    """The payload's top level, and fields that are not strings inside a grouped object."""
    DROP_NULL = 'null left out, "" kept'
    """String fields inside a grouped object (campaign → utm_*, userAgentData)."""
    KEEP = "always written"
    """Keys Mixpanel needs even when empty (`distinct_id`: "" means no user)."""

    def drops(self, value: Any) -> bool:
        """Whether `value` is left out under this rule."""
        if value is None:
            return self is not Empty.KEEP
        return value == "" and self is Empty.DROP


@dataclass(frozen=True, slots=True)
class Given:
    """A value the caller passes in by name (see the module docstring)."""

    name: str


Input = str | Given
"""An input of a `Computed` source: a path into the event, or a given."""


@dataclass(frozen=True, slots=True)
class Computed:
    """`function(*inputs)`, or item `pick` of it. Path inputs are read under the row's `empty`
    rule first (a dropped value arrives as None); givens arrive as they are."""

    function: Callable[..., Any]
    inputs: tuple[Input, ...]
    pick: int | None = None


Source = str | Given | Computed


@dataclass(frozen=True, slots=True)
class Field:
    """One Mixpanel key: where its value comes from, its empty rule, its declared type."""

    key: str
    source: Source
    empty: Empty = Empty.DROP
    type: Type | None = None
    note: str = field(default="", compare=False)
    """Why the row reads as it does, when that is not obvious (documentation only)."""


Table = tuple[Field, ...]

Problem = tuple[str, str]
"""A value that could not be converted: its path in the event, and what was done about it."""

Failure = tuple[str, str, Any]
"""Internal: the path, declared type and value of a conversion that failed."""


def read_path(event: Mapping[str, Any], path: str) -> Any:
    """The value at a dotted path, or None when a step is missing or not a JSON object."""
    *parents, leaf = path.split(".")
    holder: Mapping[str, Any] = event
    for step in parents:
        holder = as_object(holder.get(step))
    return holder.get(leaf)


Reading = tuple[dict[str, Any], tuple[Problem, ...]]
"""The keys with a value, in table order, and the problems met on the way."""


def read_fields(table: Table, event: Mapping[str, Any], given: Mapping[str, Any]) -> Reading:
    """The reference reading of `table` for one event."""
    result: dict[str, Any] = {}
    calls: dict[tuple[Callable[..., Any], tuple[Input, ...]], Any] = {}
    failures: list[Failure] = []
    for row in table:
        source = row.source
        if isinstance(source, str):
            value = read_path(event, source)
            if row.empty.drops(value):
                continue
            if row.type is not None:
                converted = CONVERTERS[row.type](value)
                if converted is FAIL:
                    failures.append((source, row.type, value))
                    continue
                value = converted
        elif isinstance(source, Given):
            value = given[source.name]
            if row.empty.drops(value):
                continue
        else:
            call = (source.function, source.inputs)
            if call not in calls:
                args = [_input(row, event, given, name, failures) for name in source.inputs]
                calls[call] = source.function(*args)
            value = calls[call]
            if source.pick is not None:
                value = value[source.pick]
            if value is None:
                continue
        result[row.key] = value
    return result, (problems(table, failures, result) if failures else ())


def _input(
    row: Field,
    event: Mapping[str, Any],
    given: Mapping[str, Any],
    name: Input,
    failures: list[Failure],
) -> Any:
    if isinstance(name, Given):
        return given[name.name]
    value = read_path(event, name)
    if row.empty.drops(value):
        return None
    if row.type is not None and value is not None:
        converted = CONVERTERS[row.type](value)
        if converted is FAIL:
            failures.append((name, row.type, value))
            return None
        value = converted
    return value


def problems(
    table: Table, failures: Sequence[Failure], result: Mapping[str, Any]
) -> tuple[Problem, ...]:
    """One problem per path whose value could not be converted, naming the keys it feeds: those
    sent without it, and those that read it as missing and got a value anyway (a fallback)."""
    found: dict[str, Problem] = {}
    for path, type_name, value in failures:
        if path in found:
            continue
        keys = [row.key for row in table if path in _paths_of(row.source)]
        parts = []
        if absent := [key for key in keys if key not in result]:
            parts.append("sent without " + ", ".join(absent))
        if present := [key for key in keys if key in result]:
            parts.append("read as missing for " + ", ".join(present))
        found[path] = (path, f"{not_a(type_name, value)}; {'; '.join(parts)} {DROPPED_BY_SEGMENT}")
    return tuple(found.values())


def failed(failures: list[Failure] | None, path: str, type_name: str, value: Any) -> list[Failure]:
    """Internal (compiled readers): note a failed conversion."""
    if failures is None:
        failures = []
    failures.append((path, type_name, value))
    return failures


Reader = Callable[..., Reading]
"""`reader(event, *givens)`: the givens positionally, in the order the reader was made with."""


def loop_reader(table: Table, givens: Sequence[str]) -> Reader:
    """`read_fields` with the compiled reader's signature (for tests and comparison)."""
    names = tuple(givens)

    def read(event: Mapping[str, Any], *values: Any) -> Reading:
        return read_fields(table, event, dict(zip(names, values, strict=True)))

    return read


# ---------------------------------------------------------------- the compiled form

_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\Z")
# Per declared type: the test that a value has it already (the common case, written inline) and
# the conversion called otherwise (a float is a number, but it must be finite: `to_number` checks).
_IS = {
    "string": "type({}) is str",
    "number": "type({}) is int",
    "integer": "type({}) is int",
    "boolean": "type({}) is bool",
}
_ISNT = {type_name: test.replace(" is ", " is not ") for type_name, test in _IS.items()}
_CONVERT = {type_name: convert.__name__ for type_name, convert in CONVERTERS.items()}
_CONVERT_NAMES = {convert.__name__: convert for convert in CONVERTERS.values()}
_Call = tuple[Callable[..., Any], tuple[Input, ...]]


def compile_fields(table: Table, givens: Sequence[str], name: str) -> Reader:
    """One straight-line function equal to `read_fields(table, ...)`, built from `table`.

    Every object on a path is looked up once; a value several rows read is read once; a run of
    rows under the same object is skipped at once when that object is empty; rows sharing a
    `Computed` call it once. The function's text is its `source` attribute (and what tracebacks
    show).
    """
    text, functions = _Writer(table, tuple(givens), name).write()
    filename = f"<cdpcli fields: {name}>"
    namespace: dict[str, Any] = {
        "as_object": as_object,
        "FAIL": FAIL,
        "failed": failed,
        "problems": problems,
        "TABLE": table,
        **_CONVERT_NAMES,
        **functions,
    }
    exec(compile(text, filename, "exec"), namespace)  # our own table's source, never user input
    linecache.cache[filename] = (len(text), None, text.splitlines(True), filename)
    reader: Reader = namespace[name]
    reader.source = text  # type: ignore[attr-defined]
    return reader


class _Writer:
    """Writes the text of a compiled reader (see `compile_fields`)."""

    def __init__(self, table: Table, givens: tuple[str, ...], name: str) -> None:
        self.table, self.givens, self.name = table, givens, name
        self.lines: list[str] = []
        self.objects: dict[str, str] = {"": "event"}  # object path → the local holding it
        self.reads: dict[str, str] = {}  # path read by several rows → the local holding it
        self.calls: dict[_Call, str] = {}  # shared call → the local holding its result
        self.functions: dict[str, Callable[..., Any]] = {}
        self._check()

    def _check(self) -> None:
        for name in (self.name, *self.givens):
            if not _NAME.match(name):
                raise ValueError(f"not a Python name: {name!r}")
        first: dict[_Call, Field] = {}
        for row in self.table:
            for given in _givens_of(row.source):
                if given not in self.givens:
                    raise ValueError(f"{row.key}: given {given!r} is not passed in")
            for path in _paths_of(row.source):
                if not all(_NAME.match(step) for step in path.split(".")):
                    raise ValueError(f"{row.key}: path {path!r} is not dotted names")
            if isinstance(row.source, str) and row.empty is Empty.KEEP and row.type is not None:
                raise ValueError(f"{row.key}: a typed path cannot be kept when empty")
            if isinstance(row.source, Computed):
                other = first.setdefault((row.source.function, row.source.inputs), row)
                if (other.empty, other.type) != (row.empty, row.type):
                    raise ValueError(f"{row.key}: shares {other.key}'s call but not its rules")

    def write(self) -> tuple[str, dict[str, Callable[..., Any]]]:
        self._emit(0, f"def {self.name}(event, {', '.join(self.givens)}):")
        sources = {
            _call_of(row.source) or index: row.source for index, row in enumerate(self.table)
        }
        paths = [path for source in sources.values() for path in _paths_of(source)]
        for path in paths:
            self._object(path.rpartition(".")[0])
        for path in dict.fromkeys(paths):
            if paths.count(path) > 1:
                local = self.reads[path] = "v_" + path.replace(".", "_")
                self._emit(1, f"{local} = {self._lookup(path)}")
        self._emit(1, "r = {}")
        self._emit(1, "bad = None")
        for parent, rows in _runs(self.table):
            depth = 1
            if parent is not None:
                self._emit(1, f"if {self.objects[parent]}:")
                depth = 2
            for index, row in rows:
                self._row(index, row, depth)
        self._emit(1, "if bad is None:")
        self._emit(2, "return r, ()")
        self._emit(1, "return r, problems(TABLE, bad, r)")
        return "\n".join(self.lines) + "\n", self.functions

    def _row(self, index: int, row: Field, depth: int) -> None:
        source, key = row.source, repr(row.key)
        if isinstance(source, Computed):
            value = self._call(index, row, source, depth)
            if source.pick is not None:
                value = f"{value}[{source.pick}]"
            test = f"(v := {value}) is not None"
        else:
            value = source.name if isinstance(source, Given) else self._read(source)
            if row.empty is Empty.KEEP:
                self._emit(depth, f"r[{key}] = {value}")
                return
            test = f"(v := {value}) is not None"
            if row.empty is Empty.DROP:
                test += " and v != ''"
            if isinstance(source, str) and row.type is not None:  # givens are typed already
                self._typed(row, source, value, depth)
                return
        self._emit(depth, f"if {test}:")
        self._emit(depth + 1, f"r[{key}] = v")

    def _typed(self, row: Field, path: str, value: str, depth: int) -> None:
        """A path row with a type: a missing value first (the cheapest test), then the value as it
        is when it has the type (the common case), else converted; an empty value left out as
        `read_fields` does."""
        key, type_name = repr(row.key), row.type
        assert type_name is not None
        drop = row.empty is Empty.DROP
        self._emit(depth, f"if (v := {value}) is not None:")
        self._emit(depth + 1, f"if {_IS[type_name].format('v')}:")
        if drop and type_name == "string":  # "" is then the only empty value of the type
            self._emit(depth + 2, "if v:")
            self._emit(depth + 3, f"r[{key}] = v")
        else:
            self._emit(depth + 2, f"r[{key}] = v")
        convert = f"(c := {_CONVERT[type_name]}(v)) is not FAIL"
        if drop and type_name != "string":  # "" is not of the type: left out before converting
            self._emit(depth + 1, "elif v != '':")
            self._emit(depth + 2, f"if {convert}:")
            depth += 1
        else:
            self._emit(depth + 1, f"elif {convert}:")
        self._emit(depth + 2, f"r[{key}] = c")
        self._emit(depth + 1, "else:")
        self._emit(depth + 2, f"bad = failed(bad, {path!r}, {type_name!r}, v)")

    def _typed_input(self, row: Field, path: str, local: str, depth: int) -> None:
        """A path input of a `Computed` row: None when left out by the row's empty rule, else
        converted to the row's type (None, and a failure noted, when it cannot be)."""
        drop, type_name = row.empty is Empty.DROP, row.type
        if drop and type_name == "string":  # "" is then the only empty value of the type
            self._emit(depth, f"if {_IS[type_name].format(local)}:")
            self._emit(depth + 1, f"if not {local}:")
            self._emit(depth + 2, f"{local} = None")
            self._emit(depth, f"elif {local} is not None:")
        else:
            if drop:
                self._emit(depth, f"if {local} == '':")
                self._emit(depth + 1, f"{local} = None")
            if type_name is None:
                return
            self._emit(depth, f"if {local} is not None and {_ISNT[type_name].format(local)}:")
        self._emit(depth + 1, f"if (c := {_CONVERT[type_name]}({local})) is FAIL:")
        self._emit(depth + 2, f"bad = failed(bad, {path!r}, {type_name!r}, {local})")
        self._emit(depth + 2, f"{local} = None")
        self._emit(depth + 1, "else:")
        self._emit(depth + 2, f"{local} = c")

    def _call(self, index: int, row: Field, source: Computed, depth: int) -> str:
        call = (source.function, source.inputs)
        if call in self.calls:
            return self.calls[call]
        args = []
        for number, name in enumerate(source.inputs):
            if isinstance(name, Given):
                args.append(name.name)
                continue
            local = f"a_{index}_{number}"
            self._emit(depth, f"{local} = {self._read(name)}")
            self._typed_input(row, name, local, depth)
            args.append(local)
        function = f"f_{index}_{getattr(source.function, '__name__', 'function')}"
        self.functions[function] = source.function
        local = self.calls[call] = f"c_{index}"
        self._emit(depth, f"{local} = {function}({', '.join(args)})")
        return local

    def _read(self, path: str) -> str:
        return self.reads.get(path) or self._lookup(path)

    def _lookup(self, path: str) -> str:
        parent, _, leaf = path.rpartition(".")
        return f"{self._object(parent)}.get({leaf!r})"

    def _object(self, path: str) -> str:
        """The local holding the object at `path` ("" is the event), made when first needed."""
        if path not in self.objects:
            parent, _, leaf = path.rpartition(".")
            holder = self._object(parent)
            self.objects[path] = local = "o_" + path.replace(".", "_")
            self._emit(1, f"{local} = as_object({holder}.get({leaf!r}))")
        return self.objects[path]

    def _emit(self, depth: int, line: str) -> None:
        self.lines.append("    " * depth + line)


def _runs(table: Table) -> list[tuple[str | None, list[tuple[int, Field]]]]:
    """The rows in order, in runs: two or more consecutive path rows under the same object that
    leave out a missing value share that object (as `parent`); every other row is a run alone."""
    runs: list[tuple[str | None, list[tuple[int, Field]]]] = []
    for index, row in enumerate(table):
        parent = _skippable_under(row)
        if parent is not None and runs and runs[-1][0] == parent:
            runs[-1][1].append((index, row))
        else:
            runs.append((parent, [(index, row)]))
    return [(parent if len(rows) > 1 else None, rows) for parent, rows in runs]


def _skippable_under(row: Field) -> str | None:
    if not isinstance(row.source, str) or row.empty is Empty.KEEP or "." not in row.source:
        return None
    return row.source.rpartition(".")[0]


def _call_of(source: Source) -> _Call | None:
    return (source.function, source.inputs) if isinstance(source, Computed) else None


def _paths_of(source: Source) -> list[str]:
    if isinstance(source, str):
        return [source]
    if isinstance(source, Computed):
        return [name for name in source.inputs if isinstance(name, str)]
    return []


def _givens_of(source: Source) -> list[str]:
    if isinstance(source, Given):
        return [source.name]
    if isinstance(source, Computed):
        return [name.name for name in source.inputs if isinstance(name, Given)]
    return []


# ---------------------------------------------------------------- the check alone

Check = Callable[[Mapping[str, Any]], bool]
"""`check(event)`: whether some typed value of the event cannot be converted."""


def typed_paths(table: Table) -> list[tuple[str, Type, Empty]]:
    """Every path of `table` whose value is converted to a type, with that type and the empty
    rule it is read under, in table order, each path once."""
    found: dict[str, tuple[str, Type, Empty]] = {}
    for row in table:
        if row.type is None or isinstance(row.source, Given):
            continue
        for path in _paths_of(row.source):
            found.setdefault(path, (path, row.type, row.empty))
    return list(found.values())


def check_loop(table: Table) -> Check:
    """The reference check: a typed value of the event that cannot be converted (read as
    `read_fields` reads it), by one loop over `typed_paths`."""
    paths = typed_paths(table)

    def check(event: Mapping[str, Any]) -> bool:
        for path, type_name, empty in paths:
            value = read_path(event, path)
            if not empty.drops(value) and CONVERTERS[type_name](value) is FAIL:
                return True
        return False

    return check


def compile_check(table: Table, name: str) -> Check:
    """`check_loop(table)` as one straight-line function: each object looked up once, the paths
    under an object skipped at once when it is missing, a value of its type accepted inline.
    `validate` asks it of every event, so it must cost little; the conversions' own messages are
    made only for an event it finds at fault (by the reader of the same table)."""
    lines = [f"def {name}(event):"]
    by_parent: dict[str, list[tuple[str, Type, Empty]]] = {}
    for path, type_name, empty in typed_paths(table):
        if not all(_NAME.match(step) for step in path.split(".")):
            raise ValueError(f"path {path!r} is not dotted names")
        by_parent.setdefault(path.rpartition(".")[0], []).append((path, type_name, empty))
    opened: dict[str, int] = {"": 1}  # object path -> the depth its paths are checked at
    locals_: dict[str, str] = {"": "event"}
    for parent in sorted(by_parent, key=lambda p: p.split(".") if p else []):  # depth first
        depth = _open(parent, lines, opened, locals_)
        holder = locals_[parent]
        for path, type_name, empty in by_parent[parent]:
            leaf = path.rpartition(".")[2]
            test = f"(v := {holder}.get({leaf!r})) is not None and {_ISNT[type_name].format('v')}"
            if empty is Empty.DROP:
                test += " and v != ''"
            lines.append("    " * depth + f"if {test} and {_CONVERT[type_name]}(v) is FAIL:")
            lines.append("    " * (depth + 1) + "return True")
    lines.append("    return False")
    text = "\n".join(lines) + "\n"
    filename = f"<cdpcli check: {name}>"
    namespace: dict[str, Any] = {"FAIL": FAIL, **_CONVERT_NAMES}
    exec(compile(text, filename, "exec"), namespace)  # our own table's source, never user input
    linecache.cache[filename] = (len(text), None, text.splitlines(True), filename)
    check: Check = namespace[name]
    check.source = text  # type: ignore[attr-defined]
    return check


def _open(path: str, lines: list[str], opened: dict[str, int], locals_: dict[str, str]) -> int:
    """The depth at which the values of the object at `path` are checked, writing the lines that
    read it (and the objects above it) when it is first needed."""
    if path in opened:
        return opened[path]
    parent, _, leaf = path.rpartition(".")
    depth = _open(parent, lines, opened, locals_)
    local = locals_[path] = "o_" + path.replace(".", "_")
    lines.append("    " * depth + f"{local} = {locals_[parent]}.get({leaf!r})")
    lines.append("    " * depth + f"if type({local}) is dict:")
    opened[path] = depth + 1
    return depth + 1
