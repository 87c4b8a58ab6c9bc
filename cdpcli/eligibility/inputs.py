"""User input for the eligibility check: dates, amounts, currencies and country codes.

Parses what the user typed (`--founded`, `--raised`, `--country` and the flags) into frozen
dataclasses, using the bundled ISO 3166 codes (`cdpcli/data/iso3166.json`), and does the calendar
math on the founding date (a Feb 29 anniversary falls on Feb 28 in non-leap years). Bad input
raises `UsageError` naming the option. Never prints.
"""

from __future__ import annotations

import datetime
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal, localcontext
from functools import lru_cache
from importlib import resources

from cdpcli.errors import UsageError

FLAG_OPTIONS: Mapping[str, str] = {
    "prior_segment_discount": "--prior-segment-discount",
    "previously_paid_mixpanel": "--previously-paid-mixpanel",
}


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
    raw = json.loads(data_text("iso3166.json"))
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


def data_text(name: str) -> str:
    """The text of a file bundled in `cdpcli/data/`."""
    return resources.files("cdpcli").joinpath("data", name).read_text(encoding="utf-8")


def _group(value: Decimal) -> str:
    if value == value.to_integral_value():
        return f"{int(value):,}"
    return f"{value:,f}"
