"""`cdpcli config check` and `cdpcli config init` (PRODUCT.md §2, §5).

`check` loads the config (every error names file, line and key; exit 3), then lists the
destinations, the routes and the secrets each destination needs, found or not, and where
(masked). Missing secrets do not fail the check. `init` writes the commented starter config.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape

from cdpcli import api
from cdpcli.cli.app import app
from cdpcli.cli.common import (
    FormatOption,
    OutputFormat,
    QuietOption,
    Streams,
    handle_errors,
    streams,
)
from cdpcli.cli.config_render import render_check

config_app = typer.Typer(
    name="config",
    help="Check the routing config, or write a commented starter config.",
    no_args_is_help=True,
)
app.add_typer(config_app, name="config")

ConfigOption = Annotated[
    Path | None,
    typer.Option(
        "--config",
        "-c",
        help="Config file (default: $CDPCLI_CONFIG, else ./cdpcli.yaml).",
        show_default=False,
    ),
]


# --- check -----------------------------------------------------------------------------------


@config_app.command("check")
def check(
    config_path: ConfigOption = None,
    output_format: FormatOption = OutputFormat.text,
    quiet: QuietOption = False,
) -> None:
    """Validate the config; list destinations, routes, and which secrets are found and where.

    Every error of the config is reported at once, each with its line and key, and a "did you
    mean" for a near miss. Exit 0 when the config is valid (even with secrets missing), 3 when it
    is not.
    """
    out = streams(quiet=quiet)
    with handle_errors():
        path = api.resolve_config_path(config_path)
        try:
            result = api.check_config(path)
        except api.ConfigError as error:
            if output_format is OutputFormat.json:
                out.write_line(
                    api.to_json(
                        {
                            "config": str(path),
                            "valid": False,
                            "error": error.message,
                            "hint": error.hint,
                            "errors": [
                                {"error": one.message, "hint": one.hint} for one in error.errors
                            ],
                        }
                    )
                )
            raise
        if output_format is OutputFormat.json:
            out.write_line(api.to_json(result.as_dict()))
        else:
            for line in render_check(result):
                out.write_line(line)
            missing = result.secrets.missing
            if missing:
                out.say(
                    f"Config is valid; {len(missing)} secret(s) missing "
                    "(set them before `cdpcli send`)."
                )
            else:
                out.say("Config is valid.")


# --- init ------------------------------------------------------------------------------------


@config_app.command("init")
def init(
    path: Annotated[
        Path | None,
        typer.Argument(
            help="Where to write it (default: $CDPCLI_CONFIG, else ./cdpcli.yaml); - for stdout.",
            show_default=False,
        ),
    ] = None,
    force: Annotated[bool, typer.Option("--force", help="Overwrite an existing file.")] = False,
    quiet: QuietOption = False,
) -> None:
    """Write a commented starter config (two destinations, three example routes)."""
    out = streams(quiet=quiet)
    with handle_errors():
        if path is not None and str(path) == "-":
            sys.stdout.write(api.starter_config())
            return
        target = api.write_starter_config(api.resolve_config_path(path), force=force)
        _next_steps(out, target)


def _next_steps(out: Streams, target: Path) -> None:
    out.say(escape(f"Wrote {target}."))
    out.say(
        escape(
            "Next: edit the destinations and routes, store the secrets "
            "(`cdpcli keys set DEST FIELD` or CDPCLI_<DEST>_<FIELD>), "
            f"then run `cdpcli config check --config {target}`."
        )
    )
