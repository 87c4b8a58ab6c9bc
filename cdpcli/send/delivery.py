"""What the pipeline hands to a deliverer, and what it gets back.

A deliverer takes complete batches and reports, per item, delivered, duplicate or rejected. The
dry-run deliverer writes each request as a JSON line and reports every item as it would be
delivered; the HTTP deliverer (`cdpcli.send.http`) sends them. The pipeline is the same for both.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from types import ModuleType
from typing import Any, Literal, Protocol

from cdpcli.destinations.base import Endpoint, HttpRequest
from cdpcli.jsonio import dumps_bytes
from cdpcli.send.batching import Batch, Batcher, EncodedItems

Status = Literal["delivered", "duplicate", "rejected"]


@dataclass
class DestinationStats:
    """Outcomes of one destination; `routed == delivered + duplicates + rejected + skipped`."""

    kind: str
    routed: int = 0
    delivered: int = 0
    duplicates: int = 0
    rejected: int = 0
    skipped: int = 0
    requests: int = 0

    def as_dict(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "routed": self.routed,
            "delivered": self.delivered,
            "duplicates": self.duplicates,
            "rejected": self.rejected,
            "skipped": self.skipped,
            "requests": self.requests,
        }


@dataclass
class DestinationRuntime:
    """One configured destination, ready to map and batch: its module, options and endpoints.

    `secrets` is None in a dry run (every secret shows as `***`).
    """

    name: str
    kind: str
    module: ModuleType
    options: Any
    endpoints: Mapping[str, Endpoint]
    secrets: Mapping[str, str] | None
    token: str
    batcher: Batcher
    stats: DestinationStats

    def build_request(self, batch: Batch) -> HttpRequest:
        request: HttpRequest = self.module.build_request(
            self.options, self.endpoints[batch.endpoint], batch.items, self.secrets
        )
        return request


@dataclass(frozen=True, slots=True)
class ItemResult:
    """The fate of one item of a batch."""

    status: Status
    reason: str | None = None


DELIVERED = ItemResult("delivered")


@dataclass(frozen=True, slots=True)
class Delivery:
    """One batch bound for one destination."""

    destination: DestinationRuntime
    batch: Batch


@dataclass(frozen=True, slots=True)
class DeliveryResult:
    """What became of a delivery: one result per item (in batch order) and the requests made."""

    delivery: Delivery
    results: list[ItemResult]
    requests: int


class Deliverer(Protocol):
    """Takes batches, returns results. `submit` may block while too many batches are in flight;
    it returns the results that completed meanwhile. `finish` waits for all that remain.
    Fatal conditions (credentials refused, retries exhausted) raise a `CdpError`."""

    def submit(self, delivery: Delivery) -> list[DeliveryResult]: ...

    def finish(self) -> list[DeliveryResult]: ...

    def abort(self) -> list[DeliveryResult]:
        """Stop at once; returns the results that had completed (they still count)."""
        ...


_ITEMS_MARK = "@@cdpcli-items@@"


def encode_body(body: Any, batch: Batch) -> bytes:
    """The request body as bytes, reusing the items' serialization when the body holds them
    (as a bare array, or as one value of an object, like Lago's `{"events": [...]}`)."""
    items = batch.items
    if _holds_items(body, items):
        return batch.array_json()
    if isinstance(body, dict) and any(_holds_items(value, items) for value in body.values()):
        parts = {
            key: (_ITEMS_MARK if _holds_items(value, items) else value)
            for key, value in body.items()
        }
        return dumps_bytes(parts).replace(b'"' + _ITEMS_MARK.encode() + b'"', batch.array_json(), 1)
    return dumps_bytes(body)


def _holds_items(value: Any, items: EncodedItems) -> bool:
    """Whether `value` is the batch's items (as `build_request` passes them through)."""
    return value is items
