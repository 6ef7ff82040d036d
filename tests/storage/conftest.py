"""An S3-compatible server of the tests' own (moto's standalone server, on a free port) and settings that use it."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from workers.ml.storage import Storage

BUCKET = "sentiment-tests"
# moto accepts any credentials; they are set so botocore finds some, as it would in production.
AWS_ENVIRONMENT = {
    "AWS_ACCESS_KEY_ID": "storage-tests",
    "AWS_SECRET_ACCESS_KEY": "storage-tests-secret",
    "AWS_DEFAULT_REGION": "us-east-1",
}


@dataclass
class ObjectStore:
    """The running server, and the URL of a prefix of the bucket that no other test uses."""

    endpoint_url: str
    url: str

    def storage(self, child: str = "") -> Storage:
        root = Storage(self.url, endpoint_url=self.endpoint_url)
        return root.child(child) if child else root


@pytest.fixture(scope="session")
def s3_endpoint() -> Iterator[str]:
    from moto.server import ThreadedMotoServer

    saved = {name: os.environ.get(name) for name in AWS_ENVIRONMENT}
    os.environ.update(AWS_ENVIRONMENT)
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    endpoint = f"http://{host}:{port}"
    Storage(f"s3://{BUCKET}", endpoint_url=endpoint).fs.mkdir(BUCKET)
    yield endpoint
    server.stop()
    for name, value in saved.items():
        if value is None:
            os.environ.pop(name, None)
        else:
            os.environ[name] = value


def new_object_store(endpoint: str) -> ObjectStore:
    return ObjectStore(endpoint_url=endpoint, url=f"s3://{BUCKET}/{uuid.uuid4().hex[:12]}")


@pytest.fixture
def object_store(s3_endpoint: str) -> ObjectStore:
    return new_object_store(s3_endpoint)


def use_object_store(settings: Any, store: ObjectStore, var_dir: Path) -> None:
    """This (web) process keeps models and uploads in `store`, and its own folders under `var_dir`."""
    settings.ARTIFACT_STORAGE_URL = store.url
    settings.ARTIFACT_STORAGE_ENDPOINT_URL = store.endpoint_url
    settings.ARTIFACT_ROOT = var_dir / "artifacts"
    settings.ARTIFACT_CACHE_DIR = var_dir / "artifact-cache"
    settings.IMPORT_UPLOAD_DIR = var_dir / "uploads"


def files_under(folder: Path) -> list[str]:
    """Every file below `folder`, relative to it (an absent folder holds none)."""
    if not folder.exists():
        return []
    return sorted(path.relative_to(folder).as_posix() for path in folder.rglob("*") if path.is_file())
