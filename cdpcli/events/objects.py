"""Inputs in object storage (PRODUCT.md §3.1): `s3://BUCKET/KEY-OR-PREFIX` and
`gs://BUCKET/KEY-OR-PREFIX`, listed and streamed with obstore.

- A URL ending in `/` (or naming a bucket) is a prefix; any other names an object if there is
  one, else the prefix of that name (as a path names a file or a directory). A prefix is listed
  recursively; the reader (`cdpcli.events.reader`) takes its event files, in key order.
- An object is streamed in chunks of about 1 MiB (memory stays flat whatever its size), through
  `ObjectReader`, a raw binary stream the reader reads like a file (gzip found by content).
- Every read is bound to what the listing saw: the ETag and size (and, once the first answer gives
  it, the GCS generation) are checked on every answer, sent as `If-Match` (S3) or `generation`
  (GCS): an object that changes while it is read is an error, never two versions spliced.
- A transient failure (a refused or dropped connection, a timeout, a 5xx, a 429) is retried
  with the injected backoff (the deliveries' `cdpcli.retry.RetryPolicy`, given by the
  caller), and a read resumes at the byte it stopped at; after the last attempt it is an
  `InputError` (exit 4). Missing bucket or key: exit 4; access denied or no credentials: exit 5,
  naming the variables the cloud reads. Every message names the URL.

obstore is not fork-safe: once this process has made a request, a forked child that uses it
hangs. Objects are therefore always read in this process, never by `--jobs` workers (which read
only plain local files). obstore itself is imported only when an object is used.

obstore's calls block without heeding signals until the server answers or a timeout passes (a
minute for a stalled read). Each runs in a helper thread while this one waits for it and for the
run's stop event, so that Ctrl-C or SIGTERM ends a run at once whatever the store does (the call
left behind ends with its timeout, in a daemon thread).
"""

from __future__ import annotations

import functools
import io
import os
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any, TypeVar

from cdpcli.errors import CdpError, CredentialsError, InputError, UsageError
from cdpcli.events import cloud
from cdpcli.events.object_errors import Kind, classify
from cdpcli.retry import RetryPolicy

SCHEMES = ("s3://", "gs://")
CHUNK_BYTES = 1 << 20
LIST_PAGE = 1000
_STOP_POLL_SECONDS = 0.1

T = TypeVar("T")


def is_object_url(name: str) -> bool:
    """Whether a PATH argument names object storage."""
    return name.startswith(SCHEMES)


@dataclass(frozen=True, slots=True)
class ObjectURL:
    """`SCHEME://BUCKET/KEY`; `key` is "" for a whole bucket, and ends in `/` for a prefix."""

    scheme: str
    bucket: str
    key: str

    @classmethod
    def parse(cls, text: str) -> ObjectURL:
        scheme, _, rest = text.partition("://")
        bucket, _, key = rest.partition("/")
        if not bucket:
            raise UsageError(
                f"{text}: no bucket in the URL",
                hint=f"give {scheme}://BUCKET/PREFIX/ or {scheme}://BUCKET/KEY",
            )
        if "//" in f"/{key}".rstrip("/") or key.startswith("/"):
            raise UsageError(
                f"{text}: the key holds an empty path segment (`//`), which cdpcli cannot address",
                hint="name the prefix above it, or copy those objects to keys without `//`",
            )
        return cls(scheme, bucket, key)

    @property
    def is_prefix(self) -> bool:
        return self.key == "" or self.key.endswith("/")

    def url(self, key: str | None = None) -> str:
        return f"{self.scheme}://{self.bucket}/{self.key if key is None else key}"


@dataclass(frozen=True)
class StoredObject:
    """One object as the listing (or HEAD) saw it."""

    url: str
    location: ObjectURL
    size: int
    etag: str | None
    version: str | None
    stores: ObjectStores = field(compare=False, repr=False)

    @property
    def key(self) -> str:
        return self.location.key

    @property
    def binding(self) -> dict[str, Any]:
        """What a checkpoint binds this object to: its ETag (or generation) and size."""
        bound: dict[str, Any] = {"etag": self.etag, "size": self.size}
        if self.version is not None:
            bound["version"] = self.version
        return bound

    def open(self) -> ObjectReader:
        return ObjectReader(self)


@dataclass(frozen=True)
class Found:
    """What a URL names: one object (`prefix` false), or every object under a prefix, in key
    order (folder markers included: the reader tells them apart)."""

    objects: list[StoredObject]
    prefix: bool
    location: ObjectURL


