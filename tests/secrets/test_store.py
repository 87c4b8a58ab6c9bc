"""Secrets: environment first, then the OS keyring; unusable keyrings; masking; resolve()."""

from __future__ import annotations

import dataclasses
import textwrap
from collections.abc import Mapping
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import keyring
import keyring.core
import pytest
from keyring.backends import chainer, fail, null
from keyring.compat import properties
from keyring.errors import KeyringLocked, PasswordSetError
from keyring.testing.backend import BackendBasicTests

from cdpcli.destinations import registry
from cdpcli.destinations.base import SecretField
from cdpcli.errors import ConfigError, CredentialsError, ExitCode, UsageError
from cdpcli.secrets.store import (
    SERVICE,
    FoundSecret,
    SecretStatus,
    SecretStore,
    env_var_name,
    mask,
    required_secrets,
)
from tests.conftest import MemoryKeyring

# --- fakes of cdpcli.routing.config and of the destination modules ---


@dataclasses.dataclass(frozen=True)
class FakeDestination:
    name: str
    kind: str
    options: Any
    where: Any = None


@dataclasses.dataclass(frozen=True)
class FakeRoute:
    name: str
    to: str
    types: frozenset[str]


@dataclasses.dataclass(frozen=True)
class FakeConfig:
    destinations: Mapping[str, FakeDestination]
    routes: tuple[FakeRoute, ...]


def fake_mixpanel_fields(
    options: Mapping[str, str], types: frozenset[str]
) -> tuple[SecretField, ...]:
    if options["auth"] == "service_account":
        fields = [
            SecretField("service_account_username", "service account user"),
            SecretField("service_account_secret", "service account secret"),
        ]
    else:
        fields = [SecretField("api_secret", "project API secret")]
    if types & {"identify", "group"}:
        fields.append(SecretField("project_token", "project token for /engage and /groups"))
    return tuple(fields)


def fake_lago_fields(options: object, types: frozenset[str]) -> tuple[SecretField, ...]:
    return (SecretField("api_key", "Lago API key"),)


FAKE_KINDS = {
    "fakemix": SimpleNamespace(secret_fields=fake_mixpanel_fields),
    "fakelago": SimpleNamespace(secret_fields=fake_lago_fields),
}


@pytest.fixture
def fake_kinds(monkeypatch: pytest.MonkeyPatch) -> None:
    real = registry.get_kind
    monkeypatch.setattr(registry, "get_kind", lambda kind: FAKE_KINDS.get(kind) or real(kind))


def make_config(auth: str = "api_secret", mix_types: str = "track") -> FakeConfig:
    return FakeConfig(
        destinations={
            "mixpanel": FakeDestination("mixpanel", "fakemix", {"auth": auth}),
            "billing": FakeDestination("billing", "fakelago", {}),
        },
        routes=(
            FakeRoute("analytics", "mixpanel", frozenset(mix_types.split())),
            FakeRoute("usage", "billing", frozenset({"track"})),
        ),
    )


def install(backend: keyring.backend.KeyringBackend) -> None:
    """Swap the test's backend (the autouse fixture restores the original afterwards)."""
    keyring.set_keyring(backend)


SECRET = "sk_live_0123456789abcdef"


# --- keyring's own contract, on the test backend ----------------------------------------------


class TestMemoryKeyring(BackendBasicTests):
    def init_keyring(self) -> MemoryKeyring:
        return MemoryKeyring()


# --- names and masking --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("destination", "field", "expected"),
    [
        ("mixpanel", "api_secret", "CDPCLI_MIXPANEL_API_SECRET"),
        ("mixpanel-staging", "project_token", "CDPCLI_MIXPANEL_STAGING_PROJECT_TOKEN"),
        ("Billing", "api_key", "CDPCLI_BILLING_API_KEY"),
        ("eu.prod", "api_key", "CDPCLI_EU_PROD_API_KEY"),
    ],
)
def test_env_var_name(destination: str, field: str, expected: str) -> None:
    assert env_var_name(destination, field) == expected


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("", "****"),
        ("abc", "****"),
        ("abcdefghijk", "****"),  # 11 characters: nothing shown
        ("abcdefghijkl", "****ijkl"),  # 12 characters: the last 4
        (SECRET, "****cdef"),
    ],
)
def test_mask(value: str, expected: str) -> None:
    assert mask(value) == expected


def test_found_secret_repr_hides_the_value() -> None:
    found = FoundSecret(SECRET, "env")
    assert SECRET not in repr(found)
    assert SECRET not in str(found)


