"""`cdpcli keys set/list/delete`: destination secrets in the OS keyring (PRODUCT.md §7).

Values are read without echo (or from stdin with `--stdin`), stored under service `cdpcli`, user
`<destination>.<field>`, and only ever shown masked. DEST and FIELD are checked against the
config when there is one (`--config`, `CDPCLI_CONFIG`, or `./cdpcli.yaml`).
"""

from __future__ import annotations

import os
import re
import sys
from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape

from cdpcli import jsonio
from cdpcli.cli.app import app
from cdpcli.cli.common import (
    FormatOption,
    OutputFormat,
    QuietOption,
    Streams,
    handle_errors,
    streams,
)
from cdpcli.errors import CdpError, ConfigError, UsageError
from cdpcli.secrets.store import (
    ConfigLike,
    SecretStatus,
    SecretStore,
    allowed_fields,
    env_var_name,
    keys_set_command,
)

_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]*$")

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


def _find_config(option: Path | None, *, required: bool) -> ConfigLike | None:
    """Load the config named by `--config`/`CDPCLI_CONFIG`, else `./cdpcli.yaml` if present.

    Without `--config` or `CDPCLI_CONFIG` and no `./cdpcli.yaml`, there is no config: None, or
    a ConfigError when the command cannot work without one.
    """
    from cdpcli.routing.config import CONFIG_ENV, load_config, resolve_config_path

    path = resolve_config_path(option, os.environ)
    chosen = option is not None or bool(os.environ.get(CONFIG_ENV))
    if not chosen and not path.exists():
        if required:
            raise ConfigError(
                f"no config file: none given and no {path} here",
                hint=f"pass --config FILE or set {CONFIG_ENV}",
            )
        return None
    config: ConfigLike = load_config(path)
    return config


def _check_names(config: ConfigLike | None, destination: str, field: str) -> None:
    """DEST and FIELD must be ones the config knows (or well-formed names without a config)."""
    if config is None:
        for label, value in (("DEST", destination), ("FIELD", field)):
            if not _NAME.match(value):
                raise UsageError(
                    f"{label} `{value}` is not a valid name",
                    hint="use letters, digits, `_` and `-`",
                )
        return
    if destination not in config.destinations:
        known = ", ".join(config.destinations) or "(none)"
        raise UsageError(
            f"unknown destination `{destination}`",
            hint=f"destinations in the config: {known}",
        )
    allowed = [secret.field for secret in allowed_fields(config, destination)]
    if field not in allowed:
        kind = config.destinations[destination].kind
        raise UsageError(
            f"unknown secret field `{field}` for destination `{destination}` (kind {kind})",
            hint=f"allowed fields: {', '.join(allowed) or '(none)'}",
        )


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
        raise UsageError(
            "stdin is not a terminal, so the secret cannot be prompted for",
            hint=f"pipe it in with --stdin: `... | cdpcli keys set {destination} {field} --stdin`",
        )
    if not value:
        raise UsageError(f"empty secret for {destination}.{field}: nothing stored")
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
        _check_names(_find_config(config_path, required=False), destination, field)
        value = _read_secret(destination, field, from_stdin)
        store = SecretStore(os.environ)
        backend = store.set(destination, field, value)
        _say(out, f"Stored {destination}.{field} in the OS keyring ({backend}).")
        variable = env_var_name(destination, field)
        if os.environ.get(variable):
            _say(out, f"Note: {variable} is set in the environment and takes precedence.")


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
        _check_names(_find_config(config_path, required=False), destination, field)
        store = SecretStore(os.environ)
        if not store.delete(destination, field):
            raise CdpError(
                f"no secret stored in the OS keyring for {destination}.{field}",
                hint="`cdpcli keys list` shows where each secret comes from",
            )
        _say(out, f"Deleted {destination}.{field} from the OS keyring.")
        variable = env_var_name(destination, field)
        if os.environ.get(variable):
            _say(out, f"Note: {variable} is still set in the environment and will be used.")


def _render_text(statuses: list[SecretStatus]) -> list[str]:
    headers = ("DESTINATION", "FIELD", "FOUND", "SOURCE", "VALUE", "PURPOSE")
    rows = [
        (
            s.destination,
            s.field,
            "yes" if s.found else "no",
            s.source or "-",
            s.masked or "-",
            s.purpose,
        )
        for s in statuses
    ]
    widths = [max(len(row[i]) for row in [headers, *rows]) for i in range(len(headers) - 1)]
    lines = []
    for row in [headers, *rows]:
        cells = [cell.ljust(width) for cell, width in zip(row, widths, strict=False)]
        lines.append("  ".join([*cells, row[-1]]).rstrip())
    return lines


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
        config = _find_config(config_path, required=True)
        assert config is not None
        store = SecretStore(os.environ)
        statuses = store.describe_secrets(config)
        status = store.keyring_status()
        if output_format is OutputFormat.json:
            document = {
                "keyring": {
                    "usable": status.usable,
                    "backend": status.backend,
                    "reason": status.reason,
                },
                "secrets": [s.as_dict() for s in statuses],
            }
            out.write_line(jsonio.dumps(document))
        else:
            for line in _render_text(statuses):
                out.write_line(line)
        for s in statuses:
            if not s.found:
                _say(
                    out,
                    f"missing {s.destination}.{s.field}: set {s.env_var} "
                    f"or run `{keys_set_command(s.destination, s.field)}`",
                )
        if not status.usable:
            _say(
                out,
                f"The OS keyring is not usable ({status.reason}); "
                "secrets can only come from the environment.",
            )
