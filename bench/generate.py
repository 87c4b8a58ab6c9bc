"""Generate N realistic Segment events as JSON lines (about 700 bytes each).

    python bench/generate.py 200000 > events.jsonl
    python bench/generate.py 200000 --gzip -o events.jsonl.gz

Browser-style message ids (`ajs-next-<ms>-<uuid>`), a few thousand users, every event type, and
contexts like analytics.js, the Node library and the mobile libraries send.
"""

from __future__ import annotations

import argparse
import gzip
import random
import sys
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any, BinaryIO

import orjson

START_MS = 1_714_521_600_000  # 2024-05-01T00:00:00Z
EVENTS = ["Report Exported", "API Call", "Dashboard Viewed", "Feature Used", "Seat Added"]
UAS = [
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/124.0.6367.91 Safari/537.36",
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_4 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like "
    "Gecko) Version/17.4 Mobile/15E148 Safari/604.1",
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:125.0) Gecko/20100101 Firefox/125.0",
]


def _iso(ms: int) -> str:
    moment = datetime.fromtimestamp(ms / 1000, tz=UTC)
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def events(count: int, *, users: int = 3000, seed: int = 1) -> Iterator[dict[str, Any]]:
    """`count` events, deterministic for a seed, in time order."""
    rng = random.Random(seed)
    ms = START_MS
    for n in range(count):
        ms += rng.randint(1, 400)
        user = rng.randrange(users)
        message_id = f"ajs-next-{ms}-{uuid.UUID(int=rng.getrandbits(128), version=4)}"
        context = {
            "ip": f"203.0.{user % 250}.{n % 250}",
            "library": {"name": "analytics.js", "version": "npm:next-1.70.0"},
            "locale": "en-US",
            "timezone": "Europe/Berlin",
            "page": {
                "path": "/reports",
                "referrer": "https://www.google.com/",
                "title": "Reports | Example",
                "url": "https://app.example.com/reports",
            },
            "userAgent": UAS[n % len(UAS)],
            "campaign": {"name": "spring", "source": "newsletter", "medium": "email"},
        }
        base: dict[str, Any] = {
            "anonymousId": f"anon-{user:05d}-{user * 7919 % 100000:05d}",
            "userId": f"u_{user}",
            "messageId": message_id,
            "timestamp": _iso(ms),
            "context": context,
        }
        roll = rng.random()
        if roll < 0.80:
            name = EVENTS[n % len(EVENTS)]
            yield {
                "type": "track",
                "event": name,
                "properties": {
                    "plan": rng.choice(["free", "team", "pro"]),
                    "subscription_id": f"sub_{user}",
                    "bytes": rng.randint(100, 100_000),
                    "latency_ms": round(rng.random() * 200, 2),
                    "format": "csv",
                },
                **base,
            }
        elif roll < 0.92:
            yield {"type": "page", "name": "Reports", "properties": {"path": "/reports"}, **base}
        elif roll < 0.97:
            yield {
                "type": "identify",
                "traits": {"email": f"user{user}@example.com", "plan": "team", "firstName": "A"},
                **base,
            }
        else:
            yield {
                "type": "group",
                "groupId": f"org_{user % 300}",
                "traits": {"name": "Org"},
                **base,
            }


def write(count: int, out: BinaryIO, *, seed: int = 1) -> int:
    """Write `count` events as JSON lines; returns bytes written (uncompressed)."""
    total = 0
    for event in events(count, seed=seed):
        line = orjson.dumps(event) + b"\n"
        total += len(line)
        out.write(line)
    return total


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("count", type=int)
    parser.add_argument("-o", "--output", help="file to write (default stdout)")
    parser.add_argument("--gzip", action="store_true")
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    if args.output:
        opener = gzip.open if args.gzip else open
        with opener(args.output, "wb") as handle:
            write(args.count, handle, seed=args.seed)  # type: ignore[arg-type]
    else:
        write(args.count, sys.stdout.buffer, seed=args.seed)


if __name__ == "__main__":
    main()
