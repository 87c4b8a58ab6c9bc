"""Library tests for `cdpcli.eligibility` (PRODUCT.md §8, reference/startup-programs.md §4)."""

from __future__ import annotations

import dataclasses
from datetime import date
from decimal import Decimal

import pytest

from cdpcli.eligibility import evaluate as el
from cdpcli.errors import UsageError

D = date.fromisoformat


def company(
    founded: str = "2025-03-01",
    raised: str = "2.5M",
    country: str = "DE",
    *,
    prior_segment_discount: bool = False,
    previously_paid_mixpanel: bool = False,
) -> el.Company:
    return el.Company(
        founded=D(founded),
        raised=el.parse_amount(raised),
        country=el.parse_country(country),
        prior_segment_discount=prior_segment_discount,
        previously_paid_mixpanel=previously_paid_mixpanel,
    )


def program(report: el.Report, key: str) -> el.ProgramResult:
    (found,) = [p for p in report.programs if p.program == key]
    return found


def outcomes(result: el.ProgramResult) -> dict[str, str]:
    return {c.label: c.outcome for c in result.criteria}


def criterion(result: el.ProgramResult, label: str) -> el.CriterionResult:
    (found,) = [c for c in result.criteria if c.label == label]
    return found


# --------------------------------------------------------------------------- amounts


@pytest.mark.parametrize(
    ("text", "value", "currency"),
    [
        ("750k", "750000", "USD"),
        ("750K", "750000", "USD"),
        ("3.5M", "3500000", "USD"),
        ("$3.5M", "3500000", "USD"),
        ("3.5MM", "3500000", "USD"),
        ("3.5mm", "3500000", "USD"),
        ("$8MM", "8000000", "USD"),
        ("8,000,000", "8000000", "USD"),
        ("$8,000,001", "8000001", "USD"),
        ("8000000.50", "8000000.50", "USD"),
        ("1.2B", "1200000000", "USD"),
        ("1.2b", "1200000000", "USD"),
        ("0", "0", "USD"),
        (" 2.5 M ", "2500000", "USD"),
        ("USD 3M", "3000000", "USD"),
        ("US$3M", "3000000", "USD"),
        ("3m usd", "3000000", "USD"),
        ("€3M", "3000000", "EUR"),
        ("EUR 3M", "3000000", "EUR"),
        ("eur 3m", "3000000", "EUR"),
        ("3M EUR", "3000000", "EUR"),
        ("£750k", "750000", "GBP"),
        ("CHF 1,500,000", "1500000", "CHF"),
    ],
)
def test_parse_amount_accepts(text: str, value: str, currency: str) -> None:
    amount = el.parse_amount(text)
    assert amount.value == Decimal(value)
    assert amount.currency == currency
    assert amount.text == text.strip()


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "the amount is empty"),
        ("   ", "the amount is empty"),
        ("-750k", "is negative"),
        ("$-5M", "is negative"),
        ("NaN", "is not an amount"),
        ("nan", "is not an amount"),
        ("inf", "is not an amount"),
        ("1e6", "is not an amount"),
        ("abc", "is not an amount"),
        ("3M dollars", "is not an amount"),
        ("1,2M", "is not an amount"),
        ("8.000.000", "is not an amount"),
        ("12,34,567", "is not an amount"),
        ("3.5X", "is not an amount"),
        ("$", "is not an amount"),
        ("5M5", "is not an amount"),
        ("1" * 41, "too long"),
        ("XYZ 3M", "unknown currency 'XYZ'"),
        ("€3M USD", "names two currencies"),
    ],
)
def test_parse_amount_rejects(text: str, message: str) -> None:
    with pytest.raises(UsageError) as caught:
        el.parse_amount(text)
    assert message in caught.value.message
    assert caught.value.message.startswith("--raised: ")
    assert caught.value.hint is not None and "750k" in caught.value.hint


@pytest.mark.parametrize(
    ("text", "shown"),
    [("8,000,000", "$8,000,000"), ("€3M", "3,000,000 EUR"), ("0.5", "$0.5")],
)
def test_amount_display(text: str, shown: str) -> None:
    assert el.parse_amount(text).display() == shown


# --------------------------------------------------------------------------- dates


