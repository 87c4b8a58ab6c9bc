"""Startup-program eligibility under versioned terms (PRODUCT.md §8, reference/startup-programs.md).

Pure library: chooses the terms version in force on the application date (or the one named with
`--terms`), evaluates every criterion and returns a `Report` of frozen dataclasses; never prints.
User input is parsed in `cdpcli.eligibility.inputs`, the terms data loaded in
`cdpcli.eligibility.terms`, single criteria checked in `cdpcli.eligibility.criteria`; their
public names are re-exported here.

Rules decided by the reference (§4): the age limit is strict (not eligible on the anniversary), a
Feb 29 founding date has its anniversary on Feb 28 in non-leap years, funding limits are inclusive
and compared in `Decimal`, amounts in another currency leave the funding criterion unverified.
"""

from __future__ import annotations

import datetime
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

from cdpcli.eligibility.criteria import (
    FUNDING_MEANING,
    CriterionResult,
    Outcome,
    check_criterion,
    criterion_label,
)
from cdpcli.eligibility.inputs import (
    FLAG_OPTIONS,
    Amount,
    Company,
    Country,
    CountryCodes,
    add_years,
    age_limit_until,
    country_codes,
    full_years,
    parse_amount,
    parse_country,
    parse_date,
)
from cdpcli.eligibility.terms import (
    AgeCriterion,
    BenefitItem,
    Catalog,
    Criterion,
    FlagCriterion,
    FundingCriterion,
    Program,
    Source,
    Status,
    TermsError,
    TermsVersion,
    TerritoryCriterion,
    TerritoryList,
    UncheckedCriterion,
    bundled_catalog,
    load_catalog,
)
from cdpcli.errors import UsageError

__all__ = [
    "FLAG_OPTIONS",
    "FUNDING_MEANING",
    "AgeCriterion",
    "Amount",
    "Availability",
    "BenefitItem",
    "BenefitResult",
    "Catalog",
    "ChosenBy",
    "Company",
    "Country",
    "CountryCodes",
    "Criterion",
    "CriterionResult",
    "FlagCriterion",
    "FundingCriterion",
    "Outcome",
    "Program",
    "ProgramResult",
    "Report",
    "Source",
    "Status",
    "TermsError",
    "TermsVersion",
    "TerritoryCriterion",
    "TerritoryList",
    "UncheckedCriterion",
    "Verdict",
    "add_years",
    "age_limit_until",
    "bundled_catalog",
    "check_criterion",
    "check_eligibility",
    "country_codes",
    "criterion_label",
    "current_date",
    "evaluate",
    "full_years",
    "load_catalog",
    "parse_amount",
    "parse_country",
    "parse_date",
]

Verdict = Literal["eligible", "not_eligible", "closed", "unverified"]
Availability = Literal["unavailable", "unverified"]
ChosenBy = Literal["as_of", "terms"]
_BY_DATE: ChosenBy = "as_of"
_BY_TERMS: ChosenBy = "terms"


def current_date() -> datetime.date:
    """Today's date, read at call time (tests replace this function)."""
    return datetime.date.today()


# --------------------------------------------------------------------------- results


@dataclass(frozen=True, slots=True)
class BenefitResult:
    """One part of the benefit; `availability` is set when it is known not to be plain."""

    text: str
    availability: Availability | None = None
    reason: str | None = None


