"""`cdpcli.check_eligibility`: the `eligibility` command as a library call."""

from __future__ import annotations

import datetime
import json

import pytest
from typer.testing import CliRunner

import cdpcli
from cdpcli.cli.app import app

ARGS = ["--founded", "2025-03-01", "--raised", "2.5M", "--country", "DE", "--as-of", "2026-06-01"]


def test_the_report_is_what_the_command_prints_as_json() -> None:
    result = CliRunner().invoke(app, ["eligibility", *ARGS, "--format", "json"])
    assert result.exit_code == 0, result.stderr
    report = cdpcli.check_eligibility(
        founded="2025-03-01", raised="2.5M", country="DE", as_of="2026-06-01"
    )
    assert report.as_dict() == json.loads(result.stdout)


def test_dates_may_be_dates() -> None:
    as_text = cdpcli.check_eligibility(
        founded="2025-03-01", raised="$2.5M", country="de", as_of="2026-06-01"
    )
    as_dates = cdpcli.check_eligibility(
        founded=datetime.date(2025, 3, 1),
        raised="$2.5M",
        country="de",
        as_of=datetime.date(2026, 6, 1),
    )
    assert as_text == as_dates
    assert [p.program for p in as_dates.programs] == ["mixpanel", "segment"]


def test_a_value_that_cannot_be_read_names_its_option() -> None:
    with pytest.raises(cdpcli.UsageError, match="--raised"):
        cdpcli.check_eligibility(founded="2025-03-01", raised="lots", country="DE")
    with pytest.raises(cdpcli.UsageError, match="--as-of"):
        cdpcli.check_eligibility(founded="2025-03-01", raised="1M", country="DE", as_of="soon")
