"""The Typer application: one module per command group registers its commands here."""

from __future__ import annotations

import gc
import sys
from importlib import import_module
from typing import Annotated

import typer

from cdpcli import __version__

app = typer.Typer(
    name="cdpcli",
    help=(
        "Move Segment-spec analytics events from files into Mixpanel and Lago.\n\n"
        "Validate and profile event files, dry-run exactly which HTTP requests they become, "
        "deliver them with retries and checkpoints, and check startup-program eligibility."
    ),
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    rich_markup_mode="markdown",
    context_settings={"help_option_names": ["-h", "--help"]},
)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"cdpcli {__version__}")
        raise typer.Exit(0)


@app.callback()
def _root(
    version: Annotated[
        bool,
        typer.Option(
            "--version", callback=_version, is_eager=True, help="Show the version and exit."
        ),
    ] = False,
) -> None:
    """Move Segment-spec analytics events from files into Mixpanel and Lago."""


# Each module registers its commands on `app` when imported; this order is the help order.
COMMAND_MODULES = (
    "validate_cmd",
    "inspect_cmd",
    "send_cmd",
    "config_cmd",
    "keys_cmd",
    "eligibility_cmd",
)


def _register() -> None:
    for name in COMMAND_MODULES:
        import_module(f"cdpcli.cli.{name}")


_register()


def main() -> None:
    """Console-script entry point."""
    # Events are trees of dicts and lists that never form cycles: the cyclic collector would
    # only re-scan them. With Python's default thresholds it takes 0.15 s of a 200k-event dry
    # run's 3.3 s at -j 1 and 0.25 s of the parent's 2.2 s at -j 2 (timed with gc.callbacks), or
    # 2.4 % and 2.7 % of the instructions of a 20k-event one (callgrind). So it runs after
    # 100,000 new containers, with the objects of start-up frozen out of its way: no collection
    # at all in those runs. The one cycle that would pile up meanwhile, each HTTP exchange of
    # httpx, is broken where it is made (`cdpcli.send.http_batch._release`).
    gc.freeze()
    gc.set_threshold(100_000, 50, 100)
    _keep_freed_heap()
    app()


def _keep_freed_heap() -> None:
    """Stop glibc from giving the top of the heap back to the OS after every batch, only to
    fault it in again for the next one (a fifth of a dry run's CPU time went to page faults).
    Memory is still reused; the process just keeps up to 64 MB of it between batches."""
    if not sys.platform.startswith("linux"):
        return
    import ctypes

    try:
        libc = ctypes.CDLL(None)
        mallopt = libc.mallopt
    except (OSError, AttributeError):  # not glibc (musl has no mallopt)
        return
    m_trim_threshold, m_top_pad = -1, -2
    mallopt(m_trim_threshold, 64 * 1024 * 1024)
    mallopt(m_top_pad, 16 * 1024 * 1024)
