"""How `keys list` shows the secrets of a config: one aligned row per secret, values masked."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from cdpcli.api import SecretList


def render_secrets(listing: SecretList) -> list[str]:
    """The `keys list` table (stdout): destination, field, found, source, masked value, purpose."""
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
        for s in listing.secrets
    ]
    widths = [max(len(row[i]) for row in [headers, *rows]) for i in range(len(headers) - 1)]
    lines = []
    for row in [headers, *rows]:
        cells = [cell.ljust(width) for cell, width in zip(row, widths, strict=False)]
        lines.append("  ".join([*cells, row[-1]]).rstrip())
    return lines
