"""`cdpcli send` as one library call: load the config, find the secrets, build the destinations,
run the pipeline with the dry-run or the HTTP deliverer, and return the result."""

from __future__ import annotations

import io
import os
import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, BinaryIO

from cdpcli.destinations.registry import get_kind
from cdpcli.errors import UsageError
from cdpcli.events.objects import ObjectStores
from cdpcli.events.reader import InputFile, find_inputs
from cdpcli.events.validate import EVENT_SOURCE
from cdpcli.jsonio import dumps_bytes
from cdpcli.retry import RetryPolicy
from cdpcli.routing.config import Config, load_config
from cdpcli.send.batching import Batcher
from cdpcli.send.checkpoint import Checkpoint, fingerprint
from cdpcli.send.delivery import Deliverer, DestinationRuntime, DestinationStats
from cdpcli.send.dry_run import DryRunDeliverer, DryRunRequest
from cdpcli.send.outputs import OutputFiles
from cdpcli.send.pipeline import (
    FLUSH_INTERVAL_SECONDS,
    Pipeline,
    SendOptions,
    SendResult,
    SendSummary,
)
from cdpcli.send.prepare import Explained
from cdpcli.send.prepare_parallel import Parallelism
from cdpcli.send.rejected import RejectedFile
from cdpcli.send.transport import targets
from cdpcli.send.watch import AttemptCallback, StatusCallback


@dataclass(frozen=True)
class SendRequest:
    """Everything `cdpcli send` was asked to do."""

    paths: Sequence[str]
    config_path: Path
    dry_run: bool = False
    options: SendOptions = field(default_factory=SendOptions)
    rejected_path: Path | None = None
    checkpoint_path: Path | None = None
    output_path: Path | None = None  # dry run: the request lines go to this file
    concurrency: int = 4
    jobs: int = 1  # processes preparing events (see cdpcli.send.prepare_parallel)
    retry: RetryPolicy = field(default_factory=RetryPolicy)  # attempts and backoff per request
    allow_insecure_http: bool = False
    # A live input's partial batch goes out once its oldest record waited this long (seconds).
    flush_interval: float = FLUSH_INTERVAL_SECONDS
    max_rate: float | None = None  # events a second, at most, to each destination (--max-rate)


def send(
    request: SendRequest,
    *,
    write_request: Callable[[bytes], None] | None = None,
    explain: Callable[[Explained], None] | None = None,
    progress: Callable[[SendSummary], None] | None = None,
    environ: Mapping[str, str] | None = None,
    stdin: BinaryIO | None = None,
    stop: threading.Event | None = None,
    deliverer_factory: Callable[[Config, Mapping[str, DestinationRuntime]], Deliverer]
    | None = None,
    objects: ObjectStores | None = None,
    status: StatusCallback | None = None,
    attempts: AttemptCallback | None = None,
) -> SendResult:
    """Run one send. `write_request` receives each dry-run request line (dry run only), unless
    `request.output_path` names a file for them. The checkpoint and rejected file are checked and
    locked before anything is read or sent, and released when the run ends
    (`cdpcli.send.outputs`). `objects` reads `s3://` / `gs://` inputs (default: retried like
    deliveries, with the request's retry policy). In a real run, `status(destination, message)` is
    told what a destination waits for (a retry, its pace, a slow answer; "" when it no longer
    waits) and `attempts` gets each HTTP attempt once it ended (`cdpcli.send.watch`); both are
    called from the sending threads."""
    with OutputFiles() as outputs:  # the files of the run, claimed until it ends
        config = load_config(request.config_path)
        if objects is None:
            objects = ObjectStores(retry=request.retry, stop=stop)
        found = find_inputs(request.paths, objects=objects)
        inputs = found.files
        selected = _selected(config, request.options.to)
        write_request = outputs.claim(
            [i.path for i in inputs],
            checkpoint=request.checkpoint_path,
            rejected=request.rejected_path,
            output=request.output_path,
            dry_run=request.dry_run,
            write_request=write_request,
        )
        secrets: dict[str, dict[str, str]] | None = None
        if not request.dry_run:
            from cdpcli.secrets.store import SecretStore

            secrets = SecretStore(os.environ if environ is None else environ).resolve(
                config, selected
            )
        destinations = {
            name: _runtime(config, name, None if secrets is None else secrets.get(name, {}))
            for name in selected
        }
        # How each endpoint is reached (the https rule), checked for dry runs and real runs alike.
        reached = targets(destinations, allow_insecure_http=request.allow_insecure_http)
        checkpoint = None
        if request.checkpoint_path is not None:
            checkpoint = Checkpoint(
                request.checkpoint_path,
                fingerprint(
                    config_text=Path(config.path).read_text(encoding="utf-8"),
                    inputs=[i.name for i in inputs],
                    options=_bound_options(request),
                ),
                read_only=request.dry_run,
                objects={f.name: f.object.binding for f in inputs if f.object is not None},
            )
        resuming = checkpoint is not None and checkpoint.path.exists()
        rejected = (
            RejectedFile(request.rejected_path, append=resuming)
            if request.rejected_path is not None
            else None
        )
        deliverer: Deliverer
        if request.dry_run:
            deliverer = DryRunDeliverer(write_request or (lambda _line: None))
        elif deliverer_factory is not None:
            deliverer = deliverer_factory(config, destinations)
        else:
            from cdpcli.send.http import HttpDeliverer
            from cdpcli.send.pace import Pacing
            from cdpcli.send.watch import Watch

            deliverer = HttpDeliverer.create(
                concurrency=request.concurrency,
                retry=request.retry,
                secrets=secrets or {},
                interrupt=stop,
                targets=reached,
                environ=environ,
                pacing=Pacing(
                    {name: d.destination.rate_limits() for name, d in destinations.items()},
                    max_rate=request.max_rate,
                ),
                watch=Watch(status=status, attempt=attempts),
            )
        pipeline = Pipeline(
            config,
            destinations,
            deliverer,
            options=request.options,
            rejected=rejected,
            checkpoint=checkpoint,
            explain=explain,
            progress=progress,
            stop=stop,
            parallelism=Parallelism(jobs=request.jobs),
            flush_interval=request.flush_interval,
        )
        pipeline.summary.dry_run = request.dry_run
        try:
            result = pipeline.run(inputs, stdin=stdin)
            return replace(result, notes=found.notes + result.notes) if found.notes else result
        finally:
            close = getattr(deliverer, "close", None)
            if close is not None:
                try:
                    close()
                except KeyboardInterrupt:
                    # A second stop request while closing: what was in flight is abandoned already
                    # (the deliverer's abort), so the run's result still stands.
                    if stop is None or not stop.is_set():
                        raise


