"""Repeated problems, grouped for a human report: each kind of problem (the same severity, field and
message) is listed at its first few places, and the rest are counted (PRODUCT.md §4).

50,000 events without `messageId` make 50,000 problems of one kind: the text report of `validate`
lists the first `shown` of them and ends with one line for the other 49,997. `--format json` does
not group: it lists every problem.

Memory is bounded: a `ProblemGroups` keeps a count and the last place per kind, never the problems,
and at most `max_kinds` kinds. A problem of a kind first seen when that many are already held is
counted among "other kinds", not listed (the `--format json` report still has it).

The field is the event's own (`messageId`), not its path inside the line (`batch[3].messageId`):
one problem in every event of a batch envelope is one kind.

`validate --jobs N` groups in the parent process, over the problems the workers send back in input
order, so the report is the same as in one process. A worker need not send back every problem: a
`ChunkGroups` keeps the problems of its chunk beyond the first `shown` of a kind back and counts
them, which cannot change what the parent lists (see `ChunkGroups`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import NamedTuple

from cdpcli.events.model import Problem

SHOWN_PLACES = 3
"""Places listed per kind of problem."""

MAX_KINDS = 1000
"""Kinds of problems grouped (and listed) in one report; more are counted together."""


class ProblemKind(NamedTuple):
    """What makes two problems alike: severity, the event's field (or None) and the message."""

    severity: str
    field: str | None
    message: str

    def __str__(self) -> str:
        """`severity: field: message`, as in a report line without its place."""
        if self.field:
            return f"{self.severity}: {self.field}: {self.message}"
        return f"{self.severity}: {self.message}"


def kind_of(problem: Problem) -> ProblemKind:
    """The problem's kind: its message without the values of the event it quotes, if it has
    such a version (`Problem.like`)."""
    return ProblemKind(problem.severity, problem.field, problem.like or problem.message)


def place_of(problem: Problem) -> str:
    """`PATH:LINE`, the place a report line starts with."""
    return f"{problem.origin.source}:{problem.origin.line}"


@dataclass(frozen=True, slots=True)
class Repeated:
    """A kind of problem found at more places than were listed: `more` unlisted, the last of them
    at `last` (`PATH:LINE`)."""

    kind: ProblemKind
    more: int
    last: str


class _Tally:
    """Of one kind of problem: how many were seen (or sent), how many held back, the last place."""

    __slots__ = ("held", "last", "seen")

    def __init__(self, place: str) -> None:
        self.seen = 1
        self.held = 0
        self.last = place


class ProblemGroups:
    """Decides, problem by problem in input order, which ones a report lists; counts the rest.

    `admit(problem)` is True for the first `shown` problems of each kind (of the first `max_kinds`
    kinds); `repeated()` and `other_kinds` are what was not listed, complete once the input is.
    """

    __slots__ = ("_kinds", "max_kinds", "other_kinds", "shown")

    def __init__(self, *, shown: int = SHOWN_PLACES, max_kinds: int = MAX_KINDS) -> None:
        if shown < 1 or max_kinds < 1:
            raise ValueError("shown and max_kinds must be at least 1")
        self.shown = shown
        self.max_kinds = max_kinds
        self.other_kinds = 0
        """Problems not listed because their kind came after `max_kinds` others."""
        self._kinds: dict[ProblemKind, _Tally] = {}

    def admit(self, problem: Problem) -> bool:
        """Whether the report lists `problem` (else it is counted)."""
        return self.admit_kind(kind_of(problem), place_of(problem))

    def admit_kind(self, kind: ProblemKind, place: str) -> bool:
        tally = self._kinds.get(kind)
        if tally is None:
            if len(self._kinds) >= self.max_kinds:
                self.other_kinds += 1
                return False
            self._kinds[kind] = _Tally(place)
            return True
        tally.seen += 1
        tally.last = place
        return tally.seen <= self.shown

    def add_unlisted(self, kind: ProblemKind, count: int, last: str) -> None:
        """Count `count` problems of `kind`, the last at `last`, that come after the ones of that
        kind already admitted or counted and are not listed (a worker's `ChunkGroups.held`)."""
        tally = self._kinds.get(kind)
        if tally is None:  # a kind that came after `max_kinds` others
            self.other_kinds += count
            return
        tally.seen += count
        tally.last = last

    def repeated(self) -> list[Repeated]:
        """Each kind with unlisted places, in the order the kinds first appeared."""
        return [
            Repeated(kind, tally.seen - self.shown, tally.last)
            for kind, tally in self._kinds.items()
            if tally.seen > self.shown
        ]

    @property
    def unlisted(self) -> int:
        """Every problem not listed: repeated places and other kinds."""
        return sum(r.more for r in self.repeated()) + self.other_kinds


class ChunkGroups:
    """In a worker, the problems of one chunk it need not send back to the parent.

    It holds back a problem when its kind has already been sent `shown` times from this chunk, and
    counts it. The parent, reading the chunk's problems in order, has by then admitted or counted
    `shown` of that kind, so it would not list this one either: it only counts it
    (`ProblemGroups.add_unlisted`). Kinds beyond `max_kinds` are always sent (the parent decides).
    """

    __slots__ = ("_kinds", "max_kinds", "shown")

    def __init__(self, *, shown: int = SHOWN_PLACES, max_kinds: int = MAX_KINDS) -> None:
        self.shown = shown
        self.max_kinds = max_kinds
        self._kinds: dict[ProblemKind, _Tally] = {}  # `seen` counts the problems sent

    def send(self, kind: ProblemKind, place: str) -> bool:
        """Whether to send this problem back (else it is held and counted)."""
        tally = self._kinds.get(kind)
        if tally is None:
            if len(self._kinds) < self.max_kinds:
                self._kinds[kind] = _Tally(place)
            return True
        if tally.seen < self.shown:
            tally.seen += 1
            return True
        tally.held += 1
        tally.last = place
        return False

    def held(self) -> list[tuple[ProblemKind, int, str]]:
        """(kind, problems held back, the last one's place) for each kind with some held."""
        return [(kind, t.held, t.last) for kind, t in self._kinds.items() if t.held]
