"""Measure `cdpcli send` against a loopback sink that enforces a rolling quota, as Mixpanel does
(reference/mixpanel.md §1.3: uncompressed JSON bytes per rolling minute), with a static limit
equal to the quota and with the adaptive pace alone (PRODUCT.md §6.1).

    python bench/quota_bench.py                          # 200k events, 60 MB a rolling minute
    python bench/quota_bench.py --modes static           # one mode only
    python bench/quota_bench.py --events 50000 --quota-mb 15

The scale: Mixpanel's quota is 2 GB a minute per project; this one is 60 MB a minute, the same
rolling 60 s window at 1/33 of the rate, so 200k events (about 136 MB of /import bodies) take
the quota 2.3 minutes. Requests are not scaled (2000 events, about 1.5 MB, a request): one
request is 2.5 % of this quota against 0.07 % of Mixpanel's, which makes the static pace's margin
harder to keep here than there. The quota's minimum is the total bytes accepted / the quota's
rate: a sender at exactly the quota's rate from the first byte finishes then.

The sink (a threaded HTTP/1.1 server in this process, its threads at nice 19) gunzips each body,
answers 429 with `Retry-After` (whole seconds until the request would fit) when the body would
take the bytes accepted in the last 60 s past the quota, and otherwise parses it and counts its
records by `$insert_id` (so a record stored twice or never shows). `cdpcli send` runs as a
child process (bench/measure.py): the config routes track, page and screen to one Mixpanel
destination, with `max_bytes_per_minute` equal to the quota (`static`) or `null` (`adaptive`).
Targets: static within 1.10x the quota's minimum, under 1 % of requests answered 429; the same
two figures are reported for the adaptive pace alone.
"""

from __future__ import annotations

import argparse
import contextlib
import gzip
import math
import os
import shlex
import sys
import tempfile
import threading
import time
from collections import deque
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import orjson

sys.path.insert(0, str(Path(__file__).resolve().parent))
from generate import write
from measure import compile_package, run

WINDOW = 60.0
REPO = Path(__file__).resolve().parents[1]  # the cdpcli measured: this checkout's


class QuotaSink(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, quota: int) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.quota = quota
        self.lock = threading.Lock()
        self.spent: deque[tuple[float, int]] = deque()  # (arrival, bytes) in the window
        self.spent_bytes = 0
        self.accepted: list[tuple[float, int]] = []  # (arrival, bytes) of every accepted body
        self.requests = 0
        self.throttled = 0
        self.refused: list[float] = []  # arrivals answered 429
        self.ids: dict[str, int] = {}  # $insert_id -> times stored

    def admit(self, size: int) -> int | None:
        """None if the body fits the rolling quota (then counted), else seconds to wait."""
        now = time.monotonic()
        with self.lock:
            self.requests += 1
            while self.spent and self.spent[0][0] <= now - WINDOW:
                self.spent_bytes -= self.spent.popleft()[1]
            if self.spent_bytes + size <= self.quota:
                self.spent.append((now, size))
                self.spent_bytes += size
                self.accepted.append((now, size))
                return None
            self.throttled += 1
            self.refused.append(now)
            freed, until = 0, now + WINDOW
            for moment, taken in self.spent:
                freed += taken
                if self.spent_bytes - freed + size <= self.quota:
                    until = moment + WINDOW
                    break
            return max(1, math.ceil(until - now))


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: QuotaSink

    def log_message(self, format: str, *args: Any) -> None:
        return

    def setup(self) -> None:
        with contextlib.suppress(AttributeError, OSError):  # the sender's cores are measured
            os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), 19)
        super().setup()

    def do_POST(self) -> None:
        raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        data = gzip.decompress(raw) if self.headers.get("Content-Encoding") == "gzip" else raw
        wait = self.server.admit(len(data))
        if wait is not None:
            body = b'{"code":429,"error":"Project exceeded rate limits. Please retry."}'
            self._answer(429, body, {"Retry-After": str(wait)})
            return
        records = orjson.loads(data)
        with self.server.lock:
            for record in records:
                key = record["properties"]["$insert_id"]
                self.server.ids[key] = self.server.ids.get(key, 0) + 1
        body = orjson.dumps({"code": 200, "num_records_imported": len(records), "status": "OK"})
        self._answer(200, body, {})

    def _answer(self, status: int, body: bytes, headers: dict[str, str]) -> None:
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        for name, value in headers.items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(body)


