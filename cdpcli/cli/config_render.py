"""How `config check` shows a config to a human: destinations, routes, secrets."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from cdpcli.api import ConfigCheck


def table(rows: list[tuple[str, ...]]) -> list[str]:
    """Rows as aligned columns, indented two spaces; the last column is not padded."""
    if not rows:
        return []
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]) - 1)]
    lines = []
    for row in rows:
        cells = [cell.ljust(width) for cell, width in zip(row, widths, strict=False)]
        lines.append(("  " + "  ".join([*cells, row[-1]])).rstrip())
    return lines


def render_check(check: ConfigCheck) -> list[str]:
    """The human listing of a config check (stdout)."""
    integrations = "honoured" if check.respect_integrations else "ignored"
    lines = [
        f"Config {check.config}: valid (version {check.version}, "
        f"event `integrations` {integrations})",
        "",
        "Destinations:",
    ]
    destination_rows: list[tuple[str, ...]] = [("NAME", "KIND", "HOST")]
    destination_rows += [(d.name, d.kind, ", ".join(d.hosts)) for d in check.destinations]
    lines += table(destination_rows)
    lines += ["", "Routes:"]
    for r in check.routes:
        qualified = f"  (second route there: ids qualified by {r.qualifier!r})"
        lines.append(f"  {r.name} -> {r.to}" + (qualified if r.qualifier else ""))
        lines.append(f"      when: {r.when}")
        if r.map_keys:
            lines.append(f"      map:  {', '.join(r.map_keys)}")
    lines += ["", "Secrets:"]
    secret_rows: list[tuple[str, ...]] = [("DESTINATION", "FIELD", "FOUND", "SOURCE", "VALUE")]
    for s in check.secrets.secrets:
        missing = f"missing: set {s.env_var} or run `cdpcli keys set {s.destination} {s.field}`"
        secret_rows.append(
            (
                s.destination,
                s.field,
                "yes" if s.found else "no",
                s.source or "-",
                s.masked or missing,
            )
        )
    lines += table(secret_rows) if len(secret_rows) > 1 else ["  (none needed)"]
    keyring = check.secrets.keyring
    if not keyring.usable:
        lines += ["", f"OS keyring not usable ({keyring.reason}): secrets come from env only."]
    return lines
