"""Values every destination module speaks in. Destination modules are pure: no I/O, no printing.

A destination module (`mixpanel.py`, `lago.py`) provides:

- `KIND`: the config `kind` it serves.
- `MAP_KEYS`: the keys a route's `map` may set for it (checked when the config loads).
- `parse_options(raw: Mapping[str, Any], where: Locator) -> Options`: validate the destination's
  config keys (everything under the destination except `kind`), raising `ConfigError` that names
  file, line and key (via `where(key)`) and lists the allowed keys or values.
- `secret_fields(options, types: frozenset[str]) -> tuple[SecretField, ...]`: the secrets a run
  needs, given the event types its routes can send there.
- `map_event(event, *, time_ms, route, options, token) -> Mapped`: one validated, normalized
  Segment event (ids are strings, `messageId` present) to the records it becomes.
- `endpoints(options) -> Mapping[str, Endpoint]`: URL and limits of each endpoint.
- `build_request(options, endpoint, items, secrets) -> HttpRequest`: the request for a batch;
  with `secrets=None` (dry run) every secret shows as `***`.
- `parse_response(endpoint, items, status, headers, body, *, now=None) -> Verdict`: what the
  answer means for each item of the batch; a retry's wait comes from `cdpcli.send.retry`'s reading
  of `Retry-After` and `X-RateLimit-Reset` at `now` (default: the clock).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

REDACTED = "***"

Locator = Callable[[str], str]
"""Given a config key under the current mapping, returns "FILE:LINE: key `a.b.c`" for messages."""


@dataclass(frozen=True, slots=True)
class SecretField:
    """One secret a destination needs: its field name (`service_account_secret`) and what for."""

    field: str
    purpose: str


@dataclass(slots=True)  # built per event: a frozen dataclass costs 4x to construct
class RouteInfo:
    """What a mapper needs to know about the route an event took.

    `qualifier` is None for the first route (in config order) feeding this destination, and the
    route's name for a second or later one: ids derived for it are qualified so they never collide
    (reference/mixpanel.md §3a, reference/lago.md §5). `overrides` is the route's `map`, already
    evaluated against the event (templates resolved, JSON types kept); empty when none.
    """

    name: str
    qualifier: str | None = None
    overrides: Mapping[str, Any] = field(default_factory=dict)


@dataclass(slots=True)  # built per event: a frozen dataclass costs 4x to construct
class Record:
    """One item of a request body, bound for one endpoint of the destination."""

    endpoint: str
    item: dict[str, Any]


@dataclass(slots=True)  # built per event: a frozen dataclass costs 4x to construct
class Mapped:
    """What one event became for one route: records, or a reason it was skipped or rejected."""

    records: tuple[Record, ...] = ()
    skipped: str | None = None
    rejected: str | None = None
    warnings: tuple[str, ...] = ()  # "<event path>: <message>": a value not sent as it came


@dataclass(frozen=True, slots=True)
class Endpoint:
    """One endpoint and its limits. `max_item_bytes` bounds one serialized item."""

    name: str
    url: str
    max_items: int
    max_request_bytes: int
    max_item_bytes: int
    gzip: bool


@dataclass(frozen=True, slots=True)
class HttpRequest:
    """A request as it would be sent: `body` is the JSON value before any gzip."""

    method: str
    url: str
    headers: dict[str, str]
    body: Any
    gzip: bool = False


ItemStatus = Literal["duplicate", "rejected"]


@dataclass(frozen=True, slots=True)
class Verdict:
    """What a response means for the batch it answers.

    kind:
      - "settled": items named in `items` got that status; every other item was delivered.
      - "resend": items named in `items` got that status; every other item must be sent again
        as a new batch (Lago's all-or-nothing 422).
      - "retry": nothing was accepted; send the same batch again after a backoff
        (`retry_after` seconds if the server said so).
      - "split": the batch is too large (413, too_many_events); send it again in halves.
      - "auth": credentials refused (401/403): stop the run.
      - "reject_all": the request itself was refused (e.g. 400 malformed); every item rejected
        with `message`.
    """

    kind: Literal["settled", "resend", "retry", "split", "auth", "reject_all"]
    items: Mapping[int, tuple[ItemStatus, str]] = field(default_factory=dict)
    message: str = ""
    retry_after: float | None = None
