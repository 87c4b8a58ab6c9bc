"""`set_secret`, `delete_secret`, `list_secrets`: the `keys` commands as library calls."""

from __future__ import annotations

import pytest

import cdpcli
from tests.conftest import MemoryKeyring
from tests.paths import REPO

EXAMPLE = REPO / "config.example.yaml"


def test_set_then_list_then_delete(memory_keyring: MemoryKeyring) -> None:
    config = cdpcli.load_config(EXAMPLE)
    stored = cdpcli.set_secret("billing", "api_key", "lago-key-0123456789", config=config)
    assert stored == cdpcli.SecretStored(
        "billing", "api_key", stored.backend, "CDPCLI_BILLING_API_KEY", env_var_set=False
    )
    assert memory_keyring.entries[("cdpcli", "billing.api_key")] == "lago-key-0123456789"
    listing = cdpcli.list_secrets(config, environ={})
    billing = next(s for s in listing.secrets if s.destination == "billing")
    assert (billing.found, billing.source, billing.masked) == (True, "keyring", "****6789")
    assert billing not in listing.missing
    assert listing.keyring.usable
    deleted = cdpcli.delete_secret("billing", "api_key", config=config, environ={})
    assert deleted.env_var == "CDPCLI_BILLING_API_KEY" and not deleted.env_var_set
    assert ("cdpcli", "billing.api_key") not in memory_keyring.entries


def test_the_environment_is_named_when_it_wins() -> None:
    environ = {"CDPCLI_BILLING_API_KEY": "from-env"}
    stored = cdpcli.set_secret("billing", "api_key", "in-keyring", environ=environ)
    assert stored.env_var_set
    listing = cdpcli.list_secrets(cdpcli.load_config(EXAMPLE), environ=environ)
    billing = next(s for s in listing.secrets if s.destination == "billing")
    assert billing.source == "env"


def test_names_are_checked_before_the_value_is_asked_for(memory_keyring: MemoryKeyring) -> None:
    asked: list[str] = []

    def prompt() -> str:
        asked.append("asked")
        return "value"

    config = cdpcli.load_config(EXAMPLE)
    with pytest.raises(cdpcli.UsageError, match="unknown secret field `token` for destination"):
        cdpcli.set_secret("billing", "token", prompt, config=config)
    with pytest.raises(cdpcli.UsageError, match="DEST `bad name` is not a valid name"):
        cdpcli.set_secret("bad name", "api_key", prompt)
    assert asked == []
    cdpcli.set_secret("billing", "api_key", prompt, config=config)
    assert asked == ["asked"]


def test_deleting_what_is_not_stored_fails_with_exit_1() -> None:
    with pytest.raises(cdpcli.CdpError, match="no secret stored in the OS keyring") as caught:
        cdpcli.delete_secret("billing", "api_key")
    assert caught.value.exit_code == cdpcli.ExitCode.FAILED
