"""Peak memory and throughput of `validate` and `send --dry-run` on a very large gzipped input.

    python bench/large_input_bench.py                    # ~2 GB uncompressed (~2.8M events)
    python bench/large_input_bench.py --gigabytes 0.2    # a quicker run
    python bench/large_input_bench.py --workdir /data --keep

Streams bench/generate.py's events into a gzipped JSONL file of about `--gigabytes` GB
uncompressed (never holding it in memory), and a second file 1/10 its size. On each it runs, as a
child process measured by bench/measure.py (wall time, peak RSS summed over its process tree; a
gzipped input is read by one process):

    cdpcli validate FILE
    cdpcli send FILE --config <mixpanel-only config> --dry-run --output /dev/null

and prints the exact command, exit code, wall time, events/s and peak RSS. PRODUCT.md §3 asks
for flat memory however large the input: the RSS of the large file should match the small one's.
"""

from __future__ import annotations

import argparse
import gzip
import shlex
import sys
import tempfile
import time
from pathlib import Path

import orjson

sys.path.insert(0, str(Path(__file__).resolve().parent))
from generate import events
from measure import Run, run

CONFIG = """\
version: 1
destinations:
  mixpanel:
    kind: mixpanel
    project_id: "3141592"
    region: us
routes:
  - name: analytics
    to: mixpanel
"""
GB = 1_000_000_000


def write_input(path: Path, target_bytes: int) -> tuple[int, int]:
    """Stream events into gzipped JSONL until `target_bytes` uncompressed; (events, bytes)."""
    written = count = 0
    with gzip.open(path, "wb", compresslevel=1) as handle:
        batch: list[bytes] = []
        for event in events(sys.maxsize):
            line = orjson.dumps(event) + b"\n"
            batch.append(line)
            written += len(line)
            count += 1
            if len(batch) == 10_000:
                handle.write(b"".join(batch))
                batch.clear()
            if written >= target_bytes:
                break
        handle.write(b"".join(batch))
    return count, written


def measure(argv: list[str], events_in: int) -> Run:
    print(f"  $ {shlex.join(argv)}", flush=True)
    result = run(argv)
    print(
        f"    exit {result.returncode}, {result.seconds:,.1f} s wall, "
        f"{events_in / result.seconds:,.0f} events/s, peak RSS {result.peak_rss_mb:,.1f} MB",
        flush=True,
    )
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--gigabytes", type=float, default=2.0, help="uncompressed size (GB)")
    parser.add_argument("--workdir", type=Path, help="where the inputs go (default: a temp dir)")
    parser.add_argument("--keep", action="store_true", help="keep the generated inputs")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(dir=args.workdir) as tmp:
        directory = Path(tmp)
        config = directory / "mixpanel-only.yaml"
        config.write_text(CONFIG, encoding="utf-8")
        cdpcli = [sys.executable, "-m", "cdpcli"]
        results: list[tuple[str, int, Run, Run]] = []
        for label, size in (("small (1/10)", args.gigabytes / 10), ("large", args.gigabytes)):
            path = directory / f"events-{size:g}gb.jsonl.gz"
            started = time.perf_counter()
            count, raw = write_input(path, int(size * GB))
            print(
                f"{label}: {path.name}: {count:,} events, {raw / GB:.2f} GB uncompressed, "
                f"{path.stat().st_size / GB:.2f} GB gzipped (written in "
                f"{time.perf_counter() - started:,.0f} s)",
                flush=True,
            )
            validated = measure([*cdpcli, "validate", str(path)], count)
            sent = measure(
                [
                    *cdpcli,
                    "send",
                    str(path),
                    "--config",
                    str(config),
                    "--dry-run",
                    "--output",
                    "/dev/null",
                ],
                count,
            )
            results.append((label, count, validated, sent))
            if args.keep:
                kept = Path(args.workdir or ".") / path.name
                path.replace(kept)
                print(f"  kept {kept}")
            else:
                path.unlink()
        print("\nsummary")
        for label, count, validated, sent in results:
            print(
                f"  {label:>12}: {count:>10,} events | validate {validated.peak_rss_mb:6.1f} MB "
                f"{count / validated.seconds:>9,.0f} ev/s | send --dry-run "
                f"{sent.peak_rss_mb:6.1f} MB {count / sent.seconds:>9,.0f} ev/s"
            )
        (_, _, small_v, small_s), (_, _, large_v, large_s) = results
        growth_v = large_v.peak_rss_mb / small_v.peak_rss_mb - 1
        growth_s = large_s.peak_rss_mb / small_s.peak_rss_mb - 1
        print(
            f"  RSS growth for 10x input: validate {growth_v:+.1%}, send --dry-run {growth_s:+.1%}"
        )


if __name__ == "__main__":
    main()
