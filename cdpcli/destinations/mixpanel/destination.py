"""The `kind: mixpanel` destination (PRODUCT.md §6 "Mixpanel", reference/mixpanel.md).

Implements the contract of `cdpcli.destinations.base`; the work is split into small helpers:
`mixpanel_options` (config), `mixpanel_map` (event → records), `mixpanel_useragent`,
`mixpanel_http` (endpoints, requests, responses).
"""

from __future__ import annotations

from cdpcli.destinations.base import SecretField
from cdpcli.destinations.mixpanel.answers import parse_response
from cdpcli.destinations.mixpanel.http import build_request, endpoints
from cdpcli.destinations.mixpanel.mapping import MAP_KEYS, map_event
from cdpcli.destinations.mixpanel.properties import insert_id
from cdpcli.destinations.mixpanel.settings import MixpanelOptions, parse_options

KIND = "mixpanel"

__all__ = [
    "KIND",
    "MAP_KEYS",
    "MixpanelOptions",
    "build_request",
    "endpoints",
    "insert_id",
    "map_event",
    "parse_options",
    "parse_response",
    "secret_fields",
]

_IMPORT_TYPES = frozenset({"track", "page", "screen"})
_IDENTITY_TYPES = frozenset({"identify", "alias"})  # reach /import only under `original`
_PROFILE_TYPES = frozenset({"identify", "group"})


def _needs_import(options: MixpanelOptions, types: frozenset[str]) -> bool:
    if not types or types & _IMPORT_TYPES:
        return True
    return options.identity == "original" and bool(types & _IDENTITY_TYPES)


def secret_fields(options: MixpanelOptions, types: frozenset[str]) -> tuple[SecretField, ...]:
    """The secrets a run needs given the event types its routes send here.

    /import credentials when some type can reach /import; the project token when identify or
    group can reach /engage or /groups. An empty `types` counts as "any type".
    """
    fields: list[SecretField] = []
    if _needs_import(options, types):
        if options.auth == "service_account":
            fields.append(
                SecretField("service_account_username", "service account user for /import")
            )
            fields.append(
                SecretField("service_account_secret", "service account secret for /import")
            )
        else:
            fields.append(SecretField("api_secret", "project API secret for /import"))
    if not types or types & _PROFILE_TYPES:
        fields.append(SecretField("project_token", "project token for /engage and /groups"))
    return tuple(fields)
