"""The original Large Movie Review Dataset: ``aclImdb/{train,test}/{pos,neg,unsup}/<id>_<rating>.txt``.

External ids are the file paths without ``.txt`` (``train/pos/0_9``), the ids the parquet copy carries,
so the folder, the tarball and the parquet files import as the same reviews.
"""

from __future__ import annotations

import bz2
import gzip
import lzma
import re
import tarfile
import zlib
from collections.abc import Iterator
from io import BufferedIOBase
from pathlib import Path

from apps.reviews.importers.rows import (
    ImportLimits,
    ReviewImportError,
    ReviewReader,
    ReviewRow,
    checked_rating,
    checked_text,
    origin_split_for,
    size_text,
)

SPLITS = ("train", "test")
GROUPS = ("neg", "pos", "unsup")
_GROUP_LABELS: dict[str, int | None] = {"neg": 0, "pos": 1, "unsup": None}
_REVIEW_PATH = re.compile(r"(?:^|/)(?P<split>train|test)/(?P<group>pos|neg|unsup)/(?P<name>[^/]+\.txt)$")
_REVIEW_NAME = re.compile(r"^(?P<number>\d+)_(?P<rating>\d+)\.txt$")
LAYOUT = "review files aclImdb/{train,test}/{pos,neg,unsup}/<id>_<rating>.txt"


def review_row(*, split: str, group: str, name: str, data: bytes, where: str) -> ReviewRow:
    match = _REVIEW_NAME.match(name)
    if match is None:
        raise ReviewImportError(f"{where}: the file name should be <id>_<rating>.txt, as in 0_9.txt.")
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as error:
        raise ReviewImportError(
            f"{where}: not valid UTF-8 (byte 0x{data[error.start]:02x} at offset {error.start}). "
            "Save the file as UTF-8 and import again."
        ) from None
    return ReviewRow(
        external_id=f"{split}/{group}/{name.removesuffix('.txt')}",
        text=checked_text(text, where=where),
        gold_label=_GROUP_LABELS[group],
        rating=checked_rating(int(match["rating"]), where=where),
        origin_split=origin_split_for("unsupervised" if group == "unsup" else split),
    )


class AclImdbFolder(ReviewReader):
    kind = "aclImdb folder"
    layout = LAYOUT

    def __init__(self, location: str, root: Path) -> None:
        super().__init__(location)
        self.root = root

    @classmethod
    def find(cls, location: str, folder: Path) -> AclImdbFolder | None:
        """The reader for ``folder`` if it is (or holds) an ``aclImdb`` folder, else None."""
        for root in (folder, folder / "aclImdb"):
            if any((root / split / group).is_dir() for split in SPLITS for group in GROUPS):
                return cls(location, root)
        return None

    def _review_files(self) -> Iterator[tuple[str, str, Path]]:
        for split in SPLITS:
            for group in GROUPS:
                folder = self.root / split / group
                if folder.is_dir():
                    # Numeric order (0_9, 1_7, ..., 10_8) as the dataset numbers them.
                    files = sorted(folder.glob("*.txt"), key=lambda path: (len(path.name.split("_")[0]), path.name))
                    for path in files:
                        yield split, group, path

    def total(self) -> int:
        return sum(1 for _ in self._review_files())

    def rows(self) -> Iterator[ReviewRow]:
        limits = ImportLimits.from_settings()
        for split, group, path in self._review_files():
            try:
                if path.stat().st_size > limits.review_bytes:
                    raise ReviewImportError(_too_long(str(path), path.stat().st_size, limits))
                data = path.read_bytes()
            except OSError as error:
                raise ReviewImportError(f"{path}: cannot be read ({error.strerror}).") from error
            yield review_row(split=split, group=group, name=path.name, data=data, where=str(path))