class ObjectStores:
    """The object stores of one run: their clients (one per bucket), the retry policy for
    transient failures, and the stop event that cuts a backoff short (Ctrl-C)."""

    def __init__(
        self,
        *,
        retry: RetryPolicy | None = None,
        stop: threading.Event | None = None,
        environ: Mapping[str, str] | None = None,
        sleep: Callable[[float], None] = time.sleep,
        rand: Callable[[], float] | None = None,
        chunk_bytes: int = CHUNK_BYTES,
    ) -> None:
        self.retry = retry if retry is not None else RetryPolicy()
        self.stop = stop
        self.environ = os.environ if environ is None else environ
        self.chunk_bytes = chunk_bytes
        self._sleep = sleep
        if rand is None:
            import random

            rand = random.random
        self._rand = rand
        self._stores: dict[tuple[str, str], Any] = {}
        self._anonymous: set[tuple[str, str]] = set()

    # --- what a URL names -------------------------------------------------------------------

    def find(self, text: str) -> Found:
        """The object, or the objects under the prefix, that the URL `text` names. Raises
        InputError when there is nothing there (exit 4), CredentialsError when access is
        refused (exit 5)."""
        location = ObjectURL.parse(text)
        if not location.is_prefix:
            head = self.head(location)
            if head is not None:
                return Found([head], prefix=False, location=location)
        objects = self.list(location)
        if not objects:
            what = "prefix" if location.is_prefix else "object or prefix"
            raise InputError(
                f"{text}: no such {what} (nothing is stored under it)",
                hint=f"check the key: list what is there with `{_list_command(location)}`",
            )
        return Found(objects, prefix=True, location=location)

    def head(self, location: ObjectURL) -> StoredObject | None:
        """The object at `location`, or None when there is none."""
        import obstore

        url, key = location.url(), location.key
        try:
            meta = self._call(
                location, url, lambda store: self.blocking(lambda: obstore.head(store, key))
            )
        except _Missing:
            return None
        return self._object(location, meta)

    def list(self, location: ObjectURL) -> list[StoredObject]:
        """Every object under the prefix `location` names (a path prefix: `a/b` lists `a/b/...`),
        sorted by key. A listing cut by a transient failure goes on after the last key."""
        import obstore

        prefix = location.key.rstrip("/") or None
        found: list[StoredObject] = []
        url = location.url()

        def page_on(store: Any) -> None:
            offset = found[-1].key if found else None
            pages = iter(obstore.list(store, prefix, offset=offset, chunk_size=LIST_PAGE))
            while (page := self.blocking(lambda: next(pages, None))) is not None:
                for meta in page:
                    found.append(self._object(location, meta))

        try:
            self._call(location, url, page_on, progress=lambda: len(found))
        except _Missing:  # a listing's 404: the bucket is not there
            raise _no_bucket(location) from None
        found.sort(key=lambda o: o.key)
        return found

    def _object(self, location: ObjectURL, meta: Mapping[str, Any]) -> StoredObject:
        key = str(meta["path"])
        at = ObjectURL(location.scheme, location.bucket, key)
        return StoredObject(
            at.url(),
            at,
            int(meta["size"]),
            _etag(meta.get("e_tag")),
            meta.get("version"),
            self,
        )

    # --- requests -----------------------------------------------------------------------------

    def store(self, location: ObjectURL) -> Any:
        key = (location.scheme, location.bucket)
        store = self._stores.get(key)
        if store is None:
            anonymous = key in self._anonymous or cloud.skips_signature(
                location.scheme, self.environ
            )
            store = cloud.make_store(
                location.scheme, location.bucket, self.environ, anonymous=anonymous
            )
            self._stores[key] = store
        return store

    def _call(
        self,
        location: ObjectURL,
        url: str,
        request: Callable[[Any], T],
        *,
        progress: Callable[[], int] | None = None,
    ) -> T:
        """`request(store)`, retried after transient failures; an error it ends with becomes a
        CdpError naming `url` (or `_Missing` for a 404, which the caller interprets).
        `progress` tells whether a failed attempt got somewhere (then attempts count anew)."""
        attempt = 0
        while True:
            attempt += 1
            before = progress() if progress is not None else 0
            try:
                return request(self.store(location))
            except (OSError, ValueError, _obstore_error()) as error:
                if progress is not None and progress() > before:
                    attempt = 1
                kind, reason = classify(error)
                if kind is Kind.NO_CREDENTIALS and self._go_anonymous(location):
                    attempt -= 1
                    continue
                if kind is Kind.NOT_FOUND:
                    raise _Missing(reason) from error
                self.backoff_or_raise(
                    location, url, attempt=attempt, kind=kind, reason=reason, error=error
                )

    def backoff_or_raise(
        self,
        location: ObjectURL,
        url: str,
        *,
        attempt: int,
        kind: Kind,
        reason: str,
        error: BaseException,
        reading: bool = False,
    ) -> None:
        """Wait before the next attempt of a transient failure, or raise the error it is."""
        if kind is Kind.TRANSIENT and self.retry.should_retry(attempt):
            self.wait(self.retry.delay(attempt, server_hint=None, rand=self._rand))
            return
        raise self.error(location, url, kind, reason, attempts=attempt, reading=reading) from error

    def blocking(self, call: Callable[[], T]) -> T:
        """`call()` (a blocking request of the client library) in a helper thread, while this
        thread waits for it, heeding signals and the stop event (then KeyboardInterrupt)."""
        outcome: list[tuple[bool, Any]] = []
        done = threading.Event()

        def run() -> None:
            try:
                outcome.append((True, call()))
            except BaseException as error:  # raised again in the waiting thread
                outcome.append((False, error))
            finally:
                done.set()

        threading.Thread(target=run, name="cdpcli-object-store", daemon=True).start()
        while not done.wait(_STOP_POLL_SECONDS):
            if self.stop is not None and self.stop.is_set():
                raise KeyboardInterrupt
        ok, value = outcome[0]
        if not ok:
            raise value
        result: T = value
        return result

    def wait(self, seconds: float) -> None:
        """Sleep before a retry; a stop request (Ctrl-C, SIGTERM) cuts it short."""
        if self.stop is None:
            self._sleep(seconds)
        elif self.stop.wait(seconds):
            raise KeyboardInterrupt

    def _go_anonymous(self, location: ObjectURL) -> bool:
        """No credentials anywhere: try unsigned requests (a public bucket), once per bucket."""
        key = (location.scheme, location.bucket)
        if key in self._anonymous or cloud.credentials_configured(location.scheme, self.environ):
            return False
        self._anonymous.add(key)
        self._stores.pop(key, None)
        return True

    def error(
        self,
        location: ObjectURL,
        url: str,
        kind: Kind,
        reason: str,
        *,
        attempts: int = 1,
        reading: bool = False,
    ) -> CdpError:
        """The error a run stops with, naming the URL and what to do."""
        scheme = location.scheme
        anonymous = (scheme, location.bucket) in self._anonymous or cloud.skips_signature(
            scheme, self.environ
        )
        if kind is Kind.NO_BUCKET:
            return _no_bucket(location)
        if kind is Kind.NOT_FOUND:
            return InputError(
                f"{url}: no such object ({reason})",
                hint=f"check the key: list what is there with `{_list_command(location)}`",
            )
        if kind in (Kind.DENIED, Kind.NO_CREDENTIALS):
            if kind is Kind.NO_CREDENTIALS:  # configured, yet no token came of them
                message = f"{url}: the credentials configured gave no token ({reason})"
            elif anonymous:
                message = f"{url}: no credentials found, and anonymous access is refused ({reason})"
            else:
                message = f"{url}: access denied ({reason})"
            return CredentialsError(
                message,
                hint=f"the {_cloud_name(scheme)} credentials come from {cloud.variables(scheme)}; "
                f"they need to allow {_permissions(scheme)} on {location.bucket}",
            )
        if kind is Kind.CHANGED:
            return InputError(
                f"{url}: the object changed while it was being read ({reason})",
                hint="re-run once the archive is no longer being written to "
                "(with --checkpoint the run resumes where it stopped)",
            )
        if kind is Kind.REDIRECT:
            return InputError(
                f"{url}: the bucket is in another region ({reason})",
                hint="set AWS_REGION to the bucket's region",
            )
        if kind is Kind.TRANSIENT:
            doing = "reading" if reading else "reaching"
            tried = f" after {attempts} attempts" if attempts > 1 else ""
            return InputError(
                f"{url}: the object store failed while {doing} it{tried} ({reason})",
                hint=_network_hint(scheme)
                + "; re-run (with --checkpoint the run resumes where it stopped)",
            )
        return InputError(f"{url}: cannot read from the object store: {reason}")


