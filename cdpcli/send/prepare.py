"""The per-event half of the send pipeline: check, filter, route and map one event, and serialize
each record it becomes. What it returns is a `Prepared` record of plain data (strings, bytes,
numbers, tuples), so the same code runs in this process or in worker processes
(`cdpcli.send.prepare_parallel`, which carries each one across as its plain tuple and rebuilds
it with `named`), and the pipeline's bookkeeping (accounting, batching, delivery, checkpoint) is
the same either way.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, NamedTuple, Protocol

from cdpcli.destinations.base import Destination, Mapped, RouteInfo
from cdpcli.events.decode import Item
from cdpcli.events.model import Event, Problem
from cdpcli.events.spec import check
from cdpcli.jsonio import dumps_bytes, dumps_kept
from cdpcli.routing.config import Config
from cdpcli.routing.router import RouteDecision, matching_routes, route_info

RESUMED, INVALID, SKIPPED, ROUTED = 0, 1, 2, 3
SKIP, REJECT = "skipped", "rejected"

EncodedRecord = tuple[str, bytes]
"""One record an event became: `(endpoint name, the item serialized)`."""


RouteOutcome = tuple[int, str | None, str | None, tuple[EncodedRecord, ...]]
"""What one route an event matched made of it: `(position, status, reason, records)`, the
route's index in `config.routes`, then status None with the `records` it became (and as
`reason`, the mapping's `Mapped.warnings` one per line, or None when it has none), or SKIP or
REJECT with the `reason`. Read by unpacking it into those names. A plain tuple: one is made per
event and route, and as a NamedTuple it cost another 1 % of a dry run's instructions (callgrind,
20k benchmark events, -j 1 and -j 2), as much as `Prepared` itself."""


class Prepared(NamedTuple):
    """One event (or invalid line) of the input, prepared.

    - `kind`: RESUMED (settled by an earlier run), INVALID (`reason` says why), SKIPPED
      (`reason`: outside the time window, or no route matches) or ROUTED (`routes`).
    - `line`, `item_index`, `in_batch`: the event's `Origin` in its input (`Origin.index`; the
      input's name is the caller's).
    - `data`: the event as read, for the rejected file: its input line (JSON bytes, see
      `original`), or the parsed event; in a worker process (`Preparer.portable`), JSON bytes, or
      None when nothing can need it, or, for a routed event that is its whole input line, the
      tuple `Preparer.piece` that locates the line in the input
      (`cdpcli.send.prepare_parallel.quoted` reads it back when a route rejects it).
    - `routes`: per matching route, in config order, what it made of the event.
    - `explained`: the `Explained` value for `--explain`, when asked for.

    Built per event, so built as `tuple.__new__(Prepared, values)`: a third of the time of
    `Prepared(...)`, whose `__new__` is Python code. It crosses from a worker process as its
    plain tuple, `tuple(prepared)` (`marshal` refuses tuple subclasses), and is rebuilt with
    `named`.
    """

    kind: int
    line: int
    item_index: int | None  # `Origin.index` (`index` would hide `tuple.index`)
    in_batch: bool
    data: Any
    reason: str | None
    routes: tuple[RouteOutcome, ...]
    explained: Explained | None


_new = tuple.__new__

named: Callable[[tuple[Any, ...]], Prepared] = functools.partial(_new, Prepared)
"""The `Prepared` whose plain tuple is `values` (`tuple(prepared)`): ~0.1 µs."""


@dataclass(frozen=True)
class Explained:
    """For `--explain`: one event and what each route made of it."""

    event: Event
    problems: list[Problem]
    outcomes: list[tuple[str, str, Mapped | str]]  # (route, destination, mapped or skip reason)
    skipped: str | None = None


class _MapEvent(Protocol):
    """`Destination.map_event` of one destination."""

    def __call__(self, event: Mapping[str, Any], *, time_ms: int, route: RouteInfo) -> Mapped: ...


class Preparer:
    """Prepares the items of one run. Holds no state that depends on earlier events, except a
    cache of the route information that is the same for every event."""

    def __init__(
        self,
        config: Config,
        destinations: Mapping[str, Destination[Any]],
        *,
        strict: bool = False,
        to: frozenset[str] | None = None,
        since_ms: int | None = None,
        until_ms: int | None = None,
        explain: bool = False,
    ) -> None:
        self.config = config
        # Set in worker processes: values must cross a process boundary (see `_portable`).
        self.portable = False
        # In a worker process, the piece of input being prepared (`cdpcli.send.prepare_parallel`):
        # a routed event's `data` is then this tuple when the event is its whole input line.
        self.piece: tuple[str, int, int, int] | None = None
        self.destinations = dict(destinations)
        self.strict = strict
        self.to = to
        self.since_ms = since_ms
        self.until_ms = until_ms
        self.explain = explain
        self._position = {id(route): n for n, route in enumerate(config.routes)}
        # Per route without `map`: what mapping its events needs, the same for every event.
        self._static: dict[str, tuple[RouteInfo, _MapEvent]] = {}

    def prepare(self, item: Item, resume_below: int = 0) -> Prepared:
        origin = item.origin
        if origin.line < resume_below:
            line, index, in_batch = origin.line, origin.index, origin.in_batch
            return _new(Prepared, (RESUMED, line, index, in_batch, None, None, (), None))
        if isinstance(item, Problem):
            explained = None
            if self.explain:
                explained = Explained(Event({}, origin, 0), [item], [], skipped="invalid")
            line, index, in_batch = origin.line, origin.index, origin.in_batch
            # The line's text (invalid UTF-8 shown as U+FFFD), for the rejected file.
            text = item.raw.strip().decode("utf-8", "replace") if item.raw is not None else None
            return _new(
                Prepared, (INVALID, line, index, in_batch, text, item.message, (), explained)
            )
        return self._event(item)

    def _event(self, event: Event) -> Prepared:
        origin = event.origin
        checked = check(event, strict=self.strict)
        data, time_ms = checked.data, checked.time_ms
        if data is None or time_ms is None:
            first = next(p for p in checked.problems if p.severity == "error")
            explained = None
            if self.explain:
                explained = Explained(event, checked.problems, [], skipped="invalid")
            data = original(event)
            return _new(
                Prepared,
                (
                    INVALID,
                    origin.line,
                    origin.index,
                    origin.in_batch,
                    _portable(data, needed=True) if self.portable else data,
                    first.detail,
                    (),
                    explained,
                ),
            )
        skipped: str | None = None
        if self.since_ms is not None and time_ms < self.since_ms:
            skipped = "before --since"
        elif self.until_ms is not None and time_ms >= self.until_ms:
            skipped = "not before --until"
        decisions = [] if skipped else self._routes(event, data)
        if not decisions:
            reason = skipped or "no route matches"
            explained = None
            if self.explain:
                explained = Explained(event, checked.problems, [], skipped=reason)
            line, index, in_batch = origin.line, origin.index, origin.in_batch
            return _new(Prepared, (SKIPPED, line, index, in_batch, None, reason, (), explained))
        outcomes: list[RouteOutcome] = []
        shown: list[tuple[str, str, Mapped | str]] | None = [] if self.explain else None
        needed = False  # whether a route may still reject the event (it needs its data then)
        # Kept in a batch here; in a worker, marshal copies them anyway.
        dump = dumps_bytes if self.portable else dumps_kept
        for decision in decisions:
            route = decision.route
            position = self._position[id(route)]
            if decision.skipped is not None:
                outcomes.append((position, SKIP, decision.skipped, ()))
                if shown is not None:
                    shown.append((route.name, route.to, decision.skipped))
                continue
            mapped = self._map(decision, data, time_ms)
            if shown is not None:
                shown.append((route.name, route.to, mapped))
            if mapped.skipped is not None:
                outcomes.append((position, SKIP, mapped.skipped, ()))
                continue
            needed = True
            if mapped.rejected is not None or not mapped.records:
                reason = mapped.rejected or "mapped to nothing"
                outcomes.append((position, REJECT, reason, ()))
            else:
                records = tuple([(r.endpoint, dump(r.item)) for r in mapped.records])
                warned = "\n".join(mapped.warnings) if mapped.warnings else None
                outcomes.append((position, None, warned, records))
        explained = Explained(event, checked.problems, shown) if shown is not None else None
        original_data = original(event)
        if self.portable:
            if needed and self.piece is not None and type(original_data) is bytes:
                # The line stays in the input: the parent re-reads it if a route rejects it.
                original_data = self.piece
            else:
                original_data = _portable(original_data, needed=needed)
        return _new(
            Prepared,
            (
                ROUTED,
                origin.line,
                origin.index,
                origin.in_batch,
                original_data,
                None,
                tuple(outcomes),
                explained,
            ),
        )

    def _routes(self, event: Event, data: dict[str, Any]) -> list[RouteDecision]:
        decisions = matching_routes(self.config, data)
        if self.to is not None:
            decisions = [d for d in decisions if d.route.to in self.to]
        if event.replay_route is not None:
            # A replayed rejection goes back only to the route that rejected it, if it still exists.
            same = [d for d in decisions if d.route.name == event.replay_route]
            if same or any(r.name == event.replay_route for r in self.config.routes):
                decisions = same
        return decisions

    def _map(self, decision: RouteDecision, data: dict[str, Any], time_ms: int) -> Mapped:
        route = decision.route
        static = self._static.get(route.name)
        if static is not None:  # a route without `map`: its RouteInfo serves every event
            info, map_event = static
        else:
            info = route_info(route, data)
            map_event = self.destinations[route.to].map_event
            if route.map is None:  # mappers never modify it
                self._static[route.name] = (info, map_event)
        return map_event(data, time_ms=time_ms, route=info)


def original(event: Event) -> Any:
    """The event as the rejected file quotes it: its input line as it was (JSON bytes), or the
    parsed event when it was part of a larger line, or the line holds a bare CR (a JSON-lines
    file must not)."""
    raw = event.raw
    if raw is not None:
        raw = raw.strip()
        if b"\r" not in raw:
            return raw
    return event.data


def _portable(data: Any, *, needed: bool) -> Any:
    """The event data of a prepared item that crosses a process boundary: JSON bytes when
    something may still need it (a rejection), None when nothing can (every route skipped)."""
    if not needed:
        return None
    return dumps_bytes(data) if type(data) is dict else data
