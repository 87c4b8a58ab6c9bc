"""JSON in and out through orjson: strict (no NaN/Infinity), compact, UTF-8."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import orjson

JSONDecodeError = orjson.JSONDecodeError

Fragment = orjson.Fragment
"""JSON bytes embedded as they are in a value `dumps_bytes` writes (they must be valid JSON)."""


def loads(data: bytes | str) -> Any:
    """Parse strict JSON. NaN and Infinity literals are rejected (they are not JSON)."""
    return orjson.loads(data)


def loads_or_none(data: bytes) -> Any:
    """The JSON of a server's answer, or None when the body is empty or not JSON (the status
    then says what it means)."""
    try:
        return orjson.loads(data)
    except ValueError:  # orjson.JSONDecodeError is one
        return None


def dumps(value: Any, *, sort_keys: bool = False) -> str:
    """Compact JSON text, non-ASCII kept as UTF-8, key order kept unless `sort_keys`."""
    return dumps_bytes(value, sort_keys=sort_keys).decode("utf-8")


def dumps_bytes(value: Any, *, sort_keys: bool = False) -> bytes:
    """Compact JSON bytes. Integers beyond 64 bits, and nesting deeper than orjson writes (254
    levels, where `loads` reads 1024), fall back to the standard library."""
    option = orjson.OPT_SORT_KEYS if sort_keys else 0
    try:
        return orjson.dumps(value, option=option)
    except TypeError:
        import json

        def encode() -> bytes:
            return json.dumps(
                value,
                separators=(",", ":"),
                ensure_ascii=False,
                sort_keys=sort_keys,
                allow_nan=False,
            ).encode("utf-8")

        try:
            return encode()
        except RecursionError:
            with deep_recursion():
                return encode()


def dumps_kept(value: Any) -> bytes:
    """`dumps_bytes` for bytes that are kept a while (records waiting in a batch): an exact-size
    copy. orjson's result keeps the buffer it was written in (about 16 KB, measured with orjson
    3.13), so thousands of pending 800-byte records would hold 20 times their size."""
    return memoryview(dumps_bytes(value)).tobytes()


@contextmanager
def deep_recursion(limit: int = 10_000) -> Iterator[None]:
    """Allow at least `limit` nested calls for a moment (anything `loads` returns fits)."""
    previous = sys.getrecursionlimit()
    sys.setrecursionlimit(max(previous, limit))
    try:
        yield
    finally:
        sys.setrecursionlimit(previous)


def json_type(value: Any) -> str:
    """The JSON type name of a parsed value, for messages: null, boolean, number, string, array,
    object."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int | float):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "array"
    return "object"
