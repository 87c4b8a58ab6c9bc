"""`cdpcli eligibility` through the CLI (CliRunner): text, JSON shape, exit codes, usage errors."""

from __future__ import annotations

import json
from datetime import date
from typing import Any

import jsonschema
import pytest
from typer.testing import CliRunner, Result

from cdpcli.cli.app import app
from cdpcli.eligibility import evaluate as el

TODAY = date(2026, 11, 23)
BASE = ["eligibility", "--founded", "2025-03-01", "--raised", "2.5M", "--country", "DE"]


@pytest.fixture(autouse=True)
def _today(monkeypatch: pytest.MonkeyPatch) -> None:
    """Pin "today" to the date the reference was written for."""
    monkeypatch.setattr(el, "current_date", lambda: TODAY)
    monkeypatch.setenv("COLUMNS", "200")
    monkeypatch.setenv("NO_COLOR", "1")


def run(*args: str) -> Result:
    return CliRunner().invoke(app, list(args))


def run_json(*args: str) -> dict[str, Any]:
    result = run(*args, "--format", "json")
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert len(lines) == 1
    parsed: dict[str, Any] = json.loads(lines[0])
    return parsed


def by_program(doc: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {p["program"]: p for p in doc["programs"]}


# --------------------------------------------------------------------------- text output


def test_text_today_explains_each_program() -> None:
    result = run(*BASE)
    assert result.exit_code == 0
    out = result.stdout
    assert out.startswith(
        "Eligibility on 2026-11-23 (today) for a company founded 2025-03-01, $2,500,000 raised, "
        "billing country DE (Germany)\n"
    )
    for text in [
        "Mixpanel for Startups: ELIGIBLE (meets every checked criterion of M-startup-plan; "
        "2 condition(s) to confirm yourself)",
        "terms: M-startup-plan (open; from 2024-09-04, still current), in force on that date",
        "source: https://docs.mixpanel.com/docs/pricing/startup-program "
        "(mixpanel/docs docs/pricing/startup-program.mdx @ba22906, retrieved 2026-08-21)",
        "within the age limit until 2030-02-28",
        "to confirm",
        "obligation: start sending data within 90 days of acceptance",
        'Segment Startup Program: CLOSED (closed under S-closed: "As of January 6, 2025',
        "criteria of S-seed, for information:",
        "Located in Google Cloud eligible territory",
        "not among the known excluded territories (Google's full list is not bundled)",
        "within the age limit until 2027-02-28",
    ]:
        assert text in out, text
    assert result.stderr == ""


def test_text_as_of_uses_that_dates_terms() -> None:
    result = run(*BASE, "--as-of", "2024-06-01")
    assert result.exit_code == 0
    out = result.stdout
    assert "Eligibility on 2024-06-01 (--as-of)" in out
    assert "Mixpanel for Startups: NOT ELIGIBLE (fails age under M-credits)" in out
    assert "terms: M-credits (open; from an unknown date to 2024-09-03)" in out
    assert "Segment Startup Program: NOT ELIGIBLE (fails age under S-seed)" in out
    assert "terms: S-seed (open; from an unknown date to 2025-01-05)" in out
    assert out.count("not founded yet: incorporated 2025-03-01, after 2024-06-01") == 2


def test_text_age_limit_passed_and_partnership_credits() -> None:
    result = run(
        "eligibility", "--founded", "2020-02-29", "--raised", "1M", "--country", "de",
        "--terms", "M-seed", "--as-of", "2025-02-28",
    )  # fmt: skip
    assert result.exit_code == 0
    out = result.stdout
    assert "terms: M-seed (undated), named with --terms" in out
    assert (
        "Mixpanel for Startups: NOT ELIGIBLE (fails age under M-seed "
        "(not the terms in force on 2025-02-28: M-startup-plan))"
    ) in out
    assert "age limit passed: it ended after 2022-02-27" in out
    assert (
        '$50K Segment credits "because of our Segment partnership": unavailable '
        "(Segment Startup Program closed on 2025-01-06 (S-closed) and takes no applications)"
    ) in out


def test_text_color_only_without_no_color(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("NO_COLOR")
    result = run(*BASE)
    assert result.exit_code == 0
    assert "\x1b[" not in result.stdout  # not a terminal: no colour either way


# --------------------------------------------------------------------------- JSON

CRITERION = {
    "type": "object",
    "required": ["kind", "label", "criterion", "result", "reason"],
    "additionalProperties": False,
    "properties": {
        "kind": {"enum": ["age", "funding", "territory", "flag", "unchecked"]},
        "label": {"type": "string"},
        "criterion": {"type": "string"},
        "result": {"enum": ["pass", "fail", "unverified", "to_confirm"]},
        "reason": {"type": "string", "minLength": 1},
    },
}
DATE_OR_NULL = {"type": ["string", "null"], "pattern": r"^\d{4}-\d{2}-\d{2}$"}
PROGRAM = {
    "type": "object",
    "additionalProperties": False,
    "required": [
        "program", "name", "verdict", "reason", "terms", "criteria_from", "criteria",
        "age_limit_until", "benefit", "obligations", "notes",
    ],
    "properties": {
        "program": {"type": "string"},
        "name": {"type": "string"},
        "verdict": {"enum": ["eligible", "not_eligible", "closed", "unverified"]},
        "reason": {"type": "string"},
        "terms": {
            "type": "object",
            "additionalProperties": False,
            "required": [
                "version", "title", "status", "chosen_by", "valid_from", "valid_to", "source",
            ],
            "properties": {
                "version": {"type": "string"},
                "title": {"type": "string"},
                "status": {"enum": ["open", "closed"]},
                "chosen_by": {"enum": ["as_of", "terms"]},
                "valid_from": DATE_OR_NULL,
                "valid_to": DATE_OR_NULL,
                "source": {
                    "type": "object",
                    "additionalProperties": False,
                    "required": ["url", "ref", "retrieved", "checked"],
                    "properties": {
                        "url": {"type": "string", "pattern": "^https://"},
                        "ref": {"type": "string"},
                        "retrieved": DATE_OR_NULL,
                        "checked": {"type": "boolean"},
                    },
                },
            },
        },
        "criteria_from": {"type": ["string", "null"]},
        "criteria": {"type": "array", "items": CRITERION},
        "age_limit_until": DATE_OR_NULL,
        "benefit": {
            "type": "object",
            "additionalProperties": False,
            "required": ["summary", "items"],
            "properties": {
                "summary": {"type": "string"},
                "items": {
                    "type": "array",
                    "items": {
                        "type": "object",
                        "additionalProperties": False,
                        "required": ["text", "availability", "reason"],
                        "properties": {
                            "text": {"type": "string"},
                            "availability": {"enum": [None, "unavailable", "unverified"]},
                            "reason": {"type": ["string", "null"]},
                        },
                    },
                },
            },
        },
        "obligations": {"type": "array", "items": {"type": "string"}},
        "notes": {"type": "array", "items": {"type": "string"}},
    },
}  # fmt: skip
REPORT = {
    "type": "object",
    "additionalProperties": False,
    "required": ["as_of", "as_of_source", "company", "programs", "eligible_for_an_open_program"],
    "properties": {
        "as_of": {"type": "string", "pattern": r"^\d{4}-\d{2}-\d{2}$"},
        "as_of_source": {"enum": ["today", "option"]},
        "company": {
            "type": "object",
            "additionalProperties": False,
            "required": [
                "founded", "raised", "country", "prior_segment_discount",
                "previously_paid_mixpanel",
            ],
            "properties": {
                "founded": {"type": "string"},
                "raised": {
                    "type": "object",
                    "additionalProperties": False,
                    "required": ["input", "amount", "currency"],
                    "properties": {
                        "input": {"type": "string"},
                        "amount": {"type": "string", "pattern": r"^\d+(\.\d+)?$"},
                        "currency": {"type": "string"},
                    },
                },
                "country": {
                    "type": "object",
                    "additionalProperties": False,
                    "required": ["code", "name", "subdivision_of"],
                    "properties": {
                        "code": {"type": "string"},
                        "name": {"type": "string"},
                        "subdivision_of": {"type": ["string", "null"]},
                    },
                },
                "prior_segment_discount": {"type": "boolean"},
                "previously_paid_mixpanel": {"type": "boolean"},
            },
        },
        "programs": {"type": "array", "minItems": 2, "maxItems": 2, "items": PROGRAM},
        "eligible_for_an_open_program": {"type": "boolean"},
    },
}  # fmt: skip

JSON_CASES = [
    # (args beyond --format json, as_of, versions, verdicts, open-eligible)
    ([], "2026-11-23", ("M-startup-plan", "S-closed"), ("eligible", "closed"), True),
    (["--as-of", "2024-06-01"], "2024-06-01", ("M-credits", "S-seed"),
     ("not_eligible", "not_eligible"), False),
    (["--as-of", "2025-01-05", "--founded", "2024-01-01"], "2025-01-05",
     ("M-startup-plan", "S-seed"), ("eligible", "eligible"), True),
    (["--terms", "M-seed", "--terms", "S-seed", "--founded", "2024-06-01"], "2026-11-23",
     ("M-seed", "S-seed"), ("not_eligible", "not_eligible"), False),
    (["--terms", "m-helpcenter,s-closed", "--raised", "5,000,001"], "2026-11-23",
     ("M-helpcenter", "S-closed"), ("not_eligible", "closed"), False),
]  # fmt: skip


@pytest.mark.parametrize(("args", "as_of", "versions", "verdicts", "open_ok"), JSON_CASES)
def test_json_shape_and_values(
    args: list[str],
    as_of: str,
    versions: tuple[str, str],
    verdicts: tuple[str, str],
    open_ok: bool,
) -> None:
    doc = run_json(*BASE, *args)
    jsonschema.validate(doc, REPORT)
    assert doc["as_of"] == as_of
    assert doc["as_of_source"] == ("option" if "--as-of" in args else "today")
    assert [p["program"] for p in doc["programs"]] == ["mixpanel", "segment"]
    assert tuple(p["terms"]["version"] for p in doc["programs"]) == versions
    assert tuple(p["verdict"] for p in doc["programs"]) == verdicts
    assert doc["eligible_for_an_open_program"] is open_ok


def test_json_full_program_entry() -> None:
    doc = run_json(*BASE)
    assert doc["company"] == {
        "founded": "2025-03-01",
        "raised": {"input": "2.5M", "amount": "2500000", "currency": "USD"},
        "country": {"code": "DE", "name": "Germany", "subdivision_of": None},
        "prior_segment_discount": False,
        "previously_paid_mixpanel": False,
    }
    mixpanel = by_program(doc)["mixpanel"]
    assert mixpanel["terms"] == {
        "version": "M-startup-plan",
        "title": "Mixpanel for Startups, Startup Plan (current)",
        "status": "open",
        "chosen_by": "as_of",
        "valid_from": "2024-09-04",
        "valid_to": None,
        "source": {
            "url": "https://docs.mixpanel.com/docs/pricing/startup-program",
            "ref": "mixpanel/docs docs/pricing/startup-program.mdx @ba22906",
            "retrieved": "2026-08-21",
            "checked": True,
        },
    }
    assert [(c["label"], c["result"]) for c in mixpanel["criteria"]] == [
        ("age", "pass"),
        ("funding", "pass"),
        ("paid plan", "pass"),
        ("other offers", "to_confirm"),
        ("once only", "to_confirm"),
    ]
    assert mixpanel["age_limit_until"] == "2030-02-28"
    assert mixpanel["criteria_from"] is None
    assert mixpanel["obligations"] == [
        'start sending data within 90 days of acceptance, or the startup is removed "and '
        'prohibited from rejoining"'
    ]
    segment = by_program(doc)["segment"]
    assert segment["verdict"] == "closed"
    assert segment["criteria_from"] == "S-seed"
    assert [c["kind"] for c in segment["criteria"]] == ["age", "funding", "territory", "flag"]
    assert segment["benefit"] == {"summary": "none: the program is discontinued", "items": []}


@pytest.mark.parametrize(
    ("extra", "label", "result", "reason"),
    [
        (["--country", "cu"], "territory", "fail", "Cuba is named"),
        (["--country", "IR"], "territory", "fail", "Iran is named"),
        (["--country", "kp"], "territory", "fail", "North Korea is named"),
        (["--country", "SY"], "territory", "fail", "Syria is named"),
        (["--country", "UA"], "territory", "unverified", "(LNR) regions of Ukraine"),
        (["--country", "RU"], "territory", "unverified", "press reports"),
        (["--country", "BY"], "territory", "unverified", "press reports"),
        (["--country", "XK"], "territory", "unverified", "user-assigned"),
        (["--country", "ua-43"], "territory", "fail", "Crimea is named"),
        (["--country", "UA-40"], "territory", "fail", "Sevastopol"),
        (["--country", "UA-14"], "territory", "unverified", "Donetsk"),
        (["--country", "UA-09"], "territory", "unverified", "Luhansk"),
        (["--country", "JP"], "territory", "pass", "JP (Japan)"),
        (["--raised", "€3M"], "funding", "unverified", "limit is in USD: 3,000,000 EUR"),
        (["--raised", "EUR 3M"], "funding", "unverified", "limit is in USD"),
        (["--raised", "$5MM"], "funding", "pass", "no more than the $5,000,000 limit"),
        (["--raised", "5,000,001"], "funding", "fail", "more than the $5,000,000 limit"),
        (["--founded", "2023-06-01"], "age", "pass", "until 2025-05-31"),
        (["--founded", "2022-06-01"], "age", "fail", "2 years old on 2024-06-01"),
        (["--founded", "2024-06-02"], "age", "fail", "not founded yet"),
        (["--prior-segment-discount"], "prior discount", "fail", "already received"),
    ],
)
def test_json_segment_criteria(extra: list[str], label: str, result: str, reason: str) -> None:
    doc = run_json(*BASE, "--founded", "2024-01-01", "--as-of", "2024-06-01", *extra)
    segment = by_program(doc)["segment"]
    (found,) = [c for c in segment["criteria"] if c["label"] == label]
    assert found["result"] == result
    assert reason in found["reason"]
    expected = {"pass": "eligible", "fail": "not_eligible", "unverified": "unverified"}[result]
    assert segment["verdict"] == expected


@pytest.mark.parametrize(
    ("extra", "verdict", "paid"),
    [
        ([], "eligible", "pass"),
        (["--previously-paid-mixpanel"], "not_eligible", "fail"),
        (["--previously-paid-mixpanel", "--as-of", "2024-06-01", "--founded", "2024-01-01"],
         "unverified", "unverified"),
    ],
)  # fmt: skip
def test_json_paid_plan(extra: list[str], verdict: str, paid: str) -> None:
    mixpanel = by_program(run_json(*BASE, *extra))["mixpanel"]
    assert mixpanel["verdict"] == verdict
    assert {c["label"]: c["result"] for c in mixpanel["criteria"]}["paid plan"] == paid


@pytest.mark.parametrize(
    ("as_of", "availability"), [("2024-06-01", "unverified"), ("2025-01-06", "unavailable")]
)
def test_json_partnership_credits(as_of: str, availability: str) -> None:
    doc = run_json(*BASE, "--founded", "2024-01-01", "--as-of", as_of, "--terms", "M-seed")
    items = by_program(doc)["mixpanel"]["benefit"]["items"]
    assert [i["availability"] for i in items] == [None, availability]


# --------------------------------------------------------------------------- exit codes


@pytest.mark.parametrize(
    ("args", "code"),
    [
        ([], 0),
        (["--check"], 0),
        (["--founded", "2015-01-01"], 0),
        (["--founded", "2015-01-01", "--check"], 1),  # too old for Mixpanel, Segment closed
        (["--raised", "9M", "--check"], 1),
        (["--raised", "€9M", "--check"], 0),  # unverified is not "not eligible"
        (["--as-of", "2024-06-01", "--check"], 1),
        (["--as-of", "2024-06-01", "--founded", "2024-01-01", "--check"], 0),
        (["--previously-paid-mixpanel", "--check"], 1),
        (["--previously-paid-mixpanel", "--check", "--format", "json"], 1),
    ],
)
def test_exit_codes(args: list[str], code: int) -> None:
    result = run(*BASE, *args)
    assert result.exit_code == code, result.output
    assert result.stdout  # the report is printed whatever the exit code


USAGE_CASES = [
    (["--founded", "2026-11-24"], "--founded: 2026-11-24 is after today (2026-11-23)"),
    (["--founded", "2025-02-30"], "--founded: '2025-02-30' is not a valid date"),
    (["--founded", "March 2025"], "--founded: 'March 2025' is not a date"),
    (["--as-of", "2024/06/01"], "--as-of: '2024/06/01' is not a date"),
    (["--raised", "-750k"], "--raised: '-750k' is negative"),
    (["--raised", ""], "--raised: the amount is empty"),
    (["--raised", "NaN"], "--raised: 'NaN' is not an amount"),
    (["--raised", "lots"], "--raised: 'lots' is not an amount"),
    (["--raised", "12M6"], "--raised: '12M6' is not an amount"),
    (["--country", "ZZ"], "--country: 'ZZ' is not a known country code"),
    (["--country", "UK"], "--country: 'UK' is not a known country code"),
    (["--country", "UA-30"], "--country: 'UA-30' is not a known country code"),
    (["--terms", "M-2027"], "--terms: unknown terms version 'M-2027'"),
    (["--terms", "S-seed,S-closed"], "--terms: S-seed and S-closed are both terms of segment"),
]


@pytest.mark.parametrize(("args", "message"), USAGE_CASES)
def test_usage_errors_exit_2(args: list[str], message: str) -> None:
    result = run(*BASE, *args)
    assert result.exit_code == 2
    assert result.stdout == ""
    assert result.stderr.startswith(f"Error: {message}")
    assert "hint: " in result.stderr


def test_founded_in_future_is_fine_with_as_of() -> None:
    doc = run_json(*BASE, "--founded", "2026-12-01", "--as-of", "2027-01-01")
    assert by_program(doc)["mixpanel"]["verdict"] == "eligible"


@pytest.mark.parametrize("missing", ["--founded", "--raised", "--country"])
def test_required_options(missing: str) -> None:
    args = list(BASE)
    index = args.index(missing)
    del args[index : index + 2]
    result = run(*args)
    assert result.exit_code == 2
    assert missing in result.stderr


def test_help_texts() -> None:
    result = run("eligibility", "--help")
    assert result.exit_code == 0
    text = " ".join(result.stdout.split())
    for fragment in [
        "Billing country",
        "all external capital raised (equity, SAFEs, convertible notes)",
        "--as-of",
        "--terms",
        "M-startup-plan",
        "--check",
        "--prior-segment-discount",
        "--previously-paid-mixpanel",
    ]:
        assert fragment in text, fragment
