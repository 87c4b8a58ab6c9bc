"""How `send` shows itself to a human: a progress bar, the summary table, `--explain` blocks."""

from __future__ import annotations

import time
from dataclasses import dataclass

from rich.progress import Progress, TaskID, TextColumn, TimeElapsedColumn
from rich.table import Table

from cdpcli import jsonio
from cdpcli.cli.common import Streams
from cdpcli.destinations.base import Mapped
from cdpcli.send.pipeline import SendSummary
from cdpcli.send.prepare import Explained


@dataclass
class ProgressDisplay:
    """A live line on stderr (only when it is a terminal): read, delivered, rejected, rate."""

    progress: Progress | None
    task: TaskID | None
    started: float

    @classmethod
    def start(cls, out: Streams) -> ProgressDisplay:
        console = out.err_console
        if out.quiet or not console.is_terminal:
            return cls(None, None, time.monotonic())
        progress = Progress(
            TextColumn("{task.description}"),
            TimeElapsedColumn(),
            console=console,
            transient=True,
        )
        progress.start()
        task = progress.add_task("starting…", total=None)
        return cls(progress, task, time.monotonic())

    def update(self, summary: SendSummary) -> None:
        if self.progress is None or self.task is None:
            return
        elapsed = max(time.monotonic() - self.started, 1e-6)
        self.progress.update(self.task, description=progress_text(summary, elapsed))

    def stop(self) -> None:
        if self.progress is not None:
            self.progress.stop()


def progress_text(summary: SendSummary, elapsed: float) -> str:
    """The live progress line: counts, rate, and an ETA when the input size is known."""
    rate = summary.events_read / elapsed if elapsed > 0 else 0.0
    text = (
        f"read {summary.events_read:,} · delivered {summary.delivered:,} · "
        f"duplicates {summary.duplicates:,} · rejected {summary.rejected:,} · "
        f"{rate:,.0f} events/s"
    )
    total, done = summary.bytes_total, summary.bytes_done
    if total and 0 < done < total:
        remaining = elapsed * (total - done) / done
        minutes, seconds = divmod(round(remaining), 60)
        hours, minutes = divmod(minutes, 60)
        eta = f"{hours}:{minutes:02d}:{seconds:02d}" if hours else f"{minutes}:{seconds:02d}"
        text += f" · {done / total:.0%} · ETA {eta}"
    return text


def render_summary(summary: SendSummary, out: Streams) -> None:
    """The summary table, on stderr."""
    if out.quiet:
        return
    title = "Dry run (nothing was sent)" if summary.dry_run else "Send summary"
    table = Table(title=title, title_justify="left")
    columns = ("destination", "kind", "delivered", "duplicates", "rejected", "skipped")
    for column in (*columns, "not sent", "requests"):
        table.add_column(
            column, justify="right" if column not in ("destination", "kind") else "left"
        )
    for name, stats in summary.destinations.items():
        table.add_row(
            name,
            stats.kind,
            f"{stats.delivered:,}",
            f"{stats.duplicates:,}",
            f"{stats.rejected:,}",
            f"{stats.skipped:,}",
            f"{stats.not_sent:,}",
            f"{stats.requests:,}",
        )
    out.err_console.print(table)
    line = (
        f"{summary.events_read:,} events read: {summary.invalid:,} invalid, "
        f"{summary.delivered:,} {'would be delivered' if summary.dry_run else 'delivered'}, "
        f"{summary.duplicates:,} duplicates, {summary.rejected:,} rejected, "
        f"{summary.skipped:,} skipped"
    )
    if summary.resumed:
        line += f" ({summary.resumed:,} settled by an earlier run)"
    if summary.not_sent:
        line += f"; {summary.not_sent:,} not sent (re-run to send them)"
    out.say(line)


def render_explained(explained: Explained, out: Streams) -> None:
    """One `--explain` block on stdout: the event, its problems, and each route's payloads."""
    event = explained.event
    # Only strings are shown: an invalid event's `type` may be any JSON (1000 levels deep).
    kind, name, title = (event.data.get(key) for key in ("type", "event", "name"))
    head = next((text for text in (name, title) if isinstance(text, str) and text), "")
    out.write_line(f"{event.origin}  {kind if isinstance(kind, str) else '?'} {head}".rstrip())
    for problem in explained.problems:
        out.write_line(f"  {problem.severity}: {problem.detail}")
    if explained.skipped is not None:
        out.write_line(f"  → skipped: {explained.skipped}")
    for route, destination, outcome in explained.outcomes:
        prefix = f"  → route {route} → {destination}"
        if isinstance(outcome, str):
            out.write_line(f"{prefix}: skipped ({outcome})")
        elif isinstance(outcome, Mapped):
            if outcome.skipped:
                out.write_line(f"{prefix}: skipped ({outcome.skipped})")
            elif outcome.rejected:
                out.write_line(f"{prefix}: rejected ({outcome.rejected})")
            for record in outcome.records:
                out.write_line(f"{prefix} /{record.endpoint}: {jsonio.dumps(record.item)}")
    out.write_line("")
