"""The routing config (PRODUCT.md §5): YAML → a validated, compiled, frozen `Config`.

Every error is a `ConfigError` naming `FILE:LINE`, the key path (`routes[1].when.event`) and
the allowed keys or values. Destination options are validated by the destination's own kind
(`cdpcli.destinations.registry.get_kind(kind).parse_options`). Secrets never live here: a key
that looks like one is an error pointing at the keyring and the environment (§7).
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from types import MappingProxyType
from typing import Any, Literal, overload

from cdpcli.destinations import registry
from cdpcli.errors import ConfigError
from cdpcli.routing.conditions import EVENT_TYPES, Condition, compile_condition
from cdpcli.routing.template import Template, compile_value
from cdpcli.routing.yamlloader import Document, KeyPath, load_yaml, parse_yaml

__all__ = [
    "CONFIG_ENV",
    "DEFAULT_CONFIG",
    "Config",
    "DestinationConfig",
    "Route",
    "config_from_document",
    "find_config",
    "load_config",
    "parse_config",
    "resolve_config_path",
]

CONFIG_ENV = "CDPCLI_CONFIG"
DEFAULT_CONFIG = "cdpcli.yaml"
VERSION = 1

TOP_KEYS = ("version", "destinations", "routes", "respect_integrations")
ROUTE_KEYS = ("name", "to", "when", "map")

_DESTINATION_NAME = re.compile(r"[a-z0-9_-]+")
_ROUTE_NAME = re.compile(r"[A-Za-z0-9_.-]+")
_SECRET_KEY = re.compile(
    r"token|secret|passw|pwd|api_?key|apikey|credential|private_?key|bearer|auth_?key",
    re.IGNORECASE,
)
_SUB_PATH = re.compile(r"\[(\d+)\]|([^.\[\]]+)")


@dataclass(frozen=True, slots=True)
class DestinationConfig:
    """One named destination: its kind, the options its kind parsed, where it is defined, and
    the keys of an event's `integrations` that speak for it (its name, then its kind's catalog
    names, reference/segment-spec.md §5)."""

    name: str
    kind: str
    options: Any
    where: str
    integration_keys: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class Route:
    """One route, compiled.

    `qualifier` is None for the first route (config order) feeding its destination, else the
    route's name (ids derived for it are qualified). `types` are the event types it can match.
    """

    name: str
    to: str
    when: Condition
    map: Template | None
    index: int
    qualifier: str | None
    types: frozenset[str]
    where: str


@dataclass(frozen=True, slots=True)
class Config:
    """A loaded, valid config."""

    path: Path
    version: int
    destinations: Mapping[str, DestinationConfig]
    routes: tuple[Route, ...]
    respect_integrations: bool


def resolve_config_path(option: str | Path | None, env: Mapping[str, str] | None = None) -> Path:
    """The config to use: `--config`, else `$CDPCLI_CONFIG`, else `./cdpcli.yaml`."""
    if option is not None and str(option) != "":
        return Path(option)
    environ = os.environ if env is None else env
    from_env = environ.get(CONFIG_ENV, "")
    if from_env:
        return Path(from_env)
    return Path(DEFAULT_CONFIG)


@overload
def find_config(
    option: str | Path | None = None,
    *,
    required: Literal[True],
    env: Mapping[str, str] | None = None,
) -> Config: ...


@overload
def find_config(
    option: str | Path | None = None,
    *,
    required: bool = False,
    env: Mapping[str, str] | None = None,
) -> Config | None: ...


def find_config(
    option: str | Path | None = None,
    *,
    required: bool = False,
    env: Mapping[str, str] | None = None,
) -> Config | None:
    """The config of a command that can work without one (`keys`): `option`, else
    `$CDPCLI_CONFIG`, else `./cdpcli.yaml` when that file exists, loaded.

    With neither `option` nor `$CDPCLI_CONFIG` and no `./cdpcli.yaml`: None, or a ConfigError
    when `required`. A config that is named but missing or invalid is always a ConfigError.
    """
    environ = os.environ if env is None else env
    path = resolve_config_path(option, environ)
    chosen = option is not None or bool(environ.get(CONFIG_ENV))
    if not chosen and not path.exists():
        if required:
            raise ConfigError(
                f"no config file: none given and no {path} here",
                hint=f"pass --config FILE or set {CONFIG_ENV}",
            )
        return None
    return load_config(path)


def load_config(path: str | Path) -> Config:
    """Read, validate and compile the config at `path`. Every problem is a `ConfigError`."""
    path = Path(path)
    return config_from_document(load_yaml(path), path)


def parse_config(text: str, source: str = "<config>") -> Config:
    """The same as `load_config` for YAML text (`source` names it in messages)."""
    return config_from_document(parse_yaml(text, source), Path(source))


def config_from_document(doc: Document, path: Path) -> Config:
    """Validate and compile a parsed YAML document."""
    root = doc.value
    if not isinstance(root, dict):
        raise ConfigError(
            f"{doc.where(())}: the config must be a mapping with the keys {', '.join(TOP_KEYS)}",
            hint="start from `cdpcli config init`",
        )
    _check_keys(doc, root, (), TOP_KEYS)
    version = _version(doc, root)
    destinations = _destinations(doc, root)
    routes = _routes(doc, root, destinations)
    respect = root.get("respect_integrations", True)
    if not isinstance(respect, bool):
        raise ConfigError(f"{doc.where(('respect_integrations',))}: expected true or false")
    return Config(
        path=path,
        version=version,
        destinations=MappingProxyType(destinations),
        routes=routes,
        respect_integrations=respect,
    )


# --- pieces ----------------------------------------------------------------------------------


def _check_keys(
    doc: Document, mapping: Mapping[str, Any], at: KeyPath, allowed: tuple[str, ...]
) -> None:
    for key in mapping:
        if _SECRET_KEY.search(key):
            _secret_error(doc, (*at, key))
        if key not in allowed:
            raise ConfigError(
                f"{doc.where((*at, key))}: unknown key; allowed: {', '.join(allowed)}"
            )


def _missing(doc: Document, at: KeyPath, key: str, what: str) -> ConfigError:
    where = doc.where(at)
    return ConfigError(f"{where}: missing key `{key}`; {what}")


def _version(doc: Document, root: Mapping[str, Any]) -> int:
    if "version" not in root:
        raise _missing(doc, (), "version", f"add `version: {VERSION}` at the top")
    version = root["version"]
    if type(version) is not int or version != VERSION:
        raise ConfigError(
            f"{doc.where(('version',))}: unsupported config version {version!r}; allowed: {VERSION}"
        )
    return version


def _secret_error(doc: Document, at: KeyPath) -> None:
    destination = str(at[1]) if len(at) > 2 and at[0] == "destinations" else "<destination>"
    env = _env_name(destination, "") + "<FIELD>"
    raise ConfigError(
        f"{doc.where(at)}: looks like a secret; secrets never go in the config file",
        hint=(
            f"store it in the OS keyring (`cdpcli keys set {destination} FIELD`) or the "
            f"environment ({env}); remove it from the config"
        ),
    )


def _env_name(destination: str, field: str) -> str:
    return f"CDPCLI_{destination}_{field}".upper().replace("-", "_")


def _scan_secrets(doc: Document, value: Any, at: KeyPath) -> None:
    """Refuse any key under a destination that looks like it holds a secret."""
    if isinstance(value, dict):
        for key, child in value.items():
            if _SECRET_KEY.search(key):
                _secret_error(doc, (*at, key))
            _scan_secrets(doc, child, (*at, key))
    elif isinstance(value, list):
        for index, child in enumerate(value):
            _scan_secrets(doc, child, (*at, index))


def _destinations(doc: Document, root: Mapping[str, Any]) -> dict[str, DestinationConfig]:
    kinds = ", ".join(registry.KINDS)
    if "destinations" not in root:
        raise _missing(doc, (), "destinations", f"name at least one destination (kinds: {kinds})")
    raw = root["destinations"]
    at: KeyPath = ("destinations",)
    if not isinstance(raw, dict) or not raw:
        raise ConfigError(
            f"{doc.where(at)}: expected a mapping of named destinations, each with a `kind` "
            f"({kinds})"
        )
    out: dict[str, DestinationConfig] = {}
    env_names: dict[str, str] = {}
    for name, body in raw.items():
        here = (*at, name)
        if _DESTINATION_NAME.fullmatch(name) is None:
            raise ConfigError(
                f"{doc.where(here)}: invalid destination name {name!r}; allowed: lower-case "
                "letters, digits, `_` and `-` (it becomes part of env variable names)"
            )
        env = _env_name(name, "")
        if env in env_names:
            raise ConfigError(
                f"{doc.where(here)}: destination names {env_names[env]!r} and {name!r} give "
                f"the same environment variables ({env}<FIELD>); rename one"
            )
        env_names[env] = name
        out[name] = _destination(doc, here, name, body)
    return out


def _destination(doc: Document, at: KeyPath, name: str, body: Any) -> DestinationConfig:
    kinds = ", ".join(registry.KINDS)
    if not isinstance(body, dict):
        raise ConfigError(f"{doc.where(at)}: expected a mapping with `kind` ({kinds}) and options")
    _scan_secrets(doc, body, at)
    if "kind" not in body:
        raise _missing(doc, at, "kind", f"allowed kinds: {kinds}")
    kind = body["kind"]
    if not isinstance(kind, str) or kind not in registry.KINDS:
        raise ConfigError(f"{doc.where((*at, 'kind'))}: unknown kind {kind!r}; allowed: {kinds}")
    destination = registry.get_kind(kind)
    options_raw = {key: value for key, value in body.items() if key != "kind"}

    def locate(key: str) -> str:
        return doc.where((*at, *_sub_path(key)))

    return DestinationConfig(
        name=name,
        kind=kind,
        options=destination.parse_options(options_raw, locate),
        where=doc.where(at),
        integration_keys=(name, *destination.integration_names),
    )


def _sub_path(sub: str) -> KeyPath:
    parts: list[str | int] = []
    for index, key in _SUB_PATH.findall(sub):
        parts.append(int(index) if index else key)
    return tuple(parts)


def _routes(
    doc: Document, root: Mapping[str, Any], destinations: Mapping[str, DestinationConfig]
) -> tuple[Route, ...]:
    if "routes" not in root:
        raise _missing(doc, (), "routes", "list at least one route (name, to, when, map)")
    raw = root["routes"]
    if not isinstance(raw, list) or not raw:
        raise ConfigError(
            f"{doc.where(('routes',))}: expected a list of routes, each with the keys "
            f"{', '.join(ROUTE_KEYS)}"
        )
    routes: list[Route] = []
    names: dict[str, int] = {}
    fed: set[str] = set()
    for index, body in enumerate(raw):
        route = _route(doc, index, body, destinations, names)
        qualifier = route.name if route.to in fed else None
        fed.add(route.to)
        names[route.name] = index
        routes.append(_with_qualifier(route, qualifier))
    return tuple(routes)


def _with_qualifier(route: Route, qualifier: str | None) -> Route:
    return Route(
        name=route.name,
        to=route.to,
        when=route.when,
        map=route.map,
        index=route.index,
        qualifier=qualifier,
        types=route.types,
        where=route.where,
    )


def _route(
    doc: Document,
    index: int,
    body: Any,
    destinations: Mapping[str, DestinationConfig],
    names: Mapping[str, int],
) -> Route:
    at: KeyPath = ("routes", index)
    if not isinstance(body, dict):
        raise ConfigError(
            f"{doc.where(at)}: expected a mapping with the keys {', '.join(ROUTE_KEYS)}"
        )
    for key in body:
        if key not in ROUTE_KEYS:
            raise ConfigError(
                f"{doc.where((*at, key))}: unknown key; allowed: {', '.join(ROUTE_KEYS)}"
            )
    name = _route_name(doc, at, body, names)
    to = _route_to(doc, at, body, destinations)

    def locate_when(rel: KeyPath) -> str:
        return doc.where((*at, "when", *rel))

    when = compile_condition(body.get("when"), locate_when)
    template = _route_map(doc, at, body, destinations[to].kind)
    types = when.types if when.types is not None else frozenset(EVENT_TYPES)
    return Route(
        name=name,
        to=to,
        when=when,
        map=template,
        index=index,
        qualifier=None,
        types=types,
        where=doc.where(at),
    )


def _route_name(
    doc: Document, at: KeyPath, body: Mapping[str, Any], names: Mapping[str, int]
) -> str:
    if "name" not in body:
        raise _missing(doc, at, "name", "every route needs a unique name (e.g. `name: analytics`)")
    name = body["name"]
    if not isinstance(name, str) or _ROUTE_NAME.fullmatch(name) is None:
        raise ConfigError(
            f"{doc.where((*at, 'name'))}: invalid route name {name!r}; allowed: letters, "
            "digits, `_`, `.` and `-`"
        )
    if name in names:
        first = doc.line(("routes", names[name], "name"))
        raise ConfigError(
            f"{doc.where((*at, 'name'))}: duplicate route name {name!r} (first on line "
            f"{first}); route names must be unique"
        )
    return name


def _route_to(
    doc: Document,
    at: KeyPath,
    body: Mapping[str, Any],
    destinations: Mapping[str, DestinationConfig],
) -> str:
    known = ", ".join(destinations)
    if "to" not in body:
        raise _missing(doc, at, "to", f"name the destination; allowed: {known}")
    to = body["to"]
    if not isinstance(to, str) or to not in destinations:
        raise ConfigError(f"{doc.where((*at, 'to'))}: unknown destination {to!r}; allowed: {known}")
    return to


def _route_map(
    doc: Document, at: KeyPath, body: Mapping[str, Any], destination_kind: str
) -> Template | None:
    if "map" not in body or body["map"] is None:
        return None
    raw = body["map"]
    if not isinstance(raw, dict):
        raise ConfigError(
            f"{doc.where((*at, 'map'))}: expected a mapping of destination fields to values "
            "or `{{ path }}` templates"
        )

    allowed = registry.get_kind(destination_kind).map_keys
    for key in raw:
        if key not in allowed:
            raise ConfigError(
                f"{doc.where((*at, 'map', key))}: unknown key for a {destination_kind} "
                f"destination; allowed: {', '.join(sorted(allowed))}"
            )

    def locate(sub: str) -> str:
        return doc.where((*at, "map", *_sub_path(sub)))

    return compile_value(raw, locate)
