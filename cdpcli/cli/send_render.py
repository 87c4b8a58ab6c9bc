"""How `send` shows itself to a human: a progress bar, what the destinations wait for, the
`-v` line of each HTTP attempt, the summary table, `--explain` blocks."""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from rich.markup import escape
from rich.progress import Progress, TaskID, TextColumn, TimeElapsedColumn
from rich.table import Table

from cdpcli import api
from cdpcli.cli.common import Streams

if TYPE_CHECKING:
    from cdpcli.api import Attempt, Explained, SendSummary


@dataclass
class ProgressDisplay:
    """A live line on stderr (only when it is a terminal): read, delivered, rejected, rate; under
    it, what each destination waits for (`status`). When stderr is not a terminal, each new
    status is a plain line instead. `attempt` writes the `-v` line of an HTTP attempt (above
    the live line, on a terminal). Safe to call from the sending threads."""

    progress: Progress | None
    task: TaskID | None
    started: float
    out: Streams | None = None
    text: str = "starting…"
    statuses: dict[str, str] = field(default_factory=dict)
    printed: dict[str, str] = field(default_factory=dict)  # per destination, on a plain stream
    lock: threading.Lock = field(default_factory=threading.Lock)

    @classmethod
    def start(cls, out: Streams) -> ProgressDisplay:
        console = out.err_console
        if out.quiet or not console.is_terminal:
            return cls(None, None, time.monotonic(), out)
        progress = Progress(
            TextColumn("{task.description}"),
            TimeElapsedColumn(),
            console=console,
            transient=True,
        )
        progress.start()
        task = progress.add_task("starting…", total=None)
        return cls(progress, task, time.monotonic(), out)

    def update(self, summary: SendSummary) -> None:
        if self.progress is None or self.task is None:
            return
        elapsed = max(time.monotonic() - self.started, 1e-6)
        with self.lock:
            self.text = progress_text(summary, elapsed)
            self._refresh()

    def status(self, destination: str, message: str) -> None:
        """What `destination` waits for now ("" when it no longer waits)."""
        if self.out is None or self.out.quiet:
            return
        with self.lock:
            if message:
                self.statuses[destination] = message
            else:
                self.statuses.pop(destination, None)
            if self.progress is not None:
                self._refresh()
            elif message and self.printed.get(destination) != message:
                self.printed[destination] = message
                self._print(f"{destination}: {message}")

    def attempt(self, attempt: Attempt) -> None:
        """The `-v` line of one HTTP attempt (shown even with --quiet: it was asked for)."""
        with self.lock:
            self._print(attempt_line(attempt))

    def stop(self) -> None:
        if self.progress is not None:
            self.progress.stop()

    def _refresh(self) -> None:
        assert self.progress is not None and self.task is not None
        lines = [self.text, *(f"{name}: {text}" for name, text in self.statuses.items())]
        self.progress.update(self.task, description=escape("\n".join(lines)))

    def _print(self, line: str) -> None:
        console = self.progress.console if self.progress is not None else None
        if console is None and self.out is not None:
            console = self.out.err_console
        if console is not None:
            console.print(line, markup=False, emoji=False, highlight=False, soft_wrap=True)


def attempt_line(attempt: Attempt) -> str:
    """`mixpanel: POST https://api.mixpanel.com/import?strict=1 → 200 · 2,000 records ·
    1,302,118 bytes (138,004 gzipped) · 85 ms · attempt 1 of 8`."""
    outcome = str(attempt.status) if attempt.status is not None else attempt.error or "no answer"
    size = f"{attempt.size:,} bytes"
    if attempt.sent != attempt.size:
        size += f" ({attempt.sent:,} gzipped)"
    records = f"{attempt.records:,} record{'s' if attempt.records != 1 else ''}"
    return (
        f"{attempt.destination}: {attempt.method} {attempt.url} → {outcome} · {records} · "
        f"{size} · {attempt.seconds * 1000:,.0f} ms · "
        f"attempt {attempt.attempt} of {attempt.max_attempts}"
    )


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
    if not summary.dry_run:
        table.add_column("retries", justify="right")
        table.add_column("429s", justify="right")
    for name, stats in summary.destinations.items():
        row = [
            name,
            stats.kind,
            f"{stats.delivered:,}",
            f"{stats.duplicates:,}",
            f"{stats.rejected:,}",
            f"{stats.skipped:,}",
            f"{stats.not_sent:,}",
            f"{stats.requests:,}",
        ]
        if not summary.dry_run:
            row += [f"{stats.retries:,}", f"{stats.throttled:,}"]
        table.add_row(*row)
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
    if summary.warnings:
        line += (
            f"; {summary.warnings:,} values left out, not of their field's type"
            " (`cdpcli validate` lists them)"
        )
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
        else:  # what the destination's mapping made of it
            if outcome.skipped:
                out.write_line(f"{prefix}: skipped ({outcome.skipped})")
            elif outcome.rejected:
                out.write_line(f"{prefix}: rejected ({outcome.rejected})")
            for record in outcome.records:
                out.write_line(f"{prefix} /{record.endpoint}: {api.to_json(record.item)}")
            for warning in outcome.warnings:
                out.write_line(f"{prefix}: warning: {warning}")
    out.write_line("")
