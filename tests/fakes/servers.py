"""Real HTTP fakes of Mixpanel and Lago on 127.0.0.1, keeping state, with scripted faults.

Each fake is a threaded `http.server` on an ephemeral port, used as a context manager
(`with FakeMixpanel() as mp: mp.url`) or through the pytest fixtures `mixpanel_fake` and
`lago_fake` (import them into a conftest). Behaviour follows reference/mixpanel.md §1.2-1.4 and
reference/lago.md §2-§7; where the references say nothing, the fake's choice is marked "fake:".

A fake given a `Quota` enforces a rolling quota of uncompressed request bytes, as Mixpanel's rate
limit (reference/mixpanel.md §1.3), answering 429 with the wait past it.

Faults are queued per path (`fake.fail("/import", Fault.http(503), Fault.drop_before_body())`)
and consumed one per request, before normal processing. Every request is recorded
(`fake.requests`) with its path, query, headers, raw body and decoded JSON body.
All state is guarded by one lock, so the fakes are safe under concurrent clients.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import gzip
import math
import re
import socket
import ssl
import sys
import threading
import time
import traceback
from collections import deque
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Literal, Self
from urllib.parse import parse_qs, urlsplit

import orjson
import pytest

Clock = Callable[[], float]

# --- Credentials the fakes accept by default -----------------------------------------------

MIXPANEL_TOKEN = "mp-project-token"
MIXPANEL_SA_USER = "sa-user.12345.mp-service-account"
MIXPANEL_SA_SECRET = "sa-secret"
MIXPANEL_PROJECT_ID = "12345"
LAGO_API_KEY = "lago-api-key"

# --- Faults ---------------------------------------------------------------------------------

FaultKind = Literal[
    "http", "drop_before_body", "drop_after_body", "slow", "held", "truncated", "invalid_json"
]


@dataclass(frozen=True, slots=True)
class Fault:
    """One scripted misbehaviour, consumed by one request. Build with the class methods."""

    kind: FaultKind
    status: int = 200
    headers: Mapping[str, str] = field(default_factory=dict)
    body: bytes | None = None
    processed: bool = False
    seconds: float = 0.0
    gate: threading.Event | None = None

    @classmethod
    def http(
        cls, status: int, *, headers: Mapping[str, str] | None = None, body: bytes | None = None
    ) -> Fault:
        """Answer `status` without processing (500, 502, 503, 504, 413, 401, 403, ...).

        The body defaults to the vendor's error body for that status.
        """
        return cls("http", status=status, headers=dict(headers or {}), body=body)

    @classmethod
    def rate_limited(cls, *, retry_after: str | None = None, reset: str | None = None) -> Fault:
        """429, with `Retry-After` and/or `X-RateLimit-Reset` (plus Lago's Limit/Remaining)."""
        headers: dict[str, str] = {}
        if retry_after is not None:
            headers["Retry-After"] = retry_after
        if reset is not None:
            headers.update(
                {
                    "X-RateLimit-Limit": "500",
                    "X-RateLimit-Remaining": "0",
                    "X-RateLimit-Reset": reset,
                }
            )
        return cls("http", status=429, headers=headers)

    @classmethod
    def drop_before_body(cls) -> Fault:
        """Close the connection without reading the body or answering; nothing is processed."""
        return cls("drop_before_body")

    @classmethod
    def drop_after_body(cls, *, processed: bool) -> Fault:
        """Read the body, process it (or not), then close the connection without answering."""
        return cls("drop_after_body", processed=processed)

    @classmethod
    def slow(cls, seconds: float) -> Fault:
        """Process the request at once, then wait `seconds` before answering normally."""
        return cls("slow", seconds=seconds, processed=True)

    @classmethod
    def held(cls, gate: threading.Event) -> Fault:
        """Process the request at once, then answer normally once `gate` is set (or the fake
        stops): keeps a run going, mid-request, for as long as a test needs."""
        return cls("held", processed=True, gate=gate)

    @classmethod
    def truncated(cls, *, processed: bool = True) -> Fault:
        """Answer with a Content-Length larger than the body sent, then close."""
        return cls("truncated", processed=processed)

    @classmethod
    def invalid_json(cls, *, processed: bool = True) -> Fault:
        """Answer 200 with a body that is not JSON."""
        return cls("invalid_json", processed=processed)


@dataclass(frozen=True, slots=True)
class Quota:
    """A rolling quota over every path of a fake: a request whose uncompressed body would take
    the bytes accepted in the last `window` seconds (by the fake's clock) past `size` is
    answered 429 and not counted, with the wait until it would fit, in whole seconds rounded
    up (as `Retry-After` carries it; fake: Mixpanel documents no hint, reference/mixpanel.md
    §1.3). Every other request counts, whatever its answer (Mixpanel counts refused batches).
    Scripted faults bypass it."""

    size: int
    window: float = 60.0


# --- Recording ------------------------------------------------------------------------------


@dataclass(slots=True)
class RecordedRequest:
    """One request as the fake saw it. `headers` keys are lower-case; `body` is decoded JSON
    (after gunzip; form `data=` for /engage), or None when it was not read or not JSON."""

    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]
    raw: bytes = b""
    body: Any = None
    fault: FaultKind | None = None
    status: int | None = None  # None: the connection was dropped without an answer
    at: float = 0.0  # when it arrived, by the fake's clock


