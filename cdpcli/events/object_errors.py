"""What an object store's error means for a run (PRODUCT.md §3.1), and the message it gets.

obstore's exceptions carry no status code, only a class and a message (which quotes the server's
answer). Observed with obstore 0.12 against S3, moto and fake-gcs-server:

- a missing key or bucket on GET/HEAD: `FileNotFoundError` (obstore's `NotFoundError`);
- a refused signature or key, or no permission: `PermissionDeniedError`, `UnauthenticatedError`,
  or, from a listing, `GenericError` quoting a 401/403 (`AccessDenied`, `InvalidAccessKeyId`, ...);
- a listing of a missing bucket: `GenericError` quoting a 404 `NoSuchBucket`;
- an object replaced under an `If-Match`: `PreconditionError`;
- a connection refused, reset or cut mid-body, a timeout, a 5xx or a 429: `GenericError`
  ("error sending request", "error decoding response body", ...): transient;
- no credentials anywhere, the metadata service unreachable, or a token request that fails:
  `GenericError` about the token request (to the metadata service, or Google's token URL).
"""

from __future__ import annotations

import re
from enum import Enum

NOT_FOUND_CODES = frozenset({"NoSuchBucket", "NoSuchKey", "NotFound"})
DENIED_CODES = frozenset(
    {
        "AccessDenied",
        "AllAccessDisabled",
        "AccountProblem",
        "ExpiredToken",
        "InvalidAccessKeyId",
        "InvalidToken",
        "SignatureDoesNotMatch",
        "UserProjectAccountProblem",
    }
)
_STATUS = re.compile(r"non-2xx status code: (\d{3})")
_CODE = re.compile(r"<Code>(\w+)</Code>")
_NETWORK = (
    "error sending request",
    "request or response body error",
    "error decoding response body",
    "error reading a body",
    "connection",
    "timed out",
    "timeout",
    "broken pipe",
    "reset by peer",
    "incomplete",
)
# The metadata services a credential chain ends at (AWS IMDS, GCE metadata server).
_METADATA = ("/latest/api/token", "/latest/meta-data/", "computeMetadata", "token request")


class Kind(Enum):
    NOT_FOUND = "not found"
    NO_BUCKET = "no such bucket"
    DENIED = "access denied"
    NO_CREDENTIALS = "no credentials"
    CHANGED = "changed"
    TRANSIENT = "transient"
    REDIRECT = "wrong region"
    INVALID = "invalid key"
    OTHER = "other"


def classify(error: BaseException) -> tuple[Kind, str]:
    """(what the error means, a short reason quoting the server's code or status)."""
    from obstore import exceptions

    message = str(error)
    code_match = _CODE.search(message)
    code = code_match.group(1) if code_match else ""
    status_match = _STATUS.search(message)
    status = int(status_match.group(1)) if status_match else 0
    if isinstance(error, FileNotFoundError | exceptions.NotFoundError):
        return (Kind.NO_BUCKET if code == "NoSuchBucket" else Kind.NOT_FOUND), code or "404"
    if isinstance(error, exceptions.PermissionDeniedError | exceptions.UnauthenticatedError):
        return Kind.DENIED, code or status_text(status, "403")
    if isinstance(error, exceptions.PreconditionError):
        return Kind.CHANGED, code or "412"
    if isinstance(error, exceptions.InvalidPathError):
        return Kind.INVALID, short(message)
    if isinstance(error, exceptions.GenericError):
        return _generic(message, code, status)
    return Kind.OTHER, short(message)


def _generic(message: str, code: str, status: int) -> tuple[Kind, str]:
    if code == "NoSuchBucket":
        return Kind.NO_BUCKET, code
    if status == 404 or code in NOT_FOUND_CODES:
        return Kind.NOT_FOUND, code or "404"
    if status in (401, 403) or code in DENIED_CODES:
        return Kind.DENIED, code or str(status)
    if status == 301 or code in ("PermanentRedirect", "AuthorizationHeaderMalformed"):
        return Kind.REDIRECT, code or str(status)
    if status == 412:
        return Kind.CHANGED, code or "412"
    if not status and any(part in message for part in _METADATA):
        return Kind.NO_CREDENTIALS, short(message)
    if status in (408, 429) or status >= 500:
        return Kind.TRANSIENT, code or str(status)
    lowered = message.lower()
    if not status and any(part in lowered for part in _NETWORK):
        return Kind.TRANSIENT, _network_reason(message)
    return Kind.OTHER, short(message)


def status_text(status: int, default: str) -> str:
    return str(status) if status else default


def _network_reason(message: str) -> str:
    for part in ("Connection refused", "connection reset", "timed out", "error sending request"):
        if part.lower() in message.lower():
            return part.lower()
    return "the connection failed"


def short(message: str) -> str:
    """The first line of an obstore message, without its debug dump."""
    first = message.split("Debug source", maxsplit=1)[0].strip().splitlines()
    text = first[0] if first else message
    return text if len(text) <= 200 else text[:197] + "..."
