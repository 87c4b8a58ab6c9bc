"""Lago's answers to `POST /api/v1/events/batch` as verdicts (reference/lago.md §6-§7).

A batch is all-or-nothing. A 422 naming indexes settles those items (duplicate or rejected) and
the rest is resent as a new batch; `too_many_events` splits the batch; 429 and 5xx are retried
after the server's hint (`X-RateLimit-Reset`, `Retry-After`; `cdpcli.retry.parse_retry_after`),
which the retry policy caps. Pure functions: no I/O, no printing; the clock is read only to turn
a hint given as a date into seconds, when the caller passes no `now`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from cdpcli.destinations.base import Endpoint, ItemStatus, Verdict
from cdpcli.destinations.headers import parse_retry_after
from cdpcli.jsonio import dumps, loads_or_none


def parse_response(
    endpoint: Endpoint,
    items: Sequence[Mapping[str, Any]],
    status: int,
    headers: Mapping[str, str],
    body: bytes,
    *,
    now: float | None = None,
) -> Verdict:
    """What Lago's answer means for the batch (reference §6-§7). `now` (Unix time, default the
    clock) turns a date or epoch in a rate-limit header into a wait."""
    if 200 <= status < 300:
        return Verdict("settled")
    payload = loads_or_none(body)
    if status in (401, 403):
        return Verdict("auth", message=_summary(status, payload, body))
    if status == 413:
        return Verdict("split", message=_summary(status, payload, body))
    if status == 422:
        return _parse_422(endpoint, len(items), payload, body)
    if status == 429 or status >= 500:
        # 429 carries X-RateLimit-Reset (reference §7), a 5xx maybe Retry-After: one reading.
        wait = parse_retry_after(headers, now)
        return Verdict("retry", message=_summary(status, payload, body), retry_after=wait)
    # 400 (malformed request) and every other status: never retried (PRODUCT.md §6).
    return Verdict("reject_all", message=_summary(status, payload, body))


def _parse_422(endpoint: Endpoint, count: int, payload: Any, body: bytes) -> Verdict:
    details = payload.get("error_details") if isinstance(payload, dict) else None
    if isinstance(details, dict) and details:
        indexed = {key: value for key, value in details.items() if _is_index(key)}
        if len(indexed) == len(details):
            named = _named_items(indexed, count)
            if named:
                return Verdict("resend", items=named, message=_summary(422, payload, body))
        elif "too_many_events" in _codes(details.get("events")) and count > 1:
            return Verdict(
                "split",
                message=(
                    f"Lago answered too_many_events to {count} items: the server's "
                    f"LAGO_EVENTS_BATCH_MAX_LENGTH is lower; set batch_size lower than "
                    f"{endpoint.max_items} for this destination"
                ),
            )
    # A bare string, whole-request field errors, nothing valid named, or no details at all.
    return Verdict("reject_all", message=_summary(422, payload, body))


def _named_items(indexed: Mapping[str, Any], count: int) -> dict[int, tuple[ItemStatus, str]]:
    """Per-item outcomes of index-keyed details; indexes outside the batch are ignored."""
    named: dict[int, tuple[ItemStatus, str]] = {}
    for key, value in indexed.items():
        index = int(key)
        if index < count:
            named[index] = _item_outcome(value)
    return dict(sorted(named.items()))


def _item_outcome(value: Any) -> tuple[ItemStatus, str]:
    if isinstance(value, str):
        return ("rejected", value)
    if isinstance(value, dict) and value:
        reason = "; ".join(f"{field}: {_codes_text(codes)}" for field, codes in value.items())
        if list(value) == ["transaction_id"] and set(_codes(value["transaction_id"])) == {
            "value_already_exist"
        }:
            return ("duplicate", reason)
        return ("rejected", reason)
    return ("rejected", f"Lago validation error: {dumps(value)}")


def _is_index(key: Any) -> bool:
    return isinstance(key, str) and key.isascii() and key.isdigit()


def _codes(value: Any) -> list[str]:
    if isinstance(value, list):
        return [str(code) for code in value]
    if isinstance(value, str):
        return [value]
    return []


def _codes_text(value: Any) -> str:
    codes = _codes(value)
    return ", ".join(codes) if codes else dumps(value)


def _summary(status: int, payload: Any, body: bytes) -> str:
    """Lago's own words for a failed request: `HTTP 422 validation_errors: {...}`."""
    if not isinstance(payload, dict):
        text = body[:200].decode("utf-8", "replace").strip()
        return f"HTTP {status}" + (f": {text}" if text else "")
    parts = [str(payload[key]) for key in ("code", "error") if payload.get(key)]
    details = payload.get("error_details")
    if details:
        parts.append(details if isinstance(details, str) else dumps(details))
    return f"HTTP {status}" + (f": {': '.join(parts)}" if parts else "")
