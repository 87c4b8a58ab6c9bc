"""Count-and-bytes batching of serialized records, per endpoint.

Each item is serialized once (compact JSON, `cdpcli.jsonio`), when it is mapped or when it is
added; only its bytes travel with the batch, so the request body never needs serializing again
(`Batch.array_json`) and a pending item costs its bytes, not a tree of Python objects.
`Batch.items` reads the items back from those bytes, for the rare code that looks inside. A batch
never exceeds its endpoint's `max_items`, nor `max_request_bytes` counted as the bytes of the
JSON array (items, commas, brackets) plus the endpoint's `overhead`, the bytes of any wrapper
around the array (a body `{"events":[...]}` adds 11: `{"events":` and `}`).

An item over the endpoint's `max_item_bytes`, or one that could not fit a request even alone, is
refused with a reason and never enters a batch (bad data is a value, not an exception).

A batch remembers when its first item came (`clock`), so that a live stream's partial batches
can go out once they have waited long enough (`Batcher.overdue`, PRODUCT.md §6.1).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, overload
from urllib.parse import urlsplit

from cdpcli.destinations.base import Endpoint
from cdpcli.jsonio import dumps_kept, loads

ARRAY_BRACKETS = 2


def array_bytes(sizes: Iterable[int]) -> int:
    """Bytes of a compact JSON array holding items of these serialized sizes."""
    total = 0
    count = 0
    for size in sizes:
        total += size
        count += 1
    return ARRAY_BRACKETS + total + max(count - 1, 0)


class EncodedItems(Sequence[dict[str, Any]]):
    """The items of a batch, parsed from their serialized bytes when they are looked at (a
    request body is built from the bytes themselves, `Batch.array_json`)."""

    __slots__ = ("encoded",)

    def __init__(self, encoded: list[bytes]) -> None:
        self.encoded = encoded

    def __len__(self) -> int:
        return len(self.encoded)

    @overload
    def __getitem__(self, index: int) -> dict[str, Any]: ...

    @overload
    def __getitem__(self, index: slice) -> list[dict[str, Any]]: ...

    def __getitem__(self, index: int | slice) -> dict[str, Any] | list[dict[str, Any]]:
        if isinstance(index, slice):
            return [loads(e) for e in self.encoded[index]]
        item: dict[str, Any] = loads(self.encoded[index])
        return item

    def __iter__(self) -> Iterator[dict[str, Any]]:
        return (loads(e) for e in self.encoded)

    def __eq__(self, other: object) -> bool:
        if isinstance(other, EncodedItems):
            return self.encoded == other.encoded
        if isinstance(other, list):
            return list(self) == other
        return NotImplemented

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return f"EncodedItems({len(self.encoded)} items)"


@dataclass(frozen=True, slots=True)
class Batch:
    """Items bound for one endpoint, in the order they were added.

    `encoded[i]` is the serialized bytes of the i-th item, `tags[i]` the caller's opaque tag
    for it. `payload_bytes` is the size of the request body: the JSON array plus the endpoint
    overhead. `items` reads the items back from their bytes.
    """

    endpoint: str
    encoded: list[bytes]
    tags: list[Any]
    payload_bytes: int
    items: EncodedItems = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "items", EncodedItems(self.encoded))

    def __len__(self) -> int:
        return len(self.encoded)

    @property
    def overhead(self) -> int:
        """Bytes of the wrapper around the JSON array (0 for a bare array)."""
        return self.payload_bytes - array_bytes(len(e) for e in self.encoded)

    def array_json(self) -> bytes:
        """The items as one compact JSON array, built from the bytes serialized once."""
        return b"[" + b",".join(self.encoded) + b"]"


@dataclass(frozen=True, slots=True)
class Refused:
    """An item that can never be sent to its endpoint, and why."""

    endpoint: str
    encoded: bytes
    tag: Any
    size: int
    reason: str


@dataclass(frozen=True, slots=True)
class Added:
    """What one `Batcher.add` produced: the batches it completed, or the item's refusal."""

    batches: tuple[Batch, ...]
    refused: Refused | None = None


NOTHING_ADDED = Added(())  # what most adds return: made once


def subset(batch: Batch, indexes: Iterable[int]) -> Batch:
    """A new batch of the items of `batch` at `indexes` (kept in batch order, duplicates ignored).

    For an all-or-nothing refusal naming some items: drop them and resend the rest.
    """
    keep = sorted(set(indexes))
    for index in keep:
        if not 0 <= index < len(batch):
            raise IndexError(f"index {index} out of range for a batch of {len(batch)}")
    encoded = [batch.encoded[i] for i in keep]
    return Batch(
        endpoint=batch.endpoint,
        tags=[batch.tags[i] for i in keep],
        payload_bytes=array_bytes(len(e) for e in encoded) + batch.overhead,
        encoded=encoded,
    )


