"""Read throughput of `cdpcli validate` over `s3://` from a loopback S3 server (moto), against the
same files on local disk (issue 18).

    python bench/objstore_bench.py                       # 200k events in 20 gzipped objects
    python bench/objstore_bench.py --events 100000 --objects 10 --rounds 3

Writes a Segment-style archive (`segment-logs/<source>/<day>/<file>.gz`, bench/generate.py
events), uploads it to a moto S3 server started here on 127.0.0.1, and runs
`cdpcli validate PATH --format json -j 1` over the local folder and over `s3://` in turn, a few
rounds, printing each run and the medians: events/s, wall and CPU seconds of cdpcli, its peak
RSS (bench/measure.py), and the CPU seconds the S3 server spent serving the run (it shares the
machine's cores with cdpcli, so the s3:// figure is also what moto costs).
"""

from __future__ import annotations

import argparse
import gzip
import statistics
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))
from generate import write
from measure import run

from tests.objects.servers import Moto, upload_tree

BUCKET = "bench"
REPO = Path(__file__).resolve().parent.parent


def write_archive(root: Path, events: int, objects: int) -> int:
    """`objects` gzipped files of `events / objects` events each; their total size."""
    total = 0
    per = events // objects
    for n in range(objects):
        source = ("Bw9cMvKE2f", "Q7xkPp3LmZ")[n % 2]
        day = 1_714_521_600_000 + (n // 4) * 86_400_000
        path = root / "segment-logs" / source / str(day) / f"{day + n * 1000}.{n:04x}.gz"
        path.parent.mkdir(parents=True, exist_ok=True)
        with gzip.open(path, "wb", compresslevel=6) as out:
            write(per, out, seed=n + 1)  # type: ignore[arg-type]
        total += path.stat().st_size
    return total


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--events", type=int, default=200_000)
    parser.add_argument("--objects", type=int, default=20)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    events = args.events // args.objects * args.objects
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp) / "archive"
        size = write_archive(root, events, args.objects)
        print(f"archive: {events:,} events in {args.objects} objects, {size / 1e6:.1f} MB gzip")
        server = Moto()
        try:
            server.s3.create_bucket(Bucket=BUCKET)
            upload_tree(root, server.put, BUCKET)
            env = server.environ(Path(tmp), PYTHONPATH=str(REPO))  # this checkout's cdpcli
            targets = {
                "local": f"{root / 'segment-logs'}/",
                "s3://": f"s3://{BUCKET}/segment-logs/",
            }
            results: dict[str, list[tuple[float, ...]]] = {}
            for round_number in range(1, args.rounds + 1):
                for name, path in targets.items():
                    cpu_before = server.cpu_seconds()
                    result = run(
                        [sys.executable, "-m", "cdpcli", "validate", path, "-f", "json", "-j", "1"],
                        env=env,
                    )
                    server_cpu = server.cpu_seconds() - cpu_before
                    if result.returncode != 0:
                        raise SystemExit(f"validate {path} exited {result.returncode}")
                    row = (
                        events / result.seconds,
                        events / result.cpu_seconds,
                        result.seconds,
                        result.cpu_seconds,
                        result.peak_rss_mb,
                        server_cpu,
                    )
                    results.setdefault(name, []).append(row)
                    print(f"round {round_number} {_line(name, row)}")
        finally:
            server.stop()
    print("medians:")
    for name, rows in results.items():
        print(
            f"        {_line(name, tuple(statistics.median(c) for c in zip(*rows, strict=True)))}"
        )
    for column, what in ((0, "wall"), (1, "CPU")):
        local, remote = (statistics.median(r[column] for r in results[n]) for n in targets)
        print(f"s3:// reads at {remote / local:.0%} of the local rate ({what})")


def _line(name: str, row: tuple[float, ...]) -> str:
    rate, cpu_rate, wall, cpu, rss, server = row
    return (
        f"{name:6} {rate:>9,.0f} events/s ({cpu_rate:>9,.0f} per CPU s)  wall {wall:5.2f} s  "
        f"cdpcli CPU {cpu:5.2f} s  peak RSS {rss:5.1f} MB  server CPU {server:5.2f} s"
    )


if __name__ == "__main__":
    main()
