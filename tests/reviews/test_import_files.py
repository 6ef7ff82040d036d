"""Importing CSV (the Kaggle IMDb layout, review,sentiment) and JSON Lines (text, label) files."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest

from apps.common.choices import JobStatus
from apps.reviews.importers import ReviewImportError
from apps.reviews.models import ImportJob, Review
from apps.reviews.services import review_import

pytestmark = pytest.mark.django_db

KAGGLE_CSV = (
    "review,sentiment\n"
    '"One of the other reviewers has mentioned that after watching just 1 Oz episode you\'ll be hooked.",positive\n'
    "\"Basically there's a family where a little boy (Jake) thinks there's a zombie in his closet, "
    'and it is awful.", Negative \n'
    '"A wonderful little production.<br /><br />The filming technique is very unassuming.",POSITIVE\n'
    "\"This show was an amazing, fresh & innovative idea in the 70's when it first aired.\nThe first 7 or 8 years "
    'brought excellent sketches.",negative\n'
)


def sha256(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def write(path: Path, content: str | bytes) -> Path:
    if isinstance(content, str):
        path.write_text(content, encoding="utf-8")
    else:
        path.write_bytes(content)
    return path


def write_jsonl(path: Path, records: list[object]) -> Path:
    return write(path, "".join(json.dumps(record) + "\n" for record in records))


def test_a_kaggle_csv_imports_each_review_with_its_sentiment_named_by_the_sha256_of_its_text(tmp_path: Path) -> None:
    csv_file = write(tmp_path / "IMDB Dataset.csv", KAGGLE_CSV)

    result = review_import(source=str(csv_file))

    assert (result.rows_read, result.rows_created, result.source_name) == (4, 4, "IMDB Dataset")
    labels = {review.text[:20]: review.gold_label for review in Review.objects.all()}
    assert labels == {
        "One of the other rev": 1,
        "Basically there's a ": 0,
        "A wonderful little p": 1,
        "This show was an ama": 0,
    }
    multiline = Review.objects.get(text__startswith="This show")
    assert multiline.text.endswith(
        "in the 70's when it first aired.\nThe first 7 or 8 years brought excellent sketches."
    )
    assert multiline.external_id == sha256(multiline.text)
    assert set(Review.objects.values_list("source", "origin_split", "rating").distinct()) == {
        ("IMDB Dataset", "", None)
    }


def test_importing_the_same_csv_again_creates_nothing_and_says_so(tmp_path: Path) -> None:
    csv_file = write(tmp_path / "reviews.csv", KAGGLE_CSV)
    review_import(source=str(csv_file))

    again = review_import(source=str(csv_file))

    assert "0 new, 4 already present" in again.summary
    assert Review.objects.count() == 4


def test_the_same_text_twice_in_a_file_is_one_review(tmp_path: Path) -> None:
    csv_file = write(tmp_path / "reviews.csv", "review,sentiment\nGreat.,positive\nAwful.,negative\nGreat.,positive\n")

    result = review_import(source=str(csv_file))

    assert (result.rows_read, result.rows_created, result.rows_existing) == (3, 2, 1)


def test_source_name_chooses_where_reviews_are_filed_and_found_again(tmp_path: Path) -> None:
    csv_file = write(tmp_path / "IMDB Dataset.csv", KAGGLE_CSV)

    review_import(source=str(csv_file), source_name="kaggle-imdb")
    again = review_import(source=str(csv_file), source_name="kaggle-imdb")

    assert set(Review.objects.values_list("source", flat=True)) == {"kaggle-imdb"}
    assert again.rows_created == 0


def test_a_csv_with_text_label_and_id_columns_uses_the_ids(tmp_path: Path) -> None:
    csv_file = write(tmp_path / "mine.csv", "id,text,label\nr1,Great.,1\nr2,Awful.,0\n")

    review_import(source=str(csv_file))

    assert dict(Review.objects.values_list("external_id", "gold_label")) == {"r1": 1, "r2": 0}


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (
            "review,sentiment\nGreat.,positive\nMeh.,neutral\n",
            "line 3: sentiment is 'neutral'; expected positive or negative (or 1 / 0).",
        ),
        (
            "review,sentiment\nGreat.,positive\nMeh.,\n",
            "line 3: sentiment is empty; expected positive or negative (or 1 / 0).",
        ),
        ("review,sentiment\nGreat.,positive\n   ,negative\n", "line 3: the review text is empty."),
        (
            "text,stars\nGreat.,5\n",
            "line 1: no 'sentiment' column (the header has: text, stars). Expected a header line review,sentiment "
            "(the Kaggle IMDb file) or text,label, optionally with id.",
        ),
        (
            "review,sentiment\nGreat, really great,positive\n",
            "line 2: 3 fields where the header has 2 (review, sentiment). "
            'Put reviews that contain commas or line breaks in double quotes ("...").',
        ),
        ("", ": the file is empty; expected a header line review,sentiment."),
        ("review,sentiment\n", ": found no reviews in this CSV file."),
    ],
    ids=[
        "unknown sentiment",
        "empty sentiment",
        "blank review",
        "missing column",
        "unquoted comma",
        "empty",
        "header only",
    ],
)
def test_a_bad_csv_imports_nothing_and_says_where_and_what(tmp_path: Path, content: str, message: str) -> None:
    csv_file = write(tmp_path / "reviews.csv", content)

    with pytest.raises(ReviewImportError) as error:
        review_import(source=str(csv_file))

    assert str(error.value).startswith(f"{csv_file}{'' if message.startswith(':') else ', '}{message}")
    assert Review.objects.count() == 0
    job = ImportJob.objects.get()
    assert (job.status, job.error) == (JobStatus.FAILED, str(error.value))


def test_a_csv_that_is_not_utf8_imports_nothing_and_names_the_line(tmp_path: Path) -> None:
    csv_file = write(
        tmp_path / "reviews.csv", "review,sentiment\nGreat.,positive\nA caf\u00e9 film.,negative\n".encode("cp1252")
    )

    with pytest.raises(ReviewImportError) as error:
        review_import(source=str(csv_file))

    assert str(error.value) == (
        f"{csv_file}, line 3: not valid UTF-8 (byte 0xe9 at column 6). Save the file as UTF-8 and import it again."
    )
    assert Review.objects.count() == 0


def test_a_csv_saved_with_a_byte_order_mark_imports(tmp_path: Path) -> None:
    csv_file = write(tmp_path / "reviews.csv", "\ufeffreview,sentiment\nGreat.,positive\n".encode())

    assert review_import(source=str(csv_file)).rows_created == 1


def test_a_jsonl_file_imports_labels_as_numbers_or_words_and_keeps_ids(tmp_path: Path) -> None:
    jsonl = write_jsonl(
        tmp_path / "batch.jsonl",
        [
            {"id": "a", "text": "Great.", "label": 1},
            {"id": 7, "text": "Awful.", "label": "negative"},
            {"text": "Pretty good.", "label": " Positive "},
            {"text": "No opinion yet.", "label": None},
        ],
    )

    result = review_import(source=str(jsonl))

    assert (result.rows_created, result.source_name) == (4, "batch")
    assert dict(Review.objects.values_list("external_id", "gold_label")) == {
        "a": 1,
        "7": 0,
        sha256("Pretty good."): 1,
        sha256("No opinion yet."): None,
    }


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ('{"text": "Meh.", "label": "neutral"}', "label is 'neutral'; expected positive or negative (or 1 / 0)"),
        ('{"text": "Meh.", "label": 2}', "label is 2; expected positive or negative"),
        (
            '{"review": "Meh.", "label": 1}',
            "no 'text' (the object has: review, label). Every line needs text and label.",
        ),
        ('{"text": "Meh."}', "no 'label' (the object has: text). Every line needs text and label."),
        ('{"text": "", "label": 1}', "the review text is empty."),
        ('{"text": 42, "label": 1}', "the review text is int 42, not text."),
        ('{"text": "Meh.", "label": 1', "not valid JSON (Expecting ',' delimiter at column 28)."),
        ('["Meh.", 1]', 'expected an object like {"text": "...", "label": "positive"}, found list.'),
    ],
    ids=[
        "unknown label",
        "label 2",
        "no text",
        "no label",
        "empty text",
        "text not a string",
        "broken json",
        "not an object",
    ],
)
def test_a_bad_jsonl_line_imports_nothing_and_says_where_and_what(tmp_path: Path, line: str, message: str) -> None:
    jsonl = write(tmp_path / "batch.jsonl", '{"text": "Great.", "label": 1}\n\n' + line + "\n")

    with pytest.raises(ReviewImportError) as error:
        review_import(source=str(jsonl))

    assert str(error.value).startswith(f"{jsonl}, line 3: {message}")
    assert Review.objects.count() == 0
    assert ImportJob.objects.get().status == JobStatus.FAILED


def test_a_jsonl_file_that_is_not_utf8_names_the_line(tmp_path: Path) -> None:
    jsonl = write(tmp_path / "batch.jsonl", b'{"text": "Great.", "label": 1}\n{"text": "Caf\xe9.", "label": 1}\n')

    with pytest.raises(ReviewImportError, match=r"batch\.jsonl, line 2: not valid UTF-8"):
        review_import(source=str(jsonl))

    assert Review.objects.count() == 0
