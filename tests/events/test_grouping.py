"""Grouping repeated problems for a report: the first places of each kind, the rest counted."""

from __future__ import annotations

import pytest

from cdpcli.events.grouping import ProblemGroups, ProblemKind, Repeated, kind_of
from cdpcli.events.model import Event, Origin, Problem
from cdpcli.events.spec import check


def problem(
    line: int, field: str | None = "messageId", message: str = "missing", index: int | None = None
) -> Problem:
    origin = Origin("e.jsonl", line, index)
    return Problem(origin, "warning", field, message)


def test_first_places_listed_the_rest_counted_with_the_last_place() -> None:
    groups = ProblemGroups(shown=3)
    admitted = [groups.admit(problem(n)) for n in range(1, 11)]
    assert admitted == [True] * 3 + [False] * 7
    kind = ProblemKind("warning", "messageId", "missing")
    assert groups.repeated() == [Repeated(kind, 7, "e.jsonl:10")]
    assert groups.unlisted == 7
    assert groups.other_kinds == 0


def test_kinds_differ_by_severity_field_and_message_and_keep_their_first_order() -> None:
    groups = ProblemGroups(shown=1)
    stream = [
        problem(1, "userId"),
        problem(2),
        problem(3, "userId", "other message"),
        Problem(Origin("e.jsonl", 4), "error", "userId", "missing"),
        problem(5),
        problem(6, "userId"),
    ]
    assert [groups.admit(p) for p in stream] == [True, True, True, True, False, False]
    assert [(r.kind.field, r.more, r.last) for r in groups.repeated()] == [
        ("userId", 1, "e.jsonl:6"),
        ("messageId", 1, "e.jsonl:5"),
    ]


def test_the_field_is_the_events_not_its_place_in_a_batch() -> None:
    groups = ProblemGroups(shown=1)
    assert groups.admit(problem(1, index=0))
    assert not groups.admit(problem(1, index=1))  # batch[1].messageId: the same kind
    assert str(groups.repeated()[0].kind) == "warning: messageId: missing"


def test_kinds_beyond_the_bound_are_counted_together_not_held() -> None:
    groups = ProblemGroups(shown=2, max_kinds=2)
    fields = ["a", "b", "c", "d", "a", "c", "a"]
    admitted = [groups.admit(problem(n, field)) for n, field in enumerate(fields, 1)]
    assert admitted == [True, True, False, False, True, False, False]
    assert groups.other_kinds == 3  # c, d, c: their kinds came after two others
    assert groups.repeated() == [Repeated(ProblemKind("warning", "a", "missing"), 1, "e.jsonl:7")]
    assert groups.unlisted == 4


def test_messages_quoting_the_events_values_are_one_kind() -> None:
    """A numeric id, a bad time: the message quotes the value, the kind leaves it out."""
    kinds = set()
    for n in range(5):
        data = {
            "type": "track",
            "event": "A",
            "userId": n,
            "messageId": f"m{n}",
            "timestamp": f"2024-13-0{n}",
        }
        found = check(Event(data, Origin("e.jsonl", n + 1), 200)).problems
        assert len({p.message for p in found}) == 2
        kinds.update(kind_of(p) for p in found)
    assert sorted(str(kind) for kind in kinds) == [
        "error: timestamp: not an ISO-8601 time",
        "warning: userId: numeric id; sent as a string",
    ]


@pytest.mark.parametrize(("shown", "max_kinds"), [(0, 10), (3, 0)])
def test_bounds_are_at_least_one(shown: int, max_kinds: int) -> None:
    with pytest.raises(ValueError, match="at least 1"):
        ProblemGroups(shown=shown, max_kinds=max_kinds)
