"""The dry-run deliverer: the pipeline's last stage when nothing is sent (PRODUCT.md §6
`--dry-run`). It writes each request as one JSON line and reports every item as it would be
delivered; the HTTP deliverer (`cdpcli.send.http`) is its twin for a real run."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from cdpcli.jsonio import Fragment, dumps_bytes, loads
from cdpcli.send.batching import Batch
from cdpcli.send.delivery import DELIVERED, Delivery, DeliveryResult, DestinationRuntime


def request_line(destination: DestinationRuntime, batch: Batch) -> bytes:
    """The dry-run line of PRODUCT.md §6 for one batch: destination, kind, method, full URL,
    headers (secrets as `***`) and the JSON body as sent before gzip.

    The items were serialized once when batched; the body's bytes are embedded as they are,
    not parsed and encoded again.
    """
    request = destination.build_request(batch)
    line = {
        "destination": destination.name,
        "kind": destination.kind,
        "method": request.method,
        "url": request.url,
        "headers": request.headers,
        "body": Fragment(request.content),
    }
    return dumps_bytes(line)


@dataclass(frozen=True, slots=True)
class DryRunRequest:
    """One request as a dry run prints it (`request_line`): the destination's name and kind, the
    method, full URL, headers (secrets as `***`), the JSON body as sent before gzip, and `line`,
    the dry-run line itself."""

    destination: str
    kind: str
    method: str
    url: str
    headers: Mapping[str, str]
    body: Any
    line: bytes = field(repr=False)

    @classmethod
    def from_line(cls, line: bytes) -> DryRunRequest:
        """The request a dry-run line describes."""
        data = loads(line)
        return cls(
            destination=data["destination"],
            kind=data["kind"],
            method=data["method"],
            url=data["url"],
            headers=data["headers"],
            body=data["body"],
            line=line,
        )


@dataclass
class DryRunDeliverer:
    """Writes each request as one JSON line and reports every item as it would be delivered."""

    write: Callable[[bytes], None]
    requests: list[int] = field(default_factory=list)

    def submit(self, delivery: Delivery) -> list[DeliveryResult]:
        self.write(request_line(delivery.destination, delivery.batch))
        return [DeliveryResult(delivery, [DELIVERED] * len(delivery.batch), 1)]

    def finish(self) -> list[DeliveryResult]:
        return []

    def poll(self) -> list[DeliveryResult]:
        return []

    def while_waiting(self, tick: Callable[[], None]) -> None:
        """Never waits."""

    def abort(self) -> list[DeliveryResult]:
        return []
