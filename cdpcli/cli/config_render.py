"""How `config check` shows a config to a human: destinations, routes, secrets; and with
`--connect`, what each destination answered."""

from __future__ import annotations

from typing import TYPE_CHECKING

from cdpcli.cli.common import table

if TYPE_CHECKING:
    from cdpcli.api import ConfigCheck, ConnectCheck


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


CONNECT_ORDER = ("accepted", "refused", "missing", "unreachable", "unexpected", "unused")


def _latency(ms: float | None) -> str:
    if ms is None:
        return "-"
    return f"{ms:.0f} ms" if ms >= 1 else f"{ms:.1f} ms"


def render_connect(check: ConnectCheck) -> list[str]:
    """The human listing of `config check --connect` (stdout): a row per request made (or per
    destination not contacted), each followed by what came of it, and a hint where one helps."""
    rows: list[tuple[str, ...]] = [("DESTINATION", "CHECK", "RESULT", "HTTP", "TIME")]
    details: list[list[str]] = [[]]
    for destination in check.destinations:
        notes: list[str] = []
        if not destination.probes:
            rows.append((destination.name, "-", destination.outcome, "-", "-"))
            details.append([destination.message])
            notes = details[-1]
        for probe in destination.probes:
            status = "-" if probe.status is None else str(probe.status)
            rows.append(
                (destination.name, probe.checks, probe.outcome, status, _latency(probe.latency_ms))
            )
            details.append([probe.message])
            if not notes and probe.outcome == destination.outcome:
                notes = details[-1]  # the hint goes under the first check it is about
        if destination.hint:
            notes.append(f"hint: {destination.hint}")
    lines = ["Connections (each check is one request that writes nothing):"]
    for line, notes in zip(table(rows), details, strict=True):
        lines.append(line)
        lines += [f"      {note}" for note in notes]
    return lines


def connect_summary(check: ConnectCheck) -> str:
    """One line for stderr: how many destinations had each outcome."""
    parts = [f"{check.count(o)} {o}" for o in CONNECT_ORDER if check.count(o)]
    return "connection check: " + (", ".join(parts) if parts else "no destination")
