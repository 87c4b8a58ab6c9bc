"""Reading `s3://` and `gs://` archives (PRODUCT.md §3.1) is reading the same files from a local
folder: the same requests, summary, problems and rejected records, byte for byte, with origins
that name the object's URL."""

from __future__ import annotations

from pathlib import Path

import orjson
import pytest

from cdpcli import jsonio
from tests.objects.helpers import BUCKET, PREFIX, Archive, cdpcli, relabel
from tests.objects.servers import FakeGcs, Moto
from tests.paths import REPO

CONFIG = str(REPO / "config.example.yaml")
NOTE = "skipped 1 file that is not an event file (.csv 1)"


@pytest.fixture(params=["s3", "gs"])
def store(
    request: pytest.FixtureRequest, moto: Moto, gcs: FakeGcs, home: Path
) -> tuple[str, dict[str, str]]:
    """(scheme, the environment that reaches its server)."""
    if request.param == "s3":
        return "s3", moto.environ(home)
    return "gs", gcs.environ(home)


def test_a_dry_run_over_a_prefix_is_the_dry_run_of_the_local_copy(
    store: tuple[str, dict[str, str]], archive: Archive
) -> None:
    scheme, env = store
    url = f"{scheme}://{BUCKET}/{PREFIX}/"
    args = ("-c", CONFIG, "--dry-run", "--format", "json")

    remote = cdpcli("send", url, *args, env=env)
    local = cdpcli("send", archive.folder, *args, env=env)

    assert remote.returncode == local.returncode == 1, remote.stderr.decode()  # invalid lines
    assert remote.stdout == local.stdout  # request lines and summary carry no origins
    summary = orjson.loads(remote.stdout.splitlines()[-1])
    assert summary["invalid"] == 2 and summary["events_read"] == 382
    assert f"note: {url}: {NOTE}" in remote.stderr.decode()
    assert f"note: {archive.folder}: {NOTE}" in local.stderr.decode()
    assert b"no such file or directory" not in remote.stderr


def test_validate_and_inspect_name_the_objects_url(
    store: tuple[str, dict[str, str]], archive: Archive
) -> None:
    scheme, env = store
    url = f"{scheme}://{BUCKET}/{PREFIX}/"
    mapping = [(archive.folder, url)]

    for command in (
        ("validate",),
        ("validate", "--format", "json"),
        ("inspect", "--format", "json"),
    ):
        remote = cdpcli(*command, url, env=env)
        local = cdpcli(*command, archive.folder, env=env)
        assert remote.returncode == local.returncode, remote.stderr.decode()
        assert remote.stdout == relabel(local.stdout, mapping)

    report = cdpcli("validate", url, env=env).stdout.decode()
    bad = f"{url}Bw9cMvKE2f/1714521600000/1714528800.c3d4.gz:41: error: not JSON"
    assert bad in report
    assert f"{url}Q7xkPp3LmZ/1714521600000/1714530000.a7b8.gz:1: error: type" in report


def test_the_rejected_file_quotes_the_objects_lines_and_replays(
    store: tuple[str, dict[str, str]], archive: Archive, tmp_path: Path
) -> None:
    scheme, env = store
    url = f"{scheme}://{BUCKET}/{PREFIX}/"
    runs = {}
    for name, source in (("remote", url), ("local", archive.folder)):
        rejected = tmp_path / f"{name}.jsonl"
        run = cdpcli(
            "send", source, "-c", CONFIG, "--dry-run", "--rejected", str(rejected), env=env
        )
        assert run.returncode == 1, run.stderr.decode()
        runs[name] = rejected.read_bytes()
    assert runs["remote"] == relabel(runs["local"], [(archive.folder, url)])
    records = [jsonio.loads(line) for line in runs["remote"].splitlines()]
    assert [r["origin"] for r in records] == [
        f"{url}Bw9cMvKE2f/1714521600000/1714528800.c3d4.gz:41",
        f"{url}Q7xkPp3LmZ/1714521600000/1714530000.a7b8.gz:1",
    ]
    assert records[0]["event"] == '{"type": "track", "userId": "u1"'  # the line, as it was

    replay = cdpcli(
        "send",
        str(tmp_path / "remote.jsonl"),
        "-c",
        CONFIG,
        "--dry-run",
        "--format",
        "json",
        env=env,
    )
    summary = orjson.loads(replay.stdout.splitlines()[-1])
    assert summary["events_read"] == 2 and summary["invalid"] == 2  # still invalid, not lost


def test_explain_names_the_object(store: tuple[str, dict[str, str]]) -> None:
    scheme, env = store
    key = f"{PREFIX}/Q7xkPp3LmZ/1714521600000/extra.jsonl"
    run = cdpcli(
        "send",
        f"{scheme}://{BUCKET}/{key}",
        "-c",
        CONFIG,
        "--dry-run",
        "--explain",
        "--limit",
        "1",
        env=env,
    )
    assert run.returncode == 0, run.stderr.decode()
    assert f"{scheme}://{BUCKET}/{key}:1" in run.stdout.decode()


def test_one_object_is_read_as_a_file_and_a_name_without_slash_as_a_prefix(
    store: tuple[str, dict[str, str]], archive: Archive
) -> None:
    scheme, env = store
    key = f"{PREFIX}/Bw9cMvKE2f/1714608000000/1714611600.e5f6.gz"
    one = cdpcli("validate", f"{scheme}://{BUCKET}/{key}", "--format", "json", env=env)
    assert one.returncode == 0, one.stderr.decode()
    assert orjson.loads(one.stdout.splitlines()[-1])["events_read"] == 90

    folder = cdpcli("validate", f"{scheme}://{BUCKET}/{PREFIX}/Bw9cMvKE2f", "-f", "json", env=env)
    local = cdpcli("validate", str(archive.local / PREFIX / "Bw9cMvKE2f"), "-f", "json", env=env)
    assert folder.returncode == local.returncode == 1
    assert orjson.loads(folder.stdout.splitlines()[-1]) == orjson.loads(
        local.stdout.splitlines()[-1]
    )


def test_objects_and_local_files_and_stdin_mix(
    store: tuple[str, dict[str, str]], archive: Archive
) -> None:
    scheme, env = store
    key = f"{PREFIX}/Q7xkPp3LmZ/1714521600000/extra.jsonl"
    local = archive.local / key
    args = ("validate", str(local), f"{scheme}://{BUCKET}/{key}", "-", "--format", "json")
    run = cdpcli(*args, env=env, stdin=local.read_bytes())
    assert run.returncode == 0, run.stderr.decode()
    assert orjson.loads(run.stdout.splitlines()[-1])["events_read"] == 90


def test_a_prefix_without_event_files_is_exit_4_naming_what_it_skipped(
    moto: Moto, home: Path
) -> None:
    moto.put(BUCKET, "exports/2024/users.parquet", b"PAR1")
    moto.put(BUCKET, "exports/2024/users.csv", b"a,b\n")
    moto.put(BUCKET, "exports/2024/orders.csv", b"a,b\n")
    run = cdpcli(
        "send", f"s3://{BUCKET}/exports/", "-c", CONFIG, "--dry-run", env=moto.environ(home)
    )
    assert run.returncode == 4
    assert (
        f"s3://{BUCKET}/exports/: prefix holds no event files (skipped 3 files that are not "
        "event files (.csv 2, .parquet 1))"
    ) in run.stderr.decode()
