"""Startup-program eligibility under versioned terms (PRODUCT.md §8, reference/startup-programs.md).

Pure library: parses the user's inputs (dates, amounts, country codes), loads the bundled terms
(`cdpcli/data/terms.yaml`) and ISO 3166 codes (`cdpcli/data/iso3166.json`), chooses the terms
version in force on the application date, and evaluates every criterion. It returns frozen
dataclasses and never prints. Bad user input raises `UsageError`; bad terms data `TermsError`.

Rules decided by the reference (§4): the age limit is strict (not eligible on the anniversary), a
Feb 29 founding date has its anniversary on Feb 28 in non-leap years, funding limits are inclusive
and compared in `Decimal`, amounts in another currency leave the funding criterion unverified.
"""

from __future__ import annotations

import datetime
import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal, localcontext
from functools import lru_cache
from importlib import resources
from typing import Any, Literal

import yaml

from cdpcli.errors import ConfigError, UsageError

Outcome = Literal["pass", "fail", "unverified", "to_confirm"]
Verdict = Literal["eligible", "not_eligible", "closed", "unverified"]
Status = Literal["open", "closed"]
Availability = Literal["unavailable", "unverified"]
ChosenBy = Literal["as_of", "terms"]
_BY_DATE: ChosenBy = "as_of"
_BY_TERMS: ChosenBy = "terms"

FLAG_OPTIONS: Mapping[str, str] = {
    "prior_segment_discount": "--prior-segment-discount",
    "previously_paid_mixpanel": "--previously-paid-mixpanel",
}
FUNDING_MEANING = (
    "the figure is taken as given (all external capital raised: equity, SAFEs, convertible "
    "notes); whether grants, venture debt or revenue count is your call"
)


class TermsError(ConfigError):
    """The bundled (or given) terms data is malformed; the message names the version and key."""


def current_date() -> datetime.date:
    """Today's date, read at call time (tests replace this function)."""
    return datetime.date.today()


# --------------------------------------------------------------------------- user inputs


@dataclass(frozen=True, slots=True)
class Amount:
    """A funding figure: exact value and ISO currency code (or symbol when ambiguous)."""

    value: Decimal
    currency: str
    text: str

    @property
    def is_usd(self) -> bool:
        return self.currency == "USD"

    def display(self) -> str:
        """`$2,500,000` for USD, `3,000,000 EUR` otherwise."""
        number = _group(self.value)
        return f"${number}" if self.is_usd else f"{number} {self.currency}"


@dataclass(frozen=True, slots=True)
class Country:
    """A validated location: ISO 3166-1 alpha-2, the user-assigned XK, or a known subdivision."""

    code: str
    name: str
    subdivision_of: str | None = None

    def display(self) -> str:
        return f"{self.code} ({self.name})"


@dataclass(frozen=True, slots=True)
class Company:
    """What the user told us about the company."""

    founded: datetime.date
    raised: Amount
    country: Country
    prior_segment_discount: bool = False
    previously_paid_mixpanel: bool = False

    def flag(self, name: str) -> bool:
        if name == "prior_segment_discount":
            return self.prior_segment_discount
        if name == "previously_paid_mixpanel":
            return self.previously_paid_mixpanel
        raise KeyError(name)


_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")


def parse_date(text: str, *, option: str) -> datetime.date:
    """Parse `YYYY-MM-DD`; anything else is a usage error naming the option."""
    value = text.strip()
    if _DATE.fullmatch(value):
        try:
            return datetime.date.fromisoformat(value)
        except ValueError as error:
            raise UsageError(
                f"{option}: {text!r} is not a valid date ({error})", hint="use YYYY-MM-DD"
            ) from None
    raise UsageError(f"{option}: {text!r} is not a date", hint="use YYYY-MM-DD, e.g. 2025-03-01")


