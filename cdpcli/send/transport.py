"""The https rule of PRODUCT.md §7, shared by a send and `config check --connect`: secrets go
over https only, to any host but loopback, unless `--allow-insecure-http`."""

from __future__ import annotations

import ipaddress
from urllib.parse import urlsplit

from cdpcli.errors import UsageError


def is_loopback(host: str) -> bool:
    """`localhost`, or an address in 127.0.0.0/8 or ::1 (PRODUCT.md §6.1); a host name that
    merely starts with `127.` is not loopback."""
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def require_https(destination: str, url: str, allow_http: bool) -> None:
    """Raise UsageError (exit 2) when `url`, where `destination`'s secrets go, is not https, its
    host is not loopback and `allow_http` is off."""
    parts = urlsplit(url)
    if parts.scheme != "https" and not is_loopback(parts.hostname or "") and not allow_http:
        raise UsageError(
            f"destination {destination}: {url} is not https",
            hint="secrets are only sent over https to hosts other than loopback; "
            "pass --allow-insecure-http to override",
        )
