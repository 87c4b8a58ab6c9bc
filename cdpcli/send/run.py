"""`cdpcli send` as one library call: load the config, find the secrets, build the destinations,
run the pipeline with the dry-run or the HTTP deliverer, and return the result."""

from __future__ import annotations

import os
import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, BinaryIO

from cdpcli.destinations.registry import get_kind
from cdpcli.errors import UsageError
from cdpcli.events.reader import resolve_inputs
from cdpcli.routing.config import Config, load_config
from cdpcli.send.batching import Batcher
from cdpcli.send.checkpoint import Checkpoint, fingerprint
from cdpcli.send.delivery import Deliverer, DestinationRuntime, DestinationStats
from cdpcli.send.dry_run import DryRunDeliverer
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
from cdpcli.send.retry import RetryPolicy
from cdpcli.send.transport import targets


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
) -> SendResult:
    """Run one send. `write_request` receives each dry-run request line (dry run only), unless
    `request.output_path` names a file for them. The checkpoint and rejected file are checked and
    locked before anything is read or sent, and released when the run ends
    (`cdpcli.send.outputs`)."""
    with OutputFiles() as outputs:
        return _send(
            request,
            outputs,
            write_request=write_request,
            explain=explain,
            progress=progress,
            environ=environ,
            stdin=stdin,
            stop=stop,
            deliverer_factory=deliverer_factory,
        )


def _send(
    request: SendRequest,
    outputs: OutputFiles,
    *,
    write_request: Callable[[bytes], None] | None = None,
    explain: Callable[[Explained], None] | None = None,
    progress: Callable[[SendSummary], None] | None = None,
    environ: Mapping[str, str] | None = None,
    stdin: BinaryIO | None = None,
    stop: threading.Event | None = None,
    deliverer_factory: Callable[[Config, Mapping[str, DestinationRuntime]], Deliverer]
    | None = None,
) -> SendResult:
    """`send`, with the files of the run claimed through `outputs`."""
    config = load_config(request.config_path)
    inputs = resolve_inputs(request.paths)
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

        secrets = SecretStore(os.environ if environ is None else environ).resolve(config, selected)
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

        deliverer = HttpDeliverer.create(
            concurrency=request.concurrency,
            retry=request.retry,
            secrets=secrets or {},
            interrupt=stop,
            targets=reached,
            environ=environ,
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
        return pipeline.run(inputs, stdin=stdin)
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
