"""Importing IMDb from a folder of parquet files in the Hugging Face layout."""

from __future__ import annotations

from pathlib import Path

import pytest

from apps.common.choices import JobStatus
from apps.reviews.importers import ReviewImportError
from apps.reviews.models import ImportJob, Review
from apps.reviews.selectors import review_counts_by_split_and_label
from apps.reviews.services import review_import
from tests.reviews.conftest import IMDB_SAMPLE, SampleReview, write_parquet, write_parquet_folder

pytestmark = pytest.mark.django_db


def split_table() -> list[tuple[str, int, int, int]]:
    return [(row.split, row.negative, row.positive, row.unlabelled) for row in review_counts_by_split_and_label()]


def test_a_parquet_folder_imports_every_review_with_its_split_label_rating_and_id(parquet_folder: Path) -> None:
    result = review_import(source=str(parquet_folder))

    assert (result.rows_read, result.rows_created, result.rows_existing) == (9, 9, 0)
    assert result.source_name == "imdb"
    assert split_table() == [("Train", 2, 3, 0), ("Test", 1, 1, 0), ("Unsupervised", 0, 0, 2)]
    stored = {review.external_id: review for review in Review.objects.all()}
    assert set(stored) == {sample.external_id for sample in IMDB_SAMPLE}
    assert {review.source for review in stored.values()} == {"imdb"}
    masterpiece = stored["train/pos/1_10"]
    assert (masterpiece.gold_label, masterpiece.rating, masterpiece.origin_split) == (1, 10, "train")
    assert masterpiece.text == "A masterpiece, from the first shot to the last."
    unlabelled = stored["train/unsup/0_0"]
    assert (unlabelled.gold_label, unlabelled.rating, unlabelled.origin_split) == (None, None, "unsupervised")


def test_importing_the_same_folder_again_creates_nothing_and_says_so(parquet_folder: Path) -> None:
    review_import(source=str(parquet_folder))

    again = review_import(source=str(parquet_folder))

    assert (again.rows_read, again.rows_created, again.rows_existing) == (9, 0, 9)
    assert "0 new, 9 already present" in again.summary
    assert Review.objects.count() == 9
    job = again.job
    job.refresh_from_db()
    assert (job.status, job.rows_read, job.rows_created, job.rows_existing) == (JobStatus.SUCCEEDED, 9, 0, 9)


def test_a_folder_with_new_reviews_adds_only_those(tmp_path: Path) -> None:
    review_import(source=str(write_parquet_folder(tmp_path / "old", IMDB_SAMPLE[:4])))

    result = review_import(source=str(write_parquet_folder(tmp_path / "new", IMDB_SAMPLE)))

    assert (result.rows_created, result.rows_existing) == (5, 4)
    assert Review.objects.count() == 9


def test_rows_without_an_id_column_are_named_by_split_and_row_number(tmp_path: Path) -> None:
    folder = write_parquet_folder(tmp_path / "imdb", with_ids=False, with_ratings=False)

    review_import(source=str(folder))

    ids = set(Review.objects.values_list("external_id", flat=True))
    assert ids == {
        "train/0",
        "train/1",
        "train/2",
        "train/3",
        "train/4",
        "test/0",
        "test/1",
        "unsupervised/0",
        "unsupervised/1",
    }
    assert set(Review.objects.values_list("rating", flat=True)) == {None}


def test_hub_shards_under_plain_text_number_rows_across_the_shards_of_a_split(tmp_path: Path) -> None:
    train = [review for review in IMDB_SAMPLE if review.split == "train"]
    write_parquet(tmp_path / "imdb" / "plain_text" / "train-00000-of-00002.parquet", train[:3], with_ids=False)
    write_parquet(tmp_path / "imdb" / "plain_text" / "train-00001-of-00002.parquet", train[3:], with_ids=False)

    review_import(source=str(tmp_path / "imdb"))

    texts = dict(Review.objects.values_list("external_id", "text"))
    assert texts == {f"train/{index}": review.text for index, review in enumerate(train)}


def test_a_folder_without_the_label_column_imports_nothing_and_names_the_file(tmp_path: Path) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    write_parquet_folder(tmp_path / "imdb")
    broken = tmp_path / "imdb" / "test.parquet"
    pq.write_table(pa.table({"text": ["Fine."], "sentiment": ["positive"]}), broken)

    with pytest.raises(ReviewImportError) as error:
        review_import(source=str(tmp_path / "imdb"))

    assert str(error.value).startswith(f"{broken}: no 'label' column (it has: text, sentiment).")
    assert Review.objects.count() == 0
    job = ImportJob.objects.get()
    assert job.status == JobStatus.FAILED
    assert job.error == str(error.value)
    assert job.rows_created == 0


def test_a_label_outside_0_1_and_minus_1_imports_nothing_and_names_the_row(tmp_path: Path) -> None:
    reviews = [*IMDB_SAMPLE, SampleReview("test/pos/9_9", "Odd label.", 7, 9)]
    folder = write_parquet_folder(tmp_path / "imdb", reviews)

    with pytest.raises(ReviewImportError) as error:
        review_import(source=str(folder))

    assert str(error.value) == (
        f"{folder / 'test.parquet'}, row 3: label is 7; expected positive or negative (or 1 / 0); "
        "-1 or null for an unlabelled review."
    )
    assert Review.objects.count() == 0


def test_an_empty_review_text_imports_nothing(tmp_path: Path) -> None:
    folder = write_parquet_folder(tmp_path / "imdb", [*IMDB_SAMPLE, SampleReview("test/neg/5_1", "  \n ", 0, 1)])

    with pytest.raises(ReviewImportError, match=r"test\.parquet, row 3: the review text is empty\."):
        review_import(source=str(folder))

    assert Review.objects.count() == 0
    assert ImportJob.objects.get().status == JobStatus.FAILED


def test_a_parquet_file_not_named_after_a_split_is_refused(parquet_folder: Path) -> None:
    write_parquet(parquet_folder / "validation.parquet", IMDB_SAMPLE[:1])

    with pytest.raises(ReviewImportError, match=r"validation\.parquet: not an IMDb split file"):
        review_import(source=str(parquet_folder))

    assert Review.objects.count() == 0


def test_a_file_that_is_not_parquet_is_refused(parquet_folder: Path) -> None:
    (parquet_folder / "test.parquet").write_bytes(b"this is not parquet")

    with pytest.raises(ReviewImportError, match=r"test\.parquet: not a readable parquet file"):
        review_import(source=str(parquet_folder))

    assert Review.objects.count() == 0
