"""How `inspect` shows a profile to a human: tables and a per-day bar chart."""

from __future__ import annotations

from typing import TYPE_CHECKING

from rich.console import Console
from rich.table import Table
from rich.text import Text

if TYPE_CHECKING:
    from cdpcli.api import Profile

BAR_WIDTH = 40


def render_profile(result: Profile, console: Console) -> None:
    """The profile as tables and a per-day bar chart, for a terminal."""
    data = result.as_dict()
    overview = Table(title="Overview", show_header=False, title_justify="left")
    overview.add_row("events read", f"{result.events_read:,}")
    overview.add_row("valid", f"{result.valid:,}")
    overview.add_row("invalid", f"{result.invalid:,}")
    overview.add_row("first event", data["time_range"]["first"] or "-")
    overview.add_row("last event", data["time_range"]["last"] or "-")
    overview.add_row("distinct userIds", _count(len(result.user_ids), result.user_ids.exact))
    overview.add_row(
        "distinct anonymousIds", _count(len(result.anonymous_ids), result.anonymous_ids.exact)
    )
    console.print(overview)

    types = Table(title="By type", title_justify="left")
    types.add_column("type")
    types.add_column("events", justify="right")
    for kind, count in sorted(result.by_type.items()):
        types.add_row(kind, f"{count:,}")
    console.print(types)

    if result.events:
        top = Table(title=f"Top {result.top_count} track events", title_justify="left")
        top.add_column("event")
        top.add_column("count", justify="right")
        for name, count in result.top_events:
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


def _count(count: int, exact: bool) -> str:
    return f"{count:,}" if exact else f"~{count:,} (estimated)"
