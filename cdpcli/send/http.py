"""The HTTP deliverer of `cdpcli send` (PRODUCT.md §6): batches in flight over one client.

`HttpDeliverer` implements the `Deliverer` protocol of `cdpcli.send.delivery`. Each submitted batch
becomes one task of a thread pool of `concurrency` workers; a task delivers its batch completely
(`cdpcli.send.http_batch.BatchSender`: retries, splits, resends) and returns a `DeliveryResult`.
`submit` blocks while `concurrency` batches are in flight, so at most that many requests are open
and the pipeline reads no further ahead than one batch per destination endpoint beyond them.

A worker's `CdpError` (credentials refused, retries exhausted) sets the stop flag, so no other
worker starts another attempt, and is raised from the next `submit` or `finish` in the caller's
thread. `abort` sets the flag, drops queued batches and abandons the requests on the wire (their
connections are shut down: `cdpcli.send.deadline`), without waiting; backoff sleeps and pace
waits wait on the same flag, so they end at once, and so every worker is free within moments
whatever the servers do. The requests of a batch that ends without a result (failed, stopped,
dropped) are added to its destination's `requests` (and `retries`, `throttled`) here, as no
result carries them.

While `submit` or `finish` waits, it calls the callback given to `while_waiting` every
`WAIT_TICK` seconds (the pipeline saves its checkpoint from there while every batch is stalled).

Every attempt first waits for its destination's pace, when the deliverer is given a `Pacing`
(`cdpcli.send.pace`: a real run always is); what the workers wait for and how each attempt went is
told to its `Watch` (`cdpcli.send.watch`), whose slow-answer notices `_wait` ticks.
"""

from __future__ import annotations

import random
import threading
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ALL_COMPLETED, FIRST_COMPLETED, Future, ThreadPoolExecutor, wait

import httpx

from cdpcli.retry import RetryPolicy
from cdpcli.secrets.redact import Redactor
from cdpcli.send.delivery import Delivery, DeliveryResult
from cdpcli.send.http_batch import BatchSender, Stopped, Tally
from cdpcli.send.pace import Pacing
from cdpcli.send.transport import Target, make_client
from cdpcli.send.watch import Watch

CLOSE_GRACE = 2.0  # seconds a worker may take to end after an abort (it is never on the wire)
WAIT_TICK = 0.1  # seconds between checks for a stop request (and ticks) while waiting on batches


