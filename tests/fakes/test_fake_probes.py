"""The fakes answer the probes of `config check --connect` as the real services would
(reference/mixpanel.md §1.2-1.3, reference/lago.md §1, §7): Mixpanel's strict validation
refuses the probe record with a 400 `failed_records` and stores nothing; Lago serves
`GET /api/v1/billable_metrics` behind its Bearer check."""

from __future__ import annotations

import base64
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from cdpcli.destinations.mixpanel.probe import PROBE_RECORD
from tests.fakes.servers import (
    LAGO_API_KEY,
    LAGO_METRICS,
    MIXPANEL_IMPORT,
    MIXPANEL_PROJECT_ID,
    MIXPANEL_SA_SECRET,
    MIXPANEL_SA_USER,
    MIXPANEL_TOKEN,
    FakeLago,
    FakeMixpanel,
)


def basic(user: str, password: str = "") -> str:
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()


@pytest.fixture
def client() -> Iterator[httpx.Client]:
    with httpx.Client(timeout=5.0, verify=False) as c:  # loopback only: no CA bundle needed
        yield c


def with_properties(**changed: Any) -> dict[str, Any]:
    return {**PROBE_RECORD, "properties": {**PROBE_RECORD["properties"], **changed}}


@pytest.mark.parametrize(
    ("record", "field"),
    [
        (PROBE_RECORD, "properties.time"),
        # each of its two faults alone is enough
        (with_properties(time=1_700_000_000), "properties.$insert_id"),
        (with_properties(**{"$insert_id": "valid-insert-id"}), "properties.time"),
    ],
)
@pytest.mark.parametrize(
    ("authorization", "query"),
    [
        (basic(MIXPANEL_SA_USER, MIXPANEL_SA_SECRET), f"&project_id={MIXPANEL_PROJECT_ID}"),
        (basic(MIXPANEL_TOKEN), ""),  # the project token as the /import user
    ],
)
def test_mixpanel_refuses_the_probe_record_by_validation_and_stores_nothing(
    client: httpx.Client, record: dict[str, Any], field: str, authorization: str, query: str
) -> None:
    with FakeMixpanel() as fake:
        response = client.post(
            f"{fake.url}{MIXPANEL_IMPORT}?strict=1{query}",
            headers={"Authorization": authorization},
            json=[record],
        )
        assert response.status_code == 400
        answer = response.json()
        assert answer["num_records_imported"] == 0
        (failed,) = answer["failed_records"]
        assert (failed["index"], failed["field"]) == (0, field)
        assert fake.events == []
        assert fake.errors == []


def test_mixpanel_refuses_wrong_credentials_before_validating(client: httpx.Client) -> None:
    with FakeMixpanel() as fake:
        response = client.post(
            f"{fake.url}{MIXPANEL_IMPORT}?strict=1",
            headers={"Authorization": basic("not-a-token")},
            json=[PROBE_RECORD],
        )
        assert response.status_code == 401
        assert response.json()["error"] == "Invalid credentials"


@pytest.mark.parametrize(
    ("key", "status", "body"),
    [
        (None, 401, {"status": 401, "error": "Unauthorized"}),
        ("nope", 401, {"status": 401, "error": "Unauthorized"}),
        (
            "no-read",
            403,
            {
                "status": 403,
                "error": "Forbidden",
                "code": "read_action_not_allowed_for_billable_metric",
            },
        ),
    ],
)
def test_lago_billable_metrics_checks_the_bearer_key(
    client: httpx.Client, key: str | None, status: int, body: dict[str, Any]
) -> None:
    with FakeLago(no_read_keys={"no-read"}) as fake:
        headers = {"Authorization": f"Bearer {key}"} if key else {}
        response = client.get(f"{fake.url}{LAGO_METRICS}", headers=headers)
        assert (response.status_code, response.json()) == (status, body)


@pytest.mark.parametrize("key", [LAGO_API_KEY, "read-only"])
def test_lago_billable_metrics_lists_the_metrics_a_page_at_a_time(
    client: httpx.Client, key: str
) -> None:
    """A key that may not write events may still read (`read_only_keys`)."""
    metrics: dict[str, list[str]] = {"storage": ["gb"], "api_calls": []}
    with FakeLago(metrics=metrics, read_only_keys={"read-only"}) as fake:
        response = client.get(
            f"{fake.url}{LAGO_METRICS}",
            params={"per_page": "1", "page": "2"},
            headers={"Authorization": f"Bearer {key}"},
        )
        assert response.status_code == 200
        answer = response.json()
        assert [m["code"] for m in answer["billable_metrics"]] == ["storage"]
        assert answer["meta"] == {
            "current_page": 2,
            "next_page": None,
            "prev_page": 1,
            "total_pages": 2,
            "total_count": 2,
        }
        assert fake.events == []
