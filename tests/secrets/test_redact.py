"""Redaction: every known secret, in every wire form, becomes `***`."""

from __future__ import annotations

import base64
import json
from urllib.parse import quote

import httpx
import pytest
from hypothesis import given
from hypothesis import strategies as st

from cdpcli.secrets.redact import Redactor

USER = "sa-user.1234abcd.mp-service-account"
SECRET = "s3cr3t/Value+with=chars"
TOKEN = "0123456789abcdef0123456789abcdef"


def b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (f"key={SECRET} end", "key=*** end"),
        (f"{SECRET}{SECRET}", "******"),
        (f"Authorization: Basic {b64(f'{USER}:{SECRET}')}", "Authorization: Basic ***"),
        (f"Authorization: Basic {b64(f'{TOKEN}:')}", "Authorization: Basic ***"),
        (f"Authorization: Basic {b64(f'{SECRET}:')}", "Authorization: Basic ***"),
        (f"url?token={quote(SECRET, safe='')}", "url?token=***"),
        (
            f'{{"$token": "{TOKEN}", "$distinct_id": "u1"}}',
            '{"$token": "***", "$distinct_id": "u1"}',
        ),
        ("nothing secret here", "nothing secret here"),
        (f"user {USER} alone", "user *** alone"),
    ],
)
def test_text(text: str, expected: str) -> None:
    assert Redactor([USER, SECRET, TOKEN]).text(text) == expected


def test_json_escaped_form() -> None:
    secret = 'quote"and\\backslash-é'
    dumped = json.dumps({"key": secret})
    ascii_dumped = json.dumps({"key": secret}, ensure_ascii=True)
    redactor = Redactor([secret])
    assert redactor.text(dumped) == '{"key": "***"}'
    assert redactor.text(ascii_dumped) == '{"key": "***"}'


def test_extra_basic_auth_users() -> None:
    """A user name that is not itself a secret must be given, or its Basic form is unknown."""
    header = f"Basic {b64('plain-user:' + SECRET)}"
    assert Redactor([SECRET]).text(header) == header
    assert Redactor([SECRET], users=["plain-user"]).text(header) == "Basic ***"


def test_longest_form_wins_over_a_contained_secret() -> None:
    assert Redactor(["abc", "xxabcxx"]).text("[xxabcxx] [abc]") == "[***] [***]"


@pytest.mark.parametrize("secrets", [[], [""]])
def test_no_secrets_changes_nothing(secrets: list[str]) -> None:
    redactor = Redactor(secrets)
    assert not redactor
    assert redactor.text("a b c") == "a b c"
    assert redactor.headers({"Authorization": "Bearer x"}) == {"Authorization": "Bearer ***"}


def test_headers() -> None:
    headers = {
        "Authorization": f"Basic {b64(f'{USER}:{SECRET}')}",
        "Content-Type": "application/json",
        "X-Custom": f"token {TOKEN}",
        "Cookie": "session=abc",
        "User-Agent": "cdpcli/0.1.0",
        "Proxy-Authorization": "opaque",
    }
    assert Redactor([USER, SECRET, TOKEN]).headers(headers) == {
        "Authorization": "Basic ***",
        "Content-Type": "application/json",
        "X-Custom": "***",
        "Cookie": "***",
        "User-Agent": "cdpcli/0.1.0",
        "Proxy-Authorization": "***",
    }


def test_data_walks_json_values() -> None:
    body = {"$token": TOKEN, "items": [{"note": f"k={SECRET}", "n": 1, "ok": True}], TOKEN: None}
    assert Redactor([SECRET, TOKEN]).data(body) == {
        "$token": "***",
        "items": [{"note": "k=***", "n": 1, "ok": True}],
        "***": None,
    }


def test_from_resolved() -> None:
    redactor = Redactor.from_resolved({"mp": {"api_secret": SECRET}, "lago": {"api_key": TOKEN}})
    assert redactor.text(f"{SECRET} {TOKEN}") == "*** ***"
    assert SECRET not in repr(redactor)


def test_httpx_error_text_is_redacted() -> None:
    """httpx errors carry the request; what the sender logs from them must not leak."""
    request = httpx.Request(
        "POST",
        "https://api.mixpanel.com/import?strict=1",
        headers={"Authorization": f"Basic {b64(f'{USER}:{SECRET}')}"},
    )
    error = httpx.ConnectError("connection refused", request=request)
    text = f"{error!r} {error.request.headers!r} {dict(error.request.headers)}"
    redacted = Redactor([USER, SECRET]).text(text)
    assert SECRET not in redacted
    assert b64(f"{USER}:{SECRET}") not in redacted
    assert "***" in redacted


@given(
    secret=st.text(min_size=1, max_size=30).filter(lambda s: "*" not in s),
    prefix=st.text(max_size=20),
    suffix=st.text(max_size=20),
)
def test_a_secret_never_survives(secret: str, prefix: str, suffix: str) -> None:
    redacted = Redactor([secret]).text(prefix + secret + suffix)
    assert secret not in redacted
