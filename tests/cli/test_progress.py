"""The progress display of `validate`, `inspect` and `send` (dry runs too), PRODUCT.md §6.1: a bar
with percentage, a labelled rate and ETA, readable at 80 columns, only on a terminal and never
with -q; the progress callbacks of the API behind it; and the send summary line, in events."""

from __future__ import annotations

import io
import os
import re
import sys
from collections.abc import Callable
from pathlib import Path

import pytest
from rich.console import Console
from typer.testing import CliRunner

from bench.generate import write as write_events
from cdpcli import api
from cdpcli.cli.app import app
from cdpcli.cli.common import Streams
from cdpcli.cli.progress import ProgressDisplay, read_counts
from cdpcli.cli.send_render import send_counts
from cdpcli.events import progress as progress_module
from cdpcli.events.progress import Every
from cdpcli.send.pipeline import EventOutcomes, SendSummary
from tests.paths import REPO
from tests.processes import stderr_of

EXAMPLE = REPO / "config.example.yaml"
SAMPLES = REPO / "sample_events"


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def drawn(display: ProgressDisplay, width: int = 80) -> list[str]:
    """The lines the display draws, as a console of `width` columns that soft-wraps (as
    `cdpcli.cli.common.streams` makes them) shows them."""
    assert display.progress is not None
    console = Console(
        file=io.StringIO(), width=width, force_terminal=True, soft_wrap=True, record=True
    )
    console.print(display.progress.get_renderable())
    return console.export_text().splitlines()


def terminal_display(describe: Callable[[object], str], clock: Clock) -> ProgressDisplay:
    console = Console(file=io.StringIO(), width=80, force_terminal=True, soft_wrap=True)
    out = Streams(out=io.StringIO(), err_console=console)
    return ProgressDisplay.start(out, describe, console=console, get_time=clock)


def test_the_bar_shows_percentage_rate_eta_and_elapsed_within_80_columns() -> None:
    clock = Clock()
    display = terminal_display(read_counts, clock)
    try:
        total = 720_000_000_000  # a long read: a 7-digit rate, an ETA in hours
        for now, done in ((0, 0), (10, 1_000_000_000), (20, 2_000_000_000)):
            clock.now = now  # rich's clock: its ETA comes from the recent speed (1e8 bytes/s)
            display.update(api.ReadProgress(now * 1_000_000, 12_345, done, total))
        lines = drawn(display)
    finally:
        display.stop()
    assert all(len(line) <= 80 for line in lines), lines
    bar = lines[0]
    assert " 0% " in bar
    assert re.search(r"\b1,000,000 events/s\b", bar), bar
    assert "ETA 1:59:40" in bar, bar
    assert "elapsed 0:00:20" in bar, bar
    assert lines[1] == "20,000,000 events read · 12,345 invalid"


def test_the_send_counts_and_waiting_lines_wrap_under_the_bar_never_cut() -> None:
    clock = Clock()
    display = terminal_display(send_counts, clock)
    summary = SendSummary(
        events_read=1_234_567,
        invalid=12,
        events=EventOutcomes(delivered=1_000_000, duplicates=34, rejected=5, skipped=678),
        bytes_done=10,
        bytes_total=100,
        dry_run=True,
    )
    message = "429, retrying in 8 s (attempt 3 of 8); pace cut to 12.5 MB/s"
    try:
        display.update(summary)
        display.status("mixpanel", message)
        lines = drawn(display)
    finally:
        display.stop()
    assert all(len(line) <= 80 for line in lines), lines
    shown = " ".join(line.strip() for line in lines[1:])
    assert (
        "1,234,567 events read · 12 invalid · 1,000,000 would be delivered · 34 duplicates · "
        "5 rejected · 678 skipped" in shown
    )
    assert f"mixpanel: {message}" in shown


def test_an_unknown_size_pulses_without_percentage_or_eta() -> None:
    clock = Clock()
    display = terminal_display(read_counts, clock)
    try:
        display.update(api.ReadProgress(10, 0, 0, None))
        clock.now = 1.0
        display.update(api.ReadProgress(500, 1, 0, None))
        bar = drawn(display)[0]
    finally:
        display.stop()
    assert "%" not in bar and "ETA" not in bar
    assert "500 events/s" in bar and "elapsed 0:00:01" in bar


def test_nothing_is_drawn_when_stderr_is_not_a_terminal_or_quiet() -> None:
    for console, quiet in ((Console(file=io.StringIO()), False), (None, True)):
        terminal = Console(file=io.StringIO(), force_terminal=True)
        out = Streams(out=io.StringIO(), err_console=console or terminal, quiet=quiet)
        display = ProgressDisplay.start(out, read_counts)
        assert display.progress is None
        display.update(api.ReadProgress(1, 0, 1, 2))
        display.stop()
        assert out.err_console.file.getvalue() == ""  # type: ignore[attr-defined]


def test_every_is_due_at_most_every_tenth_of_a_second() -> None:
    clock = Clock()
    every = Every(clock=clock)
    assert every.due()  # at once
    assert not every.due()
    clock.now = 0.09
    assert not every.due()
    clock.now = 0.1
    assert every.due()
    assert not every.due()


# --- the API's progress callbacks ---------------------------------------------------------


@pytest.fixture
def events_file(tmp_path: Path) -> tuple[Path, int]:
    """About 9 MB of events: several read blocks, and two chunks for `--jobs 2`."""
    path = tmp_path / "events.jsonl"
    count = 12_000
    with open(path, "wb") as handle:
        write_events(count, handle)
    return path, count


