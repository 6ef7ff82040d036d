"""Caps on what one import may hold, for every importer: a small hostile file imports nothing and says which
limit it broke, instead of filling a worker's memory or the database with one enormous review."""

from __future__ import annotations

import io
import json
import tarfile
from pathlib import Path
from typing import Any

import pyarrow
import pyarrow.parquet
import pytest

from apps.reviews.importers import ReviewImportError
from apps.reviews.models import Review
from apps.reviews.services import review_import

pytestmark = pytest.mark.django_db

LONGEST = 1_000

@pytest.fixture(autouse=True)
def _small_limits(settings: Any) -> None:
    settings.IMPORT_MAX_REVIEW_CHARS = LONGEST
    settings.IMPORT_MAX_ARCHIVE_MEMBERS = 50
    settings.IMPORT_MAX_DECOMPRESSED_BYTES = 200_000

def _refused(source: Path) -> str:
    with pytest.raises(ReviewImportError) as error:
        review_import(source=str(source))
    assert Review.objects.count() == 0
    return str(error.value)

def _tarball(path: Path, members: list[tuple[str, bytes]]) -> Path:
    with tarfile.open(path, "w:gz") as archive:
        for name, data in members:
            info = tarfile.TarInfo(name)
            info.size = len(data)
            archive.addfile(info, io.BytesIO(data))
    return path

def test_a_csv_review_longer_than_the_limit_is_refused_naming_file_line_and_limit(tmp_path: Path) -> None:
    source = tmp_path / "reviews.csv"
    source.write_text(f"review,sentiment\nFine.,positive\n{'a' * (LONGEST + 1)},negative\n")

    message = _refused(source)

    assert message.startswith(f"{source}, line 3: the review is 1,001 characters")
    assert "1,000 (IMPORT_MAX_REVIEW_CHARS)" in message

def test_a_jsonl_line_of_gigantic_length_is_refused_before_it_is_read_whole(tmp_path: Path) -> None:
    source = tmp_path / "reviews.jsonl"
    source.write_text(json.dumps({"text": "x" * 100_000, "label": 1}) + "\n")

    message = _refused(source)

    assert message.startswith(f"{source}, line 1: longer than")
    assert "IMPORT_MAX_REVIEW_CHARS = 1,000 characters" in message

def test_a_jsonl_line_nested_a_million_deep_is_refused_not_a_crash(tmp_path: Path, settings: Any) -> None:
    settings.IMPORT_MAX_REVIEW_CHARS = 1_000_000
    source = tmp_path / "deep.jsonl"
    source.write_text("[" * 1_000_000 + "]" * 1_000_000 + "\n")

    assert _refused(source) == f"{source}, line 1: nested too deeply to be a review; each line is one flat object."

def test_a_tarball_member_larger_than_a_review_may_be_is_refused_naming_it(tmp_path: Path) -> None:
    source = _tarball(tmp_path / "aclImdb_v1.tar.gz", [("aclImdb/train/pos/0_9.txt", b"y" * 10_000)])

    message = _refused(source)

    assert message.startswith(f"{source}: aclImdb/train/pos/0_9.txt: 10 KB, more than any review may be")
    assert "IMPORT_MAX_REVIEW_CHARS = 1,000 characters" in message

def test_a_small_tarball_that_unpacks_to_more_than_the_limit_is_refused(tmp_path: Path) -> None:
    # 1 MB of zeros compresses to about 1 KB: the bomb is a file that is not even a review.
    source = _tarball(tmp_path / "aclImdb_v1.tar.gz", [("aclImdb/README", bytes(1_000_000))])
    assert source.stat().st_size < 10_000

    message = _refused(source)

    assert message == (
        f"{source}: unpacks to more than 200 KB (IMPORT_MAX_DECOMPRESSED_BYTES); aclImdb_v1.tar.gz unpacks to about 0.5 GB."
    )

def test_a_tarball_with_more_members_than_the_limit_is_refused(tmp_path: Path) -> None:
    members = [(f"aclImdb/train/pos/{n}_9.txt", b"Good.") for n in range(51)]
    source = _tarball(tmp_path / "aclImdb_v1.tar.gz", members)

    assert "more than 50 files in the archive (IMPORT_MAX_ARCHIVE_MEMBERS)" in _refused(source)

def test_an_aclimdb_folder_file_larger_than_a_review_may_be_is_refused(tmp_path: Path) -> None:
    folder = tmp_path / "aclImdb" / "train" / "pos"
    folder.mkdir(parents=True)
    (folder / "0_9.txt").write_bytes(b"z" * 10_000)

    assert _refused(tmp_path / "aclImdb").startswith(f"{folder / '0_9.txt'}: 10 KB, more than any review may be")

def test_a_parquet_file_that_unpacks_to_more_than_the_limit_is_refused(tmp_path: Path) -> None:
    source = tmp_path / "train.parquet"
    table = pyarrow.table({"text": [f"{n:04d}" + "w" * 896 for n in range(400)], "label": [1] * 400})
    pyarrow.parquet.write_table(table, source, compression="zstd")

    message = _refused(source)

    assert message.startswith(f"{source}: unpacks to")
    assert "more than 200 KB (IMPORT_MAX_DECOMPRESSED_BYTES)" in message

def test_a_parquet_review_longer_than_the_limit_is_refused(tmp_path: Path) -> None:
    source = tmp_path / "train.parquet"
    pyarrow.parquet.write_table(pyarrow.table({"text": ["v" * (LONGEST + 5)], "label": [0]}), source)

    assert "the review is 1,005 characters; the longest a review may be is 1,000" in _refused(source)

def test_reviews_within_every_limit_import(tmp_path: Path) -> None:
    source = _tarball(tmp_path / "aclImdb_v1.tar.gz", [("aclImdb/train/pos/0_9.txt", b"A" * LONGEST)])

    review_import(source=str(source))

    assert Review.objects.get().text == "A" * LONGEST

