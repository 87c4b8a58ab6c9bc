"""The archive the object-storage tests read (Segment-style: `segment-logs/<source-id>/<day-ms>/
<file>.gz`, gzipped JSON lines, a plain `.jsonl`, a `.csv` that is not an event file), and the
runs of `cdpcli` in child processes (the client library never runs in the test process: its
forks and workers stay as in production)."""

from __future__ import annotations

import gzip
import io
import subprocess
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson

from bench.generate import events
from tests.paths import REPO

BUCKET = "archive"
PREFIX = "segment-logs"
INVALID_LINES = [b'{"type": "track", "userId": "u1"', b'{"type": "nope", "userId": "u2"}']


@dataclass(frozen=True)
class Archive:
    local: Path  # the folder holding `segment-logs/`
    keys: tuple[str, ...]  # every object's key, the folder marker aside

    @property
    def folder(self) -> str:
        return f"{self.local / PREFIX}/"


def gzipped(data: bytes) -> bytes:
    buffer = io.BytesIO()
    with gzip.GzipFile(fileobj=buffer, mode="wb", mtime=0) as handle:
        handle.write(data)
    return buffer.getvalue()


def lines(count: int, seed: int) -> bytes:
    return b"".join(orjson.dumps(event) + b"\n" for event in events(count, seed=seed))


def write_archive(root: Path) -> tuple[str, ...]:
    """The archive's files under `root`; their keys."""
    files = {
        f"{PREFIX}/Bw9cMvKE2f/1714521600000/1714525200.a1b2.gz": gzipped(lines(120, 1)),
        f"{PREFIX}/Bw9cMvKE2f/1714521600000/1714528800.c3d4.gz": gzipped(
            lines(40, 2) + INVALID_LINES[0] + b"\n" + lines(40, 3)
        ),
        f"{PREFIX}/Bw9cMvKE2f/1714608000000/1714611600.e5f6.gz": gzipped(lines(90, 4)),
        f"{PREFIX}/Q7xkPp3LmZ/1714521600000/1714530000.a7b8.gz": gzipped(
            INVALID_LINES[1] + b"\n" + lines(60, 5)
        ),
        f"{PREFIX}/Q7xkPp3LmZ/1714521600000/extra.jsonl": lines(30, 6),
        f"{PREFIX}/manifest.csv": b"source,day,file\nBw9cMvKE2f,1714521600000,x.gz\n",
    }
    for key, body in files.items():
        path = root / key
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(body)
    return tuple(sorted(files))


def cdpcli(
    *args: str, env: Mapping[str, str], timeout: float = 60, stdin: bytes | None = None
) -> subprocess.CompletedProcess[bytes]:
    """`python -m cdpcli ARGS` in a child process (the client library never runs in the test
    process: its workers and forks stay as in production)."""
    return subprocess.run(
        [sys.executable, "-m", "cdpcli", *args],
        cwd=REPO,
        env=dict(env),
        input=stdin,
        stdin=None if stdin is not None else subprocess.DEVNULL,
        capture_output=True,
        timeout=timeout,
        check=False,
    )


def python(
    code: str, *args: str, env: Mapping[str, str], timeout: float = 60
) -> subprocess.CompletedProcess[bytes]:
    """`python -c CODE ARGS` in a child process, from the repository."""
    return subprocess.run(
        [sys.executable, "-c", code, *args],
        cwd=REPO,
        env=dict(env),
        capture_output=True,
        timeout=timeout,
        check=False,
    )


def relabel(text: bytes, pairs: Sequence[tuple[str, str]]) -> bytes:
    for old, new in pairs:
        text = text.replace(old.encode(), new.encode())
    return text


# Reads PATHs through the library with a retry policy of N attempts and millisecond waits
# (injected: production code has no test knob), waiting for a line on stdin between the listing
# and the reading when asked; prints the outcome as JSON.
READ_WITH_POLICY = """
import hashlib, json, sys
from cdpcli.errors import CdpError
from cdpcli.events.objects import ObjectStores
from cdpcli.events.reader import find_inputs, read_inputs
from cdpcli.jsonio import dumps_bytes
from cdpcli.retry import RetryPolicy
attempts, pause, paths = int(sys.argv[1]), sys.argv[2] == "pause", sys.argv[3:]
stores = ObjectStores(retry=RetryPolicy(max_attempts=attempts, base=0.001, cap=0.002))
try:
    found = find_inputs(paths, objects=stores)
    if pause:
        print("listed", flush=True)
        sys.stdin.readline()
    digest, count = hashlib.sha256(), 0
    for item in read_inputs(found.files):
        count += 1
        digest.update(str(item.origin).encode() + dumps_bytes(getattr(item, "data", None)))
    print(json.dumps({"items": count, "digest": digest.hexdigest()}))
except CdpError as error:
    print(json.dumps({"exit": int(error.exit_code), "message": error.message, "hint": error.hint}))
"""


def read_with_policy(
    attempts: int, *paths: str, env: Mapping[str, str], timeout: float = 60
) -> dict[str, Any]:
    """The outcome of reading `paths` with `attempts` attempts per request (READ_WITH_POLICY)."""
    done = python(READ_WITH_POLICY, str(attempts), "go", *paths, env=env, timeout=timeout)
    assert done.returncode == 0, done.stderr.decode()
    result: dict[str, Any] = orjson.loads(done.stdout.splitlines()[-1])
    return result
