"""The destination contract (`cdpcli.destinations.base.Destination`) as each kind implements it:
found by kind, concrete, its secrets bound to the instance, its request bodies built around the
batch's JSON array, and the secrets a refusal of credentials points at."""

from __future__ import annotations

import inspect
from typing import Any

import pytest

from cdpcli.destinations import registry
from cdpcli.destinations.base import REDACTED, Destination, RouteInfo
from cdpcli.destinations.lago.destination import LagoDestination
from cdpcli.destinations.mixpanel.destination import MixpanelDestination

MIXPANEL_SECRETS = {
    "service_account_username": "sa-user",
    "service_account_secret": "sa-secret",
    "project_token": "tok-123",
}
IDENTIFY = {
    "type": "identify",
    "messageId": "m-1",
    "userId": "u-1",
    "traits": {"plan": "pro"},
}


def where(key: str) -> str:
    return f"c.yaml:1: key `{key}`"


def mixpanel(secrets: dict[str, str] | None) -> MixpanelDestination:
    options = MixpanelDestination.parse_options({"project_id": "42"}, where)
    return MixpanelDestination("mp", options, secrets)


def lago(secrets: dict[str, str] | None) -> LagoDestination:
    return LagoDestination("billing", LagoDestination.parse_options({}, where), secrets)


@pytest.mark.parametrize("kind", registry.KINDS)
def test_every_kind_is_a_concrete_destination_of_its_kind(kind: str) -> None:
    found = registry.get_kind(kind)
    assert issubclass(found, Destination)
    assert not inspect.isabstract(found)
    assert found.kind == kind
    assert found.integration_names
    assert found.map_keys


def test_an_unknown_kind_is_a_key_error() -> None:
    with pytest.raises(KeyError):
        registry.get_kind("segment")


def test_mixpanel_profiles_carry_the_project_token_of_the_secrets() -> None:
    def token(destination: MixpanelDestination) -> Any:
        mapped = destination.map_event(IDENTIFY, time_ms=1_700_000_000_000, route=RouteInfo("r"))
        (record,) = mapped.records
        assert record.endpoint == "engage"
        return record.item["$token"]

    assert token(mixpanel(MIXPANEL_SECRETS)) == "tok-123"
    assert token(mixpanel(None)) == REDACTED  # a dry run shows no secret
    assert token(mixpanel({"service_account_username": "u"})) == ""


@pytest.mark.parametrize(
    ("destination", "overhead"),
    [
        # /import credentials missing: measuring the wrapper needs no secret
        (mixpanel({"project_token": "tok-123"}), {"import": 0, "engage": 0, "groups": 0}),
        (lago({"api_key": "k"}), {"batch": len(b'{"events":}')}),
    ],
)
def test_body_overhead_is_the_wrapper_around_the_items(
    destination: Destination[Any], overhead: dict[str, int]
) -> None:
    assert {name: destination.body_overhead(name) for name in destination.endpoints()} == overhead


ITEMS = b'[{"a":1},{"b":"\xc3\xa9"}]'


@pytest.mark.parametrize(
    ("destination", "content"),
    [
        (mixpanel(MIXPANEL_SECRETS), ITEMS),
        (lago({"api_key": "k"}), b'{"events":' + ITEMS + b"}"),
    ],
)
def test_a_request_body_embeds_the_items_json_as_it_is(
    destination: Destination[Any], content: bytes
) -> None:
    for name, endpoint in destination.endpoints().items():
        request = destination.build_request(name, ITEMS)
        assert request.content == content
        assert request.gzip == endpoint.gzip
        assert request.url == endpoint.url


def test_the_secrets_a_refusal_of_credentials_points_at() -> None:
    destination = mixpanel(MIXPANEL_SECRETS)
    assert destination.credential_fields("import") == (
        "service_account_secret",
        "service_account_username",
    )
    assert destination.credential_fields("engage") == ("project_token",)
    assert destination.credential_fields("groups") == ("project_token",)
    assert destination.credential_note("import") == (
        "and `project_id` in the config, for a service account"
    )
    assert destination.credential_note("engage") is None
    # only the token was given: an /import refusal still names what there is
    assert mixpanel({"project_token": "t"}).credential_fields("import") == ("project_token",)
    billing = lago({"api_key": "k"})
    assert billing.credential_fields("batch") == ("api_key",)
    assert billing.credential_note("batch") is None
