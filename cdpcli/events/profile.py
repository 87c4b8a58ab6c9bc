"""`cdpcli inspect` as a library: profile a file set before a backfill (PRODUCT.md §2)."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, BinaryIO, ClassVar

from cdpcli.events.decode import Item
from cdpcli.events.distinct import DistinctCounter
from cdpcli.events.model import Event, Problem
from cdpcli.events.objects import ObjectStores
from cdpcli.events.reader import find_inputs, read_inputs
from cdpcli.events.spec import check

TOP_EVENTS = 10
MAX_INVALID_PLACES = 20


@dataclass
class Profile:
    """What a set of event files holds. `valid + invalid == events_read`."""

    top_count: ClassVar[int] = TOP_EVENTS  # how many track events `top_events` lists

    events_read: int = 0
    valid: int = 0
    invalid: int = 0
    by_type: Counter[str] = field(default_factory=Counter)
    events: Counter[str] = field(default_factory=Counter)
    per_day: Counter[str] = field(default_factory=Counter)
    first_ms: int | None = None
    last_ms: int | None = None
    user_ids: DistinctCounter = field(default_factory=DistinctCounter)
    anonymous_ids: DistinctCounter = field(default_factory=DistinctCounter)
    invalid_places: list[Problem] = field(default_factory=list)
    # For the user, not counts (`as_dict` leaves them out): the files a walk skipped.
    notes: tuple[str, ...] = ()

    @property
    def top_events(self) -> list[tuple[str, int]]:
        """The `top_count` most frequent track event names with their counts, most first."""
        return self.events.most_common(self.top_count)

    def as_dict(self) -> dict[str, Any]:
        """The `inspect --format json` document."""
        return {
            "events_read": self.events_read,
            "valid": self.valid,
            "invalid": self.invalid,
            "by_type": dict(sorted(self.by_type.items())),
            "top_events": [{"event": name, "count": count} for name, count in self.top_events],
            "per_day": dict(sorted(self.per_day.items())),
            "time_range": {"first": _iso(self.first_ms), "last": _iso(self.last_ms)},
            "distinct_user_ids": len(self.user_ids),
            "distinct_anonymous_ids": len(self.anonymous_ids),
            # false once there were too many ids to keep: the counts are then estimates (~1 %)
            "distinct_ids_exact": self.user_ids.exact and self.anonymous_ids.exact,
            "invalid_lines": [
                {
                    "source": p.origin.source,
                    "line": p.origin.line,
                    "field": p.path,
                    "message": p.message,
                }
                for p in self.invalid_places
            ],
        }


def _iso(ms: int | None) -> str | None:
    if ms is None:
        return None
    moment = datetime.fromtimestamp(ms / 1000, tz=UTC)
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _day(ms: int) -> str:
    return datetime.fromtimestamp(ms // 1000, tz=UTC).strftime("%Y-%m-%d")


def inspect(
    paths: Iterable[str], *, stdin: BinaryIO | None = None, objects: ObjectStores | None = None
) -> Profile:
    """Profile the event files, directories, `s3://`/`gs://` URLs or `-` in `paths` (`cdpcli
    inspect`): counts by type and event name, events per day, time range, distinct users, and
    the first invalid lines; `notes` names the files a walk skipped. Raises InputError (exit 4)
    when a path cannot be read, NoInputError (exit 2) when there is none; invalid lines are
    counted, not raised."""
    found = find_inputs(paths, objects=objects)
    result = profile(read_inputs(found.files, stdin=stdin))
    result.notes = found.notes
    return result


def profile(items: Iterable[Item]) -> Profile:
    """Read every item once and profile it. Invalid events are counted, with their first places."""
    result = Profile()
    for item in items:
        result.events_read += 1
        if not isinstance(item, Event):
            _invalid(result, item)
            continue
        checked = check(item)
        if not checked.ok or checked.data is None:
            errors = [p for p in checked.problems if p.severity == "error"]
            _invalid(result, errors[0])
            continue
        data = checked.data
        result.valid += 1
        kind = data["type"]
        result.by_type[kind] += 1
        if kind == "track":
            result.events[data["event"]] += 1
        user_id = data.get("userId")
        if user_id:
            result.user_ids.add(user_id)
        anonymous_id = data.get("anonymousId")
        if anonymous_id:
            result.anonymous_ids.add(anonymous_id)
        ms = checked.time_ms
        if ms is not None:
            result.per_day[_day(ms)] += 1
            if result.first_ms is None or ms < result.first_ms:
                result.first_ms = ms
            if result.last_ms is None or ms > result.last_ms:
                result.last_ms = ms
    return result


def _invalid(result: Profile, problem: Problem) -> None:
    result.invalid += 1
    if len(result.invalid_places) < MAX_INVALID_PLACES:
        result.invalid_places.append(problem)
