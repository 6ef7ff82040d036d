"""The labelling REST API at /api/labelling/: queues, next review, labels and refusals, conflicts, files."""

from __future__ import annotations

import json

import pytest
from django.contrib.auth.models import User
from django.core.files.uploadedfile import SimpleUploadedFile
from rest_framework.test import APIClient

from apps.common.services import api_token_create
from apps.labelling.models import Annotation, LabellingQueue, Resolution
from apps.labelling.resolutions import resolution_settle
from apps.labelling.services import annotation_create, assignment_next
from apps.reviews.models import DatasetSnapshot, Review
from tests.labelling.conftest import MakeQueue, MakeReviews, Predict, api_as

pytestmark = pytest.mark.django_db

API = "/api/labelling"


def test_an_analyst_works_a_queue_with_a_token(
    make_reviews: MakeReviews, make_queue: MakeQueue, alice: User, predict: Predict
) -> None:
    reviews = make_reviews(gold=[None, None])
    predict({reviews[0]: 0.8, reviews[1]: 0.3})
    queue = make_queue()
    _, key = api_token_create(user=alice, name="labelling script")
    client = APIClient(HTTP_AUTHORIZATION=f"Token {key}")

    queues = client.get(f"{API}/queues/").json()
    served = client.post(f"{API}/queues/{queue.pk}/next/").json()
    review_id = served["assignment"]["review"]["id"]
    labelled = client.post(f"{API}/queues/{queue.pk}/labels/", {"review": review_id, "label": "positive"}, format="json")

    assert [row["name"] for row in queues] == [queue.name]
    assert served["assignment"]["suggestion"]["label"] in ("positive", "negative")
    assert served["labels_today"] == 0
    assert labelled.status_code == 201
    body = labelled.json()
    assert body["annotation"]["label"] == "positive" and body["annotation"]["annotator"] == "alice"
    assert body["resolution"]["method"] == "unanimous"
    assert body["next"]["review"]["id"] != review_id and body["labels_today"] == 1


@pytest.mark.parametrize("label", ["neutral", 5, None, ""])
def test_a_label_outside_positive_and_negative_is_a_400(
    make_reviews: MakeReviews, make_queue: MakeQueue, alice: User, label: object
) -> None:
    make_reviews(1)
    queue = make_queue()
    review_id = assignment_next(queue=queue, user=alice).review_id

    response = api_as(alice).post(f"{API}/queues/{queue.pk}/labels/", {"review": review_id, "label": label}, format="json")

    assert response.status_code == 400
    assert "positive or negative" in json.dumps(response.json())
    assert not Annotation.objects.exists()


def test_a_review_not_assigned_to_you_is_a_403_and_a_resolved_one_a_409(
    make_reviews: MakeReviews, make_queue: MakeQueue, alice: User, bob: User, admin: User
) -> None:
    make_reviews(2)
    queue = make_queue()
    bobs = assignment_next(queue=queue, user=bob)
    alices = assignment_next(queue=queue, user=alice)
    resolution_settle(review=alices.review, label="negative", reason="Known.", by=admin)
    client = api_as(alice)

    url = f"{API}/queues/{queue.pk}/labels/"
    not_mine = client.post(url, {"review": bobs.review_id, "label": "positive"}, format="json")
    resolved = client.post(url, {"review": alices.review_id, "label": "positive"}, format="json")

    assert not_mine.status_code == 403 and "is not assigned to you" in json.dumps(not_mine.json())
    assert resolved.status_code == 409 and "already resolved" in json.dumps(resolved.json())
    assert not Annotation.objects.exists()


def test_skip_and_undo(make_reviews: MakeReviews, make_queue: MakeQueue, alice: User) -> None:
    make_reviews(3)
    queue = make_queue()
    client = api_as(alice)
    first = client.post(f"{API}/queues/{queue.pk}/next/").json()["assignment"]["review"]["id"]
    labelled = client.post(f"{API}/queues/{queue.pk}/labels/", {"review": first, "label": 0}, format="json")
    second = labelled.json()["next"]["review"]["id"]

    skipped = client.post(f"{API}/queues/{queue.pk}/skip/", {"review": second}, format="json").json()
    undone = client.post(f"{API}/queues/{queue.pk}/undo/").json()
    nothing = client.post(f"{API}/queues/{queue.pk}/undo/")

    assert skipped["assignment"]["review"]["id"] not in (first, second)
    assert undone["assignment"]["review"]["id"] == first
    assert nothing.status_code == 409 and "no label in this queue to undo" in json.dumps(nothing.json())


