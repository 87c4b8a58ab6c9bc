"""Objects are streamed: a 50 MB object is read with flat memory (PRODUCT.md §3.1); and with
`--jobs`, objects are read by the command's own process while workers take the large local
files (the object-store client is not fork-safe), with the same output as one process."""

from __future__ import annotations

import base64
import gzip
import io
import random
from pathlib import Path

import orjson
import pytest

from bench.generate import write as write_events
from tests.objects.helpers import BUCKET, PREFIX, cdpcli, python
from tests.objects.servers import Moto
from tests.paths import REPO

CONFIG = str(REPO / "config.example.yaml")

# Peak RSS of the one child process it runs (RUSAGE_CHILDREN of a fresh parent).
PEAK_RSS = """
import resource, subprocess, sys
done = subprocess.run([sys.executable, "-m", "cdpcli", *sys.argv[1:]], capture_output=True)
print(done.returncode, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss // 1024)
sys.stdout.write(done.stdout.decode().splitlines()[-1] + "\\n")
"""


def big_object() -> tuple[bytes, int]:
    """About 50 MB of gzip (events with an incompressible blob each), and its event count."""
    rng = random.Random(5)
    buffer = io.BytesIO()
    count = 0
    with gzip.GzipFile(fileobj=buffer, mode="wb", compresslevel=1, mtime=0) as out:
        while buffer.tell() < 50 * 1024 * 1024:
            blob = base64.b64encode(rng.randbytes(2400)).decode()
            event = {
                "type": "track",
                "event": "Blob Stored",
                "userId": f"u{count % 97}",
                "messageId": f"m-{count}",
                "timestamp": "2024-05-01T00:00:00Z",
                "properties": {"blob": blob},
            }
            out.write(orjson.dumps(event) + b"\n")
            count += 1
    return buffer.getvalue(), count


def test_a_50_mb_object_streams_with_flat_memory(moto: Moto, home: Path) -> None:
    body, count = big_object()
    assert len(body) >= 50 * 1024 * 1024
    moto.s3.upload_fileobj(io.BytesIO(body), BUCKET, "large/blobs.gz")  # a multipart object
    done = python(
        PEAK_RSS,
        "validate",
        f"s3://{BUCKET}/large/blobs.gz",
        "-f",
        "json",
        env=moto.environ(home),
        timeout=120,
    )
    code, peak_mb = map(int, done.stdout.splitlines()[0].split())
    assert code == 0, done.stderr.decode()
    assert orjson.loads(done.stdout.splitlines()[1])["events_read"] == count
    assert peak_mb < 150, f"peak RSS {peak_mb} MB reading a {len(body) >> 20} MB object"


@pytest.fixture(scope="module")
def large_local(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A plain JSON-lines file large enough for --jobs workers (over 8 MiB)."""
    path = tmp_path_factory.mktemp("large") / "events.jsonl"
    with open(path, "wb") as out:
        write_events(13_000, out, seed=3)
    assert path.stat().st_size > 8 * 1024 * 1024
    return path


def test_send_jobs_2_mixing_objects_and_a_large_local_file(
    moto: Moto, home: Path, large_local: Path
) -> None:
    url = f"s3://{BUCKET}/{PREFIX}/"
    key = f"s3://{BUCKET}/{PREFIX}/Q7xkPp3LmZ/1714521600000/extra.jsonl"
    args = ("send", url, str(large_local), key, "-c", CONFIG, "--dry-run", "-f", "json")
    env = moto.environ(home)
    one = cdpcli(*args, "-j", "1", env=env, timeout=120)
    two = cdpcli(*args, "-j", "2", env=env, timeout=120)
    assert one.returncode == two.returncode == 1, two.stderr.decode()
    assert two.stdout == one.stdout
    assert orjson.loads(two.stdout.splitlines()[-1])["events_read"] == 382 + 13_000 + 30


def test_validate_jobs_2_mixing_objects_and_a_large_local_file(
    moto: Moto, home: Path, large_local: Path
) -> None:
    first = f"s3://{BUCKET}/{PREFIX}/Bw9cMvKE2f/"
    last = f"s3://{BUCKET}/{PREFIX}/Q7xkPp3LmZ/"
    args = ("validate", first, str(large_local), last, str(large_local), "-f", "json")
    env = moto.environ(home)
    one = cdpcli(*args, "-j", "1", env=env, timeout=120)
    two = cdpcli(*args, "-j", "2", env=env, timeout=120)
    assert one.returncode == two.returncode == 1, two.stderr.decode()
    assert two.stdout == one.stdout
    assert orjson.loads(two.stdout.splitlines()[-1])["events_read"] == 291 + 2 * 13_000 + 91
