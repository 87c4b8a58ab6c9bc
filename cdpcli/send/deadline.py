"""A total deadline per HTTP attempt, and abandoning every request in flight at once
(PRODUCT.md §6.1 "Deadlines").

httpx bounds each network operation (the connect, each read, each write), not an attempt: a
server that sends one byte a second keeps every read short and the attempt endless. `Sockets` is
the network backend of the client `cdpcli.send.transport` builds. Every operation on its
connections is bounded by the deadline of the attempt the calling thread is making (`attempt`),
so an attempt ends with a timeout when its deadline passes, whatever the server sends or does
not send; and `abandon` shuts every connection down at once, from any thread, so that threads
blocked in a read or a write return at once (a run that is stopping waits for no server).

The deadline belongs to the thread: an attempt is made by one thread from its first byte to its
last (httpx's sync client reads the whole answer in the thread that sent the request), and a
connection kept alive between attempts is bounded by whichever attempt uses it. Name resolution
is the one step no deadline bounds (the system resolver blocks as long as it likes).
"""

from __future__ import annotations

import contextlib
import socket
import ssl
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from typing import Any, TypeVar

import httpcore

_current = threading.local()  # `deadline`: (monotonic time it passes, its length in seconds)

T = TypeVar("T")


@contextlib.contextmanager
def attempt(seconds: float) -> Iterator[None]:
    """Bound every network operation this thread makes on `Sockets` connections, until the
    block ends, by a deadline `seconds` from now."""
    previous = getattr(_current, "deadline", None)
    _current.deadline = (time.monotonic() + seconds, seconds)
    try:
        yield
    finally:
        _current.deadline = previous


class Sockets(httpcore.NetworkBackend):
    """A network backend (httpcore's own, `SyncBackend`, underneath) whose connections obey the
    deadline of the calling thread's `attempt`, and can all be `abandon`ed at once."""

    def __init__(self, inner: httpcore.NetworkBackend | None = None) -> None:
        self._inner = inner if inner is not None else httpcore.SyncBackend()
        self._lock = threading.Lock()
        self._open: set[_Stream] = set()
        self._abandoned = False

    def abandon(self) -> None:
        """Shut down every connection, and refuse new ones: whatever a thread was reading or
        writing on them fails at once. For a run that stops: nothing it has in flight will be
        acknowledged."""
        with self._lock:  # a stream is never closed (its descriptor reused) while shut down here
            self._abandoned = True
            for stream in self._open:
                stream.shut_down()

    @property
    def open_connections(self) -> int:
        with self._lock:
            return len(self._open)

    # --- the NetworkBackend interface -------------------------------------------------------

    def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Iterable[Any] | None = None,
    ) -> httpcore.NetworkStream:
        return self._connect(
            lambda bounded: self._inner.connect_tcp(
                host, port, bounded, local_address, socket_options
            ),
            timeout,
        )

    def connect_unix_socket(
        self,
        path: str,
        timeout: float | None = None,
        socket_options: Iterable[Any] | None = None,
    ) -> httpcore.NetworkStream:  # pragma: no cover - no destination is a unix socket
        return self._connect(
            lambda bounded: self._inner.connect_unix_socket(path, bounded, socket_options),
            timeout,
        )

    def sleep(self, seconds: float) -> None:  # pragma: no cover - httpcore's retries are off
        self._inner.sleep(seconds)

    # --- internals --------------------------------------------------------------------------

    def _connect(
        self, connect: Callable[[float | None], httpcore.NetworkStream], timeout: float | None
    ) -> httpcore.NetworkStream:
        stream = _Stream(
            bounded(connect, timeout, httpcore.ConnectTimeout, self, httpcore.ConnectError), self
        )
        with self._lock:
            if not self._abandoned:
                self._open.add(stream)
                return stream
        stream.close()  # abandoned while it was connecting
        raise httpcore.ConnectError(ABANDONED)

    def _forget(self, stream: _Stream) -> None:
        with self._lock:
            self._open.discard(stream)

    def check(self, error: type[Exception]) -> None:
        if self._abandoned:
            raise error(ABANDONED)


ABANDONED = "abandoned: the run is stopping"


def bounded(
    operation: Callable[[float | None], T],
    timeout: float | None,
    timeout_error: type[Exception],
    sockets: Sockets,
    abandoned_error: type[Exception],
) -> T:
    """Run `operation(timeout)` with `timeout` cut to what remains of the thread's attempt
    deadline; a timeout that the deadline caused says so, and so does a failure that
    `Sockets.abandon` caused."""
    sockets.check(abandoned_error)
    deadline = getattr(_current, "deadline", None)
    by_deadline, seconds = False, 0.0
    if deadline is not None:
        passes, seconds = deadline
        left = passes - time.monotonic()
        if left <= 0:
            raise timeout_error(_passed(seconds))
        if timeout is None or left <= timeout:
            timeout, by_deadline = left, True
    try:
        result = operation(timeout)
    except timeout_error:
        sockets.check(abandoned_error)
        if by_deadline:
            raise timeout_error(_passed(seconds)) from None
        raise
    except Exception:
        sockets.check(abandoned_error)
        raise
    sockets.check(abandoned_error)  # e.g. the end of the stream a shutdown makes
    return result


def _passed(seconds: float) -> str:
    return f"the attempt took longer than its deadline of {seconds:g} s"


class _Stream(httpcore.NetworkStream):
    """One connection of `Sockets`: httpcore's stream, each operation bounded."""

    def __init__(self, inner: httpcore.NetworkStream, sockets: Sockets) -> None:
        self._inner = inner
        self._sockets = sockets

    def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        return bounded(
            lambda left: self._inner.read(max_bytes, left),
            timeout,
            httpcore.ReadTimeout,
            self._sockets,
            httpcore.ReadError,
        )

    def write(self, buffer: bytes, timeout: float | None = None) -> None:
        bounded(
            lambda left: self._inner.write(buffer, left),
            timeout,
            httpcore.WriteTimeout,
            self._sockets,
            httpcore.WriteError,
        )

    def start_tls(
        self,
        ssl_context: ssl.SSLContext,
        server_hostname: str | None = None,
        timeout: float | None = None,
    ) -> httpcore.NetworkStream:
        try:
            self._inner = bounded(
                lambda left: self._inner.start_tls(ssl_context, server_hostname, left),
                timeout,
                httpcore.ConnectTimeout,
                self._sockets,
                httpcore.ConnectError,
            )
        except BaseException:
            self._sockets._forget(self)  # httpcore's stream closed itself
            raise
        return self

    def close(self) -> None:
        self._sockets._forget(self)
        self._inner.close()

    def get_extra_info(self, info: str) -> Any:
        return self._inner.get_extra_info(info)

    def shut_down(self) -> None:
        """Shut the socket down (both ways): a read or write blocked on it returns at once.
        The socket's own method, also for a TLS socket (whose `shutdown` would drop its TLS
        state under the thread still using it)."""
        sock = self._inner.get_extra_info("socket")
        if isinstance(sock, socket.socket):
            with contextlib.suppress(OSError):
                socket.socket.shutdown(sock, socket.SHUT_RDWR)
