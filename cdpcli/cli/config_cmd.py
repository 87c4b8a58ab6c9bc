"""`cdpcli config check` and `cdpcli config init` (PRODUCT.md §2, §5).

`check` loads the config (every error names file, line and key; exit 3), then lists the
destinations, the routes and the secrets each destination needs, found or not, and where
(masked). Missing secrets do not fail the check. `init` writes the commented starter config.
"""

from __future__ import annotations

import os
import sys
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any
from urllib.parse import urlsplit

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
from cdpcli.errors import ConfigError, UsageError

if TYPE_CHECKING:  # library modules load when a command runs: fast start-up
    from cdpcli.routing.config import Config, DestinationConfig

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


def starter_config() -> str:
    """The commented starter config shipped with the package (`cdpcli/data`)."""
    return (
        resources.files("cdpcli")
        .joinpath("data", "config.example.yaml")
        .read_text(encoding="utf-8")
    )


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
    from cdpcli.routing.config import load_config, resolve_config_path

    out = streams(quiet=quiet)
    with handle_errors():
        path = resolve_config_path(config_path)
        try:
            config = load_config(path)
        except ConfigError as error:
            if output_format is OutputFormat.json:
                out.write_line(
                    jsonio.dumps(
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
        report = check_report(config)
        if output_format is OutputFormat.json:
            out.write_line(jsonio.dumps(report))
        else:
            for line in render_text(report):
                out.write_line(line)
            missing = [s for s in report["secrets"] if not s.get("found")]
            if missing:
                out.say(
                    f"Config is valid; {len(missing)} secret(s) missing "
                    "(set them before `cdpcli send`)."
                )
            else:
                out.say("Config is valid.")


def check_report(config: Config) -> dict[str, Any]:
    """Everything `config check` shows, as JSON-ready data."""
    from cdpcli.routing.conditions import EVENT_TYPES
    from cdpcli.secrets.store import SecretStore

    store = SecretStore(os.environ)
    statuses = store.describe_secrets(config)
    keyring = store.keyring_status()
    return {
        "config": str(config.path),
        "valid": True,
        "version": config.version,
        "respect_integrations": config.respect_integrations,
        "destinations": [
            {
                "name": destination.name,
                "kind": destination.kind,
                "hosts": _hosts(destination),
            }
            for destination in config.destinations.values()
        ],
        "routes": [
            {
                "name": route.name,
                "to": route.to,
                "when": route.when.summary,
                "types": [t for t in EVENT_TYPES if t in route.types],
                "map_keys": list(route.map.keys()) if route.map is not None else [],
                "qualifier": route.qualifier,
            }
            for route in config.routes
        ],
        "secrets": [status.as_dict() for status in statuses],
        "keyring": {
            "usable": keyring.usable,
            "backend": keyring.backend,
            "reason": keyring.reason,
        },
    }


def _hosts(configured: DestinationConfig) -> list[str]:
    """The distinct hosts (with port) of a destination's endpoints, in endpoint order."""
    from cdpcli.destinations import registry

    kind = registry.get_kind(configured.kind)
    destination = kind(configured.name, configured.options, None)  # no secret needed
    hosts: list[str] = []
    for endpoint in destination.endpoints().values():
        host = urlsplit(endpoint.url).netloc
        if host and host not in hosts:
            hosts.append(host)
    return hosts


def _table(rows: list[tuple[str, ...]]) -> list[str]:
    if not rows:
        return []
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]) - 1)]
    lines = []
    for row in rows:
        cells = [cell.ljust(width) for cell, width in zip(row, widths, strict=False)]
        lines.append(("  " + "  ".join([*cells, row[-1]])).rstrip())
    return lines


def render_text(report: dict[str, Any]) -> list[str]:
    """The human listing of `check_report`."""
    integrations = "honoured" if report["respect_integrations"] else "ignored"
    lines = [
        f"Config {report['config']}: valid (version {report['version']}, "
        f"event `integrations` {integrations})",
        "",
        "Destinations:",
    ]
    lines += _table(
        [("NAME", "KIND", "HOST")]
        + [(d["name"], d["kind"], ", ".join(d["hosts"])) for d in report["destinations"]]
    )
    lines += ["", "Routes:"]
    for r in report["routes"]:
        qualified = f"  (second route there: ids qualified by {r['qualifier']!r})"
        lines.append(f"  {r['name']} -> {r['to']}" + (qualified if r["qualifier"] else ""))
        lines.append(f"      when: {r['when']}")
        if r["map_keys"]:
            lines.append(f"      map:  {', '.join(r['map_keys'])}")
    lines += ["", "Secrets:"]
    secret_rows: list[tuple[str, ...]] = [("DESTINATION", "FIELD", "FOUND", "SOURCE", "VALUE")]
    for s in report["secrets"]:
        missing = (
            f"missing: set {s['env_var']} or run `cdpcli keys set {s['destination']} {s['field']}`"
        )
        secret_rows.append(
            (
                str(s["destination"]),
                str(s["field"]),
                "yes" if s["found"] else "no",
                str(s["source"] or "-"),
                str(s["masked"] or missing),
            )
        )
    lines += _table(secret_rows) if len(secret_rows) > 1 else ["  (none needed)"]
    keyring = report["keyring"]
    if not keyring["usable"]:
        lines += ["", f"OS keyring not usable ({keyring['reason']}): secrets come from env only."]
    return lines


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
    from cdpcli.routing.config import resolve_config_path

    out = streams(quiet=quiet)
    with handle_errors():
        text = starter_config()
        if path is not None and str(path) == "-":
            sys.stdout.write(text)
            return
        target = resolve_config_path(path)
        _write_new(target, text, force=force)
        _next_steps(out, target)


def _write_new(target: Path, text: str, *, force: bool) -> None:
    if target.is_dir():
        raise UsageError(f"{target} is a directory", hint="give a file path, e.g. cdpcli.yaml")
    try:
        with target.open("w" if force else "x", encoding="utf-8") as handle:
            handle.write(text)
    except FileExistsError:
        raise UsageError(
            f"{target} already exists; not overwriting it",
            hint="pass --force to overwrite, or give another PATH",
        ) from None
    except OSError as error:
        raise UsageError(f"cannot write {target}: {error.strerror or error}") from None


def _next_steps(out: Streams, target: Path) -> None:
    out.say(escape(f"Wrote {target}."))
    out.say(
        escape(
            "Next: edit the destinations and routes, store the secrets "
            "(`cdpcli keys set DEST FIELD` or CDPCLI_<DEST>_<FIELD>), "
            f"then run `cdpcli config check --config {target}`."
        )
    )