_SUFFIXES: Mapping[str, int] = {
    "": 1,
    "K": 10**3,
    "M": 10**6,
    "MM": 10**6,
    "B": 10**9,
    "BN": 10**9,
}
_SYMBOLS: Mapping[str, str] = {"US$": "USD", "$": "USD", "€": "EUR", "£": "GBP", "₹": "INR"}
_CURRENCIES = frozenset(
    {
        *("USD", "EUR", "GBP", "CHF", "CAD", "AUD", "NZD", "JPY", "CNY", "HKD", "SGD", "INR"),
        *("KRW", "ILS", "SEK", "NOK", "DKK", "PLN", "CZK", "HUF", "BRL", "MXN", "ARS", "CLP"),
        *("COP", "ZAR", "NGN", "KES", "EGP", "AED", "SAR", "TRY", "IDR", "THB", "MYR", "PHP"),
        *("VND", "TWD", "UAH"),
    }
)
_NUMBER = r"(?P<number>\d{1,3}(?:,\d{3})+(?:\.\d+)?|\d+(?:\.\d+)?|\.\d+)"
_AMOUNT = re.compile(
    r"(?P<pre>US\$|\$|€|£|₹|[A-Z]{3}(?=\s*[\d.]))?\s*"
    + _NUMBER
    + r"\s*(?P<suffix>MM|BN|K|M|B)?\s*(?P<post>[A-Z]{3})?",
)
_AMOUNT_HINT = (
    "give a non-negative figure such as 750k, $3.5M, 3.5MM, 8,000,000 or 1.2B "
    "(USD unless a currency is given: €3M, EUR 3M)"
)


def parse_amount(text: str, *, option: str = "--raised") -> Amount:
    """Parse a funding amount: `750k`, `$3.5M`, `3.5MM`, `8,000,000`, `1.2B`, `€3M`, `EUR 3M`.

    Suffixes and currency codes are case-insensitive. Negative, empty, NaN and anything else that
    does not match raise `UsageError`.
    """
    stripped = text.strip()
    if not stripped:
        raise UsageError(f"{option}: the amount is empty", hint=_AMOUNT_HINT)
    upper = stripped.upper()
    if len(upper) > 40:
        raise UsageError(f"{option}: {text!r} is too long to be an amount", hint=_AMOUNT_HINT)
    if upper.startswith("-") or re.match(r"^(US\$|\$|€|£|₹|[A-Z]{3})?\s*-", upper):
        raise UsageError(f"{option}: {text!r} is negative", hint=_AMOUNT_HINT)
    match = _AMOUNT.fullmatch(upper)
    if match is None:
        raise UsageError(f"{option}: {text!r} is not an amount", hint=_AMOUNT_HINT)
    pre, post = match.group("pre"), match.group("post")
    if pre and post:
        raise UsageError(f"{option}: {text!r} names two currencies", hint=_AMOUNT_HINT)
    unit = pre or post or "USD"
    currency = _SYMBOLS.get(unit, unit)
    if currency not in _CURRENCIES:
        raise UsageError(f"{option}: {text!r}: unknown currency {unit!r}", hint=_AMOUNT_HINT)
    with localcontext() as context:
        context.prec = 100  # exact: at most 40 input characters times 10**9
        value = (
            Decimal(match.group("number").replace(",", "")) * _SUFFIXES[match.group("suffix") or ""]
        )
        if value == value.to_integral_value():
            value = value.quantize(Decimal(1))
    return Amount(value=value, currency=currency, text=stripped)


@dataclass(frozen=True, slots=True)
class CountryCodes:
    """The accepted `--country` codes, from `cdpcli/data/iso3166.json`."""

    countries: Mapping[str, str]
    user_assigned: Mapping[str, str]
    subdivisions: Mapping[str, tuple[str, str]]  # code -> (name, parent country)


@lru_cache(maxsize=1)
def country_codes() -> CountryCodes:
    """Load the bundled ISO 3166 data once."""
    raw = json.loads(_data_text("iso3166.json"))
    subdivisions = {
        code: (str(entry["name"]), str(entry["country"]))
        for code, entry in raw["subdivisions"].items()
    }
    return CountryCodes(
        countries=dict(raw["countries"]),
        user_assigned=dict(raw["user_assigned"]),
        subdivisions=subdivisions,
    )


_COUNTRY_ALIASES: Mapping[str, str] = {"UK": "GB", "EL": "GR"}


