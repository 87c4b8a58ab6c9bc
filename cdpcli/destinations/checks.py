"""`validate`'s checks beyond the Segment spec: the values some destination kind cannot send as
they are (`Destination.field_warnings`, e.g. a value Segment's Mixpanel destination cannot convert
to its field's declared type), reported as warnings of the event that holds them, whatever the
config (`validate` reads none)."""

from __future__ import annotations

import functools
from collections.abc import Callable, Mapping, Sequence
from typing import Any, BinaryIO

from cdpcli.destinations.registry import KINDS, get_kind
from cdpcli.events.objects import ObjectStores
from cdpcli.events.validate import ValidationSummary
from cdpcli.events.validate_parallel import validate as validate_events


def field_warnings(event: Mapping[str, Any]) -> list[tuple[str, str]]:
    """Every kind's `field_warnings` of `event`, in `KINDS` order, each (path, message) once."""
    found: dict[tuple[str, str], None] = {}
    for check in _checks():
        found.update(dict.fromkeys(check(event)))
    return list(found)


@functools.cache
def _checks() -> tuple[Callable[[Mapping[str, Any]], Sequence[tuple[str, str]]], ...]:
    """The kinds that have field checks (the contract's default has none)."""
    from cdpcli.destinations.base import Destination

    base = Destination.field_warnings.__func__  # type: ignore[attr-defined]
    kinds = [get_kind(kind) for kind in KINDS]
    return tuple(
        kind.field_warnings
        for kind in kinds
        if kind.field_warnings.__func__ is not base  # type: ignore[attr-defined]
    )


def validate(
    paths: Sequence[str],
    *,
    write: Callable[[str], None],
    strict: bool = False,
    jobs: int = 1,
    as_json: bool = False,
    grouped: bool = False,
    stdin: BinaryIO | None = None,
    objects: ObjectStores | None = None,
) -> ValidationSummary:
    """`cdpcli validate` (`cdpcli.events.validate_parallel.validate`), the values a destination
    cannot send as they are reported as warnings too: see that function for the rest."""
    return validate_events(
        paths,
        write=write,
        strict=strict,
        jobs=jobs,
        as_json=as_json,
        grouped=grouped,
        stdin=stdin,
        objects=objects,
        field_checks=field_warnings,
    )
