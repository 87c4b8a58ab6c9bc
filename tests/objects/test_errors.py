"""What goes wrong with object storage, and the exit code it gets (PRODUCT.md §3.1): no such
bucket or key (4), refused or missing credentials (5, naming the variables), a server that drops
connections (retried with the deliveries' backoff, then 4), an object that changes while it is
read (4); a read cut mid-body resumes where it stopped."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import orjson
import pytest

from tests.fakes import FakeLago, FakeMixpanel
from tests.fakes.sends import SECRETS, write_config
from tests.objects.helpers import (
    BUCKET,
    PREFIX,
    READ_WITH_POLICY,
    cdpcli,
    gzipped,
    lines,
    read_with_policy,
)
from tests.objects.servers import REGION, FakeGcs, Moto, clean_environ, dropping_proxy
from tests.paths import REPO

CONFIG = str(REPO / "config.example.yaml")
BIG_KEY = "big/events.jsonl"  # about 3 MB: three chunks of 1 MiB


@pytest.fixture(scope="module")
def big(moto: Moto, gcs: FakeGcs) -> bytes:
    body = lines(4500, 9)
    moto.put(BUCKET, BIG_KEY, body)
    gcs.put(BUCKET, BIG_KEY, body)
    return body


# --- nothing there -------------------------------------------------------------------------------


def test_no_such_bucket_is_exit_4(moto: Moto, home: Path) -> None:
    run = cdpcli(
        "send",
        "s3://no-such-bucket/segment-logs/",
        "-c",
        CONFIG,
        "--dry-run",
        env=moto.environ(home),
    )
    assert run.returncode == 4
    err = run.stderr.decode()
    assert "s3://no-such-bucket/segment-logs/: no such bucket: no-such-bucket" in err
    assert "no such file or directory" not in err


@pytest.mark.parametrize("scheme", ["s3", "gs"])
def test_no_such_key_or_prefix_is_exit_4(scheme: str, moto: Moto, gcs: FakeGcs, home: Path) -> None:
    env = moto.environ(home) if scheme == "s3" else gcs.environ(home)
    for url, message in (
        (f"{scheme}://{BUCKET}/{PREFIX}/nope.gz", "no such object or prefix"),
        (f"{scheme}://{BUCKET}/nothing/", "no such prefix"),
    ):
        run = cdpcli("validate", url, env=env)
        assert run.returncode == 4, run.stderr.decode()
        assert f"Error: {url}: {message} (nothing is stored under it)" in run.stderr.decode()
        assert "ls " in run.stderr.decode()  # the hint: how to see what is there


def test_a_url_without_bucket_and_a_plain_http_endpoint_elsewhere_are_usage_errors(
    moto: Moto, home: Path
) -> None:
    run = cdpcli("validate", "s3://", env=moto.environ(home))
    assert run.returncode == 2 and "s3://: no bucket in the URL" in run.stderr.decode()
    env = moto.environ(home, AWS_ENDPOINT_URL="http://s3.example.com")
    run = cdpcli("validate", f"s3://{BUCKET}/{PREFIX}/", env=env)
    assert run.returncode == 2
    assert "AWS_ENDPOINT_URL=http://s3.example.com: plain http is used only" in run.stderr.decode()


# --- credentials ---------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def private(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Moto, dict[str, str]]]:
    """A second moto server that checks signatures against its IAM users (moto does so only
    once asked); the key of a user allowed everything."""
    server = Moto()
    try:
        server.s3.create_bucket(Bucket="private")
        server.put("private", "logs/a.jsonl", lines(5, 11))
        key = server.enforce_auth()
        yield server, key
    finally:
        server.stop()


def test_refused_and_missing_credentials_are_exit_5_naming_the_variables(
    private: tuple[Moto, dict[str, str]], home: Path
) -> None:
    server, key = private
    url = "s3://private/logs/"
    good = server.environ(
        home, AWS_ACCESS_KEY_ID=key["AccessKeyId"], AWS_SECRET_ACCESS_KEY=key["SecretAccessKey"]
    )
    assert cdpcli("validate", url, env=good).returncode == 0

    wrong = {**good, "AWS_SECRET_ACCESS_KEY": "not-the-secret"}
    run = cdpcli("validate", url, env=wrong)
    assert run.returncode == 5
    err = run.stderr.decode()
    assert f"{url}: access denied (SignatureDoesNotMatch)" in err
    assert "AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY" in err and "AWS_PROFILE" in err
    assert "not-the-secret" not in err


def test_no_credentials_and_a_private_object_is_exit_5(moto: Moto, home: Path) -> None:
    """No key anywhere: the metadata service gives none (a refused port here), unsigned
    requests are tried, and the private object refuses them. (moto's server answers unsigned
    requests with a 500 once it checks signatures, so this is its default mode, which checks
    only the objects' ACLs.)"""
    env = clean_environ(home, AWS_ENDPOINT_URL=moto.url, AWS_REGION=REGION)
    url = f"s3://{BUCKET}/{PREFIX}/Q7xkPp3LmZ/1714521600000/extra.jsonl"
    run = cdpcli("validate", url, env=env)
    assert run.returncode == 5
    err = run.stderr.decode()
    assert f"{url}: no credentials found, and anonymous access is refused (403)" in err
    assert "AWS_ACCESS_KEY_ID" in err


def test_aws_profile_files_give_keys_region_and_endpoint(
    private: tuple[Moto, dict[str, str]], tmp_path: Path
) -> None:
    server, key = private
    (tmp_path / ".aws").mkdir()
    (tmp_path / ".aws" / "credentials").write_text(
        f"[dev]\naws_access_key_id = {key['AccessKeyId']}\n"
        f"aws_secret_access_key = {key['SecretAccessKey']}\n"
    )
    (tmp_path / ".aws" / "config").write_text(
        f"[profile dev]\nregion = {REGION}\nendpoint_url = {server.url}\n"
    )
    run = cdpcli("validate", "s3://private/logs/", env=clean_environ(tmp_path, AWS_PROFILE="dev"))
    assert run.returncode == 0, run.stderr.decode()

    run = cdpcli("validate", "s3://private/logs/", env=clean_environ(tmp_path, AWS_PROFILE="ops"))
    assert run.returncode == 5
    assert "AWS_PROFILE=ops: no such profile" in run.stderr.decode()


def test_a_public_bucket_needs_no_credentials(moto: Moto, home: Path) -> None:
    """No key anywhere: the unsigned requests a public bucket allows are used."""
    moto.s3.create_bucket(Bucket="public", ACL="public-read")
    moto.s3.put_object(
        Bucket="public", Key="logs/a.gz", Body=gzipped(lines(7, 14)), ACL="public-read"
    )
    env = clean_environ(home, AWS_ENDPOINT_URL=moto.url, AWS_REGION=REGION)
    assert "AWS_ACCESS_KEY_ID" not in env
    run = cdpcli("validate", "s3://public/logs/", "-f", "json", env=env)
    assert run.returncode == 0, run.stderr.decode()
    assert orjson.loads(run.stdout.splitlines()[-1])["events_read"] == 7


# --- a server that drops connections -------------------------------------------------------------


def test_dropped_connections_are_retried_then_exit_4(moto: Moto, home: Path) -> None:
    url = f"s3://{BUCKET}/{PREFIX}/"
    with dropping_proxy(moto.port) as proxy:
        env = moto.environ(home, AWS_ENDPOINT_URL=proxy.url)
        result = read_with_policy(3, url, env=env)
        assert proxy.connections == 3  # the first attempt and two retries
    assert result["exit"] == 4
    assert result["message"].startswith(
        f"{url}: the object store failed while reaching it after 3 attempts ("
    )
    assert "re-run" in result["hint"]

    with dropping_proxy(moto.port) as proxy:  # the command, with its own backoff
        env = moto.environ(home, AWS_ENDPOINT_URL=proxy.url)
        run = cdpcli("send", url, "-c", CONFIG, "--dry-run", "--max-retries", "2", env=env)
    assert run.returncode == 4
    assert "failed while reaching it after 2 attempts" in run.stderr.decode()


@pytest.mark.parametrize("scheme", ["s3", "gs"])
def test_a_read_cut_mid_body_resumes_at_the_byte_it_stopped(
    scheme: str, moto: Moto, gcs: FakeGcs, home: Path, big: bytes
) -> None:
    url = f"{scheme}://{BUCKET}/{BIG_KEY}"
    direct = read_with_policy(3, url, env=(moto if scheme == "s3" else gcs).environ(home))
    assert direct["items"] == 4500
    # Each cut comes after the first chunk of its answer was handed over, mid-way into the next.
    with dropping_proxy(cut_after=1_500_000, cuts=2) as proxy:
        if scheme == "s3":
            proxy.upstream = moto.port
            cut = read_with_policy(3, url, env=moto.environ(home, AWS_ENDPOINT_URL=proxy.url))
        else:  # an emulator of its own, that knows it is reached through the proxy
            emulator = FakeGcs(public_port=proxy.port)
            try:
                emulator.create_bucket(BUCKET)
                emulator.put(BUCKET, BIG_KEY, big)
                proxy.upstream = emulator.port
                env = emulator.environ(home, STORAGE_EMULATOR_HOST=proxy.url)
                cut = read_with_policy(3, url, env=env)
            finally:
                emulator.stop()
        gets = [request for request in proxy.requests if request.startswith("GET")]
    assert cut == direct
    assert len(gets) == 3  # the first GET, cut twice and resumed twice
    ranges = [_header(request, "range") for request in gets]
    assert ranges[0] is None  # then from the byte reached, a chunk (1 MiB or more) further each
    offsets = [int(str(r).removeprefix("bytes=").removesuffix("-")) for r in ranges[1:]]
    assert offsets[0] >= 1 << 20 and offsets[0] + (1 << 20) <= offsets[1] < len(big)
    if scheme == "gs":  # the resumed reads are pinned to the generation first read
        assert all("generation=" in request.split("\r\n", 1)[0] for request in gets[1:])
    else:
        assert all(_header(request, "if-match") for request in gets)


def _header(request: str, name: str) -> str | None:
    for line in request.splitlines()[1:]:
        key, _, value = line.partition(":")
        if key.strip().lower() == name:
            return value.strip()
    return None


@pytest.mark.parametrize("scheme", ["s3", "gs"])
def test_an_object_changed_while_it_is_read_is_exit_4(
    scheme: str, moto: Moto, gcs: FakeGcs, home: Path
) -> None:
    server = moto if scheme == "s3" else gcs
    key = "changing/events.jsonl"
    server.put(BUCKET, key, lines(50, 12))
    url = f"{scheme}://{BUCKET}/{key}"
    with subprocess.Popen(
        [sys.executable, "-c", READ_WITH_POLICY, "3", "pause", url],
        cwd=REPO,
        env=server.environ(home),
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
    ) as process:
        assert process.stdout is not None and process.stdin is not None
        assert process.stdout.readline() == b"listed\n"
        server.put(BUCKET, key, lines(60, 13))  # overwritten between the listing and the read
        out, _ = process.communicate(b"\n", timeout=60)
    result = orjson.loads(out.splitlines()[-1])
    assert result["exit"] == 4
    assert result["message"].startswith(f"{url}: the object changed while it was being read")


def test_ctrl_c_ends_a_run_whose_object_store_stalls(
    moto: Moto, home: Path, tmp_path: Path, big: bytes
) -> None:
    """The client library's calls do not heed signals until the server answers (or a minute
    passes): a run waiting on a stalled store still stops at once, its checkpoint saved."""
    url = f"s3://{BUCKET}/{BIG_KEY}"
    checkpoint = tmp_path / "run.ckpt"
    with (
        FakeMixpanel() as mixpanel,
        FakeLago() as lago,
        dropping_proxy(moto.port, cut_after=1, stall=True) as proxy,
    ):
        config = str(write_config(tmp_path, mixpanel, lago))
        env = moto.environ(home, AWS_ENDPOINT_URL=proxy.url, **SECRETS)
        for argv in (
            ["validate", url],
            ["send", url, "-c", config, "--checkpoint", str(checkpoint)],
        ):
            before = len(proxy.requests)
            with subprocess.Popen(
                [sys.executable, "-m", "cdpcli", *argv],
                cwd=REPO,
                env=env,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.PIPE,
            ) as process:
                while not any(r.startswith("GET") for r in proxy.requests[before:]):
                    assert process.poll() is None, process.communicate()[1].decode()
                    time.sleep(0.01)
                process.send_signal(signal.SIGINT)
                _, err = process.communicate(timeout=20)  # a stalled read lasts 60 s
            assert process.returncode == 130, err.decode()
        assert "interrupted; the checkpoint was saved" in err.decode()
        assert checkpoint.exists()


def test_credentials_never_reach_the_output(moto: Moto, home: Path) -> None:
    env = moto.environ(home, AWS_SECRET_ACCESS_KEY="s3cr3t-value-x")
    run = cdpcli("validate", f"s3://{BUCKET}/nothing/", env=env)
    assert run.returncode == 4
    assert b"s3cr3t-value-x" not in run.stderr + run.stdout