def parse_country(text: str, *, option: str = "--country") -> Country:
    """Validate a billing country: ISO 3166-1 alpha-2 (249 codes), XK, or a bundled subdivision."""
    codes = country_codes()
    code = text.strip().upper()
    if code in codes.countries:
        return Country(code=code, name=codes.countries[code])
    if code in codes.user_assigned:
        return Country(code=code, name=codes.user_assigned[code])
    if code in codes.subdivisions:
        name, parent = codes.subdivisions[code]
        return Country(code=code, name=f"{name}, {codes.countries[parent]}", subdivision_of=parent)
    subdivisions = ", ".join(codes.subdivisions)
    hint = (
        "give an ISO 3166-1 alpha-2 code such as DE, US or GB (XK for Kosovo; "
        f"for Ukraine also {subdivisions})"
    )
    if code in _COUNTRY_ALIASES:
        hint = f"did you mean {_COUNTRY_ALIASES[code]}? " + hint
    elif "-" in code and code.split("-", 1)[0] in codes.countries:
        hint = f"only these subdivision codes are accepted: {subdivisions}; otherwise " + hint
    raise UsageError(f"{option}: {text!r} is not a known country code", hint=hint)


# --------------------------------------------------------------------------- terms data


@dataclass(frozen=True, slots=True)
class Source:
    url: str
    ref: str
    retrieved: datetime.date | None
    checked: bool


@dataclass(frozen=True, slots=True)
class AgeCriterion:
    text: str
    basis: str
    years: int
    label: str | None = None
    kind: Literal["age"] = "age"


@dataclass(frozen=True, slots=True)
class FundingCriterion:
    text: str
    max: Decimal
    currency: str
    inclusive: bool
    label: str | None = None
    kind: Literal["funding"] = "funding"


@dataclass(frozen=True, slots=True)
class TerritoryList:
    name: str
    url: str
    retrieved: datetime.date | None
    codes: frozenset[str] | None


@dataclass(frozen=True, slots=True)
class TerritoryCriterion:
    text: str
    territory_list: TerritoryList
    exclusions_name: str
    exclusions_url: str
    excluded: Mapping[str, str]
    unverified: Mapping[str, str]
    label: str | None = None
    kind: Literal["territory"] = "territory"


@dataclass(frozen=True, slots=True)
class FlagCriterion:
    text: str
    flag: str
    if_set: Literal["fail", "unverified"]
    reason_if_set: str
    reason_if_unset: str
    label: str | None = None
    kind: Literal["flag"] = "flag"


@dataclass(frozen=True, slots=True)
class UncheckedCriterion:
    text: str
    label: str | None = None
    kind: Literal["unchecked"] = "unchecked"


Criterion = (
    AgeCriterion | FundingCriterion | TerritoryCriterion | FlagCriterion | UncheckedCriterion
)


@dataclass(frozen=True, slots=True)
class BenefitItem:
    text: str
    depends_on: str | None = None


@dataclass(frozen=True, slots=True)
class TermsVersion:
    """One version of one program's terms, as in the data file."""

    program: str
    version: str
    title: str
    status: Status
    dated: bool
    valid_from: datetime.date | None
    valid_to: datetime.date | None
    source: Source
    criteria: tuple[Criterion, ...]
    benefit_summary: str
    benefit_items: tuple[BenefitItem, ...]
    obligations: tuple[str, ...]
    notes: tuple[str, ...]
    criteria_from: str | None = None
    closed_reason: str | None = None

    def in_force(self, day: datetime.date) -> bool:
        """Dated versions only: `valid_from` unknown means "at least until `valid_to`"."""
        if not self.dated:
            return False
        after_start = self.valid_from is None or self.valid_from <= day
        before_end = self.valid_to is None or day <= self.valid_to
        return after_start and before_end


@dataclass(frozen=True, slots=True)
class Program:
    key: str
    name: str


@dataclass(frozen=True, slots=True)
class Catalog:
    """Every program and every version of its terms."""

    programs: tuple[Program, ...]
    versions: tuple[TermsVersion, ...]

    def version(self, name: str) -> TermsVersion:
        """The version called `name` (case-insensitive), or a usage error listing the known ones."""
        for version in self.versions:
            if version.version.lower() == name.strip().lower():
                return version
        known = ", ".join(v.version for v in self.versions)
        raise UsageError(f"--terms: unknown terms version {name!r}", hint=f"known: {known}")

    def in_force(self, program: str, day: datetime.date) -> TermsVersion | None:
        """The dated version of `program` in force on `day` (the latest-starting one if several)."""
        found = [v for v in self.versions if v.program == program and v.in_force(day)]
        found.sort(key=lambda v: v.valid_from or datetime.date.min)
        return found[-1] if found else None


def _data_text(name: str) -> str:
    return resources.files("cdpcli").joinpath("data", name).read_text(encoding="utf-8")


