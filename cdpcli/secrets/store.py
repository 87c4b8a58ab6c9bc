"""Destination secrets: looked up in the environment, then in the OS keyring (PRODUCT.md §7).

- Environment first: `CDPCLI_<DESTINATION>_<FIELD>` (CI and scripts need no keyring at all).
- Then the OS keyring: service `cdpcli`, user `<destination>.<field>`.

The keyring is probed lazily (only when a secret is not in the environment), inside a broad
`try`, and every keyring call is guarded: a headless machine, a locked keychain or a misspelt
`PYTHON_KEYRING_BACKEND` (which raises `ModuleNotFoundError`, not a `KeyringError`) never
crashes a command; they make the keyring "unusable" and errors then name the environment
variable to set instead (reference/style.md §3). Nothing here prints, and no secret value ever
enters a message.
"""

from __future__ import annotations

import os
import re
import weakref
from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal, Protocol

from cdpcli.destinations import registry
from cdpcli.destinations.base import SecretField
from cdpcli.errors import ConfigError, CredentialsError, UsageError
from cdpcli.events.model import EVENT_TYPES

SERVICE = "cdpcli"
"""The keyring service name every cdpcli secret is stored under."""

ALL_TYPES = frozenset(EVENT_TYPES)
"""Every Segment event type: the widest set of secrets a destination can ask for."""

MASK = "****"
_MIN_LEN_TO_SHOW_TAIL = 12
_TAIL = 4

Source = Literal["env", "keyring"]


# --- the config as this module sees it (cdpcli.routing.config provides the real thing) ---


class DestinationLike(Protocol):
    """A configured destination: `cdpcli.routing.config.DestinationConfig`."""

    @property
    def name(self) -> str: ...

    @property
    def kind(self) -> str: ...

    @property
    def options(self) -> Any: ...


class RouteLike(Protocol):
    """A configured route: `cdpcli.routing.config.Route` (only the fields secrets depend on)."""

    @property
    def to(self) -> str: ...

    @property
    def types(self) -> frozenset[str]: ...


class ConfigLike(Protocol):
    """A loaded config: `cdpcli.routing.config.Config`."""

    @property
    def destinations(self) -> Mapping[str, DestinationLike]: ...

    @property
    def routes(self) -> Sequence[RouteLike]: ...


# --- values ------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class FoundSecret:
    """A secret's value and where it was found. Never print `value`."""

    value: str
    source: Source

    def __repr__(self) -> str:  # keep the value out of tracebacks and debug output
        return f"FoundSecret(value={MASK!r}, source={self.source!r})"


@dataclass(frozen=True, slots=True)
class KeyringStatus:
    """Whether the OS keyring can be used, which backend keyring chose, and why not."""

    usable: bool
    backend: str | None
    reason: str | None = None


@dataclass(frozen=True, slots=True)
class SecretNeed:
    """One secret a destination of the config needs."""

    destination: str
    field: str
    purpose: str

    @property
    def env_var(self) -> str:
        return env_var_name(self.destination, self.field)


@dataclass(frozen=True, slots=True)
class SecretStatus:
    """One needed secret, found or not, for `keys list` and `config check` (value masked)."""

    destination: str
    field: str
    purpose: str
    found: bool
    source: Source | None
    masked: str | None
    env_var: str

    def as_dict(self) -> dict[str, Any]:
        return {
            "destination": self.destination,
            "field": self.field,
            "purpose": self.purpose,
            "found": self.found,
            "source": self.source,
            "masked": self.masked,
            "env_var": self.env_var,
        }


# --- pure helpers --------------------------------------------------------------------------------


def env_var_name(destination: str, field: str) -> str:
    """`CDPCLI_<DESTINATION>_<FIELD>`, upper-case; `-` (and anything not a letter, digit or `_`)
    becomes `_` so that the name can be set from any shell."""
    raw = f"CDPCLI_{destination}_{field}".upper()
    return re.sub(r"[^A-Z0-9_]", "_", raw)


def keyring_user(destination: str, field: str) -> str:
    """The keyring user name of a secret: `<destination>.<field>`."""
    return f"{destination}.{field}"


def keys_set_command(destination: str, field: str) -> str:
    """The command that stores a secret in the keyring."""
    return f"cdpcli keys set {destination} {field}"


def mask(value: str) -> str:
    """`****` plus at most the last 4 characters, and those only for a secret of 12 or more."""
    if len(value) >= _MIN_LEN_TO_SHOW_TAIL:
        return MASK + value[-_TAIL:]
    return MASK


def _fields_for(destination: DestinationLike, types: frozenset[str]) -> tuple[SecretField, ...]:
    return registry.get_kind(destination.kind).secret_fields(destination.options, types)


def routed_types(config: ConfigLike, destination: str) -> frozenset[str]:
    """The event types the config's routes can send to `destination`."""
    types: set[str] = set()
    for route in config.routes:
        if route.to == destination:
            types |= route.types
    return frozenset(types)


