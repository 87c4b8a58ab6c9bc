"""`cdpcli config check` and `cdpcli config init` (PRODUCT.md §2, §5).

`check` loads the config (every error names file, line and key; exit 3), then lists the
destinations, the routes and the secrets each destination needs, found or not, and where
(masked). Missing secrets do not fail the check; with `--connect` (PRODUCT.md §6.1) each
destination also gets its harmless authenticated requests, and a missing or refused secret exits
5, an unreachable destination 6. `init` writes the commented starter config.
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
    exit_with,
    handle_errors,
    streams,
)
from cdpcli.cli.config_render import connect_summary, render_check, render_connect

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
    connect: Annotated[
        bool,
        typer.Option(
            "--connect",
            help="Also prove that each destination is reachable and accepts its secrets: one "
            "harmless authenticated request per check, which writes no data (README, "
            "`config check`, says what each kind sends), reported with its answer and latency. "
            "Exit 5 if a secret is missing or refused, 6 if a destination is unreachable or "
            "its answer proves nothing.",
        ),
    ] = False,
    allow_insecure_http: Annotated[
        bool,
        typer.Option(
            "--allow-insecure-http",
            help="With --connect: allow http:// for hosts other than loopback.",
        ),
    ] = False,
    output_format: FormatOption = OutputFormat.text,
    quiet: QuietOption = False,
) -> None:
    """Validate the config; list destinations, routes, and which secrets are found and where.

    Every error of the config is reported at once, each with its line and key, and a "did you
    mean" for a near miss. Exit 0 when the config is valid (even with secrets missing), 3 when it
    is not. With --connect, also check that each destination is reachable and accepts its
    secrets: exit 0 when all accepted, 5 when a secret is missing or refused, 6 when a
    destination is unreachable (5 wins).
    """
    out = streams(quiet=quiet)
    with handle_errors():
        path = api.resolve_config_path(config_path)
        try:
            config = api.load_config(path)
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
        result = api.check_config(config)
        connected = (
            api.check_connect(config, allow_insecure_http=allow_insecure_http) if connect else None
        )
        if output_format is OutputFormat.json:
            document = result.as_dict()
            if connected is not None:
                document["connect"] = connected.as_dict()
            out.write_line(api.to_json(document))
        else:
            for line in render_check(result):
                out.write_line(line)
            if connected is not None:
                out.write_line("")
                for line in render_connect(connected):
                    out.write_line(line)
            missing = result.secrets.missing
            if connected is not None:
                out.say(escape(f"Config is valid; {connect_summary(connected)}."))
            elif missing:
                out.say(
                    f"Config is valid; {len(missing)} secret(s) missing "
                    "(set them before `cdpcli send`)."
                )
            else:
                out.say("Config is valid.")
        if connected is not None and connected.exit_code != api.ExitCode.OK:
            exit_with(connected.exit_code)


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
