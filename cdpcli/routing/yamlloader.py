"""YAML to plain values, remembering the line of every key (read by `cdpcli.routing.config`).

Safe by construction: the document is only *composed* (no object construction), then turned
into dicts, lists, strings, numbers, booleans and None by hand. Aliases are refused (no alias
bombs), as are duplicate keys, non-string keys, custom tags and non-finite numbers. A YAML
timestamp stays the string it was written as.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from cdpcli.errors import ConfigError

__all__ = ["Document", "KeyPath", "dotted", "load_yaml", "parse_yaml"]

KeyPath = tuple[str | int, ...]

MAX_BYTES = 1024 * 1024
"""A config file larger than this is refused (it cannot be a hand-written config)."""

MAX_DEPTH = 64
"""Nesting deeper than this is refused (the composer and the builder recurse)."""

_TAG = "tag:yaml.org,2002:"


def dotted(path: KeyPath) -> str:
    """`("routes", 1, "when", "event")` → `routes[1].when.event`."""
    out = ""
    for part in path:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += f".{part}" if out else part
    return out


@dataclass(frozen=True, slots=True)
class Document:
    """A parsed YAML document: its plain `value` and the line of each key path (1-based)."""

    source: str
    value: Any
    lines: Mapping[KeyPath, int]

    def line(self, path: KeyPath) -> int:
        """The line of `path`, or of its nearest ancestor that the document has."""
        for end in range(len(path), -1, -1):
            found = self.lines.get(path[:end])
            if found is not None:
                return found
        return 1

    def where(self, path: KeyPath) -> str:
        """`FILE:LINE: key `a.b[0].c`` for an error message (just `FILE:LINE` for the root)."""
        if not path:
            return f"{self.source}:{self.line(path)}"
        return f"{self.source}:{self.line(path)}: key `{dotted(path)}`"


class _AliasFound(Exception):
    def __init__(self, anchor: str, line: int) -> None:
        super().__init__(anchor)
        self.anchor = anchor
        self.line = line


class _Loader(yaml.SafeLoader):
    """A safe loader whose composer refuses aliases before they can be expanded."""

    def compose_node(self, parent: yaml.Node | None, index: Any) -> yaml.Node | None:
        if self.check_event(yaml.AliasEvent):
            event = self.peek_event()  # type: ignore[no-untyped-call]
            raise _AliasFound(str(getattr(event, "anchor", "")), event.start_mark.line + 1)
        return super().compose_node(parent, index)


def load_yaml(path: Path) -> Document:
    """Read and parse the YAML file at `path`. Every failure is a `ConfigError`."""
    source = str(path)
    try:
        with path.open("rb") as handle:
            data = handle.read(MAX_BYTES + 1)
    except FileNotFoundError:
        raise ConfigError(
            f"config file not found: {source}",
            hint="create one with `cdpcli config init`, or pass --config FILE / set CDPCLI_CONFIG",
        ) from None
    except IsADirectoryError:
        raise ConfigError(
            f"{source}: is a directory, not a config file", hint="pass --config FILE"
        ) from None
    except OSError as error:
        raise ConfigError(f"{source}: cannot read the config: {error.strerror or error}") from None
    if len(data) > MAX_BYTES:
        raise ConfigError(f"{source}: the config is larger than {MAX_BYTES} bytes")
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        line = data[: error.start].count(b"\n") + 1
        raise ConfigError(f"{source}:{line}: the config is not UTF-8 text") from None
    return parse_yaml(text, source)


def parse_yaml(text: str, source: str) -> Document:
    """Parse YAML `text`; `source` names it in messages. Every failure is a `ConfigError`."""
    try:
        loader = _Loader(text)
    except yaml.reader.ReaderError as error:  # a control character: say where it is
        before = text[: error.position]
        line, column = before.count("\n") + 1, error.position - before.rfind("\n")
        code = error.character if isinstance(error.character, int) else ord(error.character)
        raise ConfigError(
            f"{source}:{line}: invalid YAML: character U+{code:04X} at column {column} is not "
            "allowed in YAML text"
        ) from None
    except yaml.YAMLError as error:
        raise ConfigError(f"{source}: invalid YAML: {error}") from None
    try:
        node = loader.get_single_node()
    except _AliasFound as alias:
        raise ConfigError(
            f"{source}:{alias.line}: YAML aliases (*{alias.anchor}) are not supported",
            hint="write the value out where it is needed",
        ) from None
    except yaml.MarkedYAMLError as error:
        raise ConfigError(_yaml_message(error, source)) from None
    except yaml.YAMLError as error:
        raise ConfigError(f"{source}: invalid YAML: {error}") from None
    except RecursionError:
        raise ConfigError(
            f"{source}:{loader.line + 1}: the YAML is nested too deeply (over {MAX_DEPTH} levels)"
        ) from None
    finally:
        loader.dispose()
    if node is None:
        raise ConfigError(
            f"{source}:1: the config is empty",
            hint="start from `cdpcli config init`",
        )
    lines: dict[KeyPath, int] = {(): node.start_mark.line + 1}
    builder = _Builder(source, lines, loader)
    value = builder.build(node, ())
    return Document(source, value, lines)


def _yaml_message(error: yaml.MarkedYAMLError, source: str) -> str:
    mark = error.problem_mark or error.context_mark
    where = f"{source}:{mark.line + 1}" if mark is not None else source
    parts = [part for part in (error.context, error.problem) if part]
    return f"{where}: invalid YAML: {'; '.join(parts) or 'syntax error'}"


class _Builder:
    """Turns a composed node tree into plain values, recording key lines."""

    def __init__(self, source: str, lines: dict[KeyPath, int], loader: _Loader) -> None:
        self.source = source
        self.lines = lines
        self.loader = loader

    def fail(self, node: yaml.Node, path: KeyPath, what: str) -> ConfigError:
        where = f"{self.source}:{node.start_mark.line + 1}"
        if path:
            where += f": key `{dotted(path)}`"
        return ConfigError(f"{where}: {what}")

    def build(self, node: yaml.Node, path: KeyPath) -> Any:
        if len(path) > MAX_DEPTH:
            raise self.fail(node, path, f"nested deeper than {MAX_DEPTH} levels")
        if isinstance(node, yaml.ScalarNode):
            return self.scalar(node, path)
        if isinstance(node, yaml.SequenceNode):
            if node.tag != _TAG + "seq":
                raise self.fail(node, path, f"unsupported YAML tag {node.tag}")
            items: list[Any] = []
            for index, child in enumerate(node.value):
                child_path = (*path, index)
                self.lines[child_path] = child.start_mark.line + 1
                items.append(self.build(child, child_path))
            return items
        if isinstance(node, yaml.MappingNode):
            return self.mapping(node, path)
        raise self.fail(node, path, "unsupported YAML node")  # pragma: no cover

    def mapping(self, node: yaml.MappingNode, path: KeyPath) -> dict[str, Any]:
        if node.tag != _TAG + "map":
            raise self.fail(node, path, f"unsupported YAML tag {node.tag}")
        out: dict[str, Any] = {}
        for key_node, value_node in node.value:
            if not (isinstance(key_node, yaml.ScalarNode) and key_node.tag == _TAG + "str"):
                shown = key_node.value if isinstance(key_node, yaml.ScalarNode) else "a collection"
                raise self.fail(
                    key_node,
                    path,
                    f"key {shown!r} is not a string; quote it (YAML reads yes/no/on/off "
                    "as booleans and digits as numbers)",
                )
            key = self.text(key_node, path)
            child_path = (*path, key)
            if key in out:
                first = self.lines.get(child_path, 0)
                raise self.fail(key_node, child_path, f"duplicate key (first on line {first})")
            self.lines[child_path] = key_node.start_mark.line + 1
            out[key] = self.build(value_node, child_path)
        return out

    def text(self, node: yaml.ScalarNode, path: KeyPath) -> str:
        """A string scalar; a `"\\ud800"` escape (a lone surrogate) is not text and is refused."""
        text = str(node.value)
        if not text.isascii():
            try:
                text.encode("utf-8")
            except UnicodeEncodeError as error:
                raise self.fail(
                    node,
                    path,
                    f"the string holds a lone surrogate (U+{ord(text[error.start]):04X}), "
                    "which is not Unicode text; write the character itself",
                ) from None
        return text

    def scalar(self, node: yaml.ScalarNode, path: KeyPath) -> Any:
        tag = node.tag
        if tag == _TAG + "str":
            return self.text(node, path)
        if tag == _TAG + "null":
            return None
        if tag == _TAG + "bool":
            return self.loader.construct_yaml_bool(node)
        if tag == _TAG + "int":
            return self.loader.construct_yaml_int(node)
        if tag == _TAG + "float":
            number = self.loader.construct_yaml_float(node)
            if not math.isfinite(number):
                raise self.fail(node, path, f"{node.value!r} is not a finite number")
            return number
        if tag == _TAG + "timestamp":
            return str(node.value)
        raise self.fail(node, path, f"unsupported YAML tag {tag}; write a plain value")