def allowed_fields(config: ConfigLike, destination: str) -> tuple[SecretField, ...]:
    """Every secret field `destination` could use whatever is routed there (for `keys set`)."""
    return _fields_for(config.destinations[destination], ALL_TYPES)


def required_secrets(
    config: ConfigLike, destinations: Collection[str] | None = None
) -> list[SecretNeed]:
    """The secrets the config needs, in config order: for each destination (all of them, or
    those named), the fields its kind asks for given the event types routed to it.

    A destination no route feeds needs no secret: nothing is ever sent there.
    """
    names = list(config.destinations) if destinations is None else list(destinations)
    unknown = [name for name in names if name not in config.destinations]
    if unknown:
        raise UsageError(
            f"unknown destination(s): {', '.join(sorted(unknown))}",
            hint=f"destinations in the config: {', '.join(config.destinations) or '(none)'}",
        )
    needs: list[SecretNeed] = []
    by_env: dict[str, SecretNeed] = {}
    for name in config.destinations:
        if name not in names:
            continue
        types = routed_types(config, name)
        if not types:
            continue
        for secret in _fields_for(config.destinations[name], types):
            need = SecretNeed(name, secret.field, secret.purpose)
            clash = by_env.setdefault(need.env_var, need)
            if clash != need:
                raise ConfigError(
                    f"destinations `{clash.destination}` and `{need.destination}` would share the "
                    f"environment variable {need.env_var}",
                    hint="rename one of them (names differing only by `-`/`_` or case clash)",
                )
            needs.append(need)
    return needs


# --- the keyring probe -------------------------------------------------------------------------

# Backends keyring auto-detected during one of our probes. Any other backend was chosen on
# purpose (`keyring.set_keyring`, `PYTHON_KEYRING_BACKEND`) and is trusted even when its
# priority is below 1; an auto-detected one must be "recommended" (priority >= 1).
_AUTO_DETECTED: weakref.WeakSet[Any] = weakref.WeakSet()


def _backend_name(backend: object) -> str:
    kind = type(backend)
    return f"{kind.__module__}.{kind.__qualname__}"


def _describe_failure(error: BaseException) -> str:
    return f"{type(error).__name__}: {error}"


def probe_keyring() -> tuple[KeyringStatus, Any]:
    """Find keyring's backend and decide whether it is usable. Never raises."""
    try:  # keyring is imported here: it costs ~70 ms of start-up that most commands never need
        import keyring
        import keyring.core
        from keyring.backends import chainer, fail, null

        initialised = getattr(keyring.core, "_keyring_backend", None) is not None
        backend = keyring.get_keyring()
        if not initialised and not os.environ.get("PYTHON_KEYRING_BACKEND"):
            _AUTO_DETECTED.add(backend)
        name = _backend_name(backend)
        if isinstance(backend, fail.Keyring | null.Keyring):
            return KeyringStatus(False, name, "no OS keyring backend is available"), None
        if isinstance(backend, chainer.ChainerBackend):
            members = list(getattr(backend, "backends", ()))
            if not any(member.priority >= 1 for member in members):
                reason = "only non-recommended keyring backends are available"
                return KeyringStatus(False, name, reason), None
        elif backend.priority < 1 and backend in _AUTO_DETECTED:
            reason = f"the only keyring backend is not recommended (priority {backend.priority})"
            return KeyringStatus(False, name, reason), None
    except Exception as error:  # a misspelt PYTHON_KEYRING_BACKEND raises ModuleNotFoundError
        return KeyringStatus(False, None, _describe_failure(error)), None
    return KeyringStatus(True, name), backend


# --- the store ---------------------------------------------------------------------------------


