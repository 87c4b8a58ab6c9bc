"""Measure `cdpcli validate` against the raw JSON parse rate of the same file (issue 2).

    python bench/validate_bench.py            # 200k events, then 2M for the RSS comparison
    python bench/validate_bench.py --events 200000 --large 0

Prints events/s of the raw parse (each line parsed with orjson, nothing else), events/s of
`cdpcli validate FILE --format json > /dev/null` (a child process, start-up included), their ratio,
and the peak memory of validate's process tree (sum of RSS, and of PSS, over it and its `--jobs`
workers; bench/measure.py) at both sizes. Targets: ratio >= 40 %, RSS < 80 MB, flat (±10 %).
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import orjson

sys.path.insert(0, str(Path(__file__).resolve().parent))
from generate import write
from measure import run


def raw_parse_rate(path: Path) -> float:
    loads = orjson.loads
    count = 0
    start = time.perf_counter()
    with open(path, "rb") as handle:
        for line in handle:
            loads(line)
            count += 1
    return count / (time.perf_counter() - start)


def validate(path: Path, events: int) -> tuple[float, float, float]:
    """events/s, and peak memory over the process tree: sum of RSS, sum of PSS (MB)."""
    result = run([sys.executable, "-m", "cdpcli", "validate", str(path), "--format", "json"])
    if result.returncode != 0:
        raise SystemExit(f"validate exited {result.returncode}")
    return events / result.seconds, result.peak_rss_mb, result.peak_pss_mb


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--events", type=int, default=200_000)
    parser.add_argument("--large", type=int, default=2_000_000, help="0 skips the RSS run")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "events.jsonl"
        with open(path, "wb") as handle:
            size = write(args.events, handle)
        print(f"input: {args.events:,} events, {size / args.events:.0f} bytes/event")
        raw = raw_parse_rate(path)
        rate, rss, pss = validate(path, args.events)
        print(f"raw orjson parse:   {raw:>12,.0f} events/s")
        print(f"cdpcli validate:    {rate:>12,.0f} events/s  ({rate / raw:.0%} of raw parse)")
        print(f"peak memory at {args.events:,}: sum of RSS {rss:.1f} MB, of PSS {pss:.1f} MB")
        if args.large:
            big = Path(tmp) / "large.jsonl"
            with open(big, "wb") as handle:
                write(args.large, handle)
            path.unlink()
            large_rate, large_rss, large_pss = validate(big, args.large)
            print(
                f"peak memory at {args.large:,}: sum of RSS {large_rss:.1f} MB "
                f"({(large_rss / rss - 1):+.1%}), of PSS {large_pss:.1f} MB "
                f"({(large_pss / pss - 1):+.1%}); {large_rate:,.0f} events/s"
            )


if __name__ == "__main__":
    main()