@dataclass(frozen=True, slots=True)
class Reply:
    status: int
    body: bytes
    headers: Mapping[str, str] = field(default_factory=dict)
    content_type: str = "application/json"


def json_reply(status: int, value: Any, headers: Mapping[str, str] | None = None) -> Reply:
    return Reply(status, orjson.dumps(value), dict(headers or {}))


def _gunzip(raw: bytes, headers: Mapping[str, str]) -> bytes | None:
    """The body with any gzip Content-Encoding removed; None if it does not decompress."""
    if headers.get("content-encoding", "").strip().lower() != "gzip":
        return raw
    try:
        return gzip.decompress(raw)
    except (OSError, EOFError):
        return None


def _loads(data: bytes | None) -> Any:
    if data is None:
        return None
    try:
        return orjson.loads(data)
    except orjson.JSONDecodeError:
        return None


# --- The server base ------------------------------------------------------------------------


class _HTTPServer(ThreadingHTTPServer):
    daemon_threads = False  # join handler threads on close: no thread outlives the fake
    block_on_close = True

    def __init__(self, fake: FakeServer) -> None:
        self.fake = fake
        super().__init__(("127.0.0.1", 0), _Handler)

    def get_request(self) -> tuple[socket.socket, Any]:
        conn, address = super().get_request()
        tls = self.fake._tls
        with self.fake._lock:
            self.fake._accepted += 1
        if tls is None:
            return conn, address
        # The handshake happens here, in the accepting thread: a client that refuses the
        # certificate ends it with an alert, an OSError the server drops.
        conn.settimeout(10)
        try:
            wrapped = tls.wrap_socket(conn, server_side=True)
        except BaseException:
            conn.close()
            raise
        wrapped.settimeout(None)
        return wrapped, address

    def handle_error(self, request: Any, client_address: Any) -> None:
        # A client that goes away mid-request (killed, timed out) is not a bug of the fake.
        if isinstance(sys.exc_info()[1], ConnectionError):
            return
        self.fake._record_error(traceback.format_exc())


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _HTTPServer

    def log_message(self, format: str, *args: Any) -> None:
        return

    def setup(self) -> None:
        super().setup()
        self.server.fake._connections_add(self.connection)

    def finish(self) -> None:
        try:
            super().finish()
        finally:
            self.server.fake._connections_discard(self.connection)

    def do_GET(self) -> None:
        self._serve()

    def do_POST(self) -> None:
        self._serve()

    def _serve(self) -> None:
        try:
            self.server.fake._serve(self)
        except OSError:  # the client went away (timeout, reset) or the fake is stopping
            self.close_connection = True

    # helpers used by FakeServer._serve
    def read_body(self) -> bytes:
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            chunks: list[bytes] = []
            while True:
                size = int(self.rfile.readline().split(b";")[0].strip() or b"0", 16)
                if size == 0:
                    while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                        pass
                    return b"".join(chunks)
                chunks.append(self.rfile.read(size))
                self.rfile.readline()
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length else b""

    def drop(self) -> None:
        """Close the connection at once, answering nothing."""
        self.close_connection = True
        with contextlib.suppress(OSError):
            self.connection.shutdown(socket.SHUT_RDWR)

    def send(self, reply: Reply, *, truncate: bool = False) -> None:
        self.send_response(reply.status)
        self.send_header("Content-Type", reply.content_type)
        self.send_header("Content-Length", str(len(reply.body) + (16 if truncate else 0)))
        for name, value in reply.headers.items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(reply.body[: len(reply.body) // 2] if truncate else reply.body)
        self.wfile.flush()
        if truncate:
            self.drop()


class FakeServer:
    """What both fakes share: lifecycle, fault queues, request log, the request flow."""

    vendor = "fake"

    def __init__(self, *, clock: Clock = time.time, quota: Quota | None = None) -> None:
        self.clock = clock
        self.quota = quota
        self._spent: deque[tuple[float, int]] = deque()  # (arrival, bytes) inside the quota
        self._spent_bytes = 0
        self._lock = threading.RLock()
        self._faults: dict[str, deque[Fault]] = {}
        self._requests: list[RecordedRequest] = []
        self._errors: list[str] = []
        self._connections: set[socket.socket] = set()
        self._stopping = threading.Event()
        self._httpd: _HTTPServer | None = None
        self._thread: threading.Thread | None = None
        self._tls: ssl.SSLContext | None = None
        self._tls_host = "127.0.0.1"
        self._accepted = 0

    def serve_tls(self, context: ssl.SSLContext, host: str = "localhost") -> Self:
        """Serve HTTPS with `context` (call before `start`); `url` names `host`, which the
        certificate of `context` must cover."""
        self._tls, self._tls_host = context, host
        return self

    @property
    def accepted(self) -> int:
        """Connections accepted so far (a TLS one counts before its handshake)."""
        with self._lock:
            return self._accepted

    # lifecycle
    def start(self) -> Self:
        if self._httpd is not None:
            raise RuntimeError(f"{type(self).__name__} already started")
        self._stopping.clear()
        self._httpd = _HTTPServer(self)
        self._thread = threading.Thread(
            target=self._httpd.serve_forever,
            kwargs={"poll_interval": 0.01},
            name=f"{type(self).__name__}:{self.port}",
            daemon=True,
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        httpd, thread = self._httpd, self._thread
        if httpd is None or thread is None:
            return
        self._stopping.set()
        httpd.shutdown()
        with self._lock:
            connections = list(self._connections)
        for conn in connections:  # wake handler threads idling on keep-alive connections
            with contextlib.suppress(OSError):
                conn.shutdown(socket.SHUT_RDWR)
        httpd.server_close()
        thread.join()
        self._httpd = self._thread = None

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def port(self) -> int:
        if self._httpd is None:
            raise RuntimeError(f"{type(self).__name__} is not running")
        return int(self._httpd.server_address[1])

    @property
    def url(self) -> str:
        """Base URL, e.g. `http://127.0.0.1:54321` (no trailing slash), or
        `https://localhost:54321` when serving TLS."""
        if self._tls is not None:
            return f"https://{self._tls_host}:{self.port}"
        return f"http://127.0.0.1:{self.port}"

    # scripting and inspection
    def fail(self, path: str, *faults: Fault) -> None:
        """Queue faults for the next requests to `path` (one per request, in order)."""
        with self._lock:
            self._faults.setdefault(path, deque()).extend(faults)

    def pending_faults(self, path: str) -> int:
        with self._lock:
            return len(self._faults.get(path, ()))

    @property
    def requests(self) -> list[RecordedRequest]:
        """Every request received so far, in arrival order (a copy)."""
        with self._lock:
            return list(self._requests)

    def requests_to(self, path: str) -> list[RecordedRequest]:
        return [r for r in self.requests if r.path == path]

    @property
    def errors(self) -> list[str]:
        """Tracebacks of bugs inside the fake itself (should stay empty)."""
        with self._lock:
            return list(self._errors)

    # vendor hooks
    def process(self, request: RecordedRequest) -> Reply:
        """Apply a request to the state and answer it (called with the lock held)."""
        raise NotImplementedError

    def error_reply(self, status: int) -> Reply:
        """The vendor's body for a scripted error status."""
        phrase = HTTPStatus(status).phrase if status in HTTPStatus._value2member_map_ else ""
        return json_reply(status, {"status": status, "error": phrase})

    def decode(self, request: RecordedRequest) -> Any:
        """The JSON body for the request log."""
        return _loads(_gunzip(request.raw, request.headers))

    def rate_limited_reply(self, wait: int) -> Reply:
        """The answer past the quota: the vendor's 429, `Retry-After: wait`."""
        reply = self.error_reply(429)
        return Reply(429, reply.body, {**reply.headers, "Retry-After": str(wait)})

    def throttled(self) -> int:
        """How many requests were answered 429."""
        return sum(1 for r in self.requests if r.status == 429)

    # internals
    def _record_error(self, text: str) -> None:
        with self._lock:
            self._errors.append(text)

    def _connections_add(self, conn: socket.socket) -> None:
        with self._lock:
            self._connections.add(conn)

    def _connections_discard(self, conn: socket.socket) -> None:
        with self._lock:
            self._connections.discard(conn)

    def _over_quota(self, request: RecordedRequest) -> int | None:
        """Count the request against the quota; None if it fits, else the seconds to wait."""
        quota = self.quota
        if quota is None:
            return None
        data = _gunzip(request.raw, request.headers)
        size = len(data if data is not None else request.raw)
        now = request.at
        spent = self._spent
        while spent and spent[0][0] <= now - quota.window:
            self._spent_bytes -= spent.popleft()[1]
        if self._spent_bytes + size <= quota.size:
            spent.append((now, size))
            self._spent_bytes += size
            return None
        freed, until = 0, now + quota.window  # a request larger than the quota never fits
        for moment, taken in spent:
            freed += taken
            if self._spent_bytes - freed + size <= quota.size:
                until = moment + quota.window
                break
        return max(1, math.ceil(until - now))

    def _process(self, request: RecordedRequest) -> Reply:
        with self._lock:
            try:
                return self.process(request)
            except Exception:
                self._errors.append(traceback.format_exc())
                return json_reply(500, {"error": "bug in the fake server"})

    def _serve(self, handler: _Handler) -> None:
        split = urlsplit(handler.path)
        query = {k: v[-1] for k, v in parse_qs(split.query, keep_blank_values=True).items()}
        headers = {k.lower(): v for k, v in handler.headers.items()}
        request = RecordedRequest(handler.command, split.path, query, headers)
        with self._lock:
            request.at = self.clock()
            queue = self._faults.get(split.path)
            fault = queue.popleft() if queue else None
            request.fault = fault.kind if fault else None
            self._requests.append(request)

        if fault is not None and fault.kind == "drop_before_body":
            handler.drop()
            return
        raw = handler.read_body()
        with self._lock:
            request.raw = raw
            request.body = self.decode(request)

        reply: Reply
        if fault is None:
            with self._lock:
                wait = self._over_quota(request)
            reply = self._process(request) if wait is None else self.rate_limited_reply(wait)
        elif fault.kind == "http":
            base = self.error_reply(fault.status)
            body = fault.body if fault.body is not None else base.body
            reply = Reply(fault.status, body, {**base.headers, **fault.headers})
        else:
            reply = self._process(request) if fault.processed else json_reply(200, {})
            if fault.kind == "drop_after_body":
                handler.drop()
                return
            if fault.kind == "slow":
                self._stopping.wait(fault.seconds)
            elif fault.kind == "held" and fault.gate is not None:
                while not fault.gate.wait(0.01) and not self._stopping.is_set():
                    pass
            elif fault.kind == "invalid_json":
                reply = Reply(200, b"<html>502 Bad Gateway</html>", content_type="text/html")
        with self._lock:
            request.status = reply.status
        handler.send(reply, truncate=fault is not None and fault.kind == "truncated")


# --- Mixpanel -------------------------------------------------------------------------------

MIXPANEL_IMPORT = "/import"
MIXPANEL_ENGAGE = "/engage"
MIXPANEL_GROUPS = "/groups"

# Written from reference/mixpanel.md §1.2 on purpose, not imported from cdpcli: the fake is an
# independent oracle, so a wrong entry in cdpcli's list makes a test fail instead of agreeing.
BANNED_IDS = frozenset(
    {
        "00000000-0000-0000-0000-000000000000",
        "anon",
        "anonymous",
        "nil",
        "none",
        "null",
        "n/a",
        "na",
        "undefined",
        "unknown",
        "<nil>",
        "0",
        "-1",
        "true",
        "false",
        "[]",
        "{}",
    }
)
INSERT_ID = re.compile(r"[A-Za-z0-9-]{1,36}")
IDENTITY_EVENTS = frozenset({"$identify", "$create_alias", "$merge"})
SIMPLIFIED_ERROR = (
    "identity events are not allowed when project is using simplified identity management"
)
PROFILE_OPS = frozenset({"$set", "$set_once", "$add", "$union", "$append", "$remove", "$unset"})
MIN_TIME_S = 31_536_000  # 1971-01-01T00:00:00Z
FUTURE_TOLERANCE_S = 3600

DedupeKey = tuple[Any, Any, Any, Any]


def dedupe_key(record: Mapping[str, Any]) -> DedupeKey:
    """Mixpanel's dedupe key: (`event`, `time`, `distinct_id`, `$insert_id`)."""
    props = record.get("properties") or {}
    return (
        record.get("event"),
        props.get("time"),
        props.get("distinct_id"),
        props.get("$insert_id"),
    )


class FakeMixpanel(FakeServer):
    """Mixpanel's `/import`, `/engage` and `/groups`, with dedupe and per-record validation.

    State: `events` (every record /import accepted, repeats included), `unique_events()` (by
    dedupe key, latest wins), `profile_updates` / `group_updates` (every accepted update) and
    `profiles` / `groups` (`$set` and `$set_once` applied). Put `$insert_id`s in `poison` to
    make those records fail validation.
    """

    vendor = "mixpanel"

    def __init__(
        self,
        *,
        token: str = MIXPANEL_TOKEN,
        service_account: tuple[str, str] | None = (MIXPANEL_SA_USER, MIXPANEL_SA_SECRET),
        project_id: str = MIXPANEL_PROJECT_ID,
        api_secret: str | None = None,
        identity: Literal["simplified", "original"] = "simplified",
        poison: Iterable[str] = (),
        group_keys: Iterable[str] = ("$group_id", "company_id"),
        failed_id_key: str = "$insert_id",
        max_items: int = 2000,
        max_request_bytes: int = 10_000_000,
        max_item_bytes: int = 1_000_000,
        clock: Clock = time.time,
        quota: Quota | None = None,
    ) -> None:
        super().__init__(clock=clock, quota=quota)
        self.token = token
        self.service_account = service_account
        self.project_id = project_id
        self.api_secret = api_secret
        self.identity = identity
        self.poison: set[str] = set(poison)
        self.group_keys = frozenset(group_keys)
        self.failed_id_key = failed_id_key
        self.max_items = max_items
        self.max_request_bytes = max_request_bytes
        self.max_item_bytes = max_item_bytes
        self._events: list[dict[str, Any]] = []
        self._profile_updates: list[dict[str, Any]] = []
        self._group_updates: list[dict[str, Any]] = []
        self._profiles: dict[str, dict[str, Any]] = {}
        self._groups: dict[tuple[str, str], dict[str, Any]] = {}

    # state accessors (copies, under the lock)
    @property
    def events(self) -> list[dict[str, Any]]:
        with self._lock:
            return list(self._events)

    def unique_events(self) -> dict[DedupeKey, dict[str, Any]]:
        with self._lock:
            return {dedupe_key(r): r for r in self._events}

    @property
    def unique_count(self) -> int:
        return len(self.unique_events())

    @property
    def profile_updates(self) -> list[dict[str, Any]]:
        with self._lock:
            return list(self._profile_updates)

    @property
    def group_updates(self) -> list[dict[str, Any]]:
        with self._lock:
            return list(self._group_updates)

    @property
    def profiles(self) -> dict[str, dict[str, Any]]:
        with self._lock:
            return {k: dict(v) for k, v in self._profiles.items()}

    @property
    def groups(self) -> dict[tuple[str, str], dict[str, Any]]:
        with self._lock:
            return {k: dict(v) for k, v in self._groups.items()}

    # replies
    def error_reply(self, status: int) -> Reply:
        phrase = HTTPStatus(status).phrase if status in HTTPStatus._value2member_map_ else ""
        messages = {
            401: "Invalid credentials",
            413: "request exceeds max limit of 2097152 bytes",
            429: "Project exceeded rate limits. Please retry the request with exponential backoff.",
        }
        error = messages.get(status, phrase)
        return json_reply(status, {"code": status, "error": error, "status": phrase})

    def decode(self, request: RecordedRequest) -> Any:
        if request.path in (MIXPANEL_ENGAGE, MIXPANEL_GROUPS):
            return _loads(self._profile_body(request))
        data = _gunzip(request.raw, request.headers)
        value = _loads(data)
        if value is None and data:
            value = self._ndjson(data)
        return value

    def process(self, request: RecordedRequest) -> Reply:
        if request.method != "POST":
            return json_reply(405, {"code": 405, "error": "method not allowed"})
        if request.path == MIXPANEL_IMPORT:
            return self._import(request)
        if request.path in (MIXPANEL_ENGAGE, MIXPANEL_GROUPS):
            return self._profiles_update(request)
        return json_reply(404, {"code": 404, "error": "not found"})

    # /import
    def _authorized(self, request: RecordedRequest) -> bool:
        auth = request.headers.get("authorization", "")
        scheme, _, encoded = auth.partition(" ")
        if scheme.lower() != "basic":
            return False
        try:
            user, _, password = base64.b64decode(encoded, validate=True).decode().partition(":")
        except (binascii.Error, UnicodeDecodeError):
            return False
        project_id = request.query.get("project_id")
        if self.service_account is not None and (user, password) == self.service_account:
            return project_id == self.project_id
        if password == "" and user == self.token:
            return project_id in (None, self.project_id)
        return self.api_secret is not None and password == "" and user == self.api_secret

    @staticmethod
    def _ndjson(data: bytes) -> list[Any] | None:
        try:
            return [orjson.loads(line) for line in data.splitlines() if line.strip()]
        except orjson.JSONDecodeError:
            return None

    def _bad_request(self, error: str) -> Reply:
        return json_reply(400, {"code": 400, "error": error, "status": "Bad Request"})

    def _import(self, request: RecordedRequest) -> Reply:
        if not self._authorized(request):
            return self.error_reply(401)
        data = _gunzip(request.raw, request.headers)
        if data is None:
            return self._bad_request("unable to decompress gzip request body")
        if len(data) > self.max_request_bytes:
            return json_reply(
                413,
                {
                    "code": 413,
                    "error": f"request exceeds max limit of {self.max_request_bytes} bytes",
                    "status": "Request Entity Too Large",
                },
            )
        records = request.body
        if not isinstance(records, list):
            return self._bad_request("unable to parse request body as a JSON array or NDJSON")
        if len(records) > self.max_items:  # fake: the docs give no status for this; 413 splits
            return json_reply(
                413,
                {
                    "code": 413,
                    "error": f"request exceeds max limit of {self.max_items} events",
                    "status": "Request Entity Too Large",
                },
            )
        if self.identity == "simplified" and any(
            isinstance(r, dict) and r.get("event") in IDENTITY_EVENTS for r in records
        ):
            return json_reply(
                400,
                {
                    "code": 400,
                    "error": "some data points in the request failed validation",
                    "failed_records": [SIMPLIFIED_ERROR],
                    "num_records_imported": 0,
                    "status": "Bad Request",
                },
            )
        strict = request.query.get("strict") == "1"
        failed: list[dict[str, Any]] = []
        imported = 0
        for index, record in enumerate(records):
            problem = self._validate(record)
            if problem is None:
                self._events.append(record)
                imported += 1
            elif strict:
                field_name, message = problem
                props = record.get("properties") if isinstance(record, dict) else None
                insert_id = props.get("$insert_id") if isinstance(props, dict) else None
                failed.append(
                    {
                        "index": index,
                        self.failed_id_key: insert_id,
                        "field": field_name,
                        "message": message,
                    }
                )
        if failed:
            return json_reply(
                400,
                {
                    "code": 400,
                    "error": "some data points in the request failed validation",
                    "failed_records": failed,
                    "num_records_imported": imported,
                    "status": "Bad Request",
                },
            )
        return json_reply(200, {"code": 200, "num_records_imported": imported, "status": "OK"})

    def _validate(self, record: Any) -> tuple[str, str] | None:  # noqa: PLR0911
        """(field, message) of the first problem of one /import record, or None."""
        if not isinstance(record, dict):
            return "", "event must be a JSON object"
        if len(orjson.dumps(record)) > self.max_item_bytes:
            return "", f"event exceeds max size of {self.max_item_bytes} bytes"
        extra = sorted(set(record) - {"event", "properties"})
        if extra:
            return extra[0], f"'{extra[0]}' is not allowed at the top level"
        event = record.get("event")
        if not isinstance(event, str) or not event:
            return "event", "'event' must be a non-empty string"
        props = record.get("properties")
        if not isinstance(props, dict):
            return "properties", "'properties' must be an object"
        if len(props) >= 255:
            return "properties", "event has 255 or more properties"
        when = props.get("time")
        if isinstance(when, bool) or not isinstance(when, int | float):
            return "properties.time", "'properties.time' must be a number"
        seconds = when / 1000 if when > 1e11 else when
        if seconds < MIN_TIME_S:
            return "properties.time", "'properties.time' is before 1971-01-01"
        if seconds > self.clock() + FUTURE_TOLERANCE_S:
            return "properties.time", "'properties.time' is more than 1 hour in the future"
        distinct_id = props.get("distinct_id")
        if isinstance(distinct_id, str) and distinct_id.lower() in BANNED_IDS:
            return "properties.distinct_id", f"'{distinct_id}' is not a valid distinct_id"
        insert_id = props.get("$insert_id")
        if not isinstance(insert_id, str):
            return "properties.$insert_id", "'$insert_id' is required"
        if not INSERT_ID.fullmatch(insert_id) or insert_id.lower() in BANNED_IDS:
            return (
                "properties.$insert_id",
                "'$insert_id' must be 1-36 characters of [A-Za-z0-9-] and not a banned value",
            )
        if insert_id in self.poison:
            return "properties.$insert_id", f"'{insert_id}' is poisoned (fake Mixpanel)"
        return None

    # /engage and /groups
    @staticmethod
    def _profile_body(request: RecordedRequest) -> bytes:
        """JSON text of a profile request: raw JSON, or the form field `data`. No gzip here."""
        if request.headers.get("content-type", "").startswith("application/x-www-form-urlencoded"):
            form = parse_qs(request.raw.decode("utf-8", "replace"))
            return form.get("data", [""])[-1].encode()
        return request.raw

    def _profile_problem(self, path: str, update: Any) -> str | None:
        if not isinstance(update, dict):
            return "update must be a JSON object"
        if update.get("$token") != self.token:
            return "$token, missing or invalid"
        ops = [k for k in update if k in PROFILE_OPS or k == "$delete"]
        if len(ops) != 1:
            return f"exactly one operation expected, got {len(ops)}"
        if path == MIXPANEL_ENGAGE:
            distinct_id = update.get("$distinct_id")
            if not isinstance(distinct_id, str) or not distinct_id:
                return "$distinct_id, missing or empty"
            return None
        if update.get("$group_key") not in self.group_keys:
            return f"$group_key {update.get('$group_key')!r} is not a group key of this project"
        if not isinstance(update.get("$group_id"), str | int) or update.get("$group_id") == "":
            return "$group_id, missing or empty"
        return None

    def _apply(self, path: str, update: dict[str, Any]) -> None:
        if path == MIXPANEL_ENGAGE:
            self._profile_updates.append(update)
            target = self._profiles.setdefault(update["$distinct_id"], {})
        else:
            self._group_updates.append(update)
            key = (update["$group_key"], str(update["$group_id"]))
            target = self._groups.setdefault(key, {})
        if isinstance(update.get("$set"), dict):
            target.update(update["$set"])
        if isinstance(update.get("$set_once"), dict):
            for name, value in update["$set_once"].items():
                target.setdefault(name, value)

    def _profiles_update(self, request: RecordedRequest) -> Reply:
        verbose = request.query.get("verbose") == "1"
        updates = request.body
        if isinstance(updates, dict):
            updates = [updates]
        problems: list[str] = []
        accepted = 0
        if not isinstance(updates, list) or not updates:
            problems.append("data, missing or invalid")
        else:
            for update in updates:
                problem = self._profile_problem(request.path, update)
                if problem is None:
                    self._apply(request.path, update)
                    accepted += 1
                else:
                    problems.append(problem)
        ok = accepted > 0  # Mixpanel answers 1 when some record was valid (reference §1.4)
        if not verbose:
            return Reply(200, b"1" if ok else b"0", content_type="text/plain")
        return json_reply(
            200, {"status": 1, "error": None} if ok else {"status": 0, "error": problems[0]}
        )


# --- Lago -----------------------------------------------------------------------------------

LAGO_BATCH = "/api/v1/events/batch"
LAGO_METRICS = "/api/v1/billable_metrics"
LAGO_PERMITTED = (
    "transaction_id",
    "external_subscription_id",
    "code",
    "timestamp",
    "properties",
    "precise_total_amount_cents",
)
NUMERIC = re.compile(r"\s*[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?\s*")


def _blank(value: Any) -> bool:
    return value is None or (isinstance(value, str) and not value.strip())


def _lago_timestamp(value: Any) -> Decimal | None:
    """Seconds as Decimal, or None when Lago would answer `invalid_format`."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        return Decimal(str(value))
    if isinstance(value, str) and NUMERIC.fullmatch(value):
        try:
            return Decimal(value.strip())
        except InvalidOperation:  # pragma: no cover - the regex admits only numbers
            return None
    return None


def _iso(seconds: Decimal) -> str:
    millis = int(seconds * 1000)
    try:
        when = datetime.fromtimestamp(millis / 1000, tz=UTC)
    except (OverflowError, OSError, ValueError):
        return str(seconds)  # fake: Ruby prints such far dates; Python cannot
    return when.strftime("%Y-%m-%dT%H:%M:%S.") + f"{millis % 1000:03d}Z"


class FakeLago(FakeServer):
    """Lago's `POST /api/v1/events/batch`, Postgres store by default (reference/lago.md §6), and
    `GET /api/v1/billable_metrics` (the read `config check --connect` makes).

    `metrics` maps a billable metric code to the variables its expression reads: an event of
    that code lacking one fails phase 1 with `expression_evaluation_failed`; the list of billable
    metrics shows them. With `store="clickhouse"` nothing is checked for uniqueness and repeats
    overwrite. Keys in `read_only_keys` may not write events (403); keys in `no_read_keys` may
    not read billable metrics (403, fake: they may write events). State: `events` (stored, in
    order), `requests`.
    """

    vendor = "lago"

    def __init__(
        self,
        *,
        api_key: str = LAGO_API_KEY,
        read_only_keys: Iterable[str] = (),
        no_read_keys: Iterable[str] = (),
        max_batch: int = 100,
        metrics: Mapping[str, Iterable[str]] | None = None,
        store: Literal["postgres", "clickhouse"] = "postgres",
        clock: Clock = time.time,
        quota: Quota | None = None,
    ) -> None:
        super().__init__(clock=clock, quota=quota)
        self.api_key = api_key
        self.read_only_keys = frozenset(read_only_keys)
        self.no_read_keys = frozenset(no_read_keys)
        self.max_batch = max_batch
        self.metrics = {code: tuple(names) for code, names in (metrics or {}).items()}
        self.store = store
        self._stored: dict[tuple[Any, ...], dict[str, Any]] = {}
        self._serial = 0

    @property
    def events(self) -> list[dict[str, Any]]:
        with self._lock:
            return list(self._stored.values())

    def transaction_ids(self) -> list[str]:
        return [e["transaction_id"] for e in self.events]

    def seed(self, *events: Mapping[str, Any]) -> None:
        """Store events as if an earlier run had delivered them (skips validation)."""
        with self._lock:
            for event in events:
                item = {k: event.get(k) for k in LAGO_PERMITTED if k in event}
                stored = self._echo(item)
                self._stored[self._key(item, stored)] = stored

    def error_reply(self, status: int) -> Reply:
        if status == 403:
            return json_reply(
                403,
                {"status": 403, "error": "Forbidden", "code": "write_action_not_allowed_for_event"},
            )
        return super().error_reply(status)

    def rate_limited_reply(self, wait: int) -> Reply:
        """Lago Cloud's 429: `X-RateLimit-Reset` in seconds (reference/lago.md §7)."""
        limit = str(self.quota.size if self.quota is not None else 0)
        headers = {"X-RateLimit-Limit": limit, "X-RateLimit-Remaining": "0"}
        return Reply(429, self.error_reply(429).body, {**headers, "X-RateLimit-Reset": str(wait)})

    def _unprocessable(self, details: Any) -> Reply:
        return json_reply(
            422,
            {
                "status": 422,
                "error": "Unprocessable Entity",
                "code": "validation_errors",
                "error_details": details,
            },
        )

    def _key(self, item: Mapping[str, Any], stored: Mapping[str, Any]) -> tuple[Any, ...]:
        if self.store == "clickhouse":
            return (
                item.get("external_subscription_id"),
                item.get("transaction_id"),
                stored["timestamp"],
            )
        if item.get("external_subscription_id") is None:  # Postgres: NULLs never collide
            return (None, item.get("transaction_id"), self._serial)
        return (item.get("external_subscription_id"), item.get("transaction_id"))

    def _echo(self, item: Mapping[str, Any]) -> dict[str, Any]:
        self._serial += 1
        now = Decimal(str(self.clock()))
        seconds = (
            _lago_timestamp(item.get("timestamp")) if item.get("timestamp") is not None else None
        )
        return {
            "lago_id": f"00000000-0000-4000-8000-{self._serial:012d}",
            "transaction_id": item.get("transaction_id"),
            "lago_customer_id": None,
            "code": item.get("code"),
            "timestamp": _iso(seconds if seconds is not None else now),
            "precise_total_amount_cents": item.get("precise_total_amount_cents"),
            "properties": item.get("properties") or {},
            "lago_subscription_id": None,
            "external_subscription_id": item.get("external_subscription_id"),
            "created_at": _iso(now),
        }

    def _phase1(self, item: Mapping[str, Any]) -> dict[str, list[str]] | str | None:
        errors: dict[str, list[str]] = {}
        for name in ("transaction_id", "code"):
            if _blank(item.get(name)):
                errors[name] = ["value_is_mandatory"]
        timestamp = item.get("timestamp")
        if timestamp is not None and _lago_timestamp(timestamp) is None:
            errors["timestamp"] = ["invalid_format"]
        if errors:
            return errors
        props = item.get("properties")
        for variable in self.metrics.get(str(item.get("code")), ()):
            if not isinstance(props, dict) or variable not in props:
                return f"expression_evaluation_failed: Variable: {variable} not found"
        return None

    def _key_of(self, request: RecordedRequest) -> str:
        """The key of `Authorization: Bearer <key>`: the second space-separated token."""
        token = request.headers.get("authorization", "").split(" ")
        return token[1] if len(token) > 1 else ""

    def _billable_metrics(self, request: RecordedRequest) -> Reply:
        """`GET /api/v1/billable_metrics?page=&per_page=`: the `metrics` given, as a page."""
        key = self._key_of(request)
        if key != self.api_key and key not in self.read_only_keys | self.no_read_keys:
            return self.error_reply(401)
        if key in self.no_read_keys:
            return json_reply(
                403,
                {
                    "status": 403,
                    "error": "Forbidden",
                    "code": "read_action_not_allowed_for_billable_metric",
                },
            )
        try:
            page = max(int(request.query.get("page", "1")), 1)
            per_page = max(int(request.query.get("per_page", "20")), 1)
        except ValueError:
            page, per_page = 1, 20
        codes = sorted(self.metrics)
        chosen = codes[(page - 1) * per_page : page * per_page]
        pages = max((len(codes) + per_page - 1) // per_page, 1)
        return json_reply(
            200,
            {
                "billable_metrics": [
                    {"lago_id": f"00000000-0000-4000-9000-{i:012d}", "code": code, "name": code}
                    for i, code in enumerate(chosen)
                ],
                "meta": {
                    "current_page": page,
                    "next_page": page + 1 if page < pages else None,
                    "prev_page": page - 1 if page > 1 else None,
                    "total_pages": pages,
                    "total_count": len(codes),
                },
            },
        )

    def process(self, request: RecordedRequest) -> Reply:
        if request.method == "GET" and request.path == LAGO_METRICS:
            return self._billable_metrics(request)
        if request.method != "POST" or request.path != LAGO_BATCH:
            return json_reply(404, {"status": 404, "error": "Not Found"})
        key = self._key_of(request)
        if key in self.read_only_keys:
            return self.error_reply(403)
        if key != self.api_key:
            return self.error_reply(401)
        body = request.body
        if not isinstance(body, dict):
            return json_reply(
                400,
                {
                    "status": 400,
                    "error": "BadRequest: param is missing or the value is empty: events",
                },
            )
        events = body.get("events")
        if not isinstance(events, list) or not events:
            return self._unprocessable({"events": ["no_events"]})
        if len(events) > self.max_batch:
            return self._unprocessable({"events": ["too_many_events"]})
        items = [
            {k: e[k] for k in LAGO_PERMITTED if k in e} if isinstance(e, dict) else {}
            for e in events
        ]
        details: dict[str, Any] = {}
        for index, item in enumerate(items):
            problem = self._phase1(item)
            if problem is not None:
                details[str(index)] = problem
        if details:
            return self._unprocessable(details)  # phase 1 failed: nothing stored
        serial = self._serial
        staged: dict[tuple[Any, ...], dict[str, Any]] = {}
        order: list[dict[str, Any]] = []
        for index, item in enumerate(items):
            stored = self._echo(item)
            unique = self._key(item, stored)
            if self.store == "postgres" and (unique in self._stored or unique in staged):
                details[str(index)] = {"transaction_id": ["value_already_exist"]}
            staged[unique] = stored
            order.append(stored)
        if details:
            self._serial = serial  # the transaction rolls back
            return self._unprocessable(details)
        self._stored.update(staged)
        return json_reply(200, {"events": order})


# --- pytest fixtures ------------------------------------------------------------------------


@pytest.fixture
def mixpanel_fake() -> Iterator[FakeMixpanel]:
    """A running FakeMixpanel with the default credentials (module constants)."""
    with FakeMixpanel() as fake:
        yield fake
        assert fake.errors == [], fake.errors[0]


@pytest.fixture
def lago_fake() -> Iterator[FakeLago]:
    """A running FakeLago (Postgres store) accepting `LAGO_API_KEY`."""
    with FakeLago() as fake:
        yield fake
        assert fake.errors == [], fake.errors[0]
