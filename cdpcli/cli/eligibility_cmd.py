"""`cdpcli eligibility`: startup-program eligibility under versioned terms (PRODUCT.md §8).

The rules live in `cdpcli.eligibility` and the terms in `cdpcli/data/terms.yaml`; this module only
parses the options and prints the report: a rich table per program (text) or one JSON object.
"""

from __future__ import annotations

import datetime
import os
import sys
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.console import Console
from rich.table import Table
from rich.text import Text

from cdpcli import jsonio
from cdpcli.cli.app import app
from cdpcli.cli.common import FormatOption, OutputFormat, exit_with, handle_errors
from cdpcli.errors import ExitCode

if TYPE_CHECKING:  # the library is imported when the command runs: fast start-up for the others
    from cdpcli.eligibility.evaluate import CriterionResult, ProgramResult, Report

VERDICT_TEXT = {
    "eligible": ("ELIGIBLE", "bold green"),
    "not_eligible": ("NOT ELIGIBLE", "bold red"),
    "closed": ("CLOSED", "bold yellow"),
    "unverified": ("UNVERIFIED", "bold yellow"),
}
OUTCOME_TEXT = {
    "pass": ("pass", "green"),
    "fail": ("fail", "red"),
    "unverified": ("unverified", "yellow"),
    "to_confirm": ("to confirm", "cyan"),
}


@app.command()
def eligibility(
    founded: Annotated[
        str,
        typer.Option(
            "--founded",
            metavar="DATE",
            help="Date the company was incorporated (founded), YYYY-MM-DD.",
            show_default=False,
        ),
    ],
    raised: Annotated[
        str,
        typer.Option(
            "--raised",
            metavar="AMOUNT",
            help=(
                "Total funding raised: all external capital raised (equity, SAFEs, convertible "
                "notes); whether grants, venture debt or revenue count is your call. "
                "E.g. 750k, $3.5M, 3.5MM, 8,000,000, 1.2B; USD unless a currency is given "
                "(€3M, EUR 3M: then the funding check is unverified)."
            ),
            show_default=False,
        ),
    ],
    country: Annotated[
        str,
        typer.Option(
            "--country",
            metavar="CC",
            help=(
                "Billing country (Google Cloud's contracting entity follows the billing address), "
                "ISO 3166-1 alpha-2 such as DE or US; XK for Kosovo; for Ukraine also UA-43 "
                "(Crimea), UA-40 (Sevastopol), UA-14 (Donetsk), UA-09 (Luhansk)."
            ),
            show_default=False,
        ),
    ],
    prior_segment_discount: Annotated[
        bool,
        typer.Option(
            "--prior-segment-discount",
            help="The company already received a Segment discount or coupon.",
        ),
    ] = False,
    previously_paid_mixpanel: Annotated[
        bool,
        typer.Option(
            "--previously-paid-mixpanel",
            help="The company is or has been on a paid Mixpanel plan.",
        ),
    ] = False,
    as_of: Annotated[
        str | None,
        typer.Option(
            "--as-of",
            metavar="DATE",
            help=(
                "Application date, YYYY-MM-DD: picks the terms in force that day and the "
                "company's age then. Default: today."
            ),
            show_default=False,
        ),
    ] = None,
    terms: Annotated[
        list[str] | None,
        typer.Option(
            "--terms",
            metavar="VERSION",
            help=(
                "Use this terms version for its program instead of the one in force (repeatable; "
                "the only way to pick undated ones): M-seed, M-helpcenter, M-credits, "
                "M-startup-plan, S-seed, S-closed."
            ),
            show_default=False,
        ),
    ] = None,
    output_format: FormatOption = OutputFormat.text,
    check: Annotated[
        bool,
        typer.Option(
            "--check",
            help="Exit 1 when the company is not eligible for any open program.",
        ),
    ] = False,
) -> None:
    """Would this company qualify for the Mixpanel and Segment startup programs, and why?

    For each program: the terms version applied (with its source), every criterion with
    pass / fail / unverified / to confirm and why, the benefit, its obligations, and until which
    date the company stays within the age limit. Exit 0 whatever the verdict (see --check).
    """
    with handle_errors():
        names = [n.strip() for value in terms or [] for n in value.split(",") if n.strip()]
        from cdpcli.eligibility.evaluate import (
            Company,
            bundled_catalog,
            evaluate,
            parse_amount,
            parse_country,
            parse_date,
        )

        company = Company(
            founded=parse_date(founded, option="--founded"),
            raised=parse_amount(raised, option="--raised"),
            country=parse_country(country, option="--country"),
            prior_segment_discount=prior_segment_discount,
            previously_paid_mixpanel=previously_paid_mixpanel,
        )
        day = parse_date(as_of, option="--as-of") if as_of is not None else None
        report = evaluate(company, as_of=day, terms=names, catalog=bundled_catalog())
        if output_format is OutputFormat.json:
            sys.stdout.write(jsonio.dumps(report_dict(report)) + "\n")
        else:
            print_report(report, _console())
    failed = check and not report.eligible_for_an_open_program
    exit_with(ExitCode.FAILED if failed else ExitCode.OK)


def _console() -> Console:
    no_color = os.environ.get("NO_COLOR", "") != ""
    return Console(file=sys.stdout, no_color=no_color, highlight=False, soft_wrap=False)


