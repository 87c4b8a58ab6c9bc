"""The Typer application: one module per command group registers its commands here."""

from __future__ import annotations

import gc
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
    # only re-scan them. Collect rarely (reference cycles of the libraries are still freed).
    gc.freeze()
    gc.set_threshold(100_000, 50, 100)
    app()
