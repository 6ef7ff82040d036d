"""Which reader a source string means: ``hf:NAME``, a folder, a tarball, a parquet, CSV or JSONL file."""

from __future__ import annotations

from pathlib import Path

from apps.reviews.importers.aclimdb import AclImdbFolder, AclImdbTarball
from apps.reviews.importers.hub import HubReader
from apps.reviews.importers.parquet import ParquetReader
from apps.reviews.importers.rows import ReviewImportError, ReviewReader
from apps.reviews.importers.tabular import CsvReader, JsonlReader

HUB_PREFIX = "hf:"
TARBALL_SUFFIXES = (".tar.gz", ".tgz", ".tar", ".tar.bz2", ".tar.xz")
KINDS = (
    "hf:imdb (the Hugging Face hub), a folder of train/test/unsupervised parquet files, an aclImdb folder or "
    "aclImdb_v1.tar.gz, a .parquet file, a .csv file with review,sentiment columns, "
    "or a .jsonl file with text and label"
)


def open_source(location: str) -> ReviewReader:
    """The reader for ``location``; raises ReviewImportError when it is missing or of no known kind."""
    location = location.strip()
    if not location:
        raise ReviewImportError(f"No source given. Give one of: {KINDS}.")
    if location.startswith(HUB_PREFIX):
        name = location.removeprefix(HUB_PREFIX).strip()
        if not name:
            raise ReviewImportError(f"{location}: give the dataset's name after 'hf:', as in hf:imdb.")
        return HubReader(location, name)
    path = Path(location).expanduser()
    if not path.exists():
        raise ReviewImportError(f"{location}: no such file or folder. Give one of: {KINDS}.")
    if path.is_dir():
        reader = AclImdbFolder.find(location, path) or ParquetReader.find(location, path)
        if reader is None:
            raise ReviewImportError(
                f"{location}: this folder holds no reviews in a known layout. Expected {ParquetReader.layout}; "
                f"or {AclImdbFolder.layout}."
            )
        return reader
    name = path.name.lower()
    if name.endswith(TARBALL_SUFFIXES):
        return AclImdbTarball(location, path)
    if name.endswith(".parquet"):
        return ParquetReader(location, [path])
    if name.endswith(".csv"):
        return CsvReader(location, path)
    if name.endswith((".jsonl", ".ndjson")):
        return JsonlReader(location, path)
    raise ReviewImportError(f"{location}: not a kind of file that can be imported. Give one of: {KINDS}.")