def split(batch: Batch) -> tuple[Batch, Batch]:
    """Halves of a batch (the first gets the smaller half when odd), for a 413 or too_many_events.

    Raises ValueError for a batch of one item: it cannot be split, the caller rejects it.
    """
    count = len(batch)
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
    since: float  # when the first item came (the batcher's clock)
    tags: list[Any] = field(default_factory=list)
    encoded: list[bytes] = field(default_factory=list)
    content_bytes: int = 0  # sum of encoded sizes

    def payload_bytes(self, overhead: int) -> int:
        """The body's size: the items in a JSON array, plus the body's own `overhead`."""
        return ARRAY_BRACKETS + self.content_bytes + max(len(self.encoded) - 1, 0) + overhead


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
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._endpoints = dict(endpoints)
        self._clock = clock
        self._overhead = dict(overhead or {})
        unknown = set(self._overhead) - set(self._endpoints)
        if unknown:
            raise KeyError(f"overhead given for unknown endpoints: {sorted(unknown)}")
        for endpoint in self._endpoints.values():
            if endpoint.max_items < 1:
                raise ValueError(f"endpoint {endpoint.name}: max_items must be at least 1")
        self._limits = {
            name: (e.max_items, e.max_request_bytes, e.max_item_bytes, self.overhead(name))
            for name, e in self._endpoints.items()
        }
        self._pending: dict[str, _Pending] = {}

    def overhead(self, endpoint_name: str) -> int:
        """Bytes the request body of this endpoint adds around the JSON array."""
        return self._overhead.get(endpoint_name, 0)

    def pending(self) -> int:
        """How many items wait in unfinished batches, over all endpoints."""
        return sum(len(p.encoded) for p in self._pending.values())

    def add(self, endpoint_name: str, item: bytes | dict[str, Any], tag: Any) -> Added:
        """Add one item, serialized (compact JSON bytes) or not; returns the batches this
        completed, or the item's refusal.

        A batch is completed when this item would push it over `max_items` or
        `max_request_bytes` (the item then starts the next batch), or when it reaches
        `max_items` exactly. A refused item leaves every pending batch untouched.
        """
        # The hot path of every send: one call per record, so the limits are read from one
        # tuple and the body size is computed inline (`_Pending.payload_bytes` with the item).
        max_items, max_request_bytes, max_item_bytes, overhead = self._limits[endpoint_name]
        encoded = item if type(item) is bytes else dumps_kept(item)
        size = len(encoded)
        if size > max_item_bytes or size + ARRAY_BRACKETS + overhead > max_request_bytes:
            reason = refusal(self._endpoints[endpoint_name], size, overhead)
            if reason is not None:
                return Added((), Refused(endpoint_name, encoded, tag, size, reason))
        done: tuple[Batch, ...] = ()
        pending = self._pending.get(endpoint_name)
        if pending is None:
            pending = self._pending[endpoint_name] = _Pending(self._clock())
        count = len(pending.encoded)
        if count and (
            count >= max_items
            or ARRAY_BRACKETS + pending.content_bytes + size + count + overhead > max_request_bytes
        ):
            done = (self._take(endpoint_name),)
            pending = self._pending[endpoint_name] = _Pending(self._clock())
            count = 0
        pending.tags.append(tag)
        pending.encoded.append(encoded)
        pending.content_bytes += size
        if count + 1 >= max_items:
            done = (*done, self._take(endpoint_name))
        return Added(done) if done else NOTHING_ADDED

    def flush(self) -> list[Batch]:
        """Every unfinished batch, one per endpoint, oldest unfinished batch first."""
        return [self._take(name) for name in list(self._pending) if self._pending[name].encoded]

    def overdue(self, since: float) -> list[Batch]:
        """The unfinished batches whose first item came at or before `since` (the batcher's
        clock), oldest first."""
        return [
            self._take(name)
            for name, pending in list(self._pending.items())
            if pending.encoded and pending.since <= since
        ]

    def _take(self, endpoint_name: str) -> Batch:
        pending = self._pending.pop(endpoint_name)
        return Batch(
            endpoint=endpoint_name,
            tags=pending.tags,
            payload_bytes=pending.payload_bytes(self.overhead(endpoint_name)),
            encoded=pending.encoded,
        )
