"""Count-and-bytes batching of serialized records, per endpoint.

Each item is serialized once (compact JSON, `cdpcli.jsonio`) when it is added; its bytes travel
with the batch so the request body never needs serializing again (`Batch.array_json`). A batch
never exceeds its endpoint's `max_items`, nor `max_request_bytes` counted as the bytes of the
JSON array (items, commas, brackets) plus the endpoint's `overhead`, the bytes of any wrapper
around the array (Lago's `{"events":[...]}` adds 11: `{"events":` and `}`).

An item over the endpoint's `max_item_bytes`, or one that could not fit a request even alone, is
refused with a reason and never enters a batch (bad data is a value, not an exception).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from cdpcli.destinations.base import Endpoint
from cdpcli.jsonio import dumps_bytes

ARRAY_BRACKETS = 2


def array_bytes(sizes: Iterable[int]) -> int:
    """Bytes of a compact JSON array holding items of these serialized sizes."""
    total = 0
    count = 0
    for size in sizes:
        total += size
        count += 1
    return ARRAY_BRACKETS + total + max(count - 1, 0)


@dataclass(frozen=True, slots=True)
class Batch:
    """Items bound for one endpoint, in the order they were added.

    `tags[i]` is the caller's opaque tag for `items[i]`, `encoded[i]` its serialized bytes.
    `payload_bytes` is the size of the request body: the JSON array plus the endpoint overhead.
    """

    endpoint: str
    items: list[dict[str, Any]]
    tags: list[Any]
    payload_bytes: int
    encoded: list[bytes] = field(default_factory=list, repr=False, compare=False)

    def __len__(self) -> int:
        return len(self.items)

    @property
    def overhead(self) -> int:
        """Bytes of the wrapper around the JSON array (0 for a bare array)."""
        return self.payload_bytes - array_bytes(len(e) for e in self.encoded)

    def array_json(self) -> bytes:
        """The items as one compact JSON array, built from the bytes serialized at `add`."""
        return b"[" + b",".join(self.encoded) + b"]"


@dataclass(frozen=True, slots=True)
class Refused:
    """An item that can never be sent to its endpoint, and why."""

    endpoint: str
    item: dict[str, Any]
    tag: Any
    size: int
    reason: str


@dataclass(slots=True)  # built per event: a frozen dataclass costs 4x to construct
class Added:
    """What one `Batcher.add` produced: the batches it completed, or the item's refusal."""

    batches: list[Batch]
    refused: Refused | None = None


def subset(batch: Batch, indexes: Iterable[int]) -> Batch:
    """A new batch of the items of `batch` at `indexes` (kept in batch order, duplicates ignored).

    For Lago's all-or-nothing 422: drop the indexes it named and resend the rest.
    """
    keep = sorted(set(indexes))
    for index in keep:
        if not 0 <= index < len(batch.items):
            raise IndexError(f"index {index} out of range for a batch of {len(batch.items)}")
    encoded = [batch.encoded[i] for i in keep]
    return Batch(
        endpoint=batch.endpoint,
        items=[batch.items[i] for i in keep],
        tags=[batch.tags[i] for i in keep],
        payload_bytes=array_bytes(len(e) for e in encoded) + batch.overhead,
        encoded=encoded,
    )


def split(batch: Batch) -> tuple[Batch, Batch]:
    """Halves of a batch (the first gets the smaller half when odd), for a 413 or too_many_events.

    Raises ValueError for a batch of one item: it cannot be split, the caller rejects it.
    """
    count = len(batch.items)
    if count < 2:
        raise ValueError("a batch of one item cannot be split")
    middle = count // 2
    return subset(batch, range(middle)), subset(batch, range(middle, count))


def human_bytes(size: int) -> str:
    """`1.2 MB`, `950 KB`, `12 bytes`: decimal units, as the vendors' limits are written."""
    if size < 1000:
        return f"{size} bytes"
    for unit, scale in (("MB", 1_000_000), ("KB", 1000)):
        if size >= scale:
            text = f"{size / scale:.1f}".removesuffix(".0")
            return f"{text} {unit}"
    raise AssertionError("unreachable")  # pragma: no cover


def _sizes(size: int, limit: int) -> tuple[str, str]:
    """Size and limit as text, exact when rounding would make them look equal."""
    shown, shown_limit = human_bytes(size), human_bytes(limit)
    if shown == shown_limit or limit < 1000:
        return (shown if shown != shown_limit else f"{size:,} bytes"), f"{limit:,}-byte"
    return shown, shown_limit


