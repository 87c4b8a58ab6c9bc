"""Per-event cost of the Mixpanel track-property table: compiled form, the loop, whole map_event.

    python bench/generate.py 20000 > /tmp/ev.jsonl
    python bench/mapping_bench.py /tmp/ev.jsonl            # 5 rounds, best and median of each

Times `track_fields` (the table compiled at import, types converted) and `track_fields_loop` (the
reference loop over the same table), each followed by `add_properties`, on the track/page/screen
events of the file, and `map_event` on the same events. Rounds alternate the three, so a slow
spell of the machine hits each of them; within a round each is the best of 3 passes.
"""

from __future__ import annotations

import argparse
import statistics
import timeit
from collections.abc import Callable

from cdpcli import jsonio
from cdpcli.destinations.base import RouteInfo
from cdpcli.destinations.mixpanel import mapping, properties
from cdpcli.destinations.mixpanel.fields import as_object
from cdpcli.destinations.mixpanel.settings import MixpanelOptions


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("events", help="JSON lines from bench/generate.py")
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    options = MixpanelOptions(project_id="1")
    route = RouteInfo(name="analytics")
    with open(args.events, "rb") as lines:
        events = [jsonio.loads(line) for line in lines]
    events = [e for e in events if e.get("type") in ("track", "page", "screen")]
    seg = properties.segment_id
    inputs = []
    for event in events:
        user_id, anon_id = seg(event.get("userId")), seg(event.get("anonymousId"))
        did = properties.distinct_id_of(user_id, anon_id, options)
        insert = properties.insert_id(str(event["messageId"]))
        props = as_object(event.get("properties"))
        inputs.append((event, 1_714_521_600_000, did, insert, user_id, anon_id, props))

    def reading(reader: Callable[..., tuple[dict[str, object], object]]) -> Callable[[], None]:
        add = properties.add_properties

        def run() -> None:
            for values in inputs:
                add(reader(*values)[0], values[-1])

        return run

    def map_all() -> None:
        for event in events:
            mapping.map_event(
                event, time_ms=1_714_521_600_000, route=route, options=options, token="***"
            )

    runs = {
        "compiled track_fields": reading(properties.track_fields),
        "loop over TRACK_FIELDS": reading(properties.track_fields_loop),
        "map_event (compiled)": map_all,
    }
    times: dict[str, list[float]] = {name: [] for name in runs}
    for _ in range(args.rounds):
        for name, run in runs.items():
            times[name].append(min(timeit.repeat(run, number=1, repeat=3)) / len(events) * 1e6)
    print(f"{len(events)} track/page/screen events, {args.rounds} rounds, µs per event")
    for name, values in times.items():
        print(f"  {name:24} best {min(values):6.2f}  median {statistics.median(values):6.2f}")


if __name__ == "__main__":
    main()
