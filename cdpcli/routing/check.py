"""What `cdpcli config check` shows (PRODUCT.md §5): a valid config's destinations with the hosts
they send to, its routes, and the secrets each destination needs, found or not and where."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from cdpcli.destinations import registry
from cdpcli.events.model import EVENT_TYPES
from cdpcli.routing.config import Config, DestinationConfig, load_config
from cdpcli.secrets.keys import SecretList, keyring_dict, list_secrets


@dataclass(frozen=True, slots=True)
class DestinationCheck:
    """One destination of the config: its name, kind, and the distinct hosts (with port) of its
    endpoints, in endpoint order."""

    name: str
    kind: str
    hosts: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class RouteCheck:
    """One route: where it goes, its `when` in words, the event types it can match (in the spec's
    order), the keys its `map` sets, and the qualifier of ids derived for it (None for the first
    route to its destination)."""

    name: str
    to: str
    when: str
    types: tuple[str, ...]
    map_keys: tuple[str, ...]
    qualifier: str | None


@dataclass(frozen=True, slots=True)
class ConfigCheck:
    """A valid config as `config check` lists it. `secrets.missing` are the secrets a send would
    still need (they do not make the config invalid)."""

    config: str
    version: int
    respect_integrations: bool
    destinations: tuple[DestinationCheck, ...]
    routes: tuple[RouteCheck, ...]
    secrets: SecretList

    def as_dict(self) -> dict[str, Any]:
        """The `config check --format json` document."""
        return {
            "config": self.config,
            "valid": True,
            "version": self.version,
            "respect_integrations": self.respect_integrations,
            "destinations": [
                {"name": d.name, "kind": d.kind, "hosts": list(d.hosts)} for d in self.destinations
            ],
            "routes": [
                {
                    "name": r.name,
                    "to": r.to,
                    "when": r.when,
                    "types": list(r.types),
                    "map_keys": list(r.map_keys),
                    "qualifier": r.qualifier,
                }
                for r in self.routes
            ],
            "secrets": [status.as_dict() for status in self.secrets.secrets],
            "keyring": keyring_dict(self.secrets.keyring),
        }


def check_config(
    config: str | Path | Config, *, environ: Mapping[str, str] | None = None
) -> ConfigCheck:
    """Load the config at `config` (or take a loaded one) and list it: destinations with their
    hosts, routes, and which secrets are found and where (environment, then keyring; masked).

    Raises ConfigError (exit 3) when the config is invalid; missing secrets are not an error.
    """
    loaded = config if isinstance(config, Config) else load_config(config)
    return ConfigCheck(
        config=str(loaded.path),
        version=loaded.version,
        respect_integrations=loaded.respect_integrations,
        destinations=tuple(
            DestinationCheck(destination.name, destination.kind, _hosts(destination))
            for destination in loaded.destinations.values()
        ),
        routes=tuple(
            RouteCheck(
                name=route.name,
                to=route.to,
                when=route.when.summary,
                types=tuple(t for t in EVENT_TYPES if t in route.types),
                map_keys=route.map.keys() if route.map is not None else (),
                qualifier=route.qualifier,
            )
            for route in loaded.routes
        ),
        secrets=list_secrets(loaded, environ=environ),
    )


def _hosts(configured: DestinationConfig) -> tuple[str, ...]:
    destination = registry.get_kind(configured.kind)(configured.name, configured.options, None)
    hosts: list[str] = []
    for endpoint in destination.endpoints().values():
        host = urlsplit(endpoint.url).netloc
        if host and host not in hosts:
            hosts.append(host)
    return tuple(hosts)
