"""Every HTTP attempt has a total deadline (PRODUCT.md §6.1 "Deadlines"): a server that trickles
its status line or its body, or never answers, costs an attempt its deadline, then a retry; and a
stopping run abandons its requests on the wire at once, leaving no thread or socket behind.

The servers are raw sockets on 127.0.0.1 (`tests.fakes.hostile`). Each trickle sends a byte
every 0.2 s, well within httpx's 60 s read timeout: only the attempt's deadline ends it."""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from cdpcli import jsonio
from cdpcli.errors import Interrupted
from cdpcli.send import deadline as deadline_module
from cdpcli.send.deadline import attempt
from cdpcli.send.run import SendRequest, send
from cdpcli.send.transport import Target, make_client
from tests.fakes.hostile import HostileServer, Mode
from tests.fakes.sends import SECRETS
from tests.paths import REPO

TRICKLE_INTERVAL = 0.2


def mixpanel_config(directory: Path, url: str) -> Path:
    path = directory / "cdpcli.yaml"
    path.write_text(
        "version: 1\ndestinations:\n  mixpanel:\n    kind: mixpanel\n    project_id: '12345'\n"
        f"    api_url: {url}\nroutes:\n  - name: analytics\n    to: mixpanel\n",
        encoding="utf-8",
    )
    return path


def events(directory: Path, count: int = 3) -> Path:
    path = directory / "events.jsonl"
    lines = [
        jsonio.dumps(
            {
                "type": "track",
                "event": "E",
                "userId": f"u{n}",
                "messageId": f"m{n}",
                "timestamp": "2024-05-01T00:00:00Z",
            }
        )
        for n in range(count)
    ]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


@pytest.fixture(params=["trickle_status", "trickle_body", "silent"])
def hostile(request: pytest.FixtureRequest) -> Iterator[HostileServer]:
    mode: Mode = request.param
    with HostileServer(mode, interval=TRICKLE_INTERVAL) as server:
        yield server


def test_a_server_that_trickles_or_never_answers_costs_each_attempt_its_deadline(
    tmp_path: Path, hostile: HostileServer
) -> None:
    config = mixpanel_config(tmp_path, hostile.url)
    argv = [sys.executable, "-m", "tests.fast_cli", "--attempt-deadline", "1", "send"]
    argv += [str(events(tmp_path)), "-c", str(config), "--max-retries", "2", "--format", "json"]

    done = subprocess.run(
        argv, check=False, cwd=REPO, env={**os.environ, **SECRETS}, capture_output=True, timeout=60
    )

    stderr = " ".join(done.stderr.decode().split())
    assert done.returncode == 6, stderr
    assert (
        "destination `mixpanel` (mixpanel) /import: still failing after 2 attempts; last error: "
        "ReadTimeout: the attempt took longer than its deadline of 1 s" in stderr
    )
    assert hostile.requests == 2  # retried once, then given up
    summary = jsonio.loads(done.stdout.splitlines()[-1])
    assert summary["destinations"]["mixpanel"]["not_sent"] == 3


def reached(url: str) -> list[Target]:
    host, port = url.removeprefix("http://").split(":")
    return [Target("mixpanel", url, "http", host, int(port))]


def test_the_deadline_ends_the_attempt_and_leaves_no_connection_open(
    hostile: HostileServer,
) -> None:
    client, sockets = make_client(1, reached(hostile.url), environ={})
    with client:
        with attempt(0.5), pytest.raises(httpx.TimeoutException) as raised:
            client.post(f"{hostile.url}/import", content=b"[]")
        assert str(raised.value) == "the attempt took longer than its deadline of 0.5 s"
    assert sockets.open_connections == 0
    assert hostile.requests == 1


def test_abandon_wakes_a_thread_blocked_on_a_silent_server_at_once() -> None:
    with HostileServer("silent") as server:
        client, sockets = make_client(1, reached(server.url), environ={})
        errors: list[BaseException] = []

        def request() -> None:
            try:
                client.post(f"{server.url}/import", content=b"[]")
            except httpx.HTTPError as error:
                errors.append(error)

        worker = threading.Thread(target=request)
        worker.start()
        while server.requests == 0:
            worker.join(0.01)
        sockets.abandon()
        worker.join(timeout=10)

        assert not worker.is_alive()
        assert [str(e) for e in errors] == [deadline_module.ABANDONED]
        with pytest.raises(httpx.ConnectError, match="abandoned"):  # no new connection either
            client.post(f"{server.url}/import", content=b"[]")
        client.close()
        assert sockets.open_connections == 0


def socket_descriptors() -> int:
    """The sockets this process has open."""
    count = 0
    for fd in os.listdir("/proc/self/fd"):
        with contextlib.suppress(FileNotFoundError):  # the listing's own descriptor
            count += os.readlink(f"/proc/self/fd/{fd}").startswith("socket:")
    return count


@pytest.mark.skipif(not Path("/proc/self/fd").is_dir(), reason="counts sockets in /proc")
def test_a_stopped_send_leaves_no_thread_and_no_socket_behind(tmp_path: Path) -> None:
    before = socket_descriptors()
    with HostileServer("silent") as server:
        config = mixpanel_config(tmp_path, server.url)
        stop = threading.Event()

        def stop_once_in_flight() -> None:
            while server.requests == 0:
                stop.wait(0.01)
            stop.set()

        threading.Thread(target=stop_once_in_flight, daemon=True).start()
        result = send(
            SendRequest(paths=[str(events(tmp_path))], config_path=config),
            environ=SECRETS,
            stop=stop,
        )
        senders = [t for t in threading.enumerate() if t.name.startswith("cdpcli-send")]
        for thread in senders:
            thread.join(timeout=10)

    assert isinstance(result.error, Interrupted)
    assert result.summary.destinations["mixpanel"].not_sent == 3
    assert [t.name for t in senders if t.is_alive()] == []
    assert socket_descriptors() == before  # the server's are closed too, by now
