"""The send pipeline (PRODUCT.md §6): read → validate → route → map → batch → deliver.

One implementation for real runs and dry runs: the only difference is the deliverer at the end
(`DryRunDeliverer` writes request lines; `cdpcli.send.http.HttpDeliverer` sends them). The per-event
work (validate, route, map, serialize) is `cdpcli.send.prepare`, done in this process or, for large
inputs with `--jobs`, in worker processes (`cdpcli.send.prepare_parallel`); everything after it (the
accounting, batching, delivery, rejected file and checkpoint) is here, in one process, so a run
is the same whichever way its events were prepared.

Accounting: every event read is `invalid`, or for each route it matched ends in exactly one of
delivered, duplicate, rejected or skipped; an event that matched no route (or lies outside the
time window, or was settled by an earlier run) is skipped once. So
`delivered + duplicates + rejected + skipped == events_read - invalid + extra_routes`, where
`extra_routes` counts the second and later routes of events that matched several; and per
destination `routed == delivered + duplicates + rejected + skipped + not_sent`. A fatal stop
(credentials refused, retries exhausted, interrupt) leaves some routes `not_sent`; they are not
settled, the checkpoint does not pass them, and re-running sends them. (While the run goes, a
destination's `not_sent` counts its routes waiting for an answer; the summary's is their sum
once the run has stopped.)

The same run counted once per input event (`SendSummary.events`, what the summary line says):
each event read is invalid, or ends in exactly one of not sent, rejected, delivered, duplicate or
skipped, its worst outcome over the routes it took (in that order: an event delivered by one
route and rejected by another is rejected; one that no route took is skipped), so
`invalid + events.total == events_read`.
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field, replace
from typing import Any

from cdpcli.errors import CdpError, Interrupted
from cdpcli.events.model import Origin
from cdpcli.events.progress import Every
from cdpcli.events.reader import InputFile, is_json_document
from cdpcli.routing.config import Config, Route
from cdpcli.send import rejected as rejected_records
from cdpcli.send.batching import NOTHING_ADDED, Batch
from cdpcli.send.checkpoint import Checkpoint, Watermarks
from cdpcli.send.delivery import (
    Deliverer,
    Delivery,
    DeliveryResult,
    DestinationRuntime,
    DestinationStats,
    Status,
)
from cdpcli.send.prepare import (
    INVALID,
    RESUMED,
    SKIP,
    SKIPPED,
    EncodedRecord,
    Explained,
    Prepared,
    Preparer,
)
from cdpcli.send.prepare_parallel import (
    Parallelism,
    fork_notes,
    prepared_items,
    quoted,
    start_workers,
)
from cdpcli.send.rejected import RejectedFile
from cdpcli.workers.pool import WorkerPool

CHECKPOINT_EVERY_SECONDS = 1.0
FLUSH_INTERVAL_SECONDS = 1.0


@dataclass(frozen=True)
class SendOptions:
    """The filters of one run (PRODUCT.md §6)."""

    to: frozenset[str] | None = None
    since_ms: int | None = None  # inclusive
    until_ms: int | None = None  # exclusive
    limit: int | None = None
    strict: bool = False


@dataclass
class EventOutcomes:
    """A run's events (not routes) by outcome: each event read and not invalid is in exactly one
    (see the module docstring), so `SendSummary.invalid + total == SendSummary.events_read`."""

    delivered: int = 0  # by at least one route, and rejected by none
    duplicates: int = 0  # every route that took it already had it
    rejected: int = 0  # by at least one route (the rejected file has it)
    skipped: int = 0  # no route took it (settled by an earlier run included)
    not_sent: int = 0  # some route of it was left unsent by a run that stopped

    @property
    def total(self) -> int:
        return self.delivered + self.duplicates + self.rejected + self.skipped + self.not_sent


@dataclass
class SendSummary:
    """The counts of a run; see the module docstring for how they add up."""

    events_read: int = 0
    invalid: int = 0
    delivered: int = 0
    duplicates: int = 0
    rejected: int = 0
    skipped: int = 0
    not_sent: int = 0
    resumed: int = 0
    destinations: dict[str, DestinationStats] = field(default_factory=dict)
    dry_run: bool = False
    # The outcomes by input event (in the JSON summary as "events"), and how long the run took
    # (not in the JSON summary: a dry run's JSON is the same, byte for byte, run after run).
    events: EventOutcomes = field(default_factory=EventOutcomes)
    seconds: float = 0.0
    # For progress displays only (not part of the summary): input bytes read and in all.
    bytes_done: int = 0
    bytes_total: int | None = None

    @property
    def warnings(self) -> int:
        """Values left out of what was sent, every destination's (`DestinationStats.warnings`)."""
        return sum(stats.warnings for stats in self.destinations.values())

    def as_dict(self) -> dict[str, Any]:
        return {
            "kind": "summary",
            "dry_run": self.dry_run,
            "events_read": self.events_read,
            "invalid": self.invalid,
            "delivered": self.delivered,
            "duplicates": self.duplicates,
            "rejected": self.rejected,
            "skipped": self.skipped,
            "not_sent": self.not_sent,
            "resumed": self.resumed,
            "retries": sum(s.retries for s in self.destinations.values()),
            "throttled": sum(s.throttled for s in self.destinations.values()),
            "warnings": self.warnings,
            "events": {
                "delivered": self.events.delivered,
                "duplicates": self.events.duplicates,
                "rejected": self.events.rejected,
                "skipped": self.events.skipped,
                "not_sent": self.events.not_sent,
            },
            "destinations": {name: s.as_dict() for name, s in self.destinations.items()},
        }


