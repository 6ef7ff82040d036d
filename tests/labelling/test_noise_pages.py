"""What an ML admin sees of label noise: the estimates per snapshot and per import, in the API and on the page."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import User

from apps.common.choices import JobStatus
from apps.labelling.models import NoiseDetection
from apps.labelling.noise import noise_detection_start
from apps.reviews.models import ImportJob, Review
from apps.reviews.snapshots import snapshot_create
from tests.labelling.conftest import MakeReviews, api_as, signed_in
from tests.labelling.test_noise import noisy_reviews, run_in_process

pytestmark = pytest.mark.django_db


@pytest.fixture
def checked(make_reviews: MakeReviews, admin: User) -> tuple[NoiseDetection, NoiseDetection]:
    """A succeeded detection of a snapshot's every split and one of an import's reviews."""
    reviews, _ = noisy_reviews(make_reviews, count=60, flips=3)
    snapshot = snapshot_create(seed=3, name="Gold <b>May</b>")
    job = ImportJob.objects.create(source="may.csv", source_name="may", status=JobStatus.SUCCEEDED)
    Review.objects.filter(pk__in=[review.pk for review in reviews]).update(import_job=job)
    of_snapshot = run_in_process(noise_detection_start(snapshot=snapshot, enqueue=False, created_by=admin))
    of_import = run_in_process(noise_detection_start(import_job=job, enqueue=False, created_by=admin))
    assert of_snapshot.status == of_import.status == JobStatus.SUCCEEDED
    return of_snapshot, of_import


def test_the_api_gives_the_estimated_number_and_share_of_wrong_labels_per_snapshot_and_per_import(
    checked: tuple[NoiseDetection, NoiseDetection], admin: User
) -> None:
    of_snapshot, of_import = checked
    answer = api_as(admin).get("/api/labelling/noise/")
    assert answer.status_code == 200
    rows = {(row["scope"], row["snapshot"] or row["import_job"]): row for row in answer.json()}

    snapshot_row = rows[("snapshot", of_snapshot.snapshot_id)]
    assert snapshot_row["estimated_wrong_labels"] == of_snapshot.estimated_issues >= 1
    assert snapshot_row["estimated_wrong_share"] == pytest.approx(of_snapshot.estimated_issues / 60)
    assert (snapshot_row["reviews"], snapshot_row["split"], snapshot_row["detection"]) == (60, "", of_snapshot.pk)
    import_row = rows[("import", of_import.import_job_id)]
    assert import_row["estimated_wrong_labels"] == of_import.estimated_issues
    assert import_row["flagged"] == of_import.flagged and import_row["name"] == "may"


def test_a_snapshot_not_checked_yet_has_no_estimate_and_a_running_detection_shows_its_folds(
    make_reviews: MakeReviews, admin: User
) -> None:
    make_reviews(gold=[1, 0] * 15)
    snapshot = snapshot_create(seed=3)
    rows = api_as(admin).get("/api/labelling/noise/").json()
    assert [(row["snapshot"], row["estimated_wrong_labels"], row["latest_status"]) for row in rows] == [(snapshot.pk, None, None)]

    detection = noise_detection_start(snapshot=snapshot, split="train", enqueue=False)
    NoiseDetection.objects.filter(pk=detection.pk).update(status=JobStatus.RUNNING, processed=2)
    body = api_as(admin).get(f"/api/labelling/noise/{detection.pk}/").json()
    assert (body["status"], body["processed"], body["total"], body["estimated_wrong_labels"]) == ("running", 2, 15, None)
    assert (body["folds"], body["repeats"]) == (5, 3)
    page = signed_in(admin).get("/labelling/noise/")
    assert "2 of 15 fold models" in page.content.decode()
    detail = signed_in(admin).get(f"/labelling/noise/{detection.pk}/").content.decode()
    assert "2 of 15 fold models scored" in detail and "5 folds &times; 3 seeded splits" in detail


def test_starting_a_detection_needs_one_scope_and_sensible_folds(make_reviews: MakeReviews, admin: User) -> None:
    make_reviews(gold=[1, 0] * 15)
    snapshot = snapshot_create(seed=3)
    client = api_as(admin)

    neither = client.post("/api/labelling/noise/", {}, format="json")
    assert neither.status_code == 400 and "Choose what to check" in neither.content.decode()
    folds = client.post("/api/labelling/noise/", {"snapshot": snapshot.pk, "folds": 1}, format="json")
    assert folds.status_code == 400 and "folds" in folds.json()["error"]["fields"]
    repeats = client.post("/api/labelling/noise/", {"snapshot": snapshot.pk, "repeats": 0}, format="json")
    assert repeats.status_code == 400 and "repeats" in repeats.json()["error"]["fields"]
    missing = client.post("/api/labelling/noise/", {"snapshot": 999_999}, format="json")
    assert missing.status_code == 400 and "no snapshot 999999" in missing.content.decode()
    assert not NoiseDetection.objects.exists()


def test_only_ml_admins_see_or_start_detections(alice: User, outsider: User, make_reviews: MakeReviews) -> None:
    make_reviews(gold=[1, 0] * 15)
    snapshot = snapshot_create(seed=3)
    for user in (alice, outsider):
        assert api_as(user).get("/api/labelling/noise/").status_code == 403
        assert api_as(user).post("/api/labelling/noise/", {"snapshot": snapshot.pk}, format="json").status_code == 403
        assert signed_in(user).get("/labelling/noise/").status_code == 403
        assert signed_in(user).post("/labelling/noise/", {"snapshot": snapshot.pk}).status_code == 403
    assert not NoiseDetection.objects.exists()


def test_the_page_shows_each_estimate_and_the_most_suspicious_labels(
    checked: tuple[NoiseDetection, NoiseDetection], admin: User
) -> None:
    of_snapshot, of_import = checked
    client = signed_in(admin)
    page = client.get("/labelling/noise/").content.decode()
    share = f"{100 * of_snapshot.estimated_share:.1f}%"
    assert f"<strong>{of_snapshot.estimated_issues}</strong> ({share})" in page
    assert "Gold &lt;b&gt;May&lt;/b&gt;, all splits" in page  # escaped
    assert f"Import {of_import.import_job_id}: may" in page
    assert "hx-get" not in page  # nothing running: no polling

    detail = client.get(f"/labelling/noise/{of_snapshot.pk}/").content.decode()
    assert "Most suspicious labels" in detail and f"{of_snapshot.flagged}" in detail


def test_the_page_form_queues_a_detection_and_says_so(make_reviews: MakeReviews, admin: User, settings: object) -> None:
    make_reviews(gold=[1, 0] * 15)
    snapshot = snapshot_create(seed=3)
    client = signed_in(admin)

    answer = client.post("/labelling/noise/", {"snapshot": snapshot.pk, "split": "train"}, follow=True)

    detection = NoiseDetection.objects.get()
    assert (detection.snapshot_id, detection.split, detection.status) == (snapshot.pk, "train", JobStatus.QUEUED)
    page = answer.content.decode()
    assert f"Label-noise detection {detection.pk} of snapshot {snapshot.pk} (train split) is queued" in page
    assert 'hx-trigger="every 2s"' in page
    again = client.post("/labelling/noise/", {"snapshot": snapshot.pk, "split": "train"}, follow=True)
    assert "is queued already; wait for it" in again.content.decode()
    assert NoiseDetection.objects.count() == 1


def test_the_table_polls_while_a_detection_runs_and_stops_once_none_does(make_reviews: MakeReviews, admin: User) -> None:
    make_reviews(gold=[1, 0] * 15)
    snapshot = snapshot_create(seed=3)
    detection = noise_detection_start(snapshot=snapshot, enqueue=False)
    client = signed_in(admin)

    running = client.get("/labelling/noise/", HTTP_HX_REQUEST="true")
    assert running.status_code == 200 and 'id="noise-table"' in running.content.decode()
    assert "<h1>" not in running.content.decode()  # the table alone

    NoiseDetection.objects.filter(pk=detection.pk).update(status=JobStatus.FAILED, error="the worker died")
    done = client.get("/labelling/noise/", HTTP_HX_REQUEST="true")
    assert done.status_code == 286  # HTMX stops polling
    assert "the worker died" in done.content.decode() and "hx-get" not in done.content.decode()
