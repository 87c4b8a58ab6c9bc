"""`cdpcli validate`: check events against the Segment spec, every problem with its place."""

from __future__ import annotations

from typing import Annotated

import typer

from cdpcli import api
from cdpcli.cli.app import app
from cdpcli.cli.common import (
    FormatOption,
    JobsOption,
    OutputFormat,
    QuietOption,
    exit_with,
    handle_errors,
    streams,
)

PathsArgument = Annotated[
    list[str] | None,
    typer.Argument(
        help="Event files or directories (walked recursively); `-` reads stdin, and so does "
        "nothing when events are piped in.",
        show_default=False,
    ),
]


@app.command()
def validate(
    paths: PathsArgument = None,
    strict: Annotated[bool, typer.Option("--strict", help="Treat warnings as errors.")] = False,
    jobs: JobsOption = None,
    output_format: FormatOption = OutputFormat.text,
    quiet: QuietOption = False,
) -> None:
    """Check events against the Segment spec and report every problem with its place.

    Problems go to stdout as `PATH:LINE: error: FIELD: MESSAGE` (or JSON lines with
    --format json, then a summary object); the summary goes to stderr.
    Exit 0 when every event is valid, 1 when some are invalid, 4 when input is unreadable.
    """
    out = streams(quiet=quiet)
    with handle_errors():
        as_json = output_format is OutputFormat.json
        summary = api.validate(
            paths or [],
            strict=strict,
            jobs=jobs if jobs is not None else api.default_jobs(),
            as_json=as_json,
            write=out.write_line,
        )
        if as_json:
            out.write_line(api.to_json(summary.as_dict()))
        out.notes(summary.notes)
        by_type = ", ".join(f"{kind} {count:,}" for kind, count in sorted(summary.by_type.items()))
        out.say(
            f"{summary.events_read:,} events read: {summary.valid:,} valid, "
            f"{summary.invalid:,} invalid, {summary.warnings:,} warnings"
            + (f" ({by_type})" if by_type else "")
        )
    exit_with(api.ExitCode.FAILED if summary.invalid else api.ExitCode.OK)