@lru_cache(maxsize=1)
def bundled_catalog() -> Catalog:
    """The terms bundled with the package (`cdpcli/data/terms.yaml`), loaded once."""
    return load_catalog(_data_text("terms.yaml"), where="cdpcli/data/terms.yaml")


def load_catalog(text: str, *, where: str = "terms data") -> Catalog:
    """Parse and check a terms document (the shape of `cdpcli/data/terms.yaml`)."""
    try:
        raw = yaml.safe_load(text)
    except yaml.YAMLError as error:
        raise TermsError(f"{where}: not valid YAML: {error}") from None
    if not isinstance(raw, dict) or raw.get("schema") != 1:
        raise TermsError(f"{where}: expected a mapping with `schema: 1`")
    programs = tuple(
        Program(key=_str(p, "key", where), name=_str(p, "name", where))
        for p in _list(raw, "programs", where)
    )
    keys = {p.key for p in programs}
    versions = tuple(_version(v, where, keys) for v in _list(raw, "versions", where))
    names = [v.version.lower() for v in versions]
    duplicates = sorted({n for n in names if names.count(n) > 1})
    if duplicates:
        raise TermsError(f"{where}: duplicate versions: {', '.join(duplicates)}")
    for v in versions:
        if v.criteria_from is not None and v.criteria_from.lower() not in names:
            raise TermsError(f"{where}: {v.version}: criteria_from names unknown {v.criteria_from}")
    return Catalog(programs=programs, versions=versions)


def _version(raw: Any, where: str, programs: set[str]) -> TermsVersion:
    if not isinstance(raw, dict):
        raise TermsError(f"{where}: each version must be a mapping")
    name = _str(raw, "version", where)
    at = f"{where}: {name}"
    program = _str(raw, "program", at)
    if program not in programs:
        raise TermsError(f"{at}: program {program!r} is not one of {sorted(programs)}")
    status = _str(raw, "status", at)
    if status not in ("open", "closed"):
        raise TermsError(f"{at}: status must be open or closed, not {status!r}")
    source = raw.get("source")
    if not isinstance(source, dict):
        raise TermsError(f"{at}: `source` must be a mapping with url, ref, retrieved")
    benefit = raw.get("benefit")
    if not isinstance(benefit, dict):
        raise TermsError(f"{at}: `benefit` must be a mapping with summary and items")
    items = tuple(
        BenefitItem(text=_str(item, "text", at), depends_on=_opt_str(item, "depends_on", at))
        for item in _list(benefit, "items", at)
    )
    for item in items:
        if item.depends_on is not None and item.depends_on not in programs:
            raise TermsError(f"{at}: benefit depends_on unknown program {item.depends_on!r}")
    return TermsVersion(
        program=program,
        version=name,
        title=_str(raw, "title", at),
        status="open" if status == "open" else "closed",
        dated=bool(raw.get("dated", True)),
        valid_from=_opt_date(raw, "valid_from", at),
        valid_to=_opt_date(raw, "valid_to", at),
        source=Source(
            url=_str(source, "url", at),
            ref=_str(source, "ref", at),
            retrieved=_opt_date(source, "retrieved", at),
            checked=bool(source.get("checked", True)),
        ),
        criteria=tuple(_criterion(c, at) for c in _list(raw, "criteria", at)),
        benefit_summary=_str(benefit, "summary", at),
        benefit_items=items,
        obligations=tuple(str(o) for o in _list(raw, "obligations", at)),
        notes=tuple(str(n) for n in raw.get("notes") or ()),
        criteria_from=_opt_str(raw, "criteria_from", at),
        closed_reason=_opt_str(raw, "closed_reason", at),
    )


