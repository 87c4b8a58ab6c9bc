"""The progress display of the long commands (`validate`, `inspect`, `send`, dry runs included),
on stderr when it is a terminal and `--quiet` is not given (PRODUCT.md §6.1 "Progress").

One line of rich's own progress columns (`cdpcli.cli.progress_bar`): a bar and its percentage
(input bytes read of bytes in all), `N events/s`, `ETA 0:11` and `elapsed 0:00:03`; the bar pulses
and the ETA is left out when the input's size is unknown (stdin). Under it, the counts so far, then
what each destination waits for (`status`). The columns fit in 80; the lines under them wrap,
never cut. When stderr is not a terminal, nothing is drawn (and nothing of the bar is imported),
and each new `status` is a plain line instead.

While the bar is drawn, data the command writes to stdout goes above it when stdout is a terminal
too (rich's redirection); to a pipe or a file, it goes straight there, untouched.
"""

from __future__ import annotations

import sys
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol, TextIO, cast

from cdpcli.cli.common import Streams

if TYPE_CHECKING:
    from rich.console import Console
    from rich.progress import TaskID

    from cdpcli.cli.progress_bar import LinesProgress


class ReadState(Protocol):
    """What a run reports (`ReadProgress`, or a send's `SendSummary`)."""

    @property
    def events_read(self) -> int: ...
    @property
    def bytes_done(self) -> int: ...
    @property
    def bytes_total(self) -> int | None: ...


@dataclass
class ProgressDisplay:
    """The display of one run. `update(state)` with what the run reports, `status(destination,
    message)` with what a destination waits for ("" when it no longer does), `print(line)` for a
    line above it (the `-v` lines); `stop()` at the end. Safe to call from several threads."""

    progress: LinesProgress | None
    task: TaskID | None
    out: Streams | None = None
    describe: Callable[[Any], str] = lambda state: f"{state.events_read:,} events read"
    counts: str = "starting…"
    statuses: dict[str, str] = field(default_factory=dict)
    printed: dict[str, str] = field(default_factory=dict)  # per destination, on a plain stream
    lock: threading.Lock = field(default_factory=threading.Lock)
    _stdout: TextIO | None = None  # the command's stdout, while it goes above the bar

    @classmethod
    def start(
        cls,
        out: Streams,
        describe: Callable[[Any], str] | None = None,
        *,
        console: Console | None = None,
        get_time: Callable[[], float] | None = None,
    ) -> ProgressDisplay:
        """Start drawing on `out`'s stderr (or `console`), if it is a terminal and not quiet.
        `describe(state)` is the counts line under the bar; `get_time` rich's clock."""
        console = console if console is not None else out.err_console
        kept: dict[str, Any] = {"describe": describe} if describe is not None else {}
        if out.quiet or not console.is_terminal:
            return cls(None, None, out, **kept)
        from rich.file_proxy import FileProxy

        from cdpcli.cli.progress_bar import LinesProgress, columns

        progress = LinesProgress(*columns(), console=console, transient=True, get_time=get_time)
        task = progress.add_task("", total=None, events=0)
        display = cls(progress, task, out, **kept)
        progress.lines = (display.counts,)
        progress.start()
        if _isatty(out.out) and isinstance(sys.stdout, FileProxy):
            display._stdout, out.out = out.out, cast(TextIO, sys.stdout)  # rich's: above the bar
        return display

    def update(self, state: ReadState) -> None:
        if self.progress is None or self.task is None:
            return
        with self.lock:
            self.counts = self.describe(state)
            self.progress.update(
                self.task,
                total=state.bytes_total or None,
                completed=state.bytes_done,
                events=state.events_read,
            )
            self._lines()

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
                self._lines()
            elif message and self.printed.get(destination) != message:
                self.printed[destination] = message
                self.print(f"{destination}: {message}")

    def print(self, line: str) -> None:
        """A line on stderr, above the bar while it is drawn."""
        console = self.progress.console if self.progress is not None else None
        if console is None and self.out is not None:
            console = self.out.err_console
        if console is not None:
            console.print(line, markup=False, emoji=False, highlight=False, soft_wrap=True)

    def stop(self) -> None:
        if self.progress is not None:
            self.progress.stop()
        if self._stdout is not None and self.out is not None:
            self.out.out.flush()
            self.out.out, self._stdout = self._stdout, None

    def _lines(self) -> None:
        """The lines under the bar, drawn at the next refresh (10 a second)."""
        assert self.progress is not None
        self.progress.lines = (
            self.counts,
            *(f"{name}: {text}" for name, text in self.statuses.items()),
        )


def _isatty(stream: TextIO) -> bool:
    try:
        return stream.isatty()
    except (AttributeError, ValueError):
        return False


def read_counts(state: Any) -> str:
    """The counts line of `validate` and `inspect`: `12,345 events read · 18 invalid`."""
    return f"{state.events_read:,} events read · {state.invalid:,} invalid"