@dataclass(frozen=True, slots=True)
class ProgramResult:
    """The answer for one program under one terms version."""

    program: str
    name: str
    verdict: Verdict
    reason: str
    terms: TermsVersion
    chosen_by: ChosenBy
    criteria: tuple[CriterionResult, ...]
    criteria_from: str | None
    age_limit_until: datetime.date | None
    benefits: tuple[BenefitResult, ...]

    @property
    def is_open(self) -> bool:
        """Whether the program's terms take applications (status `open`)."""
        return self.terms.status == "open"

    def as_dict(self) -> dict[str, Any]:
        """One program's answer in `eligibility --format json` (dates as YYYY-MM-DD)."""
        terms = self.terms
        return {
            "program": self.program,
            "name": self.name,
            "verdict": self.verdict,
            "reason": self.reason,
            "terms": {
                "version": terms.version,
                "title": terms.title,
                "status": terms.status,
                "chosen_by": self.chosen_by,
                "valid_from": _iso(terms.valid_from),
                "valid_to": _iso(terms.valid_to),
                "source": {
                    "url": terms.source.url,
                    "ref": terms.source.ref,
                    "retrieved": _iso(terms.source.retrieved),
                    "checked": terms.source.checked,
                },
            },
            "criteria_from": self.criteria_from,
            "criteria": [
                {
                    "kind": c.kind,
                    "label": c.label,
                    "criterion": c.text,
                    "result": c.outcome,
                    "reason": c.reason,
                }
                for c in self.criteria
            ],
            "age_limit_until": _iso(self.age_limit_until),
            "benefit": {
                "summary": terms.benefit_summary,
                "items": [
                    {"text": b.text, "availability": b.availability, "reason": b.reason}
                    for b in self.benefits
                ],
            },
            "obligations": list(terms.obligations),
            "notes": list(terms.notes),
        }


@dataclass(frozen=True, slots=True)
class Report:
    """Every program's answer for one company on one application date."""

    as_of: datetime.date
    as_of_given: bool
    company: Company
    programs: tuple[ProgramResult, ...]

    @property
    def eligible_for_an_open_program(self) -> bool:
        """False when every open program says "not eligible" (or none is open): `--check` fails."""
        return any(p.is_open and p.verdict in ("eligible", "unverified") for p in self.programs)

    def as_dict(self) -> dict[str, Any]:
        """The `eligibility --format json` object (amounts as decimal strings, dates as
        YYYY-MM-DD)."""
        company = self.company
        return {
            "as_of": self.as_of.isoformat(),
            "as_of_source": "option" if self.as_of_given else "today",
            "company": {
                "founded": company.founded.isoformat(),
                "raised": {
                    "input": company.raised.text,
                    "amount": str(company.raised.value),
                    "currency": company.raised.currency,
                },
                "country": {
                    "code": company.country.code,
                    "name": company.country.name,
                    "subdivision_of": company.country.subdivision_of,
                },
                "prior_segment_discount": company.prior_segment_discount,
                "previously_paid_mixpanel": company.previously_paid_mixpanel,
            },
            "programs": [program.as_dict() for program in self.programs],
            "eligible_for_an_open_program": self.eligible_for_an_open_program,
        }


def _iso(day: datetime.date | None) -> str | None:
    return None if day is None else day.isoformat()


# --------------------------------------------------------------------------- evaluation


def check_eligibility(
    *,
    founded: str | datetime.date,
    raised: str,
    country: str,
    prior_segment_discount: bool = False,
    previously_paid_mixpanel: bool = False,
    as_of: str | datetime.date | None = None,
    terms: Sequence[str] = (),
) -> Report:
    """`cdpcli eligibility`: would this company qualify for the Mixpanel and Segment startup
    programs on `as_of` (default today), and why, under the bundled versioned terms?

    `founded` and `as_of` are dates or YYYY-MM-DD; `raised` is the total funding as written
    (`750k`, `$3.5M`, `EUR 3M`); `country` the billing country (ISO 3166-1 alpha-2, or a
    subdivision such as UA-43); `terms` names versions to use instead of those in force. A value
    that cannot be read is a UsageError (exit 2) naming its option (`--founded`, ...).
    """
    company = Company(
        founded=_date(founded, "--founded"),
        raised=parse_amount(raised, option="--raised"),
        country=parse_country(country, option="--country"),
        prior_segment_discount=prior_segment_discount,
        previously_paid_mixpanel=previously_paid_mixpanel,
    )
    day = _date(as_of, "--as-of") if as_of is not None else None
    return evaluate(company, as_of=day, terms=terms, catalog=bundled_catalog())


def _date(value: str | datetime.date, option: str) -> datetime.date:
    return value if isinstance(value, datetime.date) else parse_date(value, option=option)


