"""`cdpcli send`: validate, route, map, batch and deliver events (or print the requests)."""

from __future__ import annotations

import signal
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from types import FrameType
from typing import TYPE_CHECKING, Annotated, Any

import typer

from cdpcli import api
from cdpcli.cli.app import app
from cdpcli.cli.common import (
    FormatOption,
    JobsOption,
    OutputFormat,
    QuietOption,
    Streams,
    exit_with,
    fail,
    handle_errors,
    no_input_example,
    streams,
)
from cdpcli.cli.validate_cmd import PathsArgument

if TYPE_CHECKING:  # the pipeline is imported when the command runs: fast start-up for the others
    from cdpcli.api import RetryPolicy, SendResult


def _time_option(value: str | None) -> int | None:
    if value is None:
        return None
    ms = api.parse_time_ms(value)
    if ms is None:
        raise typer.BadParameter(
            f"{value!r} is not an ISO-8601 date or time (e.g. 2024-05-01 or 2024-05-01T12:00:00Z)"
        )
    return ms


def retry_policy(max_retries: int) -> RetryPolicy:
    """What `--max-retries N` asks for: N attempts a request, the waits between them starting at
    up to 2 s and doubling to 60 s (PRODUCT.md §6 "Retries")."""
    return api.RetryPolicy(max_attempts=max_retries)


@app.command("send")
def send_command(
    paths: PathsArgument = None,
    config: Annotated[
        Path | None,
        typer.Option(
            "--config",
            "-c",
            help="Routing config (YAML). Default: $CDPCLI_CONFIG, else ./cdpcli.yaml.",
            show_default=False,
        ),
    ] = None,
    dry_run: Annotated[
        bool,
        typer.Option(
            "--dry-run",
            help="Print each HTTP request as one JSON line instead of sending it. Needs no keys "
            "and opens no connection.",
        ),
    ] = False,
    explain: Annotated[
        bool,
        typer.Option(
            "--explain",
            help="With --dry-run: show, per event, the routes it took and the payloads it "
            "became (for a human; request lines then go only to --output).",
        ),
    ] = False,
    output: Annotated[
        Path | None,
        typer.Option("--output", "-o", help="With --dry-run: write the request lines here."),
    ] = None,
    to: Annotated[
        list[str] | None,
        typer.Option("--to", help="Only these destinations (repeatable).", show_default=False),
    ] = None,
    since: Annotated[
        str | None,
        typer.Option(help="Only events at or after this time (ISO-8601).", show_default=False),
    ] = None,
    until: Annotated[
        str | None,
        typer.Option(help="Only events before this time (ISO-8601).", show_default=False),
    ] = None,
    limit: Annotated[
        int | None,
        typer.Option(min=1, help="Stop after reading N events.", show_default=False),
    ] = None,
    rejected: Annotated[
        Path | None,
        typer.Option(
            "--rejected",
            help="Write rejected events here (JSONL, mode 0600; a regular file, one run at a "
            "time); `cdpcli send FILE` replays it.",
            show_default=False,
        ),
    ] = None,
    checkpoint: Annotated[
        Path | None,
        typer.Option(
            "--checkpoint",
            help="Save progress here after acknowledged batches (a regular file, one run at a "
            "time); re-running the same command resumes.",
            show_default=False,
        ),
    ] = None,
    concurrency: Annotated[int, typer.Option(min=1, max=64, help="Batches in flight at once.")] = 4,
    max_retries: Annotated[
        int, typer.Option(min=1, max=100, help="Attempts per request before giving up.")
    ] = 8,
    flush_interval: Annotated[
        float,
        typer.Option(
            min=0.0,
            help="From stdin or a pipe: send a partial batch once its oldest event waited this "
            "many seconds (files fill their batches first).",
        ),
    ] = 1.0,
    max_rate: Annotated[
        float | None,
        typer.Option(
            "--max-rate",
            min=0.001,
            help="At most N events a second to each destination, for this run (the lower of N "
            "and a destination's own max_events_per_second holds). The pace also slows down on "
            "429s.",
            show_default=False,
        ),
    ] = None,
    verbose: Annotated[
        bool,
        typer.Option(
            "--verbose",
            "-v",
            help="One stderr line per HTTP attempt: destination, method, URL, status, records, "
            "bytes, milliseconds, attempt (secrets masked; shown even with --quiet).",
        ),
    ] = False,
    allow_insecure_http: Annotated[
        bool,
        typer.Option("--allow-insecure-http", help="Allow http:// for hosts other than loopback."),
    ] = False,
    strict: Annotated[bool, typer.Option("--strict", help="Treat warnings as errors.")] = False,
    jobs: JobsOption = None,
    output_format: FormatOption = OutputFormat.text,
    quiet: QuietOption = False,
) -> None:
    """Validate, route, map, batch and deliver events to Mixpanel and Lago (or, with --dry-run,
    print the requests they become).

    On a terminal, stderr shows a progress bar (percentage, events/s, ETA) and what each
    destination waits for. The summary table counts per destination; the line under it counts
    input events (invalid, delivered, duplicates, rejected, skipped: they add up to the events
    read), with the run's duration and events/s, and a hint when events were invalid or rejected.

    Exit codes: 0 all delivered (or dry run done), 1 some events invalid or rejected, 2 usage,
    3 config, 4 input unreadable, 5 credentials missing or refused, 6 delivery failed after
    retries, 130 interrupted (checkpoint saved first).
    """
    from cdpcli.cli.progress import ProgressDisplay
    from cdpcli.cli.send_render import attempt_line, render_explained, send_counts

    out = streams(quiet=quiet)
    # The signal handlers last until the summary is printed (see `_signals`).
    with _signals() as (stop, ended):
        with handle_errors(no_input=no_input_example("send", "-c cdpcli.yaml")):
            if explain and not dry_run:
                raise typer.BadParameter("--explain needs --dry-run", param_hint="--explain")
            if output is not None and not dry_run:
                raise typer.BadParameter("--output needs --dry-run", param_hint="--output")
            request = api.SendRequest(
                paths=paths or [],
                config_path=api.resolve_config_path(config),
                dry_run=dry_run,
                options=api.SendOptions(
                    to=frozenset(to) if to else None,
                    since_ms=_time_option(since),
                    until_ms=_time_option(until),
                    limit=limit,
                    strict=strict,
                ),
                rejected_path=rejected,
                checkpoint_path=checkpoint,
                output_path=output,
                concurrency=concurrency,
                jobs=jobs if jobs is not None else api.default_jobs(),
                retry=retry_policy(max_retries),
                allow_insecure_http=allow_insecure_http,
                max_rate=max_rate,
                flush_interval=flush_interval,
            )
            display = ProgressDisplay.start(out, send_counts)
            try:
                result = api.run_send(
                    request,
                    write_request=_request_writer(out, output, explain),
                    explain=(lambda e: render_explained(e, out)) if explain else None,
                    progress=display.update if display.progress is not None else None,
                    stop=stop,
                    status=display.status,
                    attempts=(lambda a: display.print(attempt_line(a))) if verbose else None,
                )
            finally:
                ended.set()
                display.stop()
        _finish(result, out, output_format, request)


