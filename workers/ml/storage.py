"""Where model artifacts and uploaded files live: a local folder or S3-compatible object storage, one interface.

`Storage` is a root (a folder path, or a URL such as ``s3://bucket/prefix``) and the few operations the
platform needs, over fsspec: s3fs for ``s3://``, fsspec's own local filesystem for a path. Keys are
``/``-separated names under the root; a key that would leave the root is refused.

Credentials for ``s3://`` come from wherever botocore looks (AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY,
AWS_PROFILE, an instance role); an S3-compatible server (MinIO, Ceph, moto) is named by `endpoint_url`
or AWS_ENDPOINT_URL.

Object storage has no rename, so a model is published file by file with its manifest last
(`workers.ml.artifacts.publish_to_storage`): a reader that finds no manifest knows the model is not
there yet.
"""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path, PurePosixPath
from typing import IO, Any

import fsspec
from fsspec.implementations.local import LocalFileSystem


class StorageError(OSError):
    """Storage that cannot be reached or used, with a message saying what to check."""


class Storage:
    """A root in a local folder or an object store, and the operations on the keys beneath it."""

    def __init__(self, url: str | Path, *, endpoint_url: str | None = None) -> None:
        text = str(url).rstrip("/")
        if not text:
            raise StorageError("A storage root needs a folder path or a URL such as s3://bucket/prefix.")
        options: dict[str, Any] = {}
        # What the S3 client raises besides OSError (no credentials, no connection), to be said as a StorageError.
        self._client_errors: tuple[type[Exception], ...] = ()
        if text.startswith("s3://"):
            from botocore.exceptions import BotoCoreError

            self._client_errors = (BotoCoreError,)
            if not text[len("s3://"):].split("/", 1)[0]:
                raise StorageError(f"{url!r} names no bucket: write s3://bucket or s3://bucket/prefix.")
            if endpoint_url:
                options["endpoint_url"] = endpoint_url
            # Another process publishes while this one reads: a remembered listing would hide new objects.
            options["use_listings_cache"] = False
        self.url = text
        self.endpoint_url = endpoint_url or None
        try:
            self.fs, self.root = fsspec.core.url_to_fs(text, **options)
        except (ImportError, ValueError) as error:
            raise StorageError(f"{url!r} is not a storage fsspec can open: {error}") from None
        self.is_local = isinstance(self.fs, LocalFileSystem)
        self.root = self.root.rstrip("/")

    def __repr__(self) -> str:
        return f"Storage({self.url!r})"

    def child(self, name: str) -> Storage:
        """The storage rooted at `name` under this one (``artifacts``, ``uploads``)."""
        return Storage(self.url_of(name), endpoint_url=self.endpoint_url)

    def path(self, key: str) -> str:
        """The filesystem path of `key`, refusing keys that are absolute or climb out of the root."""
        parts = PurePosixPath(key).parts
        if not parts or key.startswith("/") or any(part in ("..", ".") for part in parts) or "\\" in key:
            raise StorageError(f"{key!r} is not a name inside the storage {self.url}.")
        return f"{self.root}/{'/'.join(parts)}"

    def url_of(self, key: str) -> str:
        """Where `key` lives, as a person can look it up: a path for a folder, the URL for an object store."""
        relative = self.path(key)[len(self.root) + 1:]
        return f"{self.url}/{relative}"

    def key_of(self, url: str) -> str | None:
        """The key of a `url_of` answer when it lies under this root, else None."""
        prefix = f"{self.url}/"
        if not str(url).startswith(prefix):
            return None
        key = str(url)[len(prefix):]
        try:
            self.path(key)
        except StorageError:
            return None
        return key

    def exists(self, key: str) -> bool:
        return bool(self._call(key, "look for", self.fs.exists, self.path(key)))

    def read_bytes(self, key: str, *, limit: int | None = None) -> bytes:
        """The object's bytes; FileNotFoundError when there is none.

        With `limit`, at most `limit` + 1 bytes are read, so a caller can refuse an object larger than it expects.
        """
        if limit is None:
            return self._call(key, "read", self.fs.cat_file, self.path(key))
        with self._call(key, "read", self.fs.open, self.path(key), "rb") as handle:
            return self._call(key, "read", handle.read, limit + 1)

    def size(self, key: str) -> int:
        """The object's size in bytes; FileNotFoundError when there is none."""
        return int(self._call(key, "look at", self.fs.size, self.path(key)))

    def write_bytes(self, key: str, data: bytes) -> None:
        self._make_parent(key)
        self._call(key, "write", self.fs.pipe_file, self.path(key), data)

    @contextmanager
    def open_for_writing(self, key: str) -> Iterator[IO[bytes]]:
        """A binary file to stream into; on object storage the object appears whole when it is closed."""
        self._make_parent(key)
        with self._call(key, "write", self.fs.open, self.path(key), "wb") as handle:
            yield handle

    def put_file(self, local: Path, key: str) -> None:
        self._make_parent(key)
        self._call(key, "write", self.fs.put_file, str(local), self.path(key))

    def get_file(self, key: str, local: Path) -> None:
        """Copy the object to `local`; FileNotFoundError when there is none."""
        Path(local).parent.mkdir(parents=True, exist_ok=True)
        self._call(key, "read", self.fs.get_file, self.path(key), str(local))

    def list_files(self, key: str) -> list[str]:
        """Every file under `key`, as keys relative to it, sorted."""
        base = self.path(key)
        found = self._call(key, "list", self.fs.find, base)
        return sorted(str(name)[len(base) + 1:] for name in found if str(name).startswith(f"{base}/"))

    def remove(self, key: str) -> None:
        """Remove `key` and everything under it; nothing there is fine."""
        path = self.path(key)
        try:
            if self.fs.exists(path):
                self.fs.rm(path, recursive=True)
        except FileNotFoundError:
            pass
        except self._storage_errors() as error:
            raise StorageError(f"Could not remove {self.url_of(key)}: {error}") from error

    def move_folder_in(self, local: Path, key: str) -> None:
        """Move a local folder to `key` in one rename (local storage only: callers check `is_local`)."""
        target = Path(self.path(key))
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.move(str(local), target)

    @contextmanager
    def local_copy(self, key: str, *, scratch: Path | None = None) -> Iterator[Path]:
        """A local file holding the object: the file itself for local storage, else a temporary copy."""
        if self.is_local:
            yield Path(self.path(key))
            return
        with tempfile.TemporaryDirectory(prefix="storage-copy-", dir=scratch) as folder:
            local = Path(folder) / PurePosixPath(key).name
            self.get_file(key, local)
            yield local

    def _storage_errors(self) -> tuple[type[Exception], ...]:
        """What a failed storage call raises: OSError, and the client library's own errors."""
        return (OSError, *self._client_errors)

    def _make_parent(self, key: str) -> None:
        if self.is_local:
            Path(self.path(key)).parent.mkdir(parents=True, exist_ok=True)

    def _call(self, key: str, action: str, function: Any, *args: Any) -> Any:
        try:
            return function(*args)
        except FileNotFoundError as error:
            if action != "write":
                raise
            raise StorageError(f"Could not write {self.url_of(key)}: {error}. Check that the bucket exists.") from error
        except PermissionError as error:
            raise StorageError(
                f"Could not {action} {self.url_of(key)}: access denied ({error}). Check the storage credentials "
                "(AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY) and the bucket's permissions."
            ) from error
        except self._storage_errors() as error:
            raise StorageError(
                f"Could not {action} {self.url_of(key)}: {error}. Check that the storage server answers "
                "(ARTIFACT_STORAGE_ENDPOINT_URL) and the credentials (AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY)."
            ) from error