class ObjectReader(io.RawIOBase):
    """A raw binary stream of one object, read in chunks; `tell()` is how many bytes of it have
    been read. Reads resume after transient failures at the byte they stopped at."""

    def __init__(self, stored: StoredObject) -> None:
        super().__init__()
        self.stored = stored
        self._stores = stored.stores
        self._received = 0
        self._chunk = memoryview(b"")
        self._stream: Iterator[bytes] | None = None
        self._version = stored.version
        self._failures = 0

    def readable(self) -> bool:
        return True

    def tell(self) -> int:
        return self._received - len(self._chunk)

    def readinto(self, buffer: Any) -> int:
        chunk: memoryview | None = self._chunk
        if not chunk:
            chunk = self._next_chunk()
            if chunk is None:
                return 0
        size = min(len(buffer), len(chunk))
        buffer[:size] = chunk[:size]
        self._chunk = chunk[size:]
        return size

    def close(self) -> None:
        self._stream = None
        super().close()

    def _next_chunk(self) -> memoryview | None:
        stored = self.stored
        while True:
            if self._stream is None:
                if self._received >= stored.size:
                    return None
                self._stream = self._open()
                if self._stream is None:
                    continue
            try:
                data = self._stores.blocking(functools.partial(next, self._stream, None))
            except (OSError, ValueError, _obstore_error()) as error:
                self._stream = None
                self._failed(*classify(error), error)
                continue
            if data is None:
                self._stream = None
                if self._received >= stored.size:
                    return None
                self._failed(Kind.TRANSIENT, "the answer ended early", None)
                continue
            self._received += len(data)
            self._failures = 0
            if self._received > stored.size:
                self._failed(Kind.CHANGED, "it grew", None)
            return memoryview(data)

    def _open(self) -> Iterator[bytes] | None:
        """A GET from the byte reached so far, bound to the object the listing saw."""
        import obstore

        stored = self.stored
        options: dict[str, Any] = {}
        if self._received:
            options["range"] = {"offset": self._received}
        if stored.etag is not None:
            options["if_match"] = f'"{stored.etag}"'
        if self._version is not None:
            options["version"] = self._version
        get: Any = obstore.get  # its options are a TypedDict: built here as a plain dict
        store = self._stores.store(stored.location)
        try:
            result = self._stores.blocking(lambda: get(store, stored.key, options=options or None))
        except (OSError, ValueError, _obstore_error()) as error:
            kind, reason = classify(error)
            if kind is Kind.NOT_FOUND and (self._received or self._version is not None):
                kind, reason = Kind.CHANGED, "it is gone, or its generation is"
            self._failed(kind, reason, error)
            return None
        meta = result.meta
        etag = _etag(meta.get("e_tag"))
        if int(meta["size"]) != stored.size or (
            stored.etag is not None and etag is not None and etag != stored.etag
        ):
            self._failed(Kind.CHANGED, f"ETag {etag}, {meta['size']} bytes now", None)
        if self._version is None and stored.location.scheme == cloud.GS:
            self._version = meta.get("version")  # pins the resumed reads to this generation
        chunks: Iterator[bytes] = iter(result.stream(min_chunk_size=self._stores.chunk_bytes))
        return chunks

    def _failed(self, kind: Kind, reason: str, error: BaseException | None) -> None:
        self._failures += 1
        stored = self.stored
        if kind is Kind.CHANGED:
            reason = f"listed with ETag {stored.etag}, {stored.size} bytes; {reason}"
        exception = error if error is not None else RuntimeError(reason)
        self._stores.backoff_or_raise(
            stored.location,
            stored.url,
            attempt=self._failures,
            kind=kind,
            reason=reason,
            error=exception,
            reading=True,
        )


