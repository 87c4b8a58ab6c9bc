"""The terms data model and loading of `cdpcli/data/terms.yaml` (reference/startup-programs.md).

Every program and every version of its terms, with the criteria each version sets, as frozen
dataclasses. `load_catalog` checks the document's shape; malformed data raises `TermsError`,
whose message names the version and key. Never prints.
"""

from __future__ import annotations

import datetime
from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal
from functools import lru_cache
from typing import Any, Literal

import yaml

from cdpcli.eligibility.inputs import FLAG_OPTIONS, data_text
from cdpcli.errors import ConfigError, UsageError

Status = Literal["open", "closed"]


class TermsError(ConfigError):
    """The bundled (or given) terms data is malformed; the message names the version and key."""


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


@lru_cache(maxsize=1)
def bundled_catalog() -> Catalog:
    """The terms bundled with the package (`cdpcli/data/terms.yaml`), loaded once."""
    return load_catalog(data_text("terms.yaml"), where="cdpcli/data/terms.yaml")


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
