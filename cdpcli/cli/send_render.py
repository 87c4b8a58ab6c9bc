"""How `send` shows itself to a human: the counts under its progress bar (`cdpcli.cli.progress`),
the `-v` line of each HTTP attempt, the summary table and line, `--explain` blocks."""

from __future__ import annotations

import shlex
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from rich.markup import escape
from rich.table import Table

from cdpcli import api
from cdpcli.cli.common import Streams

if TYPE_CHECKING:
    from cdpcli.api import Attempt, Explained, SendSummary


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


def send_counts(summary: SendSummary) -> str:
    """The counts under a send's progress bar, of input events as the summary line's:
    `51 events read · 18 invalid · 31 delivered · 0 duplicates · 0 rejected · 2 skipped`."""
    return " · ".join([f"{summary.events_read:,} events read", *_outcomes(summary)])


def _outcomes(summary: SendSummary) -> list[str]:
    """The input events' outcomes, as the progress counts and the summary line both say them."""
    events = summary.events
    return [
        f"{summary.invalid:,} invalid",
        f"{events.delivered:,} {'would be delivered' if summary.dry_run else 'delivered'}",
        f"{events.duplicates:,} duplicates",
        f"{events.rejected:,} rejected",
        f"{events.skipped:,} skipped",
    ]


def render_summary(
    summary: SendSummary,
    out: Streams,
    *,
    paths: Sequence[str] = (),
    rejected: Path | None = None,
) -> None:
    """The summary table, then the summary line and hints, on stderr. `paths` and `rejected` are
    the run's (for the hints)."""
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
    out.say(escape(summary_line(summary)))
    if summary.warnings:
        out.say(
            f"{summary.warnings:,} values left out, not of their field's type"
            " (`cdpcli validate` lists them)"
        )
    for hint in summary_hints(summary, paths, rejected):
        out.say(escape(f"hint: {hint}"))


def summary_line(summary: SendSummary) -> str:
    """The summary line, every number a count of input events, adding up to the events read
    (`SendSummary.events`; per route counts are the table's): `51 events read in 0.4 s
    (127 events/s): 18 invalid, 31 delivered, 0 duplicates, 0 rejected, 2 skipped`."""
    events = summary.events
    took = f" in {duration_text(summary.seconds)}"
    if summary.seconds > 0:
        took += f" ({summary.events_read / summary.seconds:,.0f} events/s)"
    line = f"{summary.events_read:,} events read{took}: " + ", ".join(_outcomes(summary))
    if summary.resumed:
        line += f" ({summary.resumed:,} settled by an earlier run)"
    if events.not_sent:
        line += f", {events.not_sent:,} not sent (re-run to send them)"
    return line


def summary_hints(summary: SendSummary, paths: Sequence[str], rejected: Path | None) -> list[str]:
    """What to do about invalid or rejected events: where to see why, how to replay them."""
    hints: list[str] = []
    if summary.invalid:
        named = " ".join(shlex.quote(path) for path in paths)
        if named and "-" not in paths:
            hints.append(f"run `cdpcli validate {named}` to see why events are invalid")
        else:
            hints.append("run `cdpcli validate` on the same input to see why events are invalid")
    if summary.invalid or summary.events.rejected:
        kept = "the invalid and rejected events with their reasons"
        if rejected is not None:
            replay = shlex.quote(str(rejected))
            hints.append(f"{rejected} keeps {kept}; `cdpcli send {replay}` replays them")
        else:
            hints.append(f"`--rejected FILE` keeps {kept}, for a replay")
    return hints


def duration_text(seconds: float) -> str:
    """`4 ms`, `0.4 s`, `12 min 3 s`, `2 h 5 min`."""
    if seconds < 0.1:
        return f"{seconds * 1000:.0f} ms"
    if seconds < 60:
        return f"{seconds:.1f} s"
    minutes, secs = divmod(round(seconds), 60)
    if minutes < 60:
        return f"{minutes} min {secs} s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes} min"


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
