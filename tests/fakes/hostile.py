"""Hostile servers on 127.0.0.1, as raw sockets: they speak just enough HTTP to hang a client.

- `HostileServer("silent")` accepts, reads each request and never answers;
- `HostileServer("trickle_status")` answers with a status line, then header lines that never
  end, one byte every `interval` seconds;
- `HostileServer("trickle_body")` sends the status line and headers at once, then a body of a
  megabyte, one byte every `interval` seconds.

Each read a client makes gets a byte well within its read timeout: only a deadline on the whole
attempt ends it.

`requests` counts the requests read (whole heads and bodies), `connections` the connections
accepted. `stop()` closes every socket and joins every thread: nothing outlives a test.
`RecordingProxy` is an HTTP proxy (CONNECT tunnels and absolute-form forwarding) that records
each target it was asked for and reaches the hosts of `routes` on 127.0.0.1.
"""

from __future__ import annotations

import contextlib
import itertools
import socket
import threading
from collections.abc import Mapping
from typing import Literal, Self

Mode = Literal["silent", "trickle_status", "trickle_body"]

TRICKLED_BODY_BYTES = 1_000_000


def read_head(conn: socket.socket, buffered: bytes = b"") -> tuple[bytes, bytes] | None:
    """The request head (up to the blank line) and whatever followed it; None at EOF."""
    data = buffered
    while b"\r\n\r\n" not in data:
        chunk = conn.recv(65536)
        if not chunk:
            return None
        data += chunk
    head, _, rest = data.partition(b"\r\n\r\n")
    return head, rest


def content_length(head: bytes) -> int:
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            return int(value.strip())
    return 0