@pytest.mark.parametrize(
    ("founded", "years", "anniversary", "until"),
    [
        ("2021-06-10", 5, "2026-06-10", "2026-06-09"),
        ("2020-02-29", 5, "2025-02-28", "2025-02-27"),  # no Feb 29 in 2025: Feb 28
        ("2020-02-29", 4, "2024-02-29", "2024-02-28"),  # the anniversary exists
        ("2020-02-29", 1, "2021-02-28", "2021-02-27"),
        ("2024-12-31", 2, "2026-12-31", "2026-12-30"),
        ("2025-01-01", 2, "2027-01-01", "2026-12-31"),
    ],
)
def test_add_years_and_until(founded: str, years: int, anniversary: str, until: str) -> None:
    assert el.add_years(D(founded), years) == D(anniversary)
    assert el.age_limit_until(D(founded), years) == D(until)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("2025-02-30", "is not a valid date"),
        ("2025/03/01", "is not a date"),
        ("20250301", "is not a date"),
        ("", "is not a date"),
        ("yesterday", "is not a date"),
    ],
)
def test_parse_date_rejects(text: str, message: str) -> None:
    with pytest.raises(UsageError) as caught:
        el.parse_date(text, option="--founded")
    assert caught.value.message.startswith("--founded: ")
    assert message in caught.value.message


def test_parse_date_accepts() -> None:
    assert el.parse_date(" 2024-02-29 ", option="--as-of") == D("2024-02-29")


AGE = el.AgeCriterion(text="less than 5 years", basis="incorporated", years=5)
AGE_CASES = [
    # (founded, as_of, outcome, reason fragment)
    ("2021-06-10", "2026-06-09", "pass", "within the age limit until 2026-06-09"),
    ("2021-06-10", "2026-06-10", "fail", "5 years old on 2026-06-10"),
    ("2021-06-10", "2026-06-11", "fail", "within the age limit only until 2026-06-09"),
    ("2021-06-10", "2021-06-10", "pass", "0 years old on 2021-06-10"),
    ("2021-06-10", "2022-06-10", "pass", "1 year old on 2022-06-10"),
    ("2021-06-10", "2021-06-09", "fail", "not founded yet: incorporated 2021-06-10"),
    ("2020-02-29", "2025-02-27", "pass", "within the age limit until 2025-02-27"),
    ("2020-02-29", "2025-02-28", "fail", "5 years old on 2025-02-28"),
]


@pytest.mark.parametrize(("founded", "as_of", "outcome", "reason"), AGE_CASES)
def test_age_criterion(founded: str, as_of: str, outcome: str, reason: str) -> None:
    result = el.check_criterion(AGE, company(founded=founded), D(as_of))
    assert result.outcome == outcome
    assert reason in result.reason
    assert result.kind == "age" and result.label == "age"


# --------------------------------------------------------------------------- funding

FUNDING_CASES = [
    # (raised, as_of, mixpanel outcome, segment outcome)
    ("8,000,000", "2024-06-01", "pass", "fail"),
    ("$8MM", "2024-06-01", "pass", "fail"),
    ("8,000,001", "2024-06-01", "fail", "fail"),
    ("8000000.01", "2024-06-01", "fail", "fail"),
    ("5,000,000", "2024-06-01", "pass", "pass"),
    ("5000000.01", "2024-06-01", "pass", "fail"),
    ("0", "2024-06-01", "pass", "pass"),
    ("€3M", "2024-06-01", "unverified", "unverified"),
    ("EUR 3M", "2026-11-23", "unverified", "unverified"),
]


@pytest.mark.parametrize(("raised", "as_of", "mixpanel", "segment"), FUNDING_CASES)
def test_funding_inclusive_decimal(raised: str, as_of: str, mixpanel: str, segment: str) -> None:
    report = el.evaluate(company(founded="2024-01-01", raised=raised), as_of=D(as_of))
    assert criterion(program(report, "mixpanel"), "funding").outcome == mixpanel
    assert criterion(program(report, "segment"), "funding").outcome == segment


def test_funding_other_currency_names_currency_and_usd() -> None:
    report = el.evaluate(company(raised="€3M"), as_of=D("2025-06-01"))
    result = criterion(program(report, "mixpanel"), "funding")
    assert result.reason == (
        "limit is in USD: 3,000,000 EUR cannot be compared with $8,000,000 without a dated "
        "exchange rate"
    )
    assert program(report, "mixpanel").verdict == "unverified"


