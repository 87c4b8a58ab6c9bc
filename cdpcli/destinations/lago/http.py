"""Lago's batch endpoint and the request for a batch (reference/lago.md §1, §6)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Final

from cdpcli.destinations.base import REDACTED, Endpoint, HttpRequest
from cdpcli.destinations.lago.mapping import ENDPOINT_NAME
from cdpcli.destinations.lago.settings import BATCH_PATH, LagoOptions
from cdpcli.errors import CredentialsError

# The reference gives no byte limit for Lago requests (nor does the OpenAPI file). Events are at
# most 32 KB on input, so 100 items stay far below these bounds; they only guard pathological maps.
MAX_REQUEST_BYTES: Final = 5_000_000


MAX_ITEM_BYTES: Final = 1_000_000


API_KEY: Final = "api_key"


EMPTY_ARRAY: Final = b"[]"


def endpoints(options: LagoOptions) -> Mapping[str, Endpoint]:
    """The one endpoint cdpcli uses: the batch endpoint, `batch_size` items a request."""
    return {
        ENDPOINT_NAME: Endpoint(
            name=ENDPOINT_NAME,
            url=f"{options.api_url}{BATCH_PATH}",
            max_items=options.batch_size,
            max_request_bytes=MAX_REQUEST_BYTES,
            max_item_bytes=MAX_ITEM_BYTES,
            gzip=False,
        )
    }


def build_request(
    options: LagoOptions,
    endpoint: Endpoint,
    items_json: bytes,
    secrets: Mapping[str, str] | None,
) -> HttpRequest:
    """`POST {"events": [...]}` with the Bearer key, around `items_json`, the batch's JSON array;
    `secrets=None` (dry run) shows `***`."""
    del options
    if items_json == EMPTY_ARRAY:
        raise ValueError("a Lago batch needs at least one item (Lago answers 422 no_events)")
    if secrets is None:
        authorization = REDACTED
    else:
        key = secrets.get(API_KEY)
        if not key:
            raise CredentialsError(
                "the Lago API key (api_key) was not provided",
                hint="set it with `cdpcli keys set DESTINATION api_key`",
            )
        authorization = f"Bearer {key}"
    return HttpRequest(
        method="POST",
        url=endpoint.url,
        headers={"Authorization": authorization, "Content-Type": "application/json"},
        content=b'{"events":' + items_json + b"}",
        gzip=False,
    )
