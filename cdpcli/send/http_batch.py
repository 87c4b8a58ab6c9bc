"""Delivering one batch completely: retries, splits, resends (PRODUCT.md §6 "Retries").

`BatchSender.deliver` runs in a worker thread of `cdpcli.send.http.HttpDeliverer`. It sends the
batch, reads the destination's `Verdict` for each answer and acts on it until every item
has a result:

- settled: named items get their status, the others are delivered;
- resend (an all-or-nothing refusal naming some items): named items are settled, the rest is
  sent again as a new batch;
- split (413, too_many_events): the halves are sent, recursively; a lone item is rejected;
- retry (429, 5xx) and transport errors: the same body again after a backoff, at most
  `policy.max_attempts` attempts, then `DeliveryError`; with a pacer (`cdpcli.send.pace`), every
  attempt first waits for the destination's pace, and a 429 or 503 cuts that pace and pauses
  it instead of sleeping a backoff (the pause is the retry's wait);
- auth (401/403): `CredentialsError`; reject_all: every item rejected with the message;
- a certificate that fails verification: `DeliveryError` at once (`cdpcli.send.transport`).

Each attempt has a total deadline (`policy.attempt_deadline`, `cdpcli.send.deadline`): a server
that trickles its answer or never sends one is a timeout, retried like any other.

Every text that leaves this module passes through the run's `Redactor`; headers never do.
What each attempt waits for and how it went is told to the run's `Watch` (`cdpcli.send.watch`).
"""

from __future__ import annotations

import gzip
import threading
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial

import httpx

from cdpcli import __version__
from cdpcli.destinations.base import Verdict
from cdpcli.errors import CredentialsError, DeliveryError
from cdpcli.retry import RetryPolicy
from cdpcli.secrets.redact import Redactor
from cdpcli.secrets.store import env_var_name
from cdpcli.send.batching import Batch, endpoint_label, split, subset
from cdpcli.send.deadline import attempt as attempt_deadline
from cdpcli.send.delivery import DELIVERED, Delivery, DeliveryResult, DestinationRuntime, ItemResult
from cdpcli.send.pace import THROTTLE_STATUSES, Pacer, Pacing, Ticket
from cdpcli.send.transport import certificate_error, certificate_problem
from cdpcli.send.watch import Attempt, Watch, seconds_text

USER_AGENT = f"cdpcli/{__version__}"

GZIP_LEVEL = 1
"""zlib level for the bodies of endpoints that take gzip. Measured on bench/generate.py's event
records: level 1 compresses 290 MB/s to 1/9.5, level 5 152 MB/s to 1/11.1, the default 9 slower
still. Rate limits count uncompressed bytes, and at 30k events/s level 1 sends about 18 Mbit/s:
CPU, not the uplink, is what a faster level saves."""

WAIT_NOTICE_SECONDS = 1.0
"""A wait for the pace this long or longer is reported to the `Watch`."""

RETRYABLE = (httpx.TimeoutException, httpx.NetworkError, httpx.RemoteProtocolError)
"""Transport failures worth another attempt (timeouts, refused/reset connections, an answer cut
short). Others (an unsupported URL scheme, a proxy error) will not heal by themselves."""


def _release(response: httpx.Response) -> None:
    """`client.request` has read and closed the response, but its stream still refers back to
    it: a reference cycle that keeps the exchange (request, body and all) until the cyclic
    collector runs, which the CLI has run rarely (`cdpcli.cli.app.main`). Dropping the stream
    frees it at once. (A real send leaves no other cycle behind but its thread pool's, once.)"""
    response.stream = httpx.ByteStream(b"")


class Stopped(Exception):
    """The run is stopping (abort, or another batch failed): this batch gives up quietly."""


@dataclass(slots=True)
class Tally:
    """The requests made for one delivery so far, how many of them were retries and how many
    answered 429. A delivery that ends without a result (its error stopped the run, or
    another's did) made requests too: its caller counts them."""

    requests: int = 0
    retries: int = 0
    throttled: int = 0