def test_funding_reason_explains_total_funding() -> None:
    report = el.evaluate(company(raised="8,000,000"), as_of=D("2025-06-01"))
    reason = criterion(program(report, "mixpanel"), "funding").reason
    assert reason.startswith("raised $8,000,000, no more than the $8,000,000 limit; ")
    assert "SAFEs" in reason and "grants, venture debt or revenue" in reason


# --------------------------------------------------------------------------- country


def test_bundled_country_codes() -> None:
    codes = el.country_codes()
    assert len(codes.countries) == 249
    assert "XK" not in codes.countries
    assert codes.user_assigned == {"XK": "Kosovo"}
    assert set(codes.subdivisions) == {"UA-43", "UA-40", "UA-14", "UA-09"}
    assert all(len(code) == 2 and code.isupper() for code in codes.countries)


@pytest.mark.parametrize(
    ("text", "code", "name", "parent"),
    [
        ("DE", "DE", "Germany", None),
        ("de", "DE", "Germany", None),
        (" us ", "US", "United States", None),
        ("xk", "XK", "Kosovo", None),
        ("ua", "UA", "Ukraine", None),
        ("ua-43", "UA-43", "Avtonomna Respublika Krym, Ukraine", "UA"),
        ("UA-09", "UA-09", "Luhanska oblast, Ukraine", "UA"),
        ("aq", "AQ", "Antarctica", None),
    ],
)
def test_parse_country_accepts(text: str, code: str, name: str, parent: str | None) -> None:
    assert el.parse_country(text) == el.Country(code=code, name=name, subdivision_of=parent)


@pytest.mark.parametrize(
    ("text", "hint"),
    [
        ("ZZ", "ISO 3166-1 alpha-2"),
        ("", "ISO 3166-1 alpha-2"),
        ("DEU", "ISO 3166-1 alpha-2"),
        ("UK", "did you mean GB?"),
        ("UA-30", "only these subdivision codes are accepted: UA-43, UA-40, UA-14, UA-09"),
        ("Germany", "ISO 3166-1 alpha-2"),
    ],
)
def test_parse_country_rejects(text: str, hint: str) -> None:
    with pytest.raises(UsageError) as caught:
        el.parse_country(text)
    assert caught.value.message == f"--country: {text!r} is not a known country code"
    assert caught.value.hint is not None and hint in caught.value.hint


TERRITORY_CASES = [
    ("DE", "pass", "not among the known excluded territories (Google's full list is not bundled)"),
    ("US", "pass", "checked the country you gave: US (United States)"),
    ("CU", "fail", "Cuba is named in Google's sanctions notice"),
    ("IR", "fail", "Iran is named"),
    ("KP", "fail", "North Korea is named"),
    ("SY", "fail", "2025 US sanctions relief"),
    ("UA-43", "fail", "Crimea is named"),
    ("UA-40", "fail", "Sevastopol is in Crimea"),
    ("UA", "unverified", "so-called Donetsk People's Republic (DNR)"),
    ("UA-14", "unverified", "covers only part of the Donetsk oblast"),
    ("UA-09", "unverified", "covers only part of the Luhansk oblast"),
    ("RU", "unverified", "press reports describe restrictions"),
    ("BY", "unverified", "Belarus is not on Google's sanctions notice"),
    ("XK", "unverified", "user-assigned code"),
]


@pytest.mark.parametrize(("country", "outcome", "reason"), TERRITORY_CASES)
def test_territory(country: str, outcome: str, reason: str) -> None:
    report = el.evaluate(company(founded="2024-01-01", country=country), as_of=D("2024-06-01"))
    segment = program(report, "segment")
    result = criterion(segment, "territory")
    assert result.outcome == outcome
    assert reason in result.reason
    expected = {"pass": "eligible", "fail": "not_eligible", "unverified": "unverified"}[outcome]
    assert segment.verdict == expected
    if outcome == "fail":
        assert "https://support.google.com/adsense/answer/6167308" in result.reason


# --------------------------------------------------------------------------- terms versions


