"""`cdpcli eligibility`: startup-program eligibility under versioned terms (PRODUCT.md §8).

The rules live in `cdpcli.eligibility` and the terms in `cdpcli/data/terms.yaml`; this module only
takes the options, calls `cdpcli.check_eligibility`, and prints the report: a rich table per program
(`cdpcli.cli.eligibility_render`) or one JSON object.
"""

from __future__ import annotations

import os
import sys
from typing import Annotated

import typer
from rich.console import Console

from cdpcli import api
from cdpcli.cli.app import app
from cdpcli.cli.common import FormatOption, OutputFormat, exit_with, handle_errors
from cdpcli.cli.eligibility_render import print_report


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
        report = api.check_eligibility(
            founded=founded,
            raised=raised,
            country=country,
            prior_segment_discount=prior_segment_discount,
            previously_paid_mixpanel=previously_paid_mixpanel,
            as_of=as_of,
            # --terms may be repeated, and each may list several names separated by commas
            terms=[n.strip() for value in terms or [] for n in value.split(",") if n.strip()],
        )
        if output_format is OutputFormat.json:
            sys.stdout.write(api.to_json(report.as_dict()) + "\n")
        else:
            print_report(report, _console())
    failed = check and not report.eligible_for_an_open_program
    exit_with(api.ExitCode.FAILED if failed else api.ExitCode.OK)


def _console() -> Console:
    no_color = os.environ.get("NO_COLOR", "") != ""
    return Console(file=sys.stdout, no_color=no_color, highlight=False, soft_wrap=False)
