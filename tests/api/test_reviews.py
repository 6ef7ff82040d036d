"""Reviews, imports and snapshots through the API."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from apps.common.choices import JobStatus
from apps.reviews.models import DatasetSnapshot, ImportJob, Review
from apps.reviews.services import review_import
from tests.api.conftest import World
from tests.brokering import stand_in_for_task

pytestmark = pytest.mark.django_db


def test_a_bulk_request_stores_new_reviews_and_answers_the_ones_already_there(world: World) -> None:
    client = world.client("integration")
    first = {
        "source": "crm",
        "reviews": [{"text": "Superb.", "external_id": "t-1", "gold_label": "positive", "rating": 9}],
    }
    client.post("/api/reviews/bulk/", first, format="json")
    again = {
        "source": "crm",
        "reviews": [
            {"text": "Superb, but edited.", "external_id": "t-1"},
            {"text": "Tedious and far too long."},
            {"text": "Tedious and far too long."},
        ],
    }

    response = client.post("/api/reviews/bulk/", again, format="json")

    assert response.status_code == 201
    body = response.json()
    assert (body["created"], body["existing"]) == (1, 2)
    assert [item["created"] for item in body["reviews"]] == [False, True, False]
    stored = body["reviews"][0]["review"]
    assert (stored["text"], stored["gold_label"], stored["rating"], stored["source"]) == (
        "Superb.",
        "positive",
        9,
        "crm",
    )
    assert body["reviews"][1]["review"]["id"] == body["reviews"][2]["review"]["id"]
    assert Review.objects.filter(source="crm").count() == 2


def test_a_bulk_request_with_one_bad_review_stores_none(world: World) -> None:
    body = {"reviews": [{"text": "Fine."}, {"text": "   "}]}

    response = world.client("integration").post("/api/reviews/bulk/", body, format="json")

    assert response.status_code == 400
    assert response.json()["error"]["fields"] == {"reviews[1].text": "The review is empty: send its text."}
    assert not Review.objects.filter(source="api").exists()


def test_a_bulk_request_takes_at_most_a_thousand_reviews(world: World) -> None:
    body = {"reviews": [{"text": f"Review {n}."} for n in range(1_001)]}

    response = world.client("integration").post("/api/reviews/bulk/", body, format="json")

    assert response.status_code == 400
    assert "no more than 1000" in response.json()["error"]["fields"]["reviews"]


def test_one_review_is_created_once_then_answered_as_it_is(world: World) -> None:
    client = world.client("integration")
    body = {"text": "A moving film.", "external_id": "x-1", "source": "crm", "gold_label": 1}

    created = client.post("/api/reviews/", body, format="json")
    again = client.post("/api/reviews/", body, format="json")

    assert created.status_code == 201 and again.status_code == 200
    assert created["Location"] == f"/api/reviews/{created.json()['id']}/"
    assert again.json() == created.json()
    assert created.json()["gold_label"] == "positive"


def test_the_list_filters_by_label_source_and_snapshot_and_searches_words(world: World) -> None:
    client = world.client("analyst")
    Review.objects.create(text="An utterly magnificent spectacle.", source="crm", external_id="m", gold_label=1)

    found = client.get("/api/reviews/", {"search": "magnificent"}).json()["results"]
    crm = client.get("/api/reviews/", {"source": "crm"}).json()["results"]
    unlabelled = client.get("/api/reviews/", {"gold_label": "none"}).json()["results"]
    in_snapshot = client.get("/api/reviews/", {"snapshot": world.snapshot.pk, "page_size": 500}).json()["results"]
    bad = client.get("/api/reviews/", {"gold_label": "maybe"})

    assert [row["external_id"] for row in found] == ["m"]
    assert [row["external_id"] for row in crm] == ["m"]
    assert [row["id"] for row in unlabelled] == [world.loose_review.pk]
    assert len(in_snapshot) == world.snapshot.size
    assert bad.status_code == 400 and "gold_label" in bad.json()["error"]["fields"]


def test_a_review_in_a_snapshot_cannot_be_deleted_and_a_loose_one_can(world: World) -> None:
    client = world.client("ml_admin")

    refused = client.delete(f"/api/reviews/{world.review.pk}/")
    deleted = client.delete(f"/api/reviews/{world.loose_review.pk}/")

    assert refused.status_code == 409
    assert refused.json()["error"]["code"] == "in_snapshot"
    assert f"snapshot {world.snapshot.pk}" in refused.json()["error"]["message"]
    assert deleted.status_code == 204
    assert not Review.objects.filter(pk=world.loose_review.pk).exists()


def test_an_upload_is_queued_for_a_worker_and_its_status_follows_the_import(
    world: World, settings: Any, django_capture_on_commit_callbacks: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    sent: list[dict[str, Any]] = []
    stand_in_for_task(monkeypatch, "reviews.run_import", lambda **kwargs: sent.append(kwargs))
    upload = SimpleUploadedFile("kaggle.csv", b"review,sentiment\nA fine film.,positive\nDull.,negative\n", "text/csv")

    with django_capture_on_commit_callbacks(execute=True):
        response = world.client("ml_admin").post("/api/imports/", {"file": upload, "source_name": "kaggle"})

    assert response.status_code == 202
    job = ImportJob.objects.get(pk=response.json()["id"])
    assert response["Location"] == f"/api/imports/{job.pk}/"
    assert (job.status, job.source_name) == (JobStatus.QUEUED, "kaggle")
    assert Path(job.source).parent.parent == Path(settings.IMPORT_UPLOAD_DIR)
    assert sent == [{"args": [job.pk], "task_id": job.celery_task_id, "queue": "default"}]

    review_import(source=job.source, source_name="kaggle", job=job)  # what the worker does
    status = world.client("analyst").get(f"/api/imports/{job.pk}/").json()

    assert (status["status"], status["rows_read"], status["rows_created"]) == ("succeeded", 2, 2)


def test_an_upload_of_an_unknown_kind_or_too_large_is_refused(world: World, settings: Any) -> None:
    settings.IMPORT_MAX_UPLOAD_BYTES = 10
    client = world.client("ml_admin")

    wrong = client.post("/api/imports/", {"file": SimpleUploadedFile("notes.docx", b"x")})
    large = client.post("/api/imports/", {"file": SimpleUploadedFile("big.csv", b"review,sentiment\n" * 10)})

    assert wrong.status_code == 400 and "not a kind of file" in wrong.json()["error"]["fields"]["file"]
    assert large.status_code == 413 and large.json()["error"]["code"] == "too_large"
    assert not ImportJob.objects.exclude(pk=world.import_job.pk).exists()


def test_a_snapshot_is_made_with_its_counts_and_hash_and_read_back(world: World) -> None:
    client = world.client("ml_admin")

    made = client.post("/api/snapshots/", {"name": "api", "seed": 7, "label_source": "gold"}, format="json")
    read = client.get(made["Location"])

    assert made.status_code == 201
    snapshot = DatasetSnapshot.objects.get(pk=made.json()["id"])
    body = read.json()
    assert body == made.json()
    assert body["content_hash"] == snapshot.content_hash
    counts = body["label_counts"]
    assert sum(sum(split.values()) for split in counts.values()) == snapshot.size == 40
    assert counts["train"]["positive"] + counts["train"]["negative"] == snapshot.train_count


def test_a_snapshot_that_cannot_be_made_says_why(world: World) -> None:
    body = {"train_fraction": 0.5, "validation_fraction": 0.1, "test_fraction": 0.1}

    response = world.client("ml_admin").post("/api/snapshots/", body, format="json")

    assert response.status_code == 400
    assert "must add up to 1" in response.json()["error"]["fields"]["body"]