def check_reports(seen: list[api.ReadProgress], path: Path, count: int) -> None:
    size = path.stat().st_size
    assert seen, "no progress reported"
    assert [p.bytes_done for p in seen] == sorted(p.bytes_done for p in seen)
    assert [p.events_read for p in seen] == sorted(p.events_read for p in seen)
    assert {p.bytes_total for p in seen} == {size}
    assert (seen[-1].events_read, seen[-1].bytes_done) == (count, size)


@pytest.mark.parametrize("jobs", [1, 2])
def test_validate_reports_its_progress_as_it_reads(
    events_file: tuple[Path, int], jobs: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(progress_module, "PROGRESS_EVERY_SECONDS", 0.0)  # at every block
    path, count = events_file
    seen: list[api.ReadProgress] = []
    summary = api.validate([str(path)], write=lambda _line: None, jobs=jobs, progress=seen.append)
    check_reports(seen, path, count)
    assert seen[-1].invalid == summary.invalid
    if jobs == 1:
        assert len(seen) > 3 and 0 < seen[0].bytes_done < path.stat().st_size


def test_inspect_reports_its_progress_as_it_reads(
    events_file: tuple[Path, int], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(progress_module, "PROGRESS_EVERY_SECONDS", 0.0)
    path, count = events_file
    seen: list[api.ReadProgress] = []
    profile = api.inspect([str(path)], progress=seen.append)
    check_reports(seen, path, count)
    assert len(seen) > 3
    assert profile.events_read == count


# --- on a terminal, on a pipe ---------------------------------------------------------------


def run_on_terminal(args: list[str], *, terminal: bool) -> tuple[int, str]:
    """`cdpcli ARGS` with stderr a pseudo-terminal of 80 columns (or a pipe): exit, stderr."""
    env = {**os.environ, "COLUMNS": "80"}
    env.pop("NO_COLOR", None)
    return stderr_of([sys.executable, "-m", "cdpcli", *args], env, terminal=terminal)


BAR = re.compile(r"\d+% [\d,]+ events/s ETA \d+:\d\d elapsed \d:\d\d:\d\d")

COMMANDS = {
    "validate": ["validate"],
    "inspect": ["inspect"],
    "dry run": ["send", "-c", str(EXAMPLE), "--dry-run", "-o", "OUTPUT"],
}


@pytest.mark.skipif(sys.platform == "win32", reason="pseudo-terminals are POSIX")
@pytest.mark.parametrize("command", COMMANDS)
def test_a_terminal_shows_the_bar_a_pipe_and_quiet_do_not(
    command: str, events_file: tuple[Path, int], tmp_path: Path
) -> None:
    path, count = events_file
    args = [a.replace("OUTPUT", str(tmp_path / "requests.jsonl")) for a in COMMANDS[command]]
    args.insert(1, str(path))
    code, stderr = run_on_terminal(args, terminal=True)
    assert code == 0, stderr
    assert BAR.search(stderr), stderr
    assert f"{count:,} events read" in stderr
    for extra, terminal in (([], False), (["-q"], True)):
        code, stderr = run_on_terminal([*args, *extra], terminal=terminal)
        assert code == 0, stderr
        assert "events/s" not in stderr.split("Dry run")[0] and "elapsed" not in stderr


# --- the send summary -----------------------------------------------------------------------

LINE = re.compile(
    r"(?P<read>[\d,]+) events read in [\d.]+ m?s \([\d,]+ events/s\): (?P<invalid>[\d,]+) invalid, "
    r"(?P<delivered>[\d,]+) would be delivered, (?P<duplicates>[\d,]+) duplicates, "
    r"(?P<rejected>[\d,]+) rejected, (?P<skipped>[\d,]+) skipped"
)


def send_text(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(app, ["send", *args], env={"COLUMNS": "200"})
    return result.exit_code, " ".join(result.stderr.split())


def test_the_summary_line_counts_input_events_and_they_add_up() -> None:
    code, stderr = send_text(str(SAMPLES), "-c", str(EXAMPLE), "--dry-run", "-o", os.devnull)
    assert code == 1
    found = LINE.search(stderr)
    assert found, stderr
    counts = {key: int(value.replace(",", "")) for key, value in found.groupdict().items()}
    assert counts["read"] == 51
    assert counts["read"] == sum(value for key, value in counts.items() if key != "read")
    assert counts["delivered"] == 31  # events; the table has 31 + 5 route deliveries
    assert f"hint: run `cdpcli validate {SAMPLES}` to see why events are invalid" in stderr
    kept = "the invalid and rejected events with their reasons"
    assert f"hint: `--rejected FILE` keeps {kept}, for a replay" in stderr


def test_the_summary_names_the_rejected_file_when_one_was_given(tmp_path: Path) -> None:
    rejected = tmp_path / "rejected.jsonl"
    code, stderr = send_text(
        str(SAMPLES), "-c", str(EXAMPLE), "--dry-run", "-o", os.devnull, "--rejected", str(rejected)
    )
    assert code == 1
    kept = "the invalid and rejected events with their reasons"
    assert f"hint: {rejected} keeps {kept}; `cdpcli send {rejected}` replays them" in stderr
    assert "--rejected FILE" not in stderr


def test_a_clean_run_has_no_hint() -> None:
    code, stderr = send_text(str(SAMPLES / "server.jsonl"), "-c", str(EXAMPLE), "--dry-run")
    assert code == 0, stderr
    assert "hint" not in stderr


def test_the_duration_reads_at_every_scale() -> None:
    from cdpcli.cli.send_render import duration_text

    assert [duration_text(s) for s in (0.0042, 0.012, 0.4, 12.34, 723.0, 7500.0)] == [
        "4 ms",
        "12 ms",
        "0.4 s",
        "12.3 s",
        "12 min 3 s",
        "2 h 5 min",
    ]
