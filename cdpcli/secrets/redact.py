"""Keep secret values out of everything cdpcli writes: exception text, logs, headers, records.

A `Redactor` knows the secret values of a run and replaces each of them, in every form it can
take on the wire, by `***`:

- the value itself, and as it appears JSON-escaped or URL-encoded;
- HTTP Basic credentials: `base64(user:secret)` for every pair of known secrets (a service
  account whose user name is a secret too) and for each extra `users=` name, and
  `base64(secret:)` (a secret as the user name, the password empty).

httpx exceptions carry their request, headers included; pass their text through `text()`.
"""

from __future__ import annotations

import base64
import json
import re
from collections.abc import Iterable, Mapping
from typing import Any
from urllib.parse import quote

from cdpcli.destinations.base import REDACTED

SENSITIVE_HEADERS = frozenset(
    {
        "authorization",
        "proxy-authorization",
        "cookie",
        "set-cookie",
        "x-api-key",
        "api-key",
        "x-auth-token",
    }
)
"""Header names whose value is always masked, whatever it holds."""


def _b64(text: str) -> str:
    return base64.b64encode(text.encode("utf-8")).decode("ascii")


def _forms(secret: str) -> set[str]:
    """The ways one secret value can appear in text."""
    forms = {secret, json.dumps(secret, ensure_ascii=False)[1:-1], quote(secret, safe="")}
    forms.add(json.dumps(secret)[1:-1])  # \uXXXX escapes for non-ASCII
    forms.add(_b64(f"{secret}:"))
    return forms


class Redactor:
    """Replaces every known secret (and its encoded forms) by `***`.

    Empty strings are ignored. Longer forms are replaced first, so a secret that contains
    another one is masked whole.
    """

    def __init__(self, secrets: Iterable[str], *, users: Iterable[str] = ()) -> None:
        values = sorted({s for s in secrets if s})
        forms: set[str] = set()
        for value in values:
            forms |= _forms(value)
        for user in [*values, *(u for u in users if u)]:
            for value in values:
                forms.add(_b64(f"{user}:{value}"))
        self._secrets = tuple(values)
        ordered = sorted((f for f in forms if f), key=lambda f: (-len(f), f))
        self._pattern = re.compile("|".join(map(re.escape, ordered))) if ordered else None

    @classmethod
    def from_resolved(cls, resolved: Mapping[str, Mapping[str, str]]) -> Redactor:
        """A redactor for the output of `SecretStore.resolve`: `{dest: {field: value}}`."""
        return cls(value for fields in resolved.values() for value in fields.values())

    def __bool__(self) -> bool:
        return bool(self._secrets)

    def __repr__(self) -> str:
        return f"Redactor({len(self._secrets)} secrets)"

    def text(self, s: str) -> str:
        """`s` with every known secret form replaced by `***`."""
        if self._pattern is None:
            return s
        return self._pattern.sub(REDACTED, s)

    def contains_secret(self, s: str) -> bool:
        """Whether `s` holds any known secret form."""
        return self._pattern is not None and self._pattern.search(s) is not None

    def headers(self, headers: Mapping[str, str]) -> dict[str, str]:
        """A copy of `headers` (names and order kept) where credentials are masked.

        `Authorization`-like headers keep their scheme (`Basic ***`); every other sensitive or
        secret-carrying header becomes `***`.
        """
        masked: dict[str, str] = {}
        for name, value in headers.items():
            lowered = name.lower()
            if lowered in {"authorization", "proxy-authorization"}:
                scheme, _, credentials = value.strip().partition(" ")
                masked[name] = f"{scheme} {REDACTED}" if credentials else REDACTED
            elif lowered in SENSITIVE_HEADERS or self.contains_secret(value):
                masked[name] = REDACTED
            else:
                masked[name] = value
        return masked

    def data(self, value: Any) -> Any:
        """A copy of a JSON-like value with every string (keys too) passed through `text()`."""
        if isinstance(value, str):
            return self.text(value)
        if isinstance(value, Mapping):
            return {self.data(k): self.data(v) for k, v in value.items()}
        if isinstance(value, list | tuple):
            return [self.data(item) for item in value]
        return value
