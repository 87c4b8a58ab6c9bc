"""The destination contract: `Destination`, the abstract class each kind implements in its own
folder (`cdpcli.destinations.<kind>.destination`, found by kind with
`cdpcli.destinations.registry.get_kind`), and the values it speaks in. A destination does no I/O
and prints nothing: it turns events into records, batches of records into requests, and answers
into verdicts; the send stage does the rest.

A kind (the class) owns its config: `kind`, the route `map` keys it accepts (`map_keys`), the
catalog names an event's `integrations` may use for it (`integration_names`), its options
(`parse_options`) and the secrets a run needs (`secret_fields`). An instance is one configured
destination, `Destination(name, options, secrets)`, with `secrets=None` in a dry run (every secret
then shows as `***`): its endpoints and their limits, its mapping (`map_event`), its requests
(`build_request`, from the batch's items already serialized as one JSON array), what its answers
mean (`parse_response`), and which secrets a refusal of credentials points at
(`credential_fields`, `credential_note`), and the pace a run may send at (`rate_limits`: the
options `max_events_per_second` and `max_bytes_per_minute` every kind accepts, parsed with
`parse_rate_limits`, with the kind's own default, `default_rate_limits`).
"""

from __future__ import annotations

import math
import re
from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar, Generic, Literal, TypeVar

from cdpcli.errors import ConfigErrors

REDACTED = "***"

Locator = Callable[[str], str]
"""Given a config key under the current mapping, returns "FILE:LINE: key `a.b.c`" for messages."""


@dataclass(frozen=True, slots=True)
class SecretField:
    """One secret a destination needs: its field name (the FIELD of `cdpcli keys set DEST FIELD`)
    and what for."""

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
    """A request as it would be sent: `content` is the JSON body's bytes before any gzip, which
    the sender applies when `gzip`."""

    method: str
    url: str
    headers: dict[str, str]
    content: bytes
    gzip: bool = False


ItemStatus = Literal["duplicate", "rejected"]


@dataclass(frozen=True, slots=True)
class Verdict:
    """What a response means for the batch it answers.

    kind:
      - "settled": items named in `items` got that status; every other item was delivered.
      - "resend": items named in `items` got that status; every other item must be sent again
        as a new batch (an all-or-nothing endpoint's refusal of some items).
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


@dataclass(frozen=True, slots=True)
class RateLimits:
    """A destination's static pace (PRODUCT.md §6.1); None: no limit of that kind.

    `max_events_per_second` is a rate of records (items of request bodies);
    `max_bytes_per_minute` bounds the uncompressed request bytes of any rolling minute. Whatever
    they say, the pace also adapts to the destination's 429s (`cdpcli.send.pace`)."""

    max_events_per_second: float | None = None
    max_bytes_per_minute: int | None = None


RATE_KEYS = ("max_events_per_second", "max_bytes_per_minute")
"""The option keys of `RateLimits`, accepted by every kind."""

_BYTE_UNITS = {
    "b": 1,
    "kb": 1000,
    "mb": 1000**2,
    "gb": 1000**3,
    "kib": 1024,
    "mib": 1024**2,
    "gib": 1024**3,
}
_SIZE = re.compile(r"\s*(\d+(?:\.\d+)?|\.\d+)\s*([A-Za-z]*)\s*")


def _positive_number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    number = float(value)
    return number if math.isfinite(number) and number > 0 else None


def _byte_count(value: Any) -> int | None:
    """A positive byte count: a number, or a text such as `1.5 GB` or `60MiB`."""
    if isinstance(value, str):
        match = _SIZE.fullmatch(value)
        unit = _BYTE_UNITS.get(match.group(2).lower() or "b") if match else None
        if match is None or unit is None:
            return None
        number = float(match.group(1)) * unit
    else:
        number = _positive_number(value) or 0.0
    return round(number) if number >= 1 else None


def parse_rate_limits(raw: Mapping[str, Any], where: Locator, default: RateLimits) -> RateLimits:
    """The `max_events_per_second` and `max_bytes_per_minute` of a destination's config, each
    the `default`'s when absent; `null` removes a limit (the default's too). Raises one
    `ConfigError` holding the error of each bad key, naming file, line and key."""
    errors = ConfigErrors()
    events = default.max_events_per_second
    if "max_events_per_second" in raw:
        value = raw["max_events_per_second"]
        events = None if value is None else _positive_number(value)
        if value is not None and events is None:
            errors.add(
                where("max_events_per_second"),
                f"must be a positive number of events a second, or null for no limit, got "
                f"{value!r}",
                hint="e.g. max_events_per_second: 500",
            )
    size = default.max_bytes_per_minute
    if "max_bytes_per_minute" in raw:
        value = raw["max_bytes_per_minute"]
        size = None if value is None else _byte_count(value)
        if value is not None and size is None:
            errors.add(
                where("max_bytes_per_minute"),
                f'must be a positive number of bytes or a size such as "1.5 GB", or null for no '
                f"limit, got {value!r}",
                hint="units: B, kB, MB, GB (powers of 1000), KiB, MiB, GiB (powers of 1024)",
            )
    errors.check()
    return RateLimits(max_events_per_second=events, max_bytes_per_minute=size)


