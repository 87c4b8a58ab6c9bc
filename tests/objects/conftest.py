"""Session fixtures of the object-storage tests: one moto S3 server and one fake-gcs-server,
each holding the archive of `tests.objects.helpers` (plus, in S3, a console's folder marker), and
the same archive in a local folder."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.objects.helpers import BUCKET, PREFIX, Archive, write_archive
from tests.objects.servers import FakeGcs, Moto, upload_tree


@pytest.fixture(scope="session")
def archive(tmp_path_factory: pytest.TempPathFactory) -> Archive:
    root = tmp_path_factory.mktemp("local-archive")
    return Archive(root, write_archive(root))


@pytest.fixture(scope="session")
def moto(archive: Archive) -> Iterator[Moto]:
    server = Moto()
    try:
        server.s3.create_bucket(Bucket=BUCKET)
        upload_tree(archive.local, server.put, BUCKET)
        server.put(BUCKET, f"{PREFIX}/Bw9cMvKE2f/", b"")  # a console's "folder"
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="session")
def gcs(archive: Archive) -> Iterator[FakeGcs]:
    server = FakeGcs()
    try:
        server.create_bucket(BUCKET)
        upload_tree(archive.local, server.put, BUCKET)
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="session")
def home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A HOME without ~/.aws or gcloud credentials."""
    return tmp_path_factory.mktemp("home")
