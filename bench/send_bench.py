"""Measure a real `cdpcli send` over loopback: 200k events to a local Mixpanel-like sink.

    python bench/send_bench.py                       # 200k events, concurrency 4
    python bench/send_bench.py --events 50000 --concurrency 8
    python bench/send_bench.py --jobs 1                # preparing events in one process

The sink (a threaded HTTP/1.1 server in this process) answers `/import` 200 (and `/engage`,
`/groups` `{"status":1}`), gunzips each body and counts the records. `cdpcli send` runs as a
child process; prints events/s (start-up included), its CPU seconds (workers included) and peak
memory over its process tree (bench/measure.py), the records
the sink counted, and the exact command. Target: >= 40,000 events/s.
"""

from __future__ import annotations

import argparse
import gzip
import os
import shlex
import sys
import tempfile
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import orjson

sys.path.insert(0, str(Path(__file__).resolve().parent))
from generate import write
from measure import run

TARGET = 40_000


class Sink(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.lock = threading.Lock()
        self.records: dict[str, int] = {}
        self.requests = 0
        self.body_bytes = 0


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: Sink

    def log_message(self, format: str, *args: Any) -> None:
        return

    def do_POST(self) -> None:
        raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        data = gzip.decompress(raw) if self.headers.get("Content-Encoding") == "gzip" else raw
        count = len(orjson.loads(data))
        path = self.path.split("?", 1)[0]
        with self.server.lock:
            self.server.records[path] = self.server.records.get(path, 0) + count
            self.server.requests += 1
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
        result = run(argv, env=env)
        sink.shutdown()
    rate = args.events / result.seconds
    print(f"input:      {args.events:,} events, {size / args.events:.0f} bytes/event")
    print(f"command:    {' '.join(f'{k}=…' for k in SECRETS)} {shlex.join(argv)}")
    print(f"exit code:  {result.returncode}")
    print(
        f"sink:       {sink.requests} requests, {sum(sink.records.values()):,} records "
        f"{dict(sorted(sink.records.items()))}, {sink.body_bytes / 1e6:.0f} MB uncompressed"
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