def test_bundled_catalog_has_every_version() -> None:
    catalog = el.bundled_catalog()
    assert [(v.program, v.version, v.status, v.dated) for v in catalog.versions] == [
        ("mixpanel", "M-seed", "open", False),
        ("mixpanel", "M-helpcenter", "open", False),
        ("mixpanel", "M-credits", "open", True),
        ("mixpanel", "M-startup-plan", "open", True),
        ("segment", "S-seed", "open", True),
        ("segment", "S-closed", "closed", True),
    ]
    assert [(v.valid_from, v.valid_to) for v in catalog.versions if v.dated] == [
        (None, D("2024-09-03")),
        (D("2024-09-04"), None),
        (None, D("2025-01-05")),
        (D("2025-01-06"), None),
    ]
    plan = catalog.version("M-startup-plan")
    assert plan.source.url == "https://docs.mixpanel.com/docs/pricing/startup-program"
    assert plan.source.retrieved == D("2026-08-21")
    assert "@ba22906" in plan.source.ref
    assert not catalog.version("M-helpcenter").source.checked
    assert [type(c).__name__ for c in catalog.version("S-seed").criteria] == [
        "AgeCriterion",
        "FundingCriterion",
        "TerritoryCriterion",
        "FlagCriterion",
    ]
    assert catalog.version("S-closed").criteria == ()
    assert (
        catalog.version("M-startup-plan")
        .obligations[0]
        .startswith("start sending data within 90 days")
    )


VERSION_CASES = [
    # (as_of, mixpanel version, segment version)
    ("2010-01-01", "M-credits", "S-seed"),
    ("2024-06-01", "M-credits", "S-seed"),
    ("2024-09-03", "M-credits", "S-seed"),
    ("2024-09-04", "M-startup-plan", "S-seed"),
    ("2025-01-05", "M-startup-plan", "S-seed"),
    ("2025-01-06", "M-startup-plan", "S-closed"),
    ("2026-11-23", "M-startup-plan", "S-closed"),
]


@pytest.mark.parametrize(("as_of", "mixpanel", "segment"), VERSION_CASES)
def test_version_in_force(as_of: str, mixpanel: str, segment: str) -> None:
    report = el.evaluate(company(founded="2000-01-01"), as_of=D(as_of))
    assert program(report, "mixpanel").terms.version == mixpanel
    assert program(report, "segment").terms.version == segment
    assert {p.chosen_by for p in report.programs} == {"as_of"}


@pytest.mark.parametrize(
    ("terms", "mixpanel", "segment"),
    [
        (["M-seed"], "M-seed", "S-closed"),
        (["m-helpcenter"], "M-helpcenter", "S-closed"),
        (["S-seed"], "M-startup-plan", "S-seed"),
        (["M-credits", "S-seed"], "M-credits", "S-seed"),
    ],
)
def test_version_by_name(terms: list[str], mixpanel: str, segment: str) -> None:
    report = el.evaluate(company(), terms=terms, today=D("2026-11-23"))
    assert program(report, "mixpanel").terms.version == mixpanel
    assert program(report, "segment").terms.version == segment
    named = {v.lower() for v in terms}
    for result in report.programs:
        by_name = result.terms.version.lower() in named
        assert result.chosen_by == ("terms" if by_name else "as_of")
        in_force = {"mixpanel": "M-startup-plan", "segment": "S-closed"}[result.program]
        note = f" (not the terms in force on 2026-11-23: {in_force})"
        assert result.reason.endswith(note) is by_name


@pytest.mark.parametrize(
    ("terms", "message"),
    [
        (["M-latest"], "--terms: unknown terms version 'M-latest'"),
        (["M-seed", "M-credits"], "--terms: M-seed and M-credits are both terms of mixpanel"),
    ],
)
def test_version_by_name_errors(terms: list[str], message: str) -> None:
    with pytest.raises(UsageError) as caught:
        el.evaluate(company(), terms=terms, today=D("2026-11-23"))
    assert caught.value.message == message


def test_undated_versions_never_chosen_by_date() -> None:
    catalog = el.bundled_catalog()
    for day in (D("1990-01-01"), D("2024-06-01"), D("2030-01-01")):
        chosen = [catalog.in_force(p.key, day) for p in catalog.programs]
        assert all(v is not None and v.dated for v in chosen)


