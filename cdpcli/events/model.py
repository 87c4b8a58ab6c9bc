"""Values shared by every stage: where an event came from, the event itself, a problem about it."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Final, Literal

EVENT_TYPES: Final = ("track", "identify", "page", "screen", "group", "alias")
"""The six Segment event types, in the spec's order (reference/segment-spec.md §2)."""

Severity = Literal["error", "warning"]


@dataclass(slots=True)
class Origin:
    """Where an event was read: `path:line`, plus its index inside a batch envelope or array."""

    source: str
    line: int
    index: int | None = None
    in_batch: bool = True  # the index is into an envelope's `batch` (else a top-level array)

    def __str__(self) -> str:
        if self.index is None:
            return f"{self.source}:{self.line}"
        return f"{self.source}:{self.line}#{self.index}"

    @property
    def item_path(self) -> str:
        """Where the event sits inside its line: `batch[3]`, `[3]`, or "" for the whole line."""
        if self.index is None:
            return ""
        return f"batch[{self.index}]" if self.in_batch else f"[{self.index}]"


@dataclass(slots=True)
class Event:
    """One event as read: the JSON object (envelope context already merged) and its origin.

    `size` is the UTF-8 length of the compact serialization of the event as it appeared in the
    input (before envelope context was merged), or a safe upper bound when that is far below the
    32 KB limit (see `cdpcli.events.decode`).
    `replay_route`/`replay_destination` are set when the event
    was unwrapped from a rejected-file record: a replay goes back to where it was rejected.
    `raw` is the input line when the event is the whole line (not part of an envelope or array):
    the rejected file quotes it as it was.
    """

    data: dict[str, Any]
    origin: Origin
    size: int
    replay_route: str | None = None
    replay_destination: str | None = None
    raw: bytes | None = None


@dataclass(slots=True)
class Problem:
    """Something wrong with one input line or event: a reported value, never an exception."""

    origin: Origin
    severity: Severity
    field: str | None
    message: str
    # The input line, when the problem is the whole line (not JSON, or not an object): the
    # rejected file keeps its text, so nothing read is lost.
    raw: bytes | None = None
    # The message without the values of this event it quotes ("numeric id; sent as a string"
    # for "numeric id 7; sent as the string \"7\""), when it quotes any: a human report groups
    # problems alike but for those values by it (`cdpcli.events.grouping`).
    like: str | None = None

    @property
    def path(self) -> str | None:
        """The field as a dotted path inside the input line (`batch[2].userId`), or None."""
        prefix = self.origin.item_path
        if not prefix:
            return self.field
        return f"{prefix}.{self.field}" if self.field else prefix

    @property
    def detail(self) -> str:
        """`field: message`, or the message alone when the whole line is at fault."""
        return f"{self.path}: {self.message}" if self.path else self.message

    def __str__(self) -> str:
        """`PATH:LINE: severity: field: message`, the report line of PRODUCT.md §4."""
        return f"{self.origin.source}:{self.origin.line}: {self.severity}: {self.detail}"
