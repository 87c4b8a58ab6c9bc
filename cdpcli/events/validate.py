"""`cdpcli validate` as a library: stream problems, keep the summary (PRODUCT.md §4)."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from cdpcli.events.decode import Item
from cdpcli.events.grouping import ProblemGroups
from cdpcli.events.model import Event, Origin, Problem, Severity
from cdpcli.events.spec import find_problems
from cdpcli.jsonio import dumps, dumps_bytes

EVENT_SOURCE = "<event>"
"""The source named in the problems of an event checked on its own (`check_event`)."""


@dataclass
class ValidationSummary:
    """Counts of a validation run.

    `valid + invalid == events_read`; `by_type` counts valid events. `notes` are for the user,
    about how the run was made (e.g. in one process although `--jobs` asked for more); they are
    not counts, and `as_dict` leaves them out.
    """

    events_read: int = 0
    valid: int = 0
    invalid: int = 0
    warnings: int = 0
    by_type: Counter[str] = field(default_factory=Counter)
    notes: list[str] = field(default_factory=list)
    # The problems a grouped report left out, counted per kind (`validate(grouped=True)`).
    groups: ProblemGroups | None = None

    def as_dict(self) -> dict[str, Any]:
        """The summary line of `validate --format json`."""
        return {
            "kind": "summary",
            "events_read": self.events_read,
            "valid": self.valid,
            "invalid": self.invalid,
            "warnings": self.warnings,
            "by_type": dict(sorted(self.by_type.items())),
        }


class Validation:
    """One validation run over a stream of read items.

    Iterate `problems()` to consume the input; `summary` is complete once it is exhausted.
    """

    def __init__(
        self,
        items: Iterable[Item],
        *,
        strict: bool = False,
        field_checks: FieldChecks | None = None,
        summary: ValidationSummary | None = None,
    ) -> None:
        self._items = items
        self._strict = strict
        self._field_checks = field_checks
        self.summary = summary if summary is not None else ValidationSummary()

    def problems(self) -> Iterator[Problem]:
        summary = self.summary
        strict = self._strict
        by_type = summary.by_type
        field_checks = self._field_checks
        for item in self._items:
            summary.events_read += 1
            if not isinstance(item, Event):
                summary.invalid += 1
                yield item
                continue
            found = find_problems(item, strict=strict)
            if (
                field_checks is not None
                and (not found or all(p.severity != "error" for p in found))  # valid so far
                and (fields := field_checks(item.data))
            ):
                found = _with_fields(item, found, fields, strict)
            valid = True
            for problem in found:  # most events have none
                if problem.severity == "warning":
                    summary.warnings += 1
                else:
                    valid = False
                yield problem
            if valid:
                summary.valid += 1
                by_type[item.data["type"]] += 1
            else:
                summary.invalid += 1


FieldChecks = Callable[[Mapping[str, Any]], Sequence[tuple[str, str]]]
"""What a destination would do to an event's values beyond the Segment spec: (field path,
message) per value it cannot take as it is (a value Segment's Mixpanel destination cannot convert
to its declared type, reference/mixpanel.md §2.6), each reported as a warning."""


def _with_fields(
    event: Event, found: list[Problem], fields: Sequence[tuple[str, str]], strict: bool
) -> list[Problem]:
    """`found` (no error among them), then the event's field warnings."""
    severity: Severity = "error" if strict else "warning"
    return [
        *found,
        *(
            Problem(event.origin, severity, path, message, like=_like(message))
            for path, message in fields
        ),
    ]


def _like(message: str) -> str:
    """A field warning without the value it quotes (`"abc" is not a number; ...` → `not a
    number; ...`), so that a report groups the same warning at many places. The last ` is not `
    ends the value: a quoted string may hold the words itself."""
    _, sep, rest = message.rpartition(" is not ")
    return f"not {rest}" if sep else message


def check_event(event: Mapping[str, Any] | Event, *, strict: bool = False) -> list[Problem]:
    """The problems of one event under the Segment-spec rules `validate` applies: errors and
    warnings (with `strict`, every warning is an error), in report order; empty when it is
    clean. A mapping (parsed JSON) is checked as the event read from line 1 of `<event>`."""
    if not isinstance(event, Event):
        data = dict(event)
        event = Event(data, Origin(EVENT_SOURCE, 1), len(dumps_bytes(data)))
    return find_problems(event, strict=strict)


def problem_dict(problem: Problem) -> dict[str, Any]:
    """The `--format json` shape of one problem, as PRODUCT.md §4 pins it."""
    return {
        "kind": "problem",
        "source": problem.origin.source,
        "line": problem.origin.line,
        "severity": problem.severity,
        "field": problem.path,
        "message": problem.message,
    }


def render_text(problem: Problem) -> str:
    """`PATH:LINE: severity: field: message`, the report line of PRODUCT.md §4."""
    return str(problem)


def render_json(problem: Problem) -> str:
    """One `--format json` problem line."""
    return dumps(problem_dict(problem))