# --------------------------------------------------------------------------- verdicts

OLD = {"founded": "2024-01-01"}

VERDICT_CASES = [
    # (id, company kwargs, as_of, terms, expected verdicts {program: verdict})
    ("today-eligible", {}, "2026-11-23", [], {"mixpanel": "eligible", "segment": "closed"}),
    ("closed-day", OLD, "2025-01-06", [], {"mixpanel": "eligible", "segment": "closed"}),
    ("last-open-day", OLD, "2025-01-05", [], {"mixpanel": "eligible", "segment": "eligible"}),
    (
        "not-founded-yet",
        {},
        "2024-06-01",
        [],
        {"mixpanel": "not_eligible", "segment": "not_eligible"},
    ),
    (
        "prior-discount",
        {**OLD, "prior_segment_discount": True},
        "2025-01-05",
        [],
        {"mixpanel": "eligible", "segment": "not_eligible"},
    ),
    (
        "closed-whatever-the-criteria",
        {"prior_segment_discount": True, "raised": "9M"},
        "2025-01-06",
        [],
        {"mixpanel": "not_eligible", "segment": "closed"},
    ),
    (
        "paid-plan-startup-plan",
        {"previously_paid_mixpanel": True},
        "2026-11-23",
        [],
        {"mixpanel": "not_eligible", "segment": "closed"},
    ),
    (
        "paid-plan-credits",
        {"founded": "2023-01-01", "previously_paid_mixpanel": True},
        "2024-06-01",
        [],
        {"mixpanel": "unverified", "segment": "eligible"},
    ),
    (
        "too-old-today",
        {"founded": "2021-11-23"},
        "2026-11-23",
        [],
        {"mixpanel": "not_eligible", "segment": "closed"},
    ),
    (
        "age-last-day",
        {"founded": "2021-11-24"},
        "2026-11-23",
        [],
        {"mixpanel": "eligible", "segment": "closed"},
    ),
    (
        "seed-2-years",
        {"founded": "2023-01-01"},
        "2025-06-01",
        ["M-seed"],
        {"mixpanel": "not_eligible", "segment": "closed"},
    ),
    (
        "helpcenter-5m",
        {"founded": "2024-01-01", "raised": "5,000,001"},
        "2025-06-01",
        ["M-helpcenter"],
        {"mixpanel": "not_eligible", "segment": "closed"},
    ),
    (
        "fail-beats-unverified",
        {"founded": "2010-01-01", "raised": "€1M"},
        "2024-06-01",
        [],
        {"mixpanel": "not_eligible", "segment": "not_eligible"},
    ),
    (
        "forced-seed-today",
        {"country": "RU"},
        "2026-11-23",
        ["S-seed"],
        {"mixpanel": "eligible", "segment": "unverified"},
    ),
]


@pytest.mark.parametrize(
    ("kwargs", "as_of", "terms", "verdicts"),
    [pytest.param(*case[1:], id=case[0]) for case in VERDICT_CASES],
)
def test_verdicts(
    kwargs: dict[str, object], as_of: str, terms: list[str], verdicts: dict[str, str]
) -> None:
    report = el.evaluate(company(**kwargs), as_of=D(as_of), terms=terms)  # type: ignore[arg-type]
    assert {p.program: p.verdict for p in report.programs} == verdicts


def test_eligible_today_explains_everything() -> None:
    report = el.evaluate(company(), today=D("2026-11-23"))
    assert report.as_of == D("2026-11-23") and not report.as_of_given
    mixpanel = program(report, "mixpanel")
    assert mixpanel.reason == (
        "meets every checked criterion of M-startup-plan; 2 condition(s) to confirm yourself"
    )
    assert outcomes(mixpanel) == {
        "age": "pass",
        "funding": "pass",
        "paid plan": "pass",
        "other offers": "to_confirm",
        "once only": "to_confirm",
    }
    assert mixpanel.age_limit_until == D("2030-02-28")
    assert criterion(mixpanel, "age").reason == (
        "incorporated 2025-03-01: 1 year old on 2026-11-23, under 5; "
        "within the age limit until 2030-02-28"
    )
    assert mixpanel.benefits == (
        el.BenefitResult(
            text="12 months free on the Startup Plan from acceptance: up to 1B events a year, "
            "500,000 session replays, all add-ons"
        ),
    )