# --- lookup order -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("env_value", "stored", "expected"),
    [
        ("from-env", "from-keyring", FoundSecret("from-env", "env")),
        ("from-env", None, FoundSecret("from-env", "env")),
        (None, "from-keyring", FoundSecret("from-keyring", "keyring")),
        ("", "from-keyring", FoundSecret("from-keyring", "keyring")),  # empty env = unset
        (None, None, None),
    ],
)
def test_lookup_env_beats_keyring(
    memory_keyring: MemoryKeyring,
    env_value: str | None,
    stored: str | None,
    expected: FoundSecret | None,
) -> None:
    environ = {} if env_value is None else {"CDPCLI_MIXPANEL_API_SECRET": env_value}
    if stored is not None:
        memory_keyring.entries[(SERVICE, "mixpanel.api_secret")] = stored
    assert SecretStore(environ).lookup("mixpanel", "api_secret") == expected


def test_set_lookup_delete_round_trip(memory_keyring: MemoryKeyring) -> None:
    store = SecretStore({})
    assert store.keyring_status().usable
    assert store.set("billing", "api_key", SECRET) == "tests.conftest.MemoryKeyring"
    assert memory_keyring.entries == {("cdpcli", "billing.api_key"): SECRET}
    assert store.lookup("billing", "api_key") == FoundSecret(SECRET, "keyring")
    assert store.delete("billing", "api_key") is True
    assert memory_keyring.entries == {}
    assert store.lookup("billing", "api_key") is None
    assert store.delete("billing", "api_key") is False


def test_set_refuses_an_empty_value() -> None:
    with pytest.raises(UsageError):
        SecretStore({}).set("billing", "api_key", "")


# --- unusable keyrings --------------------------------------------------------------------------


@pytest.mark.parametrize("backend", [fail.Keyring(), null.Keyring()], ids=["fail", "null"])
def test_unusable_backend_names_the_env_var(backend: keyring.backend.KeyringBackend) -> None:
    install(backend)
    store = SecretStore({})
    status = store.keyring_status()
    assert status.usable is False
    assert status.backend == f"{type(backend).__module__}.Keyring"
    assert store.lookup("billing", "api_key") is None
    for operation in (
        lambda: store.set("billing", "api_key", SECRET),
        lambda: store.delete("billing", "api_key"),
    ):
        with pytest.raises(CredentialsError) as caught:
            operation()
        assert caught.value.exit_code == ExitCode.CREDENTIALS
        assert "CDPCLI_BILLING_API_KEY" in str(caught.value)
        assert "not usable" in str(caught.value)
        assert SECRET not in str(caught.value)


def test_fail_backend_resolve_is_exit_5_naming_env_var(fake_kinds: None) -> None:
    install(fail.Keyring())
    with pytest.raises(CredentialsError) as caught:
        SecretStore({}).resolve(make_config(), {"billing"})
    error = caught.value
    assert error.exit_code == 5
    assert "CDPCLI_BILLING_API_KEY" in error.message
    assert "`cdpcli keys set billing api_key`" in error.message
    assert error.hint is not None
    assert "keyring is not usable" in error.hint
    assert "keyring.backends.fail.Keyring" in error.hint


def test_fail_backend_still_reads_the_environment(fake_kinds: None) -> None:
    install(fail.Keyring())
    environ = {"CDPCLI_BILLING_API_KEY": SECRET}
    assert SecretStore(environ).resolve(make_config(), {"billing"}) == {
        "billing": {"api_key": SECRET}
    }


@pytest.mark.parametrize(
    "name", ["keyring.backends.nosuchmodule.Keyring", "keyring.backends.fail.NoSuchClass"]
)
def test_misspelt_backend_env_var_is_unusable_not_a_crash(
    monkeypatch: pytest.MonkeyPatch, name: str
) -> None:
    monkeypatch.setattr(keyring.core, "_keyring_backend", None)
    monkeypatch.setenv("PYTHON_KEYRING_BACKEND", name)
    store = SecretStore({"CDPCLI_BILLING_API_KEY": "from-env"})
    assert store.lookup("billing", "api_key") == FoundSecret("from-env", "env")
    assert store.lookup("billing", "other") is None
    status = store.keyring_status()
    assert status.usable is False
    assert status.backend is None
    assert status.reason is not None
    assert status.reason.startswith(("ModuleNotFoundError", "AttributeError"))
    with pytest.raises(CredentialsError, match="CDPCLI_BILLING_API_KEY"):
        store.set("billing", "api_key", SECRET)