class _Missing(Exception):
    """A 404: what it means depends on the request (no object there, or no bucket)."""


def _obstore_error() -> type[Exception]:
    from obstore.exceptions import BaseError

    return BaseError


def _etag(value: Any) -> str | None:
    """An ETag without its quotes (listings and answers differ in quoting)."""
    if not value:
        return None
    text = str(value)
    if text.startswith("W/"):
        text = text[2:]
    return text.strip('"')


def _no_bucket(location: ObjectURL) -> InputError:
    return InputError(
        f"{location.url()}: no such bucket: {location.bucket}",
        hint="check the bucket's name"
        + (" and AWS_REGION / AWS_ENDPOINT_URL" if location.scheme == cloud.S3 else ""),
    )


def _list_command(location: ObjectURL) -> str:
    parent = location.key.rsplit("/", 1)[0] + "/" if "/" in location.key.rstrip("/") else ""
    if location.scheme == cloud.S3:
        return f"aws s3 ls s3://{location.bucket}/{parent}"
    return f"gcloud storage ls gs://{location.bucket}/{parent}"


def _cloud_name(scheme: str) -> str:
    return "AWS" if scheme == cloud.S3 else "Google Cloud"


def _permissions(scheme: str) -> str:
    if scheme == cloud.S3:
        return "s3:ListBucket and s3:GetObject"
    return "storage.objects.list and storage.objects.get"


def _network_hint(scheme: str) -> str:
    if scheme == cloud.S3:
        return "check the network, and AWS_ENDPOINT_URL if you use one"
    return "check the network, and STORAGE_EMULATOR_HOST if you use one"
