"""Shared fixtures for every test: no test ever reaches a real keychain or a user's `CDPCLI_*`."""

from __future__ import annotations

import os
from collections.abc import Iterator

import keyring
import keyring.core
import pytest
from keyring.backend import KeyringBackend
from keyring.compat import properties
from keyring.errors import PasswordDeleteError

# Fixtures of the fakes (`fakes`, `fast_retries`), shared by the end-to-end tests.
pytest_plugins = ("tests.fakes.sends",)


class MemoryKeyring(KeyringBackend):
    """An in-memory keyring backend: a dict keyed by (service, user).

    Priority 0, so keyring never auto-selects it; tests install it with `keyring.set_keyring`.
    It passes keyring's own `BackendBasicTests` (see tests/test_secretstore.py).
    """

    @properties.classproperty
    def priority(cls) -> float:
        return 0

    def __init__(self) -> None:
        super().__init__()
        self.entries: dict[tuple[str, str], str] = {}

    def get_password(self, service: str, username: str) -> str | None:
        return self.entries.get((service, username))

    def set_password(self, service: str, username: str, password: str) -> None:
        self.entries[(service, username)] = password

    def delete_password(self, service: str, username: str) -> None:
        try:
            del self.entries[(service, username)]
        except KeyError:
            raise PasswordDeleteError(f"no password for {username!r} in {service!r}") from None


@pytest.fixture(autouse=True)
def memory_keyring() -> Iterator[MemoryKeyring]:
    """Install a fresh in-memory keyring for every test; restore the previous backend after."""
    previous = keyring.core._keyring_backend  # None until keyring has chosen one
    backend = MemoryKeyring()
    keyring.set_keyring(backend)
    try:
        yield backend
    finally:
        keyring.core._keyring_backend = previous


@pytest.fixture(autouse=True)
def _no_cdpcli_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """Remove every `CDPCLI_*` variable (secrets, CDPCLI_CONFIG) for the test's duration."""
    for name in list(os.environ):
        if name.startswith("CDPCLI_"):
            monkeypatch.delenv(name)
