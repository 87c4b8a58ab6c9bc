"""How `eligibility` shows its report to a human: a header, then per program a table of its
criteria and the details of its terms."""

from __future__ import annotations

import datetime
from typing import TYPE_CHECKING

from rich.console import Console
from rich.table import Table
from rich.text import Text

if TYPE_CHECKING:
    from cdpcli.api import CriterionResult, EligibilityReport, ProgramResult

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


def print_report(report: EligibilityReport, console: Console) -> None:
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