def test_auto_detected_low_priority_backend_is_unusable(monkeypatch: pytest.MonkeyPatch) -> None:
    """A priority-0 backend keyring picked by itself is not trusted; one set on purpose is."""
    monkeypatch.setattr(keyring.core, "_keyring_backend", None)
    monkeypatch.delenv("PYTHON_KEYRING_BACKEND", raising=False)
    monkeypatch.setattr(keyring.core, "_detect_backend", lambda limit=None: MemoryKeyring())
    status = SecretStore({}).keyring_status()
    assert status.usable is False
    assert status.reason is not None
    assert "not recommended" in status.reason
    # ...and it stays untrusted for later stores in the same process
    assert SecretStore({}).keyring_status().usable is False
    keyring.set_keyring(MemoryKeyring())
    assert SecretStore({}).keyring_status().usable is True


def test_chainer_without_recommended_backends_is_unusable() -> None:
    class OnlyWeakChainer(chainer.ChainerBackend):
        @properties.classproperty
        def backends(cls) -> list[MemoryKeyring]:
            return [MemoryKeyring()]

    install(OnlyWeakChainer())
    status = SecretStore({}).keyring_status()
    assert status.usable is False
    assert status.reason == "only non-recommended keyring backends are available"


class BrokenKeyring(MemoryKeyring):
    """Priority 0 like the memory one, but every call fails like a locked keychain."""

    def get_password(self, service: str, username: str) -> str | None:
        raise KeyringLocked("the keychain is locked")

    def set_password(self, service: str, username: str, password: str) -> None:
        raise PasswordSetError(f"cannot store {password}")

    def delete_password(self, service: str, username: str) -> None:
        raise KeyringLocked("the keychain is locked")


def test_failing_keyring_calls_become_credentials_errors(fake_kinds: None) -> None:
    install(BrokenKeyring())
    store = SecretStore({})
    assert store.lookup("billing", "api_key") is None
    assert store.lookup_failure("billing", "api_key") == "KeyringLocked: the keychain is locked"
    with pytest.raises(CredentialsError) as caught:
        store.set("billing", "api_key", SECRET)
    assert "refused to store billing.api_key" in str(caught.value)
    assert SECRET not in str(caught.value)  # the backend's own message echoed the value
    assert "CDPCLI_BILLING_API_KEY" in str(caught.value)
    with pytest.raises(CredentialsError, match=r"failed to delete billing\.api_key"):
        store.delete("billing", "api_key")
    with pytest.raises(CredentialsError, match="the keyring lookup failed: KeyringLocked"):
        store.resolve(make_config(), {"billing"})


# --- what a config needs ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("auth", "mix_types", "expected_mixpanel"),
    [
        ("api_secret", "track", ["api_secret"]),
        ("api_secret", "track identify", ["api_secret", "project_token"]),
        (
            "service_account",
            "page group",
            ["service_account_username", "service_account_secret", "project_token"],
        ),
    ],
)
def test_required_secrets_follow_routed_types(
    fake_kinds: None, auth: str, mix_types: str, expected_mixpanel: list[str]
) -> None:
    needs = required_secrets(make_config(auth, mix_types))
    assert [(n.destination, n.field) for n in needs] == [
        *(("mixpanel", field) for field in expected_mixpanel),
        ("billing", "api_key"),
    ]


def test_types_of_every_route_to_a_destination_are_united(fake_kinds: None) -> None:
    config = dataclasses.replace(
        make_config(),
        routes=(
            FakeRoute("a", "mixpanel", frozenset({"track"})),
            FakeRoute("b", "billing", frozenset({"identify"})),
            FakeRoute("c", "mixpanel", frozenset({"group"})),
        ),
    )
    fields = [n.field for n in required_secrets(config, ["mixpanel"])]
    assert fields == ["api_secret", "project_token"]


def test_a_destination_no_route_feeds_needs_no_secret(fake_kinds: None) -> None:
    config = dataclasses.replace(
        make_config(), routes=(FakeRoute("u", "billing", frozenset({"track"})),)
    )
    assert [(n.destination, n.field) for n in required_secrets(config)] == [("billing", "api_key")]
    assert SecretStore({"CDPCLI_BILLING_API_KEY": "k"}).resolve(config) == {
        "mixpanel": {},
        "billing": {"api_key": "k"},
    }


def test_env_var_clash_between_destinations_is_a_config_error(fake_kinds: None) -> None:
    config = FakeConfig(
        destinations={
            "eu-prod": FakeDestination("eu-prod", "fakelago", {}),
            "eu_prod": FakeDestination("eu_prod", "fakelago", {}),
        },
        routes=(
            FakeRoute("a", "eu-prod", frozenset({"track"})),
            FakeRoute("b", "eu_prod", frozenset({"track"})),
        ),
    )
    with pytest.raises(ConfigError, match="CDPCLI_EU_PROD_API_KEY"):
        required_secrets(config)