def _criterion(raw: Any, at: str) -> Criterion:
    if not isinstance(raw, dict):
        raise TermsError(f"{at}: each criterion must be a mapping")
    kind = raw.get("kind")
    text = _str(raw, "text", at)
    label = _opt_str(raw, "label", at)
    if kind == "age":
        return AgeCriterion(
            text=text, basis=_str(raw, "basis", at), years=int(raw["years"]), label=label
        )
    if kind == "funding":
        return FundingCriterion(
            text=text,
            max=Decimal(str(raw["max"])),
            currency=_str(raw, "currency", at),
            inclusive=bool(raw.get("inclusive", True)),
            label=label,
        )
    if kind == "territory":
        return _territory(raw, text, at, label)
    if kind == "flag":
        flag = _str(raw, "flag", at)
        if flag not in FLAG_OPTIONS:
            raise TermsError(f"{at}: unknown flag {flag!r}; known: {', '.join(FLAG_OPTIONS)}")
        if_set = raw.get("if_set", "fail")
        if if_set not in ("fail", "unverified"):
            raise TermsError(f"{at}: if_set must be fail or unverified, not {if_set!r}")
        return FlagCriterion(
            text=text,
            flag=flag,
            if_set="fail" if if_set == "fail" else "unverified",
            reason_if_set=_str(raw, "reason_if_set", at),
            reason_if_unset=_str(raw, "reason_if_unset", at),
            label=label,
        )
    if kind == "unchecked":
        return UncheckedCriterion(text=text, label=label)
    raise TermsError(
        f"{at}: unknown criterion kind {kind!r}; known: age, funding, territory, flag, unchecked"
    )


def _territory(raw: dict[str, Any], text: str, at: str, label: str | None) -> TerritoryCriterion:
    listed = raw.get("list")
    exclusions = raw.get("exclusions_source")
    if not isinstance(listed, dict) or not isinstance(exclusions, dict):
        raise TermsError(f"{at}: territory needs `list` and `exclusions_source` mappings")
    codes = listed.get("codes")
    return TerritoryCriterion(
        text=text,
        territory_list=TerritoryList(
            name=_str(listed, "name", at),
            url=_str(listed, "url", at),
            retrieved=_opt_date(listed, "retrieved", at),
            codes=None if codes is None else frozenset(str(c).upper() for c in codes),
        ),
        exclusions_name=_str(exclusions, "name", at),
        exclusions_url=_str(exclusions, "url", at),
        excluded={str(k).upper(): str(v) for k, v in (raw.get("excluded") or {}).items()},
        unverified={str(k).upper(): str(v) for k, v in (raw.get("unverified") or {}).items()},
        label=label,
    )


def _list(raw: dict[str, Any], key: str, at: str) -> list[Any]:
    value = raw.get(key)
    if value is None:
        return []
    if not isinstance(value, list):
        raise TermsError(f"{at}: `{key}` must be a list")
    return value


def _str(raw: Any, key: str, at: str) -> str:
    value = raw.get(key) if isinstance(raw, dict) else None
    if not isinstance(value, str) or not value.strip():
        raise TermsError(f"{at}: `{key}` must be a non-empty string")
    return value.strip()


def _opt_str(raw: Any, key: str, at: str) -> str | None:
    return None if raw.get(key) is None else _str(raw, key, at)


def _opt_date(raw: dict[str, Any], key: str, at: str) -> datetime.date | None:
    value = raw.get(key)
    if value is None or isinstance(value, datetime.date):
        return value
    if isinstance(value, str):
        try:
            return datetime.date.fromisoformat(value)
        except ValueError:
            pass
    raise TermsError(f"{at}: `{key}` must be a date (YYYY-MM-DD) or null, not {value!r}")


# --------------------------------------------------------------------------- date math


def add_years(day: datetime.date, years: int) -> datetime.date:
    """The same calendar day `years` later; Feb 29 becomes Feb 28 where there is none."""
    try:
        return day.replace(year=day.year + years)
    except ValueError:
        return day.replace(year=day.year + years, day=28)


def age_limit_until(founded: datetime.date, years: int) -> datetime.date:
    """The last day the company is strictly younger than `years`: the anniversary minus a day."""
    return add_years(founded, years) - datetime.timedelta(days=1)


def full_years(founded: datetime.date, day: datetime.date) -> int:
    """Completed years between `founded` and `day` (0 before the first anniversary)."""
    years = day.year - founded.year
    if add_years(founded, years) > day:
        years -= 1
    return max(years, 0)


# --------------------------------------------------------------------------- results


@dataclass(frozen=True, slots=True)
class CriterionResult:
    """One criterion: the source's words, the outcome, and why."""

    kind: str
    label: str
    text: str
    outcome: Outcome
    reason: str


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
        return self.terms.status == "open"


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


# --------------------------------------------------------------------------- evaluation


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


def _group(value: Decimal) -> str:
    if value == value.to_integral_value():
        return f"{int(value):,}"
    return f"{value:,f}"