@dataclass(frozen=True)
class SendResult:
    """A finished (or stopped) run: the summary, the error that stopped it, if any, and notes
    for the user about how it ran (e.g. in one process although `--jobs` asked for more)."""

    summary: SendSummary
    error: CdpError | None = None
    notes: tuple[str, ...] = ()


class _Settlement:
    """One event on one route: done when every record it became has an answer."""

    __slots__ = (
        "destination",
        "event",
        "line",
        "prepared",
        "reason",
        "remaining",
        "route",
        "source",
        "status",
    )

    def __init__(  # noqa: PLR0917 - positional: one per routed event
        self,
        prepared: Prepared,
        route: Route,
        destination: DestinationRuntime,
        source: str,
        line: Any = None,
        remaining: int = 0,
        event: _Event | None = None,
    ) -> None:
        self.prepared = prepared
        self.event = event  # None: the event's only route
        self.route = route
        self.destination = destination
        self.source = source
        self.line = line
        self.remaining = remaining
        self.status: Status = "duplicate"
        self.reason: str | None = None

    def record(self, status: Status, reason: str | None) -> bool:
        """Count one record's answer; True when the settlement is complete."""
        if status == "rejected":
            if self.status != "rejected":
                self.status, self.reason = "rejected", reason
        elif status == "delivered" and self.status == "duplicate":
            self.status = "delivered"
        self.remaining -= 1
        return self.remaining == 0


# An event's outcome is the worst of its routes', in this order (see the module docstring).
_SKIPPED, _DUPLICATE, _DELIVERED, _REJECTED = range(4)
_RANK: dict[Status, int] = {"duplicate": _DUPLICATE, "delivered": _DELIVERED, "rejected": _REJECTED}


class _Event:
    """An event that took several routes, until every one of them is settled."""

    __slots__ = ("open", "worst")

    def __init__(self, open_routes: int) -> None:
        self.open = open_routes
        self.worst = _SKIPPED


