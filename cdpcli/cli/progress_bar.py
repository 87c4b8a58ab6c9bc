"""The columns of the progress bar (`cdpcli.cli.progress`), rich's own: a bar and its percentage,
`N events/s`, `ETA 0:11`, `elapsed 0:00:03`, within 80 columns; and the lines under them.
Imported only when a bar is drawn."""

from __future__ import annotations

from collections.abc import Iterable

from rich.console import RenderableType
from rich.progress import (
    BarColumn,
    Progress,
    ProgressColumn,
    Task,
    TaskProgressColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)
from rich.text import Text


class EventRateColumn(ProgressColumn):
    """`12,345 events/s`: the events read so far over the time elapsed."""

    def render(self, task: Task) -> Text:
        elapsed = task.elapsed or 0.0
        events = task.fields.get("events", 0)
        rate = events / elapsed if elapsed > 0 else 0.0
        return Text(f"{rate:,.0f} events/s", style="progress.data.speed")


class EtaColumn(TimeRemainingColumn):
    """`ETA 0:11` (rich's estimate from the recent speed); nothing when the total is unknown."""

    def render(self, task: Task) -> Text:
        if task.total is None:
            return Text("")
        remaining = task.time_remaining
        if remaining is None:
            return Text("ETA -:--", style="progress.remaining")
        return Text(f"ETA {clock_text(remaining)}", style="progress.remaining")


class ElapsedColumn(TimeElapsedColumn):
    """`elapsed 0:00:03`."""

    def render(self, task: Task) -> Text:
        text = super().render(task)
        return Text("elapsed ", style=text.style) + text


def clock_text(seconds: float) -> str:
    """`0:11`, `12:03`, `1:02:03`."""
    minutes, secs = divmod(max(0, round(seconds)), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes}:{secs:02d}"


class LinesProgress(Progress):
    """A progress whose task line is followed by free lines (counts, waiting)."""

    lines: tuple[str, ...] = ()

    def get_renderables(self) -> Iterable[RenderableType]:
        yield self.make_tasks_table(self.tasks)
        for line in self.lines:  # wrapped, also on a console that soft-wraps (cut otherwise)
            yield Text(line, no_wrap=False, overflow="fold")


def columns() -> list[ProgressColumn]:
    """The bar's columns: 24 + 5 + up to 19 + up to 12 + 16 cells, within 80."""
    return [
        BarColumn(bar_width=24),
        TaskProgressColumn(),
        EventRateColumn(),
        EtaColumn(),
        ElapsedColumn(),
    ]