class AclImdbTarball(ReviewReader):
    """``aclImdb_v1.tar.gz`` read as a stream: nothing is unpacked to disk."""

    kind = "aclImdb tarball"
    layout = LAYOUT

    def __init__(self, location: str, path: Path) -> None:
        super().__init__(location)
        self.path = path

    def rows(self) -> Iterator[ReviewRow]:
        for member_name, place, data in self._review_members():
            yield review_row(
                split=place["split"],
                group=place["group"],
                name=place["name"],
                data=data,
                where=f"{self.path}: {member_name}",
            )

    def _review_members(self) -> Iterator[tuple[str, re.Match[str], bytes]]:
        limits = ImportLimits.from_settings()
        try:
            with _open_decompressed(self.path) as stream:
                watched = _TailWatcher(stream, limit=limits.decompressed_bytes, where=str(self.path))
                with tarfile.open(fileobj=watched, mode="r|") as archive:  # type: ignore[call-overload]
                    for count, member in enumerate(archive, start=1):
                        if count > limits.members:
                            raise ReviewImportError(
                                f"{self.path}: more than {limits.members:,} files in the archive "
                                "(IMPORT_MAX_ARCHIVE_MEMBERS); aclImdb holds about 100,000."
                            )
                        place = _REVIEW_PATH.search(member.name) if member.isfile() else None
                        if place and member.size > limits.review_bytes:
                            raise ReviewImportError(_too_long(f"{self.path}: {member.name}", member.size, limits))
                        handle = archive.extractfile(member) if place else None
                        if place and handle:
                            yield member.name, place, handle.read()
                # tarfile takes a stream cut between two members for the end of the archive; the
                # end-of-archive marker (zero blocks) tells the two apart.
                while watched.read(1 << 16):
                    pass
                if watched.tail != bytes(_END_MARKER_BYTES):
                    raise tarfile.ReadError("the end-of-archive marker is missing")
        except (tarfile.TarError, EOFError, OSError, zlib.error, lzma.LZMAError) as error:
            raise ReviewImportError(
                f"{self.path}: the archive is truncated or damaged ({error}). Download it again."
            ) from error


_END_MARKER_BYTES = 2 * tarfile.BLOCKSIZE


def _open_decompressed(path: Path) -> BufferedIOBase:
    """The tarball's bytes, decompressed by modules that notice a compressed stream cut short."""
    with path.open("rb") as probe:
        magic = probe.read(6)
    if magic.startswith(b"\x1f\x8b"):
        return gzip.open(path, "rb")
    if magic.startswith(b"BZh"):
        return bz2.open(path, "rb")
    if magic.startswith(b"\xfd7zXZ\x00"):
        return lzma.open(path, "rb")
    return path.open("rb")


def _too_long(where: str, size: int, limits: ImportLimits) -> str:
    return (
        f"{where}: {size_text(size)}, more than any review may be "
        f"(IMPORT_MAX_REVIEW_CHARS = {limits.review_chars:,} characters). Remove the file and import again."
    )


class _TailWatcher:
    """A read-only stream that remembers the last bytes read through it and stops past ``limit`` bytes:
    a small compressed file may unpack to gigabytes."""

    def __init__(self, stream: BufferedIOBase, *, limit: int, where: str) -> None:
        self.stream = stream
        self.tail = b""
        self.limit = limit
        self.where = where
        self.read_bytes = 0

    def read(self, size: int = -1) -> bytes:
        data = self.stream.read(size if size >= 0 else self.limit + 1 - self.read_bytes)
        if data:
            self.read_bytes += len(data)
            if self.read_bytes > self.limit:
                raise ReviewImportError(
                    f"{self.where}: unpacks to more than {size_text(self.limit)} (IMPORT_MAX_DECOMPRESSED_BYTES); "
                    "aclImdb_v1.tar.gz unpacks to about 0.5 GB."
                )
            self.tail = (self.tail + data[-_END_MARKER_BYTES:])[-_END_MARKER_BYTES:]
        return data
