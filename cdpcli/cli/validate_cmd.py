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
    Streams,
    exit_with,
    handle_errors,
    no_input_example,
    streams,
)

PathsArgument = Annotated[
    list[str] | None,
    typer.Argument(
        help="Event files or directories (walked recursively), `s3://BUCKET/PREFIX` or "
        "`gs://BUCKET/PREFIX` (objects or prefixes, streamed); `-` reads stdin, and so does "
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

    A value Segment's Mixpanel destination cannot convert to its field's declared type is a
    warning too (the event is sent without that field).

    Problems go to stdout as `PATH:LINE: error: FIELD: MESSAGE`; a problem repeated at many
    places (the same severity, field and message) is listed at its first 3, and the report ends
    with one `... and N more like it` line for each. --format json lists every problem as a JSON
    line, then a summary object. The summary goes to stderr.
    Exit 0 when every event is valid, 1 when some are invalid, 2 when there is no input (no
    PATH, nothing piped in), 4 when input is unreadable.
    """
    out = streams(quiet=quiet)
    with handle_errors(no_input=no_input_example("validate")):
        as_json = output_format is OutputFormat.json
        summary = api.validate(
            paths or [],
            strict=strict,
            jobs=jobs if jobs is not None else api.default_jobs(),
            as_json=as_json,
            write=out.write_line,
            grouped=True,
        )
        out.notes(summary.notes)
        if as_json:
            out.write_line(api.to_json(summary.as_dict()))
        elif summary.groups is not None:
            _render_unlisted(summary.groups, out)
        by_type = ", ".join(f"{kind} {count:,}" for kind, count in sorted(summary.by_type.items()))
        out.say(
            f"{summary.events_read:,} events read: {summary.valid:,} valid, "
            f"{summary.invalid:,} invalid, {summary.warnings:,} warnings"
            + (f" ({by_type})" if by_type else "")
        )
    exit_with(api.ExitCode.FAILED if summary.invalid else api.ExitCode.OK)


def _render_unlisted(groups: api.ProblemGroups, out: Streams) -> None:
    """The report's last lines: what was not listed, one line per kind of problem; a pointer to
    the complete report on stderr."""
    for repeated in groups.repeated():
        out.write_line(
            f"... and {repeated.more:,} more like it (the last at {repeated.last}): {repeated.kind}"
        )
    if groups.other_kinds:
        out.write_line(
            f"... and {groups.other_kinds:,} more problems of other kinds (only the first "
            f"{groups.max_kinds:,} kinds are listed)"
        )
    if groups.unlisted:
        out.say(
            f"{groups.unlisted:,} problems not listed (at most {groups.shown} places of each "
            "kind are); `--format json` lists every one"
        )
