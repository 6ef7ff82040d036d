"""Uploading reviews to label: CSV, JSON Lines and plain text; bad files import nothing and say why."""

from __future__ import annotations

import json

import pytest
from django.contrib.auth.models import User
from django.core.files.uploadedfile import SimpleUploadedFile

from apps.common.choices import JobStatus
from apps.labelling.models import LabellingQueue, QueueItem
from apps.reviews.uploads import UploadError, review_upload
from apps.reviews.models import ImportJob, Review
from tests.labelling.conftest import signed_in

pytestmark = pytest.mark.django_db


def upload(name: str, content: bytes, **kwargs: object):
    return review_upload(file=SimpleUploadedFile(name, content), **kwargs)


def test_a_csv_with_a_review_column_imports_unlabelled_reviews() -> None:
    content = 'review\n"Great, simply great."\n"Dull, with a twist: ""none""."\n'.encode()

    result = upload("batch one.csv", content)

    assert (result.rows_read, result.rows_created, result.source_name) == (2, 2, "batch one")
    assert sorted(Review.objects.values_list("text", "gold_label")) == [
        ('Dull, with a twist: "none".', None),
        ("Great, simply great.", None),
    ]
    assert result.job.source == "upload: batch one.csv" and result.job.status == JobStatus.SUCCEEDED


def test_a_csv_may_carry_ids_and_labels() -> None:
    upload("kaggle.csv", b"id,text,sentiment\nr1,Superb.,positive\nr2,Awful.,\n")

    assert sorted(Review.objects.values_list("external_id", "gold_label")) == [("r1", 1), ("r2", None)]


def test_json_lines_and_plain_text() -> None:
    lines = [{"text": "Moving <b>and</b> true.", "id": 7}, {"text": "Meh.", "label": "negative", "rating": 3}]
    upload("a.jsonl", "\n".join(json.dumps(line) for line in lines).encode())
    upload("b.txt", "Line one is a review.\n\n  Line two, café.  \r\nLine three.".encode())

    assert Review.objects.filter(source="a").count() == 2
    assert Review.objects.get(source="a", external_id="7").text == "Moving <b>and</b> true."
    assert Review.objects.get(text="Meh.").rating == 3
    assert sorted(Review.objects.filter(source="b").values_list("text", flat=True)) == [
        "Line one is a review.", "Line three.", "Line two, café.",
    ]


def test_uploading_the_same_file_again_adds_nothing() -> None:
    upload("same.txt", b"One.\nTwo.\n")

    again = upload("same.txt", b"One.\nTwo.\nThree.\n")

    assert (again.rows_read, again.rows_created, again.rows_existing) == (3, 1, 2)


@pytest.mark.parametrize(
    ("name", "content", "message"),
    [
        ("bad.txt", "fine\n".encode() + b"caf\xe9\n", "bad.txt, line 2: not valid UTF-8 (byte 0xe9 at column 4)"),
        ("bad.csv", b"title,body\nx,y\n", "line 1: no 'review' or 'text' column"),
        ("bad.csv", b"review,label\nfine,positive\n\"unclosed,positive\n", "line 3: 1 fields where the header has 2"),
        ("bad.csv", b"review,label\ngood,positive\nshifty,neutral\n", "bad.csv, line 3: label is 'neutral'"),
        ("bad.csv", b"review,label\ngood,positive\nthree,fields,here\n", "line 3: 3 fields where the header has 2"),
        ("bad.jsonl", b'{"text": "ok"}\n{"text": "unterminated\n', "bad.jsonl, line 2: not valid JSON"),
        ("bad.jsonl", b'{"text": "ok"}\n["a list"]\n', "line 2: expected an object"),
        ("bad.jsonl", b'{"text": "ok"}\n{"review": "wrong key"}\n', "line 2: no 'text'"),
        ("bad.jsonl", b'{"text": "ok"}\n{"text": "   "}\n', "line 2: the review text is empty"),
        ("empty.txt", b"\n\n", "holds no reviews"),
        ("reviews.pdf", b"%PDF", "Cannot tell the format"),
    ],
)
def test_a_bad_file_imports_nothing_and_says_why(name: str, content: bytes, message: str) -> None:
    with pytest.raises(UploadError) as refused:
        upload(name, content)

    assert message in str(refused.value)
    assert not Review.objects.exists()
    assert not ImportJob.objects.exists()


def test_a_file_over_the_size_limit_is_refused(settings: object) -> None:
    settings.IMPORT_MAX_UPLOAD_BYTES = 100  # type: ignore[attr-defined]

    with pytest.raises(UploadError, match="big.txt is 0.0 MB; the largest upload is 0.0 MB"):
        upload("big.txt", b"x" * 101)
    assert not Review.objects.exists()


def test_the_upload_page_imports_and_offers_a_queue(admin: User) -> None:
    client = signed_in(admin)

    response = client.post(
        "/labelling/upload/",
        {"file": SimpleUploadedFile("new.txt", b"First.\nSecond.\n"), "create_queue": "on"},
        follow=True,
    )

    page = response.content.decode()
    assert "Imported 2 reviews from new.txt: 2 new, 0 already present" in page
    queue = LabellingQueue.objects.get()
    items = QueueItem.objects.filter(queue=queue).count()
    assert (queue.pool, queue.pool_import.source, items) == ("import", "upload: new.txt", 2)
    assert list(queue.annotators.all()) == [admin]


def test_the_upload_page_shows_why_a_file_was_refused(admin: User) -> None:
    response = signed_in(admin).post("/labelling/upload/", {"file": SimpleUploadedFile("x.txt", b"\xff\xfe")})

    page = response.content.decode()
    assert "x.txt, line 1: not valid UTF-8" in page and "Nothing was imported." in page
    assert not Review.objects.exists()
