"""Measure a real `cdpcli send` over loopback: 200k events to a local Mixpanel-like sink.

    python bench/send_bench.py                       # 200k events, concurrency 4
    python bench/send_bench.py --events 50000 --concurrency 8
    python bench/send_bench.py --jobs 1                # preparing events in one process

The sink (a threaded HTTP/1.1 server in this process) answers `/import` 200 (and `/engage`,
`/groups` `{"status":1}`), gunzips each body and counts its records by a key each record holds
once (one body in ten is parsed in full to check that count). It stands in for Mixpanel's
servers: parsing every body would take seconds of CPU from the cores being measured, so it only
checks a sample, and its threads run at nice 19 (its CPU seconds are printed). `cdpcli send`
runs as a child process; prints events/s (start-up included), its CPU seconds (workers
included), peak memory over its process tree (bench/measure.py), the records the sink counted,
and the exact command. The config removes the Mixpanel destination's default pace
(`max_bytes_per_minute: null`; 1.5 GB a minute would cap this run near 24 MB/s): this measures
cdpcli's own ceiling.
Target: >= 40,000 events/s.
"""

from __future__ import annotations

import argparse
import contextlib
import gzip
import os
import shlex
import sys
import tempfile
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import orjson

sys.path.insert(0, str(Path(__file__).resolve().parent))
from generate import write
from measure import compile_package, run

TARGET = 40_000


# Each record of a body holds its key exactly once (compact JSON: the key's own quotes and colon
# cannot appear inside a string value, where quotes are escaped).
_MARKERS = {"/import": b'"$insert_id":', "/engage": b'"$distinct_id":', "/groups": b'"$group_key":'}
PARSE_EVERY = 10  # one body in 10 is also parsed in full, to check the marker count


class Sink(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.lock = threading.Lock()
        self.records: dict[str, int] = {}
        self.requests = 0
        self.received = 0  # bodies that arrived, numbered as they arrive (for the sample)
        self.body_bytes = 0
        self.miscounts = 0  # parsed bodies whose marker count was wrong (must stay 0)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: Sink

    def log_message(self, format: str, *args: Any) -> None:
        return

    def setup(self) -> None:
        # The sink stands in for Mixpanel's servers, whose CPU is not the sender's: its threads
        # run at the lowest priority so they take the cores only when cdpcli leaves them idle
        # (it still gunzips every body, and parses one in PARSE_EVERY in full).
        with contextlib.suppress(AttributeError, OSError):  # per-thread priority: Linux
            os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), 19)
        super().setup()

    def do_POST(self) -> None:
        raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        data = gzip.decompress(raw) if self.headers.get("Content-Encoding") == "gzip" else raw
        path = self.path.split("?", 1)[0]
        count = data.count(_MARKERS[path])
        with self.server.lock:  # one sequence number per body: a sample of exactly one in N
            sequence = self.server.received
            self.server.received += 1
        miscounted = False
        if sequence % PARSE_EVERY == 0:  # parsing every body would slow the cores measured
            parsed = len(orjson.loads(data))
            miscounted, count = parsed != count, parsed
        with self.server.lock:
            self.server.records[path] = self.server.records.get(path, 0) + count
            self.server.requests += 1
            self.server.miscounts += miscounted
            self.server.body_bytes += len(data)
        if path == "/import":
            body = orjson.dumps({"code": 200, "num_records_imported": count, "status": "OK"})
        else:
            body = b'{"status":1,"error":null}'
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


CONFIG = """\
version: 1
destinations:
  mixpanel:
    kind: mixpanel
    project_id: "12345"
    api_url: {url}
    max_bytes_per_minute: null  # cdpcli's own ceiling, not Mixpanel's default 1.5 GB a minute
routes:
  - name: analytics
    to: mixpanel
"""

SECRETS = {
    "CDPCLI_MIXPANEL_SERVICE_ACCOUNT_USERNAME": "bench-user",
    "CDPCLI_MIXPANEL_SERVICE_ACCOUNT_SECRET": "bench-secret",
    "CDPCLI_MIXPANEL_PROJECT_TOKEN": "bench-token",
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=200_000)
    parser.add_argument("--concurrency", type=int, default=4)
    parser.add_argument("--dry-run", action="store_true", help="pipeline only, no network")
    parser.add_argument("--jobs", type=int, help="cdpcli's --jobs (default: cdpcli's own)")
    args = parser.parse_args()
    sink = Sink()
    thread = threading.Thread(target=sink.serve_forever, daemon=True)
    thread.start()
    with tempfile.TemporaryDirectory() as tmp:
        events = Path(tmp) / "events.jsonl"
        with open(events, "wb") as handle:
            size = write(args.events, handle)
        config = Path(tmp) / "cdpcli.yaml"
        url = f"http://127.0.0.1:{sink.server_address[1]}"
        config.write_text(CONFIG.format(url=url), encoding="utf-8")
        argv = [sys.executable, "-m", "cdpcli", "send", str(events), "-c", str(config)]
        argv += ["--concurrency", str(args.concurrency), "--format", "json", "--quiet"]
        if args.jobs is not None:
            argv += ["--jobs", str(args.jobs)]
        if args.dry_run:
            argv += ["--dry-run", "--output", os.devnull]
        env = {**os.environ, **SECRETS}
        sink_cpu = time.process_time()
        result = run(argv, env=env)
        sink_cpu = time.process_time() - sink_cpu  # this process: the sink (it shares the cores)
        sink.shutdown()
    rate = args.events / result.seconds
    print(f"input:      {args.events:,} events, {size / args.events:.0f} bytes/event")
    print(compile_package())
    print(f"command:    {' '.join(f'{k}=…' for k in SECRETS)} {shlex.join(argv)}")
    print(f"exit code:  {result.returncode}")
    print(
        f"sink:       {sink.requests} requests, {sum(sink.records.values()):,} records "
        f"{dict(sorted(sink.records.items()))}, {sink.body_bytes / 1e6:.0f} MB uncompressed, "
        f"{sink_cpu:.2f} CPU s on the same cores; {sink.miscounts} miscounted bodies of the "
        f"{(sink.requests + PARSE_EVERY - 1) // PARSE_EVERY} parsed in full"
    )
    print(f"wall:       {result.seconds:.2f} s")
    print(f"rate:       {rate:,.0f} events/s (target {TARGET:,})")
    print(f"cpu:        {result.cpu_seconds:.2f} s")
    print(
        f"memory:     {result.processes} processes, peak sum of RSS {result.peak_rss_mb:.1f} MB, "
        f"of PSS {result.peak_pss_mb:.1f} MB"
    )
    if result.returncode != 0:
        raise SystemExit(f"cdpcli send exited {result.returncode}")


if __name__ == "__main__":
    main()
