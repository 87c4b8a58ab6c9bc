"""Mixpanel endpoints, requests and what their answers mean (reference/mixpanel.md §1, §3g).

Pure: no I/O. Backoff *policy* lives with the sender; this module only reads what the server said.
"""

from __future__ import annotations

import base64
from collections.abc import Mapping

from cdpcli.destinations.base import REDACTED, Endpoint, HttpRequest
from cdpcli.destinations.mixpanel.mapping import ENGAGE, GROUPS, IMPORT
from cdpcli.destinations.mixpanel.settings import MixpanelOptions
from cdpcli.errors import CredentialsError

# reference §1.1: data-collection hosts per region.
HOSTS = {
    "us": "https://api.mixpanel.com",
    "eu": "https://api-eu.mixpanel.com",
    "in": "https://api-in.mixpanel.com",
}
MB = 1024 * 1024
# reference §1.2 (MXD import-events.mdx): ≤ 2000 events and ≤ 10 MB uncompressed a request,
# each event under 1 MB. (SPEC's 413 example says 2 MiB: a 413 splits the batch.)
IMPORT_MAX_ITEMS = 2000
IMPORT_MAX_REQUEST_BYTES = 10 * MB
IMPORT_MAX_ITEM_BYTES = 1 * MB
# reference §1.4 (MXD user-profile-limits.mdx): 2000 updates a request, 1 MB per update. The
# request size is not documented; 10 MB keeps a request of maximal updates sane.
PROFILE_MAX_ITEMS = 2000
PROFILE_MAX_REQUEST_BYTES = 10 * MB
PROFILE_MAX_ITEM_BYTES = 1 * MB


def host(options: MixpanelOptions) -> str:
    """`api_url` (trailing "/" stripped) or the region's host."""
    if options.api_url:
        return options.api_url.rstrip("/")
    return HOSTS[options.region]


def endpoints(options: MixpanelOptions) -> dict[str, Endpoint]:
    """URL and limits of `import`, `engage` and `groups`."""
    base = host(options)
    import_url = f"{base}/import?strict=1"
    if options.auth == "service_account":
        import_url += f"&project_id={options.project_id}"
    return {
        IMPORT: Endpoint(
            name=IMPORT,
            url=import_url,
            max_items=IMPORT_MAX_ITEMS,
            max_request_bytes=IMPORT_MAX_REQUEST_BYTES,
            max_item_bytes=IMPORT_MAX_ITEM_BYTES,
            gzip=True,
        ),
        ENGAGE: Endpoint(
            name=ENGAGE,
            url=f"{base}/engage?verbose=1",
            max_items=PROFILE_MAX_ITEMS,
            max_request_bytes=PROFILE_MAX_REQUEST_BYTES,
            max_item_bytes=PROFILE_MAX_ITEM_BYTES,
            gzip=False,  # reference §1.1: /engage and /groups take no gzip
        ),
        GROUPS: Endpoint(
            name=GROUPS,
            url=f"{base}/groups?verbose=1",
            max_items=PROFILE_MAX_ITEMS,
            max_request_bytes=PROFILE_MAX_REQUEST_BYTES,
            max_item_bytes=PROFILE_MAX_ITEM_BYTES,
            gzip=False,
        ),
    }


def _secret(secrets: Mapping[str, str], field: str) -> str:
    value = secrets.get(field)
    if not value:
        raise CredentialsError(
            f"the Mixpanel secret `{field}` is missing",
            hint="set it with `cdpcli keys set <destination> " + field + "`",
        )
    return value


def authorization(options: MixpanelOptions, secrets: Mapping[str, str] | None) -> str:
    """The /import `Authorization` header; `***` in a dry run (`secrets` None)."""
    if secrets is None:
        return REDACTED
    if options.auth == "service_account":
        user = _secret(secrets, "service_account_username")
        password = _secret(secrets, "service_account_secret")
    else:
        user, password = _secret(secrets, "api_secret"), ""
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode("ascii")


def build_request(
    options: MixpanelOptions,
    endpoint: Endpoint | str,
    items_json: bytes,
    secrets: Mapping[str, str] | None,
) -> HttpRequest:
    """The POST for one batch: the body is `items_json` itself, the batch's JSON array (gzip
    applied by the sender when `gzip`)."""
    target = endpoint if isinstance(endpoint, Endpoint) else endpoints(options)[endpoint]
    headers: dict[str, str] = {}
    if target.name == IMPORT:
        headers["Authorization"] = authorization(options, secrets)
    headers["Content-Type"] = "application/json"
    if target.gzip:
        headers["Content-Encoding"] = "gzip"
    return HttpRequest(
        method="POST", url=target.url, headers=headers, content=items_json, gzip=target.gzip
    )
