"""What "loopback" means wherever cdpcli decides whether plain http may be used (PRODUCT.md §6.1):
an address in 127.0.0.0/8 or ::1, parsed, or the name `localhost`. A name that merely starts
with `127.` is a name like any other, resolved by whatever DNS answers."""

from __future__ import annotations

import ipaddress

LOOPBACK_NAMES = frozenset({"localhost"})


def is_loopback(host: str) -> bool:
    """Whether `host` (a URL's host name, without brackets) is this machine's loopback."""
    name = host.lower()
    if name in LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(name).is_loopback
    except ValueError:
        return False