class BatchSender:
    """Sends batches over one shared `httpx.Client`; safe to use from several threads."""

    def __init__(
        self,
        client: httpx.Client,
        *,
        policy: RetryPolicy,
        redactor: Redactor,
        stop: threading.Event,
        rand: Callable[[], float],
        sleep: Callable[[float], None],
        pacing: Pacing | None = None,
        watch: Watch | None = None,
    ) -> None:
        self.client = client
        self.policy = policy
        self.redactor = redactor
        self.stop = stop
        self.rand = rand
        self.sleep = sleep
        self.pacing = pacing
        self.watch = watch if watch is not None else Watch()

    def deliver(self, delivery: Delivery, tally: Tally | None = None) -> DeliveryResult:
        """Deliver one batch completely; one result per item, in batch order. `tally` counts
        the requests as they are made."""
        destination, batch = delivery.destination, delivery.batch
        tally = tally if tally is not None else Tally()
        results: list[ItemResult | None] = [None] * len(batch)
        # (sub-batch, positions of its items in the original batch), oldest first.
        work: deque[tuple[Batch, list[int]]] = deque([(batch, list(range(len(batch))))])
        while work:
            current, positions = work.popleft()
            verdict = self._send(destination, current, tally)
            kind = verdict.kind
            if kind == "settled" or (kind == "resend" and verdict.items):
                rest: list[int] = []
                for index, position in enumerate(positions):
                    named = verdict.items.get(index)
                    if named is not None:
                        results[position] = ItemResult(named[0], self._clean(named[1]))
                    elif kind == "settled":
                        results[position] = DELIVERED
                    else:
                        rest.append(index)
                if rest:  # all-or-nothing: what the answer did not name must go again
                    work.appendleft((subset(current, rest), [positions[i] for i in rest]))
            elif kind == "split" and len(current) > 1:
                first, second = split(current)
                middle = len(first)
                work.appendleft((second, positions[middle:]))
                work.appendleft((first, positions[:middle]))
            elif kind == "auth":
                self.stop.set()  # nothing more is sent, by this worker or any other
                raise self._credentials_error(destination, current, verdict)
            else:  # reject_all, a lone item still too large, or a resend naming nothing
                reason = self._clean(verdict.message or f"refused ({kind})")
                for position in positions:
                    results[position] = ItemResult("rejected", reason)
        final = [r if r is not None else ItemResult("rejected", "no answer") for r in results]
        return DeliveryResult(delivery, final, tally.requests, tally.retries, tally.throttled)

    # --- one request, with its retries ----------------------------------------------------

    def _send(self, destination: DestinationRuntime, batch: Batch, tally: Tally) -> Verdict:
        request = destination.build_request(batch)
        method, url, body = request.method, request.url, request.content
        size = len(body)  # rate limits count the bytes before gzip
        headers = {**request.headers, "User-Agent": USER_AGENT}
        if request.gzip:
            del request  # the body before gzip is not kept while the batch is in flight
            body = gzip.compress(body, compresslevel=GZIP_LEVEL, mtime=0)
        parse_response = destination.destination.parse_response
        name, watch = destination.name, self.watch
        pacer = self.pacing.pacer(name) if self.pacing is not None else None
        ticket: Ticket | None = None
        attempt = 0
        while True:
            if self.stop.is_set():
                raise Stopped
            attempt += 1
            if pacer is not None:
                ticket = self._paced(pacer, name, len(batch), size)
            tally.requests += 1
            hint: float | None = None
            status: int | None = None
            started = watch.started(name, attempt, self.policy.max_attempts)
            report = self._report(name, method, url, attempt, len(batch), size, len(body))
            try:
                with attempt_deadline(self.policy.attempt_deadline):
                    response = self.client.request(method, url, headers=headers, content=body)
            except RETRYABLE as error:
                failure = label = self._clean(f"{type(error).__name__}: {error}".rstrip(": "))
                watch.ended(name, started, report and partial(report, failure))
                self._fail_on_certificate(destination, url, error)
            except httpx.HTTPError as error:
                failure = self._clean(f"{type(error).__name__}: {error}")
                watch.ended(name, started, report and partial(report, failure))
                raise self._delivery_error(destination, batch, attempt, failure) from None
            else:
                _release(response)
                status = response.status_code
                watch.ended(name, started, report and partial(report, status))
                verdict = parse_response(
                    batch.endpoint,
                    batch.items,
                    response.status_code,
                    response.headers,
                    response.content,
                )
                if verdict.kind != "retry":
                    return verdict
                hint = verdict.retry_after
                failure = self._clean(f"HTTP {response.status_code}: {verdict.message}")
                label = str(status)
            tally.throttled += status == 429
            if not self.policy.should_retry(attempt):
                raise self._delivery_error(destination, batch, attempt, failure)
            tally.retries += 1
            then = f"(attempt {attempt + 1} of {self.policy.max_attempts})"
            if ticket is not None and status in THROTTLE_STATUSES:
                assert pacer is not None
                # No backoff here: the next attempt waits for the pacer, paused for as long
                # as the server asked (or as the backoff would have been, had it not said).
                pause = (
                    min(hint, self.policy.max_hint)
                    if hint is not None
                    else self.policy.delay(attempt, server_hint=None, rand=self.rand)
                )
                throttle = pacer.throttled(ticket, pause)
                cut = f"; pace cut to {throttle.pace}" if throttle.cut else ""
                wait = seconds_text(throttle.pause)
                watch.wait(name, f"{label}, retrying in {wait} {then}{cut}")
            else:
                delay = self.policy.delay(attempt, server_hint=hint, rand=self.rand)
                watch.wait(name, f"{label}, retrying in {seconds_text(delay)} {then}")
                self.sleep(delay)

    def _fail_on_certificate(
        self, destination: DestinationRuntime, url: str, error: BaseException
    ) -> None:
        """A certificate that failed verification ends the run at once: no retry makes it
        valid (PRODUCT.md §6.1 "Certificates and proxies")."""
        problem = certificate_problem(error)
        if problem is not None:
            self.stop.set()  # nothing more is sent, by this worker or any other
            raise certificate_error(destination.name, destination.kind, url, problem) from None

    def _paced(self, pacer: Pacer, name: str, records: int, size: int) -> Ticket:
        """Wait for the destination's pace; the ticket of the attempt it lets go."""
        while True:
            ticket = pacer.reserve(records, size)
            wait = ticket.at - pacer.clock()
            if wait >= WAIT_NOTICE_SECONDS and not ticket.paused:
                self.watch.wait(name, f"pacing at {pacer.pace()}")
            if wait > 0:
                self.sleep(wait)
            if self.stop.is_set():
                raise Stopped
            if pacer.confirm(ticket):
                return ticket

    def _report(  # noqa: PLR0917 - positional: one call per attempt
        self, name: str, method: str, url: str, attempt: int, records: int, size: int, sent: int
    ) -> Callable[[int | str, float], Attempt] | None:
        """How `Watch.ended` reports an attempt, given its outcome (an HTTP status, or the text
        of the error of one that got no answer) and its seconds; None if nobody listens."""
        if not self.watch.reports_attempts:
            return None

        def report(outcome: int | str, seconds: float) -> Attempt:
            return Attempt(
                destination=name,
                method=method,
                url=self._clean(url),
                attempt=attempt,
                max_attempts=self.policy.max_attempts,
                records=records,
                size=size,
                sent=sent,
                seconds=seconds,
                status=outcome if isinstance(outcome, int) else None,
                error=outcome if isinstance(outcome, str) else None,
            )

        return report

    # --- messages ---------------------------------------------------------------------------

    def _clean(self, text: str) -> str:
        return self.redactor.text(text)

    def _delivery_error(
        self, destination: DestinationRuntime, batch: Batch, attempts: int, failure: str
    ) -> DeliveryError:
        self.stop.set()
        label = endpoint_label(destination.endpoints[batch.endpoint])
        tries = "attempt" if attempts == 1 else "attempts"
        return DeliveryError(
            self._clean(
                f"destination `{destination.name}` ({destination.kind}) {label}: still failing "
                f"after {attempts} {tries}; last error: {failure}"
            ),
            hint="the destination is down or rate limiting: re-run later (with --checkpoint the "
            "run resumes where it stopped), or raise --max-retries",
        )

    def _credentials_error(
        self, destination: DestinationRuntime, batch: Batch, verdict: Verdict
    ) -> CredentialsError:
        label = endpoint_label(destination.endpoints[batch.endpoint])
        fields = destination.destination.credential_fields(batch.endpoint)
        check = f"the secret{'s' if len(fields) > 1 else ''} {', '.join(fields)}"
        note = destination.destination.credential_note(batch.endpoint)
        if note:
            check += f" ({note})"
        name = destination.name
        return CredentialsError(
            self._clean(
                f"destination `{name}` ({destination.kind}) refused the credentials at {label}: "
                f"{verdict.message or 'unauthorized'}; nothing more was sent"
            ),
            hint=f"check {check} of `{name}`: `cdpcli config check` shows where each was found; "
            f"fix with `cdpcli keys set {name} FIELD` or {env_var_name(name, 'FIELD')}, "
            "then re-run (with --checkpoint the run resumes)",
        )
