"""`cdpcli inspect`: profile event files before a backfill."""

from __future__ import annotations

from rich.console import Console

from cdpcli import api
from cdpcli.cli.app import app
from cdpcli.cli.common import (
    FormatOption,
    OutputFormat,
    QuietOption,
    handle_errors,
    no_input_example,
    streams,
)
from cdpcli.cli.inspect_render import render_profile
from cdpcli.cli.validate_cmd import PathsArgument


@app.command()
def inspect(
    paths: PathsArgument = None,
    output_format: FormatOption = OutputFormat.text,
    quiet: QuietOption = False,
) -> None:
    """Profile event files: counts by type and event, events per day, time range, users, and
    invalid lines. Exit 0 (even with invalid lines: `validate` judges), 2 with no input (no PATH,
    nothing piped in), 4 if input is unreadable."""
    out = streams(quiet=quiet)
    with handle_errors(no_input=no_input_example("inspect")):
        result = api.inspect(paths or [])
    out.notes(result.notes)
    if output_format is OutputFormat.json:
        out.write_line(api.to_json(result.as_dict()))
        return
    render_profile(result, Console(file=out.out, no_color=out.err_console.no_color, soft_wrap=True))