# --------------------------------------------------------------------------- JSON


def report_dict(report: Report) -> dict[str, Any]:
    """The `--format json` object (amounts as decimal strings, dates as YYYY-MM-DD)."""
    company = report.company
    return {
        "as_of": report.as_of.isoformat(),
        "as_of_source": "option" if report.as_of_given else "today",
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
        "programs": [program_dict(p) for p in report.programs],
        "eligible_for_an_open_program": report.eligible_for_an_open_program,
    }


def program_dict(result: ProgramResult) -> dict[str, Any]:
    """One program's answer as JSON."""
    terms = result.terms
    return {
        "program": result.program,
        "name": result.name,
        "verdict": result.verdict,
        "reason": result.reason,
        "terms": {
            "version": terms.version,
            "title": terms.title,
            "status": terms.status,
            "chosen_by": result.chosen_by,
            "valid_from": _iso(terms.valid_from),
            "valid_to": _iso(terms.valid_to),
            "source": {
                "url": terms.source.url,
                "ref": terms.source.ref,
                "retrieved": _iso(terms.source.retrieved),
                "checked": terms.source.checked,
            },
        },
        "criteria_from": result.criteria_from,
        "criteria": [_criterion_dict(c) for c in result.criteria],
        "age_limit_until": _iso(result.age_limit_until),
        "benefit": {
            "summary": terms.benefit_summary,
            "items": [
                {"text": b.text, "availability": b.availability, "reason": b.reason}
                for b in result.benefits
            ],
        },
        "obligations": list(terms.obligations),
        "notes": list(terms.notes),
    }


def _criterion_dict(result: CriterionResult) -> dict[str, Any]:
    return {
        "kind": result.kind,
        "label": result.label,
        "criterion": result.text,
        "result": result.outcome,
        "reason": result.reason,
    }


def _iso(day: Any) -> str | None:
    return None if day is None else str(day.isoformat())


# --------------------------------------------------------------------------- text


def print_report(report: Report, console: Console) -> None:
    """Print the report for a human: a header, then per program a table and its details."""
    company = report.company
    when = "today" if not report.as_of_given else "--as-of"
    flags = [
        name
        for name, on in (
            ("--prior-segment-discount", company.prior_segment_discount),
            ("--previously-paid-mixpanel", company.previously_paid_mixpanel),
        )
        if on
    ]
    console.print(
        Text(
            f"Eligibility on {report.as_of.isoformat()} ({when}) for a company founded "
            f"{company.founded.isoformat()}, {company.raised.display()} raised, billing country "
            f"{company.country.display()}" + (f", {' '.join(flags)}" if flags else "")
        )
    )
    for result in report.programs:
        console.print()
        _print_program(result, report.as_of, console)


def _print_program(result: ProgramResult, as_of: datetime.date, console: Console) -> None:
    terms = result.terms
    label, style = VERDICT_TEXT[result.verdict]
    heading = Text(f"{result.name}: ")
    heading.append(label, style=style)
    heading.append(f" ({result.reason})")
    console.print(heading)
    chosen = "named with --terms" if result.chosen_by == "terms" else "in force on that date"
    console.print(Text(f"  terms: {terms.version} ({_period(result)}), {chosen}"))
    source = f"  source: {terms.source.url} ({terms.source.ref}"
    if terms.source.retrieved is not None:
        source += f", retrieved {terms.source.retrieved.isoformat()}"
    console.print(Text(source + ")"))
    if result.criteria_from:
        console.print(Text(f"  criteria of {result.criteria_from}, for information:"))
    if result.criteria:
        console.print(_criteria_table(result.criteria))
    if result.age_limit_until is not None:
        until = result.age_limit_until.isoformat()
        if as_of > result.age_limit_until:
            console.print(Text(f"  age limit passed: it ended after {until}"))
        else:
            console.print(Text(f"  within the age limit until {until}"))
    console.print(Text(f"  benefit: {terms.benefit_summary}"))
    for benefit in result.benefits:
        if benefit.availability is not None:
            console.print(Text(f"    {benefit.text}: {benefit.availability} ({benefit.reason})"))
    for obligation in terms.obligations:
        console.print(Text(f"  obligation: {obligation}"))
    for note in terms.notes:
        console.print(Text(f"  note: {note}"))


def _period(result: ProgramResult) -> str:
    terms = result.terms
    if not terms.dated:
        return "undated"
    start = terms.valid_from.isoformat() if terms.valid_from else "an unknown date"
    end = terms.valid_to.isoformat() if terms.valid_to else "still current"
    return (
        f"{terms.status}; from {start} to {end}"
        if terms.valid_to
        else f"{terms.status}; from {start}, {end}"
    )


def _criteria_table(criteria: tuple[CriterionResult, ...]) -> Table:
    table = Table(
        show_header=True, header_style="bold", box=None, padding=(0, 1, 0, 2), expand=True
    )
    table.add_column("criterion", overflow="fold", ratio=2)
    table.add_column("result", no_wrap=True)
    table.add_column("why", overflow="fold", ratio=3)
    for item in criteria:
        word, style = OUTCOME_TEXT[item.outcome]
        table.add_row(Text(item.text), Text(word, style=style), Text(item.reason))
    return table