def evaluate(
    company: Company,
    *,
    as_of: datetime.date | None = None,
    terms: Sequence[str] = (),
    catalog: Catalog | None = None,
    today: datetime.date | None = None,
) -> Report:
    """Check `company` against every program, under the terms in force on `as_of` (default today).

    `terms` names versions that replace, for their program, the version chosen by date. Without
    `as_of`, a founding date after today is a usage error; with it, the age criterion fails.
    """
    catalog = catalog or bundled_catalog()
    day = as_of if as_of is not None else (today or current_date())
    if as_of is None and company.founded > day:
        raise UsageError(
            f"--founded: {company.founded.isoformat()} is after today ({day.isoformat()})",
            hint="give the date the company was founded, or --as-of DATE to ask about a later date",
        )
    chosen: dict[str, TermsVersion] = {}
    for name in terms:
        version = catalog.version(name)
        if version.program in chosen:
            raise UsageError(
                f"--terms: {chosen[version.program].version} and {version.version} are both "
                f"terms of {version.program}",
                hint="name at most one version per program",
            )
        chosen[version.program] = version
    results = []
    for program in catalog.programs:
        if program.key in chosen:
            version, by = chosen[program.key], _BY_TERMS
        else:
            found = catalog.in_force(program.key, day)
            if found is None:
                dated = ", ".join(v.version for v in catalog.versions if v.program == program.key)
                raise UsageError(
                    f"no terms of {program.name} are known for {day.isoformat()}",
                    hint=f"name a version with --terms ({dated})",
                )
            version, by = found, _BY_DATE
        results.append(_program(program, version, company, day, catalog, chosen_by=by))
    return Report(
        as_of=day, as_of_given=as_of is not None, company=company, programs=tuple(results)
    )


def _program(
    program: Program,
    version: TermsVersion,
    company: Company,
    day: datetime.date,
    catalog: Catalog,
    *,
    chosen_by: ChosenBy,
) -> ProgramResult:
    criteria_version = version
    if version.criteria_from is not None:
        criteria_version = catalog.version(version.criteria_from)
    criteria = tuple(check_criterion(c, company, day) for c in criteria_version.criteria)
    ages = [c for c in criteria_version.criteria if isinstance(c, AgeCriterion)]
    until = age_limit_until(company.founded, ages[0].years) if ages else None
    verdict, reason = _verdict(version, criteria)
    in_force = catalog.in_force(program.key, day)
    if in_force is not None and in_force != version:
        reason += f" (not the terms in force on {day.isoformat()}: {in_force.version})"
    return ProgramResult(
        program=program.key,
        name=program.name,
        verdict=verdict,
        reason=reason,
        terms=version,
        chosen_by=chosen_by,
        criteria=criteria,
        criteria_from=version.criteria_from,
        age_limit_until=until,
        benefits=tuple(_benefit(item, day, catalog) for item in version.benefit_items),
    )


def _verdict(version: TermsVersion, criteria: Sequence[CriterionResult]) -> tuple[Verdict, str]:
    failed = [c.label for c in criteria if c.outcome == "fail"]
    unsure = [c.label for c in criteria if c.outcome == "unverified"]
    confirm = sum(1 for c in criteria if c.outcome == "to_confirm")
    if version.status == "closed":
        why = version.closed_reason or "the program is closed"
        return "closed", f"closed under {version.version}: {why}"
    if failed:
        return "not_eligible", f"fails {', '.join(failed)} under {version.version}"
    if unsure:
        return "unverified", f"could not decide {', '.join(unsure)} under {version.version}"
    extra = f"; {confirm} condition(s) to confirm yourself" if confirm else ""
    return "eligible", f"meets every checked criterion of {version.version}{extra}"


def _benefit(item: BenefitItem, day: datetime.date, catalog: Catalog) -> BenefitResult:
    if item.depends_on is None:
        return BenefitResult(text=item.text)
    partner = catalog.in_force(item.depends_on, day)
    name = next((p.name for p in catalog.programs if p.key == item.depends_on), item.depends_on)
    if partner is not None and partner.status == "closed":
        since = partner.valid_from.isoformat() if partner.valid_from else "an unknown date"
        return BenefitResult(
            text=item.text,
            availability="unavailable",
            reason=f"{name} closed on {since} ({partner.version}) and takes no applications",
        )
    return BenefitResult(
        text=item.text,
        availability="unverified",
        reason=f"comes through {name}; no dated source ties this benefit to a period",
    )