def test_closed_segment_still_shows_criteria() -> None:
    report = el.evaluate(company(founded="2024-01-01", country="CU"), as_of=D("2025-01-06"))
    segment = program(report, "segment")
    assert segment.verdict == "closed"
    assert segment.reason.startswith('closed under S-closed: "As of January 6, 2025')
    assert segment.criteria_from == "S-seed"
    assert outcomes(segment) == {
        "age": "pass",
        "funding": "pass",
        "territory": "fail",
        "prior discount": "pass",
    }
    assert segment.age_limit_until == D("2025-12-31")
    assert segment.benefits == ()
    assert not segment.is_open


@pytest.mark.parametrize(
    ("as_of", "availability", "reason"),
    [
        ("2024-06-01", "unverified", "no dated source ties this benefit to a period"),
        ("2025-01-05", "unverified", "no dated source ties this benefit to a period"),
        ("2025-01-06", "unavailable", "closed on 2025-01-06 (S-closed)"),
        ("2026-11-23", "unavailable", "takes no applications"),
    ],
)
def test_partnership_credits(as_of: str, availability: str, reason: str) -> None:
    report = el.evaluate(company(founded="2024-01-01"), as_of=D(as_of), terms=["M-seed"])
    mixpanel_credits, segment_credits = program(report, "mixpanel").benefits
    assert mixpanel_credits == el.BenefitResult(text="$50K Mixpanel credits")
    assert segment_credits.text.startswith("$50K Segment credits")
    assert segment_credits.availability == availability
    assert segment_credits.reason is not None and reason in segment_credits.reason


@pytest.mark.parametrize(
    ("flag_kwargs", "as_of", "label", "outcome", "reason"),
    [
        ({}, "2026-11-23", "paid plan", "pass", "never on a Mixpanel paid plan"),
        ({"previously_paid_mixpanel": True}, "2026-11-23", "paid plan", "fail", "in the past"),
        ({"previously_paid_mixpanel": True}, "2024-06-01", "paid plan", "unverified", "current"),
        ({}, "2024-06-01", "prior discount", "pass", "never received a coupon"),
        ({"prior_segment_discount": True}, "2024-06-01", "prior discount", "fail", "already"),
    ],
)
def test_flag_criteria(
    flag_kwargs: dict[str, bool], as_of: str, label: str, outcome: str, reason: str
) -> None:
    report = el.evaluate(company(founded="2024-01-01", **flag_kwargs), as_of=D(as_of))  # type: ignore[arg-type]
    found = [c for p in report.programs for c in p.criteria if c.label == label]
    assert len(found) == 1
    assert found[0].outcome == outcome
    assert reason in found[0].reason


def test_conditions_without_flag_are_to_confirm() -> None:
    report = el.evaluate(company(founded="2024-01-01"), as_of=D("2024-06-01"))
    mixpanel = program(report, "mixpanel")
    (to_confirm,) = [c for c in mixpanel.criteria if c.outcome == "to_confirm"]
    assert to_confirm.text == "No other Mixpanel offers redeemed"
    assert to_confirm.reason == "not checked (no flag for it): confirm it yourself"
    assert mixpanel.verdict == "eligible"


# --------------------------------------------------------------------------- today


def test_founded_after_today_is_usage_error() -> None:
    with pytest.raises(UsageError) as caught:
        el.evaluate(company(founded="2026-11-24"), today=D("2026-11-23"))
    assert caught.value.message == "--founded: 2026-11-24 is after today (2026-11-23)"


def test_founded_after_today_with_as_of_is_answered() -> None:
    report = el.evaluate(
        company(founded="2026-11-24"), as_of=D("2027-01-01"), today=D("2026-11-23")
    )
    assert report.as_of_given
    assert program(report, "mixpanel").verdict == "eligible"


