"""The https rule of a send and of `config check --connect` (PRODUCT.md §6.1, §7)."""

from __future__ import annotations

import pytest

import cdpcli
from cdpcli.send.transport import require_https


@pytest.mark.parametrize(
    "url",
    [
        "https://api.mixpanel.com/import",
        "http://127.0.0.1:8765/import",
        "http://127.200.3.4/import",
        "http://localhost:3000/api/v1/events",
        "http://[::1]:3000/api/v1/events",
    ],
)
def test_https_and_loopback_pass(url: str) -> None:
    require_https("dest", url, allow_http=False)


@pytest.mark.parametrize(
    "url",
    [
        "http://lago.example.com/api/v1/events",
        # a host name that merely starts with `127.` is not loopback (PRODUCT.md §6.1)
        "http://127.0.0.1.example.com/import",
        "http://127.evil.example/import",
        "http://128.0.0.1/import",
    ],
)
def test_plain_http_elsewhere_is_refused(url: str) -> None:
    with pytest.raises(cdpcli.UsageError) as caught:
        require_https("dest", url, allow_http=False)
    assert caught.value.exit_code == 2
    assert f"destination dest: {url} is not https" in str(caught.value)
    assert "--allow-insecure-http" in str(caught.value)
    require_https("dest", url, allow_http=True)
