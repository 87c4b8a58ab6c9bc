"""The dry-run deliverer: the pipeline's last stage when nothing is sent (PRODUCT.md §6
`--dry-run`). It writes each request as one JSON line and reports every item as it would be
delivered; the HTTP deliverer (`cdpcli.send.http`) is its twin for a real run."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from cdpcli.jsonio import Fragment, dumps_bytes
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
