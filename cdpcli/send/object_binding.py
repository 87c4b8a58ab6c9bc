"""A checkpoint's binding to the objects it was made over (PRODUCT.md §3.1): each `s3://` or
`gs://` input is recorded with its ETag (or generation) and size, and a resume over an object that
changed since is refused, like a changed config: the lines the checkpoint counts as settled would
be other lines."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from cdpcli.errors import UsageError


def check_objects(checkpoint: Path, saved: Any, current: Mapping[str, Mapping[str, Any]]) -> None:
    """Raise UsageError (exit 2) naming the first object of `current` whose binding differs
    from the one `saved` in the checkpoint."""
    recorded = saved if isinstance(saved, dict) else {}
    for url, now in current.items():
        then = recorded.get(url)
        if then is None or dict(then) != dict(now):
            raise UsageError(
                f"{url}: the object changed since the checkpoint {checkpoint} was written "
                f"({_describe(then)} then, {_describe(now)} now)",
                hint="a resume would skip lines of another version of it: restore the object, "
                "or delete the checkpoint to start over",
            )


def _describe(binding: Any) -> str:
    if not isinstance(binding, Mapping):
        return "not recorded"
    parts = [f"ETag {binding.get('etag')}", f"{binding.get('size')} bytes"]
    if binding.get("version") is not None:
        parts.append(f"generation {binding['version']}")
    return ", ".join(parts)
