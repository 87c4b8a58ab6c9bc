"""What Mixpanel's answers mean for each record of a batch (reference/mixpanel.md §1.3, §1.4,
§3g). Pure: no I/O."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from cdpcli.destinations.base import Endpoint, ItemStatus, Verdict
from cdpcli.destinations.headers import parse_retry_after
from cdpcli.destinations.mixpanel.mapping import IMPORT
from cdpcli.jsonio import loads_or_none

SIMPLIFIED_HINT = (
    "the Mixpanel project uses Simplified ID Merge: set `identity: simplified` "
    "for this destination and replay the rejected file"
)


_MAX_ERROR_TEXT = 500


def error_text(status: int, body: bytes) -> str:
    """Mixpanel's own error text (`error` of a JSON body, else the body), else the status."""
    parsed = loads_or_none(body)
    if isinstance(parsed, Mapping) and isinstance(parsed.get("error"), str) and parsed["error"]:
        return str(parsed["error"])
    text = body.decode("utf-8", errors="replace").strip()
    if text:
        return text[:_MAX_ERROR_TEXT]
    return f"HTTP {status}"


def _transport_verdict(
    status: int, headers: Mapping[str, str], body: bytes, now: float | None
) -> Verdict | None:
    """The rules shared by every endpoint: auth, split, retry. None for the rest."""
    if status in (401, 403):
        return Verdict(
            "auth",
            message=f"Mixpanel refused the credentials (HTTP {status}): {error_text(status, body)}",
        )
    if status == 413:
        return Verdict("split", message=error_text(status, body))
    if status == 429 or status >= 500:
        return Verdict(
            "retry",
            message=error_text(status, body),
            retry_after=parse_retry_after(headers, now),
        )
    return None


def _refused(status: int, body: bytes) -> Verdict:
    return Verdict(
        "reject_all",
        message=f"Mixpanel refused the request (HTTP {status}): {error_text(status, body)}",
    )


def _with_hint(message: str) -> str:
    if "simplified identity" in message.lower():
        return f"{message} (hint: {SIMPLIFIED_HINT})"
    return message


def _failed_records(
    items: Sequence[Mapping[str, Any]], failed: list[Any], imported: Any
) -> dict[int, tuple[ItemStatus, str]]:
    """reference §3g / M16: attribute `failed_records` of a 400 to the batch's items."""
    by_insert_id: dict[str, list[int]] = {}
    for index, item in enumerate(items):
        props = item.get("properties")
        if isinstance(props, Mapping) and isinstance(props.get("$insert_id"), str):
            by_insert_id.setdefault(props["$insert_id"], []).append(index)
    rejected: dict[int, tuple[ItemStatus, str]] = {}
    unattributed: list[str] = []
    for entry in failed:
        if not isinstance(entry, Mapping):
            unattributed.append(str(entry))
            continue
        message = str(entry.get("message") or "failed validation")
        field = entry.get("field")
        reason = _with_hint(f"{field}: {message}" if field else message)
        position = entry.get("index")
        if (
            isinstance(position, int | float)
            and not isinstance(position, bool)
            and position == int(position)
            and 0 <= int(position) < len(items)
        ):
            rejected[int(position)] = ("rejected", reason)
            continue
        # The prose spells the id `$insert_id`, SPEC `insert_id` (reference §1.3): accept both.
        ident = entry.get("$insert_id", entry.get("insert_id"))
        matches = by_insert_id.get(ident, []) if isinstance(ident, str) else []
        for i in matches:
            rejected[i] = ("rejected", reason)
        if not matches:
            unattributed.append(reason)
    if unattributed:
        text = _with_hint("; ".join(dict.fromkeys(unattributed)))
        if imported != 0:
            text += " (Mixpanel may have imported it)"
        for i in range(len(items)):
            rejected.setdefault(i, ("rejected", text))
    return rejected


def _parse_import(items: Sequence[Mapping[str, Any]], status: int, body: bytes) -> Verdict:
    if 200 <= status < 300:
        return Verdict("settled")  # an unparsable 200 body still means "imported"
    if status == 400:
        parsed = loads_or_none(body)
        failed = parsed.get("failed_records") if isinstance(parsed, Mapping) else None
        if isinstance(failed, list) and failed:
            imported = parsed.get("num_records_imported") if isinstance(parsed, Mapping) else None
            items_status = _failed_records(items, failed, imported)
            return Verdict("settled", items=items_status)
    return _refused(status, body)


def _parse_profiles(items: Sequence[Mapping[str, Any]], status: int, body: bytes) -> Verdict:
    if not 200 <= status < 300:
        return _refused(status, body)
    parsed = loads_or_none(body)
    if isinstance(parsed, Mapping):
        flag, error = parsed.get("status"), parsed.get("error")
    else:
        flag, error = parsed, None
    if flag in (0, "0"):
        reason = error if isinstance(error, str) and error else "no update was valid (response 0)"
        return Verdict("reject_all", message=f"Mixpanel rejected the updates: {reason}")
    del items
    return Verdict("settled")


def parse_response(
    endpoint: Endpoint | str,
    items: Sequence[Mapping[str, Any]],
    status: int,
    headers: Mapping[str, str],
    body: bytes,
    *,
    now: float | None = None,
) -> Verdict:
    """What Mixpanel's answer means for each item of the batch (reference §1.3, §1.4, §3g)."""
    name = endpoint.name if isinstance(endpoint, Endpoint) else endpoint
    verdict = _transport_verdict(status, headers, body, now)
    if verdict is not None:
        return verdict
    if name == IMPORT:
        return _parse_import(items, status, body)
    return _parse_profiles(items, status, body)