class Pipeline:
    """One run over the inputs. Build it, then call `run`."""

    def __init__(
        self,
        config: Config,
        destinations: Mapping[str, DestinationRuntime],
        deliverer: Deliverer,
        *,
        options: SendOptions,
        rejected: RejectedFile | None = None,
        checkpoint: Checkpoint | None = None,
        explain: Callable[[Explained], None] | None = None,
        clock: Callable[[], float] = time.monotonic,
        progress: Callable[[SendSummary], None] | None = None,
        stop: threading.Event | None = None,
        parallelism: Parallelism | None = None,
        flush_interval: float = FLUSH_INTERVAL_SECONDS,
    ) -> None:
        self.config = config
        self.destinations = destinations
        self.deliverer = deliverer
        self.options = options
        self.rejected = rejected
        self.checkpoint = checkpoint
        self.explain = explain
        self.clock = clock
        self.progress = progress
        # Set by a signal handler: the run stops between two events (so every event read is
        # accounted for), saves the checkpoint and reports an interruption.
        self.stop = stop if stop is not None else threading.Event()
        self.summary = SendSummary(destinations={name: d.stats for name, d in destinations.items()})
        self.watermarks = Watermarks(start=checkpoint.load() if checkpoint else {})
        self._watermarks = checkpoint is not None  # only a checkpoint needs them
        self._last_save = clock()
        self._pending_events = 0  # events of which some route is not settled
        self._progress_due = Every(clock=clock)
        self.parallelism = parallelism or Parallelism()
        self.preparer = Preparer(
            config,
            {name: d.destination for name, d in destinations.items()},
            strict=options.strict,
            to=options.to,
            since_ms=options.since_ms,
            until_ms=options.until_ms,
            explain=explain is not None,
        )
        self._routes = [(route, destinations.get(route.to)) for route in config.routes]
        self._workers: WorkerPool | None = None
        self._position: Callable[[], int] = lambda: self.summary.bytes_done
        # Time goes on while the run waits: on the deliverer (every batch stalled) and on a
        # live input (stdin, a pipe). Both wait in small steps and tick this pipeline.
        self.flush_interval = flush_interval
        self._reading: str | None = None  # the input `_tick` may close lines of
        deliverer.while_waiting(self._maybe_save)

    # --- the run -------------------------------------------------------------------------

    def run(self, inputs: Iterable[InputFile], *, stdin: Any = None) -> SendResult:
        files = list(inputs)
        notes = fork_notes(files, self.preparer, self.parallelism)
        # Worker processes are forked first, before the sender starts any thread.
        self._workers = start_workers(files, self.preparer, self.parallelism)
        try:
            result = self._run(files, stdin)
            return replace(result, notes=notes) if notes else result
        finally:
            if self._workers is not None:
                self._workers.close()

    def _run(self, files: list[InputFile], stdin: Any) -> SendResult:
        started = self.clock()
        try:
            return self._run_files(files, stdin)
        finally:
            self.summary.seconds = self.clock() - started
            if self.progress is not None:
                self.progress(self.summary)

    def _run_files(self, files: list[InputFile], stdin: Any) -> SendResult:
        sizes = [f.size for f in files]
        if all(size is not None for size in sizes):
            self.summary.bytes_total = sum(size or 0 for size in sizes)
        finished = 0
        try:
            for input_file, size in zip(files, sizes, strict=True):
                self._read(input_file, stdin, self._track_position(finished))
                finished += size or 0
                self.summary.bytes_done = finished
                if self._limit_reached():
                    break
            for destination in self.destinations.values():
                for batch in destination.batcher.flush():
                    self._submit(destination, batch)
            self._settle(self.deliverer.finish())
        except KeyboardInterrupt:
            return self._wind_down(None)
        except CdpError as error:
            return self._wind_down(error)
        try:
            self._stop()
        except CdpError as error:  # the rejected file or the checkpoint cannot be written
            return SendResult(self.summary, error)
        return SendResult(self.summary)

    def _wind_down(self, error: CdpError | None) -> SendResult:
        """End a run stopped by an interruption (`error` None) or a fatal error: count what
        had completed, abandon what is in flight (not acknowledged: not sent), then close the
        rejected file and save the checkpoint. A further interruption meanwhile (a second
        Ctrl-C) cuts this short; the summary is returned all the same."""
        try:
            self._settle_quietly(self.deliverer.abort())
            try:
                self._stop()
            except CdpError as failed:
                # Interrupted, and the checkpoint could not be saved; after an error, the first
                # error is the one to report (a second one is often the same full disk).
                return SendResult(self.summary, error or failed)
        except KeyboardInterrupt:
            self.summary.not_sent = self._not_sent()
            self.summary.events.not_sent = self._pending_events
            return SendResult(
                self.summary,
                error
                or Interrupted(
                    "interrupted again while stopping; the checkpoint may be older than the "
                    "work acknowledged"
                    if self.checkpoint
                    else "interrupted (no --checkpoint: a re-run starts over)",
                    hint="re-run the same command to resume" if self.checkpoint else None,
                ),
            )
        return SendResult(
            self.summary,
            error
            or Interrupted(
                "interrupted; the checkpoint was saved"
                if self.checkpoint
                else "interrupted (no --checkpoint: a re-run starts over)",
                hint="re-run the same command to resume" if self.checkpoint else None,
            ),
        )

    def _not_sent(self) -> int:
        return sum(d.stats.not_sent for d in self.destinations.values())

    def _settle_quietly(self, results: list[DeliveryResult]) -> None:
        """Count what was delivered before a stop, without starting anything new."""
        with contextlib.suppress(CdpError):
            self._count(results)

    def _track_position(self, finished: int) -> Callable[[Any], None]:
        """Keeps `summary.bytes_done` current for progress displays, from the file position."""

        def opened(handle: Any) -> None:
            self._position = lambda: finished + handle.tell()

        return opened

    def _stop(self) -> None:
        """Close the rejected file, then save the checkpoint (never past a rejection that did
        not reach the disk: if the rejected file fails, the last checkpoint stays)."""
        self.summary.not_sent = self._not_sent()
        self.summary.events.not_sent = self._pending_events
        if self.rejected is not None:
            self.rejected.close()
        if self.checkpoint is not None:
            self.checkpoint.save(self.watermarks.snapshot())

    def _limit_reached(self) -> bool:
        limit = self.options.limit
        return limit is not None and self.summary.events_read >= limit

    def _read(self, input_file: InputFile, stdin: Any, opened: Callable[[Any], None]) -> None:
        source = input_file.name
        resume_below = self.watermarks.resume_line(source)
        items = prepared_items(
            input_file,
            self.preparer,
            parallelism=self.parallelism,
            workers=self._workers,
            resume_below=resume_below,
            stdin=stdin,
            opened=opened,
            tick=self._tick,
        )
        # While a live input waits for its next line, the lines read so far are whole (in JSON
        # lines: a JSON document may stop inside a line): `_tick` may close the last one.
        self._reading = None if is_json_document(input_file) else source
        stopped = self.stop.is_set
        apply = self._apply
        summary, limit = self.summary, self.options.limit
        try:
            for prepared in items:
                if stopped():
                    raise KeyboardInterrupt
                apply(source, prepared)
                if limit is not None and summary.events_read >= limit:
                    break  # before asking for more input: the rest may never come (/dev/zero)
        finally:
            items.close()  # stops any worker processes at once
        if self._watermarks:
            self.watermarks.finish_source(source)
        self._maybe_save()

    def _apply(self, source: str, prepared: Prepared) -> None:
        """The bookkeeping of one prepared item: count it, and batch what it became."""
        kind, line = prepared.kind, prepared.line
        summary = self.summary
        summary.events_read += 1
        state = self.watermarks.open_line(source, line) if self._watermarks else None
        if kind == RESUMED:
            summary.resumed += 1
            summary.skipped += 1
            summary.events.skipped += 1
            return
        if kind == INVALID:
            summary.invalid += 1
            if self.rejected is not None:
                self.rejected.write(
                    rejected_records.record(
                        event=prepared.data,
                        origin=Origin(source, line, prepared.item_index, prepared.in_batch),
                        reason=f"invalid: {prepared.reason}",
                    )
                )
        elif kind == SKIPPED:
            summary.skipped += 1
            summary.events.skipped += 1
        else:
            routes = self._routes
            outcomes = prepared.routes
            event = None  # its only route settles the event
            if len(outcomes) != 1:  # several routes (one more, held until all are batched)
                event = _Event(1 + sum(1 for outcome in outcomes if outcome[1] is None))
                self._pending_events += 1
            done = 0
            try:
                for position, status, why, records in outcomes:
                    route, destination = routes[position]
                    assert destination is not None  # the preparer routes only to these
                    stats = destination.stats
                    stats.routed += 1
                    if status is None:
                        if why is not None:  # values the mapping left out
                            stats.warnings += why.count("\n") + 1
                        self._batch(prepared, source, state, route, destination, records, event)
                    elif status == SKIP:
                        stats.skipped += 1
                        summary.skipped += 1
                        if event is None:
                            summary.events.skipped += 1
                    else:  # rejected by the mapping
                        self._rejected_now(prepared, source, route, destination, why, event)
                    done += 1
                if event is not None:  # every route is batched: release the hold
                    self._event_route_settled(event, _SKIPPED)
            except BaseException:
                # The run stops inside this event (a delivery error, a rejected record that
                # cannot be written): the route that failed is pending, and so are the later
                # ones, so that the summary still adds up (they are not sent).
                for position, *_ in outcomes[done + 1 :]:
                    later = routes[position][1]
                    assert later is not None
                    later.stats.routed += 1
                    later.stats.not_sent += 1
                raise
        explained = prepared.explained
        if explained is not None and self.explain is not None:
            self.explain(explained)

    def _rejected_now(  # noqa: PLR0917 - positional: one call per rejected route
        self,
        prepared: Prepared,
        source: str,
        route: Route,
        destination: DestinationRuntime,
        why: str | None,
        event: _Event | None,
    ) -> None:
        """A route whose mapping rejected the event: settled at once."""
        rejected = _Settlement(prepared, route=route, destination=destination, source=source)
        rejected.status, rejected.reason = "rejected", why
        # Not sent, until the rejected file has it (writing it can fail).
        destination.stats.not_sent += 1
        if event is None:
            self._pending_events += 1
        self._final(rejected)
        destination.stats.not_sent -= 1
        if event is None:
            self._pending_events -= 1
            self.summary.events.rejected += 1
        else:
            event.worst = _REJECTED

    def _batch(  # noqa: PLR0917 - positional: one call per routed event
        self,
        prepared: Prepared,
        source: str,
        state: Any,
        route: Route,
        destination: DestinationRuntime,
        records: tuple[EncodedRecord, ...],
        event: _Event | None,
    ) -> None:
        settlement = _Settlement(prepared, route, destination, source, state, len(records), event)
        if state is not None:
            self.watermarks.hold(state)
        destination.stats.not_sent += 1
        if event is None:
            self._pending_events += 1
        add = destination.batcher.add
        for endpoint, encoded in records:
            added = add(endpoint, encoded, settlement)
            if added is not NOTHING_ADDED:
                if added.refused is not None:
                    self._answer(settlement, "rejected", added.refused.reason)
                for batch in added.batches:
                    self._submit(destination, batch)

    # --- delivery and settlement -----------------------------------------------------------

    def _submit(self, destination: DestinationRuntime, batch: Batch) -> None:
        # A stop request is acted on between two events (`_read`), never inside one: every
        # route of an event read is accounted for.
        self._settle(self.deliverer.submit(Delivery(destination, batch)))

    def _settle(self, results: list[DeliveryResult]) -> None:
        self._count(results)
        if results:
            self._maybe_save()
            if self.progress is not None and self._progress_due.due():
                with contextlib.suppress(OSError, ValueError):  # a closed handle: keep the last
                    self.summary.bytes_done = self._position()
                self.progress(self.summary)

    def _count(self, results: list[DeliveryResult]) -> None:
        answer = self._answer
        summary = self.summary
        for result in results:
            stats = result.delivery.destination.stats
            stats.requests += result.requests
            stats.retries += result.retries
            stats.throttled += result.throttled
            delivered = 0
            try:
                for tag, item in zip(result.delivery.batch.tags, result.results, strict=True):
                    if (
                        tag.remaining == 1
                        and tag.line is None
                        and tag.event is None
                        and item.status == "delivered"
                        and tag.status == "duplicate"
                    ):
                        # The common case, counted inline: the one record of an event's only
                        # route delivered (what `_answer` and `_final` do, without a checkpoint
                        # to advance).
                        tag.remaining = 0
                        tag.status = "delivered"
                        delivered += 1
                    else:
                        answer(tag, item.status, item.reason)
            finally:  # also when an answer fails (its rejected record cannot be written)
                stats.not_sent -= delivered
                self._pending_events -= delivered
                stats.delivered += delivered
                summary.delivered += delivered
                summary.events.delivered += delivered

    def _answer(self, settlement: _Settlement, status: Status, reason: str | None) -> None:
        if settlement.record(status, reason):
            self._final(settlement)  # first: if it fails, the route is still not sent
            settlement.destination.stats.not_sent -= 1
            event = settlement.event
            if event is None:
                self._pending_events -= 1
                self._event_settled(_RANK[settlement.status])
            else:
                self._event_route_settled(event, _RANK[settlement.status])
            if settlement.line is not None:
                self.watermarks.release(settlement.source, settlement.line)

    def _event_route_settled(self, event: _Event, outcome: int) -> None:
        """One more route of an event of several settled with `outcome`."""
        event.worst = max(event.worst, outcome)
        event.open -= 1
        if event.open == 0:
            self._pending_events -= 1
            self._event_settled(event.worst)

    def _event_settled(self, outcome: int) -> None:
        events = self.summary.events
        if outcome == _DELIVERED:
            events.delivered += 1
        elif outcome == _DUPLICATE:
            events.duplicates += 1
        elif outcome == _REJECTED:
            events.rejected += 1
        else:
            events.skipped += 1

    def _final(self, settlement: _Settlement) -> None:
        """Count a settled event-route, and write it to the rejected file if it was rejected."""
        status = settlement.status
        stats = settlement.destination.stats
        summary = self.summary
        if status == "delivered":
            stats.delivered += 1
            summary.delivered += 1
        elif status == "duplicate":
            stats.duplicates += 1
            summary.duplicates += 1
        else:
            if self.rejected is not None:
                prepared = settlement.prepared
                origin = Origin(
                    settlement.source, prepared.line, prepared.item_index, prepared.in_batch
                )
                self.rejected.write(
                    rejected_records.record(
                        event=quoted(prepared.data, prepared.line),
                        origin=origin,
                        reason=settlement.reason or "rejected",
                        destination=settlement.destination.name,
                        route=settlement.route.name,
                    )
                )
            stats.rejected += 1
            summary.rejected += 1

    def _tick(self) -> None:
        """Called at least every tenth of a second while a live input is read, between two
        events (`cdpcli.events.live`): acts on a stop request, counts the answers that came,
        sends the partial batches whose oldest record has waited `flush_interval` (PRODUCT.md
        §6.1 "Time-based flush"), and saves the checkpoint when due. Files are read without it:
        their batches fill first."""
        if self.stop.is_set():
            raise KeyboardInterrupt
        if self._watermarks and self._reading is not None:
            self.watermarks.close_line(self._reading)
        self._settle(self.deliverer.poll())
        waited = self.clock() - self.flush_interval
        for destination in self.destinations.values():
            for batch in destination.batcher.overdue(waited):
                self._submit(destination, batch)
        self._maybe_save()

    def _maybe_save(self) -> None:
        """Save the checkpoint if a second went by since the last save: after answers, and
        while the run waits (on a stalled destination, on a live input), so that acknowledged
        work is on disk within about a second (PRODUCT.md §6.1)."""
        if self.checkpoint is None:
            return
        now = self.clock()
        if now - self._last_save >= CHECKPOINT_EVERY_SECONDS:
            self._last_save = now
            if self.rejected is not None:
                self.rejected.flush()  # a rejection is on disk before the checkpoint passes it
            self.checkpoint.save(self.watermarks.snapshot())
