"""The `kind: mixpanel` destination (PRODUCT.md §6 "Mixpanel", reference/mixpanel.md):
`MixpanelDestination`, the contract of `cdpcli.destinations.base` over this folder's pure
functions: options in `settings`, the mapping in `mapping` (its properties in `properties`, the
user agent's in `useragent`), endpoints and requests in `http`, what the answers mean in
`answers`."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, ClassVar

from cdpcli.destinations.base import (
    REDACTED,
    Destination,
    Endpoint,
    HttpRequest,
    Locator,
    Mapped,
    RateLimits,
    RouteInfo,
    SecretField,
    Verdict,
)
from cdpcli.destinations.mixpanel import answers, http, mapping, settings
from cdpcli.destinations.mixpanel.settings import MixpanelOptions

PROJECT_TOKEN = "project_token"
"""The secret field of the project token, which every /engage and /groups record carries."""

_IMPORT_TYPES = frozenset({"track", "page", "screen"})
_IDENTITY_TYPES = frozenset({"identify", "alias"})  # reach /import only under `original`
_PROFILE_TYPES = frozenset({"identify", "group"})


def _needs_import(options: MixpanelOptions, types: frozenset[str]) -> bool:
    if not types or types & _IMPORT_TYPES:
        return True
    return options.identity == "original" and bool(types & _IDENTITY_TYPES)


class MixpanelDestination(Destination[MixpanelOptions]):
    """One Mixpanel project: /import for events, /engage and /groups for profiles."""

    kind: ClassVar[str] = "mixpanel"
    map_keys: ClassVar[frozenset[str]] = frozenset(mapping.MAP_KEYS)
    default_rate_limits: ClassVar[RateLimits] = settings.DEFAULT_RATE_LIMITS
    integration_names: ClassVar[tuple[str, ...]] = ("Mixpanel", "Mixpanel (Actions)")

    def __init__(
        self, name: str, options: MixpanelOptions, secrets: Mapping[str, str] | None
    ) -> None:
        super().__init__(name, options, secrets)
        self._endpoints = http.endpoints(options)
        # Profile records carry the project token in their body: `***` in a dry run.
        self.project_token = REDACTED if secrets is None else secrets.get(PROJECT_TOKEN, "")

    @classmethod
    def parse_options(cls, raw: Mapping[str, Any], where: Locator) -> MixpanelOptions:
        return settings.parse_options(raw, where)

    @classmethod
    def field_warnings(cls, event: Mapping[str, Any]) -> Sequence[tuple[str, str]]:
        """Values Segment's Mixpanel (Actions) cannot convert to the type it declares for their
        field (reference/mixpanel.md §2.6): cdpcli sends the event without that field."""
        return mapping.field_warnings(event)

    @classmethod
    def secret_fields(
        cls, options: MixpanelOptions, types: frozenset[str]
    ) -> tuple[SecretField, ...]:
        """/import credentials when some type can reach /import; the project token when
        identify or group can reach /engage or /groups. An empty `types` counts as any type."""
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
            fields.append(SecretField(PROJECT_TOKEN, "project token for /engage and /groups"))
        return tuple(fields)

    def rate_limits(self) -> RateLimits:
        return self.options.rate

    def endpoints(self) -> Mapping[str, Endpoint]:
        return self._endpoints

    def map_event(self, event: Mapping[str, Any], *, time_ms: int, route: RouteInfo) -> Mapped:
        return mapping.map_event(
            event, time_ms=time_ms, route=route, options=self.options, token=self.project_token
        )

    def build_request(self, endpoint_name: str, items_json: bytes) -> HttpRequest:
        endpoint = self._endpoints[endpoint_name]
        return http.build_request(self.options, endpoint, items_json, self.secrets)

    def parse_response(
        self,
        endpoint_name: str,
        items: Sequence[Mapping[str, Any]],
        status: int,
        headers: Mapping[str, str],
        body: bytes,
        *,
        now: float | None = None,
    ) -> Verdict:
        return answers.parse_response(endpoint_name, items, status, headers, body, now=now)

    def credential_fields(self, endpoint_name: str) -> tuple[str, ...]:
        """/import refuses its Basic credentials, /engage and /groups the project token."""
        given = sorted(self.secrets or {})
        profiles = endpoint_name != mapping.IMPORT
        return tuple([f for f in given if (f == PROJECT_TOKEN) == profiles] or given)

    def credential_note(self, endpoint_name: str) -> str | None:
        if endpoint_name == mapping.IMPORT:
            return "and `project_id` in the config, for a service account"
        return None