def endpoint_label(endpoint: Endpoint) -> str:
    """`/import`, `/api/v1/events/batch`: the URL path, or the endpoint name without a URL."""
    path = urlsplit(endpoint.url).path
    return path or f"/{endpoint.name}"


def refusal(endpoint: Endpoint, size: int, overhead: int = 0) -> str | None:
    """Why an item of `size` serialized bytes can never be sent to `endpoint`, or None."""
    label = endpoint_label(endpoint)
    if size > endpoint.max_item_bytes:
        shown, limit = _sizes(size, endpoint.max_item_bytes)
        return f"record is {shown}, over {label}'s {limit} limit for one record"
    alone = array_bytes([size]) + overhead
    if alone > endpoint.max_request_bytes:
        shown, limit = _sizes(alone, endpoint.max_request_bytes)
        return f"record needs a request of {shown}, over {label}'s {limit} request limit"
    return None


@dataclass(slots=True)
class _Pending:
    items: list[dict[str, Any]] = field(default_factory=list)
    tags: list[Any] = field(default_factory=list)
    encoded: list[bytes] = field(default_factory=list)
    content_bytes: int = 0  # sum of encoded sizes

    def payload_bytes(self, overhead: int, extra: int | None = None) -> int:
        count = len(self.encoded) + (extra is not None)
        total = self.content_bytes + (extra or 0)
        return ARRAY_BRACKETS + total + max(count - 1, 0) + overhead


class Batcher:
    """Accumulates items per endpoint and hands out full batches.

    `endpoints` maps endpoint names (`Record.endpoint`) to their limits; `overhead` maps some of
    them to the bytes their request body adds around the JSON array (default 0).
    Batches of one endpoint come out in the order their items were added.
    """

    def __init__(
        self,
        endpoints: Mapping[str, Endpoint],
        *,
        overhead: Mapping[str, int] | None = None,
    ) -> None:
        self._endpoints = dict(endpoints)
        self._overhead = dict(overhead or {})
        unknown = set(self._overhead) - set(self._endpoints)
        if unknown:
            raise KeyError(f"overhead given for unknown endpoints: {sorted(unknown)}")
        for endpoint in self._endpoints.values():
            if endpoint.max_items < 1:
                raise ValueError(f"endpoint {endpoint.name}: max_items must be at least 1")
        self._pending: dict[str, _Pending] = {}

    def overhead(self, endpoint_name: str) -> int:
        """Bytes the request body of this endpoint adds around the JSON array."""
        return self._overhead.get(endpoint_name, 0)

    def pending(self) -> int:
        """How many items wait in unfinished batches, over all endpoints."""
        return sum(len(p.items) for p in self._pending.values())

    def add(self, endpoint_name: str, item: dict[str, Any], tag: Any) -> Added:
        """Add one item; returns the batches this completed, or the item's refusal.

        A batch is completed when this item would push it over `max_items` or
        `max_request_bytes` (the item then starts the next batch), or when it reaches
        `max_items` exactly. A refused item leaves every pending batch untouched.
        """
        endpoint = self._endpoints[endpoint_name]
        overhead = self.overhead(endpoint_name)
        encoded = dumps_bytes(item)
        size = len(encoded)
        reason = refusal(endpoint, size, overhead)
        if reason is not None:
            return Added([], Refused(endpoint_name, item, tag, size, reason))
        done: list[Batch] = []
        pending = self._pending.setdefault(endpoint_name, _Pending())
        if pending.items and (
            len(pending.items) + 1 > endpoint.max_items
            or pending.payload_bytes(overhead, size) > endpoint.max_request_bytes
        ):
            done.append(self._take(endpoint_name))
            pending = self._pending.setdefault(endpoint_name, _Pending())
        pending.items.append(item)
        pending.tags.append(tag)
        pending.encoded.append(encoded)
        pending.content_bytes += size
        if len(pending.items) >= endpoint.max_items:
            done.append(self._take(endpoint_name))
        return Added(done)

    def flush(self) -> list[Batch]:
        """Every unfinished batch, one per endpoint, oldest unfinished batch first."""
        return [self._take(name) for name in list(self._pending) if self._pending[name].items]

    def _take(self, endpoint_name: str) -> Batch:
        pending = self._pending.pop(endpoint_name)
        return Batch(
            endpoint=endpoint_name,
            items=pending.items,
            tags=pending.tags,
            payload_bytes=pending.payload_bytes(self.overhead(endpoint_name)),
            encoded=pending.encoded,
        )