OptionsT = TypeVar("OptionsT")

EMPTY_ITEM_ARRAY = b"[{}]"
"""The body of one empty item: what `Destination.body_overhead` measures a body's wrapper with."""


class Destination(ABC, Generic[OptionsT]):
    """One configured destination of a kind: its name, its parsed options, and its secrets
    (`{field: value}`, or None in a dry run, where every secret shows as `***`).

    A subclass sets `kind`, `map_keys` and `integration_names`, and implements every abstract
    method; it may refine `credential_fields` and `credential_note`.
    """

    kind: ClassVar[str]
    """The config `kind` this class serves."""
    map_keys: ClassVar[frozenset[str]]
    """The keys a route's `map` may set for this kind (checked when the config loads)."""
    integration_names: ClassVar[tuple[str, ...]]
    """The catalog names an event's `integrations` may use for this kind, besides the
    destination's own name (reference/segment-spec.md §5)."""
    default_rate_limits: ClassVar[RateLimits] = RateLimits()
    """The pace of a destination whose config sets neither `max_events_per_second` nor
    `max_bytes_per_minute` (the kind's `parse_options` passes it to `parse_rate_limits`)."""

    def __init__(self, name: str, options: OptionsT, secrets: Mapping[str, str] | None) -> None:
        self.name = name
        self.options = options
        self.secrets = secrets

    # --- the kind: its config ------------------------------------------------------------------

    @classmethod
    @abstractmethod
    def parse_options(cls, raw: Mapping[str, Any], where: Locator) -> OptionsT:
        """Validate the destination's config keys (everything under it except `kind`); raise
        one `ConfigError` holding every error found (`cdpcli.errors.ConfigErrors`), each naming
        file, line and key (via `where(key)`) and the allowed keys or values, with a "did you
        mean" for a near miss (`cdpcli.errors.did_you_mean`)."""

    @classmethod
    @abstractmethod
    def secret_fields(cls, options: OptionsT, types: frozenset[str]) -> tuple[SecretField, ...]:
        """The secrets a run needs, given the event types its routes can send here (an empty
        `types` counts as any type)."""

    @classmethod
    def field_warnings(cls, event: Mapping[str, Any]) -> Sequence[tuple[str, str]]:
        """The values of `event` this kind cannot send as they are, whatever the options and
        routes (a value Segment's destination would fail the event over), as (field path,
        message): `validate` reports them as warnings. Default: none."""
        del event
        return ()

    # --- one configured destination ------------------------------------------------------------

    @abstractmethod
    def endpoints(self) -> Mapping[str, Endpoint]:
        """URL and limits of each endpoint, by the name its records carry (`Record.endpoint`)."""

    @abstractmethod
    def map_event(self, event: Mapping[str, Any], *, time_ms: int, route: RouteInfo) -> Mapped:
        """One validated, normalized Segment event (ids are strings, `messageId` present; its
        time `time_ms` in integer milliseconds) to the records it becomes for `route`."""

    @abstractmethod
    def build_request(self, endpoint_name: str, items_json: bytes) -> HttpRequest:
        """The request for one batch of the endpoint, whose items are `items_json`, one compact
        JSON array (the records as they were serialized when batched)."""

    @abstractmethod
    def parse_response(
        self,
        endpoint_name: str,
        items: Sequence[Mapping[str, Any]],
        status: int,
        headers: Mapping[str, str],
        body: bytes,
        *,
        now: float | None = None,
    ) -> Verdict:
        """What the answer means for each item of the batch. A retry's wait comes from
        `cdpcli.destinations.headers.parse_retry_after` at `now` (default: the clock)."""

    def credential_fields(self, endpoint_name: str) -> tuple[str, ...]:
        """The secret fields a refusal of credentials (401/403) at this endpoint points at:
        by default every secret this destination was given, sorted."""
        del endpoint_name
        return tuple(sorted(self.secrets or {}))

    def credential_note(self, endpoint_name: str) -> str | None:
        """What else such a refusal may point at besides the secrets (a config key), if any."""
        del endpoint_name
        return None

    def rate_limits(self) -> RateLimits:
        """The static pace of this destination: what its config said (`parse_rate_limits`), by
        default the kind's `default_rate_limits`. A kind whose options hold the parsed
        `RateLimits` returns them."""
        return self.default_rate_limits

    def body_overhead(self, endpoint_name: str) -> int:
        """Bytes a request body of this endpoint adds around the JSON array of its items
        (measured on a dry-run request, which needs no secret)."""
        dry = type(self)(self.name, self.options, None)
        content = dry.build_request(endpoint_name, EMPTY_ITEM_ARRAY).content
        return len(content) - len(EMPTY_ITEM_ARRAY)
