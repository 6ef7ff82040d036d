"""Label-noise detection: out-of-sample probabilities, cleanlab's flags, the suspicious queue's order, relabelling."""

from __future__ import annotations

import random

import pytest
from django.contrib.auth.models import User
from django.db.models import F

from apps.common.choices import JobStatus
from apps.labelling.models import NoiseDetection, NoiseScore, QueueItem
from apps.labelling.noise import NoiseDetectionError, noise_detection_start
from apps.labelling.runners import NoiseRunner
from apps.labelling.ordering import order_reviews
from apps.labelling.resolutions import resolution_settle
from apps.labelling.services import annotation_create, assignment_next
from apps.reviews.models import Review, SnapshotItem
from apps.reviews.snapshots import snapshot_create
from tests.conftest import wait_until
from tests.labelling.conftest import MakeQueue, MakeReviews, Predict, api_as

POSITIVE = ["wonderful", "superb", "moving", "brilliant", "delightful", "masterpiece", "gripping", "charming", "loved", "beautiful"]
NEGATIVE = ["awful", "boring", "dreadful", "clumsy", "tedious", "waste", "terrible", "dull", "hated", "mess"]
NEUTRAL = ["film", "plot", "actor", "scene", "ending", "camera", "story", "cast", "music", "director"]


def sentiment_text(label: int, rng: random.Random) -> str:
    words = rng.sample(POSITIVE if label == 1 else NEGATIVE, 5) + rng.sample(NEUTRAL, 4)
    rng.shuffle(words)
    return "The " + " ".join(words) + "."


def noisy_reviews(make_reviews: MakeReviews, *, count: int = 80, flips: int = 4) -> tuple[list[Review], set[int]]:
    """``count`` gold-labelled reviews whose words say their label, except ``flips`` whose gold label is the wrong one."""
    rng = random.Random(7)
    labels = [index % 2 for index in range(count)]
    texts = [sentiment_text(label, rng) for label in labels]
    flipped = set(rng.sample(range(count), flips))
    gold = [1 - label if index in flipped else label for index, label in enumerate(labels)]
    reviews = make_reviews(gold=gold, texts=texts)
    return reviews, {reviews[index].pk for index in flipped}


def run_in_process(detection: NoiseDetection) -> NoiseDetection:
    NoiseRunner.handle(detection.pk)
    return NoiseDetection.objects.get(pk=detection.pk)


# --- With a real worker ----------------------------------------------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_a_detection_on_a_worker_flags_the_flipped_labels_and_the_suspicious_queue_hands_them_out_first(
    celery_worker_process: object, make_reviews: MakeReviews, make_queue: MakeQueue, admin: User, alice: User
) -> None:
    _, flipped = noisy_reviews(make_reviews)
    snapshot = snapshot_create(seed=3)
    queue = make_queue("suspicious", strategy="suspicious", annotators=[alice])
    client = api_as(admin)

    answer = client.post("/api/labelling/noise/", {"snapshot": snapshot.pk}, format="json")
    assert answer.status_code == 202, answer.content
    location = answer["Location"]
    done = wait_until(
        lambda: (body := client.get(location).json())["status"] in {"succeeded", "failed"} and body,
        timeout=120,
        what="the label-noise detection to finish on the worker",
    )

    assert done["status"] == "succeeded", done["error"]
    assert (done["processed"], done["total"], done["reviews"]) == (15, 15, 80)
    assert done["estimated_wrong_labels"] >= 1
    assert done["estimated_wrong_share"] == pytest.approx(done["estimated_wrong_labels"] / 80)
    flagged = set(NoiseScore.objects.filter(detection_id=done["id"], is_issue=True).values_list("review_id", flat=True))
    assert flipped <= flagged
    # The queue reordered itself when the detection succeeded: the analyst gets the flipped labels first.
    handed = []
    for _ in flipped:
        assignment = assignment_next(queue=queue, user=alice)
        handed.append(assignment.review_id)
        annotation_create(queue=queue, user=alice, review_id=assignment.review_id, label=1 - assignment.review.gold_label)
    assert set(handed) == flipped
    overview = client.get("/api/labelling/noise/").json()
    row = next(row for row in overview if row["snapshot"] == snapshot.pk)
    assert (row["detection"], row["estimated_wrong_labels"], row["reviews"]) == (done["id"], done["estimated_wrong_labels"], 80)


# --- In this process -------------------------------------------------------------------------------------