def test_describe_secrets(fake_kinds: None, memory_keyring: MemoryKeyring) -> None:
    memory_keyring.entries[(SERVICE, "mixpanel.api_secret")] = "short"
    memory_keyring.entries[(SERVICE, "billing.api_key")] = "keyring-value-9999"
    environ = {"CDPCLI_BILLING_API_KEY": SECRET}
    statuses = SecretStore(environ).describe_secrets(make_config(mix_types="identify"))
    assert statuses == [
        SecretStatus(
            "mixpanel", "api_secret", "project API secret", True, "keyring", "****",
            "CDPCLI_MIXPANEL_API_SECRET",
        ),
        SecretStatus(
            "mixpanel", "project_token", "project token for /engage and /groups", False,
            None, None, "CDPCLI_MIXPANEL_PROJECT_TOKEN",
        ),
        SecretStatus(
            "billing", "api_key", "Lago API key", True, "env", "****cdef",
            "CDPCLI_BILLING_API_KEY",
        ),
    ]  # fmt: skip


# --- resolve --------------------------------------------------------------------------------------


def test_resolve_everything_found(fake_kinds: None, memory_keyring: MemoryKeyring) -> None:
    memory_keyring.entries[(SERVICE, "mixpanel.api_secret")] = "mp-secret"
    environ = {"CDPCLI_BILLING_API_KEY": "lago-key"}
    store = SecretStore(environ)
    assert store.resolve(make_config()) == {
        "mixpanel": {"api_secret": "mp-secret"},
        "billing": {"api_key": "lago-key"},
    }
    assert store.resolve(make_config(), {"billing"}) == {"billing": {"api_key": "lago-key"}}


def test_resolve_lists_every_missing_secret(fake_kinds: None) -> None:
    with pytest.raises(CredentialsError) as caught:
        SecretStore({}).resolve(make_config("service_account", "track identify"))
    assert caught.value.message == textwrap.dedent(
        """\
        4 secret(s) missing:
          mixpanel.service_account_username (service account user):
            set the environment variable CDPCLI_MIXPANEL_SERVICE_ACCOUNT_USERNAME
            or run `cdpcli keys set mixpanel service_account_username`
          mixpanel.service_account_secret (service account secret):
            set the environment variable CDPCLI_MIXPANEL_SERVICE_ACCOUNT_SECRET
            or run `cdpcli keys set mixpanel service_account_secret`
          mixpanel.project_token (project token for /engage and /groups):
            set the environment variable CDPCLI_MIXPANEL_PROJECT_TOKEN
            or run `cdpcli keys set mixpanel project_token`
          billing.api_key (Lago API key):
            set the environment variable CDPCLI_BILLING_API_KEY
            or run `cdpcli keys set billing api_key`"""
    )
    assert caught.value.hint == (
        "secrets are read from the environment first, then from the OS keyring"
    )


def test_resolve_unknown_destination_is_a_usage_error(fake_kinds: None) -> None:
    with pytest.raises(UsageError, match="unknown destination"):
        SecretStore({}).resolve(make_config(), {"nope"})


# --- with the real config loader and destination modules ---------------------------------------

REAL_CONFIG = """\
version: 1
destinations:
  mixpanel:
    kind: mixpanel
    project_id: "3141592"
    region: us
    auth: service_account
  billing:
    kind: lago
    api_url: https://api.getlago.com
routes:
  - name: analytics
    to: mixpanel
    when: {type: [track, page, screen, identify, group]}
  - name: api-usage
    to: billing
    when:
      type: track
      event: ["API Call", "Export *"]
"""


@pytest.fixture
def real_config(tmp_path: Path) -> Any:
    from cdpcli.routing import config as config_module

    path = tmp_path / "cdpcli.yaml"
    path.write_text(REAL_CONFIG, encoding="utf-8")
    return config_module.load_config(path)


def test_real_modules_required_secrets(real_config: Any) -> None:
    needs = {(n.destination, n.field) for n in required_secrets(real_config)}
    assert needs == {
        ("mixpanel", "service_account_username"),
        ("mixpanel", "service_account_secret"),
        ("mixpanel", "project_token"),
        ("billing", "api_key"),
    }


def test_real_modules_resolve(real_config: Any, memory_keyring: MemoryKeyring) -> None:
    for field in ("service_account_username", "service_account_secret", "project_token"):
        memory_keyring.entries[(SERVICE, f"mixpanel.{field}")] = f"mp-{field}"
    store = SecretStore({"CDPCLI_BILLING_API_KEY": "lago-key"})
    resolved = store.resolve(real_config)
    assert resolved["billing"] == {"api_key": "lago-key"}
    assert resolved["mixpanel"]["project_token"] == "mp-project_token"