def test_today_read_at_call_time(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(el, "current_date", lambda: D("2024-06-01"))
    report = el.evaluate(company(founded="2024-01-01"))
    assert report.as_of == D("2024-06-01")
    assert program(report, "segment").terms.version == "S-seed"


@pytest.mark.parametrize(
    ("kwargs", "as_of", "expected"),
    [
        ({}, "2026-11-23", True),
        ({"founded": "2015-01-01"}, "2026-11-23", False),  # Mixpanel too old, Segment closed
        ({"country": "CU", "founded": "2015-01-01"}, "2024-06-01", False),
        ({"raised": "€1M", "founded": "2015-01-01"}, "2024-06-01", False),
        ({"raised": "€1M"}, "2026-11-23", True),  # unverified is not "not eligible"
        # Mixpanel unverified, Segment not eligible
        (
            {"founded": "2023-01-01", "country": "CU", "previously_paid_mixpanel": True},
            "2024-06-01",
            True,
        ),
    ],
)
def test_eligible_for_an_open_program(kwargs: dict[str, str], as_of: str, expected: bool) -> None:
    report = el.evaluate(company(**kwargs), as_of=D(as_of))  # type: ignore[arg-type]
    assert report.eligible_for_an_open_program is expected


def test_results_are_frozen() -> None:
    report = el.evaluate(company(), as_of=D("2026-11-23"))
    with pytest.raises(dataclasses.FrozenInstanceError):
        report.as_of = D("2020-01-01")  # type: ignore[misc]
    with pytest.raises(dataclasses.FrozenInstanceError):
        report.programs[0].criteria[0].outcome = "fail"  # type: ignore[misc]


# --------------------------------------------------------------------------- custom terms data

CUSTOM = """
schema: 1
programs:
  - {key: acme, name: Acme for Startups}
versions:
  - program: acme
    version: A-1
    title: Acme
    status: open
    valid_from: 2030-01-01
    valid_to: null
    source: {url: "https://example.test/acme", ref: "acme page", retrieved: 2030-01-02}
    criteria:
      - kind: territory
        text: "In a listed territory"
        list: {name: Acme list, url: "https://example.test/list", retrieved: 2030-01-02,
               codes: [de, fr]}
        exclusions_source: {name: notice, url: "https://example.test/notice"}
        excluded: {FR: "France is excluded"}
    benefit: {summary: "cake", items: [{text: cake}]}
    obligations: []
"""


@pytest.mark.parametrize(
    ("country", "outcome", "reason"),
    [
        ("DE", "pass", "listed in the Acme list retrieved 2030-01-02"),
        ("FR", "fail", "France is excluded"),
        ("US", "fail", "not listed in the Acme list retrieved 2030-01-02"),
        ("UA-43", "fail", "not listed"),
    ],
)
def test_bundled_territory_list_decides(country: str, outcome: str, reason: str) -> None:
    catalog = el.load_catalog(CUSTOM)
    report = el.evaluate(company(country=country), as_of=D("2030-06-01"), catalog=catalog)
    (result,) = report.programs[0].criteria
    assert (result.outcome, reason in result.reason) == (outcome, True)


def test_no_terms_in_force_is_usage_error() -> None:
    catalog = el.load_catalog(CUSTOM)
    with pytest.raises(UsageError) as caught:
        el.evaluate(company(), as_of=D("2029-12-31"), catalog=catalog)
    assert caught.value.message == "no terms of Acme for Startups are known for 2029-12-31"
    assert caught.value.hint == "name a version with --terms (A-1)"


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (("schema: 1", "schema: 2"), "expected a mapping with `schema: 1`"),
        (("status: open", "status: maybe"), "A-1: status must be open or closed"),
        (("kind: territory", "kind: vibes"), "A-1: unknown criterion kind 'vibes'"),
        (("valid_from: 2030-01-01", "valid_from: soon"), "A-1: `valid_from` must be a date"),
        (("program: acme", "program: nope"), "A-1: program 'nope' is not one of ['acme']"),
        (("title: Acme", "title: ''"), "A-1: `title` must be a non-empty string"),
        (("versions:", "versions: ["), "not valid YAML"),
    ],
)
def test_bad_terms_data(edit: tuple[str, str], message: str) -> None:
    with pytest.raises(el.TermsError) as caught:
        el.load_catalog(CUSTOM.replace(*edit), where="t.yaml")
    assert caught.value.message.startswith("t.yaml")
    assert message in caught.value.message
    assert caught.value.exit_code == 3