CONFIG = """\
version: 1
destinations:
  mixpanel:
    kind: mixpanel
    project_id: "12345"
    api_url: {url}
    max_bytes_per_minute: {limit}
routes:
  - name: analytics
    to: mixpanel
    when: {{type: [track, page, screen]}}
"""

SECRETS = {
    "CDPCLI_MIXPANEL_SERVICE_ACCOUNT_USERNAME": "bench-user",
    "CDPCLI_MIXPANEL_SERVICE_ACCOUNT_SECRET": "bench-secret",
}


def measure(  # noqa: PLR0917 - one call per mode
    mode: str, events: Path, quota: int, concurrency: int, tmp: Path, timeline: bool
) -> None:
    sink = QuotaSink(quota)
    thread = threading.Thread(target=sink.serve_forever, daemon=True)
    thread.start()
    config = tmp / f"{mode}.yaml"
    url = f"http://127.0.0.1:{sink.server_address[1]}"
    limit = quota if mode == "static" else "null"
    config.write_text(CONFIG.format(url=url, limit=limit), encoding="utf-8")
    summary = tmp / f"{mode}.json"
    argv = [sys.executable, "-m", "cdpcli", "send", str(events), "-c", str(config)]
    argv += ["--concurrency", str(concurrency), "--format", "json", "--quiet"]
    env = {**os.environ, **SECRETS, "PYTHONPATH": str(REPO)}
    with summary.open("wb") as out:
        result = run(argv, env=env, cwd=REPO, stdout=out.fileno())
    sink.shutdown()
    total = sum(size for _, size in sink.accepted)
    minimum = total / (quota / WINDOW)
    first, last = sink.accepted[0][0], sink.accepted[-1][0]
    stored = sum(sink.ids.values())
    twice = sum(1 for count in sink.ids.values() if count > 1)
    counts = orjson.loads(summary.read_bytes().splitlines()[-1])
    print(f"--- {mode}: max_bytes_per_minute: {limit}")
    print(f"command:    {' '.join(f'{k}=…' for k in SECRETS)} {shlex.join(argv)}")
    print(f"exit code:  {result.returncode}")
    print(
        f"sink:       {sink.requests} requests, {sink.throttled} answered 429 "
        f"({100 * sink.throttled / max(sink.requests, 1):.1f} %); {stored:,} records stored, "
        f"{len(sink.ids):,} distinct, {twice} stored twice; {total / 1e6:.1f} MB accepted"
    )
    print(
        f"summary:    delivered {counts['delivered']:,}, duplicates {counts['duplicates']:,}, "
        f"retries {counts['retries']}, throttled {counts['throttled']}"
    )
    print(
        f"time:       {result.seconds:.1f} s wall (first to last accepted body "
        f"{last - first:.1f} s); quota's minimum {minimum:.1f} s: "
        f"{result.seconds / minimum:.3f}x"
    )
    print(f"cpu:        {result.cpu_seconds:.1f} s; peak RSS {result.peak_rss_mb:.0f} MB")
    if timeline:  # MB accepted in each 5 s from the first body, and the 429s
        buckets: dict[int, float] = {}
        for moment, size in sink.accepted:
            slot = int((moment - first) // 5)
            buckets[slot] = buckets.get(slot, 0.0) + size / 1e6
        refused = [round(moment - first, 1) for moment in sink.refused]
        print("accepted:   " + ", ".join(f"{5 * k}s {v:.1f}" for k, v in sorted(buckets.items())))
        print(f"429s at:    {refused} s")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=200_000)
    parser.add_argument("--quota-mb", type=float, default=60.0, help="MB (10^6) a minute")
    parser.add_argument("--concurrency", type=int, default=4)
    parser.add_argument("--modes", default="static,adaptive")
    parser.add_argument("--timeline", action="store_true", help="MB accepted per 5 s, 429s")
    args = parser.parse_args()
    quota = int(args.quota_mb * 1e6)
    print(compile_package())
    print(f"cdpcli:     {REPO}")
    with tempfile.TemporaryDirectory() as name:
        tmp = Path(name)
        events = tmp / "events.jsonl"
        with events.open("wb") as handle:
            size = write(args.events, handle)
        print(f"input:      {args.events:,} events, {size / args.events:.0f} bytes/event")
        print(f"quota:      {quota:,} bytes per rolling {WINDOW:.0f} s")
        for mode in args.modes.split(","):
            measure(mode, events, quota, args.concurrency, tmp, args.timeline)


if __name__ == "__main__":
    main()
