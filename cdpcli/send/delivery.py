"""What the pipeline hands to a deliverer, and what it gets back.

A deliverer takes complete batches and reports, per item, delivered, duplicate or rejected. The
dry-run deliverer writes each request as a JSON line and reports every item as it would be
delivered; the HTTP deliverer (`cdpcli.send.http`) sends them. The pipeline is the same for both.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Literal, Protocol

from cdpcli.destinations.base import Destination, Endpoint, HttpRequest
from cdpcli.send.batching import Batch, Batcher

Status = Literal["delivered", "duplicate", "rejected"]


@dataclass
class DestinationStats:
    """Outcomes of one destination: `routed == delivered + duplicates + rejected + skipped +
    not_sent` (PRODUCT.md §6.1). While a run goes, `not_sent` counts its routes still waiting for
    an answer; when the run has ended, those it never sent (0 unless it stopped). `requests`
    counts HTTP attempts, `retries` the attempts that repeated one before, and `throttled` the
    answers 429 (rate limited)."""

    kind: str
    routed: int = 0
    delivered: int = 0
    duplicates: int = 0
    rejected: int = 0
    skipped: int = 0
    not_sent: int = 0
    requests: int = 0
    retries: int = 0
    throttled: int = 0
    # Values the mapping left out of what it sent (`Mapped.warnings`: not of their field's type).
    warnings: int = 0

    def as_dict(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "routed": self.routed,
            "delivered": self.delivered,
            "duplicates": self.duplicates,
            "rejected": self.rejected,
            "skipped": self.skipped,
            "not_sent": self.not_sent,
            "requests": self.requests,
            "retries": self.retries,
            "throttled": self.throttled,
            "warnings": self.warnings,
        }


@dataclass
class DestinationRuntime:
    """One configured destination in a run: the `Destination` (which maps, builds requests and
    reads answers), the batcher over its endpoints, and its counts."""

    destination: Destination[Any]
    batcher: Batcher
    stats: DestinationStats

    @property
    def name(self) -> str:
        return self.destination.name

    @property
    def kind(self) -> str:
        return self.destination.kind

    @property
    def endpoints(self) -> Mapping[str, Endpoint]:
        return self.destination.endpoints()

    def build_request(self, batch: Batch) -> HttpRequest:
        """The request for `batch`: its body built around the items' bytes, serialized once,
        when they were batched."""
        return self.destination.build_request(batch.endpoint, batch.array_json())


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
    """What became of a delivery: one result per item (in batch order), the requests made, how
    many of them were retries and how many were answered 429."""

    delivery: Delivery
    results: list[ItemResult]
    requests: int
    retries: int = 0
    throttled: int = 0


class Deliverer(Protocol):
    """Takes batches, returns results. `submit` may block while too many batches are in flight;
    it returns the results that completed meanwhile. `finish` waits for all that remain, `poll`
    for none. Fatal conditions (credentials refused, retries exhausted) raise a `CdpError`."""

    def submit(self, delivery: Delivery) -> list[DeliveryResult]: ...

    def finish(self) -> list[DeliveryResult]: ...

    def poll(self) -> list[DeliveryResult]:
        """The results that completed, without waiting."""
        ...

    def while_waiting(self, tick: Callable[[], None]) -> None:
        """Have `submit` and `finish` call `tick` every moment (a tenth of a second) they wait;
        what `tick` raises ends the wait."""
        ...

    def abort(self) -> list[DeliveryResult]:
        """Stop at once; returns the results that had completed (they still count)."""
        ...
