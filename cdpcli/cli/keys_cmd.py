"""`cdpcli keys set/list/delete`: destination secrets in the OS keyring (PRODUCT.md §7).

Values are read without echo (or from stdin with `--stdin`), stored under service `cdpcli`, user
`<destination>.<field>`, and only ever shown masked. DEST and FIELD are checked against the
config when there is one (`--config`, `CDPCLI_CONFIG`, or `./cdpcli.yaml`).
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
from cdpcli.cli.keys_render import render_secrets

keys_app = typer.Typer(
    name="keys",
    help="Manage destination secrets in the OS keyring (the environment always wins).",
    no_args_is_help=True,
)
app.add_typer(keys_app, name="keys")

DestArgument = Annotated[str, typer.Argument(help="Destination name, as in the config.")]
FieldArgument = Annotated[
    str, typer.Argument(help="Secret field, e.g. api_key, api_secret, project_token.")
]
ConfigOption = Annotated[
    Path | None,
    typer.Option(
        "--config",
        "-c",
        help="Config file (default: $CDPCLI_CONFIG, else ./cdpcli.yaml when present); DEST and "
        "FIELD are checked against it.",
        show_default=False,
    ),
]
ListConfigOption = Annotated[
    Path | None,
    typer.Option(
        "--config",
        "-c",
        help="Config file whose secrets to list (default: $CDPCLI_CONFIG, else ./cdpcli.yaml).",
        show_default=False,
    ),
]


def _say(out: Streams, text: str) -> None:
    """A message for a human on stderr; names in it are never read as Rich markup."""
    out.say(escape(text))


def _stdin_is_terminal() -> bool:
    try:
        return sys.stdin.isatty()
    except (AttributeError, ValueError):
        return False


def _read_secret(destination: str, field: str, from_stdin: bool) -> str:
    if from_stdin:
        value = sys.stdin.read()
        if value.endswith("\r\n"):
            value = value[:-2]
        elif value.endswith("\n"):
            value = value[:-1]
    elif _stdin_is_terminal():
        value = typer.prompt(f"Secret for {destination}.{field}", hide_input=True)
    else:
        raise api.UsageError(
            "stdin is not a terminal, so the secret cannot be prompted for",
            hint=f"pipe it in with --stdin: `... | cdpcli keys set {destination} {field} --stdin`",
        )
    if not value:
        raise api.UsageError(f"empty secret for {destination}.{field}: nothing stored")
    return value


@keys_app.command("set")
def set_secret(
    destination: DestArgument,
    field: FieldArgument,
    from_stdin: Annotated[
        bool,
        typer.Option("--stdin", help="Read the secret from stdin (one trailing newline removed)."),
    ] = False,
    config_path: ConfigOption = None,
    quiet: QuietOption = False,
) -> None:
    """Store a secret in the OS keyring, prompting without echo (or reading stdin with --stdin).

    Exit 2 on a bad DEST/FIELD or when stdin is not a terminal without --stdin, 5 when no
    usable keyring exists (set the `CDPCLI_<DEST>_<FIELD>` environment variable instead).
    """
    out = streams(quiet=quiet)
    with handle_errors():
        stored = api.set_secret(
            destination,
            field,
            lambda: _read_secret(destination, field, from_stdin),  # after the names are checked
            config=api.find_config(config_path),
        )
        _say(out, f"Stored {destination}.{field} in the OS keyring ({stored.backend}).")
        if stored.env_var_set:
            _say(out, f"Note: {stored.env_var} is set in the environment and takes precedence.")


@keys_app.command("delete")
def delete_secret(
    destination: DestArgument,
    field: FieldArgument,
    config_path: ConfigOption = None,
    quiet: QuietOption = False,
) -> None:
    """Delete a secret from the OS keyring.

    Exit 1 when none was stored, 5 when no usable keyring exists.
    """
    out = streams(quiet=quiet)
    with handle_errors():
        deleted = api.delete_secret(destination, field, config=api.find_config(config_path))
        _say(out, f"Deleted {destination}.{field} from the OS keyring.")
        if deleted.env_var_set:
            _say(out, f"Note: {deleted.env_var} is still set in the environment and will be used.")


@keys_app.command("list")
def list_secrets(
    config_path: ListConfigOption = None,
    output_format: FormatOption = OutputFormat.text,
    quiet: QuietOption = False,
) -> None:
    """List every secret the config needs, whether it is found, where, and masked.

    Missing secrets are listed with the environment variable and command that provide them.
    Exit 0 whether or not secrets are missing; 3 when the config is missing or invalid.
    """
    out = streams(quiet=quiet)
    with handle_errors():
        listing = api.list_secrets(api.find_config(config_path, required=True))
        if output_format is OutputFormat.json:
            out.write_line(api.to_json(listing.as_dict()))
        else:
            for line in render_secrets(listing):
                out.write_line(line)
        for s in listing.missing:
            _say(
                out,
                f"missing {s.destination}.{s.field}: set {s.env_var} "
                f"or run `cdpcli keys set {s.destination} {s.field}`",
            )
        if not listing.keyring.usable:
            _say(
                out,
                f"The OS keyring is not usable ({listing.keyring.reason}); "
                "secrets can only come from the environment.",
            )
