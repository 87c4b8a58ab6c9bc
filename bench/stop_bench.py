"""Seconds from a stop signal to the exit of `cdpcli send` against a server that never answers.

    python bench/stop_bench.py                  # this checkout, 3 runs of each case
    python bench/stop_bench.py --repo /work/main --repeat 1

A silent server (in this process, on 127.0.0.1) accepts connections, reads every request and
never answers. `cdpcli send` (the checkout of `--repo`, as a child process) sends 5,000 events to
it as Mixpanel and Lago, with `--checkpoint`; once requests are in flight (the server read one and
half a second more went by), it gets SIGINT, SIGTERM, or SIGINT twice 0.2 s apart. Printed per
case: the seconds from the (first) signal to the exit, the exit code, and whether the JSON
summary was printed. Target (PRODUCT.md §6.1 "Deadlines"): under 2 s, exit 130, summary printed.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from generate import write

EVENTS = 5000
SECRETS = {
    "CDPCLI_MIXPANEL_SERVICE_ACCOUNT_USERNAME": "sa-user",
    "CDPCLI_MIXPANEL_SERVICE_ACCOUNT_SECRET": "sa-secret",
    "CDPCLI_MIXPANEL_PROJECT_TOKEN": "token",
    "CDPCLI_BILLING_API_KEY": "lago-key",
}
CASES = {
    "SIGINT": (signal.SIGINT,),
    "SIGTERM": (signal.SIGTERM,),
    "SIGINT twice": (signal.SIGINT, signal.SIGINT),
}


class Silent:
    """Accepts, reads, never answers; closes everything on `stop`."""

    def __init__(self) -> None:
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.listener.settimeout(0.05)
        self.requests = 0
        self.stopping = threading.Event()
        self.conns: list[socket.socket] = []
        self.thread = threading.Thread(target=self._accept, daemon=True)
        self.thread.start()

    @property
    def port(self) -> int:
        return int(self.listener.getsockname()[1])

    def _accept(self) -> None:
        while not self.stopping.is_set():
            try:
                conn, _ = self.listener.accept()
            except TimeoutError:
                continue
            self.conns.append(conn)
            threading.Thread(target=self._read, args=(conn,), daemon=True).start()

    def _read(self, conn: socket.socket) -> None:
        with contextlib.suppress(OSError):
            if conn.recv(65536):
                self.requests += 1
            while conn.recv(65536):
                pass

    def stop(self) -> None:
        self.stopping.set()
        for conn in self.conns:
            with contextlib.suppress(OSError):
                conn.shutdown(socket.SHUT_RDWR)
                conn.close()
        self.listener.close()


def once(repo: Path, directory: Path, events: Path, signals: tuple[int, ...]) -> str:
    server = Silent()
    try:
        config = directory / "cdpcli.yaml"
        url = f"http://127.0.0.1:{server.port}"
        config.write_text(
            "version: 1\ndestinations:\n"
            f"  mixpanel: {{kind: mixpanel, project_id: '1', api_url: '{url}'}}\n"
            f"  billing: {{kind: lago, api_url: '{url}'}}\n"
            "routes:\n  - {name: analytics, to: mixpanel}\n"
            "  - {name: usage, to: billing, when: {type: track}}\n"
        )
        checkpoint = directory / "run.checkpoint"
        checkpoint.unlink(missing_ok=True)
        argv = [sys.executable, "-m", "cdpcli", "send", str(events), "-c", str(config)]
        argv += ["--checkpoint", str(checkpoint), "--format", "json", "--quiet"]
        env = {**os.environ, **SECRETS, "PYTHONPATH": str(repo)}
        process = subprocess.Popen(
            argv, cwd=repo, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE
        )
        deadline = time.monotonic() + 60
        while server.requests == 0 and time.monotonic() < deadline and process.poll() is None:
            time.sleep(0.01)
        time.sleep(0.5)
        started = time.monotonic()
        for index, signum in enumerate(signals):
            if index:
                time.sleep(0.2)
            if process.poll() is None:
                process.send_signal(signum)
        try:
            out, _err = process.communicate(timeout=300)
        except subprocess.TimeoutExpired:
            process.kill()
            out, _err = process.communicate()
        seconds = time.monotonic() - started
        summary = b'"kind":"summary"' in out
        return f"{seconds:6.2f} s  exit {process.returncode}  summary {'yes' if summary else 'no'}"
    finally:
        server.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--repo", type=Path, default=Path(__file__).resolve().parent.parent)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        directory = Path(tmp)
        events = directory / "events.jsonl"
        with open(events, "wb") as handle:
            write(EVENTS, handle)
        print(f"repo {args.repo}; {EVENTS:,} events; a server that never answers")
        for name, signals in CASES.items():
            for _ in range(args.repeat):
                print(f"  {name:13} {once(args.repo.resolve(), directory, events, signals)}")
    print(f"command: python bench/stop_bench.py --repo {args.repo} --repeat {args.repeat}")


if __name__ == "__main__":
    main()
