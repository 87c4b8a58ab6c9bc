"""Real sends from `s3://` to the Mixpanel and Lago fakes (PRODUCT.md §3.1, §6): a run killed
mid-way resumes from its checkpoint and delivers every event once; an object overwritten between
the run and the resume is refused like a changed config; rejected lines are kept from the first
read and replay."""

from __future__ import annotations

import gzip
import signal
import subprocess
import sys
import time
from collections.abc import Mapping
from pathlib import Path

import orjson
import pytest

from cdpcli import jsonio
from tests.fakes import FakeLago, FakeMixpanel
from tests.fakes.sends import SECRETS, check_accounting, write_config
from tests.objects.helpers import cdpcli, gzipped, lines
from tests.objects.servers import Moto
from tests.paths import REPO

BUCKET = "sends"
KEYS = [f"segment-logs/src/1714521600000/part-{n}.gz" for n in range(3)]


@pytest.fixture(scope="module")
def sends(moto: Moto) -> dict[str, bytes]:
    """Three objects of 6000 events each."""
    moto.s3.create_bucket(Bucket=BUCKET)
    bodies = {key: gzipped(lines(6000, 20 + n)) for n, key in enumerate(KEYS)}
    for key, body in bodies.items():
        moto.put(BUCKET, key, body)
    return bodies


def spawn(args: list[str], env: Mapping[str, str]) -> subprocess.Popen[bytes]:
    argv = [sys.executable, "-m", "cdpcli", "send", *args, "--format", "json", "--quiet"]
    return subprocess.Popen(
        argv, cwd=REPO, env=dict(env), stdout=subprocess.PIPE, stderr=subprocess.PIPE
    )


def test_a_killed_send_from_s3_resumes_and_an_overwritten_object_is_refused(
    moto: Moto, sends: dict[str, bytes], home: Path, tmp_path: Path
) -> None:
    url = f"s3://{BUCKET}/segment-logs/"
    checkpoint = tmp_path / "run.ckpt"
    env = moto.environ(home, **SECRETS)
    with FakeMixpanel() as mixpanel, FakeLago() as lago:
        config = write_config(tmp_path, mixpanel, lago)
        args = [url, "-c", str(config), "--checkpoint", str(checkpoint)]
        process = spawn(args, env)
        deadline = time.monotonic() + 60
        # Killed once a checkpoint holds acknowledged work (it is saved every second).
        while not (checkpoint.exists() and _settled(checkpoint) > 0):
            assert process.poll() is None, process.communicate()[1].decode()
            assert time.monotonic() < deadline
            time.sleep(0.01)
        process.kill()
        process.communicate()
        assert process.returncode == -signal.SIGKILL
        saved = orjson.loads(checkpoint.read_bytes())
        assert set(saved["objects"]) <= {f"s3://{BUCKET}/{key}" for key in KEYS}
        first = saved["objects"][f"s3://{BUCKET}/{KEYS[0]}"]
        assert first["size"] == len(sends[KEYS[0]]) and first["etag"]

        # Overwritten since: refused before anything is sent, naming the object.
        moto.put(BUCKET, KEYS[0], gzipped(lines(10, 99)))
        before = len(mixpanel.requests), len(lago.requests)
        refused = cdpcli("send", *args, env=env)
        assert refused.returncode == 2, refused.stderr.decode()
        assert f"s3://{BUCKET}/{KEYS[0]}: the object changed since the checkpoint" in (
            refused.stderr.decode()
        )
        assert (len(mixpanel.requests), len(lago.requests)) == before

        # Put back as it was (the same bytes: the same ETag), the run resumes.
        moto.put(BUCKET, KEYS[0], sends[KEYS[0]])
        process = spawn(args, env)
        out, err = process.communicate(timeout=120)
        assert process.returncode == 0, err.decode()
        summary = jsonio.loads(out.splitlines()[-1])
        check_accounting(summary)
        assert 0 < summary["resumed"] < summary["events_read"] == 18_000
        events = [orjson.loads(line) for key in KEYS for line in gzip_lines(sends[key])]
        tracks = {e["messageId"] for e in events if e["type"] == "track"}
        stored = lago.transaction_ids()
        assert len(stored) == len(set(stored)) and set(stored) == tracks
        imports = {e["messageId"] for e in events if e["type"] in ("track", "page")}
        assert len(mixpanel.unique_events()) == len(imports)


def gzip_lines(body: bytes) -> list[bytes]:
    return gzip.decompress(body).splitlines()


def _settled(checkpoint: Path) -> int:
    try:
        return sum(orjson.loads(checkpoint.read_bytes())["inputs"].values())
    except (OSError, orjson.JSONDecodeError):
        return 0


def test_rejected_lines_from_an_object_are_kept_from_the_first_read_and_replay(
    moto: Moto, sends: dict[str, bytes], home: Path, tmp_path: Path
) -> None:
    key = "rejects/1714521600000/part.gz"
    url = f"s3://{BUCKET}/{key}"
    body = lines(40, 31)
    moto.put(BUCKET, key, gzipped(body))
    env = moto.environ(home, **SECRETS)
    with FakeMixpanel() as mixpanel, FakeLago() as lago:
        config = write_config(tmp_path, mixpanel, lago)
        dry = cdpcli("send", url, "-c", str(config), "--dry-run", env=env)
        imports = [
            item
            for request in map(orjson.loads, dry.stdout.splitlines())
            if request["url"].startswith(f"{mixpanel.url}/import")
            for item in request["body"]
        ]
        mixpanel.poison.update(item["properties"]["$insert_id"] for item in imports[:3])
        rejected = tmp_path / "rejected.jsonl"
        args = ("-c", str(config), "--format", "json")
        run = cdpcli("send", url, *args, "--rejected", str(rejected), env=env)
        assert run.returncode == 1, run.stderr.decode()
        text = rejected.read_bytes()
        records = [orjson.loads(line) for line in text.splitlines()]
        assert len(records) == 3
        for record in records:
            line = int(record["origin"].removeprefix(f"{url}:"))
            original = body.splitlines()[line - 1]
            assert b'"event":' + original + b"}" in text  # the line itself, as it was read
            assert record["event"] == orjson.loads(original)

        mixpanel.poison.clear()
        replay = cdpcli("send", str(rejected), *args, env=env)
        assert replay.returncode == 0, replay.stderr.decode()
        summary = orjson.loads(replay.stdout.splitlines()[-1])
        assert summary["delivered"] == summary["events_read"] == 3