class _Threads:
    """The accept loop and the per-connection threads of a server, and their sockets."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.stopping = threading.Event()
        self.sockets: set[socket.socket] = set()
        self.threads: list[threading.Thread] = []
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.listener.settimeout(0.05)

    @property
    def port(self) -> int:
        return int(self.listener.getsockname()[1])

    def start(self, target: object, name: str) -> None:
        thread = threading.Thread(target=target, name=name, daemon=True)  # type: ignore[arg-type]
        with self.lock:
            self.threads.append(thread)
        thread.start()

    def keep(self, conn: socket.socket) -> None:
        with self.lock:
            self.sockets.add(conn)

    def drop(self, conn: socket.socket) -> None:
        with self.lock:
            self.sockets.discard(conn)
        with contextlib.suppress(OSError):
            conn.close()

    def stop(self) -> None:
        self.stopping.set()
        with self.lock:
            sockets = list(self.sockets)
        for conn in sockets:
            with contextlib.suppress(OSError):
                conn.shutdown(socket.SHUT_RDWR)
        for thread in list(self.threads):
            thread.join(timeout=10)
        self.listener.close()

    def accept(self) -> socket.socket | None:
        while not self.stopping.is_set():
            try:
                conn, _ = self.listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return None
            conn.settimeout(None)
            self.keep(conn)
            return conn
        return None


class HostileServer:
    """See the module docstring. Use as a context manager; `url` is its base URL."""

    def __init__(self, mode: Mode, *, interval: float = 1.0) -> None:
        self.mode = mode
        self.interval = interval
        self._threads = _Threads()
        self._lock = threading.Lock()
        self._requests = 0
        self._connections = 0

    def __enter__(self) -> Self:
        self._threads.start(self._accept_loop, f"hostile-{self.mode}-accept")
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def stop(self) -> None:
        self._threads.stop()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._threads.port}"

    @property
    def requests(self) -> int:
        with self._lock:
            return self._requests

    @property
    def connections(self) -> int:
        with self._lock:
            return self._connections

    def _accept_loop(self) -> None:
        while True:
            conn = self._threads.accept()
            if conn is None:
                return
            with self._lock:
                self._connections += 1
            self._threads.start(lambda conn=conn: self._serve(conn), f"hostile-{self.mode}")

    def _serve(self, conn: socket.socket) -> None:
        try:
            rest = b""
            while not self._threads.stopping.is_set():
                request = read_head(conn, rest)
                if request is None:
                    return
                head, rest = request
                length = content_length(head)
                while len(rest) < length:
                    chunk = conn.recv(65536)
                    if not chunk:
                        return
                    rest += chunk
                rest = rest[length:]
                with self._lock:
                    self._requests += 1
                if self.mode == "silent":
                    self._threads.stopping.wait()  # never answer
                    return
                self._trickle(conn)
        except OSError:
            return
        finally:
            self._threads.drop(conn)

    def _trickle(self, conn: socket.socket) -> None:
        if self.mode == "trickle_body":
            conn.sendall(
                b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
                + b"Content-Length: %d\r\n\r\n" % TRICKLED_BODY_BYTES
            )
            slow = itertools.chain(b"[", itertools.repeat(ord(" ")))
        else:
            slow = itertools.chain(b"HTTP/1.1 200 OK\r\nX-Pad: ", itertools.repeat(ord("a")))
        for byte in slow:
            if self._threads.stopping.wait(self.interval):
                return
            conn.sendall(bytes((byte,)))


class RecordingProxy:
    """An HTTP proxy on 127.0.0.1 that records every target asked of it (`targets`: the
    authority of each CONNECT, the absolute URL of each forwarded request) and connects the
    hosts of `routes` (`{"host:port": local_port}`) to 127.0.0.1; other targets get a 502."""

    def __init__(self, routes: Mapping[str, int]) -> None:
        self.routes = dict(routes)
        self._threads = _Threads()
        self._lock = threading.Lock()
        self._targets: list[str] = []

    def __enter__(self) -> Self:
        self._threads.start(self._accept_loop, "proxy-accept")
        return self

    def __exit__(self, *exc: object) -> None:
        self._threads.stop()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._threads.port}"

    @property
    def targets(self) -> list[str]:
        with self._lock:
            return list(self._targets)

    def _accept_loop(self) -> None:
        while True:
            conn = self._threads.accept()
            if conn is None:
                return
            self._threads.start(lambda conn=conn: self._serve(conn), "proxy")

    def _serve(self, client: socket.socket) -> None:
        upstream: socket.socket | None = None
        try:
            request = read_head(client)
            if request is None:
                return
            head, rest = request
            method, target, version = head.split(b"\r\n", 1)[0].split(b" ", 2)
            with self._lock:
                self._targets.append(target.decode())
            if method == b"CONNECT":
                authority = target.decode()
            else:  # absolute-form: http://host:port/path
                authority = target.split(b"/", 3)[2].decode()
                if ":" not in authority:
                    authority += ":80"
            port = self.routes.get(authority)
            if port is None:
                client.sendall(b"HTTP/1.1 502 Bad Gateway\r\nContent-Length: 0\r\n\r\n")
                return
            upstream = socket.create_connection(("127.0.0.1", port))
            self._threads.keep(upstream)
            if method == b"CONNECT":
                client.sendall(b"HTTP/1.1 200 Connection established\r\n\r\n")
            else:
                path = b"/" + (target.split(b"/", 3)[3] if target.count(b"/") >= 3 else b"")
                lines = head.split(b"\r\n")
                lines[0] = b" ".join((method, path, version))
                upstream.sendall(b"\r\n".join(lines) + b"\r\n\r\n" + rest)
            self._pipe(client, upstream)
        except OSError:
            return
        finally:
            if upstream is not None:
                self._threads.drop(upstream)
            self._threads.drop(client)

    def _pipe(self, client: socket.socket, upstream: socket.socket) -> None:
        def copy(source: socket.socket, target: socket.socket) -> None:
            with contextlib.suppress(OSError):
                while chunk := source.recv(65536):
                    target.sendall(chunk)
            for sock in (source, target):
                with contextlib.suppress(OSError):
                    sock.shutdown(socket.SHUT_RDWR)

        back = threading.Thread(target=copy, args=(upstream, client), daemon=True)
        back.start()
        copy(client, upstream)
        back.join(timeout=10)