def test_analysts_cannot_manage_queues_and_others_cannot_label(
    make_queue: MakeQueue, alice: User, carol: User, outsider: User
) -> None:
    queue = make_queue()

    assert api_as(alice).post(f"{API}/queues/", {"name": "mine"}, format="json").status_code == 403
    assert api_as(alice).patch(f"{API}/queues/{queue.pk}/", {"overlap": 3}, format="json").status_code == 403
    assert api_as(alice).get(f"{API}/conflicts/").status_code == 403
    assert api_as(carol).post(f"{API}/queues/{queue.pk}/next/").status_code == 404
    assert api_as(outsider).get(f"{API}/queues/").status_code == 403
    assert APIClient().get(f"{API}/queues/").status_code in (401, 403)


def test_an_ml_admin_creates_and_changes_a_queue(make_reviews: MakeReviews, admin: User, alice: User) -> None:
    make_reviews(gold=[1, None, None])
    client = api_as(admin)

    created = client.post(
        f"{API}/queues/", {"name": "API queue", "pool": "unlabelled", "overlap": 2, "annotators": ["alice"]}, format="json"
    )
    refused = client.post(f"{API}/queues/", {"name": "Bad", "pool": "import"}, format="json")
    queue_id = created.json()["id"]
    changed = client.patch(f"{API}/queues/{queue_id}/", {"strategy": "uncertainty", "is_active": False}, format="json")
    pool_change = client.patch(f"{API}/queues/{queue_id}/", {"pool": "all"}, format="json")

    assert created.status_code == 201
    assert created.json()["progress"]["reviews"] == 2 and created.json()["annotators"] == ["alice"]
    assert refused.status_code == 400 and "Choose the import" in json.dumps(refused.json())
    assert changed.status_code == 200
    queue = LabellingQueue.objects.get(pk=queue_id)
    assert (queue.strategy, queue.is_active, queue.overlap) == ("uncertainty", False, 2)
    assert pool_change.status_code == 400 and "cannot change" in json.dumps(pool_change.json())


def test_conflicts_settle_agreement_and_progress(
    make_reviews: MakeReviews, make_queue: MakeQueue, alice: User, bob: User, admin: User
) -> None:
    (review,) = make_reviews(1)
    queue = make_queue(overlap=2)
    for user, label in ((alice, "positive"), (bob, "negative")):
        annotation_create(queue=queue, user=user, review_id=assignment_next(queue=queue, user=user).review_id, label=label)
    client = api_as(admin)

    conflicts = client.get(f"{API}/conflicts/?queue={queue.pk}").json()
    agreement = client.get(f"{API}/agreement/").json()
    settled = client.post(f"{API}/reviews/{review.pk}/settle/", {"label": "negative", "reason": "Sarcasm."}, format="json")
    progress = client.get(f"{API}/queues/{queue.pk}/progress/").json()

    rows = conflicts["results"] if isinstance(conflicts, dict) else conflicts
    assert rows[0]["review"]["id"] == review.pk
    assert rows[0]["labels"] == [{"annotator": "alice", "label": "positive"}, {"annotator": "bob", "label": "negative"}]
    assert agreement["percent_agreement"] == 0.0 and agreement["pairs"][0]["analysts"] == ["alice", "bob"]
    assert settled.status_code == 200 and settled.json()["resolution"]["method"] == "settled"
    assert Resolution.objects.get().settled_by == admin
    assert progress["progress"]["resolved"] == 1 and [row["username"] for row in progress["analysts"]] == ["alice", "bob"]


def test_upload_and_export(admin: User) -> None:
    client = api_as(admin)

    broken = SimpleUploadedFile("x.jsonl", b'{"text": "ok"}\n{oops}\n')
    bad = client.post(f"{API}/uploads/", {"file": broken}, format="multipart")
    good = client.post(f"{API}/uploads/", {"file": SimpleUploadedFile("x.txt", b"One.\nTwo.\n")}, format="multipart")
    export = client.get(f"{API}/export.jsonl")
    annotations = client.get(f"{API}/annotations/")

    assert bad.status_code == 400 and "x.jsonl, line 2: not valid JSON" in json.dumps(bad.json())
    assert good.status_code == 201 and good.json()["rows_created"] == 2
    assert Review.objects.count() == 2
    assert export.status_code == 200 and b"".join(export.streaming_content) == b""
    assert annotations.status_code == 200


def test_snapshot_of_human_labels(make_reviews: MakeReviews, make_queue: MakeQueue, alice: User, admin: User) -> None:
    make_reviews(10)
    queue = make_queue()
    for index in range(10):
        review_id = assignment_next(queue=queue, user=alice).review_id
        annotation_create(queue=queue, user=alice, review_id=review_id, label=index % 2)

    response = api_as(admin).post(f"{API}/snapshots/", {"label_source": "human", "seed": 1}, format="json")
    empty = api_as(admin).post(f"{API}/snapshots/", {"label_source": "gold"}, format="json")

    assert response.status_code == 201
    assert (response.json()["train"], response.json()["validation"], response.json()["test"]) == (8, 1, 1)
    assert DatasetSnapshot.objects.get().label_source == "human"
    assert empty.status_code == 400
