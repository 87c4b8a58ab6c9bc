"""Destination kinds with loose options, for tests of the config and its users that must not
depend on a kind's own option rules: each real kind is replaced by a subclass whose
`parse_options` (and, if given, `secret_fields`) is the test's, keeping the kind's map keys and
integration names."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import pytest

from cdpcli.destinations import registry
from cdpcli.destinations.base import Destination, Locator, SecretField

ParseOptions = Callable[[Mapping[str, Any], Locator], Any]
SecretFields = Callable[[Any, frozenset[str]], tuple[SecretField, ...]]


def loose_kind(
    real: type[Destination[Any]],
    parse_options: ParseOptions,
    secret_fields: SecretFields | None = None,
) -> type[Destination[Any]]:
    """A subclass of `real` whose options are whatever `parse_options` returns."""

    def parse(cls: type[Destination[Any]], raw: Mapping[str, Any], where: Locator) -> Any:
        return parse_options(raw, where)

    members: dict[str, Any] = {"parse_options": classmethod(parse)}
    if secret_fields is not None:

        def fields(
            cls: type[Destination[Any]], options: Any, types: frozenset[str]
        ) -> tuple[SecretField, ...]:
            return secret_fields(options, types)

        members["secret_fields"] = classmethod(fields)
    loose: type[Destination[Any]] = type(f"Loose{real.__name__}", (real,), members)
    return loose


def use_loose_kinds(
    monkeypatch: pytest.MonkeyPatch,
    parse_options: ParseOptions,
    extra: Mapping[str, type[Destination[Any]]] | None = None,
) -> None:
    """Make `registry.get_kind` give the loose subclass of each real kind (and `extra` kinds)."""
    real = registry.get_kind
    kinds = {kind: loose_kind(real(kind), parse_options) for kind in registry.KINDS}
    kinds.update(extra or {})

    def get_kind(kind: str) -> type[Destination[Any]]:
        return kinds[kind]

    monkeypatch.setattr(registry, "get_kind", get_kind)
