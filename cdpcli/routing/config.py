"""The routing config (PRODUCT.md §5): YAML → a validated, compiled, frozen `Config`.

Every error names `FILE:LINE`, the key path (`routes[1].when.event`) and the allowed keys or
values, with a "did you mean" for a near miss. One load reports every error it finds: a
`ConfigErrors` collects them as each part is checked, and one `ConfigError` lists them all.
Destination options are validated by the destination's own kind
(`cdpcli.destinations.registry.get_kind(kind).parse_options`, which raises one `ConfigError`
holding every error of the options). Secrets never live here: a key that looks like one is an
error pointing at the keyring and the environment (§7).
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import MappingProxyType
from typing import Any, Literal, overload

from cdpcli.destinations import registry
from cdpcli.errors import ConfigError, ConfigErrors, unknown
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
    """Validate and compile a parsed YAML document.

    Every error found is reported at once: one `ConfigError` lists them all (`errors`). Each part
    is checked as far as it can be: a destination whose kind is unknown has no options checked,
    a route to it is still checked but for its `map` keys."""
    root = doc.value
    if not isinstance(root, dict):
        raise ConfigError(
            f"{doc.where(())}: the config must be a mapping with the keys {', '.join(TOP_KEYS)}",
            hint="start from `cdpcli config init`",
        )
    errors = ConfigErrors(doc.source)
    _check_keys(doc, root, (), TOP_KEYS, errors)
    version = _version(doc, root, errors)
    destinations, kinds = _destinations(doc, root, errors)
    routes = _routes(doc, root, kinds, errors)
    respect = root.get("respect_integrations", True)
    if not isinstance(respect, bool):
        errors.add(doc.where(("respect_integrations",)), "expected true or false")
    errors.check()
    return Config(
        path=path,
        version=version,
        destinations=MappingProxyType(destinations),
        routes=routes,
        respect_integrations=respect,
    )


# --- pieces ----------------------------------------------------------------------------------


def _unknown_key(key: str, allowed: Sequence[str]) -> str:
    return unknown("unknown key", key, allowed)


def _check_keys(
    doc: Document,
    mapping: Mapping[str, Any],
    at: KeyPath,
    allowed: tuple[str, ...],
    errors: ConfigErrors,
) -> None:
    for key in mapping:
        if _SECRET_KEY.search(key):
            _secret_error(doc, (*at, key), errors)
        elif key not in allowed:
            errors.add(doc.where((*at, key)), _unknown_key(key, allowed))


def _missing(doc: Document, at: KeyPath, key: str, what: str, errors: ConfigErrors) -> None:
    errors.add(doc.where(at), f"missing key `{key}`; {what}")


def _version(doc: Document, root: Mapping[str, Any], errors: ConfigErrors) -> int:
    if "version" not in root:
        _missing(doc, (), "version", f"add `version: {VERSION}` at the top", errors)
        return VERSION
    version = root["version"]
    if type(version) is not int or version != VERSION:
        errors.add(
            doc.where(("version",)), f"unsupported config version {version!r}; allowed: {VERSION}"
        )
    return VERSION


def _secret_error(doc: Document, at: KeyPath, errors: ConfigErrors) -> None:
    destination = str(at[1]) if len(at) > 2 and at[0] == "destinations" else "<destination>"
    env = _env_name(destination, "") + "<FIELD>"
    errors.add(
        doc.where(at),
        "looks like a secret; secrets never go in the config file",
        hint=(
            f"store it in the OS keyring (`cdpcli keys set {destination} FIELD`) or the "
            f"environment ({env}); remove it from the config"
        ),
    )


def _env_name(destination: str, field: str) -> str:
    return f"CDPCLI_{destination}_{field}".upper().replace("-", "_")


def _scan_secrets(doc: Document, value: Any, at: KeyPath, errors: ConfigErrors) -> set[str]:
    """Report every key under a destination that looks like it holds a secret; the top-level
    ones are returned (they are not options to check further)."""
    found: set[str] = set()
    if isinstance(value, dict):
        for key, child in value.items():
            if _SECRET_KEY.search(key):
                _secret_error(doc, (*at, key), errors)
                found.add(key)
            else:
                _scan_secrets(doc, child, (*at, key), errors)
    elif isinstance(value, list):
        for index, child in enumerate(value):
            _scan_secrets(doc, child, (*at, index), errors)
    return found


def _destinations(
    doc: Document, root: Mapping[str, Any], errors: ConfigErrors
) -> tuple[dict[str, DestinationConfig], dict[str, str | None]]:
    """The valid destinations, and the kind of every one named (None when unknown), so that
    routes are checked against every name the config gives, valid or not."""
    kinds = ", ".join(registry.KINDS)
    if "destinations" not in root:
        _missing(doc, (), "destinations", f"name at least one destination (kinds: {kinds})", errors)
        return {}, {}
    raw = root["destinations"]
    at: KeyPath = ("destinations",)
    if not isinstance(raw, dict) or not raw:
        errors.add(
            doc.where(at),
            f"expected a mapping of named destinations, each with a `kind` ({kinds})",
        )
        return {}, {}
    out: dict[str, DestinationConfig] = {}
    named: dict[str, str | None] = {}
    env_names: dict[str, str] = {}
    for name, body in raw.items():
        here = (*at, name)
        valid = True
        if _DESTINATION_NAME.fullmatch(name) is None:
            valid = False
            errors.add(
                doc.where(here),
                f"invalid destination name {name!r}; allowed: lower-case letters, digits, `_` "
                "and `-` (it becomes part of env variable names)",
            )
        env = _env_name(name, "")
        if env in env_names:
            valid = False
            errors.add(
                doc.where(here),
                f"destination names {env_names[env]!r} and {name!r} give the same environment "
                f"variables ({env}<FIELD>); rename one",
            )
        env_names.setdefault(env, name)
        kind, destination = _destination(doc, here, name, body, errors)
        named[name] = kind
        if destination is not None and valid:
            out[name] = destination
    return out, named


def _destination(
    doc: Document, at: KeyPath, name: str, body: Any, errors: ConfigErrors
) -> tuple[str | None, DestinationConfig | None]:
    """(the kind, if known; the destination, if valid)."""
    kinds = ", ".join(registry.KINDS)
    if not isinstance(body, dict):
        errors.add(doc.where(at), f"expected a mapping with `kind` ({kinds}) and options")
        return None, None
    secrets = _scan_secrets(doc, body, at, errors)
    if "kind" not in body:
        _missing(doc, at, "kind", f"allowed kinds: {kinds}", errors)
        return None, None
    kind = body["kind"]
    if not isinstance(kind, str) or kind not in registry.KINDS:
        errors.add(
            doc.where((*at, "kind")),
            unknown(f"unknown kind {kind!r}", kind, registry.KINDS, quote="'"),
        )
        return None, None
    destination = registry.get_kind(kind)
    options_raw = {
        key: value for key, value in body.items() if key != "kind" and key not in secrets
    }

    def locate(key: str) -> str:
        return doc.where((*at, *_sub_path(key)))

    before = len(errors)
    with errors.collect():
        options = destination.parse_options(options_raw, locate)
    if len(errors) > before:
        return kind, None
    return kind, DestinationConfig(
        name=name,
        kind=kind,
        options=options,
        where=doc.where(at),
        integration_keys=(name, *destination.integration_names),
    )


def _sub_path(sub: str) -> KeyPath:
    parts: list[str | int] = []
    for index, key in _SUB_PATH.findall(sub):
        parts.append(int(index) if index else key)
    return tuple(parts)


def _routes(
    doc: Document,
    root: Mapping[str, Any],
    kinds: Mapping[str, str | None],
    errors: ConfigErrors,
) -> tuple[Route, ...]:
    if "routes" not in root:
        _missing(doc, (), "routes", "list at least one route (name, to, when, map)", errors)
        return ()
    raw = root["routes"]
    if not isinstance(raw, list) or not raw:
        errors.add(
            doc.where(("routes",)),
            f"expected a list of routes, each with the keys {', '.join(ROUTE_KEYS)}",
        )
        return ()
    routes: list[Route] = []
    names: dict[str, int] = {}
    fed: set[str] = set()
    for index, body in enumerate(raw):
        route = _route(doc, index, body, kinds, names, errors=errors)
        if route is None:
            continue
        qualifier = route.name if route.to in fed else None
        fed.add(route.to)
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
    kinds: Mapping[str, str | None],
    names: dict[str, int],
    *,
    errors: ConfigErrors,
) -> Route | None:
    """The route, or None when it has errors (every one of them reported)."""
    at: KeyPath = ("routes", index)
    if not isinstance(body, dict):
        errors.add(doc.where(at), f"expected a mapping with the keys {', '.join(ROUTE_KEYS)}")
        return None
    before = len(errors)
    for key in body:
        if key not in ROUTE_KEYS:
            errors.add(doc.where((*at, key)), _unknown_key(key, ROUTE_KEYS))
    name = _route_name(doc, at, body, names, errors)
    if name is not None:
        names.setdefault(name, index)
    to = _route_to(doc, at, body, kinds, errors)

    def locate_when(rel: KeyPath) -> str:
        return doc.where((*at, "when", *rel))

    when: Condition | None = None
    with errors.collect():
        when = compile_condition(body.get("when"), locate_when)
    template: Template | None = None
    with errors.collect():
        template = _route_map(doc, at, body, kinds.get(to) if to is not None else None, errors)
    if len(errors) > before or name is None or to is None or when is None:
        return None
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
    doc: Document,
    at: KeyPath,
    body: Mapping[str, Any],
    names: Mapping[str, int],
    errors: ConfigErrors,
) -> str | None:
    if "name" not in body:
        _missing(
            doc, at, "name", "every route needs a unique name (e.g. `name: analytics`)", errors
        )
        return None
    name = body["name"]
    if not isinstance(name, str) or _ROUTE_NAME.fullmatch(name) is None:
        errors.add(
            doc.where((*at, "name")),
            f"invalid route name {name!r}; allowed: letters, digits, `_`, `.` and `-`",
        )
        return None
    if name in names:
        first = doc.line(("routes", names[name], "name"))
        errors.add(
            doc.where((*at, "name")),
            f"duplicate route name {name!r} (first on line {first}); route names must be unique",
        )
        return None
    return name


def _route_to(
    doc: Document,
    at: KeyPath,
    body: Mapping[str, Any],
    kinds: Mapping[str, str | None],
    errors: ConfigErrors,
) -> str | None:
    known = ", ".join(kinds)
    if "to" not in body:
        _missing(doc, at, "to", f"name the destination; allowed: {known}", errors)
        return None
    to = body["to"]
    if not isinstance(to, str) or to not in kinds:
        errors.add(
            doc.where((*at, "to")),
            unknown(f"unknown destination {to!r}", to, list(kinds), quote="'", listed=known),
        )
        return None
    return to


def _route_map(
    doc: Document,
    at: KeyPath,
    body: Mapping[str, Any],
    destination_kind: str | None,
    errors: ConfigErrors,
) -> Template | None:
    """The compiled `map`; its keys are checked when the destination's kind is known."""
    if "map" not in body or body["map"] is None:
        return None
    raw = body["map"]
    if not isinstance(raw, dict):
        errors.add(
            doc.where((*at, "map")),
            "expected a mapping of destination fields to values or `{{ path }}` templates",
        )
        return None

    if destination_kind is not None:
        allowed = registry.get_kind(destination_kind).map_keys
        for key in raw:
            if key not in allowed:
                errors.add(
                    doc.where((*at, "map", key)),
                    unknown(
                        f"unknown key for a {destination_kind} destination",
                        key,
                        sorted(allowed),
                    ),
                )

    def locate(sub: str) -> str:
        return doc.where((*at, "map", *_sub_path(sub)))

    return compile_value(raw, locate)
