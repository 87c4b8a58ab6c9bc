"""`cdpcli inspect`: profile event files before a backfill."""

from __future__ import annotations

from rich.console import Console
from rich.table import Table
from rich.text import Text

from cdpcli import jsonio
from cdpcli.cli.app import app
from cdpcli.cli.common import (
    FormatOption,
    OutputFormat,
    QuietOption,
    handle_errors,
    no_input_example,
    object_stores,
    streams,
)
from cdpcli.cli.validate_cmd import PathsArgument
from cdpcli.events.distinct import DistinctCounter
from cdpcli.events.profile import TOP_EVENTS, Profile, profile
from cdpcli.events.reader import find_inputs, read_inputs

BAR_WIDTH = 40


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
        found = find_inputs(paths or [], objects=object_stores())
        result = profile(read_inputs(found.files))
    out.notes(found.notes)
    if output_format is OutputFormat.json:
        out.write_line(jsonio.dumps(result.as_dict()))
        return
    render_profile(result, Console(file=out.out, no_color=out.err_console.no_color, soft_wrap=True))


def render_profile(result: Profile, console: Console) -> None:
    """The profile as tables and a per-day bar chart, for a terminal."""
    data = result.as_dict()
    overview = Table(title="Overview", show_header=False, title_justify="left")
    overview.add_row("events read", f"{result.events_read:,}")
    overview.add_row("valid", f"{result.valid:,}")
    overview.add_row("invalid", f"{result.invalid:,}")
    overview.add_row("first event", data["time_range"]["first"] or "-")
    overview.add_row("last event", data["time_range"]["last"] or "-")
    overview.add_row("distinct userIds", _count(result.user_ids))
    overview.add_row("distinct anonymousIds", _count(result.anonymous_ids))
    console.print(overview)

    types = Table(title="By type", title_justify="left")
    types.add_column("type")
    types.add_column("events", justify="right")
    for kind, count in sorted(result.by_type.items()):
        types.add_row(kind, f"{count:,}")
    console.print(types)

    if result.events:
        top = Table(title=f"Top {TOP_EVENTS} track events", title_justify="left")
        top.add_column("event")
        top.add_column("count", justify="right")
        for name, count in result.events.most_common(TOP_EVENTS):
            top.add_row(Text(name), f"{count:,}")
        console.print(top)

    if result.per_day:
        console.print("[bold]Events per day[/bold] (UTC, by event time)")
        peak = max(result.per_day.values())
        for day, count in sorted(result.per_day.items()):
            filled = max(1, round(count / peak * BAR_WIDTH))
            console.print(f"{day} {'█' * filled:<{BAR_WIDTH}} {count:,}", highlight=False)

    if result.invalid_places:
        console.print(f"[bold]Invalid lines[/bold] (first {len(result.invalid_places)})")
        for problem in result.invalid_places:
            console.print(str(problem), highlight=False, markup=False)


def _count(counter: DistinctCounter) -> str:
    return f"{len(counter):,}" if counter.exact else f"~{len(counter):,} (estimated)"
