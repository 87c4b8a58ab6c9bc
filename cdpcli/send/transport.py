"""The https rule of PRODUCT.md §7, shared by a send and `config check --connect`: secrets go
over https only, to any host but loopback, unless `--allow-insecure-http`."""

from __future__ import annotations

from urllib.parse import urlsplit

from cdpcli.errors import UsageError


def require_https(destination: str, url: str, allow_http: bool) -> None:
    """Raise UsageError (exit 2) when `url`, where `destination`'s secrets go, is not https, its
    host is not loopback and `allow_http` is off."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    loopback = host in ("localhost", "::1") or host.startswith("127.")
    if parts.scheme != "https" and not loopback and not allow_http:
        raise UsageError(
            f"destination {destination}: {url} is not https",
            hint="secrets are only sent over https to hosts other than loopback; "
            "pass --allow-insecure-http to override",
        )