class HttpDeliverer:
    """Sends batches with `concurrency` in flight; see the module docstring."""

    def __init__(
        self,
        client: httpx.Client,
        *,
        concurrency: int = 4,
        policy: RetryPolicy | None = None,
        redactor: Redactor | None = None,
        rand: Callable[[], float] = random.random,
        sleep: Callable[[float], None] | None = None,
        interrupt: threading.Event | None = None,
        abandon: Callable[[], None] | None = None,
        pacing: Pacing | None = None,
        watch: Watch | None = None,
    ) -> None:
        """`abandon` shuts down every connection of `client` (`Sockets.abandon`): without it,
        an abort leaves the requests on the wire to end by themselves."""
        if concurrency < 1:
            raise ValueError(f"concurrency must be at least 1 (got {concurrency})")
        self.concurrency = concurrency
        self.client = client
        self._stop = threading.Event()
        # The run's stop request (Ctrl-C, SIGTERM): waits for batches in flight give way to it,
        # however long their retries would take.
        self._interrupt = interrupt if interrupt is not None else threading.Event()
        self._abandon = abandon
        self._waiting: Callable[[], None] = _nothing
        self._pool = ThreadPoolExecutor(max_workers=concurrency, thread_name_prefix="cdpcli-send")
        # Each batch in flight, with its delivery and the requests made for it so far.
        self._inflight: dict[Future[DeliveryResult], tuple[Delivery, Tally]] = {}
        self._submitted: list[Future[DeliveryResult]] = []  # for `close`: still running after abort
        # Results that completed beside a failing batch: handed out by `abort`.
        self._completed: list[DeliveryResult] = []
        self._sender = BatchSender(
            client,
            policy=policy or RetryPolicy(),
            redactor=redactor or Redactor(()),
            stop=self._stop,
            rand=rand,
            sleep=sleep if sleep is not None else self._sleep,
            pacing=pacing,
            watch=watch,
        )
        self._watch = self._sender.watch
        self._closed = False

    @classmethod
    def create(
        cls,
        *,
        concurrency: int = 4,
        retry: RetryPolicy | None = None,
        secrets: Mapping[str, Mapping[str, str]] | None = None,
        interrupt: threading.Event | None = None,
        targets: Sequence[Target] = (),
        environ: Mapping[str, str] | None = None,
        pacing: Pacing | None = None,
        watch: Watch | None = None,
    ) -> HttpDeliverer:
        """The deliverer of a real run: `secrets` is `{destination: {field: value}}`, every
        value of which is masked in messages; `retry` (default `RetryPolicy()`) says how many
        attempts a request gets, how long each may take and how long to wait between them;
        `targets` are the endpoints the run reaches (`cdpcli.send.transport.targets`), which
        the environment's proxies and CA bundle (`environ`, default `os.environ`) apply to;
        `pacing` paces each destination (`cdpcli.send.pace`; default: none); `watch` is told
        what the attempts wait for and how they went (`cdpcli.send.watch`)."""
        client, sockets = make_client(concurrency, targets, environ=environ)
        return cls(
            client,
            concurrency=concurrency,
            policy=retry,
            redactor=Redactor.from_resolved(secrets or {}),
            interrupt=interrupt,
            abandon=sockets.abandon,
            pacing=pacing,
            watch=watch,
        )

    # --- the Deliverer protocol -------------------------------------------------------------

    def submit(self, delivery: Delivery) -> list[DeliveryResult]:
        """Queue one batch; blocks while `concurrency` are in flight (unless the run is asked to
        stop: the caller then ends its event and aborts); returns what completed."""
        if self._stop.is_set():
            self._raise_stop()
        if len(self._inflight) >= self.concurrency:
            self._wait(FIRST_COMPLETED)
        tally = Tally()
        future = self._pool.submit(self._sender.deliver, delivery, tally)
        self._inflight[future] = (delivery, tally)
        self._submitted = [f for f in self._submitted if not f.done()] + [future]
        return self._collect()

    def finish(self) -> list[DeliveryResult]:
        """Wait for every batch in flight; their results. Raises KeyboardInterrupt when the run
        is asked to stop meanwhile (the caller aborts what is still in flight)."""
        if not self._wait(ALL_COMPLETED):
            raise KeyboardInterrupt
        return self._collect()

    def poll(self) -> list[DeliveryResult]:
        """The results of the batches that completed, without waiting."""
        return self._collect()

    def while_waiting(self, tick: Callable[[], None]) -> None:
        """Call `tick` about every `WAIT_TICK` seconds while `submit` or `finish` waits."""
        self._waiting = tick

    def abort(self) -> list[DeliveryResult]:
        """Stop at once: no new attempt starts, backoff sleeps end, queued batches are dropped,
        and the requests on the wire are abandoned (not acknowledged, so the caller counts them
        not sent and a re-run sends them).

        Returns the results of batches that had completed but were not yet handed out, so the
        caller still counts what was delivered."""
        self._stop.set()
        if self._abandon is not None:
            self._abandon()
        completed, self._completed = self._completed, []
        for future, (delivery, tally) in self._inflight.items():
            if future.done() and not future.cancelled() and future.exception() is None:
                completed.append(future.result())
            else:
                future.cancel()
                _count_unfinished(delivery, tally)  # what it made so far (may still be on the wire)
        self._inflight.clear()
        return completed

    def close(self) -> None:
        """Release the pool and the client. After an abort, a worker gets `CLOSE_GRACE`
        seconds to end (its connections are shut down, and it sees the stop flag before any
        further attempt: moments), so its connection is closed cleanly rather than left to the
        garbage collector."""
        if self._closed:
            return
        self._closed = True
        stopped = self._stop.is_set()
        self._stop.set()
        if stopped:
            if self._abandon is not None:
                self._abandon()
            running = [f for f in self._submitted if not f.done()]
            if running:
                wait(running, timeout=CLOSE_GRACE)
        self._pool.shutdown(wait=not stopped, cancel_futures=True)
        self.client.close()

    def __enter__(self) -> HttpDeliverer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # --- internals --------------------------------------------------------------------------

    def _wait(self, return_when: str) -> bool:
        """Wait for the batches in flight as `return_when` says; False if interrupted first."""
        while not self._interrupt.is_set():
            if self._stop.is_set() and self._inflight:  # a worker stopped the run: its error
                self._raise_stop()
            done, pending = wait(self._inflight, timeout=WAIT_TICK, return_when=return_when)
            if not pending or (done and return_when == FIRST_COMPLETED):
                return True
            self._watch.tick()  # answers slow in coming are reported
            self._waiting()
        return False

    def _sleep(self, seconds: float) -> None:
        self._stop.wait(seconds)

    def _raise_stop(self) -> None:
        """The run was stopped by a worker: raise its error as soon as that worker's batch is
        done, without waiting for the other batches on the wire (the caller aborts them, as any
        stop does; what completed meanwhile is kept for `abort` to hand out)."""
        while self._inflight:
            self._completed.extend(self._collect())  # raises the worker's error once it is in
            if self._interrupt.is_set():
                raise KeyboardInterrupt
            if self._inflight:
                wait(self._inflight, timeout=WAIT_TICK, return_when=FIRST_COMPLETED)
        raise RuntimeError("HttpDeliverer used after abort()")

    def _collect(self) -> list[DeliveryResult]:
        """Results of completed batches; the first worker error is raised here instead."""
        done = [f for f in self._inflight if f.done()]
        results: list[DeliveryResult] = []
        error: BaseException | None = None
        for future in done:
            delivery, tally = self._inflight.pop(future)
            if future.cancelled():
                continue
            problem = future.exception()
            if problem is None:
                results.append(future.result())
                continue
            _count_unfinished(delivery, tally)
            if not isinstance(problem, Stopped) and error is None:
                error = problem
        if error is not None:
            self._stop.set()  # no other batch starts another attempt
            self._completed.extend(results)
            raise error
        return results


def _nothing() -> None:
    return None


def _count_unfinished(delivery: Delivery, tally: Tally) -> None:
    """Count the requests of a batch that ends without a result (in the caller's thread, which
    alone updates the counts)."""
    stats = delivery.destination.stats
    stats.requests += tally.requests
    stats.retries += tally.retries
    stats.throttled += tally.throttled
