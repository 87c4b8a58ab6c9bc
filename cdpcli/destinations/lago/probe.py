"""The probe of `config check --connect` for Lago (PRODUCT.md §6.1): an authenticated read,
`GET /api/v1/billable_metrics?per_page=1`, with the Bearer key a send uses. It writes nothing.
Pure: no I/O.

Lago answers 401 to a key it does not know (reference/lago.md §1). A key can be scoped per
resource; one that may not read billable metrics gets 403 `read_action_not_allowed_for_
billable_metric` (Lago's `"#{mode}_action_not_allowed_for_#{resource}"`): the key exists, but
this read cannot tell whether it may write events, so that is a refusal too, said as such.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final

from cdpcli.destinations.base import REDACTED, HttpRequest, Probe, ProbeVerdict
from cdpcli.destinations.lago.http import API_KEY
from cdpcli.destinations.lago.settings import LagoOptions
from cdpcli.jsonio import loads_or_none

PROBE_NAME: Final = "billable_metrics"
PROBE_PATH: Final = "/api/v1/billable_metrics?per_page=1"


def probe(options: LagoOptions, secrets: Mapping[str, str] | None) -> Probe:
    """`GET /api/v1/billable_metrics?per_page=1` with the key (`***` when `secrets` is None)."""
    authorization = REDACTED if secrets is None else f"Bearer {secrets.get(API_KEY, '')}"
    return Probe(
        name=PROBE_NAME,
        checks="the API key",
        fields=(API_KEY,),
        request=HttpRequest(
            method="GET",
            url=f"{options.api_url}{PROBE_PATH}",
            headers={"Authorization": authorization, "Accept": "application/json"},
            content=b"",
        ),
    )


def _said(status: int, payload: Any, body: bytes) -> str:
    """Lago's own words: `HTTP 403: read_action_not_allowed_for_billable_metric: Forbidden`."""
    if isinstance(payload, Mapping):
        parts = [str(payload[key]) for key in ("code", "error") if payload.get(key)]
        if parts:
            return f"HTTP {status}: " + ": ".join(parts)
    text = body[:200].decode("utf-8", "replace").strip()
    return f"HTTP {status}" + (f": {text}" if text else "")


def probe_verdict(status: int, body: bytes) -> ProbeVerdict:
    """2xx: accepted; 401, 403: refused; anything else: unexpected."""
    payload = loads_or_none(body)
    if 200 <= status < 300:
        meta = payload.get("meta") if isinstance(payload, Mapping) else None
        count = meta.get("total_count") if isinstance(meta, Mapping) else None
        metrics = f"; {count} billable metric(s) defined" if isinstance(count, int) else ""
        return ProbeVerdict("accepted", f"Lago accepted the API key{metrics}")
    if status == 401:
        return ProbeVerdict(
            "refused", f"Lago does not know this API key ({_said(status, payload, body)})"
        )
    if status == 403:
        return ProbeVerdict(
            "refused",
            f"Lago knows this API key but refused it this read ({_said(status, payload, body)}); "
            "a key scoped per resource needs read on billable metrics for this check, and "
            "write on events for a send",
        )
    return ProbeVerdict(
        "unexpected",
        f"Lago answered {_said(status, payload, body)} to a read of billable metrics "
        "(is `api_url` the Lago API host?)",
    )