@pytest.mark.django_db
def test_a_flagged_review_relabelled_and_settled_goes_into_the_next_snapshot_with_its_new_label(
    make_reviews: MakeReviews, make_queue: MakeQueue, admin: User, alice: User
) -> None:
    _, flipped = noisy_reviews(make_reviews)
    before = snapshot_create(seed=3, label_source="gold_and_human")
    queue = make_queue("suspicious", strategy="suspicious", annotators=[alice])
    detection = run_in_process(noise_detection_start(snapshot=before, enqueue=False, created_by=admin))
    assert detection.status == JobStatus.SUCCEEDED, detection.error

    first = assignment_next(queue=queue, user=alice)
    assert first.review_id in flipped
    true_label = 1 - first.review.gold_label
    outcome = annotation_create(queue=queue, user=alice, review_id=first.review_id, label=true_label)
    # The analyst contradicts the gold label: a conflict for an ML admin, as any such label is.
    assert outcome.conflict and outcome.resolution is None
    resolution_settle(review=Review.objects.get(pk=first.review_id), label=true_label, reason="flagged, read it", by=admin)

    after = snapshot_create(seed=3, label_source="gold_and_human")
    assert SnapshotItem.objects.get(snapshot=before, review_id=first.review_id).label == 1 - true_label
    assert SnapshotItem.objects.get(snapshot=after, review_id=first.review_id).label == true_label
    assert after.content_hash != before.content_hash


@pytest.mark.django_db
def test_a_detection_of_too_few_reviews_fails_with_a_message_and_leaves_no_scores(make_reviews: MakeReviews) -> None:
    make_reviews(gold=[1, 0] * 6)
    snapshot = snapshot_create(seed=3)
    detection = run_in_process(noise_detection_start(snapshot=snapshot, split="train", enqueue=False))
    assert detection.status == JobStatus.FAILED
    assert "needs at least 10 reviews of each label" in detection.error
    assert not NoiseScore.objects.filter(detection=detection).exists()


@pytest.mark.django_db
def test_a_detection_over_an_import_checks_the_label_the_next_snapshot_would_take(make_reviews: MakeReviews, admin: User) -> None:
    from apps.reviews.models import ImportJob

    job = ImportJob.objects.create(source="test.csv", source_name="test", status=JobStatus.SUCCEEDED)
    reviews, flipped = noisy_reviews(make_reviews, count=60, flips=3)
    Review.objects.filter(pk__in=[review.pk for review in reviews]).update(import_job=job)
    settled = next(review for review in reviews if review.pk in flipped)
    resolution_settle(review=settled, label=1 - settled.gold_label, reason="fixed", by=admin)

    detection = run_in_process(noise_detection_start(import_job=job, enqueue=False))

    assert detection.status == JobStatus.SUCCEEDED, detection.error
    assert detection.reviews == 60
    score = NoiseScore.objects.get(detection=detection, review=settled)
    assert score.label == 1 - settled.gold_label and not score.is_issue
    flagged = set(NoiseScore.objects.filter(detection=detection, is_issue=True).values_list("review_id", flat=True))
    assert flipped - {settled.pk} <= flagged


@pytest.mark.django_db
def test_a_second_detection_of_the_same_scope_is_refused_while_one_waits(make_reviews: MakeReviews) -> None:
    make_reviews(gold=[1, 0] * 20)
    snapshot = snapshot_create(seed=3)
    noise_detection_start(snapshot=snapshot, enqueue=False)
    with pytest.raises(NoiseDetectionError, match="queued already") as refused:
        noise_detection_start(snapshot=snapshot, enqueue=False)
    assert refused.value.http_status == 409
    # Another split is another scope.
    noise_detection_start(snapshot=snapshot, split="train", enqueue=False)


def test_the_suspicious_order_puts_flagged_labels_first_then_checked_ones_then_the_models_view() -> None:
    rows = [(1, 1), (2, 1), (3, 0), (4, 0), (5, None), (6, 1)]
    predictions = {4: (1, 0.9), 6: (1, 0.7), 1: (1, 0.99), 2: (0, 0.01)}
    quality = {1: (0.30, False), 2: (0.45, True), 3: (0.10, True)}

    ordered = order_reviews(rows, strategy="suspicious", seed="s", predictions=predictions, label_quality=quality)

    assert ordered == [(3, 0.10), (2, 0.45), (1, 0.30), (4, pytest.approx(0.1)), (6, 0.7), (5, None)]
    # Without a detection the order is today's: the model's probability of the label, ascending.
    fallback = order_reviews(rows, strategy="suspicious", seed="s", predictions=predictions, label_quality={})
    assert [review_id for review_id, _ in fallback][:4] == [2, 4, 6, 1]


@pytest.mark.django_db
def test_a_detection_that_checked_another_label_leaves_the_suspicious_queue_to_the_model(
    make_reviews: MakeReviews, make_queue: MakeQueue, predict: Predict
) -> None:
    reviews, _ = noisy_reviews(make_reviews, count=40, flips=2)
    snapshot = snapshot_create(seed=3)
    detection = run_in_process(noise_detection_start(snapshot=snapshot, enqueue=False))
    assert detection.status == JobStatus.SUCCEEDED, detection.error
    # As if an ML admin's settled label had been checked: it says nothing about the gold label ordered here.
    NoiseScore.objects.filter(detection=detection).update(label=1 - F("label"))
    predict({review: 0.2 + index / 100 for index, review in enumerate(reviews)})

    queue = make_queue("suspicious", strategy="suspicious")

    order = list(QueueItem.objects.filter(queue=queue).order_by("rank").values_list("review_id", "score"))
    positives = [review for review in reviews if review.gold_label == 1]
    assert order[0] == (positives[0].pk, pytest.approx(0.2 + reviews.index(positives[0]) / 100))