def _selected(config: Config, to: frozenset[str] | None) -> list[str]:
    if to is None:
        return list(config.destinations)
    unknown = sorted(to - set(config.destinations))
    if unknown:
        raise UsageError(
            f"--to {', '.join(unknown)}: no such destination in {config.path}",
            hint=f"destinations are: {', '.join(config.destinations)}",
        )
    return [name for name in config.destinations if name in to]


def _runtime(config: Config, name: str, secrets: Mapping[str, str] | None) -> DestinationRuntime:
    configured = config.destinations[name]
    destination = get_kind(configured.kind)(name, configured.options, secrets)
    endpoints = destination.endpoints()
    overhead = {endpoint: destination.body_overhead(endpoint) for endpoint in endpoints}
    return DestinationRuntime(
        destination=destination,
        batcher=Batcher(endpoints, overhead=overhead),
        stats=DestinationStats(kind=configured.kind),
    )


def _bound_options(request: SendRequest) -> dict[str, Any]:
    options = request.options
    return {
        "to": sorted(options.to) if options.to is not None else None,
        "since_ms": options.since_ms,
        "until_ms": options.until_ms,
        "limit": options.limit,
        "strict": options.strict,
    }


def map_event(
    config: Config,
    event: Mapping[str, Any],
    *,
    options: SendOptions | None = None,
    explain: Callable[[Explained], None] | None = None,
) -> list[DryRunRequest]:
    """The requests one event (parsed JSON; a batch envelope gives those of its items) becomes
    under `config`, exactly as `send --dry-run` prints them: it is a dry run over an input of
    this one line (`<event>:1`), through the same pipeline, needing no secret and opening no
    connection.

    An event that is invalid, matches no route, or is skipped or rejected by every route it
    matched becomes no request: `explain` receives what each route made of it (as
    `send --explain` shows it), and `check_event` says why an event is invalid.
    """
    run_options = options if options is not None else SendOptions()
    lines: list[bytes] = []
    pipeline = Pipeline(
        config,
        {name: _runtime(config, name, None) for name in _selected(config, run_options.to)},
        DryRunDeliverer(lines.append),
        options=run_options,
        explain=explain,
    )
    pipeline.summary.dry_run = True
    result = pipeline.run(
        [InputFile(EVENT_SOURCE, None)], stdin=io.BytesIO(dumps_bytes(dict(event)) + b"\n")
    )
    if result.error is not None:
        raise result.error
    return [DryRunRequest.from_line(line) for line in lines]
