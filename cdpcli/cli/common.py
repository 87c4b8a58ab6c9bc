"""What every command shares: output streams, `--format`, and the one place errors become exits.

Data goes to stdout; progress, logs and human summaries go to stderr. Colour only when stderr is a
terminal and `NO_COLOR` is unset; `--quiet` silences everything but errors.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from enum import StrEnum
from typing import Annotated, NoReturn, TextIO

import typer
from rich.console import Console
from rich.markup import escape

from cdpcli.api import CdpError, ExitCode, NoInputError

LOG_WIDTH = 120  # columns for human output when stderr is not a terminal


class OutputFormat(StrEnum):
    text = "text"
    json = "json"


FormatOption = Annotated[
    OutputFormat,
    typer.Option("--format", "-f", help="Output format: text for humans, json for scripts."),
]
JobsOption = Annotated[
    int | None,
    typer.Option(
        "--jobs",
        "-j",
        min=1,
        help="Processes to use for large uncompressed JSON-lines files (default: the CPUs "
        "available; one where processes cannot be forked, as on Windows; output is the same in "
        "any case).",
        show_default=False,
    ),
]
QuietOption = Annotated[
    bool, typer.Option("--quiet", "-q", help="Print nothing but errors (and the data on stdout).")
]


@dataclass
class Streams:
    """The command's view of its terminal: data on `out`, humans on `err`."""

    out: TextIO
    err_console: Console
    quiet: bool = False

    def write_line(self, text: str) -> None:
        """Write one line of data to stdout."""
        self.out.write(text + "\n")

    def say(self, *objects: object) -> None:
        """Print to stderr for a human, unless `--quiet`."""
        if not self.quiet:
            self.err_console.print(*objects, highlight=False)

    def notes(self, notes: Iterable[str]) -> None:
        """Print a run's notes (how it ran, e.g. in one process) to stderr, unless `--quiet`."""
        for note in notes:
            self.say(f"note: {escape(note)}")


def streams(*, quiet: bool = False) -> Streams:
    """Build the streams for one command run (never at import time)."""
    no_color = "NO_COLOR" in os.environ and os.environ["NO_COLOR"] != ""
    err_console = Console(
        file=sys.stderr,
        no_color=no_color,
        highlight=False,
        soft_wrap=True,
        # Logs of scripts and CI are not 80 columns wide: keep summary tables whole there.
        width=None if sys.stderr.isatty() or "COLUMNS" in os.environ else LOG_WIDTH,
    )
    return Streams(out=sys.stdout, err_console=err_console, quiet=quiet)


def fail(error: CdpError) -> NoReturn:
    """Print `Error: <message>` on stderr and exit with the error's code. The one translation."""
    no_color = "NO_COLOR" in os.environ and os.environ["NO_COLOR"] != ""
    console = Console(file=sys.stderr, no_color=no_color, highlight=False, soft_wrap=True)
    console.print(f"[bold red]Error:[/bold red] {escape(error.message)}", highlight=False)
    if error.hint:
        console.print(f"  hint: {error.hint}", highlight=False, markup=False)
    raise typer.Exit(int(error.exit_code))


def no_input_example(command: str, options: str = "") -> str:
    """The hint for a command run with no PATH and stdin a terminal: how to give it input.

    `no_input_example("send", "-c cdpcli.yaml")` -> "e.g. `cdpcli send events.jsonl -c
    cdpcli.yaml` or `cat events.jsonl | cdpcli send -c cdpcli.yaml`".
    """
    rest = f" {options}" if options else ""
    return (
        f"e.g. `cdpcli {command} events.jsonl{rest}` or `cat events.jsonl | cdpcli {command}{rest}`"
    )


@contextmanager
def handle_errors(*, no_input: str | None = None) -> Iterator[None]:
    """Turn cdpcli's own errors into a message and an exit code; let bugs show as bugs.

    `no_input` is the command's own example (see `no_input_example`), given as the hint when the
    command was run with no PATH and nothing piped in.
    """
    try:
        yield
    except NoInputError as error:
        if no_input is not None:
            error.hint = no_input
        fail(error)
    except CdpError as error:
        fail(error)
    except KeyboardInterrupt:
        sys.stderr.write("Interrupted.\n")
        raise typer.Exit(int(ExitCode.INTERRUPTED)) from None
    except BrokenPipeError:
        # The reader of stdout went away (`| head`): not an error of ours.
        _silence_stdout()
        raise typer.Exit(int(ExitCode.OK)) from None


def _silence_stdout() -> None:
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError):
        pass


def exit_with(code: int) -> NoReturn:
    raise typer.Exit(int(code))


def table(rows: list[tuple[str, ...]], *, indent: str = "  ") -> list[str]:
    """Rows as aligned columns (two spaces apart), each line after `indent`; the last column is
    not padded."""
    if not rows:
        return []
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]) - 1)]
    lines = []
    for row in rows:
        cells = [cell.ljust(width) for cell, width in zip(row, widths, strict=False)]
        lines.append((indent + "  ".join([*cells, row[-1]])).rstrip())
    return lines