def _finish(
    result: SendResult,
    out: Streams,
    output_format: OutputFormat,
    request: api.SendRequest | None = None,
) -> None:
    from cdpcli.cli.send_render import render_summary

    summary = result.summary
    out.notes(result.notes)
    if output_format is OutputFormat.json:
        out.write_line(api.to_json(summary.as_dict()))
    else:
        paths = request.paths if request is not None else ()
        rejected = request.rejected_path if request is not None else None
        render_summary(summary, out, paths=paths, rejected=rejected)
    if result.error is not None:
        out.out.flush()
        fail(result.error)
    exit_with(api.ExitCode.FAILED if summary.invalid or summary.rejected else api.ExitCode.OK)


def _request_writer(
    out: Streams, output: Path | None, explain: bool
) -> Callable[[bytes], None] | None:
    """Where dry-run request lines go: --output FILE (opened by `send`, after the checks of the
    files it writes), else stdout (unless --explain)."""
    if output is not None:
        return None
    if explain:
        return lambda _line: None

    def write_stdout(line: bytes) -> None:
        out.out.write(line.decode("utf-8") + "\n")  # above the progress bar while it is drawn

    return write_stdout


@contextmanager
def _signals() -> Iterator[tuple[threading.Event, threading.Event]]:
    """Ctrl-C or SIGTERM asks the run to stop (`stop`): within moments, whatever the servers
    do, the requests in flight are abandoned, the checkpoint saved, the summary printed, and the
    exit is 130. A second signal while the run still goes interrupts whatever it waits for;
    the summary is printed all the same. Once the run has ended (`ended`), signals wait for
    its summary."""
    stop, ended = threading.Event(), threading.Event()

    def interrupt(_signum: int, _frame: FrameType | None) -> None:
        if stop.is_set() and not ended.is_set():
            raise KeyboardInterrupt
        stop.set()

    installed: list[tuple[int, Any]] = []
    try:
        for signum in (signal.SIGINT, signal.SIGTERM):
            installed.append((signum, signal.getsignal(signum)))
            signal.signal(signum, interrupt)
    except ValueError:  # not the main thread (embedded use): no handlers
        pass
    try:
        yield stop, ended
    finally:
        for installed_signum, previous in installed:
            signal.signal(installed_signum, previous)
