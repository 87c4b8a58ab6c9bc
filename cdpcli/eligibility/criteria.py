"""Checking one criterion of a terms version against the company (reference/startup-programs.md §4).

`check_criterion` gives each criterion an outcome (pass / fail / unverified / to confirm) and a
reason quoting what was checked. Age is strict (not eligible on the anniversary); funding limits
are compared in `Decimal`, and an amount in another currency leaves the criterion unverified.
"""

from __future__ import annotations

import datetime
from dataclasses import dataclass
from typing import Literal

from cdpcli.eligibility.inputs import (
    Amount,
    Company,
    Country,
    add_years,
    age_limit_until,
    full_years,
)
from cdpcli.eligibility.terms import (
    AgeCriterion,
    Criterion,
    FlagCriterion,
    FundingCriterion,
    TerritoryCriterion,
)

Outcome = Literal["pass", "fail", "unverified", "to_confirm"]
FUNDING_MEANING = (
    "the figure is taken as given (all external capital raised: equity, SAFEs, convertible "
    "notes); whether grants, venture debt or revenue count is your call"
)


@dataclass(frozen=True, slots=True)
class CriterionResult:
    """One criterion: the source's words, the outcome, and why."""

    kind: str
    label: str
    text: str
    outcome: Outcome
    reason: str


def check_criterion(criterion: Criterion, company: Company, day: datetime.date) -> CriterionResult:
    """Evaluate one criterion for `company` on `day`."""
    if isinstance(criterion, AgeCriterion):
        outcome, reason = _age(criterion, company.founded, day)
    elif isinstance(criterion, FundingCriterion):
        outcome, reason = _funding(criterion, company.raised)
    elif isinstance(criterion, TerritoryCriterion):
        outcome, reason = _territory_check(criterion, company.country)
    elif isinstance(criterion, FlagCriterion):
        if company.flag(criterion.flag):
            outcome, reason = criterion.if_set, criterion.reason_if_set
        else:
            outcome, reason = "pass", criterion.reason_if_unset
    else:
        outcome, reason = "to_confirm", "not checked (no flag for it): confirm it yourself"
    return CriterionResult(
        kind=criterion.kind,
        label=criterion_label(criterion),
        text=criterion.text,
        outcome=outcome,
        reason=reason,
    )


def criterion_label(criterion: Criterion) -> str:
    """A short name for a criterion: its `label` in the data, else its kind."""
    return criterion.label or criterion.kind


def _age(
    criterion: AgeCriterion, founded: datetime.date, day: datetime.date
) -> tuple[Outcome, str]:
    years = criterion.years
    until = age_limit_until(founded, years).isoformat()
    basis = criterion.basis
    if founded > day:
        return "fail", f"not founded yet: {basis} {founded.isoformat()}, after {day.isoformat()}"
    anniversary = add_years(founded, years)
    if day < anniversary:
        age = full_years(founded, day)
        old = f"{age} year old" if age == 1 else f"{age} years old"
        return "pass", (
            f"{basis} {founded.isoformat()}: {old} on {day.isoformat()}, under {years}; "
            f"within the age limit until {until}"
        )
    return "fail", (
        f"{basis} {founded.isoformat()}: {years} years old on {anniversary.isoformat()} "
        f"(the limit is strictly less than {years} years); within the age limit only until {until}"
    )


def _funding(criterion: FundingCriterion, raised: Amount) -> tuple[Outcome, str]:
    limit = Amount(value=criterion.max, currency=criterion.currency, text="")
    if raised.currency != criterion.currency:
        return "unverified", (
            f"limit is in {criterion.currency}: {raised.display()} cannot be compared with "
            f"{limit.display()} without a dated exchange rate"
        )
    if criterion.inclusive:
        within = raised.value <= criterion.max
        relation = "no more than" if within else "more than"
    else:
        within = raised.value < criterion.max
        relation = "less than" if within else "not less than"
    return ("pass" if within else "fail"), (
        f"raised {raised.display()}, {relation} the {limit.display()} limit; {FUNDING_MEANING}"
    )


def _territory_check(criterion: TerritoryCriterion, country: Country) -> tuple[Outcome, str]:
    given = f"checked the country you gave: {country.display()}"
    codes = [country.code] + ([country.subdivision_of] if country.subdivision_of else [])
    for code in codes:
        if code in criterion.excluded:
            return "fail", (f"{criterion.excluded[code]} ({criterion.exclusions_url}); {given}")
    listed = criterion.territory_list
    if listed.codes is not None:
        when = listed.retrieved.isoformat() if listed.retrieved else "an unknown date"
        if any(code in listed.codes for code in codes):
            return "pass", f"listed in the {listed.name} retrieved {when}; {given}"
        return "fail", f"not listed in the {listed.name} retrieved {when}; {given}"
    for code in codes:
        if code in criterion.unverified:
            return "unverified", f"{criterion.unverified[code]}; {given}"
    return "pass", (
        f"not among the known excluded territories (Google's full list is not bundled); {given}"
    )
