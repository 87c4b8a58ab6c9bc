"""How `keys list` shows the secrets of a config: one aligned row per secret, values masked."""

from __future__ import annotations

from typing import TYPE_CHECKING

from cdpcli.cli.common import table

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
    return table([headers, *rows], indent="")
