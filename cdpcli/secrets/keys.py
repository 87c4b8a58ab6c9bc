"""The `keys` commands as a library (PRODUCT.md §7): store, delete and list destination secrets.

Names are checked against the config when there is one (a destination it defines, a secret field
that destination's kind can use), else they must be well-formed. The environment always wins over
the keyring, so each result says whether the environment variable of the secret is set. Values are
never returned: a listing shows them masked.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from cdpcli.errors import CdpError, UsageError
from cdpcli.secrets.store import (
    ConfigLike,
    KeyringStatus,
    SecretStatus,
    SecretStore,
    allowed_fields,
    env_var_name,
)

_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]*$")


@dataclass(frozen=True, slots=True)
class SecretList:
    """Every secret a config needs, found or not and where (values masked), and whether the OS
    keyring is usable (`keys list`; `config check` shows the same)."""

    keyring: KeyringStatus
    secrets: tuple[SecretStatus, ...]

    @property
    def missing(self) -> tuple[SecretStatus, ...]:
        """The needed secrets found neither in the environment nor in the keyring."""
        return tuple(status for status in self.secrets if not status.found)

    def as_dict(self) -> dict[str, object]:
        """The `keys list --format json` document."""
        return {
            "keyring": keyring_dict(self.keyring),
            "secrets": [status.as_dict() for status in self.secrets],
        }


@dataclass(frozen=True, slots=True)
class SecretStored:
    """A secret stored in the OS keyring: the backend that holds it, and whether its environment
    variable is set (it then takes precedence)."""

    destination: str
    field: str
    backend: str
    env_var: str
    env_var_set: bool


@dataclass(frozen=True, slots=True)
class SecretDeleted:
    """A secret deleted from the OS keyring, and whether its environment variable is still set
    (it is then still used)."""

    destination: str
    field: str
    env_var: str
    env_var_set: bool


def keyring_dict(status: KeyringStatus) -> dict[str, object]:
    """The JSON shape of a keyring status: `usable`, `backend`, `reason`."""
    return {"usable": status.usable, "backend": status.backend, "reason": status.reason}


def check_secret_name(config: ConfigLike | None, destination: str, field: str) -> None:
    """Raise UsageError unless DEST and FIELD are ones `config` knows (a destination it defines,
    a field its kind can use), or, without a config, well-formed names."""
    if config is None:
        for label, value in (("DEST", destination), ("FIELD", field)):
            if not _NAME.match(value):
                raise UsageError(
                    f"{label} `{value}` is not a valid name",
                    hint="use letters, digits, `_` and `-`",
                )
        return
    if destination not in config.destinations:
        known = ", ".join(config.destinations) or "(none)"
        raise UsageError(
            f"unknown destination `{destination}`",
            hint=f"destinations in the config: {known}",
        )
    allowed = [secret.field for secret in allowed_fields(config, destination)]
    if field not in allowed:
        kind = config.destinations[destination].kind
        raise UsageError(
            f"unknown secret field `{field}` for destination `{destination}` (kind {kind})",
            hint=f"allowed fields: {', '.join(allowed) or '(none)'}",
        )


def set_secret(
    destination: str,
    field: str,
    value: str | Callable[[], str],
    *,
    config: ConfigLike | None = None,
    environ: Mapping[str, str] | None = None,
) -> SecretStored:
    """Store a secret in the OS keyring (service `cdpcli`, user `<destination>.<field>`).

    The names are checked first (`check_secret_name`); `value` may be a function that returns
    the secret, called only after that check, so that a prompt never asks for a secret that
    would be refused. Raises UsageError for bad names or an empty value, CredentialsError (exit
    5, naming the environment variable to use instead) when no usable keyring exists.
    """
    check_secret_name(config, destination, field)
    secret = value() if callable(value) else value
    env = os.environ if environ is None else environ
    backend = SecretStore(env).set(destination, field, secret)
    variable = env_var_name(destination, field)
    return SecretStored(destination, field, backend, variable, bool(env.get(variable)))


def delete_secret(
    destination: str,
    field: str,
    *,
    config: ConfigLike | None = None,
    environ: Mapping[str, str] | None = None,
) -> SecretDeleted:
    """Delete a secret from the OS keyring. Raises UsageError for bad names, CdpError (exit 1)
    when none was stored, CredentialsError (exit 5) when no usable keyring exists."""
    check_secret_name(config, destination, field)
    env = os.environ if environ is None else environ
    if not SecretStore(env).delete(destination, field):
        raise CdpError(
            f"no secret stored in the OS keyring for {destination}.{field}",
            hint="`cdpcli keys list` shows where each secret comes from",
        )
    variable = env_var_name(destination, field)
    return SecretDeleted(destination, field, variable, bool(env.get(variable)))


def list_secrets(config: ConfigLike, *, environ: Mapping[str, str] | None = None) -> SecretList:
    """Every secret `config` needs, whether it is found, where (environment or keyring), and
    masked; plus whether the OS keyring is usable. Missing secrets are not an error."""
    store = SecretStore(os.environ if environ is None else environ)
    statuses = store.describe_secrets(config)
    return SecretList(store.keyring_status(), tuple(statuses))