class SecretStore:
    """Secret lookup over an environment mapping and the OS keyring.

    `environ` is passed in (the CLI gives `os.environ`) so that library code never reads the
    process environment on its own; the keyring is probed on first use only.
    """

    def __init__(self, environ: Mapping[str, str]) -> None:
        self._environ = environ
        self._probed: tuple[KeyringStatus, Any] | None = None
        self._lookup_failures: dict[tuple[str, str], str] = {}

    # keyring access

    def _keyring(self) -> tuple[KeyringStatus, Any]:
        if self._probed is None:
            self._probed = probe_keyring()
        return self._probed

    def keyring_status(self) -> KeyringStatus:
        """Whether the OS keyring is usable, its backend, and why not."""
        return self._keyring()[0]

    @staticmethod
    def _unusable_error(status: KeyringStatus) -> str:
        backend = f" ({status.backend})" if status.backend else ""
        return f"the OS keyring is not usable{backend}: {status.reason}"

    @staticmethod
    def _env_hint(destination: str, field: str) -> str:
        return (
            f"set the environment variable {env_var_name(destination, field)} instead "
            "(CI and scripts need no keyring)"
        )

    # operations

    def lookup(self, destination: str, field: str) -> FoundSecret | None:
        """The secret from the environment, else from the keyring, else None.

        An empty environment variable counts as unset. A keyring that fails is remembered (see
        `lookup_failure`) and the secret counts as not found.
        """
        value = self._environ.get(env_var_name(destination, field))
        if value:
            return FoundSecret(value, "env")
        status, backend = self._keyring()
        if not status.usable:
            return None
        try:
            stored = backend.get_password(SERVICE, keyring_user(destination, field))
        except Exception as error:  # KeyringError, a locked keychain, a broken D-Bus...
            self._lookup_failures[(destination, field)] = _describe_failure(error)
            return None
        if isinstance(stored, str) and stored:
            return FoundSecret(stored, "keyring")
        return None

    def lookup_failure(self, destination: str, field: str) -> str | None:
        """Why the keyring failed when looking this secret up, if it did."""
        return self._lookup_failures.get((destination, field))

    def set(self, destination: str, field: str, value: str) -> str:
        """Store a secret in the keyring; return the backend's name.

        Raises CredentialsError (naming the environment variable to use instead) when the
        keyring is unusable or refuses.
        """
        if not value:
            raise UsageError(f"refusing to store an empty secret for {destination}.{field}")
        status, backend = self._keyring()
        if not status.usable:
            raise CredentialsError(
                f"cannot store {destination}.{field}: " + self._unusable_error(status),
                hint=self._env_hint(destination, field),
            )
        try:
            backend.set_password(SERVICE, keyring_user(destination, field), value)
        except Exception as error:
            reason = _describe_failure(error).replace(value, MASK)
            raise CredentialsError(
                f"the OS keyring ({status.backend}) refused to store {destination}.{field}: "
                f"{reason}",
                hint=self._env_hint(destination, field),
            ) from None
        return status.backend or "keyring"

    def delete(self, destination: str, field: str) -> bool:
        """Delete a secret from the keyring; False when none was stored there.

        Raises CredentialsError when the keyring is unusable or fails.
        """
        from keyring.errors import PasswordDeleteError

        status, backend = self._keyring()
        if not status.usable:
            raise CredentialsError(
                f"cannot delete {destination}.{field}: " + self._unusable_error(status),
                hint="nothing can be stored in a keyring here; this secret can only come from "
                f"the environment variable {env_var_name(destination, field)}",
            )
        user = keyring_user(destination, field)
        try:
            if backend.get_password(SERVICE, user) is None:
                return False
            backend.delete_password(SERVICE, user)
        except PasswordDeleteError:
            return False
        except Exception as error:
            raise CredentialsError(
                f"the OS keyring ({status.backend}) failed to delete {destination}.{field}: "
                f"{_describe_failure(error)}"
            ) from None
        return True

    # whole-config views

    def describe_secrets(self, config: ConfigLike) -> list[SecretStatus]:
        """Every secret the config needs, found or not, where, and masked."""
        statuses: list[SecretStatus] = []
        for need in required_secrets(config):
            found = self.lookup(need.destination, need.field)
            statuses.append(
                SecretStatus(
                    destination=need.destination,
                    field=need.field,
                    purpose=need.purpose,
                    found=found is not None,
                    source=found.source if found else None,
                    masked=mask(found.value) if found else None,
                    env_var=need.env_var,
                )
            )
        return statuses

    def resolve(
        self, config: ConfigLike, destinations: Collection[str] | None = None
    ) -> dict[str, dict[str, str]]:
        """The secrets of the named destinations (all when None): `{dest: {field: value}}`.

        Raises CredentialsError (exit 5) listing every missing secret with its environment
        variable and `cdpcli keys set` command, and saying when the keyring is unusable.
        """
        resolved: dict[str, dict[str, str]] = {
            name: {} for name in (config.destinations if destinations is None else destinations)
        }
        missing: list[SecretNeed] = []
        for need in required_secrets(config, destinations):
            found = self.lookup(need.destination, need.field)
            if found is None:
                missing.append(need)
            else:
                resolved[need.destination][need.field] = found.value
        if missing:
            raise CredentialsError(self._missing_message(missing), hint=self._missing_hint())
        return resolved

    def _missing_message(self, missing: Iterable[SecretNeed]) -> str:
        needs = list(missing)
        lines = [f"{len(needs)} secret(s) missing:"]
        for need in needs:
            lines.append(f"  {need.destination}.{need.field} ({need.purpose}):")
            lines.append(f"    set the environment variable {need.env_var}")
            lines.append(f"    or run `{keys_set_command(need.destination, need.field)}`")
            failure = self.lookup_failure(need.destination, need.field)
            if failure:
                lines.append(f"    (the keyring lookup failed: {failure})")
        return "\n".join(lines)

    def _missing_hint(self) -> str:
        status = self.keyring_status()
        if status.usable:
            return "secrets are read from the environment first, then from the OS keyring"
        backend = f" ({status.backend})" if status.backend else ""
        return (
            f"the OS keyring is not usable here{backend}: {status.reason}; "
            "use the environment variables"
        )
