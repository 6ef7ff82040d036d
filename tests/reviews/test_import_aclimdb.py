"""Importing the original aclImdb folder or its tarball, and deduplicating against the parquet copy."""

from __future__ import annotations

import gzip
from pathlib import Path

import pytest

from apps.common.choices import JobStatus
from apps.reviews.importers import ReviewImportError
from apps.reviews.models import ImportJob, Review
from apps.reviews.selectors import review_counts_by_split_and_label
from apps.reviews.services import review_import
from tests.reviews.conftest import IMDB_SAMPLE, SampleReview, write_aclimdb, write_tarball

pytestmark = pytest.mark.django_db

EXPECTED_SPLITS = [("Train", 2, 3, 0), ("Test", 1, 1, 0), ("Unsupervised", 0, 0, 2)]


def split_table() -> list[tuple[str, int, int, int]]:
    return [(row.split, row.negative, row.positive, row.unlabelled) for row in review_counts_by_split_and_label()]


def stored_reviews() -> dict[str, tuple[str, int | None, int | None, str]]:
    return {
        review.external_id: (review.text, review.gold_label, review.rating, review.origin_split)
        for review in Review.objects.all()
    }


def expected_reviews() -> dict[str, tuple[str, int | None, int | None, str]]:
    return {
        sample.external_id: (
            sample.text,
            None if sample.label < 0 else sample.label,
            sample.rating or None,
            sample.split,
        )
        for sample in IMDB_SAMPLE
    }


@pytest.mark.parametrize("given", ["download folder", "aclImdb folder"])
def test_an_aclimdb_folder_imports_every_review_named_by_its_path(aclimdb_folder: Path, given: str) -> None:
    source = aclimdb_folder.parent if given == "download folder" else aclimdb_folder

    result = review_import(source=str(source))

    assert (result.rows_read, result.rows_created, result.source_name) == (9, 9, "imdb")
    assert split_table() == EXPECTED_SPLITS
    assert stored_reviews() == expected_reviews()


def test_an_aclimdb_tarball_imports_the_same_reviews(aclimdb_tarball: Path) -> None:
    result = review_import(source=str(aclimdb_tarball))

    assert result.rows_created == 9
    assert stored_reviews() == expected_reviews()


def test_parquet_aclimdb_folder_and_tarball_of_the_same_reviews_import_them_once(
    parquet_folder: Path, aclimdb_folder: Path, aclimdb_tarball: Path
) -> None:
    first = review_import(source=str(parquet_folder))
    from_folder = review_import(source=str(aclimdb_folder))
    from_tarball = review_import(source=str(aclimdb_tarball))

    assert first.rows_created == 9
    assert (from_folder.rows_created, from_folder.rows_existing) == (0, 9)
    assert (from_tarball.rows_created, from_tarball.rows_existing) == (0, 9)
    assert Review.objects.count() == 9


def test_a_truncated_tarball_imports_nothing_and_names_the_file(tmp_path: Path) -> None:
    # Enough reviews that the cut falls after some of them have been read.
    reviews = [
        SampleReview(f"train/pos/{number}_8", f"Review {number}: {'great ' * 200}", 1, 8) for number in range(200)
    ]
    whole = write_tarball(write_aclimdb(tmp_path / "download", reviews), tmp_path / "whole.tar.gz")
    truncated = tmp_path / "aclImdb_v1.tar.gz"
    truncated.write_bytes(whole.read_bytes()[: whole.stat().st_size // 2])

    with pytest.raises(ReviewImportError) as error:
        review_import(source=str(truncated))

    assert str(error.value).startswith(f"{truncated}: the archive is truncated or damaged")
    assert str(error.value).endswith("Download it again.")
    assert Review.objects.count() == 0
    job = ImportJob.objects.get()
    assert (job.status, job.rows_created) == (JobStatus.FAILED, 0)
    assert job.error == str(error.value)


def test_a_file_that_is_not_a_tarball_is_refused(tmp_path: Path) -> None:
    fake = tmp_path / "aclImdb_v1.tar.gz"
    fake.write_bytes(gzip.compress(b"just some text, no tar archive in here " * 30))

    with pytest.raises(ReviewImportError, match=r"aclImdb_v1\.tar\.gz: the archive is truncated or damaged"):
        review_import(source=str(fake))

    assert Review.objects.count() == 0


def test_a_review_file_that_is_not_utf8_imports_nothing_and_names_the_file(aclimdb_folder: Path) -> None:
    bad = aclimdb_folder / "test" / "pos" / "0_8.txt"
    bad.write_bytes("Loved it, caf\u00e9 and all.".encode("latin-1"))

    with pytest.raises(ReviewImportError) as error:
        review_import(source=str(aclimdb_folder))

    assert str(error.value) == (
        f"{bad}: not valid UTF-8 (byte 0xe9 at offset 13). Save the file as UTF-8 and import again."
    )
    assert Review.objects.count() == 0


def test_a_review_file_named_without_a_rating_is_refused(aclimdb_folder: Path) -> None:
    bad = aclimdb_folder / "train" / "neg" / "notes.txt"
    bad.write_text("Some notes.")

    with pytest.raises(ReviewImportError, match=r"notes\.txt: the file name should be <id>_<rating>\.txt"):
        review_import(source=str(aclimdb_folder))

    assert Review.objects.count() == 0


def test_an_empty_review_file_is_refused(tmp_path: Path) -> None:
    root = write_aclimdb(tmp_path / "other", IMDB_SAMPLE)
    (root / "train" / "pos" / "3_8.txt").write_text("   ")
    tarball = write_tarball(root, tmp_path / "with-empty.tar.gz")

    with pytest.raises(ReviewImportError) as error:
        review_import(source=str(tarball))

    assert str(error.value) == f"{tarball}: aclImdb/train/pos/3_8.txt: the review text is empty."
    assert Review.objects.count() == 0
